"""``modelpack serve``: options name ``mlflow models serve``'s, settings come from ``Settings``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from modelpack.cli._common import (
    env_manager_option,
    handle_errors,
    local_only,
    model_uri_option,
)
from modelpack.settings import Settings

__all__ = ["serve"]


@click.command()
@model_uri_option
@click.option("-h", "--host", default=None, help="Interface to bind to (default 127.0.0.1).")
@click.option("-p", "--port", type=int, default=None, help="Port to listen on (default 5000).")
@click.option(
    "-w",
    "--workers",
    type=int,
    default=None,
    help="Worker processes, forked once the model is loaded (they share its memory).",
)
@click.option("-t", "--timeout", type=float, default=None, help="Seconds per request before a 504.")
@env_manager_option
@click.option(
    "--debug", is_flag=True, default=None, help="Tracebacks in error responses; debug logging."
)
@click.option(
    "--auth-token-file",
    default=None,
    metavar="PATH",
    help="File holding the token every request must send as 'Authorization: Bearer <token>' "
    "(all routes but the health probes and /metrics), e.g. a mounted secret; wins over "
    "MODELPACK_AUTH_TOKEN.",
)
@click.option(
    "--max-queue",
    type=int,
    default=None,
    help="Requests that may wait for the model in each worker; more get 503 at once (default 128).",
)
@click.option(
    "--batching/--no-batching",
    default=None,
    help="Merge waiting requests into one model call where that changes no answer (default on).",
)
@click.option(
    "--batch-max-rows", type=int, default=None, help="Most rows one merged call takes (1024)."
)
@click.option(
    "--batch-wait-ms",
    type=float,
    default=None,
    help="How long an idle model waits for more requests to merge (default 0: never).",
)
@click.option(
    "--metrics/--no-metrics",
    default=None,
    help="Prometheus metrics at /metrics, totals across workers (default on).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as text (default) or one JSON object per line; each line about a request "
    "carries its id.",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="One log line per request: client, method, path, status, rows, duration (default off).",
)
@handle_errors
def serve(
    model_uri: str,
    host: str | None,
    port: int | None,
    workers: int | None,
    timeout: float | None,
    env_manager: str,
    debug: bool | None,
    auth_token_file: str | None,
    max_queue: int | None,
    batching: bool | None,
    batch_max_rows: int | None,
    batch_wait_ms: float | None,
    metrics: bool | None,
    log_format: str | None,
    access_log: bool | None,
) -> None:
    """Serve a model over HTTP: POST /invocations, GET /ping, /health, /health/live,
    /health/ready, /version, /metrics, /openapi.json and the model page at /.

    Every option also reads MODELPACK_<NAME> (MODELPACK_PORT, ...); options win.
    MODELPACK_AUTH_TOKEN (or --auth-token-file) makes every route but the health probes and
    /metrics require 'Authorization: Bearer <token>'.
    """
    from modelpack.serving.server import serve as run_server

    local_only(env_manager)
    overrides: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    overrides.update(
        timeout=timeout,
        max_queue=max_queue,
        batching=batching,
        batch_max_rows=batch_max_rows,
        batch_wait_ms=batch_wait_ms,
    )
    overrides.update(metrics=metrics, log_format=log_format, access_log=access_log)
    if auth_token_file is not None:
        overrides["auth_token"] = _read_token(auth_token_file)
    if debug:
        overrides.update(debug=True, log_level="debug")
    run_server(model_uri, Settings.from_env(**overrides))


def _read_token(path: str) -> str:
    """The token in ``path``, without surrounding whitespace; never quoted in an error."""
    from modelpack.errors import InvalidArgument
    from modelpack.serving.auth import check_token

    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidArgument(f"--auth-token-file {path}: cannot read it ({reason})") from None
    except UnicodeDecodeError:
        raise InvalidArgument(f"--auth-token-file {path}: not UTF-8 text") from None
    check_token(token, f"--auth-token-file {path}")
    return token
