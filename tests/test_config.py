"""Configuration: unknown keys by name and line, secrets only from the environment, clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer import config, logs, secrets
from syncer.cli import main
from syncer.errors import ConfigError
from tests.conftest import BANNER, ROOT


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_example_config_parses_and_documents_every_section() -> None:
    cfg = config.load(str(ROOT / "config.example.toml"))
    assert cfg.grade_names == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert {t["type"] for t in cfg.trackers.values()} >= {"github", "jira", "notion"}
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for key in config.SyncerSection.model_fields:
        assert f"{key} =" in text, key
    for key in config.ServeSection.model_fields:
        assert f"{key} =" in text, key
    for key in config.IngestSection.model_fields:
        assert f"{key} =" in text, key


def test_unknown_keys_are_named_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[syncer]\nlanguage = "en"\nlangauge = "ko"\n\n[grades.SEV1]\ncolour = "ff0000"\n',
        encoding="utf-8",
    )
    code, _, err = run("--config", str(path), "render", str(BANNER))
    assert code == 2
    assert err == (
        f"Error: {path}:3: syncer.langauge: unknown key\n"
        f"Error: {path}:6: grades.SEV1.colour: unknown key\n"
    )


def test_toml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[syncer]\nlanguage = "en\n', encoding="utf-8")
    code, _, err = run("--config", str(path), "render", str(BANNER))
    assert code == 2
    assert err == f"Error: {path}:2: TOML syntax error: Illegal character '\\n'\n"


def test_a_missing_secret_names_the_variable_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_TOKEN", raising=False)
    path = tmp_path / "c.toml"
    path.write_text(
        '[trackers.gh]\ntype = "github"\nrepo = "a/b"\ntoken_env = "MY_TOKEN"\n', encoding="utf-8"
    )
    code, _, err = run("--config", str(path), "sync", str(BANNER))
    assert code == 2
    assert err == (
        "Error: environment variable MY_TOKEN is not set (named by trackers.gh.token_env); "
        "secrets are read only from the environment\n"
    )


def test_unknown_tracker_type(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[trackers.x]\ntype = "redmine"\n', encoding="utf-8")
    code, _, err = run("--config", str(path), "sync", str(BANNER))
    assert code == 2
    assert (
        err == "Error: unknown tracker type 'redmine'; known types: github, jira, memory, notion\n"
    )


def test_a_tracker_table_is_validated_by_its_adapter(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[trackers.m]\ntype = "memory"\nstroe = "x"\n', encoding="utf-8")
    code, _, err = run("--config", str(path), "sync", str(BANNER))
    assert code == 2
    assert err == f"Error: {path}:3: trackers.m.stroe: unknown key\n"


def test_sync_without_config_explains_where_it_looks() -> None:
    code, _, err = run("sync", str(BANNER))
    assert code == 2
    assert err == (
        "Error: no configuration: pass --config, set INCIDENT_SYNCER_CONFIG, or create "
        "./incident-syncer.toml (config.example.toml documents every key)\n"
    )


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('[syncer]\nlanguage = "en"\n', encoding="utf-8")
    monkeypatch.setenv("INCIDENT_SYNCER_CONFIG", str(path))
    code, out, _ = run("render", str(BANNER))
    assert (code, out) == run("--config", str(path), "render", str(BANNER))[:2]
    assert out.startswith("# [SEV3] 메인 배너가 홈에 노출되지 않음\n\n| | |\n")


def test_secrets_are_redacted_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_TOKEN", "ghp_supersecretvalue123")
    value = secrets.from_env("SOME_TOKEN", setting="x")
    assert value.get_secret_value() == "ghp_supersecretvalue123"
    assert "ghp_" not in repr(value)
    assert (
        secrets.redact("Authorization: token ghp_supersecretvalue123")
        == "Authorization: token <secret>"
    )
    with pytest.raises(ConfigError, match="environment variable NOPE_NOT_SET is not set"):
        secrets.from_env("NOPE_NOT_SET", setting="trackers.x.token_env")


def test_a_logged_traceback_is_redacted_like_its_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOME_TOKEN", "ghp_tracebacksecret456")
    secrets.from_env("SOME_TOKEN", setting="x")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup(0, outcomes=True)
        try:
            raise RuntimeError("401 for Authorization: token ghp_tracebacksecret456")
        except RuntimeError:
            logging.getLogger("syncer.serve").exception("delivery 7: unexpected error")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logging.captureWarnings(False)
    err = capsys.readouterr().err
    assert err.startswith("ERROR syncer.serve: delivery 7: unexpected error\nTraceback ")
    assert err.endswith("\nRuntimeError: 401 for Authorization: token <secret>\n")
    assert "ghp_tracebacksecret456" not in err


def test_grades_are_ordered_most_severe_first(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[grades.P1]\nreview = "all"\n[grades.P2]\n[grades.P3]\n', encoding="utf-8")
    cfg = config.load(str(path))
    assert cfg.grade_names == ["P1", "P2", "P3"]
    assert cfg.grade_rank("P1") < cfg.grade_rank("P3") < cfg.grade_rank("SEV1")
    assert cfg.grade_label("P2") == "grade:P2"


@pytest.mark.parametrize("type_name", ["github", "jira", "notion", "memory"])
def test_the_example_config_documents_every_tracker_key(type_name: str) -> None:
    from syncer import registry

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    settings = registry.adapter_class(type_name).Settings
    missing = [key for key in settings.model_fields if f"{key} =" not in text]
    assert missing == []
    cfg = config.load(str(ROOT / "config.example.toml"))
    for table in cfg.trackers.values():
        if table["type"] == type_name:
            settings.model_validate(table)


def test_the_example_config_documents_every_backfill_key() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    section = config.Config.model_fields["backfill"].annotation
    assert section is not None and hasattr(section, "model_fields")
    fields = [k for k in section.model_fields if k not in ("columns", "values")]
    assert [k for k in fields if f"{k} =" not in text] == []
    assert "[backfill.columns]" in text and "[backfill.values." in text


@pytest.mark.parametrize("type_name", ["slack", "webhook"])
def test_the_example_config_documents_every_channel_key(type_name: str) -> None:
    from syncer import channel_registry

    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    settings = channel_registry.channel_class(type_name).Settings
    assert [key for key in settings.model_fields if f"{key} =" not in text] == []
    cfg = config.load(str(ROOT / "config.example.toml"))
    assert [t["type"] for t in cfg.channels.values()].count(type_name) == 1
    for table in cfg.channels.values():
        if table["type"] == type_name:
            settings.model_validate(table)
    assert [k for k in config.Grade.model_fields if f"{k} =" not in text] == []


def test_channels_are_checked_against_trackers_and_grades(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[trackers.ops]\ntype = "memory"\n[channels.ops]\ntype = "webhook"\n'
        '[grades.SEV1]\nchannels = ["pager"]\n',
        encoding="utf-8",
    )
    code, _, err = run("--config", str(path), "render", str(BANNER))
    assert code == 2
    assert err.splitlines() == [
        f"Error: {path}: [channels.ops] has the name of a tracker: give channels and trackers "
        "different names (the journal keeps both by name)",
    ]


@pytest.mark.parametrize(
    ("table", "key", "line", "reason"),
    [
        (
            'type = "github"\nrepo = "a/b"\npostmortem_path = "../{id}.md"',
            "trackers.gh.postmortem_path",
            4,
            "'../{id}.md' climbs out of its root with '..'",
        ),
        (
            'type = "github"\nrepo = "a/b"\npostmortem_path = "docs/../../x/{id}.md"',
            "trackers.gh.postmortem_path",
            4,
            "'docs/../../x/{id}.md' climbs out of its root with '..'",
        ),
        (
            'type = "github"\nrepo = "a/b"\npostmortem_path = "/etc/{id}.md"',
            "trackers.gh.postmortem_path",
            4,
            "'/etc/{id}.md' is absolute; give a path relative to its root",
        ),
        (
            # Any tracker type's *_path key, third-party ones included, is checked at load.
            'type = "memory"\nexport_path = "..\\\\..\\\\secrets"',
            "trackers.gh.export_path",
            3,
            "'..\\\\..\\\\secrets' climbs out of its root with '..'",
        ),
    ],
)
def test_paths_that_climb_out_or_start_elsewhere_are_refused_at_load(
    tmp_path: Path, table: str, key: str, line: int, reason: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[trackers.gh]\n{table}\n", encoding="utf-8")
    code, out, err = run("--config", str(path), "validate", str(BANNER))
    assert code == 2
    assert err == f"Error: {path}:{line}: {key}: {reason}\n"
    assert out == ""


@pytest.mark.parametrize("value", ["../shared", "/etc/incident-syncer/templates", "~/tpl"])
def test_a_template_folder_outside_the_configuration_folder_is_refused(
    tmp_path: Path, value: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[syncer]\ntemplates = "{value}"\n', encoding="utf-8")
    code, _, err = run("--config", str(path), "render", str(BANNER))
    assert code == 2
    assert err.startswith(f"Error: {path}:2: syncer.templates: '{value}'")


def test_a_branch_name_git_refuses_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_not-used-0123456789")
    path = tmp_path / "c.toml"
    path.write_text(
        '[trackers.gh]\ntype = "github"\nrepo = "a/b"\npostmortem = "file"\n'
        'postmortem_branch = "../main"\nbase_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    code, _, err = run("--config", str(path), "sync", str(BANNER), "--dry-run")
    assert code == 2
    assert err == (
        f"Error: {path}:5: trackers.gh.postmortem_branch: '../main' is not a branch name git "
        "accepts\n"
    )
