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
from modelpack.format.opener import (
    add_code_path,
    import_module,
    load_pickle,
    load_with_mlflow,
    pickled_files,
    pt2_is_pickle_free,
    skops_load,
    torch_export_load,
    torch_jit_load,
    torch_load,
)
from modelpack.format.package import Package, open_package
from modelpack.format.save import save_package
from modelpack.format.signing import Signature, SignatureStatus, generate_key_pair

__all__: list[str] = [
    "MANIFEST_FILE",
    "SIGNATURE_FILE",
    "FileReport",
    "IntegrityReport",
    "Manifest",
    "Package",
    "Signature",
    "SignatureStatus",
    "add_code_path",
    "build_manifest",
    "check_files",
    "generate_key_pair",
    "import_module",
    "inspect_package",
    "load_pickle",
    "load_with_mlflow",
    "open_package",
    "pickled_files",
    "pt2_is_pickle_free",
    "read_manifest",
    "save_package",
    "sign_package",
    "skops_load",
    "torch_export_load",
    "torch_jit_load",
    "torch_load",
    "verify_package",
    "write_manifest",
]
