"""`render`: complete notice and postmortem documents, Korean and English; user text stays data."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from syncer.cli import main
from tests.conftest import BANNER, CHECKOUT, write_config


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
    assert "| 장애 날짜 | 2024-02-12 |" in out
    assert "| 장애 시간 | 2024-02-12 00:10 KST → 2024-02-12 01:30 KST |" in out
    assert "| 장애 기간 | 1시간 20분 (인지 15분, 완화 38분, 해결 1시간 20분) |" in out
    assert (
        "| 작성자 | bob |" in out
        and "| 장애 상태 | 해결 |" in out
        and "| 장애 등급 | SEV3 (최종) |" in out
    )
    assert "1. **Q1** 왜 메인 배너가 홈에 노출되지 않았나?" in out
    assert "5. **Q5** 왜 담당자는 배너 등록 관리를 수동으로 했나?" in out
    assert "   **A5** 배너의 관리 도구가 없어서 수동으로 직접 등록 여부를 확인하고 있다." in out
    assert "- 새벽 시간대라 방문자가 적었다." in out
    assert "- [ ] 배너 노출 대상이 0건이면 알림 보내기 (담당: carol), 기한 2024-02-20" in out
    assert "```mermaid\ntimeline\n    title INC-2024-0212-banner\n    section 2024-02-12\n" in out
    assert "        00∶25 : CS팀 문의로 배너 미노출 인지" in out
    assert "| 2024-02-12 00:31 KST | 조치 | 장애 채널 #inc-banner 생성, frontend 팀 전파 |" in out
    assert "- [Grafana 홈 대시보드](https://grafana.example.com/d/home)" in out
    assert "- 장애 등급 SEV3: 기능이 저하되었지만 우회 방법이 있음" in out
    assert "- 리뷰 참석 범위: 담당 팀" in out
    assert "- 포스트모템 기한: 2024-02-22" in out
    assert "- 참석자: alice, bob, carol, dave" in out


def test_english_postmortem(seoul: Path) -> None:
    out = render("--config", str(seoul), str(CHECKOUT), "--doc", "postmortem", "--lang", "en")
    assert "# Postmortem: Checkout returns HTTP 500 after the payments deploy" in out
    assert "| Duration | 1h 8m (detect 2m, mitigate 17m, resolve 1h 8m) |" in out
    assert "1. **Why?** Why did checkout return 500?" in out
    assert "   **Because:** Contract tests were never part of the deploy pipeline." in out
    assert (
        "- [ ] Canary payments deploys at 5% for 10 minutes (owner: heidi), due 2024-03-22" in out
    )
    assert "- Audience at SEV1: all engineering" in out
    assert "## Root cause\nThe API contract between checkout and payments was not tested" in out


def test_notice_in_both_languages(seoul: Path) -> None:
    ko = render("--config", str(seoul), str(BANNER), "--doc", "notice")
    for line in (
        "## 장애 증상",
        "## 장애 타임라인",
        "## 고객 영향도",
        "## 장애 원인",
        "## 장애 처리 방법",
        "| 장애 인지 채널 | 고객 문의 (CS팀) |",
        "| 장애 발생 시간 | 2024-02-12 00:10 KST |",
    ):
        assert line in ko
    en = render("--config", str(seoul), str(CHECKOUT), "--doc", "notice", "--lang", "en")
    assert "| Detected via | Alertmanager (HTTP 5xx rate on checkout > 5%) |" in en
    assert (
        "| 2024-03-05 23:04 KST | detection | Alert: CheckoutHTTP5xx firing (7.8% of requests) |"
        in en
    )


def test_user_text_is_never_template_code(tmp_path: Path) -> None:
    (tmp_path / "inc.yaml").write_text(
        "id: INC-X\ntitle: '{{ 7*7 }} {% raw %}'\ngrade: SEV2\nsymptoms: '{{ config }}'\n",
        encoding="utf-8",
    )
    out = render("inc.yaml", "--lang", "en")
    assert "{{ 7\\*7 }} {% raw %}" in out.splitlines()[0]
    assert "{{ config }}" in out and "49" not in out


def test_a_users_template_folder_overrides_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "tpl" / "en"
    folder.mkdir(parents=True)
    (folder / "notice.md.j2").write_text("CUSTOM {{ i.id }} {{ grade.name }}\n", encoding="utf-8")
    cfg = write_config(tmp_path / "c.toml", {}, templates="tpl", language="en")
    assert render("--config", str(cfg), str(BANNER)) == "CUSTOM INC-2024-0212-banner SEV3\n"
    assert "# Postmortem:" in render("--config", str(cfg), str(BANNER), "--doc", "postmortem")


def test_an_undefined_variable_in_a_template_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "tpl" / "en"
    folder.mkdir(parents=True)
    (folder / "notice.md.j2").write_text("{{ nope.x }}\n", encoding="utf-8")
    cfg = write_config(tmp_path / "c.toml", {}, templates="tpl", language="en")
    result = CliRunner().invoke(main, ["--config", str(cfg), "render", str(BANNER)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: template en/notice.md.j2: 'nope' is undefined"


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
