"""The download cache and safe unpacking of package archives.

Remote packages land in a cache directory, one entry per resolved artifact, written into a temporary
directory beside it and renamed into place, so a reader never sees a half-written package and a
second resolve of the same artifact reuses it. Archives (``.tar.gz``, ``.zip``, ...) are checked
entry by entry before anything is written: a name that escapes the target, a link that points
outside it, a device file or an archive larger than the limit is refused, naming the entry.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from modelpack.errors import InvalidModel

__all__ = ["ARCHIVE_SUFFIXES", "Cache", "extract", "is_archive", "package_root", "safe_join"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")
_CONTENT = "package"
_SOURCE = "source.txt"
_PARTIAL = ".partial-"


def is_archive(name: str) -> bool:
    """Whether a file name or URL path ends like a package archive."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


class Cache:
    """Downloaded packages under ``root``, one directory per key (a resolved artifact)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def at(cls, cache_dir: str | None) -> Cache:
        """The cache in ``cache_dir``, or in ``~/.cache/modelpack`` when None."""
        root = Path(cache_dir).expanduser() if cache_dir else Path.home() / ".cache" / "modelpack"
        return cls(root / "packages")

    def entry(self, key: str, label: str = "") -> Path:
        """The directory the content for ``key`` lives in once filled (it may not exist yet)."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:48]
        return self.root / (f"{slug}-{digest}" if slug else digest) / _CONTENT

    def get(self, key: str, fill: Callable[[Path], None], label: str = "") -> Path:
        """The content for ``key``; on a miss ``fill(tmpdir)`` writes it, then it is moved in place.

        ``fill`` is never called for a key already present. If it raises, nothing is kept.
        """
        content = self.entry(key, label)
        if content.is_dir():
            return content
        self.root.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=_PARTIAL, dir=self.root))
        try:
            (partial / _CONTENT).mkdir()
            fill(partial / _CONTENT)
            (partial / _SOURCE).write_text(key + "\n", encoding="utf-8")
            try:
                os.rename(partial, content.parent)
            except OSError:
                # Another process filled the same key first; theirs is as good as ours.
                if not content.is_dir():
                    raise
                shutil.rmtree(partial, ignore_errors=True)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return content

    def scratch(self) -> Path:
        """A fresh temporary directory inside the cache (same filesystem, so renames are atomic)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=_PARTIAL, dir=self.root))


def safe_join(root: Path, name: str) -> Path:
    """``root / name`` for a relative, ``..``-free name; anything else is refused."""
    _check_name(name)
    return root.joinpath(*PurePosixPath(name).parts)


def package_root(directory: Path) -> Path:
    """Where the MLmodel file is: ``directory`` itself, or its one top-level subdirectory."""
    if (directory / "MLmodel").is_file():
        return directory
    children = [p for p in directory.iterdir() if not p.name.startswith(".")]
    if len(children) == 1 and (children[0] / "MLmodel").is_file():
        return children[0]
    return directory


def extract(archive: Path, dest: Path, max_bytes: int, name: str | None = None) -> None:
    """Unpack a tar (any compression) or zip archive into ``dest`` after checking every entry.

    ``name`` is how the archive is called in messages (default: its file name).
    """
    name = name or archive.name
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, dest, max_bytes, name)
    elif tarfile.is_tarfile(archive):
        _extract_tar(archive, dest, max_bytes, name)
    else:
        raise InvalidModel(f"{name} is neither a tar nor a zip archive")


def _check_name(name: str, archive: str = "") -> None:
    where = f"archive {archive}: entry" if archive else "entry"
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        raise InvalidModel(f"{where} '{name}' is an absolute path; refused")
    if ".." in path.parts:
        raise InvalidModel(f"{where} '{name}' points outside the package; refused")


def _too_large(archive: str, entry: str, max_bytes: int) -> InvalidModel:
    return InvalidModel(
        f"archive {archive} unpacks to more than {max_bytes} bytes (at entry '{entry}'); refused "
        "(raise MODELPACK_MAX_ARCHIVE_BYTES if you trust it)"
    )


def _extract_tar(archive: Path, dest: Path, max_bytes: int, name: str) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        links = {m.name.rstrip("/") for m in members if m.issym() or m.islnk()}
        total = 0
        for member in members:
            _check_name(member.name, name)
            parts = PurePosixPath(member.name).parts
            # Writing through a link that the archive itself created is how "inside" names escape.
            for i in range(1, len(parts)):
                if "/".join(parts[:i]) in links:
                    raise InvalidModel(
                        f"archive {name}: entry '{member.name}' is written through the link "
                        f"'{'/'.join(parts[:i])}'; refused"
                    )
            if member.issym() or member.islnk():
                _check_link(member, name)
            elif not (member.isfile() or member.isdir()):
                raise InvalidModel(
                    f"archive {name}: entry '{member.name}' is a device or fifo; refused"
                )
            total += member.size if member.isfile() else 0
            if total > max_bytes:
                raise _too_large(name, member.name, max_bytes)
        if hasattr(tarfile, "data_filter"):
            # Belt and braces: the stdlib filter re-checks every path against the real directory.
            tar.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python < 3.10.12
            tar.extractall(dest, members=members)


def _check_link(member: tarfile.TarInfo, archive: str) -> None:
    target = member.linkname
    if PurePosixPath(target).is_absolute():
        raise InvalidModel(
            f"archive {archive}: link '{member.name}' points to the absolute path '{target}'; "
            "refused"
        )
    # A symlink's target is relative to its own directory, a hard link's to the archive root.
    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
    resolved = os.path.normpath(str(base / target))
    if resolved == ".." or resolved.startswith("../"):
        raise InvalidModel(
            f"archive {archive}: link '{member.name}' points outside the package ('{target}'); "
            "refused"
        )


def _extract_zip(archive: Path, dest: Path, max_bytes: int, name: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        total = 0
        for info in infos:
            _check_name(info.filename, name)
            total += info.file_size
            if total > max_bytes:
                raise _too_large(name, info.filename, max_bytes)
        # zipfile writes at most file_size bytes per entry and never creates links.
        for info in infos:
            zf.extract(info, dest)
