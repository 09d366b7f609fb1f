"""``doctor`` for Jira: credentials, deployment, project, issue types, link types, priorities."""

from __future__ import annotations

from typing import Any

from adapters.jira.client import JiraClient
from syncer.errors import TrackerError


def doctor(client: JiraClient) -> list[str]:
    """Credentials, Cloud or not, the project, its issue types, link types and priorities."""
    settings, cloud = client.settings, client.cloud
    problems: list[str] = []

    def ask(what: str, path: str) -> Any:
        try:
            return client.request(what, "GET", path)
        except TrackerError as exc:
            problems.append(exc.message + (f" (HTTP {exc.status})" if exc.status else ""))
            return None

    if ask("check the credentials", "myself") is None:
        return problems
    info = ask("read serverInfo", "serverInfo")
    if isinstance(info, dict) and info.get("deploymentType"):
        is_cloud = info["deploymentType"] == "Cloud"
        if is_cloud != cloud:
            problems.append(
                f"this Jira is {'Cloud' if is_cloud else 'Data Center/Server'}, "
                f"but the configuration says cloud = {str(cloud).lower()}"
            )
    key = settings.project
    project = ask(f"read project {key}", f"project/{key}")
    offered = {
        str(t.get("name", "")).lower(): str(t.get("name", ""))
        for t in (project or {}).get("issueTypes") or []
    }
    for setting in ("issue_type", "postmortem_issue_type", "action_item_issue_type"):
        wanted = str(getattr(settings, setting))
        if offered and wanted.lower() not in offered:
            problems.append(
                f"{setting} = {wanted!r}: project {key} has no such issue type "
                f"(it has {', '.join(sorted(offered.values()))})"
            )
    links = ask("read issue link types", "issueLinkType")
    names = {str(t.get("name", "")) for t in (links or {}).get("issueLinkTypes") or []}
    for setting in ("link_type", "duplicate_link_type"):
        wanted = str(getattr(settings, setting))
        if names and wanted and wanted not in names:
            problems.append(
                f"{setting} = {wanted!r}: no such issue link type "
                f"(there are {', '.join(sorted(names))})"
            )
    if settings.priority:
        priorities = {str(p.get("name", "")) for p in ask("read priorities", "priority") or []}
        for grade, wanted in settings.priority.items():
            if priorities and wanted not in priorities:
                problems.append(
                    f"priority.{grade} = {wanted!r}: no such priority "
                    f"(there are {', '.join(sorted(priorities))})"
                )
    return problems
