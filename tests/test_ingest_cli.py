"""`incident-syncer ingest` as a user runs it: stdin or a file, and what a refused payload says."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters import memory
from syncer.cli import main
from tests.conftest import write_config
from tests.test_ingest_helpers import AM_EXAMPLE


def test_ingest_reads_stdin(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "t"}})
    result = CliRunner().invoke(
        main,
        ["--config", str(path), "ingest", "--source", "alertmanager", "-"],
        input=AM_EXAMPLE.read_bytes(),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].endswith(": opened (first notification)")
    missing = CliRunner().invoke(
        main, ["--config", str(path), "ingest", "--source", "grafana", "nope.json"]
    )
    assert missing.exit_code == 2
    assert missing.stderr == "Error: nope.json: cannot read: No such file or directory\n"


def test_ingest_names_the_file_line_and_field_of_a_refused_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "t"}})
    files = {
        "cut.json": '{"key": "k",\n',
        "generic.json": '{\n  "key": "k",\n  "title": 5,\n  "status": "firing"\n}\n',
        "am.json": (
            '{\n  "version": "4",\n  "status": "firing",\n  "alerts": [\n'
            '    {"labels": {"alertname": "A"}, "startsAt": "soon"}\n  ]\n}\n'
        ),
        "list.json": "[1]\n",
        "zero.json": (
            '{\n  "status": "firing",\n  "alerts": [\n'
            '    {"labels": {"alertname": "A"},\n     "startsAt": "0001-01-01T00:00:00Z"}\n  ]\n}\n'
        ),
        "sev9.json": (
            '{\n  "key": "k",\n  "status": "firing",\n  "started_at": "2025-11-04T03:05:40+09:00",'
            '\n  "title": "t",\n  "grade": "SEV9"\n}\n'
        ),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    def ingest(source: str, name: str, stdin: str | None = None) -> tuple[int, str]:
        args = ["--config", str(path), "ingest", "--source", source, name]
        result = CliRunner().invoke(main, args, input=stdin)
        return result.exit_code, result.stderr

    monkeypatch.chdir(tmp_path)
    assert ingest("generic", "cut.json") == (
        2,
        "Error: cut.json:2: body is not JSON: Expecting property name enclosed in double "
        "quotes at line 2 column 1\n",
    )
    assert ingest("generic", "generic.json") == (
        2,
        "Error: generic.json:1: started_at: required field is missing\n"
        "Error: generic.json:3: title: expected text, found the number 5\n",
    )
    assert ingest("alertmanager", "am.json") == (
        2,
        "Error: am.json:5: alerts[0].startsAt: 'soon' is not a time; "
        "expected RFC 3339 like 2025-11-03T06:14:52.517Z\n",
    )
    assert ingest("grafana", "am.json") == (
        2,
        "Error: am.json:2: version: unsupported Grafana webhook version '4'; expected '1' "
        "(Alertmanager sends version 4: post it to /alertmanager)\n",
    )
    assert ingest("generic", "-", stdin="[1]\n") == (
        2,
        "Error: <stdin>:1: expected a JSON object at the top, found an array\n",
    )
    assert ingest("alertmanager", "zero.json") == (
        2,
        "Error: zero.json:5: alerts[0].startsAt: required field is missing "
        "(Go's zero time means none)\n",
    )
    assert ingest("generic", "sev9.json") == (
        2,
        "Error: sev9.json:6: grade: grade 'SEV9' is not configured; "
        "expected one of SEV1, SEV2, SEV3, SEV4\n",
    )
    assert memory.store("t").issues == {}
