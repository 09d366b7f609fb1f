"""`incident-syncer validate`: every problem named by file, line and field; exit 2; never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from syncer.cli import main
from tests.conftest import BANNER, BANNER_FIRST_SYNC, CHECKOUT, EXAMPLES

BAD = {
    "grade.yaml": (
        "id: INC-1\ntitle: x\ngrade: P0\n",
        "Error: grade.yaml:3: grade: unknown grade 'P0'; expected one of: SEV1, SEV2, SEV3, SEV4",
    ),
    "missing-id.yaml": (
        "title: no id\ngrade: SEV1\n",
        "Error: missing-id.yaml: id: required field is missing",
    ),
    "order.yaml": (
        "id: INC-1\ntitle: x\ngrade: SEV1\ndetected_at: 2024-02-12T00:25:00+09:00\n"
        "mitigated_at: 2024-02-12T00:20:00+09:00\n",
        "Error: order.yaml:5: mitigated_at: mitigated_at (2024-02-12T00:20:00+09:00) is before detected_at "
        "(2024-02-12T00:25:00+09:00); timestamps must follow started → detected → mitigated → resolved → closed",
    ),
    "badtime.yaml": (
        "id: INC-1\ntitle: x\ngrade: SEV1\ntimeline:\n  - at: yesterday\n    text: hi\n",
        "Error: badtime.yaml:5: timeline[0].at: 'yesterday' is not a valid time; "
        "expected ISO 8601 like 2024-02-12T00:10:00+09:00",
    ),
    "types.yaml": (
        "id: INC-1\ntitle: x\ngrade: SEV1\nservices: frontend\n",
        "Error: types.yaml:4: services: expected a list, found text",
    ),
    "syntax.yaml": (
        "id: INC-2\ntitle: [unclosed\n",
        "Error: syntax.yaml:3: YAML syntax error: did not find expected ',' or ']'",
    ),
    "syntax.toml": (
        'id = "INC-3"\ntitle = \n',
        "Error: syntax.toml:2: title: TOML syntax error: Invalid value",
    ),
    "syntax.json": (
        '{"id": "INC-4",\n "title": }\n',
        "Error: syntax.json:2: JSON syntax error: Expecting value",
    ),
    "unknown.toml": (
        'id = "INC-5"\ntitle = "x"\ngrade = "SEV1"\nseverity = "high"\n',
        "Error: unknown.toml:4: severity: unknown field",
    ),
    "nested.json": (
        '{"id": "INC-4", "title": "x",\n "grade": "SEV1",\n "timeline": [{"at": "2024-01-01T00:00:00Z", "text": "a"},\n {"text": "b"}]}\n',
        "Error: nested.json:4: timeline[1].at: required field is missing",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_are_named_with_line_and_field(name: str, tmp_path: Path) -> None:
    text, expected = BAD[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", name])
    assert result.exit_code == 2
    assert result.stderr == expected + "\n"
    assert result.stdout == "0 valid, 1 invalid\n"


def test_valid_examples_and_a_summary() -> None:
    result = CliRunner().invoke(main, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"ok {BANNER}: INC-2024-0212-banner [SEV3] resolved, 6 timeline entries\n"
        f"ok {CHECKOUT}: INC-2024-0305-checkout [SEV1] closed, 6 timeline entries\n"
        "2 valid, 0 invalid\n"
    )


def test_same_schema_in_yaml_toml_and_json(tmp_path: Path) -> None:
    data = yaml.safe_load(BANNER.read_text(encoding="utf-8"))
    text = json.dumps(data, default=str, ensure_ascii=False)
    (tmp_path / "a.json").write_text(text, encoding="utf-8")
    import tomllib  # noqa: F401  (TOML written by hand below: the stdlib only reads it)

    toml = (
        'id = "INC-T"\ntitle = "토엠엘"\ngrade = "SEV2"\nstatus = "mitigated"\n'
        "detected_at = 2024-02-12T00:25:00+09:00\nmitigated_at = 2024-02-12T00:40:00+09:00\n"
        '[[timeline]]\nat = 2024-02-12T00:25:00+09:00\ntext = "인지"\nkind = "detection"\n'
        '[postmortem]\nauthor = "bob"\n[[postmortem.five_whys]]\nq = "왜?"\na = "그래서"\n'
    )
    (tmp_path / "b.toml").write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "a.json", "b.toml"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "ok a.json: INC-2024-0212-banner [SEV3] resolved, 6 timeline entries\n"
        "ok b.toml: INC-T [SEV2] mitigated, 1 timeline entry\n"
        "2 valid, 0 invalid\n"
    )


def test_toml_field_errors_point_at_the_array_of_tables(tmp_path: Path) -> None:
    toml = 'id = "INC-T"\ntitle = "x"\ngrade = "SEV2"\n\n[[timeline]]\nat = 2024-02-12T00:25:00+09:00\ntext = "a"\n\n[[timeline]]\ntext = "b"\n'
    (tmp_path / "c.toml").write_text(toml, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "c.toml"])
    assert result.exit_code == 2
    assert result.stderr == "Error: c.toml:9: timeline[1].at: required field is missing\n"
    assert result.stdout == "0 valid, 1 invalid\n"


def test_duplicate_ids_across_files_are_refused_by_sync(tmp_path: Path, config_file: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("id: INC-1\ntitle: x\ngrade: SEV1\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config_file), "sync", "a.yaml", "b.yaml"])
    assert result.exit_code == 2
    assert result.output == "Error: b.yaml: id: incident id INC-1 is also used by a.yaml\n"


def test_missing_path() -> None:
    result = CliRunner().invoke(main, ["validate", "nope.yaml"])
    assert result.exit_code == 2
    assert result.output == "Error: nope.yaml: no such file or folder\n"


def _banner_as(kind: str) -> str:
    if kind == "yaml":
        return BANNER.read_text(encoding="utf-8")
    data = yaml.safe_load(BANNER.read_text(encoding="utf-8"))
    return json.dumps(data, default=str, ensure_ascii=False, indent=2)


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_dash_reads_the_incident_from_stdin(kind: str) -> None:
    result = CliRunner().invoke(main, ["validate", "-"], input=_banner_as(kind))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "ok <stdin>: INC-2024-0212-banner [SEV3] resolved, 6 timeline entries\n1 valid, 0 invalid\n"
    )
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "# from a pipe\nid: INC-1\ntitle: x\ngrade: P0\n",
            "<stdin>:4: grade: unknown grade 'P0'; expected one of: SEV1, SEV2, SEV3, SEV4",
        ),
        ('{"id": "INC-4",\n "title": }\n', "<stdin>:2: JSON syntax error: Expecting value"),
        (
            'id = "INC-5"\ntitle = "x"\ngrade = "SEV1"\nseverity = "high"\n',
            "<stdin>:4: severity: unknown field",
        ),
        (
            "",
            "<stdin>:1: expected a mapping of incident fields at the top, found an empty document",
        ),
    ],
)
def test_errors_on_stdin_name_it_with_line_and_field(text: str, message: str) -> None:
    result = CliRunner().invoke(main, ["validate", "-"], input=text)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == "0 valid, 1 invalid\n"


def test_render_and_sync_read_stdin_too(tmp_path: Path, config_file: Path) -> None:
    config = ["--config", str(config_file)]
    from_file = CliRunner().invoke(main, [*config, "render", str(BANNER), "--doc", "postmortem"])
    piped = CliRunner().invoke(
        main, [*config, "render", "-", "--doc", "postmortem"], input=_banner_as("json")
    )
    assert piped.exit_code == 0, piped.output
    assert piped.stdout == from_file.stdout
    synced = CliRunner().invoke(main, [*config, "sync", "-"], input=_banner_as("yaml"))
    assert synced.exit_code == 0, synced.output
    assert synced.stdout == (
        "✓ INC-2024-0212-banner → mem #1 memory://mem/1: created\n"
        + BANNER_FIRST_SYNC
        + "    - update issue body; set status → closed\n"
    )
    again = CliRunner().invoke(main, [*config, "sync", "-"], input=_banner_as("yaml"))
    assert again.stdout == "✓ INC-2024-0212-banner → mem #1 memory://mem/1: unchanged\n"


def test_a_real_pipe_into_the_installed_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    piped = subprocess.run(
        [sys.executable, "-m", "syncer", "validate", "-"],
        input=_banner_as("json"),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert (piped.returncode, piped.stderr) == (0, "")
    assert piped.stdout.startswith("ok <stdin>: INC-2024-0212-banner [SEV3] resolved")


README_FILES = {
    "INC-5.yaml": "id: INC-5\ntitle: Search is slow\ngrade: P0\n",
    "INC-6.yaml": (
        "id: INC-6\ntitle: Search is slow\ngrade: SEV3\nstatus: detected\n"
        "detected_at: 2024-02-12T00:25:00+09:00\n"
        "timeline:\n  - at: 2024-02-12T00:25:00+09:00\n    text: p99 over 2 s\n"
    ),
    "INC-7.yaml": (
        "id: INC-7\ntitle: Checkout 500s\ngrade: SEV1\ndetected_at: 2024-02-12T00:25:00+09:00\n"
        "mitigated_at: 2024-02-12T00:20:00+09:00\n"
    ),
    "INC-8.yaml": (
        "id: INC-8\ntitle: Login errors\ngrade: SEV2\nstatus: investigating\ndetected_at: 2024-02-12T10:00:00+09:00\n"
        "timeline:\n  - at: 2024-02-12T10:00:00+09:00\n    text: alert fired\n"
        "  - at: 10:25\n    text: rolled back\n"
    ),
    "INC-9.yaml": "id: INC-9\ntitle: Banner missing\ngrade: SEV3\ntitle: Banner gone\n",
}


def test_the_readmes_validate_example_is_what_a_user_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (EXAMPLES.parent.parent / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"```text\n\$ incident-syncer validate incidents/\n(.*?)```", readme, re.S)
    assert shown is not None
    (tmp_path / "incidents").mkdir()
    for name, text in README_FILES.items():
        (tmp_path / "incidents" / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "incidents/"])
    assert result.exit_code == 2
    assert result.output == shown.group(1)
