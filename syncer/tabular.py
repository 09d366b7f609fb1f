"""Tabular exports (CSV, TSV, JSON lines) into incidents, through ``[backfill.columns]``.

A team that kept its incidents in a spreadsheet exports it and maps each
column header to an incident field (``"장애 ID" = "id"``, ``"등급" = "grade"``,
...). Without a mapping, headers that are field names are used as they are.
Cells are text: times in the usual spreadsheet forms, lists separated by
``[backfill].list_separator``, and the timeline in a compact form (see
:func:`syncer.cells.parse_timeline`). A row that does not make a valid incident is an
:class:`~syncer.errors.InputError` with the file, the row's line and the
column, and the rows after it are still read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from syncer.cells import (
    parse_action_items,
    parse_bool,
    parse_links,
    parse_status,
    parse_time,
    parse_timeline,
    split_list,
)
from syncer.config import COLUMN_TARGETS, Config
from syncer.errors import InputError, InputErrors
from syncer.model import Incident, Status

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REQUIRED = ("id", "title", "grade")
TIME_FIELDS = ("started_at", "detected_at", "mitigated_at", "resolved_at", "closed_at")
LIST_FIELDS = (
    "services",
    "postmortem.lessons.went_well",
    "postmortem.lessons.went_poorly",
    "postmortem.lessons.lucky",
)


@dataclass
class Row:
    """One incident read from a file: where it came from, for messages."""

    incident: Incident
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Table:
    """What one export yielded: good rows, bad rows, and columns worth a warning."""

    file: str
    rows: list[Row] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


# Reading files.


def read(path: Path, config: Config) -> Table:
    """Every row of a CSV/TSV/JSONL export; raises InputError if the file as a whole is unusable."""
    name = str(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"unknown export type {path.suffix!r}: expected .csv, .tsv, .jsonl or .ndjson",
            file=name,
        )
    text = _text(path, config.backfill.encoding)
    if kind == "jsonl":
        return _read_jsonl(text, name, config)
    delimiter = config.backfill.delimiter or ("\t" if kind == "tsv" else ",")
    return _read_csv(text, name, delimiter, config)


def _text(path: Path, encoding: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        hint = (
            ' (Excel saves Korean CSV as cp949: set [backfill] encoding = "cp949")'
            if encoding.lower().replace("-", "").startswith("utf8")
            else ""
        )
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"not {encoding} text{hint}", file=str(path), line=line) from None


def _read_csv(text: str, name: str, delimiter: str, config: Config) -> Table:
    table = Table(name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("the export is empty (no header row)", file=name, line=1) from None
    except csv.Error as exc:
        raise InputError(f"CSV error in the header row: {exc}", file=name, line=1) from None
    headers = [h.strip().lstrip("\ufeff") for h in header]
    columns = _columns(headers, name, config, table)
    seen: dict[str, str] = {}
    last = reader.line_num
    while True:
        start = last + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            table.errors.append(InputError(f"CSV error: {exc}", file=name, line=start))
            last = reader.line_num
            continue
        last = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(headers):
            table.errors.append(
                InputError(
                    f"the row has {len(cells)} cells but the header has {len(headers)} "
                    f"(an unquoted {delimiter!r} in a cell?)",
                    file=name,
                    line=start,
                )
            )
            continue
        raw = {h: c for h, c in zip(headers, cells, strict=False)}
        _add_row(table, raw, columns, name, start, config, seen)
    return table


def _read_jsonl(text: str, name: str, config: Config) -> Table:
    table = Table(name)
    mapping = {k.strip(): v for k, v in config.backfill.columns.items()}
    seen: dict[str, str] = {}
    used: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            table.errors.append(InputError(f"JSON syntax error: {exc.msg}", file=name, line=number))
            continue
        if not isinstance(obj, dict):
            table.errors.append(
                InputError("expected one JSON object per line", file=name, line=number)
            )
            continue
        # Mapped keys go through the cell converters; a key that names a field is used as
        # it is (a nested one like "postmortem" passes through unchanged); others are ignored.
        columns = {k: mapping[k] for k in obj if k in mapping}
        passthrough: dict[str, Any] = {}
        for key, value in obj.items():
            if key in columns or key in columns.values():
                continue
            if key in COLUMN_TARGETS:
                columns[key] = key
            elif key in Incident.model_fields:
                passthrough[key] = value
            elif key not in table.ignored:
                table.ignored.append(key)
        used.update(columns)
        raw = {k: obj[k] for k in columns}
        _add_row(table, raw, columns, name, number, config, seen, passthrough)
    table.absent = [h for h in mapping if h not in used]
    return table


def _columns(headers: list[str], name: str, config: Config, table: Table) -> dict[str, str]:
    """header → target for this file; unusable mappings are errors for the whole file."""
    mapping = {k.strip(): v for k, v in config.backfill.columns.items()}
    folded = {h.casefold(): h for h in headers}
    columns: dict[str, str] = {}
    for header, target in mapping.items():
        actual = header if header in headers else folded.get(header.casefold())
        if actual is None:
            table.absent.append(header)
        else:
            columns[actual] = target
    for header in headers:
        if header in columns:
            continue
        if header in COLUMN_TARGETS and header not in columns.values():
            columns[header] = header
        elif header not in Incident.model_fields:
            table.ignored.append(header)
    missing = [t for t in REQUIRED if t not in columns.values()]
    if missing:
        mapped = ", ".join(f"{h!r} → {t}" for h, t in mapping.items()) or "none"
        raise InputError(
            f"no column for {', '.join(missing)}: the header row has "
            f"{', '.join(repr(h) for h in headers)}; [backfill.columns] maps {mapped}",
            file=name,
            line=1,
        )
    return columns


def _add_row(
    table: Table,
    raw: dict[str, Any],
    columns: dict[str, str],
    name: str,
    line: int,
    config: Config,
    seen: dict[str, str],
    passthrough: dict[str, Any] | None = None,
) -> None:
    try:
        incident = row_incident(raw, columns, config, name, line, passthrough)
    except InputError as exc:
        table.errors.append(exc)
        return
    other = seen.get(incident.id)
    if other is not None:
        header = next((h for h, t in columns.items() if t == "id"), "id")
        table.errors.append(
            InputError(
                f"incident id {incident.id} is also on line {other}",
                file=name,
                line=line,
                field=header,
            )
        )
        return
    seen[incident.id] = str(line)
    table.rows.append(Row(incident, name, line))


# One row into an incident.


def row_incident(
    raw: dict[str, Any],
    columns: dict[str, str],
    config: Config,
    name: str = "",
    line: int | None = None,
    passthrough: dict[str, Any] | None = None,
) -> Incident:
    """Convert one row (header → cell) and validate it; errors name the column."""
    tz = config.tz
    header_of = {t: h for h, t in columns.items()}
    values = config.backfill.values
    sep = config.backfill.list_separator
    data: dict[str, Any] = dict(passthrough or {})
    errors: list[InputError] = []
    cells = {columns[h]: v for h, v in raw.items() if h in columns}

    def fail(target: str, message: str) -> None:
        errors.append(
            InputError(message, file=name, line=line, field=header_of.get(target, target))
        )

    def put(target: str, value: Any) -> None:
        node = data
        *parents, leaf = target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    # Times first: the timeline's time-only entries take their date from them.
    for target in TIME_FIELDS:
        cell = cells.get(target)
        if isinstance(cell, str) and cell.strip():
            try:
                put(target, parse_time(cell, tz))
            except ValueError as exc:
                fail(target, str(exc))
        elif cell not in (None, ""):
            put(target, cell)
    for target, cell in cells.items():
        if target in TIME_FIELDS:
            continue
        if not isinstance(cell, str):
            put(target, cell)  # JSON lines may carry native values (lists, objects, booleans)
            continue
        text = cell.strip()
        text = values.get(target, {}).get(text, text)
        if not text:
            continue
        try:
            if target == "status":
                put(target, parse_status(text))
            elif target == "grade_final":
                put(target, parse_bool(text))
            elif target in LIST_FIELDS:
                put(target, split_list(text, sep))
            elif target == "links":
                put(target, parse_links(text))
            elif target == "timeline":
                reference = data.get("started_at") or data.get("detected_at")
                put(target, parse_timeline(text, tz, reference))
            elif target == "postmortem.action_items":
                put(target, parse_action_items(text))
            else:
                put(target, text)
        except ValueError as exc:
            fail(target, str(exc))
    if "status" not in data:
        data["status"] = _status_from_times(data)
    for target in REQUIRED:
        if target not in data:
            fail(target, "required: the cell is empty")
    if errors:
        raise InputErrors(errors)
    try:
        return Incident.model_validate(data, context=config.context())
    except ValidationError as exc:
        raise InputErrors(
            [
                InputError(
                    _message(err),
                    file=name,
                    line=line,
                    field=_header_for(err["loc"], header_of, str(err["msg"])),
                )
                for err in exc.errors()
            ]
        ) from None


def _status_from_times(data: dict[str, Any]) -> str:
    if data.get("closed_at"):
        return Status.closed.value
    if data.get("resolved_at"):
        return Status.resolved.value
    if data.get("mitigated_at"):
        return Status.mitigated.value
    return Status.detected.value


def _header_for(loc: tuple[Any, ...], header_of: dict[str, str], message: str) -> str | None:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    for depth in range(len(parts), 0, -1):
        target = ".".join(p for p in parts[:depth] if not p.isdigit())
        if target in header_of:
            return header_of[target]
    if not parts:  # a whole-incident check (timestamp order) names its field first
        first = message.removeprefix("Value error, ").split(" ", 1)[0]
        return header_of.get(first)
    return parts[0]


def _message(err: Any) -> str:
    kind = str(err["type"])
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return "required: the cell is empty"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch" and err["loc"] and err["loc"][-1] == "id":
        return f"{err.get('input')!r} is not a valid id: use letters, digits, '.', '_' and '-'"
    if kind == "enum":
        return message.replace("Input should be", "expected")
    return message
