"""What ``modelpack info`` shows, and the server's model page: a package summarized without
loading the model. ``describe_package`` gathers the facts for both."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path
from typing import Any

from modelpack._version import __version__
from modelpack.errors import ModelpackError
from modelpack.flavors import registry
from modelpack.format.environment import PYTHON_ENV_FILE, REQUIREMENTS_FILE, read_requirements
from modelpack.format.examples import load_input_example
from modelpack.format.integrity import inspect_package, verify_package
from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.format.opener import pickled_files
from modelpack.settings import Settings
from modelpack.signature.datatypes import type_name
from modelpack.signature.schema import ColSpec, Schema, TensorSpec
from modelpack.uris import resolve

__all__ = ["describe", "describe_package", "integrity_lines", "render"]

# The distribution that holds each built-in flavor's library (its version is shown).
_LIBRARIES = {
    "sklearn": "scikit-learn",
    "xgboost": "xgboost",
    "pytorch": "torch",
    "python_model": "cloudpickle",
}


def describe(model_uri: str, settings: Settings, *, verify: bool = False) -> dict[str, Any]:
    """A JSON-ready summary of the package at ``model_uri``.

    ``verify=True`` checks every file against the manifest (and the signature against the
    trusted keys) first, and refuses the package as loading would.
    """
    path = resolve(model_uri, settings)
    return describe_package(path if path.is_dir() else path.parent, settings, verify=verify)


def describe_package(path: Path, settings: Settings, *, verify: bool = False) -> dict[str, Any]:
    """``describe`` for a package directory that is already local (the server's)."""
    if verify:
        verify_package(path, settings)
    integrity = _integrity(path, settings, verified=verify)
    meta = Model.load(path)
    flavor = registry().for_package(meta.flavors)
    sig = meta.signature
    env_file = path / PYTHON_ENV_FILE
    requirements = (
        read_requirements(path / REQUIREMENTS_FILE) if (path / REQUIREMENTS_FILE).is_file() else []
    )
    example = None
    try:
        loaded = load_input_example(path, meta.saved_input_example_info)
        if loaded is not None:
            example = {
                "type": (meta.saved_input_example_info or {}).get("type"),
                "shape": list(getattr(loaded, "shape", ())) or None,
                "serving_file": (meta.saved_input_example_info or {}).get("serving_input_path"),
            }
    except ModelpackError as exc:
        example = {"error": str(exc)}
    pyfunc = meta.flavors.get(PYFUNC, {})
    return {
        "path": str(path),
        "name": path.name,
        "flavor": flavor.name,
        "flavors": meta.flavors,
        "pickle": ", ".join(pickled_files(path)) or None,
        "written_by": {
            "modelpack": meta.modelpack_version,
            "mlflow": meta.mlflow_version,
            "python": pyfunc.get("python_version"),
        },
        "runtime": _runtime(flavor.name),
        "signature": {
            "inputs": _rows(sig.inputs) if sig and sig.inputs else None,
            "outputs": _rows(sig.outputs) if sig and sig.outputs else None,
            "params": [
                {
                    "name": p.name,
                    "type": type_name(p.dtype),
                    "default": p.default,
                    "shape": list(p.shape) if p.shape else None,
                }
                for p in sig.params.params
            ]
            if sig and sig.params
            else None,
        },
        "integrity": integrity,
        "requirements": requirements,
        "python_env": env_file.read_text(encoding="utf-8") if env_file.is_file() else None,
        "input_example": example,
        "run_id": meta.run_id,
        "model_uuid": meta.model_uuid,
        "created": meta.utc_time_created,
    }


def _runtime(flavor: str) -> dict[str, str | None]:
    """The versions this process runs: modelpack, Python and the flavor's library."""
    versions: dict[str, str | None] = {
        "modelpack": __version__,
        "python": platform.python_version(),
    }
    library = _LIBRARIES.get(flavor)
    if library is not None:
        try:
            versions[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            versions[library] = None
    return versions


def _integrity(path: Path, settings: Settings, *, verified: bool) -> dict[str, Any]:
    try:
        report = inspect_package(path, settings, check=False)
    except ModelpackError as exc:  # an unreadable manifest, key file or missing cryptography
        return {"manifest": {"error": exc.message}, "signature": None}
    manifest: dict[str, Any] | None = None
    if report.manifest is not None:
        manifest = {
            "files": len(report.manifest.files),
            "bytes": report.manifest.total_bytes,
            "verified": verified,
        }
    signature: dict[str, Any] | None = None
    if report.signature_problem:
        signature = {"error": report.signature_problem}
    elif report.signature is not None:
        status = report.signature
        signature = {
            "fingerprint": status.fingerprint,
            "valid": status.valid,
            "trusted": status.trusted,
            "state": status.state(),
        }
    return {"manifest": manifest, "signature": signature}


def _rows(schema: Schema) -> list[dict[str, Any]]:
    rows = []
    for spec in schema.inputs:
        if isinstance(spec, TensorSpec):
            rows.append(
                {
                    "name": spec.name,
                    "type": f"tensor {spec.type}",
                    "shape": list(spec.shape),
                    "required": True,
                }
            )
        elif isinstance(spec, ColSpec):
            rows.append(
                {"name": spec.name, "type": type_name(spec.type), "required": spec.required}
            )
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    cells = [[("-" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out = ["  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    out += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return out


def integrity_lines(integrity: dict[str, Any]) -> list[str]:
    """The manifest and signature status in words (``describe``'s ``integrity``)."""
    manifest, signature = integrity["manifest"], integrity["signature"]
    if manifest is None:
        lines = ["Manifest: none: files are not checked (modelpack verify --write -m DIR adds one)"]
    elif "error" in manifest:
        lines = [f"Manifest: cannot be checked: {manifest['error']}"]
    else:
        size = f"{manifest['files']} files, {_bytes(manifest['bytes'])}"
        lines = [
            f"Manifest: ok, {size}"
            if manifest["verified"]
            else f"Manifest: {size} (not checked here; modelpack info --verify checks them)"
        ]
    if signature is None:
        lines.append("Signed:   no")
    elif "error" in signature:
        lines.append(f"Signed:   unreadable signature: {signature['error']}")
    else:
        lines.append(f"Signed:   by {signature['fingerprint']} ({signature['state']})")
    return lines


def _bytes(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    value = size / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def render(summary: dict[str, Any]) -> str:
    """The summary as text for a terminal."""
    lines = [f"Package:  {summary['path']}", f"Flavor:   {summary['flavor']}"]
    flavor_conf = summary["flavors"].get(summary["flavor"]) or {
        # MLflow's custom models keep their specifics in the python_function section.
        k: v
        for k, v in summary["flavors"].get(PYFUNC, {}).items()
        if k not in ("env", "python_version")
    }
    details = ", ".join(f"{k}={v}" for k, v in sorted(flavor_conf.items()) if v is not None)
    if details:
        lines.append(f"          {details}")
    if summary["pickle"]:
        lines.append(f"Pickle:   yes ({summary['pickle']}): load only packages you trust")
    written = summary["written_by"]
    lines.append("Saved by: " + ", ".join(f"{k} {v}" for k, v in written.items() if v) or "unknown")
    runtime = summary["runtime"]
    lines.append(
        "Runs on:  " + ", ".join(f"{k} {v or 'not installed'}" for k, v in runtime.items())
    )
    sig = summary["signature"]
    for part in ("inputs", "outputs"):
        if sig[part]:
            lines.append(f"{part.capitalize()}:")
            lines += _table(
                sig[part],
                ["name", "type", "required"]
                + (["shape"] if any("shape" in r for r in sig[part]) else []),
            )
        else:
            lines.append(f"{part.capitalize()}: (none: {part} are not checked)")
    if sig["params"]:
        lines.append("Params:")
        lines += _table(sig["params"], ["name", "type", "default", "shape"])
    lines += integrity_lines(summary["integrity"])
    lines.append("Requirements:")
    lines += [f"  {r}" for r in summary["requirements"]] or ["  (none recorded)"]
    example = summary["input_example"]
    if example:
        lines.append("Example:  " + ", ".join(f"{k}={v}" for k, v in example.items() if v))
    return "\n".join(lines)
