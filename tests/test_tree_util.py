"""Tests for hlodiff.tree_util: flattening, structures, registration, key paths, tree_map & co.

Every test asserts against literals. The differential tests at the end also compare leaves,
leaf/node counts, unflatten results and key paths with `jax.tree_util` where jax is installed
(they check hlodiff first, then `pytest.importorskip("jax")`).
"""

import collections
import copy
import dataclasses
import functools
import importlib.util
import pathlib
import re
import sys

import pytest

try:
    from hlodiff import tree_util
except Exception:  # noqa: BLE001 - hlodiff/__init__.py may be mid-edit; tree_util imports nothing
    _path = pathlib.Path(__file__).resolve().parents[1] / "hlodiff" / "tree_util.py"
    _spec = importlib.util.spec_from_file_location("hlodiff_tree_util", _path)
    tree_util = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(tree_util)

tu = tree_util
Point = collections.namedtuple("Point", "x y")
Empty = collections.namedtuple("Empty", "")


class Pair:
    """Registered with register_pytree_node: children (a, b), aux `tag`."""

    def __init__(self, a, b, tag="t"):
        self.a, self.b, self.tag = a, b, tag

    def __eq__(self, other):
        return type(other) is Pair and (self.a, self.b, self.tag) == (other.a, other.b, other.tag)

    def __repr__(self):
        return f"Pair({self.a!r}, {self.b!r}, {self.tag!r})"


tu.register_pytree_node(Pair, lambda p: ((p.a, p.b), p.tag), lambda tag, ab: Pair(*ab, tag=tag))


@tu.register_pytree_node_class
class Box:
    """Registered with register_pytree_node_class."""

    def __init__(self, value, label):
        self.value, self.label = value, label

    def tree_flatten(self):
        return [self.value], self.label

    @classmethod
    def tree_unflatten(cls, label, children):
        return cls(children[0], label)

    def __eq__(self, other):
        return type(other) is Box and (self.value, self.label) == (other.value, other.label)


@tu.register_dataclass
@dataclasses.dataclass
class Params:
    w: object
    b: object
    name: str = dataclasses.field(default="p", metadata={"static": True})


class Keyed:
    """Registered with register_pytree_with_keys: children keyed by GetAttrKey."""

    def __init__(self, left, right):
        self.left, self.right = left, right

    def __eq__(self, other):
        return type(other) is Keyed and (self.left, self.right) == (other.left, other.right)


tu.register_pytree_with_keys(
    Keyed,
    lambda k: ([(tu.GetAttrKey("left"), k.left), (tu.GetAttrKey("right"), k.right)], None),
    lambda _, children: Keyed(*children),
)


def _dd(**kw):
    return collections.defaultdict(list, kw)


# id, tree, expected leaves, expected repr
ROUND_TRIPS = [
    ("leaf-int", 3, [3], "PyTreeDef(*)"),
    ("leaf-str", "s", ["s"], "PyTreeDef(*)"),
    ("none", None, [], "PyTreeDef(None)"),
    ("empty-tuple", (), [], "PyTreeDef(())"),
    ("empty-list", [], [], "PyTreeDef([])"),
    ("empty-dict", {}, [], "PyTreeDef({})"),
    ("tuple-1", (1,), [1], "PyTreeDef((*,))"),
    ("tuple-2", (1, 2), [1, 2], "PyTreeDef((*, *))"),
    ("list-with-none", [1, None, 2], [1, 2], "PyTreeDef([*, None, *])"),
    ("dict-sorted", {"b": 1, "a": 2}, [2, 1], "PyTreeDef({'a': *, 'b': *})"),
    (
        "nested",
        (1, {"a": 2, "b": [3, None]}),
        [1, 2, 3],
        "PyTreeDef((*, {'a': *, 'b': [*, None]}))",
    ),
    ("namedtuple", Point(1, 2), [1, 2], "PyTreeDef(CustomNode(namedtuple[Point], [*, *]))"),
    ("namedtuple-empty", Empty(), [], "PyTreeDef(CustomNode(namedtuple[Empty], []))"),
    (
        "namedtuple-nested",
        {"p": Point((1, 2), None)},
        [1, 2],
        "PyTreeDef({'p': CustomNode(namedtuple[Point], [(*, *), None])})",
    ),
    (
        "ordereddict",
        collections.OrderedDict(b=1, a=2),
        [1, 2],
        "PyTreeDef(CustomNode(OrderedDict[('b', 'a')], [*, *]))",
    ),
    (
        "defaultdict",
        _dd(b=1, a=2),
        [2, 1],
        "PyTreeDef(CustomNode(defaultdict[(<class 'list'>, ('a', 'b'))], [*, *]))",
    ),
    ("registered", Pair(1, [2, 3]), [1, 2, 3], "PyTreeDef(CustomNode(Pair['t'], [*, [*, *]]))"),
    ("node-class", Box((1, 2), "lbl"), [1, 2], "PyTreeDef(CustomNode(Box['lbl'], [(*, *)]))"),
    (
        "dataclass",
        Params(w=1, b=(2, 3)),
        [1, 2, 3],
        "PyTreeDef(CustomNode(Params[('p',)], [*, (*, *)]))",
    ),
    ("with-keys", Keyed(1, None), [1], "PyTreeDef(CustomNode(Keyed[None], [*, None]))"),
    ("deep", [[[[[1]]]], ((2,),)], [1, 2], "PyTreeDef([[[[[*]]]], ((*,),)])"),
]
RT_IDS = [case[0] for case in ROUND_TRIPS]


def assert_same_tree(a, b):
    """Equal values and identical container types all the way down."""
    assert type(a) is type(b), (a, b)
    assert tu.tree_structure(a) == tu.tree_structure(b)
    assert tu.tree_leaves(a) == tu.tree_leaves(b)
    if isinstance(a, collections.defaultdict):
        assert a.default_factory is b.default_factory
    if isinstance(a, collections.OrderedDict):
        assert list(a) == list(b)  # key order is structure
    if isinstance(a, dict):
        assert set(a) == set(b)
        pairs = [(a[k], b[k]) for k in a]
    else:
        pairs = zip(a, b) if isinstance(a, (list, tuple)) else []
    for x, y in pairs:
        assert_same_tree(x, y)


# ---------------------------------------------------------------------------------------------
# Round trips and structure


@pytest.mark.parametrize("name,tree,leaves,shown", ROUND_TRIPS, ids=RT_IDS)
def test_flatten_leaves_and_repr(name, tree, leaves, shown):
    got_leaves, treedef = tu.tree_flatten(tree)
    assert got_leaves == leaves
    assert repr(treedef) == shown
    assert treedef.num_leaves == len(leaves)
    assert tu.tree_leaves(tree) == leaves
    assert tu.tree_structure(tree) == treedef


@pytest.mark.parametrize("name,tree,leaves,shown", ROUND_TRIPS, ids=RT_IDS)
def test_round_trip_rebuilds_same_types(name, tree, leaves, shown):
    got_leaves, treedef = tu.tree_flatten(tree)
    rebuilt = tu.tree_unflatten(treedef, got_leaves)
    assert_same_tree(rebuilt, tree)
    assert rebuilt == tree


@pytest.mark.parametrize("name,tree,leaves,shown", ROUND_TRIPS, ids=RT_IDS)
def test_unflatten_puts_new_leaves_in_order(name, tree, leaves, shown):
    treedef = tu.tree_structure(tree)
    new = [f"leaf{i}" for i in range(treedef.num_leaves)]
    rebuilt = treedef.unflatten(iter(new))  # any iterable
    assert tu.tree_leaves(rebuilt) == new
    assert tu.tree_structure(rebuilt) == treedef


@pytest.mark.parametrize(
    "tree,num_nodes",
    [(1, 1), (None, 1), ((), 1), ((1, 2), 3), (((1, 2), None), 5), ({"a": [1, None]}, 4)],
    ids=["leaf", "none", "empty-tuple", "pair", "pair-and-none", "dict-of-list"],
)
def test_num_nodes_counts_leaves_and_nones(tree, num_nodes):
    assert tu.tree_structure(tree).num_nodes == num_nodes


def test_treedef_children_node_data_and_is_leaf():
    treedef = tu.tree_structure([(1, 2), 3, {"a": 4}])
    assert treedef.children() == [tu.tree_structure(x) for x in [(1, 2), 3, {"a": 4}]]
    assert tu.treedef_children(treedef) == treedef.children()
    assert treedef.node_data() == (list, None)
    assert tu.tree_structure({"b": 1, "a": 2}).node_data() == (dict, ["a", "b"])
    assert tu.tree_structure(Point(1, 2)).node_data() == (Point, None)
    assert tu.tree_structure(Pair(1, 2, "x")).node_data() == (Pair, "x")
    assert tu.tree_structure(7).node_data() is None
    assert tu.tree_structure(7).children() == []
    assert [tu.treedef_is_leaf(tu.tree_structure(t)) for t in (1, None, (), (1,))] == [
        True,
        True,
        True,
        False,
    ]


def test_treedef_tuple_and_compose():
    x, y = tu.tree_structure([1, 2]), tu.tree_structure({"a": 4, "b": None})
    both = tu.treedef_tuple([x, y])
    assert both == tu.tree_structure(([1, 2], {"a": 4, "b": None}))
    assert both.num_leaves == 3
    composed = tu.tree_structure((1, 2)).compose(tu.tree_structure([1, None]))
    assert repr(composed) == "PyTreeDef(([*, None], [*, None]))"
    assert composed.num_leaves == 2


def test_treedef_is_hashable_immutable_and_comparable():
    a, b = tu.tree_structure((1, {"k": 2})), tu.tree_structure(("x", {"k": "y"}))
    assert a == b and hash(a) == hash(b)
    assert {a: "cached"}[b] == "cached"
    assert a != tu.tree_structure((1, {"j": 2}))
    assert a != tu.tree_structure([1, {"k": 2}])
    assert a != "PyTreeDef((*, {'k': *}))"
    with pytest.raises(AttributeError, match="immutable"):
        a.num_leaves = 5
    with pytest.raises(TypeError, match="tree_structure"):
        tu.PyTreeDef()
    assert copy.copy(a) is a and copy.deepcopy(a) is a


def test_unhashable_aux_data_says_what_to_fix():
    class ListAux:
        pass

    tu.register_pytree_node(ListAux, lambda x: ((), [1, 2]), lambda aux, _: ListAux())
    treedef = tu.tree_structure(ListAux())
    assert treedef == tu.tree_structure(ListAux())  # equality works without hashing
    with pytest.raises(TypeError, match="hashable aux data"):
        hash(treedef)


@pytest.mark.parametrize(
    "leaves,expected,got",
    [([1], 2, 1), ([1, 2, 3], 2, 3), ([], 2, 0)],
    ids=["too-few", "too-many", "none"],
)
def test_unflatten_wrong_count_raises(leaves, expected, got):
    treedef = tu.tree_structure((0, 0))
    with pytest.raises(ValueError, match=f"expected {expected} leaves .* got {got}"):
        tu.tree_unflatten(treedef, leaves)


def test_is_leaf_stops_flattening():
    tree = [1, (2, 3), {"a": (4,)}]
    leaves = tu.tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [1, (2, 3), (4,)]
    treedef = tu.tree_structure(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert repr(treedef) == "PyTreeDef([*, *, {'a': *}])"
    assert tu.tree_leaves(tree, is_leaf=lambda x: x is tree) == [tree]


def test_flatten_cache_stays_bounded_with_many_leaf_types():
    types = [type(f"T{i}", (), {}) for i in range(tu._CACHE_LIMIT + 10)]
    leaves = tu.tree_leaves([t() for t in types])
    assert len(leaves) == len(types)
    assert len(tu._FLATTENERS) <= tu._CACHE_LIMIT
    assert tu.tree_leaves((1, [2])) == [1, 2]  # builtins still work after a reset


# ---------------------------------------------------------------------------------------------
# None, namedtuples, dicts


def test_none_is_an_empty_node_not_a_leaf():
    assert tu.tree_leaves([None, 1, None]) == [1]
    assert tu.tree_structure(None).num_leaves == 0
    assert tu.tree_map(lambda x: x * 10, (None, 1)) == (None, 10)
    assert tu.tree_map(lambda x: x, None) is None
    assert tu.tree_leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]
    assert not tu.all_leaves([None])


def test_none_mismatch_hints_at_is_leaf():
    with pytest.raises(ValueError, match=r"(?s)key path \[0\]: expected None.*is_leaf=lambda"):
        tu.tree_map(lambda a, b: a, (None, 1), (2, 3))


def test_namedtuple_type_is_kept_and_differs_from_tuple():
    rebuilt = tu.tree_map(lambda x: x + 1, Point(1, 2))
    assert type(rebuilt) is Point and rebuilt == Point(2, 3)
    assert tu.tree_structure(Point(1, 2)) != tu.tree_structure((1, 2))
    other = collections.namedtuple("Point", "x y")  # same name, different type
    assert tu.tree_structure(other(1, 2)) != tu.tree_structure(Point(1, 2))


def test_tuple_subclass_without_fields_is_a_leaf():
    class MyTuple(tuple):
        pass

    value = MyTuple((1, 2))
    assert tu.tree_leaves([value]) == [value]


def test_dict_children_follow_sorted_keys():
    tree = {"c": 3, "a": 1, "b": 2}
    assert tu.tree_leaves(tree) == [1, 2, 3]
    rebuilt = tu.tree_map(lambda x: x, tree)
    assert list(rebuilt) == ["a", "b", "c"]
    assert tu.tree_structure({1: "x", 0: "y"}) == tu.tree_structure({0: 1, 1: 2})


def test_unsortable_dict_keys_raise_with_advice():
    with pytest.raises(ValueError, match="OrderedDict"):
        tu.tree_flatten({1: 1, "a": 2})
    assert tu.tree_leaves(collections.OrderedDict([(1, "x"), ("a", "y")])) == ["x", "y"]


def test_ordered_dict_keeps_insertion_order_in_structure():
    ab = collections.OrderedDict(a=1, b=2)
    ba = collections.OrderedDict(b=2, a=1)
    assert tu.tree_leaves(ba) == [2, 1]
    assert tu.tree_structure(ab) != tu.tree_structure(ba)
    assert tu.tree_structure(ab) != tu.tree_structure({"a": 1, "b": 2})
    assert list(tu.tree_map(lambda x: x, ba)) == ["b", "a"]


def test_defaultdict_keeps_default_factory():
    rebuilt = tu.tree_map(lambda x: x * 2, _dd(b=1, a=2))
    assert isinstance(rebuilt, collections.defaultdict)
    assert rebuilt.default_factory is list and rebuilt == {"a": 4, "b": 2}
    assert tu.tree_structure(_dd(a=1)) != tu.tree_structure(collections.defaultdict(int, a=1))


# ---------------------------------------------------------------------------------------------
# Registration


def test_registered_aux_data_is_part_of_the_structure():
    assert tu.tree_structure(Pair(1, 2, "x")) == tu.tree_structure(Pair(3, 4, "x"))
    assert tu.tree_structure(Pair(1, 2, "x")) != tu.tree_structure(Pair(1, 2, "y"))
    assert tu.tree_map(lambda v: v * 2, Pair(1, (2,), "x")) == Pair(2, (4,), "x")


@pytest.mark.parametrize(
    "nodetype",
    [tuple, list, dict, type(None), collections.OrderedDict, Pair, Params, tu.Partial],
    ids=lambda t: t.__name__,
)
def test_registering_a_type_twice_raises(nodetype):
    with pytest.raises(ValueError, match="already registered"):
        tu.register_pytree_node(nodetype, lambda x: ((), None), lambda aux, cs: None)


def test_registering_after_a_type_was_seen_as_leaf():
    class Late:
        def __init__(self, v):
            self.v = v

    assert tu.tree_leaves([Late(1)])[0].v == 1  # cached as a leaf type
    tu.register_pytree_node(Late, lambda x: ((x.v,), None), lambda _, cs: Late(*cs))
    assert tu.tree_leaves([Late(1)]) == [1]


def test_register_static_has_no_leaves():
    @tu.register_static
    class Mode(str):
        pass

    leaves, treedef = tu.tree_flatten((1, Mode("train")))
    assert leaves == [1]
    assert treedef != tu.tree_structure((1, Mode("eval")))
    assert treedef.unflatten([5]) == (5, "train")


def test_register_pytree_with_keys_class():
    @tu.register_pytree_with_keys_class
    class Named:
        def __init__(self, v):
            self.v = v

        def tree_flatten_with_keys(self):
            return [(tu.GetAttrKey("v"), self.v)], None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    assert [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(Named([1]))] == [".v[0]"]
    assert tu.tree_map(lambda x: x + 1, Named(1)).v == 2


def test_register_dataclass_infers_static_fields():
    p = Params(w=1.0, b=[2.0], name="layer")
    leaves, treedef = tu.tree_flatten(p)
    assert leaves == [1.0, 2.0]
    assert treedef.node_data() == (Params, ("layer",))
    assert treedef != tu.tree_structure(Params(w=1.0, b=[2.0], name="other"))
    assert tu.tree_map(lambda x: x * 2, p) == Params(w=2.0, b=[4.0], name="layer")


def test_register_dataclass_explicit_fields_as_decorator():
    @tu.register_dataclass(data_fields=["x"], meta_fields=["n"])
    @dataclasses.dataclass
    class Explicit:
        x: object
        n: int

    assert tu.tree_leaves(Explicit(x=(1, 2), n=3)) == [1, 2]

    class Plain:  # not a dataclass: fields must be given
        def __init__(self, x, n):
            self.x, self.n = x, n

    tu.register_dataclass(Plain, data_fields=["x"], meta_fields=["n"])
    rebuilt = tu.tree_map(lambda v: v + 1, Plain(1, "m"))
    assert (rebuilt.x, rebuilt.n) == (2, "m")


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"data_fields": ["x"]}, TypeError, "both"),
        ({"data_fields": ["x"], "meta_fields": []}, ValueError, "Missing: \\['y'\\]"),
        ({"data_fields": ["x", "y"], "meta_fields": ["y"]}, ValueError, "both data and meta"),
    ],
    ids=["one-list-only", "missing-field", "overlap"],
)
def test_register_dataclass_errors(kwargs, error, match):
    @dataclasses.dataclass
    class Two:
        x: int
        y: int

    with pytest.raises(error, match=match):
        tu.register_dataclass(Two, **kwargs)


def test_register_dataclass_requires_fields_for_plain_class():
    class NotDataclass:
        pass

    with pytest.raises(TypeError, match="not a dataclass"):
        tu.register_dataclass(NotDataclass)


# ---------------------------------------------------------------------------------------------
# Partial


def test_partial_leaves_are_bound_args():
    p = tu.Partial(max, 1, key=None)
    leaves, treedef = tu.tree_flatten(p)
    assert leaves == [1]
    assert (
        repr(treedef)
        == "PyTreeDef(CustomNode(Partial[<built-in function max>], [(*,), {'key': None}]))"
    )
    rebuilt = treedef.unflatten([5])
    assert isinstance(rebuilt, tu.Partial) and rebuilt(3) == 5


def test_partials_of_same_function_are_structurally_equal():
    def add(a, b):
        return a + b

    assert tu.tree_structure(tu.Partial(add, 1)) == tu.tree_structure(tu.Partial(add, 2))
    assert tu.tree_structure(tu.Partial(add, 1)) != tu.tree_structure(tu.Partial(max, 1))
    doubled = tu.tree_map(lambda x: x * 2, tu.Partial(add, 3))
    assert doubled(1) == 7


def test_partial_does_not_merge_a_wrapped_functools_partial():
    inner = functools.partial(pow, 2)
    p = tu.Partial(inner, 5)
    assert tu.tree_leaves(p) == [5]  # inner's 2 is part of the static function
    assert p() == 32
    assert tu.tree_structure(p) == tu.tree_structure(tu.Partial(inner, 7))


# ---------------------------------------------------------------------------------------------
# tree_map and matching errors


def test_tree_map_multiple_trees():
    out = tu.tree_map(lambda a, b, c: a + b + c, (1, [2]), (10, [20]), (100, [200]))
    assert out == (111, [222])


def test_tree_map_first_tree_is_a_prefix_of_the_rest():
    out = tu.tree_map(lambda a, b: (a, b), (1, 2), ((3, 4), {"k": 5}))
    assert out == ((1, (3, 4)), (2, {"k": 5}))


def test_tree_map_is_leaf_applies_to_first_tree():
    out = tu.tree_map(lambda a, b: a is None, [None, 1], [2, 3], is_leaf=lambda x: x is None)
    assert out == [True, False]


MISMATCHES = [
    ("arity", (1, 2), (1, 2, 3), "(the root)", "expected a tuple of length 2, got a tuple of length 3"),
    ("type", (1, 2), [1, 2], "(the root)", "expected a tuple of length 2, got a list of length 2"),
    ("dict-keys", {"a": 1}, {"b": 1}, "(the root)", "expected dict keys \\['a'\\], got keys \\['b'\\]"),
    ("leaf-for-node", {"a": (1, 2)}, {"a": 3}, "\\['a'\\]", "got a leaf of type int"),
    ("namedtuple-vs-tuple", [Point(1, 2)], [(1, 2)], "\\[0\\]", "expected a namedtuple Point"),
    ("custom-aux", Pair(1, 2, "x"), Pair(1, 2, "y"), "(the root)", "aux data 'x'"),
    ("deep-path", {"a": [0, Point(1, (2,))]}, {"a": [0, Point(1, [2])]}, "\\['a'\\]\\[1\\].y", "tuple"),
]  # fmt: skip


@pytest.mark.parametrize("name,first,other,path,detail", MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_tree_map_mismatch_names_path_and_both_structures(name, first, other, path, detail):
    with pytest.raises(ValueError) as info:
        tu.tree_map(lambda *xs: xs, first, other)
    message = str(info.value)
    assert message.startswith("tree_map: tree structures do not match at key path ")
    assert f"key path {path.replace(chr(92), '')}:" in message
    assert re.search(detail, message), message
    assert f"first tree structure: {tu.tree_structure(first)}" in message
    assert f"rest[0] structure: {tu.tree_structure(other)}" in message


@pytest.mark.parametrize("name,first,other,path,detail", MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_flatten_up_to_mismatch_raises_value_error(name, first, other, path, detail):
    with pytest.raises(ValueError, match="(?s)flatten_up_to: .*expected structure"):
        tu.tree_structure(first).flatten_up_to(other)


def test_flatten_up_to_returns_subtrees():
    treedef = tu.tree_structure([1, (2, 3)])
    assert treedef.flatten_up_to([1, ((4, 5), 3)]) == [1, (4, 5), 3]
    assert tu.tree_structure(7).flatten_up_to({"a": 1}) == [{"a": 1}]
    assert tu.tree_structure(None).flatten_up_to(None) == []


def test_tree_map_with_path_passes_key_paths():
    out = tu.tree_map_with_path(lambda p, x, y: (tu.keystr(p), x + y), {"a": [1]}, {"a": [2]})
    assert out == {"a": [("['a'][0]", 3)]}


# ---------------------------------------------------------------------------------------------
# Key paths


def test_key_paths_for_every_node_kind():
    tree = {
        "seq": [1, (2,)],
        "nt": Point(3, 4),
        "od": collections.OrderedDict(z=5),
        "dd": _dd(k=6),
        "reg": Pair(7, 8),
        "dc": Params(w=9, b=10),
        "keyed": Keyed(11, 12),
        "none": None,
    }
    paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)]
    assert paths == [
        "['dc'].w",
        "['dc'].b",
        "['dd']['k']",
        "['keyed'].left",
        "['keyed'].right",
        "['nt'].x",
        "['nt'].y",
        "['od']['z']",
        "['reg'][<flat index 0>]",
        "['reg'][<flat index 1>]",
        "['seq'][0]",
        "['seq'][1][0]",
    ]
    pairs, treedef = tu.tree_flatten_with_path(tree)
    assert treedef == tu.tree_structure(tree)
    assert [leaf for _, leaf in pairs] == tu.tree_leaves(tree)


def test_key_entries_and_keystr():
    path = (tu.DictKey("a"), tu.SequenceKey(0), tu.GetAttrKey("x"), tu.FlattenedIndexKey(1))
    assert tu.keystr(path) == "['a'][0].x[<flat index 1>]"
    assert tu.keystr(path, simple=True, separator="/") == "a/0/x/1"
    assert repr(path[0]) == "DictKey(key='a')" and repr(path[1]) == "SequenceKey(idx=0)"
    assert path[1] == tu.SequenceKey(0) and hash(path[1]) == hash(tu.SequenceKey(0))
    assert (path[0].key, path[1].idx, path[2].name, path[3].key) == ("a", 0, "x", 1)


def test_flatten_with_path_is_leaf_takes_path():
    tree = {"a": (1, 2), "b": (3, 4)}
    pairs = tu.tree_leaves_with_path(
        tree, is_leaf=lambda p, x: p == (tu.DictKey("a"),), is_leaf_takes_path=True
    )
    assert [leaf for _, leaf in pairs] == [(1, 2), 3, 4]
    pairs = tu.tree_leaves_with_path(tree, is_leaf=lambda x: x == (3, 4))
    assert [leaf for _, leaf in pairs] == [1, 2, (3, 4)]


# ---------------------------------------------------------------------------------------------
# broadcast_prefix, tree_transpose, reductions


@pytest.mark.parametrize(
    "prefix,full,expected",
    [
        (0, (1, [2, 3]), [0, 0, 0]),
        (None, {"a": 1, "b": 2}, [None, None]),
        ((0, None), ([1, 2], {"a": 3}), [0, 0, None]),
        ((0, {"a": 1, "b": None}), (5, {"a": (6, 7), "b": 8}), [0, 1, 1, None]),
        ((1, 2), (None, 3), [2]),
        ([], [], []),
    ],
    ids=["scalar", "none-scalar", "none-child", "nested", "full-none-has-no-leaves", "empty"],
)
def test_broadcast_prefix(prefix, full, expected):
    assert tu.broadcast_prefix(prefix, full) == expected


def test_broadcast_prefix_is_leaf_applies_to_prefix():
    out = tu.broadcast_prefix(([0, 1],), ((5, 6),), is_leaf=lambda x: isinstance(x, list))
    assert out == [[0, 1], [0, 1]]


@pytest.mark.parametrize(
    "prefix,full,path",
    [((0, 0), (1, 2, 3), "(the root)"), ((0, [0, 0]), (1, [2]), "[1]"), ({"a": 0}, {"b": 1}, "(the root)")],
    ids=["arity", "nested-arity", "keys"],
)  # fmt: skip
def test_broadcast_prefix_mismatch(prefix, full, path):
    with pytest.raises(ValueError) as info:
        tu.broadcast_prefix(prefix, full)
    message = str(info.value)
    assert f"broadcast_prefix: tree structures do not match at key path {path}:" in message
    assert f"prefix structure: {tu.tree_structure(prefix)}" in message
    assert f"full structure: {tu.tree_structure(full)}" in message


def test_tree_transpose():
    outer, inner = tu.tree_structure([0, 0, 0]), tu.tree_structure({"a": 0, "b": 0})
    tree = [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "b": 6}]
    expected = {"a": [1, 3, 5], "b": [2, 4, 6]}
    assert tu.tree_transpose(outer, inner, tree) == expected
    assert tu.tree_transpose(outer, None, tree) == expected
    assert tu.tree_transpose(tu.tree_structure([]), tu.tree_structure((0, 0)), []) == ([], [])


def test_tree_transpose_mismatch():
    outer, inner = tu.tree_structure([0, 0]), tu.tree_structure((0, 0))
    with pytest.raises(ValueError, match="(?s)tree_transpose: .*key path \\(the root\\).*inner"):
        tu.tree_transpose(outer, inner, [(1, 2), [3, 4]])
    with pytest.raises(ValueError, match="(?s)tree_transpose: .*outer_treedef structure"):
        tu.tree_transpose(outer, inner, [(1, 2)])


def test_tree_reduce_all_and_all_leaves():
    tree = {"a": [1, 2], "b": (3,)}
    assert tu.tree_reduce(lambda a, b: a + b, tree) == 6
    assert tu.tree_reduce(lambda a, b: a + b, tree, 10) == 16
    assert tu.tree_reduce(lambda a, b: a + b, [], initializer=0) == 0
    assert tu.tree_all([True, (1, "x")]) and not tu.tree_all([True, (0,)])
    assert tu.tree_all(None)  # no leaves
    assert tu.all_leaves(tu.tree_leaves(tree)) and not tu.all_leaves([tree])
    assert tu.all_leaves([(1, 2)], is_leaf=lambda x: isinstance(x, tuple))


def test_build_tree():
    treedef = tu.tree_structure({"a": 0, "b": (0, 0)})
    assert tu.build_tree(treedef, [1, [2, 3]]) == {"a": 1, "b": (2, 3)}
    with pytest.raises(ValueError, match="2 children but got 3"):
        tu.build_tree(treedef, [1, [2, 3, 4]])


# ---------------------------------------------------------------------------------------------
# Differential tests against jax.tree_util (hlodiff checks first, then jax if installed)

DIFF_CASES = [
    c for c in ROUND_TRIPS if c[0] not in ("registered", "node-class", "dataclass", "with-keys")
]


def _jax_tree_util():
    pytest.importorskip("jax")
    import jax.tree_util as jtu

    return jtu


@pytest.mark.parametrize("name,tree,leaves,shown", DIFF_CASES, ids=[c[0] for c in DIFF_CASES])
def test_matches_jax_flatten_and_unflatten(name, tree, leaves, shown):
    got_leaves, treedef = tu.tree_flatten(tree)
    assert got_leaves == leaves
    jtu = _jax_tree_util()
    j_leaves, j_treedef = jtu.tree_flatten(tree)
    assert got_leaves == j_leaves
    assert treedef.num_leaves == j_treedef.num_leaves
    assert treedef.num_nodes == j_treedef.num_nodes
    new = [("new", i) for i in range(treedef.num_leaves)]
    mine, theirs = treedef.unflatten(new), j_treedef.unflatten(new)
    assert_same_tree(mine, theirs)
    assert [c.num_leaves for c in treedef.children()] == [
        c.num_leaves for c in j_treedef.children()
    ]
    mine_paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)]
    assert mine_paths == [jtu.keystr(p) for p, _ in jtu.tree_leaves_with_path(tree)]


TREE_MAP_CASES = [
    ("same", (1, [2, 3]), (10, [20, 30])),
    ("prefix", (1, 2), ((3, 4), {"k": 5})),
    ("none-both", (None, 1), (None, 2)),
    ("arity", (1, 2), (1, 2, 3)),
    ("type", (1, 2), [1, 2]),
    ("keys", {"a": 1}, {"b": 1}),
    ("none-vs-leaf", (None, 1), (2, 3)),
    ("namedtuple-vs-tuple", Point(1, 2), (1, 2)),
]


@pytest.mark.parametrize("name,a,b", TREE_MAP_CASES, ids=[c[0] for c in TREE_MAP_CASES])
def test_matches_jax_tree_map_two_trees(name, a, b):
    def run(tree_map):
        try:
            return "ok", tree_map(lambda x, y: (x, y), a, b)
        except ValueError:
            return "ValueError", None

    mine = run(tu.tree_map)
    assert mine[0] in ("ok", "ValueError")
    jtu = _jax_tree_util()
    theirs = run(jtu.tree_map)
    assert mine[0] == theirs[0]
    if mine[0] == "ok":
        assert_same_tree(mine[1], theirs[1])


@pytest.mark.parametrize(
    "prefix,full",
    [(0, (1, [2, 3])), ((0, 1), ([1, 2], {"a": 3})), ({"a": 0, "b": 1}, {"a": (1, 2), "b": 3})],
    ids=["scalar", "tuple", "dict"],
)
def test_matches_jax_broadcast_prefix(prefix, full):
    mine = tu.broadcast_prefix(prefix, full)
    assert len(mine) == len(tu.tree_leaves(full))
    pytest.importorskip("jax")
    from jax._src.tree_util import broadcast_prefix as jax_broadcast_prefix

    assert mine == jax_broadcast_prefix(prefix, full)


def test_matches_jax_tree_transpose():
    outer, inner = tu.tree_structure([0, 0]), tu.tree_structure((0, {"a": 0}))
    tree = [(1, {"a": 2}), (3, {"a": 4})]
    mine = tu.tree_transpose(outer, inner, tree)
    assert mine == ([1, 3], {"a": [2, 4]})
    jtu = _jax_tree_util()
    theirs = jtu.tree_transpose(jtu.tree_structure([0, 0]), jtu.tree_structure((0, {"a": 0})), tree)
    assert mine == theirs


def test_matches_jax_dataclass_and_static_fields():
    p = Params(w=(1, 2), b=3, name="n")
    mine = tu.tree_leaves(p)
    assert mine == [1, 2, 3]
    jtu = _jax_tree_util()

    @dataclasses.dataclass
    class JaxParams:  # a twin registered with jax, since registries are separate
        w: object
        b: object
        name: str = dataclasses.field(default="p", metadata={"static": True})

    jtu.register_dataclass(JaxParams)
    theirs = jtu.tree_leaves(JaxParams(w=(1, 2), b=3, name="n"))
    assert mine == theirs
    mine_paths = [tu.keystr(k) for k, _ in tu.tree_leaves_with_path(p)]
    theirs_paths = [jtu.keystr(k) for k, _ in jtu.tree_leaves_with_path(JaxParams((1, 2), 3))]
    assert mine_paths == theirs_paths
