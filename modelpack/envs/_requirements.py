"""Requirement lines of a package: read (``-r`` and ``-c`` followed), normalized, and checked
against installed versions.

``packaging`` decides version specifiers and environment markers where it is installed (it
nearly always is); without it only exact pins (``==``) are checked, and lines with a marker are
left alone rather than guessed at.
"""

from __future__ import annotations

import importlib.metadata as md
import re
from dataclasses import dataclass
from pathlib import Path

from modelpack.errors import InvalidModel

__all__ = ["Line", "Requirements", "canonical", "installed_version", "parse", "read_file"]

_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?P<extras>\[[^\]]*\])?\s*"
    r"(?P<spec>[^;@]*?)\s*"
    r"(?:@\s*(?P<url>[^;\s]+))?\s*"
    r"(?:;\s*(?P<marker>.+))?$"
)
_HASH = re.compile(r"\s--hash[=\s]\S+")
_COMMENT = re.compile(r"(^|\s)#.*$")
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?=\S))(?P<path>.+)$")


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Scikit_Learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Line:
    """One requirement (``name[extras] spec @ url ; marker``), its text normalized."""

    name: str
    """Canonical distribution name."""
    extras: str
    specifier: str
    """Version specifiers without spaces (``==4.17.0``, ``>=1,<2``), or ""."""
    url: str | None
    marker: str | None

    @property
    def text(self) -> str:
        text = f"{self.name}{self.extras}{self.specifier}"
        if self.url:
            text += f" @ {self.url}"
        if self.marker:
            text += f"; {self.marker}"
        return text

    def satisfied_by(self, version: str) -> bool | None:
        """Whether ``version`` meets the specifiers; None when that cannot be told here."""
        if not self.specifier or self.url:
            return True
        try:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet
            from packaging.version import InvalidVersion, Version
        except ImportError:
            return _pinned(self.specifier, version)
        try:
            return SpecifierSet(self.specifier).contains(Version(version), prereleases=True)
        except (InvalidSpecifier, InvalidVersion):
            return None

    def applies_here(self) -> bool | None:
        """Whether the marker holds for this interpreter; None when that cannot be told."""
        if not self.marker:
            return True
        try:
            from packaging.markers import InvalidMarker, Marker
        except ImportError:
            return None
        try:
            return Marker(self.marker).evaluate()
        except (InvalidMarker, ValueError):
            return None


def _pinned(specifier: str, version: str) -> bool | None:
    """``==X`` / ``==X.*`` without packaging (local labels such as ``+cpu`` ignored)."""
    if not specifier.startswith("==") or "," in specifier:
        return None
    wanted = specifier[2:].lstrip("=")
    public = version.split("+")[0]
    if wanted.endswith(".*"):
        return (public + ".").startswith(wanted[:-1])
    return public == wanted.split("+")[0] and ("+" not in wanted or wanted == version)


def parse(text: str) -> Line | None:
    """A requirement line, or None for an option line (``--index-url``, ``-e``) or a path."""
    text = " ".join(_HASH.sub("", text).split())  # pip's --hash options: not part of the pin
    if not text or text.startswith(("-", ".", "/")) or "://" in text.split("@")[0]:
        return None
    found = _LINE.match(text)
    if found is None:
        return None
    extras = found.group("extras") or ""
    if extras:
        names = sorted(canonical(e) for e in extras.strip("[]").split(",") if e.strip())
        extras = f"[{','.join(names)}]" if names else ""
    marker = found.group("marker")
    return Line(
        name=canonical(found.group("name")),
        extras=extras,
        specifier="".join((found.group("spec") or "").split()),
        url=found.group("url"),
        marker=" ".join(marker.split()) if marker else None,
    )


@dataclass(frozen=True)
class Requirements:
    """What a requirements file asks for: lines to install and constraints, normalized."""

    lines: tuple[str, ...]
    """Requirement lines (normalized) and option lines (as written), in file order."""
    constraints: tuple[str, ...]

    def parsed(self) -> list[Line]:
        return [line for text in self.lines if (line := parse(text)) is not None]

    def without(self, *names: str) -> Requirements:
        """These requirements minus the lines that name one of ``names``."""
        drop = {canonical(n) for n in names}
        kept = [t for t in self.lines if (line := parse(t)) is None or line.name not in drop]
        return Requirements(tuple(kept), self.constraints)


def read_file(path: Path) -> Requirements:
    """The requirements in ``path`` with ``-r`` and ``-c`` files (relative to the file that
    names them) read in; comments and blank lines dropped."""
    lines: list[str] = []
    constraints: list[str] = []
    _read(path, lines, constraints, seen=set(), constraint=False)
    return Requirements(tuple(lines), tuple(constraints))


def _read(
    path: Path, lines: list[str], constraints: list[str], seen: set[Path], constraint: bool
) -> None:
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidModel(
            f"cannot read {path.name}: {exc.strerror or type(exc).__name__}"
        ) from None
    for raw in text.replace("\\\n", "").splitlines():
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        include = _INCLUDE.match(line)
        if include is not None:
            nested = (path.parent / include.group("path").strip()).resolve()
            is_constraint = include.group(1) in ("-c", "--constraint")
            _read(nested, lines, constraints, seen, constraint or is_constraint)
            continue
        parsed = parse(line)
        normal = parsed.text if parsed is not None else " ".join(line.split())
        (constraints if constraint else lines).append(normal)


def installed_version(name: str) -> str | None:
    """The version of distribution ``name`` installed in this environment, or None."""
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
