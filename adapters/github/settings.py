"""``[trackers.NAME]`` with ``type = "github"``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from adapters.base import AdapterSettings

LABEL_LIMIT = 50  # GitHub's limit on a label name


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
        if path.startswith("/") or not path.strip("/"):
            raise ValueError("postmortem_path must be a relative file path")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        for label in value:
            if not label or len(label) > LABEL_LIMIT or "," in label:
                raise ValueError(f"label {label!r}: 1 to {LABEL_LIMIT} characters, no commas")
        return value
