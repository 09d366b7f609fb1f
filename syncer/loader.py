"""Load incident files (YAML, TOML, JSON: one schema) with errors that point at file, line and field."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from syncer import wording, yamlsafe
from syncer.config import Config
from syncer.errors import InputError, InputErrors
from syncer.model import Incident

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json"}
STDIN = "-"
STDIN_NAME = "<stdin>"  # how messages name an incident read from standard input

Path_ = tuple[str | int, ...]


@dataclass
class Loaded:
    """An incident and where it came from (for messages and GitHub annotations)."""

    incident: Incident
    file: str
    lines: dict[Path_, int]

    def line_of(self, *path: str | int) -> int | None:
        return nearest_line(self.lines, tuple(path))


def discover(
    paths: Iterable[str | Path], suffixes: Iterable[str] = SUFFIXES, *, stdin: bool = True
) -> list[Path]:
    """Expand files and folders into files with ``suffixes`` (``-`` is stdin), sorted, once each."""
    wanted = set(suffixes)
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in wanted and not p.name.startswith(".")
            )
        elif path.is_file() or (stdin and str(raw) == "-"):
            found.append(path)
        else:
            raise InputError("no such file or folder", file=str(raw))
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve() if str(p) != "-" else p
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def load_file(path: Path, config: Config) -> Loaded:
    """Read, parse and validate one incident file (at most ``[syncer] max_file_bytes``).

    ``-`` reads standard input, whose format is told by its first line (:func:`sniff`).
    """
    from_stdin = str(path) == STDIN
    name = STDIN_NAME if from_stdin else str(path)
    kind = None if from_stdin else SUFFIXES.get(path.suffix.lower())
    if kind is None and not from_stdin:
        raise InputError(
            f"unknown file type {path.suffix or '(none)'!r}: expected .yaml, .yml, .toml or .json",
            file=name,
        )
    limit = config.syncer.max_file_bytes
    try:
        if from_stdin:
            raw = sys.stdin.buffer.read(limit + 1)
        else:  # read at most the limit: a FIFO or a device never ends
            with path.open("rb") as handle:
                raw = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=name) from exc
    if len(raw) > limit:
        raise InputError(
            f"larger than {limit:,} bytes, the most an incident file may be "
            "([syncer] max_file_bytes)",
            file=name,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", file=name) from exc
    return load_text(text, kind or sniff(text), name, config)


_TOML_START = re.compile(r"""^(\[\[?\s*[\w."'-]+\s*\]\]?|[\w."'-]+\s*=)""")


def sniff(text: str) -> str:
    """The format of a document without a file name: its first line that is not blank or a
    comment starts with ``{`` (JSON), with ``key =`` or a ``[table]`` header (TOML), or else
    it is YAML (which also reads JSON)."""
    for line in text.removeprefix("\ufeff").splitlines():
        first = line.strip()
        if not first or first.startswith("#"):
            continue
        if first.startswith("{"):
            return "json"
        return "toml" if _TOML_START.match(first) else "yaml"
    return "yaml"


def load_text(text: str, kind: str, name: str, config: Config) -> Loaded:
    data, lines = parse_text(text, kind, name)
    return Loaded(validate(data, name, lines, config), name, lines)


def parse_text(text: str, kind: str, name: str) -> tuple[Any, dict[Path_, int]]:
    """The document and the lines of its keys: any nesting, alias or key twice refused here."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as some Windows editors write
    if kind == "yaml":
        try:
            data, lines = yamlsafe.load(text)
        except yamlsafe.Problem as exc:
            raise InputError(exc.message, file=name, line=exc.line, field=exc.field) from None
    elif kind == "toml":
        data = _parse_toml(text, name)
        lines = _toml_lines(text)
    elif kind == "json":
        data = _parse_json(text, name)
        try:
            lines = yamlsafe.lines_of(text)  # JSON is YAML enough to find the lines of keys
        except yamlsafe.TooDeep as exc:
            nested = _too_deep(data) or ()
            raise InputError(
                exc.message, file=name, line=exc.line, field=field_name(nested[:-1]) or None
            ) from None
    else:
        raise InputError(f"unknown format {kind!r}", file=name)
    if not isinstance(data, dict):
        raise InputError(
            f"expected a mapping of incident fields at the top, found {_kind_name(data)}",
            file=name,
            line=1,
        )
    deep = _too_deep(data)
    if deep is not None:
        raise InputError(
            f"nested more than {yamlsafe.MAX_DEPTH} levels deep",
            file=name,
            line=nearest_line(lines, deep),
            field=field_name(deep[:-1]) or None,
        )
    return data, lines


def validate(data: dict[str, Any], name: str, lines: dict[Path_, int], config: Config) -> Incident:
    try:
        return Incident.model_validate(data, context=config.context())
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            if not loc:
                loc = _loc_from_message(str(err["msg"]))
            errors.append(
                InputError(
                    wording.explain(err),
                    file=name,
                    line=nearest_line(lines, loc) if loc else None,
                    field=field_name(loc) or None,
                )
            )
        raise InputErrors(errors) from None


def iter_load(paths: Iterable[Path], config: Config) -> Iterator[Loaded | InputError]:
    """Each file's incident, or the error that stopped it (so one bad file doesn't hide the others)."""
    for path in paths:
        try:
            yield load_file(path, config)
        except InputError as exc:
            yield exc


_MSG_FIELD = re.compile(r"^(?:Value error, )?(?:status is '\w+' but )?([a-z_]+)(?:\[(\d+)\])?")


def _loc_from_message(message: str) -> Path_:
    """Whole-document checks (timestamp order) name their field first; point the line there."""
    match = _MSG_FIELD.match(message)
    if not match or match.group(1) not in Incident.model_fields:
        return ()
    return (match.group(1), int(match.group(2))) if match.group(2) else (match.group(1),)


def field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kind_name(data: Any) -> str:
    if data is None:
        return "an empty document"
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(data), type(data).__name__
    )


def _parse_toml(text: str, name: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(match.group(1)) if match else None
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        key = _toml_key_at(text, line) if line else None
        field = field_name(key) if key else None
        if key and problem == "Cannot overwrite a value":
            first = _toml_lines(text).get(key)
            problem = f"{key[-1]!r} is written twice in this table" + (
                f" (first at line {first}); keep one" if first and first != line else "; keep one"
            )
        elif problem == "Invalid date or datetime":
            problem = "not a valid date or time; expected ISO 8601 like 2024-02-12T00:10:00+09:00"
        else:
            problem = "TOML syntax error: " + problem
        raise InputError(problem, file=name, line=line, field=field) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables by recursion
        raise _too_deep_error(text, "toml", name) from None


def _parse_json(text: str, name: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise _Twice(key)
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise InputError(f"JSON syntax error: {exc.msg}", file=name, line=exc.lineno) from None
    except _Twice as exc:
        try:
            yamlsafe.lines_of(text)
        except yamlsafe.Twice as twice:
            raise InputError(twice.message, file=name, line=twice.line, field=twice.field) from None
        raise InputError(
            f"{exc.args[0]!r} is written twice in one object; keep one", file=name
        ) from None
    except RecursionError:  # the json module reads nested arrays and objects by recursion
        raise _too_deep_error(text, "json", name) from None


class _Twice(Exception):
    """A JSON object names a key twice (json.loads would keep the last)."""


def _too_deep(data: Any) -> Path_ | None:
    """The path to a value nested deeper than allowed (TOML and JSON; YAML checks while reading)."""
    stack: list[tuple[Any, Path_]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > yamlsafe.MAX_DEPTH:
            return path
        if isinstance(value, dict):
            stack.extend((v, (*path, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return None


def _too_deep_error(text: str, kind: str, name: str) -> InputError:
    """Nesting too deep for the parser itself: the line and field found by a scan."""
    found = _scan_depth(text, kind)
    line, path = found if found is not None else (None, ())
    return InputError(
        f"nested more than {yamlsafe.MAX_DEPTH} levels deep",
        file=name,
        line=line,
        field=field_name(path[:-1]) or None,
    )


_TOML_KEY_PATH = re.compile(
    r"""((?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
    r"""(?:[ \t]*\.[ \t]*(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'))*)[ \t]*="""
)
_TOML_STRINGS = ('"""', "'''", '"', "'")


def _key_parts(text: str) -> Path_:
    return tuple(p.strip().strip("\"'") for p in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', text))


def _scan_depth(text: str, kind: str) -> tuple[int, Path_] | None:
    """Where a JSON or TOML document first nests more than :data:`yamlsafe.MAX_DEPTH` levels:
    its line and the path of the value (for documents too deep for the parsers, which
    recurse). Strings, comments and TOML table headers are skipped; no value is built."""
    line, i, n = 1, 0, len(text)
    table: Path_ = ()  # TOML: the current [table]
    statement: Path_ = ()  # TOML: the key of the current top-level ``key = value``
    counters: dict[Path_, int] = {}
    frames: list[list[Any]] = []  # [bracket, key or index, expecting a key]
    expecting = kind == "toml"  # TOML: a line starts with a key (or a header)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            expecting = expecting or (kind == "toml" and not frames)
            i += 1
            continue
        if ch in " \t\r":
            i += 1
            continue
        if kind == "toml" and ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if kind == "toml" and expecting:
            if not frames and ch == "[":
                end = text.find("\n", i)
                header = _TOML_HEADER.match(text[i : n if end < 0 else end])
                if header:
                    table = _key_parts(header.group(2))
                    if header.group(1) == "[[":
                        counters[table] = counters.get(table, -1) + 1
                        table = (*table, counters[table])
                i = n if end < 0 else end
                continue
            key = _TOML_KEY_PATH.match(text, i)
            if key:
                parts = _key_parts(key.group(1))
                if frames:
                    frames[-1][1] = ".".join(str(p) for p in parts)
                else:
                    statement = (*table, *parts)
                expecting = False
                i = key.end()
                continue
            expecting = False
        quote = next((q for q in _TOML_STRINGS if text.startswith(q, i)), None)
        if quote is not None and (kind == "toml" or quote == '"'):
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                j += 2 if text[j] == "\\" and quote[0] == '"' else 1
            value = text[i + len(quote) : j]
            line += value.count("\n")
            if kind == "json" and frames and frames[-1][2]:
                try:
                    frames[-1][1] = json.loads(f'"{value}"')
                except ValueError:
                    frames[-1][1] = value
                frames[-1][2] = False
            i = j + len(quote)
            continue
        if ch in "[{":
            path = (*statement, *(f[1] for f in frames))
            if len(path) > yamlsafe.MAX_DEPTH:
                return line, path
            frames.append([ch, 0 if ch == "[" else "?", ch == "{"])
            expecting = kind == "toml" and ch == "{"
        elif ch in "]}":
            if frames:
                frames.pop()
        elif ch == "," and frames:
            if frames[-1][0] == "[":
                frames[-1][1] += 1
            else:
                frames[-1][2] = True
                expecting = kind == "toml"
        i += 1
    return None


_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")


def _toml_lines(text: str) -> dict[Path_, int]:
    """Lines of top-level keys, tables and arrays of tables (enough for good messages)."""
    lines: dict[Path_, int] = {}
    table: Path_ = ()
    counters: dict[Path_, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        header = _TOML_HEADER.match(raw)
        if header:
            parts: Path_ = tuple(p.strip().strip("\"'") for p in header.group(2).split("."))
            if header.group(1) == "[[":
                index = counters.get(parts, 0)
                counters[parts] = index + 1
                parts = (*parts, index)
            table = parts
            lines.setdefault(table, number)
            continue
        key = _TOML_KEY.match(raw)
        if key:
            lines.setdefault((*table, key.group(1).strip("\"'")), number)
    return lines


def _toml_key_at(text: str, line: int) -> Path_ | None:
    """The key that ``key = value`` on ``line`` sets, with its table (None: no such line)."""
    table: Path_ = ()
    for number, raw in enumerate(text.splitlines()[:line], 1):
        header = _TOML_HEADER.match(raw)
        if header:
            table = tuple(p.strip().strip("\"'") for p in header.group(2).split("."))
            continue
        if number == line:
            key = _TOML_KEY.match(raw)
            return (*table, key.group(1).strip("\"'")) if key else None
    return None


def nearest_line(lines: dict[Path_, int], loc: Path_) -> int | None:
    for depth in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:depth]))
        if line is not None:
            return line
    return None
