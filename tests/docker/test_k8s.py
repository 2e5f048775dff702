"""Kubernetes manifests: the rendered YAML (golden), Kubernetes' own schemas (kubernetes-validate,
offline), the fields the KServe and Seldon CRDs require, and ``modelpack generate-k8s``."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from modelpack.cli import main
from modelpack.docker import K8sSpec, memory_for, render_manifests
from modelpack.docker._footprint import measure_peak_rss
from modelpack.docker.context import PORT, USER_ID
from modelpack.docker.k8s import default_name, grace_period, parse_memory
from modelpack.errors import InvalidArgument
from modelpack.format import write_manifest

GOLDEN = Path(__file__).parent / "golden" / "k8s"
MiB = 1024 * 1024
PLAIN = ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml")
KSERVE = "kserve/inferenceservice.yaml"
SELDON = "seldon/seldondeployment.yaml"


def _spec(**changes: Any) -> K8sSpec:
    """The golden files' spec: a 300 MiB peak, the default settings."""
    request, limit = memory_for(300 * MiB)
    values: dict[str, Any] = {
        "name": "wine",
        "image": "registry.example.com/ml/wine:1.0",
        "memory_request": request,
        "memory_limit": limit,
        "measured": 300 * MiB,
        "source": "models:/wine/3",
        "flavor": "sklearn",
        "kserve": True,
        "seldon": True,
    }
    values.update(changes)
    return K8sSpec(**values)


def _docs(text: str) -> dict[str, Any]:
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 1
    return docs[0]


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    if doc["kind"] == "Deployment":
        return spec["template"]["spec"]["containers"][0]
    if doc["kind"] == "InferenceService":
        return spec["predictor"]["containers"][0]
    return spec["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_manifests(_spec())


def _validator() -> str:
    pytest.importorskip("kubernetes_validate")
    found = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    assert found is not None, "kubernetes-validate is installed but its command is not"
    return found


def _validate(files: list[Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_validator(), "--strict", *args, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------------------------------------------------------------------------------------------
# rendering


def test_the_output_matches_the_golden_files(rendered: dict[str, str]) -> None:
    golden = {p.relative_to(GOLDEN).as_posix(): p.read_text() for p in GOLDEN.rglob("*.yaml")}
    assert rendered == golden


def test_without_kserve_or_seldon_only_the_four_kubernetes_files() -> None:
    assert sorted(render_manifests(_spec(kserve=False, seldon=False))) == sorted(PLAIN)


def test_every_file_is_one_yaml_document_of_its_kind(rendered: dict[str, str]) -> None:
    kinds = {path: (_docs(t)["apiVersion"], _docs(t)["kind"]) for path, t in rendered.items()}
    assert kinds == {
        "deployment.yaml": ("apps/v1", "Deployment"),
        "service.yaml": ("v1", "Service"),
        "hpa.yaml": ("autoscaling/v2", "HorizontalPodAutoscaler"),
        "pdb.yaml": ("policy/v1", "PodDisruptionBudget"),
        KSERVE: ("serving.kserve.io/v1beta1", "InferenceService"),
        SELDON: ("machinelearning.seldon.io/v1", "SeldonDeployment"),
    }
    assert {_docs(text)["metadata"]["name"] for text in rendered.values()} == {"wine"}


@pytest.mark.parametrize("version", [None, "1.27.0"])
def test_kubernetes_validate_strict_passes(
    rendered: dict[str, str], tmp_path: Path, version: str | None
) -> None:
    files = []
    for name in PLAIN:
        (tmp_path / name).write_text(rendered[name])
        files.append(tmp_path / name)

    result = _validate(files, *(["-k", version] if version else []))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed ") == 4, result.stdout


def test_kubernetes_validate_strict_catches_a_wrong_field(
    rendered: dict[str, str], tmp_path: Path
) -> None:
    """The check can fail: a misspelt field in the Deployment is refused."""
    broken = rendered["deployment.yaml"].replace("readOnlyRootFilesystem", "readOnlyRootFileSystem")
    (tmp_path / "deployment.yaml").write_text(broken)

    result = _validate([tmp_path / "deployment.yaml"])

    assert result.returncode != 0
    assert "readOnlyRootFileSystem" in result.stdout + result.stderr


def test_the_pods_inside_kserve_and_seldon_validate_as_kubernetes_pods(
    rendered: dict[str, str], tmp_path: Path
) -> None:
    """The CRDs embed a Kubernetes PodSpec: checked by Kubernetes' own schema, strictly."""
    predictor = dict(_docs(rendered[KSERVE])["spec"]["predictor"])
    for field in ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget"):  # KServe's own
        predictor.pop(field)
    seldon_pod = _docs(rendered[SELDON])["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    files = []
    for name, pod_spec in (("kserve", predictor), ("seldon", seldon_pod)):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}
        files.append(tmp_path / f"{name}-pod.yaml")
        files[-1].write_text(yaml.safe_dump(pod))

    result = _validate(files)

    assert result.returncode == 0, result.stdout + result.stderr


# What the CRDs require beyond Kubernetes' PodSpec, from their Go types and webhooks:
# KServe serving.kserve.io/v1beta1 (pkg/apis/serving/v1beta1): spec.predictor is required; a
# custom predictor is spec.predictor.containers (its first container is the model server,
# named kserve-container), whose PROTOCOL variable, when set, must be v1 or v2
# (validateCustomProtocol); scaleMetric is one of cpu, memory, concurrency, rps.
# Seldon machinelearning.seldon.io/v1 (operator/apis/.../seldondeployment_types.go):
# spec.predictors is required, each with name and graph; graph.name is required and names the
# container that serves it; protocol is one of seldon, tensorflow, kfserving, v2; graph.type
# and endpoint.type come from fixed lists; the executor calls the container's port named http.
KSERVE_REQUIRED = [
    ("apiVersion", "serving.kserve.io/v1beta1"),
    ("kind", "InferenceService"),
    ("metadata.name", "wine"),
    ("spec.predictor.containers.0.name", "kserve-container"),
    ("spec.predictor.containers.0.image", "registry.example.com/ml/wine:1.0"),
    ("spec.predictor.containers.0.ports.0.containerPort", PORT),
]
SELDON_REQUIRED = [
    ("apiVersion", "machinelearning.seldon.io/v1"),
    ("kind", "SeldonDeployment"),
    ("metadata.name", "wine"),
    ("spec.protocol", "v2"),
    ("spec.predictors.0.name", "default"),
    ("spec.predictors.0.graph.name", "wine"),
    ("spec.predictors.0.graph.type", "MODEL"),
    ("spec.predictors.0.graph.endpoint.type", "REST"),
    ("spec.predictors.0.componentSpecs.0.spec.containers.0.name", "wine"),
    ("spec.predictors.0.componentSpecs.0.spec.containers.0.ports.0.name", "http"),
    ("spec.predictors.0.componentSpecs.0.spec.containers.0.ports.0.containerPort", PORT),
]


def _at(doc: Any, path: str) -> Any:
    for key in path.split("."):
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


@pytest.mark.parametrize(("path", "expected"), KSERVE_REQUIRED)
def test_kserve_carries_what_its_crd_requires(rendered, path: str, expected: Any) -> None:
    assert _at(_docs(rendered[KSERVE]), path) == expected


def test_kserve_custom_predictor_speaks_v2(rendered) -> None:
    predictor = _docs(rendered[KSERVE])["spec"]["predictor"]
    assert len(predictor["containers"]) == 1
    assert _env(predictor["containers"][0])["PROTOCOL"] == "v2"
    assert predictor["scaleMetric"] in ("cpu", "memory", "concurrency", "rps")
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]


@pytest.mark.parametrize(("path", "expected"), SELDON_REQUIRED)
def test_seldon_carries_what_its_crd_requires(rendered, path: str, expected: Any) -> None:
    assert _at(_docs(rendered[SELDON]), path) == expected


def test_seldon_names_the_istio_gateway_of_seed_003(rendered) -> None:
    text = rendered[SELDON]
    assert "--set istio.enabled=true" in text
    assert "istio-system/seldon-gateway" in text
    assert "/seldon/<namespace>/wine/v2/models/wine/infer" in text
    assert _env(_container(_docs(text)))["MODELPACK_MODEL_NAME"] == "wine"


# ---------------------------------------------------------------------------------------------
# what the Deployment promises


@pytest.mark.parametrize("path", ["deployment.yaml", KSERVE, SELDON])
def test_the_container_runs_as_the_images_user_on_a_read_only_root(rendered, path: str) -> None:
    doc = _docs(rendered[path])
    container = _container(doc)
    security = container["securityContext"]
    assert security == {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    pod = _at(
        doc,
        {"deployment.yaml": "spec.template.spec", KSERVE: "spec.predictor"}.get(
            path, "spec.predictors.0.componentSpecs.0.spec"
        ),
    )
    assert pod["volumes"][0]["name"] == "tmp" and "emptyDir" in pod["volumes"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False


def test_probes_use_the_servers_health_routes(rendered) -> None:
    container = _container(_docs(rendered["deployment.yaml"]))
    assert container["ports"] == [{"containerPort": PORT, "name": "http", "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/health/live", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300  # 5 minutes to load


@pytest.mark.parametrize("graceful", [5.0, 30.0, 0.5])
def test_the_grace_period_is_above_the_servers_own_drain(graceful: float) -> None:
    doc = _docs(render_manifests(_spec(graceful_timeout=graceful))["deployment.yaml"])
    pod = doc["spec"]["template"]["spec"]
    pause = int(_container(doc)["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod["terminationGracePeriodSeconds"] == grace_period(_spec(graceful_timeout=graceful))
    assert pod["terminationGracePeriodSeconds"] > pause + graceful
    assert _env(_container(doc))["MODELPACK_GRACEFUL_TIMEOUT"] == f"{graceful:g}"


def test_one_worker_per_pod_and_memory_from_the_measurement(rendered) -> None:
    container = _container(_docs(rendered["deployment.yaml"]))
    assert _env(container)["MODELPACK_WORKERS"] == "1"
    # 300 MiB peak: request 300 + 150 = 450 -> 512 MiB (64 MiB steps), limit twice that.
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert "peaked at 300 MiB" in rendered["deployment.yaml"]


def test_the_auth_token_comes_from_the_secret_only_when_asked() -> None:
    with_secret = _docs(render_manifests(_spec(auth_secret="wine-token"))["deployment.yaml"])
    without = _docs(render_manifests(_spec())["deployment.yaml"])

    assert _env(_container(with_secret))["MODELPACK_AUTH_TOKEN"] == {
        "secretKeyRef": {"name": "wine-token", "key": "token"}
    }
    assert "MODELPACK_AUTH_TOKEN" not in _env(_container(without))


def test_hpa_and_pdb_target_the_deployment(rendered) -> None:
    hpa = _docs(rendered["hpa.yaml"])["spec"]
    pdb = _docs(rendered["pdb.yaml"])["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "wine"}
    assert hpa["minReplicas"] == 2 and hpa["maxReplicas"] == 10
    selector = {"matchLabels": {"app.kubernetes.io/name": "wine"}}
    assert pdb == {"maxUnavailable": 1, "selector": selector}
    service = _docs(rendered["service.yaml"])["spec"]
    assert service["selector"] == {"app.kubernetes.io/name": "wine"}


@pytest.mark.parametrize(
    ("peak_mib", "request_mib"), [(10, 128), (128, 192), (300, 512), (1000, 1536), (4096, 6144)]
)
def test_memory_formula(peak_mib: int, request_mib: int) -> None:
    assert memory_for(peak_mib * MiB) == (request_mib * MiB, 2 * request_mib * MiB)


@pytest.mark.parametrize(
    ("text", "size"), [("512Mi", 512 * MiB), ("2Gi", 2048 * MiB), ("300M", 300 * 10**6)]
)
def test_parse_memory(text: str, size: int) -> None:
    assert parse_memory(text) == size


def test_a_name_kubernetes_refuses_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="is not a Kubernetes name"):
        render_manifests(_spec(name="Wine_Model"))


def test_the_default_name_comes_from_the_package_directory() -> None:
    assert default_name(Path("/models/Wine_Quality.v2")) == "wine-quality-v2"
    assert default_name(Path("/models/2024-model")) == "model"


# ---------------------------------------------------------------------------------------------
# the command, with a real measurement


def test_the_measured_peak_grows_with_the_model(sklearn_package: Path, tmp_path: Path) -> None:
    """A model holding 88 MB of training data (nearest neighbours keep theirs) measures about
    that much more than the small ElasticNet."""
    import numpy as np
    from sklearn.neighbors import KNeighborsRegressor

    import modelpack

    rng = np.random.default_rng(0)
    features = rng.uniform(size=(1_000_000, 11))
    model = KNeighborsRegressor(n_neighbors=1).fit(features, features[:, 0])
    big = tmp_path / "knn"
    modelpack.flavors.sklearn.save_model(
        model, big, input_example=features[:3], serialization_format="cloudpickle"
    )

    small_peak, big_peak = measure_peak_rss(sklearn_package), measure_peak_rss(big)

    assert 100 * MiB < small_peak < 2048 * MiB  # a Python with pandas, scikit-learn, starlette
    assert big_peak - small_peak > 70 * MiB


def test_generate_k8s_writes_measured_manifests(sklearn_package: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            *("generate-k8s", "-m", str(sklearn_package), "--image", "reg.example/wine:1"),
            *("-n", "wine", "--kserve", "--seldon", "-o", str(tmp_path / "k8s")),
        ],
    )

    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(tmp_path / "k8s").as_posix() for p in tmp_path.rglob("*.yaml"))
    assert written == sorted([*PLAIN, KSERVE, SELDON])
    text = (tmp_path / "k8s" / "deployment.yaml").read_text()
    peak = int(re.search(r"peaked at (\d+) MiB", text).group(1))  # type: ignore[union-attr]
    container = _container(_docs(text))
    assert parse_memory(container["resources"]["requests"]["memory"]) >= (peak + 64) * MiB
    assert _validate([tmp_path / "k8s" / name for name in PLAIN]).returncode == 0


def test_generate_k8s_with_memory_does_not_load_the_package(
    sklearn_package: Path, tmp_path: Path
) -> None:
    """A package whose model cannot load here still gets manifests when --memory is given."""
    package = tmp_path / "pkg"
    shutil.copytree(sklearn_package, package)
    for model_file in package.glob("model.*"):
        model_file.write_bytes(b"not a model")
    write_manifest(package)

    given = CliRunner().invoke(
        main,
        [
            *("generate-k8s", "-m", str(package), "--image", "x:1"),
            *("--memory", "1Gi", "-o", str(tmp_path / "given")),
        ],
        catch_exceptions=False,
    )
    measured = CliRunner().invoke(
        main, ["generate-k8s", "-m", str(package), "--image", "x:1", "-o", str(tmp_path / "o")]
    )

    assert given.exit_code == 0, given.output
    assert measured.exit_code == 2
    progress, error = measured.output.splitlines()
    assert progress == "measuring the memory of loading pkg ..."
    assert error.startswith(f"Error: loading {package} to measure its memory failed (")
    assert error.endswith(
        "is not a readable skops file: File is not a zip file); install its "
        "requirements here, or give --memory"
    )


def test_generate_k8s_refuses_a_bad_name_in_one_line(sklearn_package: Path, tmp_path) -> None:
    result = CliRunner().invoke(
        main,
        [
            *("generate-k8s", "-m", str(sklearn_package), "--image", "x:1", "-n", "Wine!"),
            *("--memory", "1Gi", "-o", str(tmp_path)),
        ],
    )
    assert result.exit_code == 2
    assert result.output == (
        "Error: name 'Wine!' is not a Kubernetes name: lower-case letters, digits and '-', "
        "starting with a letter, at most 45 characters\n"
    )
