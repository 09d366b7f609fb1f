"""The ``jira`` library's client for one tracker: built on first use, paced, errors translated."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.jira.settings import JiraSettings
from syncer.errors import ConfigError, TrackerError, http_error, server_message
from syncer.pacing import Pacer
from syncer.secrets import from_env, remember

if TYPE_CHECKING:
    from jira import JIRA
    from requests import Response

T = TypeVar("T")

_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class JiraClient:
    """The client of one tracker: no ``serverInfo`` round trip, no retries of its own."""

    def __init__(
        self,
        name: str,
        settings: JiraSettings,
        *,
        cloud: bool,
        api_version: int,
        pacer: Pacer,
        file: str | None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.cloud = cloud
        self.api_version = api_version
        self.pacer = pacer
        basic = settings.auth == "basic" or (settings.auth == "auto" and settings.email_env)
        if basic and not settings.email_env:
            raise ConfigError(
                "auth = basic needs email_env (the variable holding the account e-mail)",
                file=file,
                field=f"trackers.{name}.email_env",
            )
        self._email = (
            from_env(settings.email_env, setting=f"trackers.{name}.email_env").get_secret_value()
            if basic and settings.email_env
            else None
        )
        self._token = from_env(settings.token_env, setting=f"trackers.{name}.token_env")
        if self._email is not None:
            # The basic-auth header is base64("email:token"): mask that form too.
            remember(f"{self._email}:{self._token.get_secret_value()}")
        self._jira: JIRA | None = None
        self._lock = threading.RLock()
        self._last = threading.local()  # this thread's last answer, to explain one that is not JSON

    def credential(self) -> str:
        """The secret this client authenticates with (for a one-way fingerprint only)."""
        return f"{self._email or ''}:{self._token.get_secret_value()}"

    def get(self) -> JIRA:
        """The library's client, built on the first call."""
        with self._lock:
            if self._jira is not None:
                return self._jira
            from jira import JIRA

            jira_log = logging.getLogger("jira")
            level = jira_log.level
            auth: dict[str, Any] = (
                {"basic_auth": (self._email, self._token.get_secret_value())}
                if self._email is not None
                else {"token_auth": self._token.get_secret_value()}
            )
            client = JIRA(
                server=self.settings.url,
                options={
                    "rest_api_version": str(self.api_version),
                    "check_update": False,
                    "headers": {"Accept-Language": "en", "User-Agent": "incident-syncer"},
                },
                get_server_info=False,
                max_retries=0,
                timeout=self.settings.timeout,
                **auth,
            )
            jira_log.setLevel(level)  # the constructor resets the library's log level
            # What serverInfo would have said: the library picks its search endpoint by it.
            client.deploymentType = "Cloud" if self.cloud else "Server"
            # Field names we search with are already field ids: no GET /field to translate them.
            client._fields_cache_value = {"created": "created", "labels": "labels"}
            session = client._session
            send = session.request

            def paced(method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
                self.pacer.wait(write=method.upper() in _WRITES)
                try:
                    return send(method, url, *args, **kwargs)
                finally:
                    # No answer (the hook did not run) must not stay in flight; an answer
                    # the hook observed stays observed.
                    self.pacer.observe(None)

            def observe(response: Response, *args: Any, **kwargs: Any) -> None:
                self._last.response = response
                self.pacer.observe(response.status_code, response.headers)

            session.request = paced  # type: ignore[method-assign]
            session.hooks["response"].append(observe)
            self._jira = client
            return client

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one library call; every failure becomes a TrackerError."""
        import requests
        from jira.exceptions import JIRAError

        self._last.response = None
        try:
            return fn()
        except JIRAError as exc:
            raise self.error(what, exc.status_code, exc.response) from None
        except ValueError:
            # An answer that is not JSON (a login page, a proxy's error page); before the
            # next clause because requests' JSONDecodeError is also a RequestException.
            raise self.not_data(what, self._last.response) from None
        except requests.RequestException as exc:
            raise http_error(
                what, None, tracker=self.name, detail=f"cannot reach Jira ({type(exc).__name__})"
            ) from None

    def request(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        client = self.get()
        url = client._get_url(path)

        def send() -> Any:
            data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
            response = client._session.request(method, url, params=params, data=data)
            return response.json() if response.content else None

        return self.call(what, send)

    def error(self, what: str, status: int | None, response: Response | None) -> TrackerError:
        """A failed answer as a :class:`TrackerError` (``status`` None: no answer came)."""
        data = None
        if response is not None:
            try:
                data = response.json()
            except ValueError:
                data = None
        text = server_message(data) or (response.reason if response is not None else "")
        text = text or "failed"
        hint = ""
        if status in (401, 403) and "DENIED" in _login_reason(response):
            hint = (
                f"{text}: after failed logins Jira wants a CAPTCHA: log in once in a browser as "
                f"that user, then check {self.credentials()}"
            )
        elif status == 401:
            hint = f"{text} (check {self.credentials()})"
        elif status == 410:
            hint = f"{text} (this is Jira Cloud: set cloud = true)"
        headers = response.headers if response is not None else {}
        return http_error(what, status, headers, data, tracker=self.name, detail=text, hint=hint)

    def not_data(self, what: str, response: Response | None) -> TrackerError:
        """An answer that is not JSON: a login page (the credentials were refused, or single
        sign-on stands in front of Jira), or some other page."""
        if _login_page(response):
            return TrackerError(
                f"{what}: Jira sent a login page instead of data: check {self.credentials()} "
                "(and, behind single sign-on, that url lets API tokens through)",
                tracker=self.name,
            )
        return TrackerError(
            f"{what}: Jira's answer is not JSON (is url the Jira base URL, "
            "and does a proxy or single sign-on page stand in front of it?)",
            tracker=self.name,
        )

    def credentials(self) -> str:
        """The variables holding the credentials, as a user sets them."""
        return " and ".join(filter(None, [self.settings.email_env, self.settings.token_env]))

    # Text: Markdown → wiki markup (v2) or ADF (v3), within Jira's limits.


def _login_reason(response: Response | None) -> str:
    """Jira Data Center's own word on a failed login (``AUTHENTICATED_FAILED``, ``…_DENIED``)."""
    return "" if response is None else response.headers.get("X-Seraph-LoginReason", "")


def _login_page(response: Response | None) -> bool:
    """Whether a non-JSON answer is a login page: Jira says the login failed, or the request
    was sent on to a page that asks for a password."""
    if response is None:
        return False
    if "AUTHENTICAT" in _login_reason(response):
        return True
    html = "html" in response.headers.get("Content-Type", "")
    asks = 'type="password"' in response.text or "login" in response.url.lower()
    return html and (bool(response.history) or asks)
