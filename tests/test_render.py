"""`render`: complete notice and postmortem documents, Korean and English; user text stays data."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer.cli import main
from tests.conftest import BANNER, CHECKOUT, golden, write_config


def render(*args: str) -> str:
    result = CliRunner().invoke(main, ["render", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def seoul(tmp_path: Path) -> Path:
    return write_config(tmp_path / "c.toml", {}, timezone="Asia/Seoul", language="ko")


def test_korean_postmortem_has_every_field_of_the_process(seoul: Path) -> None:
    out = render("--config", str(seoul), str(BANNER), "--doc", "postmortem")
    for heading in (
        "# 포스트모템: 메인 배너가 홈에 노출되지 않음",
        "## 장애 요약",
        "## 영향도",
        "## 장애 탐지",
        "## 근본 원인",
        "## 해결책",
        "## 다섯 번의 왜",
        "### 잘 진행된 부분",
        "### 미흡했던 부분",
        "### 운이 좋았던 부분",
        "## 시간대별 조치 사항 (타임라인)",
        "## 재발 방지 대책",
        "## 추가 정보 (링크)",
        "## 장애 리뷰",
    ):
        assert heading in out.splitlines(), heading
    assert out == golden("banner.postmortem.ko.md", out)


def test_english_postmortem(seoul: Path) -> None:
    out = render("--config", str(seoul), str(CHECKOUT), "--doc", "postmortem", "--lang", "en")
    assert out == golden("checkout.postmortem.en.md", out)


def test_notice_in_both_languages(seoul: Path) -> None:
    ko = render("--config", str(seoul), str(BANNER), "--doc", "notice")
    assert ko == golden("banner.notice.ko.md", ko)
    en = render("--config", str(seoul), str(CHECKOUT), "--doc", "notice", "--lang", "en")
    assert en == golden("checkout.notice.en.md", en)


def test_user_text_is_never_template_code(tmp_path: Path) -> None:
    (tmp_path / "inc.yaml").write_text(
        "id: INC-X\ntitle: '{{ 7*7 }} {% raw %}'\ngrade: SEV2\nsymptoms: '{{ config }}'\n",
        encoding="utf-8",
    )
    out = render("inc.yaml", "--lang", "en")
    assert out == golden("template-code.notice.en.md", out)
    assert out.splitlines()[0] == "# [SEV2] {{ 7\\*7 }} {% raw %}"
    assert "## Symptoms\n{{ config }}\n" in out


def test_a_users_template_folder_overrides_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "tpl" / "en"
    folder.mkdir(parents=True)
    (folder / "notice.md.j2").write_text("CUSTOM {{ i.id }} {{ grade.name }}\n", encoding="utf-8")
    cfg = write_config(tmp_path / "c.toml", {}, templates="tpl", language="en")
    assert render("--config", str(cfg), str(BANNER)) == "CUSTOM INC-2024-0212-banner SEV3\n"
    # The postmortem, which the folder does not override, is the built-in one.
    plain = write_config(tmp_path / "plain.toml", {}, language="en")
    postmortem = ("--doc", "postmortem")
    assert render("--config", str(cfg), str(BANNER), *postmortem) == render(
        "--config", str(plain), str(BANNER), *postmortem
    )


def test_an_undefined_variable_in_a_template_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "tpl" / "en"
    folder.mkdir(parents=True)
    (folder / "notice.md.j2").write_text("{{ nope.x }}\n", encoding="utf-8")
    cfg = write_config(tmp_path / "c.toml", {}, templates="tpl", language="en")
    result = CliRunner().invoke(main, ["--config", str(cfg), "render", str(BANNER)])
    assert result.exit_code == 2
    assert result.output == "Error: template en/notice.md.j2: 'nope' is undefined\n"


def test_a_sync_renders_in_linear_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each entry is formatted a fixed number of times per sync, however long the timeline is:
    its own comment, and one row in each document (notice, postmortem) rendered once."""
    from collections import Counter

    from syncer import config as config_mod
    from syncer import loader, registry
    from syncer.engine import Engine
    from syncer.model import Incident
    from syncer.render import Renderer

    counted: Counter[str] = Counter()
    for name in ("_event_view", "_fill", "_mermaid"):
        original = getattr(Renderer, name)

        def counting(
            self: Renderer, *args: object, __f: object = original, __n: str = name
        ) -> object:
            counted[__n] += 1
            return __f(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(Renderer, name, counting)

    cfg = config_mod.load(str(write_config(tmp_path / "c.toml", {"m": {"type": "memory"}})))
    base = loader.load_file(CHECKOUT, cfg).incident.to_data()
    runs = {}
    for n in (10, 100):
        counted.clear()
        events = [
            {"at": f"2024-03-05T{15 + m // 60:02d}:{m % 60:02d}:00+09:00", "text": f"step {m}"}
            for m in range(n)
        ]
        data = base | {"id": f"INC-linear-{n}", "timeline": events}
        incident = Incident.model_validate(data, context=cfg.context())
        Engine(cfg, registry.build_all(cfg)).sync(incident)
        runs[n] = dict(counted)
    # An entry is formatted twice: for its comment and for the timeline's rows, which the
    # notice and the postmortem share (with one Mermaid diagram built from them).
    assert runs[10]["_event_view"] == 2 * 10 and runs[100]["_event_view"] == 2 * 100
    assert runs[10]["_mermaid"] == runs[100]["_mermaid"] == 1
    # One comment per entry; the notice and the postmortem once for each set of links they
    # carry (a new issue's notice gains the postmortem's link once it is published).
    assert runs[100]["_fill"] - 100 == runs[10]["_fill"] - 10 <= 4
