"""Ed25519 signatures of a package's manifest, in ``MANIFEST.sig`` beside it.

The signature covers the exact bytes of ``MANIFEST.json``, which holds the sha256 of every file,
so it vouches for the whole package. ``MANIFEST.sig`` is JSON: the signature and the signer's
raw public key in base64, and the key's fingerprint (sha256 of the raw 32-byte public key, hex).
A trusted key is looked up by that fingerprint and the signature checked with the trusted key
itself, never with the copy in the file. Only the ``cryptography`` package's primitives are used;
it is imported when a signature is made or checked (``pip install 'modelpack[sign]'``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from modelpack.errors import IntegrityError, InvalidArgument, MissingDependency
from modelpack.format.manifest import MANIFEST_FILE, SIGNATURE_FILE

__all__ = [
    "Signature",
    "SignatureStatus",
    "fingerprint",
    "generate_key_pair",
    "load_trusted_keys",
    "read_signature",
    "sign_manifest",
    "signature_status",
]

_VERSION = 1
_ALGORITHM = "ed25519"
_RAW_KEY_BYTES = 32
_SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class Signature:
    """What ``MANIFEST.sig`` holds."""

    fingerprint: str
    """sha256 of the signer's raw public key, hex."""
    public_key: bytes
    """The signer's raw 32-byte public key, as the signer wrote it (not a proof of anything)."""
    signature: bytes

    def to_bytes(self) -> bytes:
        doc = {
            "algorithm": _ALGORITHM,
            "public_key": base64.b64encode(self.public_key).decode("ascii"),
            "public_key_fingerprint": self.fingerprint,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "signed_file": MANIFEST_FILE,
            "version": _VERSION,
        }
        return (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode("ascii")


@dataclass(frozen=True)
class SignatureStatus:
    """A package's signature as checked against its manifest and the trusted keys."""

    fingerprint: str
    valid: bool | None
    """Whether the signature matches the manifest bytes; None when ``cryptography`` is missing."""
    trusted: bool | None
    """Whether the signer is among the trusted keys; None when no trusted keys are set."""

    def state(self) -> str:
        """``valid``, ``valid, trusted``, ``INVALID: ...`` and the like."""
        if self.valid is None:
            state = "not checked: pip install 'modelpack[sign]'"
        else:
            state = "valid" if self.valid else "INVALID: the manifest changed after signing"
        if self.trusted is not None:
            state += ", trusted" if self.trusted else ", NOT among the trusted keys"
        return state

    def describe(self) -> str:
        """``signed by <fingerprint> (valid, trusted)`` and the like."""
        return f"signed by {self.fingerprint} ({self.state()})"


def _crypto() -> Any:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingDependency(
            "signatures need the cryptography package: pip install 'modelpack[sign]'"
        ) from None
    return SimpleNamespace(
        ed25519=ed25519, serialization=serialization, InvalidSignature=InvalidSignature
    )


def fingerprint(raw_public_key: bytes) -> str:
    """The fingerprint of a raw Ed25519 public key: its sha256, hex."""
    return hashlib.sha256(raw_public_key).hexdigest()


def _raw(public_key: Any) -> bytes:
    crypto = _crypto()
    encoding = crypto.serialization.Encoding.Raw
    return bytes(public_key.public_bytes(encoding, crypto.serialization.PublicFormat.Raw))


def generate_key_pair(private_path: Path, public_path: Path) -> str:
    """Write a new Ed25519 key pair as PEM files and return the public key's fingerprint.

    The private key file is created with mode 0600 and never replaces an existing file.
    """
    crypto = _crypto()
    for path in (private_path, public_path):
        if path.exists():
            raise InvalidArgument(f"{path} already exists; keys are never overwritten")
    key = crypto.ed25519.Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        crypto.serialization.Encoding.PEM,
        crypto.serialization.PrivateFormat.PKCS8,
        crypto.serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        crypto.serialization.Encoding.PEM, crypto.serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL with mode 0600: the private key is never readable by others, not even briefly.
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private_pem)
    public_path.write_bytes(public_pem)
    return fingerprint(_raw(key.public_key()))


def _load_private_key(path: Path) -> Any:
    crypto = _crypto()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read the key {path}: {exc.strerror or exc}") from None
    try:
        key = crypto.serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        reason = "it is encrypted" if isinstance(exc, TypeError) else "not a PEM private key"
        raise InvalidArgument(f"{path} is not a usable private key: {reason}") from None
    if not isinstance(key, crypto.ed25519.Ed25519PrivateKey):
        raise InvalidArgument(
            f"{path} is a {type(key).__name__.removeprefix('_')}, not an Ed25519 private key "
            "(modelpack keygen writes one)"
        )
    return key


def _load_public_key(path: Path) -> bytes:
    crypto = _crypto()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidArgument(f"cannot read the public key {path}: {exc.strerror or exc}") from None
    try:
        key = crypto.serialization.load_pem_public_key(data)
    except ValueError:
        raise InvalidArgument(f"{path} is not a PEM public key") from None
    if not isinstance(key, crypto.ed25519.Ed25519PublicKey):
        raise InvalidArgument(f"{path} is not an Ed25519 public key")
    return _raw(key)


def load_trusted_keys(paths: Iterable[str | os.PathLike[str]]) -> dict[str, bytes]:
    """Fingerprint -> raw public key of each PEM file (``MODELPACK_TRUSTED_KEYS``)."""
    keys = {}
    for path in paths:
        raw = _load_public_key(Path(path))
        keys[fingerprint(raw)] = raw
    return keys


def sign_manifest(package: Path, key_path: Path) -> tuple[Signature, Signature | None]:
    """Sign ``package``'s ``MANIFEST.json`` with the private key at ``key_path``.

    Writes ``MANIFEST.sig`` and returns the new signature and the one it replaced, if any. The
    files are not checked here: ``integrity.sign_package`` checks them first.
    """
    key = _load_private_key(key_path)
    try:
        data = (package / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        raise IntegrityError(
            f"{package} has no manifest to sign; add one with: "
            f"modelpack verify --write -m {package}"
        ) from None
    try:
        previous = read_signature(package)
    except IntegrityError:
        previous = None  # an unreadable signature is replaced all the same
    raw = _raw(key.public_key())
    signature = Signature(fingerprint(raw), raw, bytes(key.sign(data)))
    (package / SIGNATURE_FILE).write_bytes(signature.to_bytes())
    return signature, previous


def read_signature(package: Path) -> Signature | None:
    """The package's signature, or None when it is unsigned; ``IntegrityError`` when unreadable."""
    path = package / SIGNATURE_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IntegrityError(f"cannot read {path}: {exc.strerror or exc}") from None

    def bad(reason: str) -> IntegrityError:
        return IntegrityError(f"{path} is not a valid signature file: {reason}")

    try:
        doc = json.loads(data)
    except ValueError:
        raise bad("not JSON") from None
    if not isinstance(doc, Mapping):
        raise bad("expected a JSON object")
    if doc.get("version") != _VERSION or doc.get("algorithm") != _ALGORITHM:
        raise bad(f"expected version {_VERSION} and algorithm {_ALGORITHM!r}")
    public_key = _b64(doc.get("public_key"), _RAW_KEY_BYTES)
    signature = _b64(doc.get("signature"), _SIGNATURE_BYTES)
    if public_key is None or signature is None:
        raise bad("'public_key' or 'signature' is not base64 of the right length")
    stated = doc.get("public_key_fingerprint")
    if stated != fingerprint(public_key):
        raise bad("'public_key_fingerprint' is not the sha256 of 'public_key'")
    return Signature(stated, public_key, signature)


def _b64(value: object, length: int) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == length else None


def _valid(raw_public_key: bytes, signature: bytes, data: bytes) -> bool:
    crypto = _crypto()
    key = crypto.ed25519.Ed25519PublicKey.from_public_bytes(raw_public_key)
    try:
        key.verify(signature, data)
    except crypto.InvalidSignature:
        return False
    return True


def signature_status(
    signature: Signature, manifest_data: bytes, trusted: Mapping[str, bytes] | None
) -> SignatureStatus:
    """Check ``signature`` over ``manifest_data``: with the trusted key of the same fingerprint
    when ``trusted`` is given (an untrusted signer's signature is still checked, with the key in
    the file, so that the report says both), else with the key in the file."""
    is_trusted = None if trusted is None else signature.fingerprint in trusted
    key = trusted[signature.fingerprint] if is_trusted and trusted else signature.public_key
    try:
        valid: bool | None = _valid(key, signature.signature, manifest_data)
    except MissingDependency:
        if trusted is not None:
            raise
        valid = None
    return SignatureStatus(signature.fingerprint, valid, is_trusted)
