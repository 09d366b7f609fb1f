"""Korean documents as a Korean team reads them: words, durations, defaults, times, empty values."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from adapters import memory
from syncer import config as config_mod
from syncer import markers
from syncer.cli import main
from tests.conftest import BANNER, ROOT, write_config
from tests.test_ingest_helpers import AM_EXAMPLE

KOREAN_GRADES = """
[grades."1등급"]
review = "전체 엔지니어"
[grades."2등급"]
description = "핵심 기능 일부 장애"
review = "엔지니어링 리드"
postmortem_due_days = 5
"""


def render(*args: str) -> str:
    result = CliRunner().invoke(main, ["render", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_an_empty_incident_reads_with_one_empty_mark_and_korean_grade_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "c.toml").write_text(KOREAN_GRADES, encoding="utf-8")
    (tmp_path / "m.yaml").write_text("id: INC-M\ntitle: 최소\ngrade: 2등급\n", encoding="utf-8")
    assert render("--config", "c.toml", "m.yaml") == (
        "# [2등급] 최소\n"
        "\n"
        "| | |\n"
        "|---|---|\n"
        "| 장애 식별자 | `INC-M` |\n"
        "| 장애 상태 | **인지** |\n"
        "| 장애 등급 | 2등급 |\n"
        "| 담당자 | — |\n"
        "| 서비스 | — |\n"
        "| 장애 발생 시간 | — |\n"
        "| 장애 인지 시간 | — |\n"
        "| 완화 시간 | — |\n"
        "| 해결 시간 | — |\n"
        "| 장애 인지 채널 | — |\n"
        "\n"
        "## 장애 증상\n—\n\n"
        "## 고객 영향도\n—\n\n"
        "## 장애 원인\n—\n\n"
        "## 장애 처리 방법\n—\n\n"
        "## 장애 타임라인\n"
        "아직 기록이 없습니다.\n"
        "\n"
        "장애 등급 2등급: 핵심 기능 일부 장애 · 리뷰 참석 범위: 엔지니어링 리드\n"
    )
    postmortem = render("--config", "c.toml", "m.yaml", "--doc", "postmortem")
    assert "등급 등급" not in postmortem
    assert postmortem.endswith(
        "## 장애 리뷰\n"
        "- 장애 등급 2등급: 핵심 기능 일부 장애\n"
        "- 리뷰 참석 범위: 엔지니어링 리드\n"
        "- 포스트모템 기한: —\n"
    )
    for line in postmortem.splitlines():
        assert line.strip() not in ("-", "- -") and not line.endswith(": -"), line
        assert "| - |" not in line, line


def test_durations_read_in_korean(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        "id: INC-D\ntitle: 긴 장애\ngrade: SEV2\nstatus: resolved\n"
        "started_at: 2024-02-12T00:00:00+09:00\ndetected_at: 2024-02-12T00:00:40+09:00\n"
        "mitigated_at: 2024-02-13T02:05:00+09:00\nresolved_at: 2024-02-14T03:00:00+09:00\n",
        encoding="utf-8",
    )
    notice = render("d.yaml")
    assert "| 장애 인지 시간 | 2024-02-12 00:00 KST (인지까지 40초) |" in notice
    assert "| 완화 시간 | 2024-02-13 02:05 KST (완화까지 1일 2시간 5분) |" in notice
    assert "| 해결 시간 | 2024-02-14 03:00 KST (해결까지 2일 3시간) |" in notice
    english = render("d.yaml", "--lang", "en")
    assert "| Mitigated | 2024-02-13 02:05 KST (time to mitigate: 1d 2h 5m) |" in english


def test_each_language_has_its_default_grades_and_the_config_overrides_them(
    tmp_path: Path,
) -> None:
    ko = render(str(BANNER))
    assert ko.splitlines()[-1] == (
        "장애 등급 SEV3: 기능이 저하되었지만 우회 방법이 있음 · 리뷰 참석 범위: 담당 팀 · "
        "포스트모템 기한 2024-02-22"
    )
    en = render(str(BANNER), "--lang", "en")
    assert en.splitlines()[-1] == (
        "_SEV3: Degraded, with a workaround. Review at SEV3: the owning team; "
        "postmortem due 2024-02-22._"
    )
    (tmp_path / "en.toml").write_text('[syncer]\nlanguage = "en"\n', encoding="utf-8")
    assert config_mod.load("en.toml").grade("SEV1").review == "all engineering"
    assert render("--config", "en.toml", str(BANNER), "--lang", "ko").splitlines()[-1] == (
        ko.splitlines()[-1].replace("2024-02-22", "2024-02-21")  # en's zone: UTC
    )
    (tmp_path / "own.toml").write_text(
        '[grades.SEV3]\nreview = "플랫폼팀 전체"\npostmortem_due_days = 7\n', encoding="utf-8"
    )
    own = render("--config", "own.toml", str(BANNER), "--lang", "en")
    assert own.splitlines()[-1] == "_Review at SEV3: 플랫폼팀 전체; postmortem due 2024-02-19._"


def test_without_a_config_language_and_timezone_agree(tmp_path: Path) -> None:
    assert config_mod.load(None).syncer.timezone == "Asia/Seoul"
    notice = render(str(BANNER))
    # The example says it started at 00:10 (its summary, its impact): so does the notice.
    assert "| 장애 발생 시간 | 2024-02-12 00:10 KST |" in notice
    assert "00:10~00:48 동안 홈 방문자 전원에게 메인 배너 미노출" in notice
    (tmp_path / "en.toml").write_text('[syncer]\nlanguage = "en"\n', encoding="utf-8")
    assert config_mod.load("en.toml").syncer.timezone == "UTC"
    (tmp_path / "mixed.toml").write_text(
        '[syncer]\nlanguage = "en"\ntimezone = "Asia/Seoul"\n', encoding="utf-8"
    )
    assert config_mod.load("mixed.toml").syncer.timezone == "Asia/Seoul"


def test_the_korean_notice_has_no_italics_and_mermaid_reads_clock_times() -> None:
    notice = render(str(BANNER))
    assert not any(line.startswith("_") or line.endswith("_") for line in notice.splitlines())
    postmortem = render(str(BANNER), "--doc", "postmortem")
    assert "        00∶10 : 기존 배너 노출 기간 종료, 홈 배너 영역 비어 있음" in postmortem
    assert "00.10" not in postmortem


# Every text the tool writes comes from the configured language's texts.j2.


def _sync(config: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result


def _issues(kind: str) -> list[dict[str, Any]]:
    return [i for i in memory.store("t").issues.values() if i["kind"] == kind]


def test_action_items_and_the_postmortem_title_are_in_korean(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "t"}})
    _sync(config, "sync", str(BANNER))
    (postmortem,) = _issues("postmortem")
    assert postmortem["title"] == "포스트모템: [SEV3] 메인 배너가 홈에 노출되지 않음"
    bodies = sorted(markers.strip(i["body"]).strip() for i in _issues("action_item"))
    assert bodies == [
        "INC-2024-0212-banner: 배너 노출 대상이 0건이면 알림 보내기\n- 담당: carol\n- 기한: 2024-02-20",
        "INC-2024-0212-banner: 배너 만료 7일 전 담당자에게 알림\n- 담당: dave\n- 기한: 2024-02-29",
    ]


def test_a_final_grade_is_recorded_in_the_configured_language(tmp_path: Path) -> None:
    for language, expected in (("en", "Grade SEV3 (final)"), ("ko", "장애 등급 SEV3 (최종 판정)")):
        memory._STORES.clear()
        config = write_config(
            tmp_path / f"{language}.toml",
            {"mem": {"type": "memory", "store": "t"}},
            language=language,
        )
        _sync(config, "open", "--title", "x", "--grade", "SEV3", "--id", "INC-G")
        _sync(config, "grade", "INC-G", "SEV3", "--final")
        (issue,) = _issues("incident")
        assert markers.strip(memory.texts(issue)[-1]).strip().endswith(expected)


def test_a_teams_own_texts_j2_words_every_entry(tmp_path: Path) -> None:
    folder = tmp_path / "tpl" / "ko"
    folder.mkdir(parents=True)
    builtin = (ROOT / "templates" / "ko" / "texts.j2").read_text(encoding="utf-8")
    (folder / "texts.j2").write_text(
        builtin.replace("장애 등급 변경:", "등급 조정:"), encoding="utf-8"
    )
    config = write_config(
        tmp_path / "c.toml", {"mem": {"type": "memory", "store": "t"}}, templates="tpl"
    )
    _sync(config, "open", "--title", "x", "--grade", "SEV3", "--id", "INC-G")
    _sync(config, "grade", "INC-G", "SEV1")
    (issue,) = _issues("incident")
    assert markers.strip(memory.texts(issue)[-1]).strip().endswith("등급 조정: SEV3 → SEV1")


# No English in a Korean document beyond names, identifiers and URLs.

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'_-]*[A-Za-z]")
PROPER_NAMES = {"KST", "Alertmanager"}  # a time zone's name; the sender's name


def _words(text: Any) -> set[str]:
    """The Latin-script words of ``text``: strings anywhere in nested data, without URLs."""
    if isinstance(text, dict):
        return set().union(*(_words(v) | _words(k) for k, v in text.items()))
    if isinstance(text, list):
        return set().union(*(_words(v) for v in text))
    text = re.sub(r"\]\([^)]*\)", "]", str(text))  # a link's address
    text = re.sub(r"[a-z][a-z0-9+.-]*://\S+", " ", text)  # a bare address
    return set(_LATIN_WORD.findall(text))


def _written(store: str = "t") -> str:
    """Everything written to the memory tracker, as a person sees it (markers aside, and the
    Mermaid diagram's keywords: diagram syntax, like an identifier)."""
    parts = []
    for issue in memory.store(store).issues.values():
        parts += [issue["title"], issue["body"], *memory.texts(issue)]
    text = "\n".join(markers.strip(p) for p in parts)
    return re.sub(r"```mermaid\n.*?```", "", text, flags=re.S)


def test_the_korean_example_holds_no_english_word_outside_names_ids_and_urls(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "c.toml", {"mem": {"type": "memory", "store": "t"}})
    _sync(config, "sync", str(BANNER))  # notice, timeline entries, postmortem, action items
    _sync(config, "grade", "INC-2024-0212-banner", "SEV2", "--final")
    _sync(config, "open", "--title", "결제 지연", "--grade", "SEV1", "--id", "INC-K",
          "--detection", "모니터링 알림", "--commander", "park")  # fmt: skip
    _sync(config, "note", "INC-K", "원인 파악 중")
    _sync(config, "resolve", "INC-K", "--resolution", "설정 되돌림")
    alert = AM_EXAMPLE.read_bytes()
    _sync(config, "ingest", "--source", "alertmanager", str(AM_EXAMPLE))
    user = yaml.safe_load(BANNER.read_text(encoding="utf-8"))  # what people wrote: theirs
    allowed = _words(user) | _words(json.loads(alert)) | PROPER_NAMES
    ids = [issue["incident"] for issue in memory.store("t").issues.values()]
    allowed |= _words([*ids, "park", "mem", "memory", *config_mod.load(str(config)).grades])
    english = sorted(_words(_written()) - allowed)
    assert english == []


KOREAN_DOCS = sorted([ROOT / "README.ko.md", *(ROOT / "docs").glob("*.ko.md")])
NAMES = {  # products, formats, standards: names, not English words to translate
    "GitHub", "Issues", "Actions", "Enterprise", "Server", "Jira", "Cloud", "Data", "Center",
    "Notion", "Alertmanager", "Grafana", "Prometheus", "Python", "PyPI", "YAML", "TOML", "JSON",
    "CSV", "incident-syncer", "Slack", "Microsoft", "Teams", "Jinja", "PagerDuty", "PostgreSQL",
    "SQLite", "Kubernetes", "Mermaid", "Atlassian", "Document", "Format", "ADF", "API", "REST",
    "HTTP", "HMAC", "NTP", "CI", "Starlette", "SEV", "Events", "Workflows", "Adaptive", "Card",
    "Block", "Kit", "Marketplace", "POST", "NHN",
    "JQL", "ASGI", "CPU", "MB", "ms",  # a query language, an interface, units
}  # fmt: skip
_SENTENCE = re.compile(r"[A-Za-z]+(?: [A-Za-z]+){2,}")  # three Latin words in a row
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _prose(text: str) -> str:
    """What a Korean reader reads as text: no code blocks, code spans, addresses."""
    prose = re.sub(r"```.*?```", " ", text, flags=re.S)  # commands and files: as typed
    return re.sub(r"`[^`]*`", " ", prose)  # identifiers: keys, commands, paths


def _comments(text: str) -> list[str]:
    """The comments of the code blocks (``# ...`` after a space or at a line's start)."""
    blocks = re.findall(r"```.*?```", text, flags=re.S)
    return [m.group(1) for b in blocks for m in re.finditer(r"(?:^|\s)#\s+([^#\n]*)$", b, re.M)]


def _english_comments(text: str) -> list[str]:
    """Comments without Korean that hold three English words in a row (names aside)."""

    def english(run: str) -> bool:
        words = [w not in NAMES for w in run.split()]
        return any(all(words[i : i + 3]) for i in range(len(words) - 2))

    return [
        c
        for c in _comments(text)
        if not _HANGUL.search(c) and any(english(r) for r in _SENTENCE.findall(c))
    ]


@pytest.mark.parametrize("doc", KOREAN_DOCS, ids=lambda p: p.name)
def test_a_korean_doc_holds_no_english_beyond_names_identifiers_and_urls(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    english = sorted(_words(_prose(text)) - NAMES)
    assert english == [], f"{doc.name}: English words outside code: {english}"
    # A comment in a code block is prose: Korean, or names and identifiers only.
    prose = _english_comments(text)
    assert prose == [], f"{doc.name}: English comments in code blocks: {prose}"


def test_the_english_check_fails_an_english_sentence() -> None:
    sentence = "장애를 엽니다. The incident is then synced to every tracker.\n"
    assert sorted(_words(_prose(sentence)) - NAMES) == [
        "The", "every", "incident", "is", "synced", "then", "to", "tracker",
    ]  # fmt: skip
    block = "```toml\nlease = 30   # seconds a claim lasts\n```\n"
    assert _english_comments(block) == ["seconds a claim lasts"]
    assert _english_comments("```sh\nx   # 또는: uv tool install x\n```") == []
    assert (
        _english_comments("```toml\n# url = 'https://h/api'  # GitHub Enterprise Server\n```") == []
    )


# The Korean README is README.md in Korean: every section, in the same order.
SECTIONS = {
    "Install": "설치",
    "Quick start per tracker": "트래커별 빠른 시작",
    "GitHub Issues": "GitHub Issues",
    "Jira (Cloud and Data Center)": "Jira (Cloud와 Data Center)",
    "Notion": "Notion",
    "Several trackers at once": "여러 트래커를 함께",
    "Without any account": "계정 없이",
    "Alert webhooks": "알림 웹훅",
    "Telling people": "장애 전파 (Slack, 웹훅)",
    "Running several replicas": "여러 복제본 운영",
    "GitHub Actions": "GitHub Actions",
    "Backfills": "지난 장애 옮기기",
    "The incident file": "장애 파일",
    "Commands": "명령",
    "Configuration": "설정",
    "What the tool owns, what people own": "도구의 몫, 사람의 몫",
    "Trust and permissions": "신뢰와 권한",
    "How it stays idempotent": "되풀이해도 안전한 이유",
    "Performance": "성능",
    "Development": "개발",
    "The modules, and the order data flows through them": "모듈, 그리고 자료가 지나가는 차례",
}
README = (ROOT / "README.md").read_text(encoding="utf-8")
README_KO = (ROOT / "README.ko.md").read_text(encoding="utf-8")


def _headings(text: str) -> list[str]:
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    return [h for h in re.findall(r"^###? (.+)$", text, re.M) if h not in ("Contents", "차례")]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower().replace("`", "")).replace(" ", "-")


def test_the_korean_readme_has_every_section_of_the_english_one_in_order() -> None:
    english = _headings(README)
    assert [h for h in english if h not in SECTIONS] == [], "README.md: a section not in Korean"
    assert _headings(README_KO) == [SECTIONS[h] for h in english]


@pytest.mark.parametrize("text", [README, README_KO], ids=["README.md", "README.ko.md"])
def test_the_table_of_contents_leads_to_every_section(text: str) -> None:
    contents = re.findall(r"^- \[(.+)\]\(#(.+)\)$", text, re.M)
    sections = re.findall(r"^## (.+)$", re.sub(r"```.*?```", " ", text, flags=re.S), re.M)
    assert [title for title, _ in contents] == sections[1:]  # all but the contents
    assert [anchor for _, anchor in contents] == [_slug(s) for s in sections[1:]]


# Code blocks stay as they are: the same commands and configuration in both, comments aside.
TRANSLATED_BLOCKS = ("id: INC-2024-0212-banner", "incident file → loader")  # a table; the map


def _blocks(text: str) -> list[str]:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    return [
        "\n".join(re.sub(r"(?:^|\s+)#\s.*$", "", line).rstrip() for line in block.splitlines())
        for block in blocks
    ]


def test_the_korean_readme_shows_the_same_code_as_the_english_one() -> None:
    english = [b for b in _blocks(README) if not b.lstrip().startswith(TRANSLATED_BLOCKS)]
    korean = _blocks(README_KO)
    assert [b for b in english if b not in korean] == []


def test_the_korean_readme_uses_the_process_terms() -> None:
    for term in (
        "장애 발생 시간",
        "장애 인지 채널",
        "고객 영향도",
        "재발 방지 대책",
        "다섯 번의 왜",
        "장애 공지",
        "장애 전파",
        "장애 등급 최종 판정",
        "포스트모템",
    ):
        assert term in README_KO
    assert "[README.ko.md](README.ko.md)" in README


@pytest.mark.parametrize(
    "doc", [ROOT / "README.md", *KOREAN_DOCS], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_link_of_the_readmes_and_korean_docs_leads_somewhere(doc: Path) -> None:
    """A link to a file in the repository names one that exists; its #anchor, a heading there."""
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"```.*?```", " ", text, flags=re.S)):
        if re.match(r"[a-z]+:", target):
            continue  # an address outside the repository
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md":
            body = re.sub(r"```.*?```", " ", linked.read_text(encoding="utf-8"), flags=re.S)
            if anchor not in {_slug(h) for h in re.findall(r"^#+ (.+)$", body, re.M)}:
                broken.append(target)
    assert broken == []
