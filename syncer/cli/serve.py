"""``incident-syncer serve``: the alert webhook receiver (Starlette on uvicorn)."""

from __future__ import annotations

import click

from syncer.cli.common import config_option, handle_errors, load_config


@click.command()
@click.option("--host", metavar="HOST", help="Address to listen on (default: [serve].host).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port (default: [serve].port; 0 picks a free one).",
)
@config_option
@handle_errors
def serve(host: str | None, port: int | None) -> None:
    """Receive alert webhooks over HTTP and turn them into incidents.

    \b
    POST /alertmanager   Alertmanager webhook (v4)
    POST /grafana        Grafana webhook contact point
    POST /generic        the generic JSON event (HMAC-signed if hmac_secret_env is set)
    GET  /healthz        liveness and queue depth
    GET  /metrics        Prometheus metrics

    Each delivery is journaled before the 202 answer and applied by a worker
    (retried while trackers fail); pending deliveries resume on start-up.
    SIGTERM or Ctrl-C finishes queued work (up to [serve].shutdown_timeout).

    \b
    Example:
      INCIDENT_SYNCER_WEBHOOK_TOKEN=... incident-syncer serve --host 0.0.0.0 --port 8080
    """
    import socket

    from syncer import httpguard
    from syncer.serve import Receiver

    config = load_config(required=True, prints_results=False)  # its log is its output
    host = host or config.serve.host
    port = config.serve.port if port is None else port
    receiver = Receiver(config, announce=lambda text: click.echo(text, err=True))
    receiver.reserve()  # before listening: a second serve on one SQLite file stops here
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and without
    # it every keep-alive answer waits ~40 ms for the sender's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        from syncer.errors import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    guard = httpguard.Guard(
        header_timeout=config.serve.header_timeout,
        max_unauthenticated=config.serve.max_unauthenticated,
    )
    server = httpguard.server(
        receiver.app(),
        guard,
        # Once the journal is resumed and the socket accepts: a caller may send right away.
        announce=lambda: click.echo(
            f"incident-syncer serve: listening on http://{shown}:{bound}", err=True
        ),
        timeout_graceful_shutdown=int(config.serve.shutdown_timeout) + 5,
    )
    server.run(sockets=[sock])
