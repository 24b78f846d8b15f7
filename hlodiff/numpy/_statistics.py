"""Statistics of the numpy API: median, quantile, percentile and their nan-ignoring variants,
cov, corrcoef, bincount, histogram, histogram_bin_edges and digitize.

Each is a composition of other numpy functions (sort, take_along_axis, searchsorted,
`.at[].add`, average, dot), so it evaluates eagerly and differentiates, batches and compiles as
those do. Dtype rules are JAX's: data promotes to an inexact dtype (bool and integers to float32),
results are never weakly typed, bin indices are int32. Only `bincount` has an output size that
depends on values: under `jit` or `vmap` it needs a static `length=`.
"""

from __future__ import annotations

import builtins
import math
import operator

import numpy as np

from hlodiff import dtypes
from hlodiff.core import Array, Tracer, concrete_value, get_aval, to_numpy
from hlodiff.errors import ConcretizationTypeError
from hlodiff.numpy._core import (
    asarray,
    canonicalize_axes,
    check_arraylike,
    promote_dtypes_inexact,
)
from hlodiff.numpy._creation import broadcast_to, full, linspace, ones_like, zeros, zeros_like
from hlodiff.numpy._indexing import searchsorted, take_along_axis
from hlodiff.numpy._linalg_ops import diag, dot
from hlodiff.numpy._reductions import any as _any
from hlodiff.numpy._reductions import average, cumsum
from hlodiff.numpy._reductions import max as _max
from hlodiff.numpy._reductions import min as _min
from hlodiff.numpy._reductions import sum as _sum
from hlodiff.numpy._shape_ops import atleast_2d, concatenate, diff, squeeze
from hlodiff.numpy._ufuncs import abs as _abs
from hlodiff.numpy._ufuncs import (
    ceil,
    clip,
    floor,
    imag,
    isnan,
    logical_or,
    multiply,
    real,
    sqrt,
    true_divide,
    where,
)
from hlodiff.prims import elementwise as ew
from hlodiff.prims import reduce as rp
from hlodiff.prims import shape as sp

_METHODS = ("linear", "lower", "higher", "midpoint", "nearest", "inverted_cdf")
_INT = np.dtype(np.int32)


def _strong(x, dtype=None):
    return ew.convert_element_type(x, get_aval(x).dtype if dtype is None else dtype, False)


def _static_int(name, value, what):
    """`value` as a Python int; arguments that set an output size must be concrete."""
    if isinstance(value, Tracer):
        concrete = value.to_concrete_value()
        if concrete is None:
            raise ConcretizationTypeError(value, f"The `{what}` argument of hnp.{name}")
        value = concrete
    return operator.index(to_numpy(value) if isinstance(value, Array) else value)


# --- quantile, percentile, median -----------------------------------------------------------------


def _reduced_last(a, axes):
    """`a` with `axes` moved last and flattened into one: shape (kept..., n)."""
    kept = tuple(i for i in range(a.ndim) if i not in axes)
    x = sp.transpose(a, kept + axes)
    return sp.reshape(x, tuple(a.shape[i] for i in kept) + (math.prod(a.shape[i] for i in axes),))


def _matched_weights(weights, a, axis, axes):
    """Weights of a's shape: given so, or with the shape of the reduced axes (in `axis` order)."""
    if weights.shape == a.shape:
        return weights
    if axis is None:
        raise ValueError("Weights shape must match 'a' shape when axis is None.")
    if weights.shape != tuple(a.shape[i] for i in axes):
        raise ValueError(
            f"Weights shape {weights.shape} must match reduction axes "
            f"{tuple(a.shape[i] for i in axes)}"
        )
    order = sorted(range(len(axes)), key=axes.__getitem__)
    return sp.broadcast_in_dim(sp.transpose(weights, order), a.shape, sorted(axes))


def _check_quantile_args(name, a, q, method, weights, out, overwrite_input):
    if out is not None or overwrite_input:
        raise ValueError(
            f"hnp.{name} does not support overwrite_input=True or out != None (arrays are "
            "immutable: use the returned value)."
        )
    if method not in _METHODS:
        raise ValueError(
            "method can only be 'linear', 'lower', 'higher', 'midpoint', 'nearest' or "
            f"'inverted_cdf'; got {method!r}."
        )
    check_arraylike(name, a, q, *(() if weights is None else (weights,)))
    if weights is not None and method != "inverted_cdf":
        raise NotImplementedError(
            f"{method} doesn't support weights. Only method 'inverted_cdf' supports weights."
        )


def _quantile(name, a, q, axis, method, keepdims, squash_nans, weights):
    """The quantiles `q` of `a` over `axis`: sort the reduced axes flattened last, then gather."""
    if weights is None:
        (a,) = promote_dtypes_inexact(name, a)
    else:
        if dtypes.is_complex(get_aval(weights).dtype):
            raise ValueError("Weights cannot be complex types.")
        a, weights = promote_dtypes_inexact(name, a, weights)
    if dtypes.is_complex(a.dtype):
        raise ValueError(
            f"{name} does not support complex input, as the operation is poorly defined."
        )
    (q,) = promote_dtypes_inexact(name, q)
    q = _strong(q)
    if q.ndim > 1:
        raise ValueError(f"q must be have rank <= 1, got shape {q.shape}")
    axes = canonicalize_axes(axis, a.ndim)
    out_shape = q.shape + tuple(
        1 if i in axes else s for i, s in enumerate(a.shape) if keepdims or i not in axes
    )
    x = _reduced_last(_strong(a), axes)
    n = x.shape[-1]
    if n == 0:
        return full(out_shape, np.nan, a.dtype)
    w = None if weights is None else _reduced_last(_matched_weights(weights, a, axis, axes), axes)
    nan = isnan(x)
    # The NaN fill makes every NaN sort last; without squash_nans a NaN poisons its whole slice.
    x = where(nan if squash_nans else _any(nan, -1, keepdims=True), np.nan, x)
    if w is None:
        x = rp.sort(x, dimension=x.ndim - 1)
    else:
        x, w = rp.sort((x, w), dimension=x.ndim - 1, num_keys=1)
    count = (
        _sum(ew.not_(nan), -1, keepdims=True, dtype=q.dtype)
        if squash_nans
        else Array(np.array(n, q.dtype), False)
    )
    qs = sp.reshape(q, (1,) * (x.ndim - 1) + (q.size,))
    if method == "inverted_cdf":
        vals = _inverted_cdf(x, w, qs, count, squash_nans)
    else:
        vals = _interpolated(x, qs, count, method)
    vals = sp.reshape(sp.moveaxis(vals, x.ndim - 1, 0), out_shape)
    return _strong(vals, a.dtype)


def _gather_last(x, idx):
    """x[..., idx] per row; idx (kept..., k) of float positions in [0, n - 1]."""
    idx = broadcast_to(ew.convert_element_type(idx, _INT, False), x.shape[:-1] + idx.shape[-1:])
    return take_along_axis(x, idx, -1)


def _interpolated(x, qs, count, method):
    """Quantiles between the order statistics at floor and ceil of q * (count - 1)."""
    last = ew.sub(count, np.array(1, count.dtype))
    pos = multiply(qs, last)
    zero = np.zeros((), pos.dtype)
    low = ew.max(zero, ew.min(floor(pos), last))
    high = ew.max(zero, ew.min(ceil(pos), last))
    high_weight = ew.sub(pos, floor(pos))
    low_value, high_value = _gather_last(x, low), _gather_last(x, high)
    if method == "lower":
        return low_value
    if method == "higher":
        return high_value
    if method == "nearest":  # ties (a weight of exactly 0.5) go to the lower value, as JAX
        return where(high_weight <= 0.5, low_value, high_value)
    if method == "midpoint":
        return multiply(ew.add(low_value, high_value), np.array(0.5, x.dtype))
    low_weight = ew.sub(np.ones((), high_weight.dtype), high_weight)
    return ew.add(multiply(low_value, low_weight), multiply(high_value, high_weight))


def _inverted_cdf(x, w, qs, count, squash_nans):
    """The first sorted value whose cumulative weight reaches q * total weight."""
    nan_data = isnan(x)
    if w is None:
        w = ones_like(x)
    bad_weight = logical_or(w < 0, isnan(w))
    cum = cumsum(where(logical_or(bad_weight, nan_data), 0, w), axis=-1)
    target = multiply(qs, sp.slice_in_dim(cum, x.shape[-1] - 1, x.shape[-1], 1, x.ndim - 1))
    below = sp.expand_dims(cum, (x.ndim - 1,)) < sp.expand_dims(target, (x.ndim,))
    idx = _sum(below, -1, dtype=_INT)
    idx = clip(idx, 0, ew.convert_element_type(ew.sub(count, np.array(1, count.dtype)), _INT))
    vals = _gather_last(x, idx)
    no_data = (count == 0) if squash_nans else _any(nan_data, -1, keepdims=True)
    return where(logical_or(_any(bad_weight, -1, keepdims=True), no_data), np.nan, vals)


_QUANTILE_DOC = """The `q`-th quantiles of `a` over `axis` (all axes when None).

    Args:
      a: data; bool and integers compute in float32. Complex data is rejected.
      q: scalar or 1-D quantiles in [0, 1] (not checked: values outside extrapolate or clamp).
      axis: None, an int or a tuple of ints.
      out, overwrite_input: unsupported (arrays are immutable); must be None / False.
      method: "linear", "lower", "higher", "midpoint", "nearest" (ties go to the lower value,
        as JAX; numpy rounds them to even) or "inverted_cdf".
      keepdims: keep the reduced axes with size 1.
      weights: per-element weights (a's shape, or the reduced axes' shape); "inverted_cdf" only.

    Returns:
      shape q.shape + the reduced shape, in a's (inexact) dtype; NaN where a slice has a NaN.

    Raises:
      ValueError: unknown method, complex data, q of rank > 1, out or overwrite_input given.

    Example: `hnp.quantile(hnp.arange(10), hnp.array([0.25, 0.5]))` is `[2.25, 4.5]`.
    """


def _quantile_function(name, squash_nans, percent, doc):
    def fn(
        a,
        q,
        axis=None,
        out=None,
        overwrite_input=False,
        method="linear",
        keepdims=False,
        *,
        weights=None,
    ):
        _check_quantile_args(name, a, q, method, weights, out, overwrite_input)
        if percent:
            (q,) = promote_dtypes_inexact(name, q)
            q = true_divide(q, 100)
        return _quantile(name, a, q, axis, method, keepdims, squash_nans, weights)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


quantile = _quantile_function("quantile", False, False, _QUANTILE_DOC)
nanquantile = _quantile_function(
    "nanquantile", True, False, "`quantile` over the non-NaN elements (NaN where all are NaN)."
)
percentile = _quantile_function(
    "percentile", False, True, "`quantile` with `q` in percent ([0, 100])."
)
nanpercentile = _quantile_function(
    "nanpercentile", True, True, "`nanquantile` with `q` in percent ([0, 100])."
)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """The median over `axis`: the middle value, or the mean of the two middle values.

    Example: `hnp.median(hnp.array([[2, 4, 7, 1]]), axis=1)` is `[3.]`.
    """
    return quantile(a, 0.5, axis, out, overwrite_input, "midpoint", keepdims)


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """`median` over the non-NaN elements (NaN where a slice is all NaN)."""
    return nanquantile(a, 0.5, axis, out, overwrite_input, "midpoint", keepdims)


# --- cov, corrcoef -------------------------------------------------------------------------------


def _observation_weights(name, w, n_obs, integer):
    check_arraylike("cov", w)
    w = asarray(w)
    if w.ndim > 1:
        raise RuntimeError(f"cannot handle multidimensional {name}")
    if w.shape[0] != n_obs:
        raise RuntimeError(f"incompatible numbers of samples and {name}")
    if integer and not dtypes.issubdtype(w.dtype, np.integer):
        raise TypeError(f"{name} must be integer.")
    return _abs(w)  # numpy rejects negative weights; values cannot be checked under jit


def _variables_by_row(m, y, rowvar):
    x = atleast_2d(m)
    if not rowvar and m.ndim != 1:
        x = x.T
    if y is not None and x.shape[0]:
        y2 = atleast_2d(y)
        x = concatenate((x, y2 if rowvar or y2.shape[0] == 1 else y2.T), axis=0)
    return x


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, dtype=None):
    """The (weighted) covariance matrix of the variables in `m` (and `y`).

    Args:
      m: (M, N) observations of M variables (rows; columns if `rowvar` is False), or 1-D.
      y: more variables in `m`'s layout, stacked below m's.
      bias: divide by N rather than N - 1 (`ddof` overrides either).
      fweights: integer repeat counts of the N observations; aweights: their importance.
      dtype: the inexact dtype to compute in.

    Returns:
      (M, M), or a scalar when there is one variable.

    Example: `hnp.cov(hnp.array([[0., 1, 2], [2, 1, 0]]))` is `[[1, -1], [-1, 1]]`.
    """
    m, *rest = promote_dtypes_inexact("cov", m, *(() if y is None else (y,)))
    if m.ndim > 2 or (rest and rest[0].ndim > 2):
        raise ValueError(f"{'m' if m.ndim > 2 else 'y'} has more than 2 dimensions")
    if dtype is not None and not dtypes.is_inexact(dtypes.canonicalize_dtype(dtype)):
        raise ValueError(f"cov: dtype must be a subclass of float or complex; got {dtype=}")
    x = _variables_by_row(m, rest[0] if rest else None, rowvar)
    if x.shape[0] == 0:
        return zeros((0, 0), x.dtype)
    if x.shape[1] == 0:
        return full(() if x.shape[0] == 1 else (x.shape[0],) * 2, np.nan, x.dtype)
    if ddof is None:
        ddof = 1 if bias == 0 else 0
    w = None
    if fweights is not None:
        w = _observation_weights("fweights", fweights, x.shape[1], True)
    if aweights is not None:
        aweights = _observation_weights("aweights", aweights, x.shape[1], False)
        w = aweights if w is None else multiply(w, aweights)
    if dtype is not None:
        x = asarray(x, dtype)
        w = None if w is None else asarray(w, dtype)
    avg, w_sum = average(x, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        f = x.shape[1] - ddof
    elif ddof == 0:
        f = w_sum
    elif aweights is None:
        f = w_sum - ddof
    else:
        f = w_sum - ddof * _sum(multiply(w, aweights)) / w_sum
    x = x - avg[:, None]
    x_t = x.T if w is None else multiply(x, w[None, :]).T
    return squeeze(true_divide(dot(x, x_t.conj()), f))


def corrcoef(x, y=None, rowvar=True, dtype=None):
    """Pearson correlation coefficients: `cov` normalised by the standard deviations, clipped
    to [-1, 1].

    Example: `hnp.corrcoef(hnp.array([-1., 0, 1]), hnp.array([1., 0, -1]))` is
    `[[1, -1], [-1, 1]]`.
    """
    check_arraylike("corrcoef", x)
    if dtype is not None and not dtypes.is_inexact(dtypes.canonicalize_dtype(dtype)):
        raise ValueError(f"corrcoef: dtype must be a subclass of float or complex; got {dtype=}")
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return true_divide(c, c)  # nan for nan/inf/0 variances, 1 otherwise
    std = _strong(sqrt(real(diag(c))), c.dtype)
    c = c / std[:, None] / std[None, :]
    if dtypes.is_complex(c.dtype):
        return ew.complex_(clip(real(c), -1, 1), clip(imag(c), -1, 1))
    return clip(c, -1, 1)


# --- bincount, digitize, histogram ---------------------------------------------------------------


def bincount(x, weights=None, minlength=0, *, length=None):
    """Counts (or summed `weights`) of each non-negative integer value in the 1-D `x`.

    As in JAX, negative values count in bin 0 and values >= `length` are dropped. The output
    length is `length` when given, else max(minlength, x.max() + 1), which needs concrete `x`.

    Raises:
      TypeError: `x` is not integer (or bool).
      ValueError: `x` is not 1-D, or `weights` has another shape.
      ConcretizationTypeError: `x` is traced (jit, vmap) and `length` is not given.

    Example: `hnp.bincount(hnp.array([1, 1, 3]))` is `[0, 2, 0, 1]`;
    `jit(hnp.bincount, static_argnames="length")(x, length=5)` works under jit.
    """
    check_arraylike("bincount", x)
    x = asarray(x)
    if x.dtype == np.bool_:
        x = _strong(x, _INT)
    if not dtypes.issubdtype(x.dtype, np.integer):
        raise TypeError(f"x argument to bincount must have an integer type; got {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"only 1-dimensional input supported; got x of shape {x.shape}")
    minlength = _static_int("bincount", minlength, "minlength")
    if length is None:
        length = _length_from_values(x, minlength)
    else:
        length = _static_int("bincount", length, "length")
    if weights is None:
        weights = Array(np.array(1, dtypes.default_int_dtype()), False)
    else:
        check_arraylike("bincount", weights)
        weights = asarray(weights)
        if weights.shape != x.shape:
            raise ValueError(
                f"weights must have the shape of x; got x {x.shape} and weights {weights.shape}"
            )
    return zeros(length, weights.dtype).at[clip(x, 0)].add(weights, mode="drop")


def _length_from_values(x, minlength):
    value = concrete_value(x)
    if value is None:
        raise ConcretizationTypeError(
            x,
            "hnp.bincount's output length (max(x) + 1 without a `length` argument; pass a static "
            "`length=`, e.g. `jit(f, static_argnames='length')`, to fix the output size)",
        )
    return builtins.max(minlength, value.size and int(builtins.max(0, value.max())) + 1)


def digitize(x, bins, right=False, *, method=None):
    """The index of the bin of each element of `x`: i with bins[i-1] <= x < bins[i] for
    increasing `bins` (bins[i-1] < x <= bins[i] when `right`); decreasing `bins` work too.

    Returns:
      int32 indices of x's shape, in [0, len(bins)].

    Example: `hnp.digitize(hnp.array([0.5, 1.5]), hnp.array([1., 2.]))` is `[0, 1]`.
    """
    check_arraylike("digitize", x, bins)
    x, bins = asarray(x), asarray(bins)
    if bins.ndim != 1:
        raise ValueError(f"digitize: bins must be a 1-dimensional array; got shape {bins.shape}")
    if bins.shape[0] == 0:
        return zeros_like(x, dtype=_INT)
    side = "left" if _static_bool(right) else "right"
    kw = {} if method is None else {"method": method}
    increasing = searchsorted(bins, x, side=side, **kw)
    decreasing = bins.shape[0] - searchsorted(sp.rev(bins, (0,)), x, side=side, **kw)
    return where(bins[-1] >= bins[0], increasing, decreasing)


def _static_bool(value):
    if isinstance(value, Tracer):
        concrete = value.to_concrete_value()
        if concrete is None:
            raise ConcretizationTypeError(value, "The `right` argument of hnp.digitize")
        value = concrete
    return bool(value)


def histogram_bin_edges(a, bins=10, range=None, weights=None):
    """The bin edges `histogram` uses: `bins` itself when 1-D, else bins + 1 evenly spaced
    edges over `range` (default [a.min(), a.max()]; widened by 0.5 either side when empty).

    Example: `hnp.histogram_bin_edges(hnp.array([1, 6]), bins=5)` is `[1, 2, 3, 4, 5, 6]`.
    """
    del weights  # only string `bins` (unsupported) would use them
    if isinstance(bins, str):
        raise NotImplementedError("string values for `bins` are not implemented.")
    check_arraylike("histogram_bin_edges", a, bins)
    a = asarray(a)
    dtype = dtypes.canonicalize_dtype(dtypes.to_inexact_dtype(a.dtype))
    if get_aval(bins).ndim == 1:
        return asarray(bins, dtype)
    nbins = _static_int("histogram_bin_edges", bins, "bins")
    if range is None:
        lo, hi = _strong(_min(a), dtype), _strong(_max(a), dtype)
    else:
        r = asarray(range, dtype)
        if r.shape != (2,):
            raise ValueError(f"`range` must be either None or a pair of scalars, got {range}")
        lo, hi = r[0], r[1]
    empty = lo == hi
    lo, hi = where(empty, lo - 0.5, lo), where(empty, hi + 0.5, hi)
    return linspace(lo, hi, nbins + 1, dtype=dtype)


def histogram(a, bins=10, range=None, weights=None, density=None):
    """The (weighted) counts of `a`'s elements in each bin, and the bin edges.

    Bins are half open, [e_i, e_i+1), except the last, which includes its right edge; values
    outside the edges are not counted.

    Args:
      a: values of any shape; bins: a static bin count or 1-D increasing edges;
      range: (low, high) for a bin count; weights: a's shape;
      density: normalise to counts per unit length, integrating to one.

    Returns:
      (counts, edges), both in a's (and the weights') inexact dtype.

    Example: `hnp.histogram(hnp.array([1, 2, 3, 10]), bins=3)` counts `[3., 0., 1.]`.
    """
    check_arraylike("histogram", a, bins)
    if weights is None:
        (a,) = promote_dtypes_inexact("histogram", a)
        weights = ones_like(a)
    else:
        check_arraylike("histogram", weights)
        if get_aval(a).shape != get_aval(weights).shape:
            raise ValueError("weights should have the same shape as a.")
        a, weights = promote_dtypes_inexact("histogram", a, weights)
    edges = histogram_bin_edges(a, bins, range)
    n = edges.shape[0]
    idx = where(a == edges[-1], n - 1, searchsorted(edges, a, side="right"))
    counts = zeros(n, weights.dtype).at[idx].add(weights, mode="drop")[1:]
    if density:
        counts = counts / diff(edges) / _sum(counts)
    return counts, edges


__all__ = [
    "bincount",
    "corrcoef",
    "cov",
    "digitize",
    "histogram",
    "histogram_bin_edges",
    "median",
    "nanmedian",
    "nanpercentile",
    "nanquantile",
    "percentile",
    "quantile",
]
