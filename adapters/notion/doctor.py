"""``doctor`` for Notion: are the databases what the configuration says?"""

from __future__ import annotations

from adapters.base import TrackerError
from adapters.notion.client import NotionApi


def doctor(api: NotionApi) -> list[str]:
    """Problems with the databases: reachable, shared, properties present with the right
    types (and the Status options, for a status property)."""
    settings = api.settings
    problems: list[str] = []
    p = settings.properties
    status_options = (
        list(settings.statuses.model_dump().values()) if settings.status_type == "status" else []
    )
    incident_expected = {
        p.name: "title",
        p.incident_id: "rich_text",
        p.grade: "select",
        p.status: settings.status_type,
        p.commander: "rich_text",
        p.services: "multi_select",
        p.started: "date",
        p.detected: "date",
        p.mitigated: "date",
        p.resolved: "date",
        p.link: "url",
    }
    problems += _check_schema(
        api,
        "incidents database",
        settings.database_id,
        settings.data_source_id,
        incident_expected,
        {p.status: status_options},
    )
    if settings.postmortem_database_id:
        q = settings.postmortem_properties
        problems += _check_schema(
            api,
            "postmortems database",
            settings.postmortem_database_id,
            None,
            {
                q.name: "title",
                q.incident_id: "rich_text",
                q.grade: "select",
                q.author: "rich_text",
                q.date: "date",
                q.review: "status",
            },
            {},
        )
    return problems


def _check_schema(
    api: NotionApi,
    label: str,
    database_id: str,
    data_source_id: str | None,
    expected: dict[str, str],
    options: dict[str, list[str]],
) -> list[str]:
    try:
        target = api.target(database_id, data_source_id)
        if target.kind == "data_source":
            schema = api.call(
                f"read the {label}",
                lambda: api.client.data_sources.retrieve(target.id),
            )
        else:
            schema = api.call(
                f"read the {label}", lambda: api.client.databases.retrieve(database_id)
            )
    except TrackerError as exc:
        return [f"{label} {database_id}: {exc.message}"]
    have = {
        name: value.get("type", "?")
        for name, value in (schema.get("properties") or {}).items()
        if isinstance(value, dict)
    }
    problems = []
    for name, kind in expected.items():
        if not name:
            continue
        if name not in have:
            problems.append(f"{label}: property {name!r} is missing (expected {kind})")
        elif have[name] != kind:
            problems.append(f"{label}: property {name!r} is {have[name]}, expected {kind}")
        elif options.get(name):
            defined = {
                str(o.get("name"))
                for o in schema["properties"][name].get(kind, {}).get("options", [])
            }
            missing = [o for o in options[name] if o not in defined]
            if missing:
                problems.append(
                    f"{label}: property {name!r} has no option "
                    + ", ".join(repr(m) for m in missing)
                )
    return problems
