"""docs/writing-a-flavor.md, run: its flavor installed as a real distribution with an entry point,
then saved, loaded, refused when broken, and served by a real `modelpack serve`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-flavor.md"

pytestmark = pytest.mark.slow


def _blocks() -> tuple[dict[str, str], list[str]]:
    """The doc's files (blocks starting with ``# file: NAME``) and its other Python blocks."""
    files, snippets = {}, []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(), flags=re.S):
        first, _, rest = body.partition("\n")
        if first.startswith("# file: "):
            files[first.removeprefix("# file: ").strip()] = rest
        elif lang == "python":
            snippets.append(body)
    return files, snippets


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The doc's distribution, built and installed (with its entry point) into its own dir."""
    root = tmp_path_factory.mktemp("third_party")
    source = root / "src"
    source.mkdir()
    files, _ = _blocks()
    assert set(files) == {"nplinear.py", "pyproject.toml"}
    for name, text in files.items():
        (source / name).write_text(text)
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert list(target.glob("modelpack_nplinear-*.dist-info"))
    return target


def _env(site: Path) -> dict[str, str]:
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path}


def _python(site: Path, code: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=_env(site),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_docs_example_saves_and_loads_through_the_entry_point(
    site: Path, tmp_path: Path
) -> None:
    _, snippets = _blocks()
    usage = next(s for s in snippets if "save_model(Linear" in s)
    out = _python(
        site, usage + "\nprint(modelpack.load_model('linear-pkg').predict(x).tolist())\n", tmp_path
    )
    assert out.strip() == "[-0.5, -1.0]"
    mlmodel = (tmp_path / "linear-pkg" / "MLmodel").read_text()
    assert "nplinear:" in mlmodel and "loader_module: nplinear" in mlmodel
    assert (tmp_path / "linear-pkg" / "MANIFEST.json").is_file()
    out = _python(
        site,
        """
        import modelpack, nplinear
        from modelpack.flavors import registry
        assert "nplinear" in registry().names()
        native = nplinear.load_model("linear-pkg")
        print(type(native).__name__, native.weights.tolist(), native.bias)
        """,
        tmp_path,
    )
    assert out.strip() == "Linear [0.5, -1.0] 2.0"


def test_a_tampered_package_of_the_flavor_is_refused(site: Path, tmp_path: Path) -> None:
    _, snippets = _blocks()
    usage = next(s for s in snippets if "save_model(Linear" in s)
    _python(site, usage, tmp_path)
    (tmp_path / "linear-pkg" / "linear.npz").write_bytes(b"not the weights")
    result = subprocess.run(
        [sys.executable, "-c", "import modelpack; modelpack.load_model('linear-pkg')"],
        env=_env(site),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "does not match its manifest (MANIFEST.json): changed: linear.npz" in result.stderr


def test_the_flavor_is_served(site: Path, tmp_path: Path, start_server: Any) -> None:
    _, snippets = _blocks()
    usage = next(s for s in snippets if "save_model(Linear" in s)
    _python(site, usage, tmp_path)
    server = start_server(
        "-m", str(tmp_path / "linear-pkg"), env={"PYTHONPATH": _env(site)["PYTHONPATH"]}
    )
    answer = httpx.post(
        f"{server.url}/invocations",
        content=orjson.dumps({"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 3.0]]}}),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"predictions": [-0.5]}
    wrong = httpx.post(
        f"{server.url}/invocations",
        content=orjson.dumps({"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}),
        headers={"Content-Type": "application/json"},
    )
    assert wrong.status_code == 400
    assert wrong.json()["message"] == "Model is missing inputs ['b']."


def test_an_entry_point_that_is_not_a_flavor_is_refused_by_name() -> None:
    from importlib.metadata import EntryPoint

    from modelpack.errors import InvalidArgument
    from modelpack.flavors import Registry

    broken = EntryPoint("nplinear", "collections:OrderedDict", "modelpack.flavors")
    with pytest.raises(InvalidArgument) as info:
        Registry([broken]).get("nplinear")
    assert info.value.message.startswith(
        "flavor entry point 'nplinear' (collections:OrderedDict) is not a flavor: OrderedDict "
        "lacks ['can_save', 'save', 'load_native', 'load_predictor', \"name = 'nplinear'\""
    )
