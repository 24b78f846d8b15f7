"""Caches: compiled bytecode on disk (and in memory), loaded modules per (key, device) in memory.

Disk entries live in `cache_dir()/compiled/<key>.vmfb`. The key is a sha256 of the module text,
the compile flags, the IREE compiler and runtime versions and the CPU identity (when code
targets the host CPU). Each entry is `MAGIC | payload length (u64 LE) | sha256(payload) |
payload`, written to a temporary file in the same directory and renamed over the entry, so
readers see either nothing or a whole entry. An entry whose header does not check out
(truncated, corrupt, foreign) is deleted and reported as a miss, never trusted. If the
directory cannot be created or written, the cache keeps working in memory only.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import struct
import tempfile
import threading
import warnings
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

MAGIC = b"HLDVMFB\x01"
_HEADER = struct.Struct("<8sQ32s")
FORMAT_VERSION = "1"


def cache_dir() -> Path:
    """Where compiled modules are kept: `HLODIFF_CACHE_DIR`, else `$XDG_CACHE_HOME/hlodiff`,
    else `~/.cache/hlodiff`."""
    explicit = os.environ.get("HLODIFF_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hlodiff"


def cache_key(module_text: str, flags, identity: str = "") -> str:
    """sha256 over everything that decides the compiled bytes."""
    h = hashlib.sha256()
    for part in (FORMAT_VERSION, iree_versions(), identity, "\0".join(flags), module_text):
        h.update(part.encode())
        h.update(b"\x00\x01")
    return h.hexdigest()


@lru_cache(maxsize=1)
def iree_versions() -> str:
    """IREE compiler and runtime versions, read without importing the (slow) compiler."""
    return f"compiler={_version_of('iree.compiler')};runtime={_version_of('iree.runtime')}"


def _version_of(package: str) -> str:
    try:
        spec = importlib.util.find_spec(package)
        path = Path(spec.origin).parent / "version.py"
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except (ImportError, AttributeError, OSError, TypeError):
        from importlib import metadata

        dist = "iree-base-" + package.split(".")[-1]
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"


def encode_entry(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, len(payload), hashlib.sha256(payload).digest()) + payload


def decode_entry(blob: bytes) -> bytes | None:
    """The payload of a whole, intact entry; None for anything else."""
    if len(blob) < _HEADER.size:
        return None
    magic, length, digest = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size :]
    if magic != MAGIC or length != len(payload):
        return None
    return payload if hashlib.sha256(payload).digest() == digest else None


class CompiledCache:
    """Compiled bytecode by key: a memory dict in front of a directory of entries."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self._memory = LRU(capacity=256)
        self.disk_ok = directory is not None and self._prepare()

    def clear_memory(self) -> None:
        self._memory.clear()

    def path(self, key: str) -> Path:
        return self.directory / "compiled" / f"{key}.vmfb"

    def get(self, key: str) -> bytes | None:
        data = self._memory.get(key)
        if data is None and self.disk_ok:
            data = self._read(key)
            if data is not None:
                self._memory.put(key, data)
        return data

    def put(self, key: str, data: bytes) -> None:
        self._memory.put(key, data)
        if self.disk_ok:
            self._write(key, data)

    def _prepare(self) -> bool:
        folder = self.directory / "compiled"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(errno.EACCES, "not writable", str(folder))
            return True
        except OSError as e:
            _warn_memory_only(self.directory, e)
            return False

    def _read(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        payload = decode_entry(blob)
        if payload is None:
            _remove(path)  # truncated or corrupt: never trust it, recompile instead
        return payload

    def _write(self, key: str, data: bytes) -> None:
        try:
            atomic_write(self.path(key), encode_entry(data))
        except OSError as e:
            self.disk_ok = False
            _warn_memory_only(self.directory, e)


def atomic_write(path: Path, blob: bytes) -> None:
    """Write `blob` to a temporary file beside `path`, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        _remove(Path(tmp))
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


_warned: set[str] = set()


def _warn_memory_only(directory: Path, error: OSError) -> None:
    if str(directory) in _warned:
        return
    _warned.add(str(directory))
    warnings.warn(
        f"hlodiff: cannot write the compile cache at {directory} ({error.strerror or error}); "
        "compiled modules are kept in memory only. Set HLODIFF_CACHE_DIR to a writable "
        "directory to keep them across runs.",
        RuntimeWarning,
        stacklevel=3,
    )


_caches: dict[str, CompiledCache] = {}


def compiled_cache() -> CompiledCache:
    """The cache for the current `cache_dir()` (re-read each call, so tests can repoint it)."""
    directory = cache_dir()
    cache = _caches.get(str(directory))
    if cache is None:
        cache = _caches.setdefault(str(directory), CompiledCache(directory))
    return cache


class LRU:
    """A small thread-safe LRU map; holds compiled bytes and loaded executables in memory."""

    def __init__(self, capacity: int = 512):
        self.capacity = capacity
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# Loaded executables per (key, device): skips re-creating VM contexts for a module already loaded.
loaded_executables = LRU(capacity=512)
