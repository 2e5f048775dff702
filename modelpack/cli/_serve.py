"""``modelpack serve``: options name ``mlflow models serve``'s, settings come from ``Settings``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from modelpack.cli._common import (
    enter_environment,
    env_manager_option,
    handle_errors,
    model_uri_option,
    quiet_option,
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
    "--model-name",
    default=None,
    help="Name of the model on the V2 routes (/v2/models/NAME) and gRPC (default: the "
    "registered model's name for models:/ URIs, else the package directory's name).",
)
@click.option(
    "--enable-mlserver",
    is_flag=True,
    default=None,
    help="Answer as 'mlflow models serve --enable-mlserver' did: the V2 model is named "
    "'mlflow-model' unless --model-name is given. The V2 routes are always on.",
)
@click.option(
    "--grpc-port",
    type=int,
    default=None,
    help="Also serve V2 over gRPC (GRPCInferenceService) on this port; needs "
    "'modelpack[grpc]' (default: no gRPC).",
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
@quiet_option
@handle_errors
@click.pass_context
def serve(
    ctx: click.Context,
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
    model_name: str | None,
    enable_mlserver: bool | None,
    grpc_port: int | None,
    metrics: bool | None,
    log_format: str | None,
    access_log: bool | None,
    quiet: bool,
) -> None:
    """Serve a model over HTTP: POST /invocations, GET /ping, /health, /health/live,
    /health/ready, /version, /metrics, /openapi.json, the model page at /, and the Open
    Inference Protocol (KServe V2) under /v2 (and over gRPC with --grpc-port).

    Every option also reads MODELPACK_<NAME> (MODELPACK_PORT, ...); options win.
    MODELPACK_AUTH_TOKEN (or --auth-token-file) makes every route but the health probes and
    /metrics require 'Authorization: Bearer <token>'.

    With --env-manager uv, virtualenv or conda the server runs in an environment built from
    the package's requirements (built once, then reused from MODELPACK_CACHE_DIR/envs).
    """
    from modelpack.serving.server import check, with_identity
    from modelpack.serving.server import serve as run_server

    overrides: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    overrides.update(
        timeout=timeout,
        max_queue=max_queue,
        batching=batching,
        batch_max_rows=batch_max_rows,
        batch_wait_ms=batch_wait_ms,
    )
    overrides.update(model_name=model_name, enable_mlserver=enable_mlserver, grpc_port=grpc_port)
    overrides.update(metrics=metrics, log_format=log_format, access_log=access_log)
    if auth_token_file is not None:
        overrides["auth_token"] = _read_token(auth_token_file)
    if debug:
        overrides.update(debug=True, log_level="debug")
    # The V2 name and version come from the URI the user gave (models:/NAME/N), not from the
    # local path it resolves to; a re-run inside another environment reads them from its own.
    settings = with_identity(model_uri, Settings.from_env(**overrides))
    check(settings)  # before an environment is built, not after
    identity = {
        f"MODELPACK_{field}": value
        for field, value in (
            ("MODEL_NAME", settings.model_name),
            ("MODEL_VERSION", settings.model_version),
        )
        if value is not None
    }
    package = enter_environment(ctx, env_manager, model_uri, settings, quiet, identity)
    run_server(package, settings)


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
