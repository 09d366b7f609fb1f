"""YAML incident files read safely: bounded nesting and alias expansion, no duplicate keys,
times and numbers as YAML 1.2 reads them.

PyYAML's safe loader follows YAML 1.1: ``10:25`` is the base-60 number 625 and
``2024-13-01`` an exception raised while loading. Here a time is a string (the
incident model reads and checks it, with the same messages as in JSON), there
are no base-60 numbers, a mapping may not name a key twice, nesting stops at
:data:`MAX_DEPTH` and aliases may add at most :data:`MAX_ALIASED` values: a
few hundred bytes of nested aliases cannot take seconds or gigabytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

MAX_DEPTH = 32  # an incident file needs 5 levels; this leaves room and stays far from recursion
MAX_ALIASED = 10_000  # values that aliases may add beyond those written out

Path_ = tuple[str | int, ...]

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_DIGITS = list("-+0123456789")


@dataclass
class Problem(Exception):
    """What is wrong with a YAML document, and where (1-based line)."""

    message: str
    line: int | None = None
    field: str | None = None


class Twice(Problem):
    """A mapping names a key twice (PyYAML, like json.loads, would keep the last)."""


class TooDeep(Problem):
    """Nested deeper than :data:`MAX_DEPTH`."""


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it


class _Loader(_Base):
    """The safe loader with YAML 1.2's plain scalars: no timestamps, no base-60 numbers."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_TIMESTAMP, _INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


_Loader.add_implicit_resolver(
    _INT,
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    _DIGITS,
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    [*_DIGITS, "."],
)


# An explicit !!timestamp is text too: the model reads times, with its messages.
_Loader.add_constructor(_TIMESTAMP, yaml.SafeLoader.construct_yaml_str)


@dataclass
class _Open:
    """A collection being read: its anchor, the values in it so far (aliases expanded), and
    where the reader is in it (the children read, and a mapping's current key)."""

    anchor: str | None
    mapping: bool
    size: int = 1
    children: int = 0
    key: str = "?"

    def at(self) -> str | int:
        """The key or index of the child being read."""
        return self.key if self.mapping else self.children


def _check_events(text: str) -> None:
    """Depth and alias expansion from the event stream, before any tree is built (the
    composer recurses, and a tree of aliases is small until something walks it); a
    refusal names the field it is in."""
    open_: list[_Open] = []
    sizes: dict[str, int] = {}

    def field() -> str | None:
        return _field(tuple(o.at() for o in open_)) or None

    def done(size: int, value: str | None = None) -> None:
        """A child of the innermost collection was read (a key too, in a mapping)."""
        if not open_:
            return
        parent = open_[-1]
        parent.size += size
        if parent.mapping and parent.children % 2 == 0:
            parent.key = value if value is not None else "?"
        parent.children += 1

    try:
        _walk_events(text, open_, sizes, field, done)
    except TooDeep as exc:  # libyaml's own limit, met while it reads ahead: where we are
        exc.field = exc.field or field()
        raise


def _walk_events(
    text: str,
    open_: list[_Open],
    sizes: dict[str, int],
    field: Callable[[], str | None],
    done: Callable[..., None],
) -> None:
    added = 0
    with _reading(text, "YAML syntax error: ") as loader:
        while (event := loader.get_event()) is not None:
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.CollectionStartEvent):
                if len(open_) >= MAX_DEPTH:
                    raise TooDeep(f"nested more than {MAX_DEPTH} levels deep", line, field())
                open_.append(_Open(event.anchor, isinstance(event, yaml.MappingStartEvent)))
            elif isinstance(event, yaml.CollectionEndEvent):
                closed = open_.pop()
                if closed.anchor is not None:
                    sizes[closed.anchor] = closed.size
                done(closed.size)
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None:
                    sizes[event.anchor] = 1
                done(1, event.value)
            elif isinstance(event, yaml.AliasEvent):
                if any(o.anchor == event.anchor for o in open_):
                    raise Problem("an alias refers to the value it is part of", line, field())
                size = sizes.get(event.anchor or "", 1)  # an unknown one: the composer's error
                added += size - 1
                if added > MAX_ALIASED:
                    raise Problem(
                        f"aliases expand to more than {MAX_ALIASED} values; write the values out",
                        line,
                        field(),
                    )
                done(size)


@contextmanager
def _reading(text: str, prefix: str) -> Iterator[Any]:
    """A loader over ``text``; PyYAML's errors become :class:`Problem` with their line."""
    loader = _Loader(text)
    try:
        yield loader
    except yaml.MarkedYAMLError as exc:
        raise _syntax(exc, prefix) from None
    except yaml.YAMLError as exc:
        raise Problem(f"YAML error: {exc}") from None
    finally:
        loader.dispose()


def _syntax(exc: yaml.MarkedYAMLError, prefix: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    if exc.problem == "exceeded maximum nesting depth":  # libyaml's own limit, met first
        return TooDeep(f"nested more than {MAX_DEPTH} levels deep", line)
    return Problem(prefix + (exc.problem or "syntax error"), line)


def load(text: str) -> tuple[Any, dict[Path_, int]]:
    """The document and the line of every key and item; :class:`Problem` if it is refused."""
    _check_events(text)
    with _reading(text, "YAML error: ") as loader:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines = _lines(node)
        try:
            return _build(node, loader, {}), lines
        except yaml.constructor.ConstructorError as exc:  # a tag the safe loader has no use for
            line = exc.problem_mark.line + 1 if exc.problem_mark else None
            raise Problem(
                f"the tag {_short_tag(exc.problem or '')} is not allowed: write plain values "
                "(text, numbers, lists, mappings)",
                line,
                _field(min((p for p, n in lines.items() if n == line), key=len, default=()))
                or None,
            ) from None
        except (ValueError, TypeError, OverflowError):  # an explicit tag's value
            node_, path = _unfit(node)
            raise Problem(
                f"{node_.value!r} does not fit its tag {_short_tag(repr(node_.tag))}: "
                "write the value without a tag"
                if node_ is not None
                else "YAML error: a value with an explicit tag (like !!int) does not fit its tag",
                node_.start_mark.line + 1 if node_ is not None else None,
                _field(path) or None,
            ) from None


_STR, _NULL, _BOOL = (f"tag:yaml.org,2002:{t}" for t in ("str", "null", "bool"))
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_PLAIN_KEYS = frozenset((_STR, _NULL, _BOOL))


def _build(node: yaml.Node, loader: Any, built: dict[int, Any]) -> Any:
    """The document's value, as PyYAML's safe constructor builds it but without its
    per-node Python machinery: strings, nulls and booleans, lists and mappings whose keys
    are such scalars (an incident file is nothing else) are built here; anything else (an
    explicit tag, a merge key ``<<``) by the loader's constructor. An alias is the value
    its anchor built, as there. Nesting is bounded (:func:`_check_events`)."""
    known = built.get(id(node))
    if known is not None:
        return known
    tag = node.tag
    value: Any
    if isinstance(node, yaml.ScalarNode) and tag in _PLAIN_KEYS:
        if tag == _STR:
            return node.value
        if tag == _NULL:
            return None
        return loader.bool_values[node.value.lower()]
    if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
        value = built[id(node)] = []
        value.extend(_build(item, loader, built) for item in node.value)
        return value
    if (
        isinstance(node, yaml.MappingNode)
        and tag == _MAP
        and all(isinstance(k, yaml.ScalarNode) and k.tag in _PLAIN_KEYS for k, _ in node.value)
    ):
        value = built[id(node)] = {}
        for key, item in node.value:
            value[_build(key, loader, built)] = _build(item, loader, built)
        return value
    value = built[id(node)] = loader.construct_object(node, deep=True)
    return value


def lines_of(text: str) -> dict[Path_, int]:
    """Only the lines (JSON is YAML enough for that); empty if the text is not readable YAML.
    A key written twice is still :class:`Twice`, nesting too deep :class:`TooDeep`."""
    try:
        _check_events(text)
        with _reading(text, "YAML error: ") as loader:
            node = loader.get_single_node()
        return _lines(node) if node is not None else {}
    except (Twice, TooDeep):
        raise
    except Problem:
        return {}


def _lines(root: yaml.Node) -> dict[Path_, int]:
    """Lines of keys and items, each node visited once (an alias is not followed again);
    a key written twice in one mapping is a :class:`Problem`."""
    lines: dict[Path_, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    ident = (key.tag, key.value)
                    if ident in first:
                        raise Twice(
                            f"{key.value!r} is written twice in this mapping "
                            f"(first at line {first[ident]}); keep one",
                            line,
                            _field((*path, str(key.value))),
                        )
                    first[ident] = line
                child = (*path, str(key.value))
                lines.setdefault(child, line)
                stack.append((value, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                lines.setdefault(child, item.start_mark.line + 1)
                stack.append((item, child))
    return lines


def _unfit(root: yaml.Node) -> tuple[Any, Path_]:
    """The first scalar whose explicit tag its value does not fit (``!!int abc``), and its path."""
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    seen: set[int] = set()
    constructor = _Loader("")
    try:
        while stack:
            node, path = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.ScalarNode):
                try:
                    constructor.construct_object(node)
                except (ValueError, TypeError, OverflowError):
                    return node, path
            elif isinstance(node, yaml.MappingNode):
                stack.extend((v, (*path, str(k.value))) for k, v in reversed(node.value))
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((v, (*path, i)) for i, v in reversed(list(enumerate(node.value))))
        return None, ()
    finally:
        constructor.dispose()


def _short_tag(problem: str) -> str:
    """The tag named in PyYAML's "could not determine a constructor for the tag '...'"."""
    found = re.search(r"'([^']*)'", problem)
    tag = found.group(1) if found else "?"
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:") else tag


def _field(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
