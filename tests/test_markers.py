"""The tool's markers: signing, the trust rule, neutralising people's text, the owned section."""

from __future__ import annotations

import logging
import re

import pytest

from syncer import markers
from syncer.errors import ConfigError
from syncer.markers import Keys, Trust

KEY = "k" * 32
OLD_KEY = "o" * 32


def keys(*values: str) -> Keys:
    return Keys(tuple(v.encode() for v in values))


def test_a_signed_marker_verifies_and_a_changed_one_does_not() -> None:
    signed = keys(KEY).sign("event", {"id": "e-1"}, {"incident": "INC-1"})
    assert set(signed) == {"id", "sig"} and len(signed["sig"]) == markers.SIG_LENGTH
    assert keys(KEY).verify("event", signed, {"incident": "INC-1"})
    # Another incident, another id, another kind, another key: nothing verifies.
    assert not keys(KEY).verify("event", signed, {"incident": "INC-2"})
    assert not keys(KEY).verify("event", {**signed, "id": "e-2"}, {"incident": "INC-1"})
    assert not keys(KEY).verify("action", signed, {"incident": "INC-1"})
    assert not keys(OLD_KEY).verify("event", signed, {"incident": "INC-1"})
    assert not keys(KEY).verify("event", {"id": "e-1"}, {"incident": "INC-1"})


def test_without_a_key_nothing_is_signed_and_nothing_verifies() -> None:
    assert Keys().sign("event", {"id": "e-1"}) == {"id": "e-1"}
    assert not Keys().verify("event", {"id": "e-1", "sig": "0" * 16})


def test_every_key_verifies_and_the_first_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKER_KEY", f"{KEY} {OLD_KEY}")
    both = Keys.from_env("MARKER_KEY")
    old = keys(OLD_KEY).sign("begin", {"id": "INC-1", "digest": "d"})
    assert both.verify("begin", old)
    assert both.sign("begin", {"id": "INC-1", "digest": "d"}) == keys(KEY).sign(
        "begin", {"id": "INC-1", "digest": "d"}
    )


def test_a_short_key_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKER_KEY", "short")
    with pytest.raises(ConfigError, match=r"a marker key in \$MARKER_KEY is 5 characters"):
        Keys.from_env("MARKER_KEY")


def test_the_key_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from syncer.secrets import redact

    monkeypatch.setenv("MARKER_KEY", "a-marker-key-nobody-may-see-0123")
    Keys.from_env("MARKER_KEY")
    assert redact("key=a-marker-key-nobody-may-see-0123") == "key=<secret>"


def test_trust_counts_signed_markers_whoever_wrote_them_and_asks_no_identity() -> None:
    asked: list[int] = []
    trust = Trust("t", keys(KEY), whoami=lambda: asked.append(1) or ["bot"])
    signed = trust.sign("event", {"id": "e-1"}, {"incident": "INC-1"})
    assert trust.counts("event", signed, "someone-else", bound={"incident": "INC-1"})
    assert asked == []


def test_unsigned_markers_count_only_from_the_tool_and_the_identity_is_asked_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asked: list[int] = []
    trust = Trust(
        "gh", Keys(), authors=frozenset({"alice"}), whoami=lambda: asked.append(1) or ["bot"]
    )
    assert trust.counts("event", {"id": "e-1"}, "bot")
    assert trust.counts("event", {"id": "e-1"}, "alice")
    with caplog.at_level(logging.INFO, logger="syncer.trust"):
        assert not trust.counts("event", {"id": "e-1"}, "mallory", "#3")
        assert not trust.counts("event", {"id": "e-1"}, None)
    assert asked == [1]
    assert "gh: ignored a event marker in #3 written by mallory (no signature" in caplog.text


def test_require_signature_refuses_the_tools_own_unsigned_markers() -> None:
    trust = Trust("t", keys(KEY), whoami=lambda: ["bot"], require_signature=True)
    assert not trust.counts("event", {"id": "e-1"}, "bot")
    assert trust.counts("event", trust.sign("event", {"id": "e-1"}), "mallory")


def test_a_forged_signature_falls_back_to_the_author() -> None:
    trust = Trust("t", keys(KEY), whoami=lambda: ["bot"])
    forged = {"id": "e-1", "sig": "0123456789abcdef"}
    assert not trust.counts("event", forged, "mallory")
    assert trust.counts("event", forged, "bot")  # e.g. a key rotated without keeping the old one


@pytest.mark.parametrize(
    "text",
    [
        "<!-- incident-syncer:event id=e-1 -->",
        "<!--incident-syncer:end-->",
        "INCIDENT-SYNCER:event id=e-1",
        "incident-syncer :snapshot abc",
        "{anchor:incident-syncer-begin} x {anchor:incident-syncer-end}",
        "`⟨e-3f2a9c1b7d20⟩`",
        "⟨incident-syncer notice INC-1 0123⟩",
    ],
)
def test_neutralised_text_matches_no_marker_pattern_and_reads_the_same(text: str) -> None:
    out = markers.neutralise(text)
    patterns = [
        r"<!--\s*incident-syncer:",
        r"incident-syncer:event id=",
        r"(?i)\{anchor:incident-syncer-(begin|end)\}",
        r"⟨[A-Za-z0-9]",
        r"⟨incident-syncer",
    ]
    assert not any(re.search(p, out) for p in patterns), out
    assert markers.find_all(out) == [] and markers.strip(out) == out.strip()
    shown = out.replace(markers.WORD_JOINER, "").replace("&lt;", "<")
    assert shown == text
    assert markers.neutralise(out) == out
    assert markers.is_neutral(out)


def test_neutralising_leaves_ordinary_text_and_links_alone() -> None:
    text = "see https://github.com/acme/incident-syncer/issues/3 — incident-syncer failed"
    assert markers.neutralise(text) == text


def owned_body(incident_id: str, key: Keys, snapshot: dict[str, object] | None = None) -> str:
    return markers.owned_section(incident_id, "d1", "notice", snapshot, key)


def snap(incident_id: str) -> dict[str, object]:
    return {"v": 1, "incident": {"id": incident_id, "title": "t"}}


def test_the_owned_section_is_found_only_where_the_tool_wrote_it() -> None:
    trust = Trust("t", keys(KEY), whoami=lambda: ["bot"])
    mine = owned_body("INC-1", keys(KEY), snap("INC-1"))
    forged = markers.owned_section("INC-1", "dX", "forged", snap("INC-2"))  # unsigned
    body = f"people's text\n{forged}\n\n{mine}\nmore people's text"
    section = markers.owned(body, "INC-1", trust, "mallory")
    assert section is not None
    assert section.attrs["digest"] == "d1" and section.snapshot == snap("INC-1")
    assert body[section.start : section.end] == mine
    replaced = markers.replace_owned(body, owned_body("INC-1", keys(KEY)), section)
    assert replaced.startswith(f"people's text\n{forged}\n\n") and replaced.endswith("text")


def test_an_unclosed_begin_a_person_typed_does_not_swallow_the_tools_section() -> None:
    trust = Trust("t", keys(KEY), whoami=lambda: ["bot"])
    body = "<!-- incident-syncer:begin id=INC-1 digest=x -->\n" + owned_body("INC-1", keys(KEY))
    section = markers.owned(body, "INC-1", trust, "mallory")
    assert section is not None and section.attrs["digest"] == "d1"


def test_a_snapshot_of_another_incident_or_with_a_bad_signature_is_ignored() -> None:
    trust = Trust("t", keys(KEY), whoami=lambda: ["bot"])
    other = owned_body("INC-1", keys(KEY), snap("INC-2"))
    assert markers.owned(other, "INC-1", trust, "bot").snapshot is None  # type: ignore[union-attr]
    good = owned_body("INC-1", keys(KEY), snap("INC-1"))
    swapped = good.replace(
        markers.encode_snapshot(snap("INC-1")),
        markers.encode_snapshot({"v": 1, "incident": {"id": "INC-1", "title": "renamed"}}),
    )
    found = markers.owned(swapped, "INC-1", trust, "bot")
    assert found is not None and found.snapshot is None
    # Unsigned (an older version, no key): the tool's own section keeps its snapshot.
    legacy = owned_body("INC-1", Keys(), snap("INC-1"))
    assert markers.owned(legacy, "INC-1", trust, "bot").snapshot == snap("INC-1")  # type: ignore[union-attr]
    assert markers.owned(legacy, "INC-1", trust, "mallory") is None


def test_trailing_and_leading_markers_are_read_only_where_the_tool_puts_them() -> None:
    text = "<!-- incident-syncer:event id=planted -->\nthe entry\n<!-- incident-syncer:event id=e-1 -->"
    assert markers.trailing(text, "event") == {"id": "e-1"}
    assert markers.trailing("text <!-- incident-syncer:event id=x --> and more", "event") is None
    body = "<!-- incident-syncer:postmortem id=INC-1 digest=d -->\n# Postmortem"
    assert markers.leading(body, "postmortem") == {"id": "INC-1", "digest": "d"}
    assert markers.leading("# Postmortem\n" + body, "postmortem") is None


def test_stray_snapshots_are_counted_said_once_and_the_memory_of_it_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trust = Trust("t", keys(KEY), whoami=lambda: ["bot"])
    mine = owned_body("INC-1", keys(KEY), snap("INC-1"))
    pasted = markers.snapshot_marker(snap("INC-2"))
    body = f"{pasted}\n{mine}\n{pasted}"
    section = markers.owned(body, "INC-1", trust, "bot")
    assert section is not None and section.snapshot == snap("INC-1")
    with caplog.at_level(logging.INFO, logger="syncer.trust"):
        assert markers.report_strays(body, section, trust, "#1") == 2
        assert markers.report_strays(body, section, trust, "#1") == 2
        assert markers.report_strays(mine, section, trust, "#1") == 0
    said = [r.getMessage() for r in caplog.records if "outside" in r.getMessage()]
    assert said == [
        "t: ignored 2 snapshot marker(s) in #1 outside incident-syncer's section "
        "(people's text: only the tool's own section is read)"
    ]
    for n in range(1100):  # a long-running serve meets many issues: what it said stays bounded
        markers.report_strays(pasted, None, trust, f"#{n}")
    assert len(trust._said) <= 1024
