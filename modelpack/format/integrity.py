"""The integrity policy: what loading requires of a package's manifest and signature.

``verify_package`` is the one check every way of loading runs (``open_package``, the image
build, ``info --verify``) before anything in the package is unpickled or imported.
``inspect_package`` reports the same facts without refusing, for ``modelpack verify`` and
``modelpack info``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelpack.errors import IntegrityError, SignatureRefused
from modelpack.format.manifest import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    FileReport,
    Manifest,
    check_files,
    read_manifest,
    write_manifest,
)
from modelpack.format.signing import (
    Signature,
    SignatureStatus,
    load_trusted_keys,
    read_signature,
    sign_manifest,
    signature_status,
)
from modelpack.settings import Settings

__all__ = [
    "IntegrityReport",
    "inspect_package",
    "render_report",
    "rewrite_manifest",
    "sign_package",
    "verify_package",
]


def verify_package(package: Path, settings: Settings) -> Manifest | None:
    """Refuse ``package`` unless its files match its manifest and, when ``trusted_keys`` are
    set, the manifest is signed by one of them. Returns the manifest (None: the package has
    none and no trusted keys are set, so it loads as MLflow's packages always have).
    """
    found = read_manifest(package)
    if settings.trusted_keys:
        _require_trusted_signature(package, found[1] if found else None, settings)
    if found is None:
        return None
    manifest = found[0]
    report = check_files(package, manifest)
    if not report.ok:
        raise IntegrityError(
            f"{package} does not match its manifest ({MANIFEST_FILE}): {report.summary()}; "
            f"modelpack verify -m {package} lists every difference"
        )
    return manifest


def _require_trusted_signature(package: Path, data: bytes | None, settings: Settings) -> None:
    trusted = load_trusted_keys(settings.trusted_keys)
    known = ", ".join(sorted(trusted))
    if data is None:
        raise SignatureRefused(
            f"{package} has no manifest ({MANIFEST_FILE}), so it cannot be signed, and "
            f"MODELPACK_TRUSTED_KEYS requires a signature by one of: {known}"
        )
    signature = read_signature(package)
    if signature is None:
        raise SignatureRefused(
            f"{package} is not signed (no {SIGNATURE_FILE}), and MODELPACK_TRUSTED_KEYS "
            f"requires a signature by one of: {known}"
        )
    status = signature_status(signature, data, trusted)
    if not status.trusted:
        raise SignatureRefused(
            f"{package} is signed by key {signature.fingerprint}, which is not among the "
            f"trusted keys (MODELPACK_TRUSTED_KEYS): {known}"
        )
    if not status.valid:
        raise SignatureRefused(
            f"{package}: the signature by {signature.fingerprint} does not match "
            f"{MANIFEST_FILE}: the manifest was changed after it was signed"
        )


def sign_package(package: Path, key_path: Path) -> tuple[Signature, Signature | None]:
    """Sign ``package``'s manifest after checking its files against it (a signature vouches
    for them). Returns the new signature and the one it replaced, if any."""
    found = read_manifest(package)
    if found is None:
        raise IntegrityError(
            f"{package} has no manifest to sign; add one with: "
            f"modelpack verify --write -m {package}"
        )
    report = check_files(package, found[0])
    if not report.ok:
        raise IntegrityError(
            f"{package} does not match its manifest ({MANIFEST_FILE}): {report.summary()}; "
            f"not signed (if the changes are yours: modelpack verify --write -m {package}, "
            "then sign)"
        )
    return sign_manifest(package, key_path)


@dataclass(frozen=True)
class IntegrityReport:
    """A package's manifest, its files compared with it, and its signature."""

    path: Path
    manifest: Manifest | None
    files: FileReport | None
    """None when the files were not checked, or there is no manifest to check them against."""
    signature: SignatureStatus | None
    """None when the package is unsigned."""
    signature_problem: str | None = None
    """Why ``MANIFEST.sig`` could not be read, when it could not."""
    trusted_keys: bool = False
    """Whether trusted keys are set, so that a signature by one of them is required."""

    @property
    def problems(self) -> list[str]:
        """What is off, one phrase each; empty when the package is intact."""
        if self.manifest is None:
            return [
                f"{self.path} has no manifest ({MANIFEST_FILE}), so its files cannot be "
                f"checked; add one with: modelpack verify --write -m {self.path}"
            ]
        problems = []
        files = self.files
        if files is not None and not files.ok:
            kinds = (("changed", files.changed), ("missing", files.missing), ("added", files.added))
            counts = ", ".join(f"{len(names)} {kind}" for kind, names in kinds if names)
            problems.append(f"{self.path} does not match its manifest ({counts})")
        signature = self.signature
        if self.signature_problem:
            problems.append(f"{SIGNATURE_FILE} cannot be read")
        elif signature is not None and signature.valid is False:
            problems.append(
                f"the signature does not match {MANIFEST_FILE}: the manifest was changed after "
                "it was signed"
            )
        if self.trusted_keys and signature is None:
            problems.append("the package is not signed, and trusted keys are set")
        elif self.trusted_keys and signature is not None and not signature.trusted:
            problems.append("the signer is not among the trusted keys")
        return problems

    @property
    def ok(self) -> bool:
        """Whether the package is intact (and, with trusted keys, signed by one of them)."""
        return not self.problems


def inspect_package(package: Path, settings: Settings, *, check: bool = True) -> IntegrityReport:
    """Everything ``verify_package`` would look at, reported rather than refused.

    ``check=False`` reads the manifest and signature but hashes no file. Raises
    ``IntegrityError`` only when ``MANIFEST.json`` itself cannot be read.
    """
    found = read_manifest(package)
    trusted = load_trusted_keys(settings.trusted_keys) if settings.trusted_keys else None
    if found is None:
        return IntegrityReport(package, None, None, None, trusted_keys=trusted is not None)
    manifest, data = found
    status = problem = None
    try:
        signature: Signature | None = read_signature(package)
    except IntegrityError as exc:
        signature, problem = None, exc.message
    if signature is not None:
        status = signature_status(signature, data, trusted)
    files = check_files(package, manifest) if check else None
    return IntegrityReport(package, manifest, files, status, problem, trusted is not None)


def render_report(report: IntegrityReport) -> list[str]:
    """``modelpack verify``'s output: one line per changed, missing or added file, the
    signature, and ``OK: ...`` or ``FAILED: ...`` last."""
    lines = []
    manifest, files, signature = report.manifest, report.files, report.signature
    if files is not None:
        lines += [f"changed  {name} ({files.details[name]})" for name in files.changed]
        lines += [f"missing  {name}" for name in files.missing]
        lines += [f"added    {name}" for name in files.added]
    if manifest is not None:
        if report.signature_problem:
            lines.append(f"signature: unreadable: {report.signature_problem}")
        elif signature is None:
            lines.append("signature: none")
        else:
            lines.append(f"signature: {signature.describe()}")
    problems = report.problems
    if problems:
        lines.append("FAILED: " + "; ".join(problems))
    elif manifest is not None:
        lines.append(f"OK: {report.path} matches its manifest ({len(manifest.files)} files)")
    return lines


def rewrite_manifest(package: Path) -> list[str]:
    """Write ``package``'s manifest anew (``modelpack verify --write``) and say what changed.

    A signature of the previous manifest no longer holds, so it is removed; it stays when the
    manifest comes out byte for byte the same.
    """
    try:
        old = read_manifest(package)
    except IntegrityError:
        old = None  # an unreadable manifest is replaced all the same
    manifest, _, changed = write_manifest(package)
    target = package / MANIFEST_FILE
    count = f"{len(manifest.files)} files, {manifest.total_bytes} bytes"
    signature = package / SIGNATURE_FILE
    if not changed:
        lines = [f"{target} is up to date ({count})"]
        if signature.exists():
            lines.append(f"{signature} still holds: the manifest did not change")
        return lines
    lines = [f"Wrote {target} ({count})"]
    if old is not None:
        before, after = old[0].files, manifest.files
        updated = sorted(n for n in set(before) & set(after) if before[n] != after[n])
        for label, names in (
            ("updated", updated),
            ("added", sorted(set(after) - set(before))),
            ("removed", sorted(set(before) - set(after))),
        ):
            lines += [f"  {label:<8} {name}" for name in names]
    if signature.exists():
        signature.unlink()
        lines.append(
            f"Removed {signature}: it signed the previous manifest; sign again with: "
            f"modelpack sign -m {package} --key KEY.pem"
        )
    return lines
