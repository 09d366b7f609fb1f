"""Validation errors in words: what was expected and what was found, never a validator's own
text or a regular expression (incident files and the configuration share these)."""

from __future__ import annotations

import calendar
import re
from typing import Any

TIME_EXAMPLE = "2024-02-12T00:10:00+09:00"
DATE_EXAMPLE = "2024-02-20"

# What a field with a pattern holds, by the field's name.
_PATTERNS = {
    "id": "use letters, digits, '.', '_' and '-', starting with a letter or digit, "
    "at most 128 characters",
    "url": "expected an http(s) or mailto link, like https://grafana.example.com/d/home",
    "color": "expected a colour as six hex digits, like b60205",
}
_WHAT = {"id": "a valid id", "url": "a link", "color": "a colour"}
_DATE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?"
    r"(?:[Zz]|[+-]\d{2}:?\d{2})?$"
)
_CLOCK = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")


def kind_of(value: Any) -> str:
    """A value's kind as a person would name it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple | set):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a value of another kind"


def explain(err: Any, *, unknown: str = "unknown field") -> str:
    """One pydantic error (``ValidationError.errors()`` item) in words."""
    kind: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    name = next((p for p in reversed(err.get("loc") or ()) if isinstance(p, str)), "")
    if kind == "extra_forbidden":
        return unknown
    if kind == "missing":
        return "required field is missing"
    if kind == "value_error":
        return str(ctx.get("error") or err["msg"]).removeprefix("Value error, ")
    if kind == "string_type":
        return f"expected text, found {kind_of(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters (this has {len(str(value))})"
    if kind == "string_pattern_mismatch":
        rule = _PATTERNS.get(name, "it does not have the expected form")
        return f"{_short(value)} is not {_WHAT.get(name, 'valid here')}: {rule}"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"expected a list, found {kind_of(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"expected a mapping of fields, found {kind_of(value)}"
    if kind.startswith("bool"):
        return f"expected true or false, found {_found(value)}"
    if kind.startswith("int"):
        return f"expected a whole number, found {_found(value)}"
    if kind.startswith("float") or kind.startswith("decimal"):
        return f"expected a number, found {_found(value)}"
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"expected {'at least' if kind == 'too_short' else 'at most'} {bound} items"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"must be {words} {ctx.get(key)}, found {_found(value)}"
    if kind in ("enum", "literal_error"):
        return f"expected one of {ctx.get('expected')}, found {_found(value)}"
    if kind.startswith("datetime") or kind.startswith("timezone"):
        return time_problem(value)
    if kind.startswith("date"):
        return date_problem(value)
    return f"{_found(value)} is not accepted here"


def time_problem(value: Any) -> str:
    """Why ``value`` is not a time, and what one looks like."""
    if not isinstance(value, str):
        return f"expected a date and time like {TIME_EXAMPLE}, found {kind_of(value)}"
    if _CLOCK.match(value.strip()):
        return f"{_short(value)} has no date: write the date and the time, like {TIME_EXAMPLE}"
    why = _calendar_problem(value.strip())
    return f"{_short(value)} is not a valid time{why}; expected ISO 8601 like {TIME_EXAMPLE}"


def date_problem(value: Any) -> str:
    """Why ``value`` is not a date (a day, no time), and what one looks like."""
    if not isinstance(value, str):
        return f"expected a date like {DATE_EXAMPLE}, found {kind_of(value)}"
    match = _DATE.match(value.strip())
    if match and match.group(4) is not None and not _calendar_problem(value.strip()):
        return f"{_short(value)} has a time of day: write the day only, like {DATE_EXAMPLE}"
    why = _calendar_problem(value.strip())
    return f"{_short(value)} is not a valid date{why}; expected a date like {DATE_EXAMPLE}"


def _calendar_problem(text: str) -> str:
    match = _DATE.match(text)
    if not match:
        return ""
    year, month, day = (int(g) for g in match.groups()[:3])
    if not 1 <= month <= 12:
        return f" (there is no month {month})"
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        return f" ({calendar.month_name[month]} {year} has {days} days)"
    hour, minute, second = (int(g) if g else 0 for g in match.groups()[3:6])
    if hour > 23 or minute > 59 or second > 59:
        return f" ({hour:02d}:{minute:02d} is not a time of day)"
    return ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def _found(value: Any) -> str:
    return _short(value) if isinstance(value, str) else kind_of(value)
