"""What an environment is built from: requirement files read and normalized, the key, pip's
index settings as uv's options, the installers' errors as one line, and the re-run command."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest

from modelpack.cli import main
from modelpack.cli._common import child_args
from modelpack.envs._index import IndexConfig
from modelpack.envs._requirements import Requirements, parse, read_file
from modelpack.envs._spec import EnvSpec, torch_pin
from modelpack.envs._uv import reason as uv_reason
from modelpack.envs._virtualenv import pip_reason


def test_a_requirements_file_is_read_with_its_includes_and_normalized(tmp_path: Path) -> None:
    (tmp_path / "more.txt").write_text("Humanize == 4.17.0  # a comment\n")
    (tmp_path / "constraints.txt").write_text("numpy<3\n")
    (tmp_path / "requirements.txt").write_text(
        "# saved by modelpack\n"
        "Scikit_Learn[Alldeps] >= 1.3, <2 ; python_version >= '3.9'\n"
        "\n"
        "-r more.txt\n"
        "-c constraints.txt\n"
        "--extra-index-url https://example.invalid/simple\n"
        "pandas==2.2.3 --hash=sha256:0123\n"
    )

    assert read_file(tmp_path / "requirements.txt") == Requirements(
        lines=(
            "scikit-learn[alldeps]>=1.3,<2; python_version >= '3.9'",
            "humanize==4.17.0",
            "--extra-index-url https://example.invalid/simple",
            "pandas==2.2.3",
        ),
        constraints=("numpy<3",),
    )


@pytest.mark.parametrize(
    ("line", "version", "expected"),
    [
        ("torch==2.13.0", "2.13.0+cpu", True),  # a local label meets a plain pin
        ("torch==2.13.0+cpu", "2.13.0+cpu", True),
        ("torch==2.12.0", "2.13.0+cpu", False),
        ("numpy>=2,<3", "2.4.6", True),
        ("numpy>=3", "2.4.6", False),
        ("numpy", "2.4.6", True),
    ],
)
def test_a_version_meets_a_requirement(line: str, version: str, expected: bool) -> None:
    parsed = parse(line)

    assert parsed is not None
    assert parsed.satisfied_by(version) is expected


def _spec(**changes: object) -> EnvSpec:
    fields: dict[str, object] = {
        "manager": "uv",
        "python": "3.11",
        "requirements": ("humanize==4.17.0", "numpy==2.4.6"),
        "constraints": (),
        "conda": None,
        "modelpack": "0.1.0 sha256:0123",
    }
    fields.update(changes)
    return EnvSpec(**fields)  # type: ignore[arg-type]


def test_the_key_names_manager_and_python_and_ignores_the_order_of_requirements() -> None:
    key = _spec().key

    assert key.startswith("uv-py3.11-")
    assert _spec(requirements=("numpy==2.4.6", "humanize==4.17.0")).key == key


@pytest.mark.parametrize(
    "change",
    [
        {"manager": "virtualenv"},
        {"python": "3.12"},
        {"requirements": ("humanize==4.16.0", "numpy==2.4.6")},
        {"constraints": ("torch==2.13.0+cpu",)},
        {"modelpack": "0.1.0 sha256:4567"},
    ],
)
def test_the_key_changes_with_each_input(change: dict[str, object]) -> None:
    assert _spec(**change).key != _spec().key


@pytest.fixture
def torch_here() -> str:
    """The version of the torch distribution installed here (not imported)."""
    try:
        return md.version("torch")
    except md.PackageNotFoundError:
        pytest.skip("torch is not installed here")


def test_torch_is_pinned_to_the_build_installed_here_when_it_fits(torch_here: str) -> None:
    here = torch_here
    public = here.split("+")[0]

    pin, note = torch_pin(Requirements((f"torch=={public}", "numpy"), ()))

    assert pin == f"torch=={here}"
    assert note == f"torch=={public}: pinned to torch=={here}, the build installed here"


def test_torch_of_another_version_is_left_to_the_indexes_with_a_note(torch_here: str) -> None:
    pin, note = torch_pin(Requirements(("torch==1.0.0",), ()))

    assert pin is None
    assert note is not None
    assert note.startswith(f"torch==1.0.0: torch {torch_here} is installed here, so ")
    assert "https://download.pytorch.org/whl/cpu" in note


def test_no_torch_no_pin() -> None:
    assert torch_pin(Requirements(("numpy",), ())) == (None, None)


PIP_CONFIG = """\
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/more/simple'
global.find-links='/opt/wheels'
global.index-url='https://mirror.example/simple'
install.index-url='https://install.example/simple'
:env:.find-links='/srv/wheels'
:env:.default-timeout='180'
"""


def test_pip_config_list_becomes_uv_options_with_pips_merge_of_indexes() -> None:
    config = IndexConfig.from_config_list(PIP_CONFIG)

    assert config.uv_args({}) == [
        "--index-url", "https://install.example/simple",
        "--extra-index-url", "file:///opt/pypi/simple",
        "--extra-index-url", "file:///opt/more/simple",
        "--find-links", "/srv/wheels",
        "--index-strategy", "unsafe-best-match",
        "--constraint", "/etc/pip/constraints.txt",
    ]  # fmt: skip
    assert config.uv_environ({})["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"


def test_uv_index_variables_win_over_pips_settings() -> None:
    config = IndexConfig.from_config_list(PIP_CONFIG)

    args = config.uv_args({"UV_INDEX_URL": "https://uv.example/simple"})

    assert args == ["--constraint", "/etc/pip/constraints.txt"]


def test_pip_variables_alone_when_pip_cannot_run(tmp_path: Path) -> None:
    environ = {"PIP_INDEX_URL": "https://env.example/simple", "PIP_NO_INDEX": "0"}

    config = IndexConfig.from_pip(environ, python=str(tmp_path / "no-python"))

    assert config == IndexConfig(index_url="https://env.example/simple")


UV_FAILURE = [
    "Using Python 3.11.7 environment at: /tmp/env",
    "error: No solution found when resolving dependencies:",
    "  cause: Because nonexistent-dist-xyz was not found in the package registry and you "
    "require nonexistent-dist-xyz==1, we can conclude that your requirements are unsatisfiable.",
]


def test_uvs_error_and_its_cause_become_one_line() -> None:
    assert uv_reason(UV_FAILURE, 1) == (
        "No solution found when resolving dependencies: Because nonexistent-dist-xyz was not "
        "found in the package registry and you require nonexistent-dist-xyz==1, we can conclude "
        "that your requirements are unsatisfiable."
    )


def test_uvs_lines_wrapped_to_the_terminal_width_are_joined_again() -> None:
    wrapped = [  # uv pip install with COLUMNS=60
        "Using Python 3.11.7 environment at: /tmp/env",
        "error: No solution found when resolving dependencies",
        "  cause: Because nonexistent-dist-xyz was not found",
        "         in the package registry and you require",
        "         nonexistent-dist-xyz==1, we can conclude that your",
        "         requirements are unsatisfiable.",
    ]

    assert uv_reason(wrapped, 1) == uv_reason(UV_FAILURE, 1)


def test_pips_first_error_is_the_reason() -> None:
    tail = [
        "Collecting nonexistent-dist-xyz==1",
        "ERROR: Ignored the following versions that require a different python version: 1.21.2 "
        "Requires-Python >=3.7,<3.11",
        "ERROR: Could not find a version that satisfies the requirement nonexistent-dist-xyz==1 "
        "(from versions: none)",
        "ERROR: No matching distribution found for nonexistent-dist-xyz==1",
    ]

    assert pip_reason(tail, 1) == (
        "Could not find a version that satisfies the requirement nonexistent-dist-xyz==1 "
        "(from versions: none)"
    )


def test_the_command_run_in_the_environment_keeps_the_given_options_only() -> None:
    serve = main.get_command(None, "serve")
    assert serve is not None
    given = ["-m", "runs:/abc/model", "-p", "0", "-w", "2", "--no-batching", "--debug"]
    ctx = serve.make_context("serve", [*given, "--env-manager", "uv", "-q"])

    args = child_args(ctx, Path("/cache/packages/abc"))

    assert args == [
        "serve", "--model-uri", "/cache/packages/abc", "--port", "0", "--workers", "2",
        "--debug", "--no-batching", "--quiet", "--env-manager", "local",
    ]  # fmt: skip


def test_predict_reruns_with_its_paths_and_formats() -> None:
    predict = main.get_command(None, "predict")
    assert predict is not None
    given = ["-m", "pkg", "-i", "in.csv", "-o", "out.json", "-t", "csv", "--env-manager", "uv"]
    ctx = predict.make_context("predict", given)

    assert child_args(ctx, Path("pkg")) == [
        "predict", "--model-uri", "pkg", "--input-path", "in.csv", "--output-path", "out.json",
        "--content-type", "csv", "--batch-size", "50000", "--engine", "local",
        "--env-manager", "local",
    ]  # fmt: skip
