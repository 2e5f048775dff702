"""The MLmodel package format: what is on disk, how it is checked, and how its bytes are opened.

Names are imported from their modules on first use (``modelpack._lazy``): reading an MLmodel
file does not import what saving one needs (pandas, for examples and inferred signatures).
"""

from __future__ import annotations

import typing

from modelpack._lazy import attach as _attach

if typing.TYPE_CHECKING:
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

__getattr__, __dir__ = _attach(
    __name__,
    {
        "FileReport": "modelpack.format.manifest",
        "IntegrityReport": "modelpack.format.integrity",
        "MANIFEST_FILE": "modelpack.format.manifest",
        "Manifest": "modelpack.format.manifest",
        "Package": "modelpack.format.package",
        "SIGNATURE_FILE": "modelpack.format.manifest",
        "Signature": "modelpack.format.signing",
        "SignatureStatus": "modelpack.format.signing",
        "add_code_path": "modelpack.format.opener",
        "build_manifest": "modelpack.format.manifest",
        "check_files": "modelpack.format.manifest",
        "generate_key_pair": "modelpack.format.signing",
        "import_module": "modelpack.format.opener",
        "inspect_package": "modelpack.format.integrity",
        "load_pickle": "modelpack.format.opener",
        "load_with_mlflow": "modelpack.format.opener",
        "open_package": "modelpack.format.package",
        "pickled_files": "modelpack.format.opener",
        "pt2_is_pickle_free": "modelpack.format.opener",
        "read_manifest": "modelpack.format.manifest",
        "save_package": "modelpack.format.save",
        "sign_package": "modelpack.format.integrity",
        "skops_load": "modelpack.format.opener",
        "torch_export_load": "modelpack.format.opener",
        "torch_jit_load": "modelpack.format.opener",
        "torch_load": "modelpack.format.opener",
        "verify_package": "modelpack.format.integrity",
        "write_manifest": "modelpack.format.manifest",
    },
)
