"""The pod of the manifests: its container (image, env, resources, security, probes, preStop)
and pod-level fields, as YAML text at a given indentation. Shared by the Deployment, the KServe
predictor and the Seldon component, which embed the same Kubernetes PodSpec.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from modelpack.docker.context import PORT, USER_ID

__all__ = [
    "PRESTOP_SECONDS",
    "K8sSpec",
    "MiB",
    "container",
    "grace_period",
    "pod_security",
    "pod_volumes",
    "quantity",
    "quoted",
]

MiB = 1024 * 1024
PRESTOP_SECONDS = 5
"""The pod sleeps this long on termination before SIGTERM: endpoints and load balancers stop
sending it requests first."""


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


def quantity(size: int) -> str:
    """Bytes as a Kubernetes memory quantity: whole ``Gi``, else ``Mi`` rounded up."""
    if size % (1024 * MiB) == 0:
        return f"{size // (1024 * MiB)}Gi"
    return f"{math.ceil(size / MiB)}Mi"


def quoted(text: str) -> str:
    """A string as a YAML double-quoted scalar (JSON's form is valid YAML)."""
    return json.dumps(text)


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
        lines.append(f"{pad}  - name: {name}\n{pad}    value: {quoted(value)}{comment}")
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
        f"{pad}    memory: {quantity(spec.memory_request)}\n"
        f"{pad}  limits:\n"
        f"{pad}    # No CPU limit: throttling adds latency; the autoscaler watches CPU use.\n"
        f"{pad}    memory: {quantity(spec.memory_limit)}\n"
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


def pod_volumes(pad: str) -> str:
    """Pod-level fields after the containers: the writable /tmp."""
    return f"{pad}volumes:\n{pad}  - name: tmp\n{pad}    emptyDir:\n{pad}      sizeLimit: 256Mi\n"


def container(
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
        f"{pad}  image: {quoted(spec.image)}  # EDIT: the image build-docker made, as pushed\n"
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


def pod_security(pad: str) -> str:
    return (
        f"{pad}securityContext:\n"
        f"{pad}  runAsNonRoot: true\n"
        f"{pad}  fsGroup: {USER_ID}\n"
        f"{pad}  seccompProfile:\n"
        f"{pad}    type: RuntimeDefault\n"
    )
