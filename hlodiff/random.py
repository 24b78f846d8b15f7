"""`hlodiff.random`: JAX's counter-based PRNG (threefry2x32), bit for bit.

    from hlodiff import random
    key = random.key(0)
    key, subkey = random.split(key)
    x = random.normal(subkey, (3,))

Keys are values: `split` and `fold_in` derive new keys, samplers never mutate them. The streams
equal JAX's in both settings of `config.threefry_partitionable` (default False, JAX's
`jax_threefry_partitionable=False`); the flag is read at each call.

A typed key (`random.key`) is a `PRNGKeyArray`: a pytree whose single leaf is its uint32 key data
of shape `key.shape + (2,)`, so keys flow through `vmap`, `jit` and `tree_map` as that data (a
`vmap` axis or `jit` aval refers to the data array: `in_axes=-1` would pick the key-word axis).
Legacy raw keys (`random.PRNGKey`, uint32[..., 2]) are accepted everywhere, as in JAX.

Every function is written on hlodiff primitives (threefry2x32 from `hlodiff/prims/random.py`
and lax ops), so it runs eagerly, under `vmap`/`grad`, and is staged into a `jit` jaxpr.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hlodiff import core, dtypes, lax
from hlodiff import numpy as hnp
from hlodiff.config import config
from hlodiff.core import get_aval
from hlodiff.numpy._core import promote_dtypes_inexact
from hlodiff.prims.random import erf, erf_inv, mul_add, threefry2x32
from hlodiff.tree_util import register_pytree_node

_u32 = np.dtype(np.uint32)
_UINT = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: _u32, 64: np.dtype(np.uint64)}


# ---------------------------------------------------------------------------------------------
# Typed keys


class KeyTy:
    """The dtype of typed keys: `key<fry>` for threefry2x32."""

    impl = "threefry2x32"
    name = "key<fry>"
    itemsize = 8

    def __repr__(self):
        return self.name

    __str__ = __repr__

    def __eq__(self, other):
        return isinstance(other, KeyTy) or (isinstance(other, str) and other == self.name)

    def __hash__(self):
        return hash(self.name)


key_dtype = KeyTy()


class PRNGKeyArray:
    """An array of threefry2x32 keys, backed by uint32 key data of shape `shape + (2,)`.

    It has no arithmetic: make keys with `key`, derive them with `split`/`fold_in`, index and
    iterate them like arrays (`k1, k2 = random.split(key)`), read the bits with `key_data`.
    """

    __slots__ = ("_base_array",)
    __array_priority__ = 100

    def __init__(self, base_array):
        self._base_array = base_array  # unchecked: tree_util rebuilds keys with other leaves

    @property
    def shape(self) -> tuple:
        return tuple(get_aval(self._base_array).shape[:-1])

    dtype = key_dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d key array")
        return (self[i] for i in range(self.shape[0]))

    def __getitem__(self, idx):
        idx = idx if isinstance(idx, tuple) else (idx,)
        tail = (slice(None),) if any(i is Ellipsis for i in idx) else (Ellipsis,)
        return PRNGKeyArray(self._base_array[idx + tail])

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return PRNGKeyArray(hnp.reshape(self._base_array, (*shape, 2)))

    def ravel(self):
        return self.reshape(-1)

    flatten = ravel

    def squeeze(self, axis=None):
        axes = tuple(i for i, d in enumerate(self.shape) if d == 1) if axis is None else axis
        return PRNGKeyArray(hnp.squeeze(self._base_array, axes))

    def copy(self):
        return self

    def __eq__(self, other):
        if not isinstance(other, PRNGKeyArray):
            return NotImplemented
        return hnp.all(self._base_array == other._base_array, axis=-1)

    def __ne__(self, other):
        if not isinstance(other, PRNGKeyArray):
            return NotImplemented
        return hnp.any(self._base_array != other._base_array, axis=-1)

    __hash__ = None

    def __bool__(self):
        raise TypeError("key array cannot be converted to boolean.")

    def __array__(self, dtype=None, copy=None):
        raise TypeError("An array with PRNG key dtype cannot be converted to a NumPy array. "
                        "Use hlodiff.random.key_data(key) to get the underlying uint32 data.")

    def __repr__(self):
        return f"Array({self.shape}, dtype={self.dtype.name}) overlaying:\n{self._base_array}"


register_pytree_node(PRNGKeyArray, lambda k: ((k._base_array,), None),
                     lambda _, children: PRNGKeyArray(*children))


def _key_data_of(key, name: str, allow_batched: bool):
    """The uint32 data of a typed or raw key, and whether it was raw."""
    if isinstance(key, PRNGKeyArray):
        data, raw = key._base_array, False
    elif core.is_arraylike(key) or isinstance(key, (list, tuple)):
        data, raw = hnp.asarray(key), True
        aval = get_aval(data)
        if aval.ndim < 1 or aval.shape[-1] != 2 or aval.dtype != _u32:
            raise TypeError(
                f"{name}: a raw PRNG key must be a uint32 array of shape (..., 2), got "
                f"{aval.str_short()}. Make keys with hlodiff.random.key(seed).")
    else:
        raise TypeError(f"{name}: unexpected PRNG key type {type(key).__name__}; make keys with "
                        "hlodiff.random.key(seed).")
    shape = get_aval(data).shape[:-1]
    if shape and not allow_batched:
        raise ValueError(f"{name} accepts a single key, but was given a key array of shape "
                         f"{shape} != (). Use hlodiff.vmap for batching.")
    return data, raw


def _as_keys(data, raw: bool):
    return data if raw else PRNGKeyArray(data)


# ---------------------------------------------------------------------------------------------
# The threefry2x32 PRNG: seed, hash, split, fold_in, random bits (on uint32 key data (2,))


def _words(data):
    axis = get_aval(data).ndim - 1
    return [lax.index_in_dim(data, i, axis, keepdims=False) for i in (0, 1)]


def _threefry_hash(data, count):
    """Hashes uint32 `count` (any shape): the first half of its elements are the cipher's x1
    words, the second half its x2 words (odd sizes padded with a zero)."""
    shape = get_aval(count).shape
    n = math.prod(shape)
    flat = lax.reshape(count, (n,))
    if n % 2:
        flat = lax.concatenate([flat, np.zeros((1,), _u32)], 0)
    half = (n + n % 2) // 2
    x1, x2 = lax.slice_in_dim(flat, 0, half), lax.slice_in_dim(flat, half, 2 * half)
    out = lax.concatenate(list(threefry2x32(*_words(data), x1, x2)), 0)
    return lax.reshape(lax.slice_in_dim(out, 0, n) if n % 2 else out, shape)


def _seed_words(seed):
    """uint32 (hi, lo) words of an integer scalar: a 64-bit seed splits, narrower ones sign- or
    zero-extend into lo (`hi` is 0), as JAX's threefry_seed."""
    hi = (lax.convert_element_type(lax.shift_right_logical(seed, 32), _u32)
          if get_aval(seed).dtype.itemsize == 8 else np.zeros((), _u32))
    return hi, lax.convert_element_type(seed, _u32)


def _stack_last(parts):
    ndim = get_aval(parts[0]).ndim
    return lax.concatenate([lax.expand_dims(p, (ndim,)) for p in parts], ndim)


def _iota_2x32(shape):
    """(hi, lo) words of the uint64 row-major index of each element of `shape`."""
    n = math.prod(shape)
    if n >= 2**32:
        raise NotImplementedError(f"random arrays of {n} >= 2**32 elements")
    lo = lax.reshape(lax.iota(_u32, n), shape) if shape else np.zeros((), _u32)
    return np.zeros(shape, _u32), lo


def _split(data, shape: tuple):
    if config.threefry_partitionable:
        return _stack_last(threefry2x32(*_words(data), *_iota_2x32(shape)))
    counts = lax.iota(_u32, 2 * math.prod(shape))
    return lax.reshape(_threefry_hash(data, counts), (*shape, 2))


def _fold_in(data, msg):
    hi, lo = _seed_words(msg)
    return _threefry_hash(data, _stack_last([hi, lo]))


def _random_bits(data, bit_width: int, shape: tuple):
    """Uniform `uint{bit_width}` bits of `shape` from one key."""
    dtype = _UINT[bit_width]
    if config.threefry_partitionable:
        b1, b2 = threefry2x32(*_words(data), *_iota_2x32(shape))
        if bit_width == 64:
            return _join64(b1, b2)
        bits = lax.bitwise_xor(b1, b2)
        return bits if bit_width == 32 else lax.convert_element_type(bits, dtype)
    size = math.prod(shape)
    count = -(-bit_width * size // 32)
    if count >= 2**32 - 1:
        raise NotImplementedError(f"random arrays of {size} elements of {bit_width} bits")
    bits = _threefry_hash(data, lax.iota(_u32, count))
    if bit_width == 64:
        bits = _join64(lax.slice_in_dim(bits, 0, count // 2),
                       lax.slice_in_dim(bits, count // 2, count))
    elif bit_width < 32:  # little-endian sub-words of each 32-bit word: `bits.view(dtype)`
        per = 32 // bit_width
        shifts = lax.mul(lax.broadcasted_iota(_u32, (per, 1), 0), np.uint32(bit_width))
        words = lax.shift_right_logical(lax.broadcast(bits, (1,)), shifts)
        words = lax.bitwise_and(words, np.uint32(np.iinfo(dtype).max))
        bits = lax.reshape(words, (count * per,), (1, 0))
        bits = lax.slice_in_dim(lax.convert_element_type(bits, dtype), 0, size)
    return lax.reshape(bits, shape)


def _join64(hi, lo):
    u64 = _UINT[64]
    hi, lo = lax.convert_element_type(hi, u64), lax.convert_element_type(lo, u64)
    return lax.bitwise_or(lax.shift_left(hi, np.uint64(32)), lo)


# ---------------------------------------------------------------------------------------------
# Keys


def key(seed) -> PRNGKeyArray:
    """A typed PRNG key from an integer seed (64-bit seeds use both key words with x64 on).

    Args:
      seed: a Python int (must fit int64; without x64 it wraps to int32, as in JAX) or an
        integer scalar array.
    Raises:
      TypeError: for a non-integer, an array seed (use `hlodiff.vmap`), or a key.

    >>> random.key(0)
    Array((), dtype=key<fry>) overlaying:
    [0 0]
    """
    return PRNGKeyArray(_seed("key", seed))


def PRNGKey(seed):
    """A legacy raw key: the uint32[2] data `key(seed)` wraps."""
    return _seed("PRNGKey", seed)


def _seed(name: str, seed):
    if isinstance(seed, PRNGKeyArray):
        raise TypeError(f"{name} accepts a scalar seed, but was given a PRNG key.")
    if isinstance(seed, int):
        seed = np.int64(seed)  # OverflowError beyond int64, like JAX
        seed = seed if config.enable_x64 else seed.astype(np.int32)
    seed = hnp.asarray(seed)
    aval = get_aval(seed)
    if aval.shape:
        raise TypeError(f"{name} accepts a scalar seed, but was given an array of shape "
                        f"{aval.shape} != (). Use hlodiff.vmap for batching.")
    if not dtypes.is_integer(aval.dtype):
        raise TypeError(f"PRNG key seed must be an integer; got {seed!r}.")
    return _stack_last(_seed_words(seed))


def key_data(keys):
    """The uint32 data underlying a key array, of shape `keys.shape + (2,)`."""
    return _key_data_of(keys, "key_data", allow_batched=True)[0]


def wrap_key_data(key_bits_array, *, impl=None) -> PRNGKeyArray:
    """A typed key array over uint32 data of shape `(..., 2)` (inverse of `key_data`)."""
    if impl not in (None, "threefry2x32", key_dtype):
        raise ValueError(f'unrecognized PRNG implementation "{impl}". Did you mean one of: '
                         '"threefry2x32"?')
    return PRNGKeyArray(_key_data_of(key_bits_array, "wrap_key_data", allow_batched=True)[0])


def key_impl(keys) -> str:
    _key_data_of(keys, "key_impl", allow_batched=True)
    return "threefry2x32"


def clone(key):
    """Keys are immutable values here; `clone` returns `key` (for JAX compatibility)."""
    return key


def split(key, num: int | Sequence[int] = 2):
    """`num` new keys (or an array of keys of shape `num`) derived from `key`.

    >>> key, subkey = random.split(random.key(0))
    """
    data, raw = _key_data_of(key, "split", allow_batched=False)
    shape = tuple(num) if isinstance(num, Sequence) else (num,)
    return _as_keys(_split(data, _shape("split", shape)), raw)


def fold_in(key, data):
    """A new key that is a deterministic function of `key` and the 32-bit integer `data`."""
    key_data_, raw = _key_data_of(key, "fold_in", allow_batched=False)
    msg = hnp.asarray(data)
    if get_aval(msg).shape:
        raise TypeError("fold_in accepts a scalar, but was given an array of shape "
                        f"{get_aval(msg).shape} != (). Use hlodiff.vmap for batching.")
    return _as_keys(_fold_in(key_data_, lax.convert_element_type(msg, _u32)), raw)


# ---------------------------------------------------------------------------------------------
# Argument checks


def _shape(name: str, shape) -> tuple:
    if isinstance(shape, (int, np.integer)) or not isinstance(shape, Sequence):
        raise TypeError(f"{name}: shapes must be 1D sequences of concrete values of integer "
                        f"type, got {shape!r}. Write ({shape!r},) for a 1-D shape.")
    return tuple(int(d) for d in shape)


def _check_shape(name: str, shape: tuple, *param_shapes) -> None:
    if param_shapes and np.broadcast_shapes(shape, *param_shapes) != shape:
        raise ValueError(
            f"{name} parameter shapes must be broadcast-compatible with shape argument, and the "
            f"result of broadcasting the shapes must equal the shape argument, but got result "
            f"{np.broadcast_shapes(shape, *param_shapes)} for shape argument {shape}.")


def _float_dtype(name: str, dtype, allow_complex: bool = False) -> np.dtype:
    dtype = dtypes.canonicalize_dtype(dtypes.default_float_dtype() if dtype is None else dtype)
    ok = dtypes.is_inexact(dtype) and (allow_complex or not dtypes.is_complex(dtype))
    if not ok:
        kind = "a float or complex" if allow_complex else "a float"
        raise ValueError(f"dtype argument to `{name}` must be {kind} dtype, got {dtype}")
    return dtype


def _shape_of(x) -> tuple:
    return get_aval(x).shape if core.is_arraylike(x) else np.shape(x)


def _to_rank(x, rank: int):
    shape = get_aval(x).shape
    return lax.reshape(x, (1,) * (rank - len(shape)) + shape) if len(shape) < rank else x


# ---------------------------------------------------------------------------------------------
# Samplers


def bits(key, shape: Sequence[int] = (), dtype=None):
    """Uniform random unsigned integers (default uint32, uint64 with x64)."""
    data, _ = _key_data_of(key, "bits", allow_batched=False)
    dtype = dtypes.canonicalize_dtype(np.uint64 if dtype is None else dtype)
    if not (dtypes.is_integer(dtype) and dtype.kind == "u"):
        raise ValueError(f"dtype argument to `bits` must be an unsigned int dtype, got {dtype}")
    return _random_bits(data, dtype.itemsize * 8, _shape("bits", shape))


def uniform(key, shape: Sequence[int] = (), dtype=None, minval=0.0, maxval=1.0):
    """Uniform floats in [minval, maxval).

    The bits fill a float's mantissa with exponent 0, giving [1, 2); minus 1, scaled, shifted.
    """
    data, _ = _key_data_of(key, "uniform", allow_batched=False)
    return _uniform(data, _shape("uniform", shape), _float_dtype("uniform", dtype), minval,
                    maxval)


def _uniform(data, shape, dtype, minval, maxval):
    minval = _to_rank(lax.convert_element_type(minval, dtype), len(shape))
    maxval = _to_rank(lax.convert_element_type(maxval, dtype), len(shape))
    info = dtypes.finfo(dtype)
    nbits, nmant = info.bits, info.nmant
    rng_bits = nbits if nmant >= 8 else 8  # bfloat16: a byte of random bits is enough
    raw = lax.convert_element_type(_random_bits(data, rng_bits, shape), _UINT[nbits])
    mantissa = lax.shift_right_logical(raw, _UINT[nbits].type(rng_bits - nmant))
    # == bitcast(mantissa | bits(1.0)) - 1.0, exactly
    floats = lax.mul(lax.convert_element_type(mantissa, dtype), np.array(2.0**-nmant, dtype))
    return lax.max(minval, mul_add(floats, lax.sub(maxval, minval), minval))


def normal(key, shape: Sequence[int] = (), dtype=None):
    """Standard normal samples: sqrt(2) erfinv(u), u uniform in (-1, 1); complex dtypes give
    real and imaginary parts of variance 1/2."""
    data, _ = _key_data_of(key, "normal", allow_batched=False)
    shape = _shape("normal", shape)
    dtype = _float_dtype("normal", dtype, allow_complex=True)
    if dtypes.is_complex(dtype):
        real = dtypes.real_dtype(dtype)
        k_re, k_im = (lax.index_in_dim(_split(data, (2,)), i, 0, False) for i in (0, 1))
        re = lax.convert_element_type(_normal_real(k_re, shape, real), dtype)
        im = lax.convert_element_type(_normal_real(k_im, shape, real), dtype)
        return (re + 1j * im) / np.array(np.sqrt(2), dtype)
    return _normal_real(data, shape, dtype)


def _normal_real(data, shape, dtype):
    lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype))
    u = _uniform(data, shape, dtype, lo, 1.0)
    return lax.mul(np.array(np.sqrt(2), dtype), erf_inv(u))


def truncated_normal(key, lower, upper, shape: Sequence[int] | None = None, dtype=None):
    """Standard normal samples conditioned on lower < x < upper (inverse-CDF method)."""
    data, _ = _key_data_of(key, "truncated_normal", allow_batched=False)
    dtype = _float_dtype("truncated_normal", dtype)
    if shape is None:
        shape = np.broadcast_shapes(_shape_of(lower), _shape_of(upper))
    else:
        shape = _shape("truncated_normal", shape)
        _check_shape("truncated_normal", shape, _shape_of(lower), _shape_of(upper))
    sqrt2 = np.array(np.sqrt(2), dtype)
    lower = lax.convert_element_type(lower, dtype)
    upper = lax.convert_element_type(upper, dtype)
    # XLA rewrites x / c as x * (1 / c) for a constant c; so must we, for JAX's bits
    inv_sqrt2 = np.array(1, dtype) / sqrt2
    a, b = erf(lax.mul(lower, inv_sqrt2)), erf(lax.mul(upper, inv_sqrt2))
    out = lax.mul(sqrt2, erf_inv(_uniform(data, shape, dtype, a, b)))
    # rounding (or u == a) could leave the open interval (lower, upper): clamp into it
    lo = lax.nextafter(lax.stop_gradient(lower), np.array(np.inf, dtype))
    hi = lax.nextafter(lax.stop_gradient(upper), np.array(-np.inf, dtype))
    return hnp.minimum(hnp.maximum(out, lo), hi)


def bernoulli(key, p=0.5, shape: Sequence[int] | None = None, mode: str = "low"):
    """Booleans that are True with probability `p`. mode="high" spends twice the bits so that
    tiny `p` (below ~1e-7 in float32) are still sampled correctly."""
    if mode not in ("high", "low"):
        raise ValueError(f"got mode={mode!r}, expected 'high' or 'low'")
    data, _ = _key_data_of(key, "bernoulli", allow_batched=False)
    dtype = dtypes.dtype(p)
    if not dtypes.is_inexact(dtype) or dtypes.is_complex(dtype):
        raise TypeError(f"bernoulli probability `p` must have a floating dtype, got {dtype}.")
    p = lax.convert_element_type(p, dtype)
    if shape is None:
        shape = get_aval(p).shape
    else:
        shape = _shape("bernoulli", shape)
        _check_shape("bernoulli", shape, get_aval(p).shape)
    if mode == "high":
        u = _uniform(data, (2, *shape), dtype, 0.0, 1.0)
        u1, u2 = (lax.index_in_dim(u, i, 0, False) for i in (0, 1))
        u2 = lax.mul(u2, np.array(2.0 ** -dtypes.finfo(dtype).nmant, dtype))
        return lax.lt(u2, lax.sub(p, u1))
    return lax.lt(_uniform(data, shape, dtype, 0.0, 1.0), p)


def exponential(key, shape: Sequence[int] = (), dtype=None):
    """Exponential(1) samples: -log(1 - u)."""
    data, _ = _key_data_of(key, "exponential", allow_batched=False)
    dtype = _float_dtype("exponential", dtype)
    u = _uniform(data, _shape("exponential", shape), dtype, 0.0, 1.0)
    return lax.neg(lax.log1p(lax.neg(u)))


def gumbel(key, shape: Sequence[int] = (), dtype=None, mode: str | None = None):
    """Gumbel samples -log(-log(u)). mode="high" uses twice the bits for a wider tail."""
    data, _ = _key_data_of(key, "gumbel", allow_batched=False)
    dtype = _float_dtype("gumbel", dtype)
    return _gumbel(data, _shape("gumbel", shape), dtype, mode or "low")


def _check_gumbel_mode(mode: str) -> None:
    if mode == "highest":
        raise NotImplementedError("gumbel mode='highest' (JAX's clz-based float32 conversion) "
                                  "is not implemented; use mode='high'.")
    if mode not in ("low", "high"):
        raise ValueError(f"Must provide valid mode for gumbel ('low' or 'high'), got: {mode!r}")


def _gumbel(data, shape, dtype, mode):
    _check_gumbel_mode(mode)
    info = dtypes.finfo(dtype)
    if mode == "high":
        u = _uniform(data, (2, *shape), dtype, 0.0, 1.0)
        high, low = (lax.index_in_dim(u, i, 0, False) for i in (0, 1))
        x = lax.add(lax.add(high, lax.mul(np.array(2.0**-info.nmant, dtype), low)),
                    np.array(info.tiny, dtype))
        x = lax.select(lax.ge(high, np.array(0.5, dtype)), high, x)
        return lax.neg(lax.log(lax.neg(lax.log1p(lax.neg(x)))))
    u = _uniform(data, shape, dtype, np.array(info.tiny, dtype), 1.0)
    return lax.neg(lax.log(lax.neg(lax.log(u))))


def categorical(key, logits, axis: int = -1, shape: Sequence[int] | None = None,
                replace: bool = True, mode: str | None = None):
    """Indices sampled from softmax(logits) along `axis` (Gumbel-max; Gumbel-top-k without
    replacement)."""
    data, _ = _key_data_of(key, "categorical", allow_batched=False)
    logits = hnp.asarray(logits)
    lshape = get_aval(logits).shape
    axis = axis % len(lshape)
    batch_shape = lshape[:axis] + lshape[axis + 1:]
    shape = batch_shape if shape is None else _shape("categorical", shape)
    _check_shape("categorical", shape, batch_shape)
    prefix = shape[: len(shape) - len(batch_shape)]
    dtype, mode = get_aval(logits).dtype, mode or "low"
    if replace:
        sample_shape = list(shape[len(prefix):])
        sample_shape.insert(axis, lshape[axis])
        g = _gumbel(data, (*prefix, *sample_shape), dtype, mode)
        scores = hnp.add(g, lax.expand_dims(logits, tuple(range(len(prefix)))))
        return hnp.argmax(scores, axis=axis - len(lshape))
    k = math.prod(prefix)
    if k > lshape[axis]:
        raise ValueError(f"Number of samples without replacement ({k}) cannot exceed number of "
                         f"categories ({lshape[axis]}).")
    scores = hnp.moveaxis(hnp.add(logits, _gumbel(data, lshape, dtype, mode)), axis, -1)
    idx = _top_k_indices(scores, k)
    n = len(batch_shape)
    return lax.reshape(idx, shape, (n, *range(n)))


def _top_k_indices(x, k: int):
    """Indices of the k largest entries along the last axis, ties to the lower index."""
    aval = get_aval(x)
    iota = lax.broadcasted_iota(np.int32, aval.shape, aval.ndim - 1)  # lax.top_k's dtype
    _, order = lax.sort((lax.neg(x), iota), dimension=aval.ndim - 1, num_keys=1)
    return lax.slice_in_dim(order, 0, k, axis=aval.ndim - 1)


def randint(key, shape: Sequence[int], minval, maxval, dtype=None):
    """Integers in [minval, maxval): 2*nbits random bits reduced modulo the span (the bias is
    at most span^2 / 2^(2*nbits))."""
    data, _ = _key_data_of(key, "randint", allow_batched=False)
    shape = _shape("randint", shape)
    dtype = dtypes.canonicalize_dtype(dtypes.default_int_dtype() if dtype is None else dtype)
    if not dtypes.is_integer(dtype):
        raise TypeError(f"randint only accepts integer dtypes, got {dtype}")
    info = dtypes.iinfo(dtype)
    if info.bits < 32:  # sample in 32 bits to avoid bias, then narrow
        minval = hnp.clip(hnp.asarray(minval).astype(np.int32), int(info.min), int(info.max))
        maxval = hnp.clip(hnp.asarray(maxval).astype(np.int32), int(info.min),
                          int(info.max) + 1)
        return _randint(data, shape, minval, maxval, np.dtype(np.int32)).astype(dtype)
    return _randint(data, shape, minval, maxval, dtype)


def _clip_to(val, dtype):
    """`val` converted to integer `dtype`, clipping to its range instead of wrapping."""
    vinfo, info = dtypes.iinfo(get_aval(val).dtype), dtypes.iinfo(dtype)
    lo, hi = max(info.min, vinfo.min), min(info.max, vinfo.max)
    return hnp.clip(val, np.array(lo, get_aval(val).dtype), np.array(hi, get_aval(val).dtype)
                    ).astype(dtype)


def _randint(data, shape, minval, maxval, dtype):
    _check_shape("randint", shape, _shape_of(minval), _shape_of(maxval))
    minval, maxval = hnp.asarray(minval), hnp.asarray(maxval)
    minval = minval if dtypes.is_integer(minval.dtype) else minval.astype(int)
    maxval = maxval if dtypes.is_integer(maxval.dtype) else maxval.astype(int)
    top = np.array(dtypes.iinfo(dtype).max, dtype)
    out_of_range = hnp.greater(maxval, _clip_to(hnp.asarray(top), maxval.dtype))
    minval = _to_rank(_clip_to(minval, dtype), len(shape))
    maxval = _to_rank(_clip_to(maxval, dtype), len(shape))
    nbits = dtypes.iinfo(dtype).bits
    udt = _UINT[nbits]
    k1, k2 = (lax.index_in_dim(_split(data, (2,)), i, 0, False) for i in (0, 1))
    higher, lower = _random_bits(k1, nbits, shape), _random_bits(k2, nbits, shape)
    span = lax.convert_element_type(lax.sub(maxval, minval), udt)
    span = lax.select(lax.le(maxval, minval), lax.full_like(span, 1), span)  # minval if empty
    # maxval beyond dtype's range: one more value (wrapping to 0 = the full range)
    span = lax.select(hnp.logical_and(_to_rank(out_of_range, len(shape)),
                                      lax.gt(maxval, minval)),
                      lax.add(span, udt.type(1)), span)
    # 2^nbits mod span, squared via (a b) mod n = ((a mod n)(b mod n)) mod n
    multiplier = lax.rem(lax.full_like(span, 2 ** (nbits // 2)), span)
    multiplier = lax.rem(lax.mul(multiplier, multiplier), span)
    offset = lax.add(lax.mul(lax.rem(higher, span), multiplier), lax.rem(lower, span))
    offset = lax.rem(offset, span)
    return lax.add(minval, lax.convert_element_type(offset, dtype))


def permutation(key, x, axis: int = 0, independent: bool = False):
    """A random permutation of `arange(x)` (int x) or of `x` along `axis` (each slice on its
    own with `independent=True`)."""
    data, _ = _key_data_of(key, "permutation", allow_batched=False)
    if not _shape_of(x):
        if not dtypes.is_integer(dtypes.dtype(x)):
            raise TypeError("x must be an integer or at least 1-dimensional")
        n = core.concrete_value(x)
        if n is None:
            raise core.ConcretizationTypeError(x, "argument x of hlodiff.random.permutation()")
        return _shuffle(data, hnp.arange(int(n)), 0, independent=True)
    x = hnp.asarray(x)
    axis = axis % get_aval(x).ndim
    return _shuffle(data, x, axis, independent or get_aval(x).ndim == 1)


def _shuffle(data, x, axis: int, independent: bool):
    """Repeated stable sorts by fresh 32-bit keys: after ceil(3 ln n / ln(2^32 - 1)) rounds
    ties are negligible (tjablin@'s criterion, as in JAX and TF)."""
    aval = get_aval(x)
    key_shape = aval.shape if independent else (aval.shape[axis],)
    n = math.prod(key_shape)
    rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))
    for _ in range(rounds):
        pair = _split(data, (2,))
        data, sub = (lax.index_in_dim(pair, i, 0, False) for i in (0, 1))
        sort_keys = _random_bits(sub, 32, key_shape)
        if not independent:  # one permutation for every slice: same keys along `axis`
            sort_keys = lax.broadcast_in_dim(sort_keys, aval.shape, (axis,))
        x = lax.sort((sort_keys, x), dimension=axis, num_keys=1)[1]
    return x


def shuffle(key, x, axis: int = 0):
    """Deprecated in JAX: `permutation(key, x, axis, independent=True)`."""
    return permutation(key, x, axis, independent=True)


def choice(key, a, shape: Sequence[int] = (), replace: bool = True, p=None, axis: int = 0,
           mode: str | None = None):
    """A sample of `a` (or `arange(a)` for an int), with or without replacement, uniform or
    with probabilities `p`."""
    data, _ = _key_data_of(key, "choice", allow_batched=False)
    if not isinstance(shape, Sequence):
        raise TypeError("shape argument of hlodiff.random.choice must be a sequence, got "
                        f"{shape}")
    shape = _shape("choice", shape)
    arr = hnp.asarray(a)
    ashape = get_aval(arr).shape
    if not ashape:
        n = core.concrete_value(arr)
        if n is None:
            raise core.ConcretizationTypeError(arr, "The error occurred in random.choice()")
        n_inputs = int(n)
    else:
        axis = axis % len(ashape)
        n_inputs = ashape[axis]
    n_draws = math.prod(shape)
    if n_draws == 0:
        return hnp.zeros(shape, dtype=get_aval(arr).dtype)
    if n_inputs <= 0:
        raise ValueError("a must be greater than 0 unless no samples are taken")
    if not replace and n_draws > n_inputs:
        raise ValueError(f"Cannot take a larger sample (size {n_draws}) than population (size "
                         f"{n_inputs}) when 'replace=False'")
    if p is None and not replace:
        perm = permutation(_as_keys(data, False), n_inputs if not ashape else arr, axis)
        result = lax.slice_in_dim(perm, 0, n_draws, axis=axis if ashape else 0)
    else:
        ind = _choice_indices(data, shape, n_inputs, replace, p, mode)
        result = ind if not ashape else hnp.take(arr, ind, axis=axis)
    out_shape = shape if not ashape else ashape[:axis] + shape + ashape[axis + 1:]
    return hnp.reshape(result, out_shape)


def _choice_indices(data, shape, n_inputs, replace, p, mode):
    if p is None:
        return randint(_as_keys(data, False), shape, 0, n_inputs)
    p = hnp.asarray(p)
    if not dtypes.is_inexact(get_aval(p).dtype):
        p = p.astype(dtypes.default_float_dtype())
    if get_aval(p).shape != (n_inputs,):
        raise ValueError("p must be None or a 1D vector with the same size as a.shape[axis]. "
                         f"p has shape {get_aval(p).shape} and a.shape[axis] is {n_inputs}.")
    dtype = get_aval(p).dtype
    if replace:  # inverse CDF: searchsorted(cumsum(p), total * (1 - u))
        cdf = hnp.cumsum(p)
        total = lax.index_in_dim(cdf, n_inputs - 1, 0, False)
        r = hnp.multiply(total, hnp.subtract(1, _uniform(data, shape, dtype, 0.0, 1.0)))
        below = hnp.less(cdf, hnp.expand_dims(r, -1))
        return hnp.sum(below, axis=-1, dtype=dtypes.default_int_dtype())
    g = hnp.add(_gumbel(data, (n_inputs,), dtype, mode or "low"), hnp.log(p))
    return _top_k_indices(g, math.prod(shape)).astype(dtypes.default_int_dtype())


def multivariate_normal(key, mean, cov, shape: Sequence[int] | None = None, dtype=None,
                        method: str = "cholesky"):
    """Samples of N(mean, cov): mean + F z with F F^T = cov (F from `method`: 'cholesky',
    or 'eigh' / 'svd' for singular covariances)."""
    data, _ = _key_data_of(key, "multivariate_normal", allow_batched=False)
    if method not in ("svd", "eigh", "cholesky"):
        raise ValueError("method must be one of {'svd', 'eigh', 'cholesky'}")
    mean, cov = promote_dtypes_inexact("multivariate_normal", mean, cov)
    dtype = get_aval(mean).dtype if dtype is None else _float_dtype("multivariate_normal",
                                                                      dtype)
    mshape, cshape = get_aval(mean).shape, get_aval(cov).shape
    if len(mshape) < 1:
        raise ValueError(f"multivariate_normal requires mean.ndim >= 1, got mean.ndim == "
                         f"{len(mshape)}")
    if len(cshape) < 2:
        raise ValueError(f"multivariate_normal requires cov.ndim >= 2, got cov.ndim == "
                         f"{len(cshape)}")
    n = mshape[-1]
    if cshape[-2:] != (n, n):
        raise ValueError(f"multivariate_normal requires cov.shape == (..., n, n) for n={n}, "
                         f"but got cov.shape == {cshape}.")
    if shape is None:
        shape = np.broadcast_shapes(mshape[:-1], cshape[:-2])
    else:
        shape = _shape("multivariate_normal", shape)
        _check_shape("normal", shape, mshape[:-1], cshape[:-2])
    factor = _factor(cov, method)
    z = _normal_real(data, (*shape, n), dtype)
    return hnp.add(mean, hnp.einsum("...ij,...j->...i", factor, z))


def _factor(cov, method: str):
    """A matrix F with F F^T = cov."""
    if method == "cholesky":
        return hnp.linalg.cholesky(cov)
    if method == "eigh":
        w, v = hnp.linalg.eigh(cov)
        return hnp.multiply(v, hnp.sqrt(hnp.expand_dims(w, -2)))
    u, s, _ = hnp.linalg.svd(cov)
    return hnp.multiply(u, hnp.sqrt(hnp.expand_dims(s, -2)))


__all__ = [
    "PRNGKey", "PRNGKeyArray", "bernoulli", "bits", "categorical", "choice", "clone",
    "exponential", "fold_in", "gumbel", "key", "key_data", "key_dtype", "key_impl",
    "multivariate_normal", "normal", "permutation", "randint", "shuffle", "split",
    "truncated_normal", "uniform", "wrap_key_data",
]
