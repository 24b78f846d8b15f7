"""Error types users see. Each subclasses the builtin that fits, as JAX's do, and says what to do."""

from __future__ import annotations


class ConcretizationTypeError(TypeError):
    """A traced (abstract) value was used where Python needs a concrete one (bool, int, shape)."""

    def __init__(self, tracer, context: str = ""):
        aval = getattr(tracer, "aval", None)
        aval_str = aval.str_short() if aval is not None else repr(tracer)
        lines = [
            f"Abstract tracer value encountered where concrete value is expected: {aval_str}.",
        ]
        if context:
            lines.append(f"{context} needs a concrete value, but the value is traced.")
        provenance = getattr(tracer, "provenance", None)
        names = provenance() if provenance is not None else []
        if names:
            which = ", ".join(names)
            lines.append(
                "This concrete value was not available in Python because it depends on the "
                f"value of the argument{'s' if len(names) > 1 else ''} {which}."
            )
        lines.append(
            "This happens when Python control flow or a shape depends on an argument of a "
            "function transformed by `jit` (or a batched `vmap` value). Either mark that argument "
            "static with `jit(f, static_argnums=...)`/`static_argnames=...`, or express the "
            "control flow with `lax.cond`, `lax.select`, `hnp.where` or `lax.while_loop`."
        )
        super().__init__("\n".join(lines))





class NonConcreteBooleanIndexError(IndexError):
    """A boolean mask index whose values are traced: its result shape would not be static."""

    def __init__(self, aval_str: str):
        super().__init__(
            f"Array boolean indices must be concrete; got {aval_str}. A boolean mask selects a "
            "data-dependent number of elements, so its shape cannot be known while tracing. Use "
            "`hnp.where(mask, x, fill)` to keep the shape, or apply the mask outside `jit`."
        )


class UnexpectedTracerError(Exception):
    """A tracer escaped the transformation that created it (stored in a global, returned out)."""

    def __init__(self, primitive, tracer):
        super().__init__(
            f"Encountered an unexpected tracer ({tracer!r}) while evaluating `{primitive}` eagerly. "
            "A value created inside a transformed function (jit, grad, vmap, ...) leaked out of "
            "it, e.g. through a global variable or a closure kept after the call. Return values "
            "from the transformed function instead of storing them."
        )

