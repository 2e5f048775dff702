"""A private Docker daemon for the container tests, and a stand-in for ``python:3.11-slim``.

The daemon gets its own data root, exec root, pid file and unix socket under one temporary
directory, overlay2, and leaves iptables alone. It has no default bridge: containers join a
user-defined network whose bridge has a name (and subnet) of its own, so it cannot collide with
another daemon's ``docker0``. ``stop`` removes that network, stops the daemon by its pid (never by
name), unmounts anything left under the directory and deletes it.

No registry is reachable from the test machines, so the base image is built with debootstrap
from Debian bookworm (the release ``python:3.11-slim`` was built on, whose python3 is 3.11) and
imported under the tag the Dockerfile names. The root filesystem tarball is cached under
``~/.cache/modelpack-tests``; the cold path builds it (about a minute).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CACHE_DIR = Path.home() / ".cache" / "modelpack-tests"
STANDIN_TARBALL = "python-3.11-slim-standin-bookworm-v2.tar"
_DEFAULT_MIRROR = "http://deb.debian.org/debian"


class DockerdUnavailable(RuntimeError):
    """The daemon cannot run here; the message says why."""


@dataclass
class PrivateDockerd:
    root: Path
    process: subprocess.Popen[bytes]
    network: str = ""
    bridge: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"unix://{self.root}/docker.sock"

    def docker(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """Run the docker CLI against this daemon; its stdout."""
        result = subprocess.run(
            ["docker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def logs(self, container: str) -> str:
        """A container's stdout and stderr together (servers log to stderr)."""
        result = subprocess.run(
            ["docker", "logs", container],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
        return result.stdout


def start(timeout: float = 60) -> PrivateDockerd:
    """Start a daemon under a new temporary directory; ``DockerdUnavailable`` if it cannot."""
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        raise DockerdUnavailable("dockerd or docker is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise DockerdUnavailable("dockerd needs root and the tests do not run as root")
    # A short path: a unix socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="mpdockerd-", dir="/tmp"))
    for name in ("data", "exec"):
        (root / name).mkdir()
    command = [
        "dockerd",
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "dockerd.pid"),
        "--host", f"unix://{root}/docker.sock",
        "--storage-driver", "overlay2",
        "--iptables=false",
        "--ip-masq=false",
        "--bridge=none",
    ]  # fmt: skip
    with (root / "dockerd.log").open("wb") as log:  # the daemon keeps its own descriptor
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    daemon = PrivateDockerd(root, process)
    daemon.env = {**os.environ, "DOCKER_HOST": daemon.host}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        probe = ["version", "--format", "{{.Server.Version}}"]
        if daemon.docker(*probe, timeout=10, check=False).strip():
            return _with_network(daemon)
        time.sleep(0.25)
    reason = _last_log_line(root / "dockerd.log")
    stop(daemon)
    raise DockerdUnavailable(f"dockerd did not start: {reason}")


def _with_network(daemon: PrivateDockerd) -> PrivateDockerd:
    suffix = random.randrange(1, 250)
    daemon.network = f"modelpack-test-{os.getpid()}"
    daemon.bridge = f"mpbr{os.getpid() % 100000}"
    daemon.docker(
        "network", "create", "--driver", "bridge",
        "--subnet", f"10.213.{suffix}.0/24",
        "--opt", f"com.docker.network.bridge.name={daemon.bridge}",
        daemon.network,
    )  # fmt: skip
    return daemon


def stop(daemon: PrivateDockerd) -> None:
    """Remove the network, stop the daemon by pid, clean up its directory."""
    if daemon.network and daemon.process.poll() is None:
        running = daemon.docker("ps", "--all", "--quiet", check=False).split()
        if running:
            daemon.docker("rm", "--force", *running, check=False)
        daemon.docker("network", "rm", daemon.network, check=False)
    if daemon.process.poll() is None:
        os.kill(daemon.process.pid, signal.SIGTERM)
        try:
            daemon.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(daemon.process.pid, signal.SIGKILL)
            daemon.process.wait(timeout=10)
    for mount in _mounts_under(daemon.root):
        subprocess.run(["umount", "--lazy", mount], check=False, capture_output=True)
    if daemon.bridge and Path(f"/sys/class/net/{daemon.bridge}").exists():
        subprocess.run(["ip", "link", "delete", daemon.bridge], check=False, capture_output=True)
    shutil.rmtree(daemon.root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    mounts = []
    with open("/proc/self/mounts", encoding="utf-8") as table:
        for line in table:
            target = line.split()[1].replace("\\040", " ")
            if target == str(root) or target.startswith(f"{root}/"):
                mounts.append(target)
    return sorted(mounts, key=len, reverse=True)  # innermost first


def _last_log_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def import_standin_python(daemon: PrivateDockerd, tag: str = "python:3.11-slim") -> None:
    """Make ``tag`` a Debian bookworm image with python3 and its venv module (cached tarball).

    python:3.11-slim also has a system pip; the Dockerfile does not use it (pip comes with the
    venv), so the stand-in leaves it out and debootstrap fetches fewer packages.
    """
    tarball = CACHE_DIR / STANDIN_TARBALL
    if not tarball.is_file():
        _debootstrap(tarball)
    daemon.docker(
        "import",
        "--change", 'CMD ["python3"]',
        "--change", "ENV LANG=C.UTF-8",
        str(tarball),
        tag,
    )  # fmt: skip


def _debootstrap(tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise DockerdUnavailable(
            "debootstrap is not installed, and no registry is reachable to pull a Python base "
            "image from (apt-get install debootstrap)"
        )
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="standin-", dir=tarball.parent) as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap", "--variant=minbase",
                "--include=python3,python3-venv",
                "bookworm", str(rootfs), debian_mirror(),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        # What python:3.X-slim has and debootstrap lacks: a `python` command, no Debian
        # EXTERNALLY-MANAGED marker (it makes pip refuse), no apt lists or docs.
        (rootfs / "usr/bin/python").symlink_to("python3")
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        for junk in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            for entry in (rootfs / junk).glob("*"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        partial = Path(tmp) / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], check=True
        )
        partial.replace(tarball)  # atomic: a concurrent run sees a whole tarball or none


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (deb822 ``.sources`` or ``sources.list``)."""
    sources = Path("/etc/apt/sources.list.d")
    for file in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in file.read_text(encoding="utf-8").split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#"
            )
            suites = fields.get("Suites", "").split()
            if "bookworm" in suites and "main" in fields.get("Components", "").split():
                return fields["URIs"].split()[0]
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "bookworm" in parts and "main" in parts:
                return next(p for p in parts[1:] if "://" in p)
    return _DEFAULT_MIRROR


@dataclass(frozen=True)
class Image:
    name: str
    package: Path
    flavor: str
    report: str
    """What ``modelpack build-docker`` printed on stdout."""


@dataclass(frozen=True)
class Container:
    id: str
    url: str


def run_container(dockerd: PrivateDockerd, image: Image, timeout: float = 90) -> Container:
    """``docker run`` the image on a loopback port and wait until /ping answers."""
    cid = dockerd.docker(
        "run", "--detach", "--network", dockerd.network,
        "--publish", "127.0.0.1::8080", image.name,
    ).strip()  # fmt: skip
    port = dockerd.docker("port", cid, "8080/tcp").split()[0].rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return Container(cid, url)
        except httpx.TransportError:
            pass
        state = dockerd.docker("inspect", "--format", "{{.State.Running}}", cid).strip()
        if state != "true":
            break
        time.sleep(0.5)
    logs = dockerd.logs(cid)
    dockerd.docker("rm", "--force", cid, check=False)
    raise AssertionError(f"{image.name} did not answer /ping:\n{logs[-3000:]}")
