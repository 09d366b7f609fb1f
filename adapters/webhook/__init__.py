"""A generic webhook: paging, SMS and KakaoTalk 알림톡 gateways, Microsoft Teams workflows, ….

The request body is a Jinja2 template the user owns (``template``: a shipped
example by name, or a file beside the configuration); headers come from the
file (``headers``) or, for secrets, from the environment (``headers_env``,
``secrets_env``, ``url_env``). ``events`` says what is sent: the incident
opened (``open``), a grade change, a status change, each timeline entry.

A webhook cannot be read back, so what was sent is kept in the local state
store, and every request carries a stable idempotency key (``Idempotency-Key:
incident-syncer/INC-1/status/investigating-resolved``): a request repeated
after a lost answer (or after the state file was lost) carries the same key,
which receivers that honour it (and PagerDuty's ``dedup_key``) use to drop it.
"""

from adapters.webhook.channel import WebhookChannel, WebhookSettings

__all__ = ["WebhookChannel", "WebhookSettings"]
