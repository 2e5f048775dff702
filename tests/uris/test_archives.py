"""Safe unpacking and the download cache."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from modelpack.errors import InvalidModel
from modelpack.settings import Settings
from modelpack.uris import resolve
from modelpack.uris._archives import Cache, extract, package_root, safe_join


def _tar(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _file(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), b"evil"


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


MALICIOUS = {
    "dotdot": (
        [_file("MLmodel"), _file("../../../../../../evil")],
        "entry '../../../../../../evil' points outside the package; refused",
    ),
    "absolute": (
        [_file("/tmp/modelpack-test-absolute-evil")],
        "entry '/tmp/modelpack-test-absolute-evil' is an absolute path; refused",
    ),
    "symlink-out": (
        [_link("escape", "../../../../../../outside")],
        "link 'escape' points outside the package ('../../../../../../outside'); refused",
    ),
    "symlink-absolute": (
        [_link("escape", "/etc")],
        "link 'escape' points to the absolute path '/etc'; refused",
    ),
    "through-link": (
        [_link("here", "."), _file("here/MLmodel")],
        "entry 'here/MLmodel' is written through the link 'here'; refused",
    ),
    "hardlink-out": (
        [_link("hard", "../../../../etc/passwd", tarfile.LNKTYPE)],
        "link 'hard' points outside the package ('../../../../etc/passwd'); refused",
    ),
    "device": (
        [_link("dev", "", tarfile.CHRTYPE)],
        "entry 'dev' is a device or fifo; refused",
    ),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_a_malicious_tar_is_refused_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    members, reason = MALICIOUS[case]
    archive = _tar(tmp_path / "bad.tar.gz", *members)
    cache = tmp_path / "cache"
    before = _files(tmp_path)
    with pytest.raises(InvalidModel) as caught:
        resolve(str(archive), Settings(cache_dir=str(cache)))
    assert str(caught.value) == f"model URI '{archive}': archive bad.tar.gz: {reason}"
    # Nothing outside the cache, and no half-written entry inside it.
    assert _files(tmp_path) - before == {"cache", "cache/packages"}
    assert not Path("/tmp/modelpack-test-absolute-evil").exists()


def test_a_zip_entry_outside_the_package_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("MLmodel", "flavors: {}\n")
        zf.writestr("../../evil", "evil")
    with pytest.raises(InvalidModel) as caught:
        extract(archive, tmp_path / "out", max_bytes=1000)
    assert str(caught.value) == (
        "archive bad.zip: entry '../../evil' points outside the package; refused"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix", ["tar.gz", "zip"])
def test_an_archive_above_the_limit_is_refused_naming_the_entry(
    tmp_path: Path, suffix: str
) -> None:
    archive = tmp_path / f"big.{suffix}"
    if suffix == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("MLmodel", b"x" * 600)
            zf.writestr("model.bin", b"\0" * 600)
    else:
        a, b = tarfile.TarInfo("MLmodel"), tarfile.TarInfo("model.bin")
        _tar(archive, (a, b"x" * 600), (b, b"\0" * 600))
    with pytest.raises(InvalidModel) as caught:
        extract(archive, tmp_path / "out", max_bytes=1000)
    assert str(caught.value) == (
        f"archive big.{suffix} unpacks to more than 1000 bytes (at entry 'model.bin'); refused "
        "(raise MODELPACK_MAX_ARCHIVE_BYTES if you trust it)"
    )


def test_a_file_that_is_no_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"not an archive")
    with pytest.raises(InvalidModel) as caught:
        extract(archive, tmp_path / "out", max_bytes=1000)
    assert str(caught.value) == "model.tar.gz is neither a tar nor a zip archive"


def test_links_inside_the_package_are_kept(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "ok.tar.gz",
        (tarfile.TarInfo("pkg/MLmodel"), b"flavors: {}\n"),
        _link("pkg/alias", "MLmodel"),
    )
    extract(archive, tmp_path / "out", max_bytes=1000)
    assert (tmp_path / "out/pkg/alias").read_text() == "flavors: {}\n"
    assert package_root(tmp_path / "out") == tmp_path / "out/pkg"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../x", "entry '../x' points outside the package; refused"),
        ("a/../../x", "entry 'a/../../x' points outside the package; refused"),
        ("/x", "entry '/x' is an absolute path; refused"),
        ("C:/x", "entry 'C:/x' is an absolute path; refused"),
    ],
)
def test_safe_join_refuses_names_that_escape(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(InvalidModel) as caught:
        safe_join(tmp_path, name)
    assert str(caught.value) == message


def test_the_cache_fills_a_key_once(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    calls: list[Path] = []

    def fill(dest: Path) -> None:
        calls.append(dest)
        (dest / "MLmodel").write_text("flavors: {}\n")

    first = cache.get("models:/wine/1", fill, label="wine")
    second = cache.get("models:/wine/1", fill, label="wine")
    assert (first, len(calls)) == (second, 1)
    assert first.parent.name.startswith("wine-")
    assert (first.parent / "source.txt").read_text() == "models:/wine/1\n"


def test_a_failed_fill_leaves_nothing_behind(tmp_path: Path) -> None:
    def fill(dest: Path) -> None:
        (dest / "half").write_text("x")
        raise InvalidModel("broken download")

    with pytest.raises(InvalidModel):
        Cache(tmp_path).get("key", fill)
    assert list(tmp_path.iterdir()) == []
