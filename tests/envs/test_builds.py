"""Real environments: uv and venv + pip against the package index pip is configured with here.

The humane package needs ``humanize``, which the test environment lacks: it answers only from an
environment built from its requirements. One uv environment is shared (``shared_cache``) by the
serve and predict tests; the others build in a cache of their own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import modelpack

from .conftest import BODY, EXPECTED, Server, environ, modelpack_command, save_humane

pytestmark = pytest.mark.slow


def _predictions(server: Server) -> object:
    response = httpx.post(f"{server.url}/invocations", json=BODY, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def _entries(cache: Path) -> list[Path]:
    """The published environments of a cache (its links), and nothing else."""
    envs = cache / "envs"
    return sorted(p for p in envs.iterdir() if not p.name.startswith(".")) if envs.is_dir() else []


def test_serve_uv_builds_once_then_reuses_the_environment(
    start_server: Callable[..., Server], humane_package: Path, shared_cache: Path
) -> None:
    env = environ(shared_cache)

    first = start_server("-m", str(humane_package), "--env-manager", "uv", env=env)
    assert _predictions(first) == EXPECTED
    first_log = first.stop()
    [entry] = _entries(shared_cache)
    built = entry.resolve().stat()

    second = start_server("-m", str(humane_package), "--env-manager", "uv", env=env)
    assert _predictions(second) == EXPECTED
    second_log = second.stop()

    print(
        f"\nserve --env-manager uv: first start {first.seconds_to_ready:.1f} s (built), "
        f"second {second.seconds_to_ready:.1f} s (reused)"
    )
    assert f"built uv environment {entry} in " in first_log
    assert "  + humanize==4.17.0\n" in first_log
    assert f"reusing uv environment {entry} (built " in second_log
    assert "building" not in second_log
    assert _entries(shared_cache) == [entry]
    again = entry.resolve().stat()
    assert (again.st_ino, again.st_mtime_ns) == (built.st_ino, built.st_mtime_ns)


def test_prepare_env_then_predict_uv_uses_that_environment(
    tmp_path: Path, humane_package: Path, shared_cache: Path
) -> None:
    env = environ(shared_cache)
    prepared = subprocess.run(
        modelpack_command("prepare-env", "-m", str(humane_package), "--env-manager", "uv"),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert prepared.returncode == 0, prepared.stderr
    entry = Path(prepared.stdout.strip())
    assert _entries(shared_cache) == [entry]
    (tmp_path / "in.json").write_text(json.dumps(BODY))

    inputs, package = str(tmp_path / "in.json"), str(humane_package)
    predicted = subprocess.run(
        modelpack_command("predict", "-m", package, "-i", inputs, "--env-manager", "uv"),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )

    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout) == {"predictions": EXPECTED}
    assert predicted.stderr == f"reusing uv environment {entry} ({_built_at(entry)})\n"
    # modelpack in the environment is this one, from the wheel packed of this installation
    # (-I: PYTHONPATH, which may point at a checkout, is ignored).
    probe = subprocess.run(
        [entry / "bin" / "python", "-I", "-c", "import modelpack; print(modelpack.__version__,"
         " modelpack.__file__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    version, location = probe.stdout.split()
    assert version == modelpack.__version__
    assert Path(location).resolve().is_relative_to(entry.resolve())


def _built_at(entry: Path) -> str:
    info = json.loads((entry / "modelpack-env.json").read_text())
    return f"built {info['built_at']}"


def test_two_concurrent_prepare_env_build_one_environment(
    tmp_path: Path, humane_package: Path
) -> None:
    env = environ(tmp_path / "cache")
    command = modelpack_command("prepare-env", "-m", str(humane_package), "--env-manager", "uv")
    processes = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], outputs
    [entry] = _entries(tmp_path / "cache")
    assert [stdout.strip() for stdout, _ in outputs] == [str(entry), str(entry)]
    logs = [stderr for _, stderr in outputs]
    assert sum(log.count("built uv environment") for log in logs) == 1
    assert sum(log.count("reusing uv environment") for log in logs) == 1
    assert len(list((tmp_path / "cache" / "envs" / ".store").iterdir())) == 1


@pytest.mark.parametrize(
    ("manager", "reason"),
    [
        (
            "uv",
            "uv could not install the package's requirements: No solution found when resolving "
            "dependencies: Because nonexistent-dist-xyz was not found in the package registry "
            "and you require nonexistent-dist-xyz==1, we can conclude that your requirements "
            "are unsatisfiable.",
        ),
        (
            "virtualenv",
            "pip could not install the package's requirements: Could not find a version that "
            "satisfies the requirement nonexistent-dist-xyz==1 (from versions: none)",
        ),
    ],
)
def test_a_broken_requirement_fails_in_one_line_and_leaves_no_environment(
    tmp_path: Path, manager: str, reason: str
) -> None:
    package = save_humane(tmp_path / "broken", ["nonexistent-dist-xyz==1"])
    cache = tmp_path / "cache"

    result = subprocess.run(
        modelpack_command("prepare-env", "-m", str(package), "--env-manager", manager, "-q"),
        capture_output=True,
        text=True,
        env=environ(cache),
        timeout=600,
        check=False,
    )

    assert (result.returncode, result.stdout, result.stderr) == (1, "", f"Error: {reason}\n")
    assert _entries(cache) == []
    assert list((cache / "envs" / ".store").iterdir()) == []


def test_serve_virtualenv_answers_from_a_venv_built_by_pip(
    start_server: Callable[..., Server], humane_package: Path, tmp_path: Path
) -> None:
    began = time.monotonic()
    server = start_server(
        "-m", str(humane_package), "--env-manager", "virtualenv", env=environ(tmp_path)
    )
    assert _predictions(server) == EXPECTED
    log = server.stop()

    print(f"\nserve --env-manager virtualenv: first start {time.monotonic() - began:.1f} s")
    [entry] = _entries(tmp_path)
    assert entry.name.startswith(f"virtualenv-py{sys.version_info[0]}.{sys.version_info[1]}-")
    assert f"built virtualenv environment {entry} in " in log
    assert "  Collecting humanize==4.17.0\n" in log
    assert (entry / "bin" / "pip").is_file()  # the stdlib venv with its pip, not uv's
