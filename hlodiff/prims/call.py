"""`pjit`: the call primitive `jit` stages. It carries the traced function as a closed jaxpr.

Each transformation rewrites the inner jaxpr and binds a new `pjit`, so transformed jitted
functions stay single compiled calls: JVP (`jvp_jaxpr`), batching (`batch_jaxpr`), partial
evaluation (`partial_eval_jaxpr`: a known call now, an unknown call staged for later) and
transposition (`transpose_jaxpr`). Evaluating it compiles the jaxpr with IREE (`hlodiff.jit`).
"""

from __future__ import annotations

from hlodiff.core import Primitive, get_aval
from hlodiff.transforms import batching, jvp as jvp_mod, partial_eval, transpose as tr
from hlodiff.transforms.jvp import Zero


class CallPrimitive(Primitive):
    multiple_results = True
    higher_order = True


pjit_p = CallPrimitive("pjit")


def _pjit_abstract(*avals, jaxpr, name, device=None):
    return jaxpr.out_avals


def _pjit_eval(*args, jaxpr, name, device=None):
    from hlodiff.jit import execute  # the module, not the `hd.jit` function

    return execute(jaxpr, args, device)


def _pjit_jvp(primals, tangents, *, jaxpr, name, device=None):
    nonzeros = [type(t) is not Zero for t in tangents]
    new, out_nz = jvp_mod.jvp_jaxpr(jaxpr, nonzeros)
    nz_tangents = [t for t in tangents if type(t) is not Zero]
    outs = pjit_p.bind(*primals, *nz_tangents, jaxpr=new, name=f"jvp({name})", device=device)
    n = len(jaxpr.out_avals)
    it = iter(outs[n:])
    t_out = [next(it) if nz else Zero(jvp_mod.tangent_aval(a))
             for a, nz in zip(jaxpr.out_avals, out_nz)]
    return outs[:n], t_out


def _pjit_batch(axis_size, vals, dims, *, jaxpr, name, device=None):
    new = batching.batch_jaxpr(jaxpr, axis_size, dims)
    outs = pjit_p.bind(*vals, jaxpr=new, name=f"vmap({name})", device=device)
    return outs, [0] * len(outs)


def _pjit_partial_eval(trace, args, params):
    jaxpr, name, device = params["jaxpr"], params["name"], params.get("device")
    known_mask = [not trace.is_unknown(x) for x in args]
    known, unknown, out_unknown, num_res = partial_eval.partial_eval_jaxpr(jaxpr, known_mask)
    known_args = [x for x, k in zip(args, known_mask) if k]
    known_outs = pjit_p.bind_with_trace(trace.parent, known_args,
                                        dict(jaxpr=known, name=name, device=device))
    n_known_out = len(known_outs) - num_res
    residuals = known_outs[n_known_out:]
    unknown_args = [x for x, k in zip(args, known_mask) if not k]
    from hlodiff.transforms.staging import DynamicJaxprTrace

    staged = DynamicJaxprTrace.process_primitive(
        trace, pjit_p, list(residuals) + unknown_args,
        dict(jaxpr=unknown, name=name, device=device))
    k_it, u_it = iter(known_outs[:n_known_out]), iter(staged)
    return [next(u_it) if u else next(k_it) for u in out_unknown]


def _pjit_transpose(cts, *args, jaxpr, name, device=None):
    linear = [tr.is_undefined_primal(x) for x in args]
    cts = [jvp_mod.instantiate_zeros(c) for c in cts]
    new = tr.transpose_jaxpr(jaxpr, linear, [get_aval(c) for c in cts])
    nonlin = [x for x, lin in zip(args, linear) if not lin]
    outs = pjit_p.bind(*nonlin, *cts, jaxpr=new, name=f"transpose({name})", device=device)
    it = iter(outs)
    return [next(it) if lin else None for lin in linear]


pjit_p.abstract_eval = _pjit_abstract
pjit_p.eval_rule = _pjit_eval
pjit_p.impl = _pjit_eval
pjit_p.jvp = _pjit_jvp
pjit_p.batch = _pjit_batch
pjit_p.partial_eval = _pjit_partial_eval
pjit_p.transpose = _pjit_transpose
