"""Pytrees: flattening nested containers to leaves and a `PyTreeDef`, and rebuilding them.

Owns JAX's `jax.tree_util` model in pure Python (stdlib only, no hlodiff imports, so every other
module may import it): the node registry (tuple, list, dict, None, OrderedDict, defaultdict,
namedtuples, registered classes and dataclasses), `PyTreeDef`, key paths, `tree_map` and friends,
`Partial`, and `broadcast_prefix` for `vmap`'s `in_axes`.

A structure is stored as nested tuples so equality and hashing run at C speed: a leaf is `None`
and a node is `(kind, aux_data, children)`, where `kind` is the `_NodeKind` of its type (one
object per type, compared by identity) and `children` a tuple of nodes.

    >>> leaves, treedef = tree_flatten(((1, 2), {"a": 3}))
    >>> leaves, treedef
    ([1, 2, 3], PyTreeDef(((*, *), {'a': *})))
    >>> tree_unflatten(treedef, [10, 20, 30])
    ((10, 20), {'a': 30})
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = [
    "DictKey", "FlattenedIndexKey", "GetAttrKey", "Partial", "PyTreeDef", "SequenceKey",
    "all_leaves", "broadcast_prefix", "build_tree", "keystr", "register_dataclass",
    "register_pytree_node", "register_pytree_node_class", "register_pytree_with_keys",
    "register_pytree_with_keys_class", "register_static", "tree_all", "tree_flatten",
    "tree_flatten_with_path", "tree_leaves", "tree_leaves_with_path", "tree_map",
    "tree_map_with_path", "tree_reduce", "tree_structure", "tree_transpose", "tree_unflatten",
    "treedef_children", "treedef_is_leaf", "treedef_tuple",
]  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Key path entries


@dataclasses.dataclass(frozen=True, slots=True)
class SequenceKey:
    """Key of a tuple or list child: `x[idx]`."""

    idx: int

    def __str__(self) -> str:
        return f"[{self.idx!r}]"


@dataclasses.dataclass(frozen=True, slots=True)
class DictKey:
    """Key of a dict, OrderedDict or defaultdict child: `x[key]`."""

    key: Any

    def __str__(self) -> str:
        return f"[{self.key!r}]"


@dataclasses.dataclass(frozen=True, slots=True)
class GetAttrKey:
    """Key of a namedtuple or dataclass child: `x.name`."""

    name: str

    def __str__(self) -> str:
        return f".{self.name}"


@dataclasses.dataclass(frozen=True, slots=True)
class FlattenedIndexKey:
    """Key of a child of a node registered without keys: its position among the children."""

    key: int

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


def keystr(keys: Sequence[Any], *, simple: bool = False, separator: str = "") -> str:
    """Joins a key path into a string: `"['a'][0].x"`, or `"a/0/x"` with `simple=True, separator="/"`."""
    return separator.join(map(_simple_keystr if simple else str, keys))


def _simple_keystr(key: Any) -> str:
    field = _KEY_FIELDS.get(type(key))
    return str(key) if field is None else str(getattr(key, field))


_KEY_FIELDS = {SequenceKey: "idx", DictKey: "key", GetAttrKey: "name", FlattenedIndexKey: "key"}


# ---------------------------------------------------------------------------------------------
# Node kinds: how one container type flattens, rebuilds, names its children and prints.


class _NodeKind:
    """The rules for one pytree node type. One instance per type; compared by identity."""

    __slots__ = ("fast", "flatten", "flatten_with_keys", "name", "nodetype", "show", "unflatten")

    def __init__(self, nodetype, name, unflatten, flatten_with_keys, show, flatten=None, fast=None):
        self.nodetype = nodetype
        self.name = name
        self.flatten = flatten or _as_sequence  # x -> (children, aux_data); None: x, None
        self.unflatten = unflatten  # (aux_data, children) -> x
        self.flatten_with_keys = flatten_with_keys  # x -> ([(key, child)], aux_data)
        self.show = show  # (kind, aux_data, child reprs) -> str
        # (x, leaves) -> node, appending x's leaves to `leaves`
        self.fast = fast or (_custom_flattener(self) if flatten else _sequence_flattener(self))

    def __repr__(self) -> str:
        return f"<pytree node kind {self.name}>"


_LEAF = None  # the node of a leaf: the cheapest value to test (`node is None`) and compare


def _as_sequence(x):
    return x, None


def _flatten_leaf(x, leaves):
    leaves.append(x)
    return _LEAF


def _flatten_unknown(x, leaves):
    """Classifies a type met for the first time, caches its flattener, and flattens `x`."""
    kind = _kind_of(type(x))
    flattener = _flatten_leaf if kind is None else kind.fast
    if len(_FLATTENERS) >= _CACHE_LIMIT:
        _reset_caches()
    _FLATTENERS[type(x)] = flattener
    return flattener(x, leaves)


# type -> (x, leaves) -> node. Every type met is cached, leaves included; bounded by _CACHE_LIMIT.
_FLATTENERS: dict[type, Callable] = {}
_get_flattener = _FLATTENERS.get
_CACHE_LIMIT = 4096


# The two fast flatteners below repeat one loop on purpose: leaves (the common child) are handled
# inline, so flattening costs one Python frame per container node and none per leaf.


def _sequence_flattener(kind):
    """Fast flattener for a kind whose children are the elements of `x` and aux data is None."""

    def flatten_sequence(x, leaves):
        nodes = []
        for c in x:
            flattener = _get_flattener(type(c), _flatten_unknown)
            if flattener is _flatten_leaf:
                leaves.append(c)
                nodes.append(_LEAF)
            else:
                nodes.append(flattener(c, leaves))
        return (kind, None, tuple(nodes))

    return flatten_sequence


def _custom_flattener(kind):
    """Fast flattener for a kind with a `kind.flatten` function."""
    flatten = kind.flatten

    def flatten_custom(x, leaves):
        children, aux = flatten(x)
        nodes = []
        for c in children:
            flattener = _get_flattener(type(c), _flatten_unknown)
            if flattener is _flatten_leaf:
                leaves.append(c)
                nodes.append(_LEAF)
            else:
                nodes.append(flattener(c, leaves))
        return (kind, aux, tuple(nodes))

    return flatten_custom


def _flatten_none(x, leaves):
    return _NONE_NODE


def _sorted_keys(d) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError as e:
        raise ValueError(
            f"pytree dict keys must be mutually comparable, since dict children are ordered by "
            f"sorted key; got keys {list(d)!r} ({e}). Use keys of one type, or an "
            f"OrderedDict, which keeps insertion order."
        ) from None


def _show_tuple(kind, aux, cs):
    return "(" + ", ".join(cs) + ("," if len(cs) == 1 else "") + ")"


def _show_list(kind, aux, cs):
    return "[" + ", ".join(cs) + "]"


def _show_dict(kind, keys, cs):
    return "{" + ", ".join(f"{k!r}: {c}" for k, c in zip(keys, cs)) + "}"


def _show_none(kind, aux, cs):
    return "None"


def _show_custom(kind, aux, cs):
    return f"CustomNode({kind.name}[{aux!r}], [{', '.join(cs)}])"


def _show_namedtuple(kind, aux, cs):
    return f"CustomNode(namedtuple[{kind.name}], [{', '.join(cs)}])"


def _no_children(x):
    return (), None


def _sequence_keys(x):
    return [(SequenceKey(i), c) for i, c in enumerate(x)], None


def _dict_flatten(x):
    keys = _sorted_keys(x)
    return [x[k] for k in keys], keys


def _dict_keys(x):
    keys = _sorted_keys(x)
    return [(DictKey(k), x[k]) for k in keys], keys


def _ordered_dict_flatten(x):
    keys = tuple(x)
    return [x[k] for k in keys], keys


def _ordered_dict_keys(x):
    keys = tuple(x)
    return [(DictKey(k), x[k]) for k in keys], keys


def _defaultdict_flatten(x):
    keys = _sorted_keys(x)
    return [x[k] for k in keys], (x.default_factory, keys)


def _defaultdict_keys(x):
    keys = _sorted_keys(x)
    return [(DictKey(k), x[k]) for k in keys], (x.default_factory, keys)


def _defaultdict_unflatten(aux, children):
    factory, keys = aux
    return collections.defaultdict(factory, zip(keys, children))


# fmt: off
_TUPLE = _NodeKind(tuple, "tuple", lambda _, cs: tuple(cs), _sequence_keys, _show_tuple)
_LIST = _NodeKind(list, "list", lambda _, cs: list(cs), _sequence_keys, _show_list)
_DICT = _NodeKind(dict, "dict", lambda keys, cs: dict(zip(keys, cs)), _dict_keys, _show_dict,
                  flatten=_dict_flatten)
_NONE = _NodeKind(type(None), "None", lambda _, cs: None, _no_children, _show_none,
                  flatten=_no_children, fast=_flatten_none)
_NONE_NODE = (_NONE, None, ())
_ORDERED_DICT = _NodeKind(collections.OrderedDict, "OrderedDict",
                          lambda keys, cs: collections.OrderedDict(zip(keys, cs)),
                          _ordered_dict_keys, _show_custom, flatten=_ordered_dict_flatten)
_DEFAULTDICT = _NodeKind(collections.defaultdict, "defaultdict", _defaultdict_unflatten,
                         _defaultdict_keys, _show_custom, flatten=_defaultdict_flatten)
# fmt: on

# Explicitly registered node types (the builtins plus register_* calls).
_REGISTRY: dict[type, _NodeKind] = {
    k.nodetype: k for k in (_TUPLE, _LIST, _DICT, _NONE, _ORDERED_DICT, _DEFAULTDICT)
}
_NAMEDTUPLE_KINDS: dict[type, _NodeKind] = {}  # permanent: a type must keep one kind


def _reset_caches():
    _FLATTENERS.clear()
    _FLATTENERS.update((t, k.fast) for t, k in _REGISTRY.items())


_reset_caches()


def _kind_of(typ: type) -> _NodeKind | None:
    """The node kind of `typ`, or None when instances of `typ` are leaves."""
    kind = _REGISTRY.get(typ)
    if kind is None and issubclass(typ, tuple) and isinstance(getattr(typ, "_fields", None), tuple):
        kind = _NAMEDTUPLE_KINDS.get(typ) or _NAMEDTUPLE_KINDS.setdefault(
            typ, _namedtuple_kind(typ)
        )
    return kind


def _namedtuple_kind(typ: type) -> _NodeKind:
    def flatten_with_keys(x):
        return [(GetAttrKey(f), c) for f, c in zip(typ._fields, x)], None

    return _NodeKind(typ, typ.__name__, lambda _, cs: typ(*cs), flatten_with_keys, _show_namedtuple)


# ---------------------------------------------------------------------------------------------
# PyTreeDef


class PyTreeDef:
    """The structure of a pytree: its containers and where the leaves go. Immutable, hashable.

    Made by `tree_flatten`/`tree_structure`/`treedef_tuple`; rebuild a tree with `unflatten`.
    """

    __slots__ = ("_hash", "_node", "num_leaves")

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "PyTreeDef cannot be constructed directly; get one from tree_structure(tree), "
            "tree_flatten(tree) or treedef_tuple(treedefs)."
        )

    def __setattr__(self, name, value):
        raise AttributeError("PyTreeDef is immutable; build a new one with tree_structure.")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __eq__(self, other):
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self is other or self._node == other._node

    def __hash__(self):
        try:
            return self._hash
        except AttributeError:
            _set_hash(self, _hash_node(self._node, self))
            return self._hash

    def __repr__(self) -> str:
        return f"PyTreeDef({_show(self._node)})"

    @property
    def num_nodes(self) -> int:
        """Number of nodes, counting leaves and `None`s: `((1, 2), None)` has 5."""
        return _count_nodes(self._node)

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Rebuilds the tree with `leaves` in flattening order. Raises ValueError on a bad count."""
        leaves = leaves if type(leaves) is list else list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(
                f"unflatten: expected {self.num_leaves} leaves for {self}, got {len(leaves)}. "
                f"Pass exactly as many leaves as the structure has (as tree_flatten returns)."
            )
        return _unflatten(self._node, iter(leaves))

    def flatten_up_to(self, tree: Any) -> list[Any]:
        """The subtrees of `tree` sitting where this structure has leaves.

        `tree` must have this structure as a prefix: same containers, with any subtree (or leaf)
        where this structure has a leaf. Raises ValueError naming the key path and both structures.
        """
        return _up_to_or_raise(self, tree, "flatten_up_to", ("expected", "got"))

    def children(self) -> list[PyTreeDef]:
        """The structures of the root's children (empty for a leaf or None)."""
        return [] if self._node is None else [_treedef_of(c) for c in self._node[2]]

    def node_data(self) -> tuple[type, Any] | None:
        """`(node type, aux data)` of the root, or None for a leaf."""
        if self._node is None:
            return None
        kind, aux, _ = self._node
        return (kind.nodetype, list(aux) if kind is _DICT else aux)

    def compose(self, inner: PyTreeDef) -> PyTreeDef:
        """This structure with `inner` put in place of every leaf."""
        node = _replace_leaves(self._node, inner._node)
        return _make_treedef(node, self.num_leaves * inner.num_leaves)

    def from_iterable_tree(self, xs: Any) -> Any:
        """Rebuilds this structure from nested iterables `xs` (one per node); see `build_tree`."""
        return _from_iterables(self._node, xs)


_new_object = object.__new__
_set_node = PyTreeDef._node.__set__
_set_num_leaves = PyTreeDef.num_leaves.__set__
_set_hash = PyTreeDef._hash.__set__


def _make_treedef(node, num_leaves: int) -> PyTreeDef:
    treedef = _new_object(PyTreeDef)
    _set_node(treedef, node)
    _set_num_leaves(treedef, num_leaves)
    return treedef


def _hash_node(node, treedef) -> int:
    try:
        return hash(node)
    except TypeError as e:
        raise TypeError(
            f"cannot hash {treedef}: some node's aux data is unhashable ({e}). Make the "
            f"flatten function of that node type return hashable aux data (a tuple, not a list)."
        ) from None


def _treedef_of(node) -> PyTreeDef:
    return _make_treedef(node, _count_leaves(node))


def _count_leaves(node) -> int:
    return 1 if node is None else sum(map(_count_leaves, node[2]))


def _count_nodes(node) -> int:
    return 1 if node is None else 1 + sum(map(_count_nodes, node[2]))


def _show(node) -> str:
    if node is None:
        return "*"
    kind, aux, children = node
    return kind.show(kind, aux, [_show(c) for c in children])


def _unflatten(node, it):
    if node is None:
        return next(it)
    kind, aux, children = node
    values = []  # a loop, not a comprehension: saves a frame per node on Python 3.11
    for c in children:
        values.append(next(it) if c is None else _unflatten(c, it))
    return kind.unflatten(aux, values)


def _replace_leaves(node, new_leaf_node):
    if node is None:
        return new_leaf_node
    kind, aux, children = node
    return (kind, aux, tuple(_replace_leaves(c, new_leaf_node) for c in children))


def _from_iterables(node, xs):
    if node is None:
        return xs
    kind, aux, children = node
    xs = list(xs)
    if len(xs) != len(children):
        raise ValueError(
            f"build_tree: a {kind.name} node has {len(children)} children but got "
            f"{len(xs)} items: {_short_repr(xs)}."
        )
    return kind.unflatten(aux, [_from_iterables(c, x) for c, x in zip(children, xs)])


# ---------------------------------------------------------------------------------------------
# Flattening and unflattening


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None):
    """Flattens `tree` into its leaves (in order) and its structure.

    Args:
      tree: a pytree.
      is_leaf: optional predicate called on every subtree; True makes that subtree a leaf.
    Returns:
      `(leaves, treedef)`. Example: `tree_flatten([1, (2, None)])` is
      `([1, 2], PyTreeDef([*, (*, None)]))`.
    """
    leaves = []
    if is_leaf is None:
        node = _get_flattener(type(tree), _flatten_unknown)(tree, leaves)
    else:
        node = _flatten_checked(tree, leaves, is_leaf)
    return leaves, _make_treedef(node, len(leaves))


def _flatten_checked(x, leaves, is_leaf):
    kind = None if is_leaf(x) else _kind_of(type(x))
    if kind is None:
        leaves.append(x)
        return _LEAF
    children, aux = kind.flatten(x)
    return (kind, aux, tuple([_flatten_checked(c, leaves, is_leaf) for c in children]))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuilds a tree of structure `treedef` from `leaves`; raises ValueError on a bad count."""
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of `tree` in flattening order: `tree_leaves({'b': 1, 'a': (2,)})` is `[2, 1]`."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The `PyTreeDef` of `tree`."""
    return tree_flatten(tree, is_leaf)[1]


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """True when `treedef` has a single node: a leaf, or (as in JAX) `None` or `()`."""
    return treedef._node is None or not treedef._node[2]


def treedef_children(treedef: PyTreeDef) -> list[PyTreeDef]:
    """The structures of the root's children."""
    return treedef.children()


def treedef_tuple(treedefs: Iterable[PyTreeDef]) -> PyTreeDef:
    """The structure of a tuple whose children have structures `treedefs`."""
    treedefs = list(treedefs)
    node = (_TUPLE, None, tuple(t._node for t in treedefs))
    return _make_treedef(node, sum(t.num_leaves for t in treedefs))


def build_tree(treedef: PyTreeDef, xs: Any) -> Any:
    """Builds a tree of structure `treedef` from nested iterables, one per node.

    `build_tree(tree_structure({'a': 0, 'b': (0, 0)}), [1, [2, 3]])` is `{'a': 1, 'b': (2, 3)}`.
    """
    return treedef.from_iterable_tree(xs)


def all_leaves(iterable: Iterable[Any], is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """True when every item of `iterable` is a leaf (None is not: it is an empty node)."""
    items = list(iterable)
    if is_leaf is None:
        return all(_kind_of(type(x)) is None for x in items)
    leaves = tree_leaves(items, is_leaf)
    return len(leaves) == len(items) and all(a is b for a, b in zip(items, leaves))


# ---------------------------------------------------------------------------------------------
# Key paths


def tree_flatten_with_path(
    tree: Any, is_leaf: Callable[..., bool] | None = None, is_leaf_takes_path: bool = False
):
    """Like `tree_flatten`, with each leaf paired with its key path.

    Returns `([(path, leaf), ...], treedef)`; a path is a tuple of `SequenceKey`, `DictKey`,
    `GetAttrKey` or `FlattenedIndexKey` (print one with `keystr`). With `is_leaf_takes_path`,
    `is_leaf` is called as `is_leaf(path, x)`.
    """
    if is_leaf is not None and not is_leaf_takes_path:
        is_leaf_one = is_leaf
        is_leaf = lambda _, x: is_leaf_one(x)
    pairs = []
    node = _flatten_with_path(tree, (), pairs, is_leaf)
    return pairs, _make_treedef(node, len(pairs))


def _flatten_with_path(x, path, pairs, is_leaf):
    kind = None if is_leaf is not None and is_leaf(path, x) else _kind_of(type(x))
    if kind is None:
        pairs.append((path, x))
        return _LEAF
    keyed, aux = kind.flatten_with_keys(x)
    children = tuple([_flatten_with_path(c, (*path, k), pairs, is_leaf) for k, c in keyed])
    return (kind, aux, children)


def tree_leaves_with_path(
    tree: Any, is_leaf: Callable[..., bool] | None = None, is_leaf_takes_path: bool = False
) -> list[tuple[tuple, Any]]:
    """`[(path, leaf), ...]` for every leaf of `tree`; see `tree_flatten_with_path`."""
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]


# ---------------------------------------------------------------------------------------------
# Matching a structure against a tree (flatten_up_to), and the errors it gives


class _Mismatch(Exception):
    """Internal: where (key path, innermost last once reversed) and how a tree failed to match."""

    def __init__(self, detail: str):
        self.detail = detail
        self.path = []  # appended while unwinding, so innermost first


def _up_to(node, tree) -> list:
    out = []
    if node is None:
        out.append(tree)
    else:
        _match(node, tree, out)
    return out


def _match(node, x, out):
    kind, aux, children = node
    xs = _children_matching(kind, aux, children, x)
    try:
        for c, v in zip(children, xs):
            if c is None:
                out.append(v)
            else:
                _match(c, v, out)
    except _Mismatch as e:
        e.path.append(_failing_key(kind, children, x, xs))
        raise


def _failing_key(kind, children, x, xs):
    """The key of the first child of `x` that does not match (only called on the error path)."""
    for (key, _), c, v in zip(kind.flatten_with_keys(x)[0], children, xs):
        try:
            c is None or _match(c, v, [])
        except _Mismatch:
            return key
    raise AssertionError("unreachable: a child failed to match but none does on a rerun")


def _children_matching(kind, aux, children, x):
    """The children of `x` if `x` is a node like `(kind, aux, children)`, else raises _Mismatch."""
    if type(x) is kind.nodetype:
        if kind is _DICT:
            if len(x) == len(aux) and all(map(x.__contains__, aux)):
                return [x[k] for k in aux]
            raise _Mismatch(f"expected dict keys {list(aux)!r}, got keys {list(x)!r}")
        xs, x_aux = kind.flatten(x)
        if not isinstance(xs, (list, tuple)):
            xs = list(xs)
        if len(xs) == len(children) and _aux_equal(x_aux, aux):
            return xs
    raise _Mismatch(f"expected {_describe(kind, aux, len(children))}, got {_describe_value(x)}")


def _aux_equal(a, b) -> bool:
    try:
        return a is b or bool(a == b)
    except (TypeError, ValueError):  # e.g. array-valued aux data
        return False


def _describe(kind, aux, num_children: int) -> str:
    if kind is _NONE:
        return "None"
    if kind in (_TUPLE, _LIST):
        return f"a {kind.name} of length {num_children}"
    if _NAMEDTUPLE_KINDS.get(kind.nodetype) is kind:
        return f"a namedtuple {kind.name} of length {num_children}"
    if kind in (_DICT, _ORDERED_DICT):
        return f"a {kind.name} with keys {list(aux)!r}"
    return f"a {kind.name} node with aux data {aux!r} and {num_children} children"


def _describe_value(x) -> str:
    kind = _kind_of(type(x))
    if kind is None:
        return f"a leaf of type {type(x).__name__}: {_short_repr(x)}"
    try:
        children, aux = kind.flatten(x)
        return f"{_describe(kind, aux, len(children))}: {_short_repr(x)}"
    except Exception:  # noqa: BLE001 - describing a value must not hide the real error
        return _short_repr(x)


def _short_repr(x, limit: int = 80) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_structure(tree, is_leaf=None) -> str:
    try:
        return str(tree_structure(tree, is_leaf))
    except Exception as e:  # noqa: BLE001
        return f"<not flattenable: {e}>"


def _up_to_or_raise(treedef, tree, what, labels, hint="", index=None) -> list:
    """`treedef.flatten_up_to(tree)`, raising ValueError as `what` with `labels` for the two
    structures (the second label is formatted with `index`)."""
    try:
        return _up_to(treedef._node, tree)
    except _Mismatch as e:
        labels = (labels[0], labels[1].format(index))
        raise ValueError(_mismatch_message(what, e, treedef, tree, labels, hint)) from None


def _mismatch_message(what: str, e: _Mismatch, expected, tree, labels, hint: str = "") -> str:
    path = keystr(e.path[::-1]) or "(the root)"
    if e.detail.startswith("expected None,"):
        hint += (
            "\nNone is an empty subtree here, not a leaf; to treat None as a leaf pass "
            "is_leaf=lambda x: x is None."
        )
    return (
        f"{what}: tree structures do not match at key path {path}: {e.detail}.\n"
        f"  {labels[0]} structure: {expected}\n"
        f"  {labels[1]} structure: {_safe_structure(tree)}{hint}"
    )


# ---------------------------------------------------------------------------------------------
# Mapping and reducing


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any, is_leaf=None) -> Any:
    """Applies `f` leafwise: `tree_map(f, t, *rest)` calls `f(x, *xs)` per leaf `x` of `t`.

    Each tree in `rest` must have `tree`'s structure as a prefix; `xs` are its subtrees at the
    positions of `tree`'s leaves. Raises ValueError naming the key path and both structures.
    Example: `tree_map(lambda a, b: a + b, (1, [2]), (10, [20]))` is `(11, [22])`.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves])
    columns = [leaves, *_rest_leaves("tree_map", treedef, rest)]
    return treedef.unflatten([f(*xs) for xs in zip(*columns)])


def _rest_leaves(what: str, treedef: PyTreeDef, rest: Sequence[Any]) -> list[list]:
    hint = "\nEach tree in `rest` must have the first tree's structure as a prefix."
    labels = ("first tree", "rest[{}]")
    return [_up_to_or_raise(treedef, r, what, labels, hint, i) for i, r in enumerate(rest)]


def tree_map_with_path(
    f: Callable[..., Any], tree: Any, *rest: Any, is_leaf=None, is_leaf_takes_path: bool = False
) -> Any:
    """Like `tree_map`, but calls `f(path, x, *xs)` with each leaf's key path."""
    pairs, treedef = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    columns = _rest_leaves("tree_map_with_path", treedef, rest)
    return treedef.unflatten([f(p, x, *xs) for (p, x), *xs in zip(pairs, *columns)])


def tree_transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None, pytree_to_transpose: Any
) -> Any:
    """Turns an outer-of-inner tree into an inner-of-outer tree.

    `tree_transpose(tree_structure([0, 0]), tree_structure((0, 0)), [(1, 2), (3, 4)])` is
    `([1, 3], [2, 4])`. `inner_treedef=None` takes the structure of the first inner tree.
    Every inner tree must have `inner_treedef` as a prefix (checked; ValueError otherwise).
    """
    labels = ("outer_treedef", "pytree_to_transpose")
    inners = _up_to_or_raise(outer_treedef, pytree_to_transpose, "tree_transpose", labels)
    if inner_treedef is None:
        if not inners:
            raise ValueError(
                "tree_transpose: pass inner_treedef when the outer tree has no leaves."
            )
        inner_treedef = tree_structure(inners[0])
    labels = ("inner_treedef", "inner tree at outer leaf {}")
    columns = [
        _up_to_or_raise(inner_treedef, t, "tree_transpose", labels, index=i)
        for i, t in enumerate(inners)
    ]
    rows = zip(*columns) if columns else [()] * inner_treedef.num_leaves
    return inner_treedef.unflatten([outer_treedef.unflatten(row) for row in rows])


_NO_INITIALIZER = object()


def tree_reduce(
    function: Callable[[Any, Any], Any], tree: Any, initializer: Any = _NO_INITIALIZER, is_leaf=None
) -> Any:
    """`functools.reduce(function, tree_leaves(tree), initializer)`."""
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INITIALIZER:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree: Any, *, is_leaf=None) -> bool:
    """True when every leaf of `tree` is truthy."""
    return all(tree_leaves(tree, is_leaf))


def broadcast_prefix(prefix_tree: Any, full_tree: Any, is_leaf=None) -> list[Any]:
    """For each leaf of `full_tree`, the leaf of `prefix_tree` whose position covers it.

    Used by `vmap` for `in_axes`/`out_axes`: `None` in `prefix_tree` is a LEAF here ("not
    mapped"), unlike everywhere else. `is_leaf` applies to `prefix_tree` only.
    Example: `broadcast_prefix((0, None), ([1, 2], {'a': 3}))` is `[0, 0, None]`.
    Raises ValueError naming the key path and both structures when `prefix_tree` is not a
    prefix of `full_tree`.
    """
    if is_leaf is None:
        prefix_leaves, prefix_def = tree_flatten(prefix_tree, _is_none)
    else:
        prefix_leaves, prefix_def = tree_flatten(prefix_tree, lambda x: x is None or is_leaf(x))
    try:
        subtrees = _up_to(prefix_def._node, full_tree)
    except _Mismatch as e:
        shown = f"{_safe_structure(prefix_tree)} (None counts as a leaf here)"
        message = _mismatch_message("broadcast_prefix", e, shown, full_tree, ("prefix", "full"))
        raise ValueError(message) from None
    out = []
    for p, subtree in zip(prefix_leaves, subtrees):
        out.extend([p] * len(tree_leaves(subtree)))
    return out


def _is_none(x) -> bool:
    return x is None


# ---------------------------------------------------------------------------------------------
# Registration


def register_pytree_node(
    nodetype: type,
    flatten_func: Callable[[Any], tuple[Iterable[Any], Any]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
    flatten_with_keys_func: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Any]] | None = None,
) -> None:
    """Makes instances of `nodetype` pytree nodes.

    Args:
      flatten_func: `x -> (children, aux_data)`; aux_data is static, hashable and comparable.
      unflatten_func: `(aux_data, children) -> x`.
      flatten_with_keys_func: optional `x -> ([(key, child), ...], aux_data)` for key paths;
        without it children are keyed by `FlattenedIndexKey(i)`.
    Raises:
      ValueError: `nodetype` is already registered.
    """
    if flatten_with_keys_func is None:

        def flatten_with_keys_func(x):
            children, aux = flatten_func(x)
            return [(FlattenedIndexKey(i), c) for i, c in enumerate(children)], aux

    kind = _NodeKind(
        nodetype, nodetype.__name__, unflatten_func, flatten_with_keys_func, _show_custom,
        flatten=flatten_func,
    )  # fmt: skip
    _add_kind(kind)


def _add_kind(kind: _NodeKind) -> None:
    if kind.nodetype in _REGISTRY:
        raise ValueError(
            f"{kind.nodetype!r} is already registered as a pytree node type; register each type "
            f"once (at import time of the module that defines it)."
        )
    _REGISTRY[kind.nodetype] = kind
    _reset_caches()  # the type may have been cached as a leaf or namedtuple


def register_pytree_with_keys(
    nodetype: type,
    flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Any]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
    flatten_func: Callable[[Any], tuple[Iterable[Any], Any]] | None = None,
) -> None:
    """Like `register_pytree_node`, given `flatten_with_keys: x -> ([(key, child)], aux)`."""
    if flatten_func is None:

        def flatten_func(x):
            keyed, aux = flatten_with_keys(x)
            return [c for _, c in keyed], aux

    register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys)


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: registers `cls` using its `tree_flatten()` method and `tree_unflatten`
    classmethod (`cls.tree_unflatten(aux_data, children)`)."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def register_pytree_with_keys_class(cls: type) -> type:
    """Class decorator: like `register_pytree_node_class`, using `tree_flatten_with_keys()`."""
    flatten = getattr(cls, "tree_flatten", None)
    register_pytree_with_keys(
        cls,
        lambda x: x.tree_flatten_with_keys(),
        cls.tree_unflatten,
        None if flatten is None else (lambda x: x.tree_flatten()),
    )
    return cls


def register_static(cls: type) -> type:
    """Class decorator: instances become pytrees with no leaves (the whole value is aux data)."""
    register_pytree_with_keys(cls, lambda x: ((), x), lambda x, _: x)
    return cls


def register_dataclass(
    nodetype: type | None = None,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
    drop_fields: Sequence[str] = (),
):
    """Registers a dataclass-like type whose data fields are children and meta fields aux data.

    With neither field list given, `nodetype` must be a dataclass: fields marked
    `dataclasses.field(metadata={"static": True})` are meta, the rest data. Rebuilds with
    `nodetype(**fields)`. Returns `nodetype`, so it works as a decorator, bare or as
    `@register_dataclass(data_fields=[...], meta_fields=[...])`.
    """
    if nodetype is None:
        return functools.partial(
            register_dataclass,
            data_fields=data_fields,
            meta_fields=meta_fields,
            drop_fields=drop_fields,
        )
    data_fields, meta_fields = _dataclass_fields(nodetype, data_fields, meta_fields, drop_fields)

    def flatten(x):
        return [getattr(x, n) for n in data_fields], tuple(getattr(x, n) for n in meta_fields)

    def flatten_with_keys(x):
        keyed = [(GetAttrKey(n), getattr(x, n)) for n in data_fields]
        return keyed, tuple(getattr(x, n) for n in meta_fields)

    def unflatten(meta, data):
        return nodetype(**dict(zip(meta_fields, meta)), **dict(zip(data_fields, data)))

    register_pytree_node(nodetype, flatten, unflatten, flatten_with_keys)
    return nodetype


def _dataclass_fields(nodetype, data_fields, meta_fields, drop_fields):
    if (data_fields is None) != (meta_fields is None):
        raise TypeError(
            f"register_dataclass({nodetype.__name__}): pass both data_fields and meta_fields, "
            f"or neither (then they are read from the dataclass fields)."
        )
    if data_fields is None:
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError(
                f"register_dataclass({nodetype.__name__}): not a dataclass, so pass data_fields "
                f"and meta_fields explicitly."
            )
        fields = [f for f in dataclasses.fields(nodetype) if f.name not in drop_fields]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    if overlap := set(data_fields) & set(meta_fields):
        raise ValueError(f"register_dataclass: fields {sorted(overlap)} are both data and meta.")
    if dataclasses.is_dataclass(nodetype):
        _check_init_fields(nodetype, {*data_fields, *meta_fields}, set(drop_fields))
    return data_fields, meta_fields


def _check_init_fields(nodetype, given: set, dropped: set) -> None:
    init_fields = {f.name for f in dataclasses.fields(nodetype) if f.init} - dropped
    if given != init_fields:
        raise ValueError(
            f"register_dataclass({nodetype.__name__}): data_fields and meta_fields must list "
            f"exactly the fields with init=True. Missing: {sorted(init_fields - given)}; "
            f"unexpected: {sorted(given - init_fields)}. Add fields to drop out to drop_fields."
        )


# ---------------------------------------------------------------------------------------------
# Partial


class _HashableCallableShim:
    """Wraps a `functools.partial` so `Partial` does not merge its arguments into its own."""

    def __init__(self, fun):
        self.fun = fun

    def __call__(self, *args, **kw):
        return self.fun(*args, **kw)

    def __hash__(self):
        return hash(self.fun)

    def __eq__(self, other):
        return self.fun == (other.fun if isinstance(other, _HashableCallableShim) else other)

    def __repr__(self):
        return f"_HashableCallableShim({self.fun!r})"


class Partial(functools.partial):
    """A `functools.partial` that is a pytree: its bound args and kwargs are the children, the
    function is static aux data. So `Partial(f, x)` can pass through `jit`/`grad`/`vmap`.

    >>> tree_leaves(Partial(max, 1, key=None))
    [1]
    """

    def __new__(cls, func, *args, **kw):
        # functools.partial would merge a partial `func`'s arguments into ours, changing which
        # values are leaves; hide it behind a shim that has no `func` attribute yet.
        if not isinstance(func, functools.partial):
            return super().__new__(cls, func, *args, **kw)
        original = func
        func = _HashableCallableShim(original)
        out = super().__new__(cls, func, *args, **kw)
        func.func, func.args, func.keywords = original.func, original.args, original.keywords
        return out


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, children: Partial(func, *children[0], **children[1]),
)
