"""Environment fixtures: a python_model package whose code needs ``humanize`` (which the test
environment lacks), a cache shared by the tests that reuse one built environment, and a real
``modelpack serve`` process that may first build its environment."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from servers import Server, finish, launch

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


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """Starts ``modelpack serve ARGS -p 0`` and waits for its /ping, however long building its
    environment takes (up to 10 minutes); stopped at the end of the test."""
    started: list[Server] = []

    def start(*args: str, env: dict[str, str]) -> Server:
        server = launch(*args, env=env, start_timeout=600)
        started.append(server)
        return server

    yield start
    for server in started:
        finish(server)
