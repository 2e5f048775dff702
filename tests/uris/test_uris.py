"""Model URIs: local paths, file://, archives over http(s) and object stores (moto's S3 server)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

import modelpack
from modelpack.errors import (
    InvalidArgument,
    InvalidModel,
    MissingDependency,
    ModelNotFound,
    RemoteError,
)
from modelpack.settings import Settings
from modelpack.uris import SCHEMES, resolve


def _tar_gz(package: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(package, arcname="wine")
    return dest


def _zip(package: Path, dest: Path) -> Path:
    return Path(shutil.make_archive(str(dest.with_suffix("")), "zip", package))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- local paths -----------------------------------------------------------------------------------


def test_a_directory_a_file_uri_and_the_mlmodel_file_resolve_in_place(
    sklearn_package: Path,
) -> None:
    found = [
        resolve(str(sklearn_package)),
        resolve(sklearn_package.as_uri()),
        resolve(str(sklearn_package / "MLmodel")),
    ]
    assert found == [sklearn_package, sklearn_package, sklearn_package / "MLmodel"]


def test_a_missing_path_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve(str(tmp_path / "nope"))
    assert str(caught.value) == (
        f"model URI '{tmp_path / 'nope'}': no such file or directory: {tmp_path / 'nope'}"
    )


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve("ftp://example.com/model")
    assert str(caught.value) == (
        "model URI 'ftp://example.com/model': unknown scheme 'ftp:'; give a local path or a "
        "file://, runs:/, models:/, http(s)://, s3://, gs:// or abfs:// URI"
    )


def test_schemes_are_chosen_from_one_table() -> None:
    assert sorted(SCHEMES) == sorted(
        [
            "",
            "file",
            "runs",
            "models",
            "mlflow-artifacts",
            "http",
            "https",
            "s3",
            "s3a",
            "gs",
            "gcs",
            "abfs",
            "abfss",
            "az",
        ]
    )


def test_a_local_archive_is_unpacked_into_the_cache(
    sklearn_package: Path, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    archive = _tar_gz(sklearn_package, tmp_path / "wine.tar.gz")
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    path = resolve(str(archive), settings)
    assert (path.name, path.is_relative_to(tmp_path / "cache")) == ("wine", True)
    assert modelpack.load_model(path).predict(wine_frame).tolist() == (
        modelpack.load_model(sklearn_package).predict(wine_frame).tolist()
    )


# -- http(s) archives ------------------------------------------------------------------------------


class _Files(ThreadingHTTPServer):
    files: dict[str, bytes]
    requests: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Files

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def file_server() -> Iterator[_Files]:
    server = _Files(("127.0.0.1", 0), _Handler)
    server.files, server.requests = {}, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: _Files, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_an_http_archive_loads_and_predicts_like_the_package(
    file_server: _Files,
    sklearn_package: Path,
    wine_frame: pd.DataFrame,
    tmp_path: Path,
    kind: str,
) -> None:
    pack = _tar_gz if kind == "tar.gz" else _zip
    file_server.files[f"/wine.{kind}"] = pack(
        sklearn_package, tmp_path / f"wine.{kind}"
    ).read_bytes()
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    path = resolve(_url(file_server, f"/wine.{kind}"), settings)
    got = modelpack.load_model(path).predict(wine_frame)
    assert got.tolist() == modelpack.load_model(sklearn_package).predict(wine_frame).tolist()


def test_a_second_resolve_reuses_the_cached_package(
    file_server: _Files, sklearn_package: Path, tmp_path: Path
) -> None:
    file_server.files["/again.tar.gz"] = _tar_gz(sklearn_package, tmp_path / "a.tgz").read_bytes()
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    first = resolve(_url(file_server, "/again.tar.gz"), settings)
    (first / "marker").write_text("kept")
    second = resolve(_url(file_server, "/again.tar.gz"), settings)
    assert (second, (second / "marker").read_text()) == (first, "kept")


def test_a_changed_http_archive_is_fetched_again(
    file_server: _Files, sklearn_package: Path, tmp_path: Path
) -> None:
    file_server.files["/changing.tar.gz"] = _tar_gz(
        sklearn_package, tmp_path / "a.tgz"
    ).read_bytes()
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    first = resolve(_url(file_server, "/changing.tar.gz"), settings)
    file_server.files["/changing.tar.gz"] = _zip(sklearn_package, tmp_path / "b.zip").read_bytes()
    assert resolve(_url(file_server, "/changing.tar.gz"), settings) != first


def test_an_http_archive_above_the_limit_is_refused(
    file_server: _Files, sklearn_package: Path, tmp_path: Path
) -> None:
    archive = _tar_gz(sklearn_package, tmp_path / "big.tar.gz")
    file_server.files["/big.tar.gz"] = archive.read_bytes()
    url = _url(file_server, "/big.tar.gz")
    with pytest.raises(InvalidModel) as caught:
        resolve(url, Settings(cache_dir=str(tmp_path / "cache"), max_archive_bytes=100))
    assert str(caught.value) == (
        f"model URI '{url}': the archive is {archive.stat().st_size} bytes, more than 100; refused"
    )
    assert list((tmp_path / "cache").rglob("*")) == []


def test_a_missing_http_archive_names_the_url(file_server: _Files, tmp_path: Path) -> None:
    url = _url(file_server, "/missing.tar.gz")
    with pytest.raises(ModelNotFound) as caught:
        resolve(url, Settings(cache_dir=str(tmp_path)))
    address = _url(file_server, "")
    assert str(caught.value) == (f"model URI '{url}': nothing at {url} (HTTP 404 from {address})")


def test_an_http_link_that_is_not_an_archive_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve("https://example.com/models/wine")
    assert str(caught.value) == (
        "model URI 'https://example.com/models/wine': an http(s) model URI must name a package "
        "archive (.tar.gz, .tgz, .tar.bz2, .tar.xz, .tar, .zip)"
    )


def test_an_unreachable_host_names_the_address(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/wine.tar.gz"
    with pytest.raises(RemoteError) as caught:
        resolve(url, Settings(cache_dir=str(tmp_path)))
    assert str(caught.value) == (
        f"model URI '{url}': cannot reach http://127.0.0.1:{port}: [Errno 111] Connection refused"
    )


# -- object stores (moto's S3 server) --------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on 127.0.0.1, with a bucket 'models'."""
    moto_server = pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="models")
    yield endpoint
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    # botocore reads these itself (modelpack passes no credentials of its own to fsspec).
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
    }.items():
        monkeypatch.setenv(name, value)
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    return s3_server


def _upload(endpoint: str, local: Path, key: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    files = [local] if local.is_file() else [p for p in local.rglob("*") if p.is_file()]
    for file in files:
        name = key if local.is_file() else f"{key}/{file.relative_to(local).as_posix()}"
        client.upload_file(str(file), "models", name)


def test_an_s3_prefix_loads_and_predicts_like_the_package(
    s3_env: str, sklearn_package: Path, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    _upload(s3_env, sklearn_package, "wine")
    settings = Settings(cache_dir=str(tmp_path / "cache"))
    path = resolve("s3://models/wine", settings)
    assert sorted(p.name for p in path.iterdir()) == sorted(
        p.name for p in sklearn_package.iterdir()
    )
    got = modelpack.load_model(path).predict(wine_frame)
    assert got.tolist() == modelpack.load_model(sklearn_package).predict(wine_frame).tolist()
    assert resolve("s3://models/wine/MLmodel", settings) == path


def test_an_s3_archive_is_unpacked(s3_env: str, sklearn_package: Path, tmp_path: Path) -> None:
    _upload(s3_env, _tar_gz(sklearn_package, tmp_path / "wine.tar.gz"), "archives/wine.tar.gz")
    path = resolve("s3://models/archives/wine.tar.gz", Settings(cache_dir=str(tmp_path / "c")))
    assert (path.name, (path / "MLmodel").is_file()) == ("wine", True)


def test_an_s3_prefix_without_a_package_is_not_found(s3_env: str, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve("s3://models/nothing-here", Settings(cache_dir=str(tmp_path)))
    assert str(caught.value) == (
        "model URI 's3://models/nothing-here': no MLmodel file at this prefix"
    )


def test_an_object_store_without_fsspec_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import now raises ImportError
    with pytest.raises(MissingDependency) as caught:
        resolve("gs://models/wine")
    assert str(caught.value) == (
        "model URI 'gs://models/wine': 'gs://' URIs need fsspec and gcsfs: pip install fsspec gcsfs"
    )
