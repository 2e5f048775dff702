"""Environment fixtures: a python_model package whose code needs ``humanize`` (which the test
environment lacks), a cache shared by the tests that reuse one built environment, and a real
``modelpack serve`` process that may first build its environment."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd
import pytest

import modelpack

HUMANIZE = "humanize==4.17.0"
FRAME = pd.DataFrame({"n": [1234567, 1000]})
EXPECTED = ["1,234,567", "1,000"]
BODY = {"dataframe_split": {"columns": ["n"], "data": [[1234567], [1000]]}}

_CODE = textwrap.dedent(
    '''
    import modelpack


    class Humane(modelpack.PythonModel):
        """Numbers with thousands separators, by humanize."""

        def load_context(self, context):
            import humanize

            self._intcomma = humanize.intcomma

        def predict(self, context, model_input, params=None):
            return [self._intcomma(int(v)) for v in model_input["n"]]
    '''
)


def save_humane(path: Path, extra: list[str]) -> Path:
    """A python_model package whose class lives in code/humane.py and imports humanize."""
    code = path.parent / f"{path.name}-code" / "humane.py"
    code.parent.mkdir(parents=True)
    code.write_text(_CODE)
    spec = importlib.util.spec_from_file_location("humane", code)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["humane"] = module  # pickled by reference: loading imports code/humane.py
    try:
        spec.loader.exec_module(module)
        modelpack.save_model(
            module.Humane(),
            path,
            code_paths=[code],
            extra_pip_requirements=extra,
            signature=modelpack.infer_signature(FRAME, EXPECTED),
            input_example=FRAME,
        )
    finally:
        del sys.modules["humane"]
    return path


@pytest.fixture(scope="session")
def humane_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert importlib.util.find_spec("humanize") is None, "humanize must be absent from the tests"
    return save_humane(tmp_path_factory.mktemp("humane") / "humane", [HUMANIZE])


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MODELPACK_CACHE_DIR of the tests that reuse one uv environment of ``humane_package``."""
    return tmp_path_factory.mktemp("envs-cache")


def environ(cache: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "MODELPACK_CACHE_DIR": str(cache), **extra}


def modelpack_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelpack", *args]


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int = 0
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None
    seconds_to_ready: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> str:
        """SIGTERM, wait for the exit (status 0), and return the whole log."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(30) == 0, "".join(self.log)
        if self.reader is not None:
            self.reader.join(10)
        return "".join(self.log)


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """Starts ``modelpack serve ARGS -p 0`` and waits for its /ping, however long building its
    environment takes (up to 10 minutes); stopped at the end of the test."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str]) -> Server:
        began = time.monotonic()
        process = subprocess.Popen(
            modelpack_command("serve", *args, "-p", "0"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, "MODELPACK_LOG_LEVEL": "info"},
        )
        server = Server(process)
        started.append(server)
        ready = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                server.log.append(line)
                found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
                if found:
                    server.port = int(found.group(1))
                    ready.set()
            ready.set()

        server.reader = threading.Thread(target=read, daemon=True)
        server.reader.start()
        assert ready.wait(600), "server did not start: " + "".join(server.log)
        assert process.poll() is None, "".join(server.log)
        for _ in range(600):
            try:
                if httpx.get(f"{server.url}/ping", timeout=5).status_code == 200:
                    server.seconds_to_ready = time.monotonic() - began
                    return server
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("no 200 from /ping: " + "".join(server.log))

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(30)
        if server.reader is not None:
            server.reader.join(10)
        if server.process.stdout is not None:
            server.process.stdout.close()
