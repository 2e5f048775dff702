"""Ed25519 signatures of the manifest, and loading with trusted keys."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="signatures need modelpack[sign]")
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import modelpack
from modelpack.errors import (
    IntegrityError,
    InvalidArgument,
    MissingDependency,
    SignatureRefused,
)
from modelpack.format import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    generate_key_pair,
    inspect_package,
    sign_package,
    write_manifest,
)
from modelpack.settings import Settings


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, str]]:
    """Two key pairs: ``name -> (private, public, fingerprint)``."""
    root = tmp_path_factory.mktemp("keys")
    pairs = {}
    for name in ("alice", "mallory"):
        private, public = root / f"{name}.pem", root / f"{name}.pub.pem"
        pairs[name] = (private, public, generate_key_pair(private, public))
    return pairs


@pytest.fixture
def package(tmp_path: Path, sklearn_package: Path) -> Path:
    path = tmp_path / "wine"
    shutil.copytree(sklearn_package, path)
    return path


@pytest.fixture
def signed(package: Path, keys) -> Path:
    sign_package(package, keys["alice"][0])
    return package


def _trusting(*public: Path) -> Settings:
    return Settings(trusted_keys=tuple(str(p) for p in public))


def test_key_pair_is_ed25519_pem_with_a_private_file_only_its_owner_reads(keys) -> None:
    private, public, fingerprint = keys["alice"]
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    raw = serialization.load_pem_public_key(public.read_bytes()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )

    assert isinstance(key, ed25519.Ed25519PrivateKey)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert fingerprint == hashlib.sha256(raw).hexdigest()


def test_key_files_are_never_overwritten(keys, tmp_path: Path) -> None:
    private = keys["alice"][0]
    before = private.read_bytes()

    with pytest.raises(InvalidArgument, match="already exists; keys are never overwritten"):
        generate_key_pair(private, tmp_path / "new.pub.pem")

    assert private.read_bytes() == before


def test_signature_file_verifies_with_the_public_key_alone(signed: Path, keys) -> None:
    doc = json.loads((signed / SIGNATURE_FILE).read_text())
    public = serialization.load_pem_public_key(keys["alice"][1].read_bytes())
    assert isinstance(public, ed25519.Ed25519PublicKey)

    public.verify(base64.b64decode(doc["signature"]), (signed / MANIFEST_FILE).read_bytes())

    assert doc["public_key_fingerprint"] == keys["alice"][2]
    assert (doc["algorithm"], doc["signed_file"], doc["version"]) == ("ed25519", MANIFEST_FILE, 1)


def test_package_signed_by_a_trusted_key_loads(signed: Path, keys, wine_frame) -> None:
    model = modelpack.load_model(signed, settings=_trusting(keys["mallory"][1], keys["alice"][1]))

    assert model.predict(wine_frame.head(1)).shape == (1,)


def test_package_signed_by_another_key_is_refused_naming_both(signed: Path, keys) -> None:
    with pytest.raises(SignatureRefused) as info:
        modelpack.load_model(signed, settings=_trusting(keys["mallory"][1]))

    assert str(info.value) == (
        f"{signed} is signed by key {keys['alice'][2]}, which is not among the trusted keys "
        f"(MODELPACK_TRUSTED_KEYS): {keys['mallory'][2]}"
    )


def test_unsigned_package_is_refused_when_keys_are_trusted(package: Path, keys) -> None:
    with pytest.raises(SignatureRefused) as info:
        modelpack.load_model(package, settings=_trusting(keys["alice"][1]))

    assert str(info.value) == (
        f"{package} is not signed (no MANIFEST.sig), and MODELPACK_TRUSTED_KEYS requires a "
        f"signature by one of: {keys['alice'][2]}"
    )


def test_package_without_manifest_is_refused_when_keys_are_trusted(package: Path, keys) -> None:
    (package / MANIFEST_FILE).unlink()

    with pytest.raises(SignatureRefused, match=r"has no manifest \(MANIFEST\.json\)"):
        modelpack.load_model(package, settings=_trusting(keys["alice"][1]))


def test_manifest_changed_after_signing_is_refused(signed: Path, keys) -> None:
    # Tamper with a file, then rewrite the manifest to match it: only the signature tells.
    (signed / "requirements.txt").write_text("evil==1.0\n")
    manifest = json.loads((signed / MANIFEST_FILE).read_text())
    data = (signed / "requirements.txt").read_bytes()
    manifest["files"]["requirements.txt"] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    (signed / MANIFEST_FILE).write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")

    with pytest.raises(SignatureRefused) as info:
        modelpack.load_model(signed, settings=_trusting(keys["alice"][1]))

    assert str(info.value) == (
        f"{signed}: the signature by {keys['alice'][2]} does not match MANIFEST.json: "
        "the manifest was changed after it was signed"
    )


def test_files_changed_after_signing_are_caught_by_the_manifest(signed: Path, keys) -> None:
    (signed / "model.skops").write_bytes(b"tampered")

    with pytest.raises(IntegrityError) as info:
        modelpack.load_model(signed, settings=_trusting(keys["alice"][1]))

    assert type(info.value) is IntegrityError
    assert "changed: model.skops" in str(info.value)


def test_a_signature_file_claiming_a_trusted_fingerprint_is_not_believed(
    signed: Path, keys
) -> None:
    # Mallory signs a forged manifest and names Alice's key and fingerprint as the signer.
    mallory = serialization.load_pem_private_key(keys["mallory"][0].read_bytes(), password=None)
    assert isinstance(mallory, ed25519.Ed25519PrivateKey)
    alice_raw = serialization.load_pem_public_key(keys["alice"][1].read_bytes()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    (signed / "extra.txt").write_text("x")
    write_manifest(signed)
    doc = json.loads((signed / SIGNATURE_FILE).read_text())
    doc.update(
        public_key=base64.b64encode(alice_raw).decode(),
        public_key_fingerprint=keys["alice"][2],
        signature=base64.b64encode(mallory.sign((signed / MANIFEST_FILE).read_bytes())).decode(),
    )
    (signed / SIGNATURE_FILE).write_text(json.dumps(doc))

    with pytest.raises(SignatureRefused, match="the manifest was changed after it was signed"):
        modelpack.load_model(signed, settings=_trusting(keys["alice"][1]))


def test_signatures_are_not_required_without_trusted_keys(signed: Path, keys, wine_frame) -> None:
    (signed / SIGNATURE_FILE).write_text("not even JSON")

    assert modelpack.load_model(signed, settings=Settings()).predict(wine_frame.head(1)).shape == (
        1,
    )


def test_report_says_who_signed_and_whether_it_holds(signed: Path, keys) -> None:
    untrusted = inspect_package(signed, Settings())
    trusted = inspect_package(signed, _trusting(keys["mallory"][1]))

    assert untrusted.ok
    assert untrusted.signature is not None
    assert untrusted.signature.describe() == f"signed by {keys['alice'][2]} (valid)"
    assert not trusted.ok
    assert trusted.signature is not None
    assert trusted.signature.describe() == (
        f"signed by {keys['alice'][2]} (valid, NOT among the trusted keys)"
    )


def test_signing_refuses_a_package_without_manifest(package: Path, keys) -> None:
    (package / MANIFEST_FILE).unlink()

    with pytest.raises(IntegrityError, match="has no manifest to sign; add one with"):
        sign_package(package, keys["alice"][0])


def test_signing_refuses_a_package_that_does_not_match_its_manifest(package: Path, keys) -> None:
    (package / "model.skops").write_bytes(b"tampered")

    with pytest.raises(IntegrityError) as info:
        sign_package(package, keys["alice"][0])

    assert str(info.value) == (
        f"{package} does not match its manifest (MANIFEST.json): changed: model.skops; "
        f"not signed (if the changes are yours: modelpack verify --write -m {package}, then sign)"
    )
    assert not (package / SIGNATURE_FILE).exists()


def test_signing_refuses_a_key_that_is_not_ed25519(package: Path, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(InvalidArgument) as info:
        sign_package(package, path)

    assert str(info.value) == (
        f"{path} is a RSAPrivateKey, not an Ed25519 private key (modelpack keygen writes one)"
    )


def test_trusted_key_that_is_not_a_public_key_is_named(package: Path, keys) -> None:
    with pytest.raises(InvalidArgument) as info:
        modelpack.load_model(package, settings=_trusting(keys["alice"][0]))

    assert str(info.value) == f"{keys['alice'][0]} is not a PEM public key"


def test_missing_cryptography_says_what_to_install(
    signed: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "cryptography", None)  # what an absent package looks like

    with pytest.raises(MissingDependency) as info:
        modelpack.load_model(signed, settings=_trusting(keys["alice"][1]))

    assert str(info.value) == (
        "signatures need the cryptography package: pip install 'modelpack[sign]'"
    )
    report = inspect_package(signed, Settings())
    assert report.signature is not None
    assert report.signature.describe() == (
        f"signed by {keys['alice'][2]} (not checked: pip install 'modelpack[sign]')"
    )


def test_trusted_keys_setting_reads_paths_separated_by_pathsep() -> None:
    env = {"MODELPACK_TRUSTED_KEYS": f"/keys/a.pem{os.pathsep} /keys/b.pem {os.pathsep}"}

    assert Settings.from_env(env).trusted_keys == ("/keys/a.pem", "/keys/b.pem")
    assert Settings.from_env({}).trusted_keys == ()
