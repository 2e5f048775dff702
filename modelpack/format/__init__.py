"""The MLmodel package format: what is on disk, how it is checked, and how its bytes are opened."""

from __future__ import annotations

from modelpack.format.integrity import (
    IntegrityReport,
    inspect_package,
    sign_package,
    verify_package,
)
from modelpack.format.manifest import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    FileReport,
    Manifest,
    build_manifest,
    check_files,
    read_manifest,
    write_manifest,
)
from modelpack.format.signing import Signature, SignatureStatus, generate_key_pair

__all__: list[str] = [
    "MANIFEST_FILE",
    "SIGNATURE_FILE",
    "FileReport",
    "IntegrityReport",
    "Manifest",
    "Signature",
    "SignatureStatus",
    "build_manifest",
    "check_files",
    "generate_key_pair",
    "inspect_package",
    "read_manifest",
    "sign_package",
    "verify_package",
    "write_manifest",
]
