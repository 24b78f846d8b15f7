"""The compile cache: keys, entry integrity, hit/miss, corruption, atomic writes, degradation."""

from __future__ import annotations

import os
import warnings

import pytest

# A module no other test compiles, so the first compile in a fresh cache is a real miss.
NEG = """
func.func @main(%x: tensor<5xf32>) -> tensor<5xf32> {
  %0 = stablehlo.negate %x : tensor<5xf32>
  return %0 : tensor<5xf32>
}
"""


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory for this test only."""
    monkeypatch.setenv("HLODIFF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_key_covers_text_flags_and_identity(rt_sub):
    key = rt_sub("cache").cache_key
    base = key("module", ("--a",), "cpu1")
    assert base == key("module", ("--a",), "cpu1")
    assert (
        len(
            {
                base,
                key("module2", ("--a",), "cpu1"),
                key("module", ("--b",), "cpu1"),
                key("module", ("--a",), "cpu2"),
            }
        )
        == 4
    )


def test_cpu_identity_goes_into_host_targets(rt):
    target = rt.target_for("cpu")
    assert "--iree-llvmcpu-target-cpu=host" in target.flags
    assert target.identity  # the CPU model + feature hash


def test_entry_header_detects_damage(rt_sub):
    cache = rt_sub("cache")
    entry = cache.encode_entry(b"payload" * 100)
    assert cache.decode_entry(entry) == b"payload" * 100
    assert cache.decode_entry(entry[:-1]) is None  # truncated
    assert cache.decode_entry(entry[:10]) is None  # shorter than the header
    flipped = bytearray(entry)
    flipped[-5] ^= 1
    assert cache.decode_entry(bytes(flipped)) is None  # corrupt
    assert cache.decode_entry(b"XXXXXXXX" + entry[8:]) is None  # foreign magic


def test_miss_then_memory_hit_then_disk_hit(rt, rt_sub, fresh_cache, compiler_calls):
    first = rt.compile_module(NEG, "cpu")
    assert len(compiler_calls) == 1
    assert rt.compile_module(NEG, "cpu") == first and len(compiler_calls) == 1
    rt_sub("cache").compiled_cache().clear_memory()
    assert rt.compile_module(NEG, "cpu") == first and len(compiler_calls) == 1
    assert list((fresh_cache / "compiled").glob("*.vmfb"))


def test_truncated_entry_is_deleted_and_recompiled(rt, rt_sub, fresh_cache, compiler_calls):
    first = rt.compile_module(NEG, "cpu")
    (entry,) = (fresh_cache / "compiled").glob("*.vmfb")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    rt_sub("cache").compiled_cache().clear_memory()
    assert rt.compile_module(NEG, "cpu") == first
    assert len(compiler_calls) == 2
    assert rt_sub("cache").decode_entry(entry.read_bytes()) == first  # rewritten whole


def test_atomic_write_replaces_whole_files_and_cleans_up(rt_sub, tmp_path, monkeypatch):
    cache = rt_sub("cache")
    target = tmp_path / "entry"
    cache.atomic_write(target, b"old")
    cache.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        cache.atomic_write(target, b"newer")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]  # no temp file left


def test_unwritable_cache_dir_degrades_to_memory(rt, tmp_path, monkeypatch, compiler_calls):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("HLODIFF_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="memory only"):
        first = rt.compile_module(NEG, "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not per compile
        assert rt.compile_module(NEG, "cpu") == first
    assert len(compiler_calls) == 1


def test_cache_dir_follows_the_environment(rt, tmp_path, monkeypatch):
    monkeypatch.setenv("HLODIFF_CACHE_DIR", str(tmp_path / "explicit"))
    assert rt.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("HLODIFF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert rt.cache_dir() == tmp_path / "xdg" / "hlodiff"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert str(rt.cache_dir()).endswith(os.path.join(".cache", "hlodiff"))


def test_loaded_executables_are_reused(rt, add_f32):
    vmfb = rt.compile_module(add_f32, "cpu")
    assert rt.load(vmfb, "cpu") is rt.load(vmfb, rt.get_device("cpu"))
