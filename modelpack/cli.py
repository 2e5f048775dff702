"""The ``modelpack`` command line. Option names follow ``mlflow models ...``."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from modelpack._version import __version__
from modelpack.errors import ModelpackError
from modelpack.settings import Settings

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
_log = logging.getLogger("modelpack")


def handle_errors(fn: F) -> F:
    """Print ``Error: <message>`` for a ModelpackError and exit with its class's code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ModelpackError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


model_uri_option = click.option(
    "-m",
    "--model-uri",
    required=True,
    metavar="URI",
    help="Model package: a path, file://, runs:/, models:/, s3://, gs://, abfs:// or an http(s):// "
    "link to a .tar.gz or .zip (runs:/ and models:/ read MODELPACK_TRACKING_URI).",
)


env_manager_option = click.option(
    "--env-manager",
    type=click.Choice(["local", "uv", "virtualenv", "conda"]),
    default="local",
    show_default=True,
    help="Where the model runs; only 'local' (this Python environment) so far.",
)


@click.group(context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="modelpack")
def main() -> None:
    """Package, inspect, score and serve models in MLflow's MLmodel format."""


@main.command()
@model_uri_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--verify",
    is_flag=True,
    help="Check every file against the manifest first, and refuse the package as loading would.",
)
@handle_errors
def info(model_uri: str, as_json: bool, verify: bool) -> None:
    """Show a package's flavors, signature, environment, example and manifest."""
    from modelpack.info import describe, render

    summary = describe(model_uri, Settings.from_env(), verify=verify)
    click.echo(json.dumps(summary, indent=2) if as_json else render(summary))


@main.command()
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
) -> None:
    """Serve a model over HTTP: POST /invocations, GET /ping, /health, /version.

    Every option also reads MODELPACK_<NAME> (MODELPACK_PORT, ...); options win.
    MODELPACK_AUTH_TOKEN (or --auth-token-file) makes every route but the health probes and
    /metrics require 'Authorization: Bearer <token>'.
    """
    from modelpack.serving.server import serve as run_server

    _local_only(env_manager)
    overrides: dict[str, Any] = {"host": host, "port": port, "workers": workers}
    overrides.update(
        timeout=timeout,
        max_queue=max_queue,
        batching=batching,
        batch_max_rows=batch_max_rows,
        batch_wait_ms=batch_wait_ms,
    )
    if auth_token_file is not None:
        overrides["auth_token"] = _read_token(auth_token_file)
    if debug:
        overrides.update(debug=True, log_level="debug")
    run_server(model_uri, Settings.from_env(**overrides))


@main.command()
@model_uri_option
@click.option(
    "-i",
    "--input-path",
    default="-",
    show_default=True,
    metavar="INPUT",
    help="File to score (CSV, JSON, JSON Lines, Parquet), or - for standard input.",
)
@click.option(
    "-o",
    "--output-path",
    default="-",
    show_default=True,
    metavar="OUTPUT",
    help="Where to write predictions (JSON, CSV, Parquet by extension), or - for stdout.",
)
@click.option(
    "-t",
    "--content-type",
    "input_format",
    default=None,
    help="Input format: json, csv, jsonl or parquet (default: from the extension, else json).",
)
@click.option(
    "--output-format",
    default=None,
    help="Output format: json, csv or parquet (default: from the extension, else json).",
)
@click.option(
    "--batch-size",
    type=int,
    default=50_000,
    show_default=True,
    help="Rows read, scored and written at a time (CSV, JSON Lines, Parquet), rounded up to a "
    "multiple of 64 so that chunking never changes the last bit of an answer.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@env_manager_option
@handle_errors
def predict(
    model_uri: str,
    input_path: str,
    output_path: str,
    input_format: str | None,
    output_format: str | None,
    batch_size: int,
    quiet: bool,
    env_manager: str,
) -> None:
    """Score a file with a model and write the predictions.

    CSV, JSON Lines and Parquet are streamed in chunks; the output appears only when the whole
    input was scored (written to a temporary file, then renamed).
    """
    from modelpack.batch import predict_file
    from modelpack.pyfunc import load_model

    _local_only(env_manager)
    settings = Settings.from_env()
    model = load_model(model_uri, settings=settings)
    predict_file(
        model,
        input_path,
        output_path,
        input_format=input_format,
        output_format=output_format,
        batch_size=batch_size,
        progress=False if quiet else None,
        json_style=settings.json_style,
    )


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


def _local_only(env_manager: str) -> None:
    from modelpack.errors import InvalidArgument

    if env_manager != "local":
        raise InvalidArgument(
            f"--env-manager {env_manager} is not supported yet; install the model's "
            "requirements in this environment and use --env-manager local"
        )


_base_image_option = click.option(
    "--base-image",
    default=None,
    metavar="IMAGE",
    help="Image to build on (default: python:<the model's major.minor>-slim). It needs "
    "Python of the model's major.minor with its venv module, on glibc Linux.",
)


def _progress(line: str) -> None:
    click.echo(line, err=True)


@main.command("generate-dockerfile")
@model_uri_option
@click.option(
    "-d",
    "--output-directory",
    type=click.Path(file_okay=False, path_type=Path),
    default="modelpack-dockerfile",
    show_default=True,
    help="Where to write Dockerfile, model/ and wheels/ (new, empty, or a previous context).",
)
@_base_image_option
@handle_errors
def generate_dockerfile(model_uri: str, output_directory: Path, base_image: str | None) -> None:
    """Write a Docker build context: Dockerfile, model/ and wheels/.

    pip downloads every wheel the image needs now, so `docker build` needs no network.
    """
    from modelpack.docker import write_context

    context = write_context(
        model_uri,
        output_directory,
        base_image=base_image,
        output=_progress,
        settings=Settings.from_env(),
    )
    click.echo(
        f"Wrote {context.directory}: Dockerfile, model/, wheels/ ({len(context.wheels)} wheels "
        f"for Python {context.python_version}, base {context.base_image})"
    )
    click.echo(f"Build it with: docker build --tag NAME {context.directory}")


@main.command("build-docker")
@model_uri_option
@click.option(
    "-n", "--name", default="modelpack-model", show_default=True, help="Image name and tag."
)
@_base_image_option
@handle_errors
def build_docker(model_uri: str, name: str, base_image: str | None) -> None:
    """Build an image that serves the model on port 8080, and report what it holds.

    The image runs `modelpack serve` as a non-root user with MODELPACK_WORKERS (default: the
    CPU count), MODELPACK_TIMEOUT and MODELPACK_MAX_BODY_BYTES from its environment.
    """
    from modelpack.docker import build_docker as build

    report = build(model_uri, name, _progress, base_image=base_image, settings=Settings.from_env())
    click.echo(report.render())


_trusted_key_option = click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    metavar="PUBLIC.pem",
    help="Public key the package must be signed by; repeat for several "
    "(default: MODELPACK_TRUSTED_KEYS).",
)


@main.command()
@model_uri_option
@click.option(
    "--write",
    is_flag=True,
    help="Write (or rewrite) MANIFEST.json for a local package directory instead of checking it.",
)
@_trusted_key_option
@handle_errors
def verify(model_uri: str, write: bool, trusted_keys: tuple[str, ...]) -> None:
    """Check a package's files against its manifest (MANIFEST.json) and its signature.

    Prints each changed, missing and added file. Exits 0 when the package is intact (and, with
    trusted keys, signed by one of them), 1 when anything is off or there is no manifest, and 2
    when the check itself cannot run (no such package, unreadable key).
    """
    from modelpack.errors import IntegrityError
    from modelpack.format.integrity import inspect_package, render_report, rewrite_manifest
    from modelpack.uris import resolve

    if write:
        for line in rewrite_manifest(_local_package(model_uri, "--write")):
            click.echo(line)
        return

    settings = Settings.from_env(trusted_keys=trusted_keys or None)
    path = resolve(model_uri, settings)
    path = path if path.is_dir() else path.parent
    try:
        report = inspect_package(path, settings)
    except IntegrityError as exc:
        click.echo(f"FAILED: {exc.message}")
        sys.exit(1)
    for line in render_report(report):
        click.echo(line)
    sys.exit(0 if report.ok else 1)


def _local_package(model_uri: str, option: str) -> Path:
    from modelpack.errors import InvalidArgument
    from modelpack.format.mlmodel import MLMODEL_FILE

    path = Path(model_uri.removeprefix("file://")).expanduser()
    if not (path / MLMODEL_FILE).is_file():
        raise InvalidArgument(
            f"{option} needs a local package directory (one holding {MLMODEL_FILE}); "
            f"{model_uri} is not one"
        )
    return path


@main.command()
@model_uri_option
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="KEY.pem",
    help="Ed25519 private key (PEM), as modelpack keygen writes it.",
)
@handle_errors
def sign(model_uri: str, key_path: Path) -> None:
    """Sign a local package's manifest with an Ed25519 key: writes MANIFEST.sig beside it.

    The files are checked against the manifest first; a package that does not match it is not
    signed. Loading with MODELPACK_TRUSTED_KEYS set accepts only packages signed by those keys.
    """
    from modelpack.format.integrity import sign_package
    from modelpack.format.manifest import MANIFEST_FILE, SIGNATURE_FILE

    path = _local_package(model_uri, "sign")
    signature, previous = sign_package(path, key_path)
    click.echo(f"Signed {path / MANIFEST_FILE} with key {signature.fingerprint}")
    click.echo(f"Wrote {path / SIGNATURE_FILE}")
    if previous is not None:
        whose = (
            "by the same key"
            if previous.fingerprint == signature.fingerprint
            else f"by {previous.fingerprint}"
        )
        click.echo(f"Replaced the previous signature ({whose})")


@main.command()
@click.option(
    "-o",
    "--output-directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write private_key.pem and public_key.pem here.",
)
@click.option(
    "--private-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the private key (instead of -o).",
)
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the public key (instead of -o).",
)
@handle_errors
def keygen(
    output_directory: Path | None, private_key: Path | None, public_key: Path | None
) -> None:
    """Write a new Ed25519 key pair (PEM) for modelpack sign; the private key gets mode 0600.

    Existing files are never overwritten.
    """
    from modelpack.errors import InvalidArgument
    from modelpack.format.signing import generate_key_pair

    if output_directory is not None and (private_key or public_key):
        raise InvalidArgument("give either -o DIR or --private-key and --public-key, not both")
    if output_directory is not None:
        private_key = output_directory / "private_key.pem"
        public_key = output_directory / "public_key.pem"
    if private_key is None or public_key is None:
        raise InvalidArgument("give -o DIR, or both --private-key PATH and --public-key PATH")
    fingerprint = generate_key_pair(private_key, public_key)
    click.echo(f"Wrote {private_key} (private: keep it secret; mode 0600)")
    click.echo(f"Wrote {public_key} (public: give it to whoever loads your packages)")
    click.echo(f"Fingerprint: {fingerprint}")
