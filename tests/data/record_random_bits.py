"""Records JAX's PRNG outputs into `random_bits.json` for `tests/test_random.py`.

Run once, with jax installed (the tests themselves never import jax):

    python tests/data/record_random_bits.py

Each case names a `jax.random` function, its arguments (arrays and dtypes tagged so the test
can rebuild them), the key's seed, and the config (`enable_x64`, `threefry_partitionable`). The
output is stored as its raw little-endian bytes in hex, or as a sha256 of them beyond 64
elements. Bits come from XLA's CPU backend on the recording machine (x86-64 with FMA).
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import jax
import numpy as np
from jax import random

OUT = pathlib.Path(__file__).with_name("random_bits.json")
SEEDS = [0, 1, 42]
KEY_SEEDS = [0, 1, 42, -7, 2**31, 2**32 + 5, 2**40 + 7, 2**63 - 1, -(2**63)]
INLINE_LIMIT = 64


def arr(values, dtype):
    return {"__array__": np.asarray(values, dtype).tolist(), "dtype": np.dtype(dtype).name}


def dt(dtype):
    return {"__dtype__": np.dtype(dtype).name}


def decode(x):
    if isinstance(x, dict) and "__array__" in x:
        return np.asarray(x["__array__"], x["dtype"])
    if isinstance(x, dict) and "__dtype__" in x:
        return np.dtype(x["__dtype__"])
    if isinstance(x, list):
        return tuple(decode(v) for v in x)
    if isinstance(x, dict):
        return {k: decode(v) for k, v in x.items()}
    return x


def sampler_cases(x64: bool):
    """(fn, args, kwargs, seeds, raw_key) tuples; args exclude the key."""
    floats = [np.float32] + ([np.float64] if x64 else [])
    uints = [np.uint8, np.uint16, np.uint32] + ([np.uint64] if x64 else [])
    ints = [np.int8, np.int16, np.int32, np.uint8, np.uint32] + ([np.int64] if x64 else [])
    few = SEEDS[::2]
    cases = []
    for num in (2, 3, [2, 3]):
        cases.append(("split", [num], {}, SEEDS, False))
    cases.append(("split", [3], {}, few, True))
    for d in (0, 7, 2**31 + 5):
        cases.append(("fold_in", [d], {}, SEEDS, False))
    for shape in ([], [3], [7, 3, 2], [1000]):
        for u in uints:
            cases.append(("bits", [shape, dt(u)], {}, SEEDS, False))
    for f in floats:
        for shape in ([], [3], [4, 5], [1000]):
            cases.append(("uniform", [shape, dt(f)], {}, SEEDS, False))
            cases.append(("normal", [shape, dt(f)], {}, SEEDS, False))
            cases.append(("exponential", [shape, dt(f)], {}, few, False))
            cases.append(("gumbel", [shape, dt(f)], {}, few, False))
        cases.append(("uniform", [[4, 5], dt(f), -2.3, 7.1], {}, SEEDS, False))
        cases.append(("uniform", [[2, 3], dt(f)],
                      {"minval": arr([-1, 0, 2], f), "maxval": 3.5}, few, False))
        cases.append(("normal", [[4, 5], dt(f)], {}, few, True))
        cases.append(("gumbel", [[4, 5], dt(f)], {"mode": "high"}, few, False))
        cases.append(("truncated_normal", [-1.5, 2.0, [4, 5], dt(f)], {}, SEEDS, False))
        cases.append(("truncated_normal", [0.5, 3.0, [1000], dt(f)], {}, few, False))
        cases.append(("multivariate_normal",
                      [arr([1, 2, 3], f), arr([[2, .5, 0], [.5, 1, .2], [0, .2, .5]], f), [4]],
                      {}, few, False))
    cases.append(("normal", [[4], dt(np.complex64)], {}, few, False))
    cases.append(("bernoulli", [0.3, [4, 5]], {}, SEEDS, False))
    cases.append(("bernoulli", [0.3, [4, 5]], {"mode": "high"}, few, False))
    cases.append(("bernoulli", [arr([0.1, 0.5, 0.9], np.float32)], {}, few, False))
    for i in ints:
        cases.append(("randint", [[4, 5], 0, 100, dt(i)], {}, SEEDS, False))
        cases.append(("randint", [[4, 5], -3, 250, dt(i)], {}, few, False))
    cases.append(("randint", [[1000], 0, 10], {}, few, False))
    cases.append(("randint", [[2, 3], arr([0, 5, 10], np.int32), 20], {}, few, False))
    x = arr(np.arange(24).reshape(4, 6), np.int32)
    logits = arr(np.log([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]), np.float32)
    p = arr([0.1, 0.2, 0.3, 0.15, 0.25], np.float32)
    cases += [
        ("permutation", [10], {}, SEEDS, False),
        ("permutation", [x], {}, few, False),
        ("permutation", [x, 1], {}, few, False),
        ("permutation", [x, 1, True], {}, few, False),
        ("choice", [10, [3]], {}, SEEDS, False),
        ("choice", [x, [2, 2]], {"axis": 1}, few, False),
        ("choice", [x, [3]], {"replace": False}, few, False),
        ("choice", [5, [6]], {"p": p}, few, False),
        ("choice", [5, [3]], {"replace": False, "p": p}, few, False),
        ("categorical", [logits], {}, SEEDS, False),
        ("categorical", [logits], {"shape": [5, 2]}, few, False),
        ("categorical", [logits], {"axis": 0}, few, False),
        ("categorical", [logits], {"shape": [2, 2], "replace": False}, few, False),
    ]
    return cases


def encode_output(out) -> dict:
    out = np.array(out, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
    rec = {"dtype": out.dtype.name, "shape": list(out.shape)}
    raw = out.tobytes()
    if out.size <= INLINE_LIMIT:
        rec["hex"] = raw.hex()
    else:
        rec["sha256"] = hashlib.sha256(raw).hexdigest()
    return rec


def record(x64: bool, partitionable: bool) -> list:
    jax.config.update("jax_enable_x64", x64)
    jax.config.update("jax_threefry_partitionable", partitionable)
    config = {"x64": x64, "partitionable": partitionable}
    rows = []
    for ctor in ("key", "PRNGKey"):
        for seed in KEY_SEEDS:
            k = getattr(random, ctor)(seed)
            data = random.key_data(k) if ctor == "key" else k
            rows.append({**config, "fn": ctor, "seed": seed, "args": [], "kwargs": {},
                         "raw_key": False, "out": encode_output(data)})
    for fn, args, kwargs, seeds, raw in sampler_cases(x64):
        for seed in seeds:
            k = random.PRNGKey(seed) if raw else random.key(seed)
            out = getattr(random, fn)(k, *decode(args), **decode(kwargs))
            if fn in ("split", "fold_in") and not raw:
                out = random.key_data(out)
            rows.append({**config, "fn": fn, "seed": seed, "args": args, "kwargs": kwargs,
                         "raw_key": raw, "out": encode_output(out)})
    return rows


def spec_values() -> dict:
    """The tutorial's model initialisation: `key, W_key, b_key = random.split(key, 3)`."""
    jax.config.update("jax_enable_x64", False)
    jax.config.update("jax_threefry_partitionable", False)
    key = random.key(0)
    key, W_key, b_key = random.split(key, 3)
    W = random.normal(W_key, (3,))
    b = random.normal(b_key, ())
    return {"W": encode_output(W), "b": encode_output(b),
            "W_str": str(W), "b_str": str(b), "key": encode_output(random.key_data(key))}


def main():
    cases = []
    for x64 in (False, True):
        for partitionable in (False, True):
            cases += record(x64, partitionable)
    data = {"jax_version": jax.__version__, "spec": spec_values(), "cases": cases}
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases to {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
