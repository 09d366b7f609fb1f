"""Spreadsheet exports (CSV with Korean headers, JSON lines) into incidents."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syncer import cells, tabular
from syncer import config as config_mod
from syncer.errors import InputError, InputErrors
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "backfill"
SEOUL = ZoneInfo("Asia/Seoul")
KST = "+09:00"


def example_config() -> config_mod.Config:
    return config_mod.load(str(EXAMPLE / "incident-syncer.toml"))


def messages(errors: list[InputError]) -> list[str]:
    out: list[str] = []
    for e in errors:
        out.extend(str(x) for x in (e.errors if isinstance(e, InputErrors) else [e]))
    return out


def test_the_example_export_with_korean_headers_imports_exactly() -> None:
    table = tabular.read(EXAMPLE / "incidents.csv", example_config())
    assert table.errors == []
    assert table.ignored == ["비고"]  # a column nobody mapped is reported, not fatal
    by_id = {row.incident.id: row for row in table.rows}
    assert list(by_id) == ["INC-2023-0907-login", "INC-2023-1130-batch", "INC-2024-0115-push"]

    login = by_id["INC-2023-0907-login"].incident
    assert by_id["INC-2023-0907-login"].line == 2
    assert (login.title, login.grade, login.status.value) == (
        "로그인 API 응답 지연",
        "SEV2",
        "resolved",
    )
    assert login.services == ["auth", "gateway"]
    assert login.started_at == datetime.fromisoformat(f"2023-09-07T14:02:00{KST}")
    assert login.detection == "Alertmanager"
    assert [(e.at.strftime("%H:%M"), e.kind.value, e.text) for e in login.timeline] == [
        ("14:05", "detection", "p99 지연 알림"),
        ("14:12", "action", "장애 채널 생성, auth 팀 전파"),
        ("14:31", "action", "커넥션 풀 확장, 재시작"),
        ("15:10", "status", "지표 정상화 확인, 장애 종료"),
    ]
    assert login.postmortem is not None
    assert login.postmortem.root_cause == "배포 설정에서 풀 크기가 기본값으로 돌아감"
    items = [(a.title, a.owner, a.due and a.due.isoformat()) for a in login.postmortem.action_items]
    assert items == [
        ("풀 크기 설정을 코드로 관리", "bob", "2023-09-20"),
        ("커넥션 고갈 알림 추가", "carol", None),
    ]

    batch = by_id["INC-2023-1130-batch"]
    # The first row's timeline cell spans 3 lines, so the second row starts on line 5.
    assert batch.line == 5
    inc = batch.incident
    assert inc.status.value == "closed" and inc.grade == "SEV3"
    # Google Sheets' Korean date format, 오후/오전 included.
    assert inc.started_at == datetime.fromisoformat(f"2023-11-30T23:40:00{KST}")
    assert inc.detected_at == datetime.fromisoformat(f"2023-12-01T00:05:00{KST}")
    # Time-only entries cross midnight; an entry with its own date keeps it.
    assert [e.at.isoformat() for e in inc.timeline] == [
        f"2023-11-30T23:50:00{KST}",
        f"2023-12-01T00:20:00{KST}",
        f"2023-12-01T01:20:00{KST}",
        f"2023-12-01T02:00:00{KST}",
    ]
    assert inc.postmortem is None

    push = by_id["INC-2024-0115-push"].incident
    assert push.status.value == "mitigated" and push.grade == "SEV4" and push.resolved_at is None


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2024-02-12 00:25", f"2024-02-12T00:25:00{KST}"),
        ("2024-02-12T00:25:00+09:00", f"2024-02-12T00:25:00{KST}"),
        ("2024-02-11T15:25:00Z", "2024-02-11T15:25:00+00:00"),
        ("2024/02/12 00:25", f"2024-02-12T00:25:00{KST}"),
        ("2024.02.12 00:25:30", f"2024-02-12T00:25:30{KST}"),
        ("2024. 2. 12. 오전 12:25:00", f"2024-02-12T00:25:00{KST}"),
        ("2024. 2. 12. 오후 12:05", f"2024-02-12T12:05:00{KST}"),
        ("2024. 2. 12 오후 3:05", f"2024-02-12T15:05:00{KST}"),
        ("2024-02-12 3:05 PM", None),
        ("2024-02-12", f"2024-02-12T00:00:00{KST}"),
        ("2024-02-12 00:25 +0900", f"2024-02-12T00:25:00{KST}"),
    ],
)
def test_time_cells(cell: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="is not a time"):
            cells.parse_time(cell, SEOUL)
    else:
        assert cells.parse_time(cell, SEOUL).isoformat() == expected


def test_impossible_dates_are_errors() -> None:
    with pytest.raises(ValueError, match="2024-02-30"):
        cells.parse_time("2024-02-30 10:00", SEOUL)


def start() -> datetime:
    return datetime(2024, 2, 12, 0, 10, tzinfo=SEOUL)


def test_compact_timeline_on_one_line_keeps_semicolons_inside_text() -> None:
    entries = cells.parse_timeline(
        "00:25 CS팀 문의로 인지; 원인 미상; 00:48 - [조치] 롤백", SEOUL, start()
    )
    assert [(e["at"].strftime("%H:%M"), e.get("kind"), e["text"]) for e in entries] == [
        ("00:25", None, "CS팀 문의로 인지; 원인 미상"),
        ("00:48", "action", "롤백"),
    ]


def test_compact_timeline_with_dates_separators_and_english_kinds() -> None:
    text = (
        "2024-02-12 00:25 | [detection] paged\n2024-02-13 09:00 · [note] review booked\n09:30 done"
    )
    entries = cells.parse_timeline(text, SEOUL, None)
    assert [e["at"].isoformat() for e in entries] == [
        f"2024-02-12T00:25:00{KST}",
        f"2024-02-13T09:00:00{KST}",
        f"2024-02-13T09:30:00{KST}",
    ]
    assert [e.get("kind") for e in entries] == ["detection", "note", None]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("롤백 완료", "expected 'HH:MM text'"),
        ("00:25", "expected 'HH:MM text'"),
        ("25:61 늦음", "is not a time"),
        ("00:25 [휴식] 쉬는 중", "unknown kind \\[휴식\\]"),
    ],
)
def test_bad_timeline_cells_say_what_is_expected(cell: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cells.parse_timeline(cell, SEOUL, start())


def test_a_time_only_entry_needs_a_date_from_somewhere() -> None:
    with pytest.raises(ValueError, match="has no date"):
        cells.parse_timeline("00:25 인지", SEOUL, None)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


HEADER = "장애 ID,제목,등급,상태,발생 시간,해결 시간,타임라인\n"


def test_malformed_rows_are_reported_with_their_line_and_column_and_skipped(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "export.csv",
        HEADER
        + 'INC-1,정상 1,2등급,해결,2024-01-01 10:00,2024-01-01 11:00,"10:05 인지\n10:30 [조치] 롤백"\n'
        + "INC-2,등급이 틀림,9등급,해결,2024-01-02 10:00,2024-01-02 11:00,10:05 인지\n"
        + "INC-3,시간이 틀림,3등급,해결,어제 밤,2024-01-03 11:00,\n"
        + "INC-4,,3등급,해결,2024-01-04 10:00,2024-01-04 11:00,\n"
        + "INC-5,칸이 많음,3등급,해결,2024-01-05 10:00,2024-01-05 11:00,,남는 칸\n"
        + "INC-6,순서가 틀림,3등급,해결,2024-01-06 10:00,2024-01-06 09:00,\n"
        + "bad id!,아이디가 틀림,3등급,해결,2024-01-07 10:00,2024-01-07 11:00,\n"
        + "INC-1,중복,3등급,해결,2024-01-08 10:00,2024-01-08 11:00,\n"
        + "\n"
        + "INC-9,정상 9,4등급,,2024-01-09 10:00,,09:00 [인지] 전날 밤부터\n",
    )
    table = tabular.read(path, example_config())
    assert [r.incident.id for r in table.rows] == ["INC-1", "INC-9"]
    assert [(r.line, r.incident.status.value) for r in table.rows] == [
        (2, "resolved"),
        (12, "detected"),
    ]
    got = messages(table.errors)
    name = str(path)
    assert got[0] == (
        f"{name}:4: 등급: unknown grade '9등급'; expected one of: SEV1, SEV2, SEV3, SEV4"
    )
    assert got[1].startswith(f"{name}:5: 발생 시간: '어제 밤' is not a time; expected e.g.")
    assert got[2] == f"{name}:6: 제목: required: the cell is empty"
    assert got[3].startswith(f"{name}:7: the row has 8 cells but the header has 7")
    assert got[4].startswith(
        f"{name}:8: 해결 시간: resolved_at (2024-01-06T09:00:00+09:00) is before"
    )
    assert got[5].startswith(f"{name}:9: 장애 ID: 'bad id!' is not a valid id")
    assert got[6] == f"{name}:10: 장애 ID: incident id INC-1 is also on line 2"
    assert len(got) == 7
    # The day of a time-only entry before the start is the start's day (no guessing backwards).
    assert table.rows[1].incident.timeline[0].at.isoformat() == f"2024-01-09T09:00:00{KST}"


def test_a_header_that_the_mapping_does_not_fit_stops_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "export.csv", "ID,Name\nINC-1,x\n")
    with pytest.raises(InputError) as caught:
        tabular.read(path, example_config())
    text = str(caught.value)
    assert text.startswith(
        f"{path}:1: no column for id, title, grade: the header row has 'ID', 'Name'"
    )
    assert "'장애 ID' → id" in text


def test_without_a_mapping_field_names_are_the_headers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "plain.tsv",
        "id\ttitle\tgrade\tstarted_at\tresolved_at\tservices\tnotes\n"
        "INC-1\tDisk full\tSEV2\t2024-01-01 10:00\t2024-01-01 12:00\tdb, api\tignored\n",
    )
    table = tabular.read(path, config_mod.parse({"syncer": {"timezone": "Asia/Seoul"}}, None))
    (row,) = table.rows
    assert row.incident.status.value == "resolved"  # inferred from the times
    assert row.incident.services == ["db", "api"]
    assert table.ignored == ["notes"]


def test_excel_korean_exports_need_their_encoding(tmp_path: Path) -> None:
    text = HEADER + "INC-1,배너 미노출,3등급,해결,2024-01-01 10:00,2024-01-01 11:00,10:05 인지\n"
    path = write(tmp_path, "excel.csv", text, encoding="cp949")
    with pytest.raises(InputError, match=r'not utf-8-sig text .*encoding = "cp949"'):
        tabular.read(path, example_config())
    data = example_config().model_dump() | {"backfill": example_config().backfill.model_dump()}
    data["backfill"]["encoding"] = "cp949"
    cfg = config_mod.parse({k: v for k, v in data.items() if k != "path"}, None)
    (row,) = tabular.read(path, cfg).rows
    assert row.incident.title == "배너 미노출"


def test_json_lines_map_keys_and_pass_native_values_through(tmp_path: Path) -> None:
    lines = [
        {
            "장애 ID": "INC-1",
            "제목": "결제 지연",
            "등급": "2등급",
            "발생 시간": "2024-03-05 14:00",
            "해결 시간": "2024-03-05 15:00",
            "타임라인": "14:05 [인지] 알림",
        },
        {
            "id": "INC-2",
            "title": "native",
            "grade": "SEV3",
            "status": "resolved",
            "started_at": "2024-03-06T10:00:00+09:00",
            "resolved_at": "2024-03-06T11:00:00+09:00",
            "timeline": [{"at": "2024-03-06T10:05:00+09:00", "text": "paged", "kind": "detection"}],
            "postmortem": {"summary": "short", "action_items": [{"title": "add alert"}]},
        },
    ]
    text = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n{not json\n[1, 2]\n"
    table = tabular.read(write(tmp_path, "wiki.jsonl", text), example_config())
    assert [r.incident.id for r in table.rows] == ["INC-1", "INC-2"]
    assert table.rows[0].incident.timeline[0].kind.value == "detection"
    second = table.rows[1].incident
    assert second.postmortem is not None and second.postmortem.action_items[0].title == "add alert"
    assert [str(e) for e in table.errors] == [
        f"{tmp_path / 'wiki.jsonl'}:3: JSON syntax error: Expecting property name enclosed in double quotes",
        f"{tmp_path / 'wiki.jsonl'}:4: expected one JSON object per line",
    ]


def test_links_cells() -> None:
    assert cells.parse_links(
        "Grafana https://grafana.example.com/d/1\n[Runbook](https://wiki.example.com/rb); https://x.example.com/a"
    ) == [
        {"title": "Grafana", "url": "https://grafana.example.com/d/1"},
        {"title": "Runbook", "url": "https://wiki.example.com/rb"},
        {"title": "x.example.com", "url": "https://x.example.com/a"},
    ]
    with pytest.raises(ValueError, match="has no http"):
        cells.parse_links("대시보드")


def test_the_mapping_is_checked_when_the_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[backfill.columns]\n"장애 ID" = "incident_id"\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        config_mod.load(str(path))
    assert "column '장애 ID' maps to unknown field 'incident_id'" in str(caught.value)
    path.write_text('[backfill.columns]\n"A" = "id"\n"B" = "id"\n', encoding="utf-8")
    with pytest.raises(InputError, match="columns 'A' and 'B' both map to 'id'"):
        config_mod.load(str(path))
    path.write_text('[backfill]\nencoding = "klingon"\n', encoding="utf-8")
    with pytest.raises(InputError, match="unknown text encoding 'klingon'"):
        config_mod.load(str(path))


def test_the_example_config_documents_every_backfill_key() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    cfg = config_mod.load(str(ROOT / "config.example.toml"))
    for key in config_mod.BackfillSection.model_fields:
        assert f"{key} =" in text or f"[backfill.{key}" in text, key
    assert cfg.backfill.columns == example_config().backfill.columns
