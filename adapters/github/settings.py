"""``[trackers.NAME]`` with ``type = "github"``."""

from __future__ import annotations

import hashlib
import re
from typing import Literal

from pydantic import Field, field_validator

from adapters.base import AdapterSettings
from syncer.config import relative_path

LABEL_LIMIT = 50  # GitHub's limit on a label name
ID_LABEL = "incident-id:"


def id_label(incident_id: str) -> str:
    """The label that finds everything of one incident (GitHub allows 50 characters): a
    longer id is shortened with a digest; the tool's markers keep the whole id."""
    label = ID_LABEL + incident_id
    if len(label) <= LABEL_LIMIT:
        return label
    digest = hashlib.sha256(incident_id.encode()).hexdigest()[:8]
    return f"{label[: LABEL_LIMIT - 9]}~{digest}"


class GitHubSettings(AdapterSettings):
    """``[trackers.NAME]`` with ``type = "github"``."""

    repo: str = Field(
        ...,
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        description="the repository holding the incident issues, 'owner/name'",
    )
    token_env: str = Field(
        "GITHUB_TOKEN", description="environment variable with the token (issues: write)"
    )
    base_url: str = Field(
        "https://api.github.com",
        pattern=r"^https?://",
        description="the REST API; GitHub Enterprise Server: https://HOST/api/v3",
    )
    labels: list[str] = Field(
        default_factory=lambda: ["incident"], description="labels every incident issue gets"
    )
    postmortem: Literal["issue", "file"] = Field(
        "issue", description="publish the postmortem as an issue, or as a Markdown file"
    )
    postmortem_path: str = Field(
        "postmortems/{id}.md", description="file path for postmortem = 'file'; {id} = incident id"
    )
    postmortem_branch: str | None = Field(
        None, description="branch for postmortem files (default: the repository's default)"
    )
    assign_commander: bool = Field(
        True, description="assign the commander (and action-item owners) when assignable"
    )
    timeout: int = Field(30, ge=1, le=600, description="seconds per HTTP request")
    # Pacing keys (writes_per_second, writes_per_minute, writes_per_hour, ...) come from
    # AdapterSettings; unset, GitHub's documented limits apply (GitHubAdapter.default_limits).
    page_size: int = Field(100, ge=1, le=100, description="items per page when listing")

    @field_validator("postmortem_path")
    @classmethod
    def _path(cls, value: str) -> str:
        try:
            path = value.format(id="INC-1")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{id}} may be used in postmortem_path: {exc}") from None
        relative_path(path)  # a path in the repository: no "..", not absolute
        if not path.strip("/") or path.endswith("/"):
            raise ValueError("postmortem_path must be a file path, e.g. postmortems/{id}.md")
        return value

    @field_validator("postmortem_branch")
    @classmethod
    def _branch(cls, value: str | None) -> str | None:
        # Git's rules for a ref name (git check-ref-format), which the contents API applies.
        if value is not None and (
            not value
            or value.startswith(("/", "-", "."))
            or value.endswith(("/", ".", ".lock"))
            or any(part in value for part in ("..", "//", "@{", "/."))
            or re.search(r"[\x00-\x20\x7f~^:?*\[\\]", value)
        ):
            raise ValueError(f"{value!r} is not a branch name git accepts")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if not label or len(label) > LABEL_LIMIT or "," in label:
                raise ValueError(f"label {label!r}: 1 to {LABEL_LIMIT} characters, no commas")
        return value
