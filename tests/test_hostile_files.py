"""Hostile and broken incident files, as a careless user and an attacker write them: every one
refused with exit 2 and `file:line: field: reason`, the folder checked to the end, bounded time."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer import yamlsafe
from syncer.cli import main
from tests.procs import GUARD

HEAD = "id: INC-1\ntitle: x\ngrade: SEV1\n"


def alias_bomb(levels: int) -> str:
    """A few hundred bytes that expand to 9**levels values when aliases are followed."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return HEAD + "\n".join(lines) + f"\npostmortem:\n  lessons:\n    lucky: *a{levels}\n"


HOSTILE = {
    "alias-bomb.yaml": (
        alias_bomb(9),
        "Error: alias-bomb.yaml:8: a4[0]: aliases expand to more than 10000 values; write the values out",
    ),
    "alias-loop.yaml": (
        HEAD + "services: &s [a, *s]\n",
        "Error: alias-loop.yaml:4: services[1]: an alias refers to the value it is part of",
    ),
    "deep.yaml": (
        HEAD + "postmortem: " + "[" * 5000 + "]" * 5000 + "\n",
        "Error: deep.yaml:4: postmortem[0]: nested more than 32 levels deep",
    ),
    "deep.json": (
        '{"id": "INC-1", "title": "x", "grade": "SEV1",\n "links": ' + "[" * 100_000 + "\n",
        "Error: deep.json:2: links" + "[0]" * 31 + ": nested more than 32 levels deep",
    ),
    "deep-but-parsed.json": (
        '{"id": "INC-1", "title": "x", "grade": "SEV1",\n "links": ' + "[" * 40 + "]" * 40 + "}\n",
        "Error: deep-but-parsed.json:2: links[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
        "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nested more than 32 levels deep",
    ),
    "deep.toml": (
        'id = "INC-1"\ntitle = "x"\ngrade = "SEV1"\nservices = ' + "[" * 100_000 + "\n",
        "Error: deep.toml:4: services" + "[0]" * 31 + ": nested more than 32 levels deep",
    ),
    "deep-inline.toml": (
        'id = "INC-1"\n[postmortem]\nauthor = "a [[[ # not nested"\n# nor [[[ this\n'
        "lessons = { lucky = [" + "{ a = [" * 20_000 + "\n",
        "Error: deep-inline.toml:5: postmortem.lessons.lucky" + "[0].a" * 14 + "[0]: "
        "nested more than 32 levels deep",
    ),
    "month13.yaml": (
        HEAD + "started_at: 2024-13-01\n",
        "Error: month13.yaml:4: started_at: '2024-13-01' is not a valid time (there is no month 13); "
        "expected ISO 8601 like 2024-02-12T00:10:00+09:00",
    ),
    "feb30.yaml": (
        HEAD + "timeline:\n  - at: 2024-02-30T10:00:00+09:00\n    text: a\n",
        "Error: feb30.yaml:5: timeline[0].at: '2024-02-30T10:00:00+09:00' is not a valid time "
        "(February 2024 has 29 days); expected ISO 8601 like 2024-02-12T00:10:00+09:00",
    ),
    "clock.yaml": (
        HEAD + "detected_at: 2024-02-12T25:61:00+09:00\n",
        "Error: clock.yaml:4: detected_at: '2024-02-12T25:61:00+09:00' is not a valid time "
        "(25:61 is not a time of day); expected ISO 8601 like 2024-02-12T00:10:00+09:00",
    ),
    "sexagesimal.yaml": (
        HEAD + "timeline:\n  - at: 10:25\n    text: a\n",
        "Error: sexagesimal.yaml:5: timeline[0].at: '10:25' has no date: write the date and "
        "the time, like 2024-02-12T00:10:00+09:00",
    ),
    "number.json": (
        '{"id": "INC-1", "title": "x", "grade": "SEV1",\n "started_at": 1707664500}\n',
        "Error: number.json:2: started_at: a bare number (1707664500) is not a time: write the "
        "date and the time, like 2024-02-12T10:25:00+09:00",
    ),
    "due.yaml": (
        HEAD + "postmortem:\n  action_items:\n    - title: t\n      due: 2024-02-20T10:00\n",
        "Error: due.yaml:7: postmortem.action_items[0].due: '2024-02-20T10:00' has a time of day: "
        "write the day only, like 2024-02-20",
    ),
    "twice.yaml": (
        "id: INC-1\ntitle: first\ngrade: SEV1\ntitle: second\n",
        "Error: twice.yaml:4: title: 'title' is written twice in this mapping (first at line 2); "
        "keep one",
    ),
    "twice-nested.yaml": (
        HEAD + "timeline:\n  - at: 2024-02-12T00:25:00+09:00\n    text: a\n    text: b\n",
        "Error: twice-nested.yaml:7: timeline[0].text: 'text' is written twice in this mapping "
        "(first at line 6); keep one",
    ),
    "twice.json": (
        '{"id": "INC-1",\n "title": "a",\n "grade": "SEV1",\n "title": "b"}\n',
        "Error: twice.json:4: title: 'title' is written twice in this mapping (first at line 2); "
        "keep one",
    ),
    "twice.toml": (
        'id = "INC-1"\ntitle = "a"\ngrade = "SEV1"\ntitle = "b"\n',
        "Error: twice.toml:4: title: 'title' is written twice in this table (first at line 2); "
        "keep one",
    ),
    "toml-date.toml": (
        'id = "INC-1"\ntitle = "a"\ngrade = "SEV1"\nstarted_at = 2024-02-30T00:00:00Z\n',
        "Error: toml-date.toml:4: started_at: not a valid date or time; expected ISO 8601 like "
        "2024-02-12T00:10:00+09:00",
    ),
    "tag.yaml": (
        HEAD + "started_at: !!timestamp 2024-13-01\n",
        "Error: tag.yaml:4: started_at: '2024-13-01' is not a valid time (there is no month 13); "
        "expected ISO 8601 like 2024-02-12T00:10:00+09:00",
    ),
    "python.yaml": (
        HEAD + "cause: !!python/object/apply:os.system [echo]\n",
        "Error: python.yaml:4: cause: the tag !!python/object/apply:os.system is not allowed: "
        "write plain values (text, numbers, lists, mappings)",
    ),
    "local-tag.yaml": (
        HEAD + "timeline:\n  - at: 2024-02-12T00:25:00+09:00\n    text: !secret x\n",
        "Error: local-tag.yaml:6: timeline[0].text: the tag !secret is not allowed: write plain "
        "values (text, numbers, lists, mappings)",
    ),
    "unfit-tag.yaml": (
        HEAD + "timeline:\n  - at: 2024-02-12T00:25:00+09:00\n    text: !!int abc\n",
        "Error: unfit-tag.yaml:6: timeline[0].text: 'abc' does not fit its tag !!int: write the "
        "value without a tag",
    ),
    "long-title.yaml": (
        "id: INC-1\ntitle: " + "가" * 300 + "\ngrade: SEV1\n",
        "Error: long-title.yaml:2: title: at most 255 characters (this has 300)",
    ),
    "bad-url.yaml": (
        HEAD + "links:\n  - title: Grafana\n    url: grafana.example.com/d/home\n",
        "Error: bad-url.yaml:6: links[0].url: 'grafana.example.com/d/home' is not a link: "
        "expected an http(s) or mailto link, like https://grafana.example.com/d/home",
    ),
    "bad-id.yaml": (
        "id: INC 1/2\ntitle: x\ngrade: SEV1\n",
        "Error: bad-id.yaml:1: id: 'INC 1/2' is not a valid id: use letters, digits, '.', '_' "
        "and '-', starting with a letter or digit, at most 128 characters",
    ),
    "yes.yaml": (
        "id: INC-1\ntitle: x\ngrade: SEV1\ncommander: no\n",
        "Error: yes.yaml:4: commander: expected text, found false (a yes/no value)",
    ),
}


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_file_is_refused_with_file_line_field_and_reason(
    name: str, tmp_path: Path
) -> None:
    text, expected = HOSTILE[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = run("validate", name)
    assert (result.exit_code, result.stderr, result.stdout) == (
        2,
        expected + "\n",
        "0 valid, 1 invalid\n",
    )


def test_a_folder_of_them_is_checked_to_the_end_with_its_summary(
    tmp_path: Path, config_file: Path
) -> None:
    folder = tmp_path / "incidents"
    folder.mkdir()
    for name, (text, _) in HOSTILE.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "zz-fine.yaml").write_text(HEAD, encoding="utf-8")
    result = run("validate", "incidents")
    assert result.exit_code == 2
    expected = sorted(e.replace("Error: ", "Error: incidents/", 1) for _, e in HOSTILE.values())
    assert sorted(result.stderr.splitlines()) == expected
    assert result.stdout == (
        "ok incidents/zz-fine.yaml: INC-1 [SEV1] detected, 0 timeline entries\n"
        f"1 valid, {len(HOSTILE)} invalid\n"
    )
    synced = run("--config", str(config_file), "sync", "incidents", "--dry-run")
    assert synced.exit_code == 2 and synced.stdout == ""
    assert sorted(synced.stderr.splitlines()) == expected


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text(HEAD + "cause: " + "x" * 6_000_000 + "\n")
    result = run("validate", "big.yaml")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: big.yaml: larger than 5,242,880 bytes, the most an incident file may be "
        "([syncer] max_file_bytes)\n",
    )
    (tmp_path / "c.toml").write_text("[syncer]\nmax_file_bytes = 10000000\n", encoding="utf-8")
    assert run("--config", "c.toml", "validate", "big.yaml").exit_code == 0


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    # More output than a pipe holds (64 KiB): the writer is still writing when the reader
    # goes, whatever the machine's speed (400 short lines fit, and could all be written first).
    long = "-" + "x" * 150
    for i in range(600):
        (folder / f"inc-{i:03d}{long}.yaml").write_text(HEAD.replace("INC-1", f"INC-{i}"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer", "validate", "many"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert (
        proc.stdout.readline()
        == f"ok many/inc-000{long}.yaml: INC-0 [SEV1] detected, 0 timeline entries\n".encode()
    )
    proc.stdout.close()  # what `| head -1` does
    assert proc.stderr.read() == b""
    assert proc.wait(GUARD) == 141


# Property: whatever the bytes, `validate` answers 0 or 2 in bounded time, never "unexpected".

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["10:25", "2024-13-01", "2024-02-30", "25:61", "2024-02-12T00:25:00+09:00", "2024-02-20"]
    )
)
trees = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
FIELDS = [
    "id", "title", "grade", "status", "started_at", "detected_at", "resolved_at",
    "services", "links", "timeline", "postmortem", "commander",
]  # fmt: skip
incidents = st.dictionaries(st.sampled_from(FIELDS), trees, max_size=8)
hostile_yaml = st.sampled_from(
    [alias_bomb(n) for n in (3, 5, 7)] + [text for text, _ in HOSTILE.values()]
) | st.integers(min_value=30, max_value=3000).map(
    lambda depth: HEAD + "links: " + "[" * depth + "]" * depth + "\n"
)


def _toml(doc: Any) -> str:
    def clean(value: Any) -> Any:  # TOML has no null; its arrays may mix types since 1.0
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value if v is not None]
        return value

    data = clean(doc) if isinstance(doc, dict) else {"value": clean(doc)}
    return tomli_w.dumps(data) if data.get("value", 0) is not None else ""


def _check(path: Path) -> None:
    result = run("validate", str(path))
    assert result.exit_code in (0, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    # The handler of "unexpected" errors asks to report them: it must never be reached.
    assert "please report it" not in result.output and "Traceback" not in result.output
    for raw in ("Input should", "String should", "should have at", "[A-Za-z0-9", "Value error"):
        assert raw not in result.output  # a validator's own words, or a regular expression


BOUNDED = settings(
    max_examples=120,
    deadline=timedelta(seconds=5),  # a 9-level alias bomb took 15 s and 2 GB before
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@BOUNDED
@given(doc=incidents | trees, suffix=st.sampled_from([".yaml", ".json", ".toml"]))
def test_random_trees_in_every_format(doc: Any, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"random{suffix}"
    if suffix == ".json":
        text = json.dumps(doc, ensure_ascii=False)
    elif suffix == ".yaml":
        text = yaml.safe_dump(doc, allow_unicode=True)
    else:
        text = _toml(doc)
    path.write_text(text, encoding="utf-8")
    _check(path)


@BOUNDED
@given(
    raw=st.binary(max_size=300) | st.text(max_size=300) | hostile_yaml,
    suffix=st.sampled_from([".yaml", ".toml", ".json"]),
)
def test_random_bytes_and_hostile_text(raw: bytes | str, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"noise{suffix}"
    if isinstance(raw, str):
        path.write_text(raw, encoding="utf-8")
    else:
        path.write_bytes(raw)
    _check(path)


# The YAML reader builds values itself for speed: exactly what PyYAML's constructor builds.


def _constructed(text: str) -> Any:
    """The document as the same loader's own (PyYAML's safe) constructor builds it."""
    with yamlsafe._reading(text, "YAML error: ") as loader:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)


ODD_YAML = (
    "a: &x [1, yes, No, ~, '2', !!str 3, 1.5, 10:25, 2024-02-12, !!timestamp 2024-02-12]\n"
    "b: *x\n"
    "c: {<<: {k: v, n: 1}, k: w}\n"
    "d: !!int '7'\n"
    "e: !!binary aGk=\n"
    "f: !!set {p, q}\n"
    "g: [{h: &y {i: j}}, *y, null, '', ~: tilde key, true: yes key]\n"
)


def test_the_yaml_reader_builds_what_pyyamls_constructor_builds() -> None:
    data, _ = yamlsafe.load(ODD_YAML)
    assert data == _constructed(ODD_YAML)
    assert data["a"] == [1, True, False, None, "2", "3", 1.5, "10:25", "2024-02-12", "2024-02-12"]
    assert data["b"] is data["a"]  # an alias is its anchor's value, as PyYAML makes it
    assert data["c"] == {"k": "w", "n": 1} and data["d"] == 7 and data["e"] == b"hi"
    unhashable = "? [1, 2]\n: a list as a key\n"
    with pytest.raises(yamlsafe.Problem):
        yamlsafe.load(unhashable)
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load(unhashable, Loader=yaml.SafeLoader)


@BOUNDED
@given(doc=incidents | trees)
def test_random_yaml_is_built_as_pyyamls_constructor_builds_it(doc: Any) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    assert yamlsafe.load(text)[0] == _constructed(text)
