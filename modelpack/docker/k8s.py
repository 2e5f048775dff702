"""Kubernetes manifests for the image ``build-docker`` makes: rendered by pure functions.

``render_manifests`` turns a ``K8sSpec`` (names, image, measured memory, settings) into YAML
files, one per resource: ``deployment.yaml``, ``service.yaml``, ``hpa.yaml``, ``pdb.yaml``, and
on request ``kserve/inferenceservice.yaml`` and ``seldon/seldondeployment.yaml`` (alternatives
to the first four, in their own directories so that ``kubectl apply -f DIR`` applies one set).
The YAML is written as text, with comments that say what to edit; tests parse and validate it.
``write_manifests`` resolves the package, measures its memory (``_footprint``) and writes them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelpack.docker._footprint import measure_peak_rss
from modelpack.docker.context import PORT, USER_ID
from modelpack.errors import InvalidArgument
from modelpack.format.integrity import verify_package
from modelpack.format.mlmodel import Model
from modelpack.settings import Settings
from modelpack.uris import resolve

__all__ = [
    "MANIFEST_FILES",
    "K8sSpec",
    "memory_for",
    "parse_memory",
    "render_manifests",
    "write_manifests",
]

MANIFEST_FILES = ("deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml")
KSERVE_FILE = "kserve/inferenceservice.yaml"
SELDON_FILE = "seldon/seldondeployment.yaml"
MiB = 1024 * 1024
PRESTOP_SECONDS = 5
"""The pod sleeps this long on termination before SIGTERM: endpoints and load balancers stop
sending it requests first."""
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_NAME_MAX = 45  # KServe and Seldon add suffixes to the name; 63 is the label limit


@dataclass(frozen=True)
class K8sSpec:
    """What the manifests are rendered from."""

    name: str
    image: str
    memory_request: int
    """Bytes (``memory_for``)."""
    memory_limit: int
    measured: int | None = None
    """The measured peak resident memory in bytes, quoted in a comment; None when given."""
    replicas: int = 2
    max_replicas: int = 10
    timeout: float = 60.0
    graceful_timeout: float = 5.0
    auth_secret: str | None = None
    kserve: bool = False
    seldon: bool = False
    source: str = ""
    """The model URI, quoted in the header comment."""
    flavor: str = ""


def memory_for(peak: int) -> tuple[int, int]:
    """Memory request and limit for a measured peak resident size (bytes).

    request = peak + max(64 MiB, peak / 2), rounded up to 64 MiB: the headroom holds request
    bodies, decoded inputs and predictions, and the allocator's slack; limit = 2 x request, so
    that a burst of large requests slows the pod down instead of getting it OOM-killed.
    """
    request = _round_up(peak + max(64 * MiB, peak // 2), 64 * MiB)
    return request, 2 * request


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def parse_memory(text: str) -> int:
    """Bytes from a Kubernetes quantity of memory: ``512Mi``, ``1Gi``, ``300M``, ``1073741824``."""
    units = {"": 1, "Ki": 1024, "Mi": MiB, "Gi": 1024 * MiB, "K": 1000, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|K|M|G|)\s*", text)
    if match is None:
        raise InvalidArgument(f"--memory must be a size like 512Mi or 2Gi, got {text!r}")
    return int(float(match.group(1)) * units[match.group(2)])


def _quantity(size: int) -> str:
    if size % (1024 * MiB) == 0:
        return f"{size // (1024 * MiB)}Gi"
    return f"{math.ceil(size / MiB)}Mi"


def _q(text: str) -> str:
    """A string as a YAML double-quoted scalar (JSON's form is valid YAML)."""
    return json.dumps(text)


def check_name(name: str) -> str:
    if len(name) > _NAME_MAX or not _NAME.match(name):
        raise InvalidArgument(
            f"name {name!r} is not a Kubernetes name: lower-case letters, digits and '-', "
            f"starting with a letter, at most {_NAME_MAX} characters"
        )
    return name


def default_name(package: Path) -> str:
    """A Kubernetes name from the package directory's name (``Wine_Model`` -> ``wine-model``)."""
    name = re.sub(r"[^a-z0-9]+", "-", package.name.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:_NAME_MAX].rstrip("-")
    return name or "model"


# ---------------------------------------------------------------------------------------------
# rendering


def render_manifests(spec: K8sSpec) -> dict[str, str]:
    """The YAML files for ``spec``, by relative path."""
    check_name(spec.name)
    files = {
        "deployment.yaml": _deployment(spec),
        "service.yaml": _service(spec),
        "hpa.yaml": _hpa(spec),
        "pdb.yaml": _pdb(spec),
    }
    if spec.kserve:
        files[KSERVE_FILE] = _kserve(spec)
    if spec.seldon:
        files[SELDON_FILE] = _seldon(spec)
    return files


def _header(spec: K8sSpec, what: str) -> str:
    model = f"{spec.source} ({spec.flavor})" if spec.flavor else spec.source
    return f"# Generated by modelpack generate-k8s for {model}.\n# {what}\n"


def _labels(spec: K8sSpec, indent: int) -> str:
    pad = " " * indent
    return (
        f"{pad}app.kubernetes.io/name: {spec.name}\n"
        f"{pad}app.kubernetes.io/component: model-server\n"
        f"{pad}app.kubernetes.io/managed-by: modelpack\n"
    )


def grace_period(spec: K8sSpec) -> int:
    """Seconds Kubernetes waits before SIGKILL: the preStop pause, the server's own drain
    (``MODELPACK_GRACEFUL_TIMEOUT``) and 5 s to exit."""
    return PRESTOP_SECONDS + math.ceil(spec.graceful_timeout) + 5


def _env(spec: K8sSpec, pad: str, extra: tuple[tuple[str, str], ...] = ()) -> str:
    lines = [f"{pad}env:"]
    pairs = (
        ("MODELPACK_WORKERS", "1", "one worker per pod: scale with replicas, not processes"),
        ("MODELPACK_TIMEOUT", f"{spec.timeout:g}", "seconds a request may take (504 after)"),
        (
            "MODELPACK_GRACEFUL_TIMEOUT",
            f"{spec.graceful_timeout:g}",
            "seconds to drain on SIGTERM; below terminationGracePeriodSeconds",
        ),
        *((name, value, "") for name, value in extra),
    )
    for name, value, why in pairs:
        comment = f"  # {why}" if why else ""
        lines.append(f"{pad}  - name: {name}\n{pad}    value: {_q(value)}{comment}")
    if spec.auth_secret:
        lines.append(
            f"{pad}  # Bearer token from the Secret (kubectl create secret generic "
            f"{spec.auth_secret} --from-literal=token=...)\n"
            f"{pad}  - name: MODELPACK_AUTH_TOKEN\n"
            f"{pad}    valueFrom:\n"
            f"{pad}      secretKeyRef:\n"
            f"{pad}        name: {spec.auth_secret}\n"
            f"{pad}        key: token"
        )
    return "\n".join(lines) + "\n"


def _resources(spec: K8sSpec, pad: str) -> str:
    if spec.measured is not None:
        why = (
            f"{pad}  # Memory from the package: loading it and predicting its input example peaked "
            f"at {math.ceil(spec.measured / MiB)} MiB\n"
            f"{pad}  # resident; request = peak + max(64 MiB, peak / 2), limit = 2 x request.\n"
        )
    else:
        why = f"{pad}  # Memory as given (--memory); limit = 2 x request.\n"
    return (
        f"{pad}resources:\n{why}"
        f"{pad}  requests:\n"
        f'{pad}    cpu: "1"  # EDIT: one worker keeps about one core busy under load\n'
        f"{pad}    memory: {_quantity(spec.memory_request)}\n"
        f"{pad}  limits:\n"
        f"{pad}    # No CPU limit: throttling adds latency; the autoscaler watches CPU use.\n"
        f"{pad}    memory: {_quantity(spec.memory_limit)}\n"
    )


def _probes(pad: str, port: str = "http", startup: bool = True) -> str:
    def probe(kind: str, path: str, period: int, timeout: int, failures: int) -> str:
        return (
            f"{pad}{kind}:\n"
            f"{pad}  httpGet:\n"
            f"{pad}    path: {path}\n"
            f"{pad}    port: {port}\n"
            f"{pad}  periodSeconds: {period}\n"
            f"{pad}  timeoutSeconds: {timeout}\n"
            f"{pad}  failureThreshold: {failures}\n"
        )

    text = ""
    if startup:
        text += (
            f"{pad}# Up to 5 minutes to load the model before liveness counts (EDIT if slower).\n"
        )
        text += probe("startupProbe", "/health/live", 2, 2, 150)
    text += probe("livenessProbe", "/health/live", 10, 5, 3)
    text += f"{pad}# Ready once the model is loaded and warmed up; not ready while draining.\n"
    text += probe("readinessProbe", "/health/ready", 5, 3, 2)
    return text


def _container_security(pad: str) -> str:
    return (
        f"{pad}securityContext:\n"
        f"{pad}  runAsNonRoot: true\n"
        f"{pad}  runAsUser: {USER_ID}  # the image's user (build-docker)\n"
        f"{pad}  runAsGroup: {USER_ID}\n"
        f"{pad}  allowPrivilegeEscalation: false\n"
        f"{pad}  readOnlyRootFilesystem: true  # only /tmp (below) is writable\n"
        f"{pad}  capabilities:\n"
        f"{pad}    drop:\n"
        f"{pad}      - ALL\n"
    )


def _pod_extras(pad: str) -> str:
    """Pod-level fields after the containers: the writable /tmp."""
    return f"{pad}volumes:\n{pad}  - name: tmp\n{pad}    emptyDir:\n{pad}      sizeLimit: 256Mi\n"


def _container(
    spec: K8sSpec,
    pad: str,
    name: str,
    *,
    port_name: str | None = "http",
    startup: bool = True,
    extra_env: tuple[tuple[str, str], ...] = (),
    prestop: bool = True,
) -> str:
    port = f"{pad}      name: {port_name}\n" if port_name else ""
    text = (
        f"{pad}- name: {name}\n"
        f"{pad}  image: {_q(spec.image)}  # EDIT: the image build-docker made, as pushed\n"
        f"{pad}  imagePullPolicy: IfNotPresent\n"
        f"{pad}  ports:\n"
        f"{pad}    - containerPort: {PORT}\n"
        f"{port}"
        f"{pad}      protocol: TCP\n"
    )
    inner = pad + "  "
    text += _env(spec, inner, extra_env)
    text += _resources(spec, inner)
    text += _container_security(inner)
    text += f"{inner}volumeMounts:\n{inner}  - name: tmp\n{inner}    mountPath: /tmp\n"
    text += _probes(inner, port_name or str(PORT), startup)
    if prestop:
        text += (
            f"{inner}lifecycle:\n"
            f"{inner}  preStop:\n"
            f"{inner}    exec:\n"
            f'{inner}      command: ["sleep", "{PRESTOP_SECONDS}"]  # endpoints let go first\n'
        )
    return text


def _pod_security(pad: str) -> str:
    return (
        f"{pad}securityContext:\n"
        f"{pad}  runAsNonRoot: true\n"
        f"{pad}  fsGroup: {USER_ID}\n"
        f"{pad}  seccompProfile:\n"
        f"{pad}    type: RuntimeDefault\n"
    )


def _deployment(spec: K8sSpec) -> str:
    return (
        _header(
            spec, "Apply with: kubectl apply -f <this directory> (deployment, service, hpa, pdb)"
        )
        + "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        f"  name: {spec.name}\n"
        "  labels:\n"
        f"{_labels(spec, 4)}"
        "spec:\n"
        "  # The HorizontalPodAutoscaler (hpa.yaml) takes over the count once applied.\n"
        f"  replicas: {spec.replicas}\n"
        "  revisionHistoryLimit: 5\n"
        "  selector:\n"
        "    matchLabels:\n"
        f"      app.kubernetes.io/name: {spec.name}\n"
        "  strategy:\n"
        "    type: RollingUpdate\n"
        "    rollingUpdate:\n"
        "      maxSurge: 1\n"
        "      maxUnavailable: 0  # a new pod is ready before an old one stops\n"
        "  template:\n"
        "    metadata:\n"
        "      labels:\n"
        f"{_labels(spec, 8)}"
        "    spec:\n"
        "      automountServiceAccountToken: false  # the server never calls the Kubernetes API\n"
        "      # Above the preStop pause plus the server's drain (MODELPACK_GRACEFUL_TIMEOUT).\n"
        f"      terminationGracePeriodSeconds: {grace_period(spec)}\n"
        f"{_pod_security('      ')}"
        "      containers:\n"
        f"{_container(spec, '        ', 'model')}"
        f"{_pod_extras('      ')}"
    )


def _service(spec: K8sSpec) -> str:
    return (
        _header(
            spec, "In-cluster address: http://<name>.<namespace>.svc/invocations (and /v2/...)."
        )
        + "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        f"  name: {spec.name}\n"
        "  labels:\n"
        f"{_labels(spec, 4)}"
        "spec:\n"
        "  type: ClusterIP  # EDIT: LoadBalancer (or an Ingress) to reach it from outside\n"
        "  selector:\n"
        f"    app.kubernetes.io/name: {spec.name}\n"
        "  ports:\n"
        "    - name: http\n"
        "      port: 80\n"
        "      targetPort: http\n"
        "      protocol: TCP\n"
    )


def _hpa(spec: K8sSpec) -> str:
    return (
        _header(spec, "Scales the Deployment on CPU use (needs the metrics-server in the cluster).")
        + "apiVersion: autoscaling/v2\n"
        "kind: HorizontalPodAutoscaler\n"
        "metadata:\n"
        f"  name: {spec.name}\n"
        "  labels:\n"
        f"{_labels(spec, 4)}"
        "spec:\n"
        "  scaleTargetRef:\n"
        "    apiVersion: apps/v1\n"
        "    kind: Deployment\n"
        f"    name: {spec.name}\n"
        f"  minReplicas: {spec.replicas}\n"
        f"  maxReplicas: {spec.max_replicas}  # EDIT: what the cluster can hold\n"
        "  metrics:\n"
        "    - type: Resource\n"
        "      resource:\n"
        "        name: cpu\n"
        "        target:\n"
        "          type: Utilization\n"
        "          averageUtilization: 70  # percent of the CPU request\n"
    )


def _pdb(spec: K8sSpec) -> str:
    return (
        _header(spec, "Node drains and upgrades take down at most one pod at a time.")
        + "apiVersion: policy/v1\n"
        "kind: PodDisruptionBudget\n"
        "metadata:\n"
        f"  name: {spec.name}\n"
        "  labels:\n"
        f"{_labels(spec, 4)}"
        "spec:\n"
        "  maxUnavailable: 1\n"
        "  selector:\n"
        "    matchLabels:\n"
        f"      app.kubernetes.io/name: {spec.name}\n"
    )


def _kserve(spec: K8sSpec) -> str:
    env = (("PROTOCOL", "v2"), ("MODELPACK_MODEL_NAME", spec.name))
    container = _container(spec, "      ", "kserve-container", port_name=None, extra_env=env)
    return (
        _header(
            spec,
            "KServe InferenceService, instead of the files one directory up: "
            "kubectl apply -f kserve/",
        )
        + "# The predictor is the image itself (a custom container). KServe reads a custom\n"
        "# container's protocol from its PROTOCOL variable: v2 (the Open Inference Protocol at\n"
        "# /v2/models/<name>/infer; MLflow's /invocations answers as well).\n"
        "apiVersion: serving.kserve.io/v1beta1\n"
        "kind: InferenceService\n"
        "metadata:\n"
        f"  name: {spec.name}\n"
        "  labels:\n"
        f"{_labels(spec, 4)}"
        "  annotations:\n"
        "    # RawDeployment: a Deployment and an HPA, no Knative. EDIT: remove this line for\n"
        "    # Serverless mode (Knative, scale to zero; one port per pod, no startupProbe).\n"
        "    serving.kserve.io/deploymentMode: RawDeployment\n"
        "spec:\n"
        "  predictor:\n"
        f"    minReplicas: {spec.replicas}\n"
        f"    maxReplicas: {spec.max_replicas}  # EDIT: what the cluster can hold\n"
        "    scaleMetric: cpu\n"
        "    scaleTarget: 70  # percent of the CPU request\n"
        "    automountServiceAccountToken: false\n"
        f"    terminationGracePeriodSeconds: {grace_period(spec)}\n"
        f"{_pod_security('    ')}"
        "    containers:\n"
        f"{container}"
        f"{_pod_extras('    ')}"
    )


def _seldon(spec: K8sSpec) -> str:
    env = (("MODELPACK_MODEL_NAME", spec.name),)
    container = _container(spec, "              ", spec.name, extra_env=env)
    return (
        _header(
            spec,
            "Seldon Core 1 SeldonDeployment, instead of the files one directory up: "
            "kubectl apply -f seldon/",
        )
        + "# For the seldon-core-operator installed with Helm and Istio, as in seed 003:\n"
        "#   helm install seldon-core seldon-core-operator --repo "
        "https://storage.googleapis.com/seldon-charts \\\n"
        "#     --set usageMetrics.enabled=true --set istio.enabled=true --namespace seldon-system\n"
        "# Requests come in through the Istio gateway the operator is configured with (Helm value\n"
        "# istio.gateway, default istio-system/seldon-gateway; seed 003 creates it with\n"
        "# kubectl apply -f infra/gateway.yaml), at\n"
        f"#   http://<istio-ingressgateway>/seldon/<namespace>/{spec.name}/v2/models/{spec.name}/infer\n"
        "# EDIT: to use another gateway, add the annotation seldon.io/istio-gateway:\n"
        "# <namespace>/<gateway> under metadata.annotations.\n"
        "# The container speaks the V2 protocol (protocol: v2) on its port named http, which\n"
        "# Seldon's executor calls; the graph node's name is the V2 model name.\n"
        "apiVersion: machinelearning.seldon.io/v1\n"
        "kind: SeldonDeployment\n"
        "metadata:\n"
        f"  name: {spec.name}\n"
        "  labels:\n"
        f"{_labels(spec, 4)}"
        "spec:\n"
        "  protocol: v2\n"
        "  predictors:\n"
        "    - name: default\n"
        f"      replicas: {spec.replicas}\n"
        "      graph:\n"
        f"        name: {spec.name}  # the container below\n"
        "        type: MODEL\n"
        "        children: []\n"
        "        endpoint:\n"
        "          type: REST\n"
        "      componentSpecs:\n"
        "        - pdbSpec:\n"
        "            maxUnavailable: 1\n"
        "          spec:\n"
        "            automountServiceAccountToken: false\n"
        f"            terminationGracePeriodSeconds: {grace_period(spec)}\n"
        f"{_pod_security('            ')}"
        "            containers:\n"
        f"{container}"
        f"{_pod_extras('            ')}"
    )


# ---------------------------------------------------------------------------------------------
# writing


def write_manifests(
    model_uri: str,
    directory: Path,
    image: str,
    *,
    name: str | None = None,
    replicas: int = 2,
    kserve: bool = False,
    seldon: bool = False,
    auth_secret: str | None = None,
    memory: str | None = None,
    settings: Settings | None = None,
    output: Callable[[str], None] = lambda line: None,
) -> list[Path]:
    """Measure the package at ``model_uri`` and write its manifests into ``directory``.

    ``memory`` (a request like ``512Mi``) skips the measurement, which loads the package in a
    subprocess of this Python (so its requirements must be installed here).
    """
    from modelpack.flavors import registry

    settings = settings if settings is not None else Settings.from_env()
    if replicas < 1:
        raise InvalidArgument(f"--replicas must be at least 1, got {replicas}")
    if not image.strip():
        raise InvalidArgument("--image must name the image to run")
    if auth_secret is not None:
        check_name(auth_secret)
    package = resolve(model_uri, settings)
    package = package if package.is_dir() else package.parent
    verify_package(package, settings)
    meta = Model.load(package)
    flavor = registry().for_package(meta.flavors).name
    chosen = check_name(name) if name is not None else default_name(package)
    if memory is not None:
        request, measured = parse_memory(memory), None
        limit = 2 * request
    else:
        output(f"measuring the memory of loading {package.name} ...")
        measured = measure_peak_rss(package)
        request, limit = memory_for(measured)
    spec = K8sSpec(
        name=chosen,
        image=image,
        memory_request=request,
        memory_limit=limit,
        measured=measured,
        replicas=replicas,
        max_replicas=max(10, 5 * replicas),
        timeout=settings.timeout,
        graceful_timeout=settings.graceful_timeout,
        auth_secret=auth_secret,
        kserve=kserve,
        seldon=seldon,
        source=model_uri,
        flavor=flavor,
    )
    written = []
    for relative, text in render_manifests(spec).items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
