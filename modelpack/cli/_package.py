"""Commands about a package itself: ``info``, ``verify``, ``sign``, ``keygen``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from modelpack.cli._common import (
    handle_errors,
    model_uri_option,
)
from modelpack.settings import Settings

__all__ = ["info", "keygen", "sign", "verify"]


@click.command()
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


_trusted_key_option = click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    metavar="PUBLIC.pem",
    help="Public key the package must be signed by; repeat for several "
    "(default: MODELPACK_TRUSTED_KEYS).",
)


@click.command()
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


@click.command()
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


@click.command()
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
