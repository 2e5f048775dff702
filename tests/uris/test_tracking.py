"""runs:/ and models:/ URIs against a real MLflow tracking server (REST) and a SQLite store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import modelpack
from modelpack.cli import main
from modelpack.errors import (
    InvalidArgument,
    MissingDependency,
    ModelNotFound,
)
from modelpack.settings import Settings
from modelpack.uris import resolve
from modelpack.uris._stores import RestStore
from modelpack.uris._tracking import Reference, auth_headers, parse, store_for

# The five forms the issue names, and a package stored as plain run artifacts (how MLflow 2 logged
# models); "{run}" and "{model_id}" are filled in per store.
URIS = [
    "models:/wine/1",
    "models:/wine@champion",
    "models:/wine/Production",
    "runs:/{run}/model",
    "models:/{model_id}",
    "runs:/{run}/legacy",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("runs:/abc/model", Reference("run", "abc", "", "model")),
        ("runs:/abc/outer/model", Reference("run", "abc", "", "outer/model")),
        ("models:/wine/3", Reference("version", "wine", "3")),
        ("models:/wine/3/sub/dir", Reference("version", "wine", "3", "sub/dir")),
        ("models:/wine/production", Reference("stage", "wine", "Production")),
        ("models:/wine/None", Reference("stage", "wine", "None")),
        ("models:/wine/Latest", Reference("latest", "wine")),
        ("models:/wine@champion", Reference("alias", "wine", "champion")),
        ("models:/wine@champion/sub", Reference("alias", "wine", "champion", "sub")),
        ("models:/m-0123abcd", Reference("logged_model", "m-0123abcd")),
    ],
)
def test_parse(uri: str, expected: Reference) -> None:
    assert parse(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("runs:/", "no run id; runs:/ URIs look like 'runs:/<run_id>/path/to/model'"),
        ("models:/", "no model name; models:/ URIs look like"),
        ("models:/wine@", "an empty name or alias in 'wine@'; models:/ URIs look like"),
        ("models:/wine/beta", "'beta' is not a version number, a stage (None, Staging, "),
        ("models://profile@databricks/wine/1", "'models://<profile>/...' (a Databricks profile)"),
    ],
)
def test_a_malformed_uri_says_what_the_forms_are(uri: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve(uri, Settings(tracking_uri="http://127.0.0.1:1"))
    assert str(caught.value).startswith(f"model URI '{uri}': {message}")


# -- choosing the store and credentials ----------------------------------------------------------


def test_no_tracking_uri_is_one_line() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve("models:/wine/1", Settings())
    assert str(caught.value) == (
        "model URI 'models:/wine/1': no tracking URI is set: set MODELPACK_TRACKING_URI or "
        "MLFLOW_TRACKING_URI to an MLflow tracking server (http://host:5000) or store "
        "(sqlite:///mlflow.db)"
    )


def test_mlflow_variables_are_read_when_modelpack_ones_are_unset() -> None:
    settings = Settings.from_env(
        {
            "MLFLOW_TRACKING_URI": "http://mlflow:5000/",
            "MLFLOW_TRACKING_USERNAME": "ana",
            "MLFLOW_TRACKING_PASSWORD": "s3cret",
        }
    )
    store = store_for(settings)
    assert isinstance(store, RestStore)
    assert (store.base, store.headers) == (
        "http://mlflow:5000",
        {"Authorization": "Basic YW5hOnMzY3JldA=="},
    )


def test_a_token_wins_over_basic_auth() -> None:
    settings = Settings.from_env(
        {
            "MODELPACK_TRACKING_TOKEN": "tok",
            "MLFLOW_TRACKING_TOKEN": "other",
            "MLFLOW_TRACKING_USERNAME": "ana",
            "MLFLOW_TRACKING_PASSWORD": "s3cret",
        }
    )
    assert auth_headers(settings) == {"Authorization": "Bearer tok"}


# -- a real MLflow tracking server ---------------------------------------------------------------


@dataclass
class Tracked:
    """A model logged, registered, aliased and staged in one tracking store."""

    tracking_uri: str
    cache_dir: Path
    run_id: str
    model_id: str
    log: Path | None = None
    expected: dict[str, list[float]] = field(default_factory=dict)

    def uri(self, template: str) -> str:
        return template.format(run=self.run_id, model_id=self.model_id)

    def settings(self) -> Settings:
        return Settings(tracking_uri=self.tracking_uri, cache_dir=str(self.cache_dir))


def _log_and_register(
    tracking_uri: str, artifacts: Path | None, model: Any, frame: pd.DataFrame, package: Path
) -> tuple[str, str, dict[str, list[float]]]:
    """Log ``model`` through the mlflow client, register it as 'wine' v1 with an alias and a stage,
    log ``package`` as run artifacts under 'legacy', and record mlflow.pyfunc's predictions for
    each URI form."""
    import mlflow
    from mlflow.models import infer_signature

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        client = mlflow.MlflowClient()
        # A server stores artifacts itself (served over HTTP); a database store needs a place
        # outside the working directory.
        location = artifacts.as_uri() if artifacts else None
        experiment = client.create_experiment("modelpack", artifact_location=location)
        with mlflow.start_run(experiment_id=experiment) as run:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(frame, model.predict(frame)),
                pip_requirements=["scikit-learn"],
                registered_model_name="wine",
            )
            mlflow.log_artifacts(str(package), "legacy")
        client.set_registered_model_alias("wine", "champion", "1")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated, still served
            client.transition_model_version_stage("wine", "1", "Production")
        expected = {}
        for template in URIS:
            uri = template.format(run=run.info.run_id, model_id=info.model_id)
            expected[template] = mlflow.pyfunc.load_model(uri).predict(frame).tolist()
    finally:
        mlflow.set_tracking_uri(previous)
    return run.info.run_id, str(info.model_id), expected


@pytest.fixture(scope="session")
def mlflow_server(
    tmp_path_factory: pytest.TempPathFactory,
    elasticnet: Any,
    wine_frame: pd.DataFrame,
    sklearn_package: Path,
) -> Iterator[Tracked]:
    """``mlflow server`` on 127.0.0.1 (SQLite backend, local artifact root served over HTTP)."""
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    address = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"  # the server would report usage to MLflow's site
    command = [
        *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
        *("--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}"),
        *("--artifacts-destination", str(root / "artifacts"), "--workers", "1"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        # Import what logging needs while the server boots (both take seconds).
        import mlflow.sklearn  # noqa: F401
        import skops.io  # noqa: F401

        _wait_until_up(address, process, log)
        run_id, model_id, expected = _log_and_register(
            address, None, elasticnet, wine_frame, sklearn_package
        )
        yield Tracked(address, root / "cache", run_id, model_id, log, expected)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{address}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"mlflow server did not start in 120 s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def tracked_env(mlflow_server: Tracked, monkeypatch: pytest.MonkeyPatch) -> Tracked:
    monkeypatch.setenv("MODELPACK_TRACKING_URI", mlflow_server.tracking_uri)
    monkeypatch.setenv("MODELPACK_CACHE_DIR", str(mlflow_server.cache_dir))
    return mlflow_server


@pytest.mark.mlflow
@pytest.mark.parametrize("template", URIS)
def test_load_model_from_the_server_predicts_like_mlflow(
    tracked_env: Tracked, wine_frame: pd.DataFrame, template: str
) -> None:
    model = modelpack.load_model(tracked_env.uri(template))
    assert model.predict(wine_frame).tolist() == tracked_env.expected[template]


@pytest.mark.mlflow
@pytest.mark.parametrize("template", URIS)
def test_info_command_reads_from_the_server(tracked_env: Tracked, template: str) -> None:
    result = CliRunner().invoke(main, ["info", "-m", tracked_env.uri(template), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["flavor"], Path(summary["path"]).is_relative_to(tracked_env.cache_dir)) == (
        "sklearn",
        True,
    )


@pytest.mark.mlflow
def test_predict_command_scores_with_a_registry_model(
    tracked_env: Tracked, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "wine.json"
    source.write_text(json.dumps({"dataframe_split": wine_frame.to_dict(orient="split")}))
    result = CliRunner().invoke(
        main, ["predict", "-m", "models:/wine/Production", "-i", str(source), "-o", "-", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["predictions"]
        == (tracked_env.expected["models:/wine/Production"])
    )


@pytest.mark.mlflow
def test_a_second_resolve_downloads_nothing(mlflow_server: Tracked, tmp_path: Path) -> None:
    assert mlflow_server.log is not None
    settings = Settings(tracking_uri=mlflow_server.tracking_uri, cache_dir=str(tmp_path))

    def downloads() -> int:
        text = mlflow_server.log.read_text(errors="replace")  # type: ignore[union-attr]
        return text.count("GET /api/2.0/mlflow-artifacts/artifacts/")

    before = downloads()
    first = resolve("models:/wine/1", settings)
    after_first = downloads()
    second = resolve("models:/wine@champion", settings)
    assert (second, downloads() - after_first) == (first, 0)
    assert after_first - before == sum(1 for p in first.rglob("*") if p.is_file())


@pytest.mark.mlflow
@pytest.mark.parametrize(
    ("template", "cause"),
    [
        ("models:/wine/9", "Model Version (name=wine, version=9) not found"),
        ("models:/wine@nobody", "Registered model alias nobody not found"),
        ("models:/nope/Production", "Registered Model with name=nope not found"),
        ("runs:/0123456789abcdef/model", "Run with id=0123456789abcdef not found"),
        ("models:/m-0123456789abcdef", "Logged model with ID 'm-0123456789abcdef' not found"),
    ],
)
def test_a_missing_run_model_version_or_alias_is_one_line(
    mlflow_server: Tracked, template: str, cause: str
) -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve(template, mlflow_server.settings())
    assert str(caught.value) == (
        f"model URI '{template}': {cause} (tracking server {mlflow_server.tracking_uri})"
    )


@pytest.mark.mlflow
def test_latest_and_a_proxied_artifact_uri_name_the_same_package(mlflow_server: Tracked) -> None:
    settings = mlflow_server.settings()
    location = RestStore(mlflow_server.tracking_uri, {}).logged_model(mlflow_server.model_id)
    assert location.startswith("mlflow-artifacts:/")
    assert resolve("models:/wine/latest", settings) == resolve("models:/wine/1", settings)
    assert resolve(location, settings) == resolve("models:/wine/1", settings)


@pytest.mark.mlflow
def test_a_stage_without_versions_is_one_line(mlflow_server: Tracked) -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve("models:/wine/Staging", mlflow_server.settings())
    assert str(caught.value) == (
        "model URI 'models:/wine/Staging': registered model 'wine' has no versions in stage "
        "'Staging'"
    )


@pytest.mark.mlflow
def test_a_run_path_without_artifacts_is_one_line(mlflow_server: Tracked) -> None:
    uri = f"runs:/{mlflow_server.run_id}/elsewhere"
    with pytest.raises(ModelNotFound) as caught:
        resolve(uri, mlflow_server.settings())
    assert str(caught.value).startswith(f"model URI '{uri}': no artifacts at mlflow-artifacts:/")
    assert str(caught.value).endswith(
        f"/{mlflow_server.run_id}/artifacts/elsewhere on {mlflow_server.tracking_uri}"
    )


@pytest.mark.mlflow
def test_serve_command_serves_a_registry_model(
    tracked_env: Tracked, wine_frame: pd.DataFrame, tmp_path: Path
) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "modelpack", "serve", "-m", "models:/wine@champion"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_for_ping(f"http://127.0.0.1:{port}", process, log)
        body = json.dumps({"dataframe_split": wine_frame.to_dict(orient="split")}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert predictions == tracked_env.expected["models:/wine@champion"]


def _wait_for_ping(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"modelpack serve exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{address}/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"modelpack serve did not answer /ping in 60 s:\n{log.read_text()[-3000:]}")


# -- a SQLite tracking store, through the mlflow package -----------------------------------------


@pytest.fixture(scope="session")
def sqlite_store(
    tmp_path_factory: pytest.TempPathFactory,
    elasticnet: Any,
    wine_frame: pd.DataFrame,
    sklearn_package: Path,
) -> Tracked:
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("mlflow-sqlite")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    run_id, model_id, expected = _log_and_register(
        uri, root / "artifacts", elasticnet, wine_frame, sklearn_package
    )
    return Tracked(uri, root / "cache", run_id, model_id, expected=expected)


@pytest.mark.mlflow
@pytest.mark.parametrize("template", URIS)
def test_load_model_from_a_sqlite_store_predicts_like_mlflow(
    sqlite_store: Tracked, wine_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    monkeypatch.setenv("MODELPACK_TRACKING_URI", sqlite_store.tracking_uri)
    path = resolve(sqlite_store.uri(template))
    # A local artifact store is used in place: nothing is copied into the cache.
    artifacts = sqlite_store.cache_dir.parent / "artifacts"
    assert (path.is_relative_to(artifacts), (path / "MLmodel").is_file()) == (True, True)
    model = modelpack.load_model(sqlite_store.uri(template))
    assert model.predict(wine_frame).tolist() == sqlite_store.expected[template]


@pytest.mark.mlflow
def test_a_missing_version_in_a_sqlite_store_is_one_line(sqlite_store: Tracked) -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve("models:/wine/7", sqlite_store.settings())
    assert str(caught.value) == (
        "model URI 'models:/wine/7': Model Version (name=wine, version=7) not found "
        f"(tracking store {sqlite_store.tracking_uri})"
    )


def test_a_database_store_without_mlflow_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)  # import now raises ImportError
    with pytest.raises(MissingDependency) as caught:
        resolve("models:/wine/1", Settings(tracking_uri="sqlite:///mlflow.db"))
    assert str(caught.value) == (
        "model URI 'models:/wine/1': the tracking URI 'sqlite:///mlflow.db' is a database or "
        "local store, which modelpack reads through the mlflow package: pip install mlflow (or "
        "set MODELPACK_TRACKING_URI to an MLflow tracking server, http://...)"
    )
