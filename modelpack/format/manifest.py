"""The integrity manifest: every file of a package with its size and sha256, in ``MANIFEST.json``.

The manifest lies beside ``MLmodel`` (which it lists, so it cannot live inside it). Checking a
package compares the files on disk with it: a listed file whose size or hash differs is
*changed*, one that is gone is *missing*, and a file that is not listed is *added*. The only
files that may appear without being listed are the manifest and its signature, the
``registered_model_meta`` file MLflow writes into a registered model it downloads, and the
``*.pyc`` files Python writes into ``__pycache__/`` when it imports the package's code.

Files are hashed in 1 MiB chunks, never read whole, and several large files on a thread pool
(hashlib releases the GIL while it hashes a large buffer).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from modelpack.errors import IntegrityError, InvalidArgument

__all__ = [
    "ALGORITHM",
    "IGNORED_FILES",
    "MANIFEST_FILE",
    "MANIFEST_VERSION",
    "SIGNATURE_FILE",
    "FileEntry",
    "FileReport",
    "Manifest",
    "build_manifest",
    "check_files",
    "manifest_bytes",
    "read_manifest",
    "write_manifest",
]

MANIFEST_FILE = "MANIFEST.json"
SIGNATURE_FILE = "MANIFEST.sig"
MANIFEST_VERSION = 1
ALGORITHM = "sha256"
IGNORED_FILES = frozenset({MANIFEST_FILE, SIGNATURE_FILE, "registered_model_meta"})
"""Files at the top of a package that are never listed and may come and go."""
# Python writes bytecode there when it imports code/, so a second load would fail if they counted.
# Only *.pyc directly inside __pycache__/ is let through: a sourceless .pyc elsewhere is
# importable on its own and counts as added. (A .pyc crafted to match a listed .py's timestamp
# would still be imported; images run with PYTHONDONTWRITEBYTECODE and copy no __pycache__.)
_PYCACHE = "__pycache__"
_CHUNK = 1 << 20
_PARALLEL_BYTES = 16 << 20  # below this in all, a thread pool costs more than it saves
_HEX = frozenset("0123456789abcdef")
_NAMES_SHOWN = 5


@dataclass(frozen=True)
class FileEntry:
    """What the manifest records of one file."""

    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """Relative POSIX paths of a package's files mapped to their size and sha256."""

    files: Mapping[str, FileEntry]
    version: int = MANIFEST_VERSION

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": ALGORITHM,
            "files": {
                name: {"sha256": entry.sha256, "size": entry.size}
                for name, entry in sorted(self.files.items())
            },
            "version": self.version,
        }


def manifest_bytes(manifest: Manifest) -> bytes:
    """The canonical file content: sorted keys, ASCII, two-space indent, final newline.

    These exact bytes are what ``modelpack sign`` signs.
    """
    return (json.dumps(manifest.to_dict(), sort_keys=True, indent=2) + "\n").encode("ascii")


@dataclass(frozen=True)
class FileReport:
    """How the files on disk compare with a manifest."""

    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)
    """Why a changed file counts as changed (``size 10 -> 12``, ``sha256 differs``)."""

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.added)

    def summary(self) -> str:
        """``changed: a, b; missing: c; added: d and 3 more`` (at most five names of each)."""
        kinds = (("changed", self.changed), ("missing", self.missing), ("added", self.added))
        return "; ".join(f"{kind}: {_names(names)}" for kind, names in kinds if names)


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    rest = len(names) - _NAMES_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def read_manifest(package: Path) -> tuple[Manifest, bytes] | None:
    """The package's manifest and its exact bytes, or None when it has none.

    Raises ``IntegrityError`` when the file is not a manifest this version can read.
    """
    path = package / MANIFEST_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IntegrityError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _parse(path, data), data


def _parse(path: Path, data: bytes) -> Manifest:
    def bad(reason: str) -> IntegrityError:
        return IntegrityError(f"{path} is not a valid manifest: {reason}")

    try:
        doc = json.loads(data)
    except ValueError:
        raise bad("not JSON") from None
    if not isinstance(doc, dict):
        raise bad("expected a JSON object")
    version = doc.get("version")
    if version != MANIFEST_VERSION:
        raise bad(f"version {version!r}; this modelpack reads version {MANIFEST_VERSION}")
    if doc.get("algorithm") != ALGORITHM:
        raise bad(f"hash algorithm {doc.get('algorithm')!r}; expected {ALGORITHM!r}")
    files = doc.get("files")
    if not isinstance(files, dict):
        raise bad("'files' is not an object")
    entries = {}
    for name, entry in files.items():
        if not _safe_name(name):
            raise bad(f"file name {name!r} is not a relative path inside the package")
        size = entry.get("size") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not (isinstance(size, int) and not isinstance(size, bool) and size >= 0):
            raise bad(f"{name}: 'size' is not a non-negative integer")
        if not (isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX):
            raise bad(f"{name}: 'sha256' is not 64 lowercase hex digits")
        entries[name] = FileEntry(size, digest)
    return Manifest(entries, version)


def _safe_name(name: str) -> bool:
    pure = PurePosixPath(name)
    return (
        bool(name)
        and "\\" not in name
        and not pure.is_absolute()
        and ".." not in pure.parts
        and str(pure) == name
        and name not in IGNORED_FILES
    )


def build_manifest(package: Path, workers: int | None = None) -> Manifest:
    """Hash every file of ``package`` (the ignored ones aside) into a manifest.

    Raises ``InvalidArgument`` for entries a manifest cannot list: special files, broken links
    and links to directories.
    """
    files: dict[str, Path] = {}
    for name, path, kind in _walk(package):
        if kind != "file":
            raise InvalidArgument(
                f"{path} is {kind}; a manifest lists regular files only "
                "(copy what it points to into the package instead)"
            )
        files[name] = path
    hashed = _hash_all(files, workers)
    gone = sorted(name for name, (size, _) in hashed.items() if size < 0)
    if gone:
        raise InvalidArgument(
            f"files vanished while the manifest was written: {_names(tuple(gone))}"
        )
    return Manifest({name: FileEntry(*hashed[name]) for name in files})


def write_manifest(package: Path, workers: int | None = None) -> tuple[Manifest, bytes, bool]:
    """Write ``MANIFEST.json`` for ``package`` (replacing one already there).

    Returns the manifest, its bytes, and whether the content differs from the file it replaced
    (True also when there was none): a signature of the old manifest no longer holds then.
    """
    manifest = build_manifest(package, workers)
    data = manifest_bytes(manifest)
    target = package / MANIFEST_FILE
    try:
        changed = target.read_bytes() != data
    except FileNotFoundError:
        changed = True
    if changed:
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=package)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return manifest, data, changed


def check_files(package: Path, manifest: Manifest, workers: int | None = None) -> FileReport:
    """Compare the files of ``package`` with ``manifest``: sizes first, then hashes."""
    listed = manifest.files
    details: dict[str, str] = {}
    added = []
    to_hash: dict[str, Path] = {}
    seen = set()
    for name, path, kind in _walk(package):
        if name not in listed:
            added.append(name)
            continue
        seen.add(name)
        if kind != "file":
            details[name] = f"now {kind}"
        elif (size := _size(path)) != listed[name].size:
            details[name] = f"size {listed[name].size} -> {size}"
        else:
            to_hash[name] = path
    missing = set(listed) - seen
    for name, (size, digest) in _hash_all(to_hash, workers).items():
        if size < 0:  # removed since the walk
            missing.add(name)
        elif size != listed[name].size:
            details[name] = f"size {listed[name].size} -> {size}"
        elif digest != listed[name].sha256:
            details[name] = "sha256 differs"
    return FileReport(
        changed=tuple(sorted(details)),
        missing=tuple(sorted(missing)),
        added=tuple(sorted(added)),
        details=details,
    )


def _walk(package: Path) -> Iterator[tuple[str, Path, str]]:
    """``(relative posix name, path, kind)`` of every entry a manifest speaks of.

    ``kind`` is ``"file"`` for regular files (links to them included), otherwise what the entry
    is; directories are entered, links to directories are not.
    """
    stack = [(package, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise IntegrityError(f"cannot read {directory}: {exc.strerror or exc}") from None
        in_pycache = prefix.endswith(_PYCACHE + "/")
        for entry in entries:
            name = prefix + entry.name
            if not prefix and entry.name in IGNORED_FILES:
                continue
            if in_pycache and entry.name.endswith(".pyc"):
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                stack.append((path, name + "/"))
                continue
            try:
                mode = os.stat(entry.path).st_mode
            except OSError:
                yield name, path, "a broken symbolic link"
                continue
            if stat.S_ISREG(mode):
                yield name, path, "file"
            elif stat.S_ISDIR(mode):
                yield name, path, "a symbolic link to a directory"
            else:
                yield name, path, "not a regular file"


def _hash_all(files: Mapping[str, Path], workers: int | None) -> dict[str, tuple[int, str]]:
    """``name -> (bytes read, sha256 hex)``, on a thread pool when the files are large enough."""
    if workers is None:
        workers = min(len(files), _cpus())
        if sum(_size(p) for p in files.values()) < _PARALLEL_BYTES:
            workers = 1
    if workers <= 1 or len(files) <= 1:
        return {name: _hash_file(path) for name, path in files.items()}
    # Largest first, so that one big file does not start last and finish alone.
    order = sorted(files, key=lambda n: _size(files[n]), reverse=True)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelpack-hash") as pool:
        results = pool.map(lambda n: _hash_file(files[n]), order)
        return dict(zip(order, results, strict=True))


def _hash_file(path: Path) -> tuple[int, str]:
    """``(bytes read, sha256 hex)``; ``(-1, "")`` when the file is gone."""
    try:
        return _sha256(path)
    except FileNotFoundError:
        return -1, ""
    except OSError as exc:
        raise IntegrityError(f"cannot read {path}: {exc.strerror or exc}") from None


def _sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    size = 0
    with open(path, "rb", buffering=0) as file:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while n := file.readinto(buffer):
            digest.update(view[:n])
            size += n
    return size, digest.hexdigest()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
