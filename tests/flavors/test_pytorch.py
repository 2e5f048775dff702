"""The pytorch flavor: pt2, pickled modules and TorchScript, interchangeable with real MLflow."""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import settings as hypothesis_settings

import modelpack
from modelpack.cli import main
from modelpack.errors import (
    InvalidArgument,
    InvalidOutput,
    InvalidParams,
    PickleRefused,
    SignatureMismatch,
)
from modelpack.flavors import pytorch as pt_flavor
from modelpack.flavors import registry
from modelpack.flavors._torch_export import shape_checked_by_us
from modelpack.format.manifest import write_manifest
from modelpack.format.opener import pickled_files, pt2_is_pickle_free
from modelpack.settings import Settings

from . import tampering

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

WIDTH = 11
# torch deprecates TorchScript, and torch.load warns when MLflow hands it a TorchScript file.
TORCHSCRIPT_WARNINGS = [
    pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:'torch.load' received a zip file:UserWarning"),
]


def _script(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(module)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(WIDTH, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    ).eval()


@pytest.fixture(scope="module")
def rows() -> dict[int, np.ndarray]:
    """1 and 10,000 rows of float32 features."""
    big = np.random.default_rng(5).uniform(0.1, 20.0, size=(10_000, WIDTH)).astype(np.float32)
    return {1: big[:1], 10_000: big}


def _expected(module, array: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(array)).numpy()


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory, net, rows) -> dict[str, Path]:
    """The same network saved by modelpack in each format, with an input example."""
    root = tmp_path_factory.mktemp("torch")
    example = rows[10_000][:5]
    pt_flavor.save_model(net, root / "pt2", input_example=example)
    pt_flavor.save_model(net, root / "pickle", input_example=example, serialization_format="pickle")
    pt_flavor.save_model(_script(net), root / "torchscript", input_example=example)
    return {p.name: p for p in root.iterdir()}


MLFLOW_FORMATS = [
    pytest.param("pt2"),
    pytest.param("pickle"),
    pytest.param("torchscript", marks=TORCHSCRIPT_WARNINGS),
]


@pytest.mark.mlflow
@pytest.mark.parametrize("fmt", MLFLOW_FORMATS)
def test_package_saved_by_mlflow_predicts_identically(tmp_path: Path, fmt: str, net, rows) -> None:
    import mlflow.pyfunc
    import mlflow.pytorch

    path = str(tmp_path / "m")
    model = _script(net) if fmt == "torchscript" else net
    mlflow.pytorch.save_model(
        model,
        path,
        input_example=rows[10_000][:5],
        serialization_format="pt2" if fmt == "pt2" else "pickle",
        pip_requirements=["torch"],  # skips MLflow's slow requirement inference
    )
    theirs = mlflow.pyfunc.load_model(path, model_config={"device": "cpu"})
    ours = modelpack.load_model(path)
    for n, array in rows.items():
        np.testing.assert_array_equal(ours.predict(array), theirs.predict(array), err_msg=f"{n}")
        np.testing.assert_array_equal(ours.predict(array), _expected(net, array))


@pytest.mark.mlflow
@pytest.mark.parametrize("fmt", MLFLOW_FORMATS)
def test_mlflow_loads_our_package(fmt: str, packages: dict[str, Path], net, rows) -> None:
    import mlflow.pyfunc
    import mlflow.pytorch

    theirs = mlflow.pyfunc.load_model(str(packages[fmt]), model_config={"device": "cpu"})
    ours = modelpack.load_model(packages[fmt])
    for array in rows.values():
        np.testing.assert_array_equal(theirs.predict(array), ours.predict(array))
    native = mlflow.pytorch.load_model(str(packages[fmt]))
    np.testing.assert_array_equal(_expected(native, rows[10_000]), _expected(net, rows[10_000]))


@pytest.mark.mlflow
def test_dataframe_in_dataframe_out_as_in_mlflow(tmp_path: Path, net, rows) -> None:
    import mlflow.pyfunc

    frame = pd.DataFrame(rows[10_000].astype(np.float64), index=np.arange(10_000) * 2)
    frame.columns = [f"f{i}" for i in range(WIDTH)]
    pt_flavor.save_model(net, tmp_path / "m", input_example=frame.head(3))
    ours = modelpack.load_model(tmp_path / "m").predict(frame)
    theirs = mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(frame)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert list(ours.index[:3]) == [0, 2, 4]


def test_flavor_fields_are_mlflows(packages: dict[str, Path]) -> None:
    flavors = yaml.safe_load((packages["pt2"] / "MLmodel").read_text())["flavors"]
    assert flavors["pytorch"] == {
        "code": None,
        "model_data": "data",
        "pytorch_version": torch.__version__,
        "serialization_format": "pt2",
    }
    assert flavors["python_function"]["loader_module"] == "mlflow.pytorch"
    assert flavors["python_function"]["data"] == "data"
    assert flavors["python_function"]["config"] == {"device": None}
    assert sorted(p.name for p in (packages["pt2"] / "data").iterdir()) == ["model.pt2"]
    assert sorted(p.name for p in (packages["pickle"] / "data").iterdir()) == [
        "model.pth",
        "pickle_module_info.txt",
    ]
    info = (packages["pickle"] / "data" / "pickle_module_info.txt").read_text()
    assert info == "mlflow.pytorch.pickle_module"


def test_scripted_module_is_saved_as_torchscript(packages: dict[str, Path]) -> None:
    conf = modelpack.Model.load(packages["torchscript"]).flavors["pytorch"]
    assert conf["serialization_format"] == "torchscript"


def test_requirements_pin_torch_without_local_label(packages: dict[str, Path]) -> None:
    version = torch.__version__.split("+")[0]
    lines = (packages["pt2"] / "requirements.txt").read_text().split()
    assert [ln.split("==")[0] for ln in lines] == ["numpy", "pandas", "torch"]
    assert f"torch=={version}" in lines
    assert "+" not in (packages["pt2"] / "requirements.txt").read_text()
    pickled = (packages["pickle"] / "requirements.txt").read_text().split()
    assert [ln.split("==")[0] for ln in pickled] == ["cloudpickle", "numpy", "pandas", "torch"]


def test_save_model_picks_pytorch(net) -> None:
    assert registry().for_object(net).name == "pytorch"


def test_pt2_needs_an_input_example(tmp_path: Path, net) -> None:
    with pytest.raises(InvalidArgument) as info:
        modelpack.save_model(net, tmp_path / "m")
    assert str(info.value) == (
        "serialization_format 'pt2' (the default) traces the model with torch.export, so it "
        "needs input_example=<numpy array or DataFrame of one input batch>; or choose "
        "serialization_format='pickle'"
    )


def test_pt2_from_a_one_row_example_takes_any_batch_size(tmp_path: Path, net, rows) -> None:
    pt_flavor.save_model(net, tmp_path / "m", input_example=rows[1])
    model = modelpack.load_model(tmp_path / "m")
    np.testing.assert_array_equal(model.predict(rows[10_000]), _expected(net, rows[10_000]))


def _hooks(module) -> list[str]:
    return [getattr(h, "__name__", "") for h in module._forward_pre_hooks.values()]


def test_pt2_drops_torch_exports_input_check_and_answers_the_same(packages, rows) -> None:
    """Our own check (dtype, rank, fixed sizes) covers torch.export's for a program traced by
    save_model: its per-call check is removed, and every answer keeps its bits."""
    data = packages["pt2"] / pt_flavor.DATA_DIR
    module, spec = pt_flavor._load(data, "cpu", Settings())
    checked = torch.export.load(str(data / pt_flavor.PT2_FILE)).module()

    assert spec == ("float32", (-1, WIDTH))
    assert "_check_input_constraints_pre_hook" not in _hooks(module)
    assert "_check_input_constraints_pre_hook" in _hooks(checked)
    for n in (1, 2, 3, 64, 10_000):
        batch = torch.from_numpy(rows[10_000][:n])
        with torch.no_grad():
            assert module(batch).numpy().tobytes() == checked(batch).numpy().tobytes()


def test_pt2_keeps_torch_exports_input_check_where_ours_does_not_cover_it() -> None:
    class Square(torch.nn.Module):
        def forward(self, x):
            return x @ x

    class Row(torch.nn.Module):
        def forward(self, x):
            return x.sum(dim=1)

    def export(module, rows: int, dims: dict) -> object:
        return torch.export.export(module, (torch.ones(rows, rows),), dynamic_shapes=[dims])

    side = torch.export.Dim("side")
    square = export(Square(), 3, {0: side, 1: side})  # two sizes that must be equal
    above_two = export(Row(), 5, {0: torch.export.Dim("batch", min=4)})
    upper = export(Row(), 5, {0: torch.export.Dim("batch", max=8)})
    free = export(Row(), 5, {0: torch.export.Dim.AUTO})

    assert not shape_checked_by_us(square)
    assert not shape_checked_by_us(above_two)
    assert not shape_checked_by_us(upper)
    assert shape_checked_by_us(free)


@pytest.mark.parametrize("fmt", ["pickle", "torchscript"])
def test_pickle_policy_tells_pt2_from_pickle_by_file(
    fmt: str, packages: dict[str, Path], rows, net
) -> None:
    strict = Settings(allow_pickle=False)
    out = modelpack.load_model(packages["pt2"], settings=strict).predict(rows[1])
    assert out.shape == (1, 1)
    native = pt_flavor.load_model(packages["pt2"], settings=strict)
    np.testing.assert_array_equal(_expected(native, rows[1]), _expected(net, rows[1]))
    for load in (modelpack.load_model, pt_flavor.load_model):
        with pytest.raises(PickleRefused) as info:
            load(packages[fmt], settings=strict)
        assert str(info.value).startswith(f"{packages[fmt] / 'data' / 'model.pth'} is stored")


def test_pt2_archive_carrying_a_pickle_counts_as_pickle(
    tmp_path: Path, packages: dict[str, Path]
) -> None:
    import shutil

    path = tmp_path / "m"
    shutil.copytree(packages["pt2"], path)
    payload = pickle.dumps(print)  # never unpickled: the check reads it with weights_only
    with zipfile.ZipFile(path / "data" / "model.pt2", "a") as archive:
        archive.writestr("model/data/constants/custom_obj_0", payload)
    write_manifest(path)  # as if saved that way: the manifest check is not what is tested here
    with pytest.raises(PickleRefused) as info:
        modelpack.load_model(path, settings=Settings(allow_pickle=False))
    assert str(info.value).startswith(f"{path / 'data' / 'model.pt2'} is stored with pickle")


def test_load_model_returns_the_module_on_cpu(packages: dict[str, Path], net, rows) -> None:
    native = pt_flavor.load_model(packages["pickle"])
    assert isinstance(native, torch.nn.Sequential)
    assert {p.device.type for p in native.parameters()} == {"cpu"}
    assert not native.training
    np.testing.assert_array_equal(_expected(native, rows[1]), _expected(net, rows[1]))


def test_model_config_device_beats_the_setting(packages: dict[str, Path], rows) -> None:
    settings = Settings(flavor_options={"torch_device": "cuda:99"})
    model = modelpack.load_model(
        packages["pickle"], settings=settings, model_config={"device": "cpu"}
    )
    assert model.predict(rows[1]).shape == (1, 1)
    with pytest.raises(InvalidArgument) as info:
        modelpack.load_model(packages["pickle"], settings=settings)
    assert str(info.value).startswith(
        "torch device 'cuda:99' (from model_config or MODELPACK_TORCH_DEVICE) is not available "
        "here: "
    )


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_torch_threads_setting_is_applied(restore_threads, packages: dict[str, Path]) -> None:
    modelpack.load_model(packages["pt2"], settings=Settings(flavor_options={"torch_threads": "1"}))
    assert torch.get_num_threads() == 1


def test_default_threads_divide_the_cpus_among_workers() -> None:
    assert pt_flavor.torch_threads(Settings(flavor_options={"torch_threads": "3"})) == 3
    assert pt_flavor.torch_threads(Settings(workers=100_000)) == 1
    one = pt_flavor.torch_threads(Settings(workers=1))
    assert pt_flavor.torch_threads(Settings(workers=2)) == max(1, one // 2)


def test_arrays_keep_their_dtype(tmp_path: Path, rows) -> None:
    torch.manual_seed(1)
    double = torch.nn.Linear(WIDTH, 2).double()
    pt_flavor.save_model(double, tmp_path / "m", serialization_format="pickle")
    out = modelpack.load_model(tmp_path / "m").predict(rows[1].astype(np.float64))
    assert out.dtype == np.float64


@pytest.fixture(scope="module")
def pt2_predictor(packages: dict[str, Path]):
    """The flavor's own predictor, without the signature in front of it."""
    conf = modelpack.Model.load(packages["pt2"]).flavors
    return (
        registry()
        .get("pytorch")
        .load_predictor(packages["pt2"], conf["pytorch"], conf["python_function"], Settings())
    )


def test_device_is_not_a_request_param(pt2_predictor, rows) -> None:
    with pytest.raises(InvalidParams) as info:
        pt2_predictor.predict(rows[1], {"device": "cuda"})
    assert str(info.value) == (
        "'device' is chosen when the model loads (model_config={'device': ...} or "
        "MODELPACK_TORCH_DEVICE), not per request"
    )


def test_wrong_width_names_the_expected_shape(pt2_predictor, rows) -> None:
    with pytest.raises(SignatureMismatch) as info:
        pt2_predictor.predict(rows[1][:, :3])
    assert str(info.value) == "the PyTorch model expects input of shape (-1, 11), got (1, 3)"


def test_wrong_dtype_names_the_expected_type(pt2_predictor, rows) -> None:
    with pytest.raises(SignatureMismatch) as info:
        pt2_predictor.predict(rows[1].astype(np.float64))
    assert str(info.value) == "the PyTorch model expects float32 input, got float64"


def test_strings_into_a_float_tensor(pt2_predictor) -> None:
    with pytest.raises(SignatureMismatch) as info:
        pt2_predictor.predict(np.array([["a"] * WIDTH]))
    assert str(info.value) == "the PyTorch model takes a numeric array, got dtype <U1"
    frame = pd.DataFrame(np.ones((2, WIDTH))).astype({4: object})
    frame.loc[1, 4] = "abc"
    with pytest.raises(SignatureMismatch) as info:
        pt2_predictor.predict(frame)
    assert (
        str(info.value) == "column '4': the PyTorch model takes numbers (as float32), got str 'abc'"
    )


def test_lists_are_refused_in_one_line(pt2_predictor) -> None:
    with pytest.raises(SignatureMismatch) as info:
        pt2_predictor.predict([[1.0] * WIDTH])
    assert str(info.value) == "the PyTorch model takes a DataFrame or a numpy array, got list"


def test_output_that_is_not_one_tensor_is_invalid_output(tmp_path: Path, rows) -> None:
    class Pair(torch.nn.Module):
        def forward(self, x):
            return x, x

    pt_flavor.save_model(_script(Pair()), tmp_path / "m")
    with pytest.raises(InvalidOutput) as info:
        modelpack.load_model(tmp_path / "m").predict(rows[1])
    assert str(info.value) == "the PyTorch model returned a tuple, expected one tensor"


def test_signature_mismatch_is_one_line(packages: dict[str, Path], rows) -> None:
    with pytest.raises(SignatureMismatch) as info:
        modelpack.load_model(packages["pickle"]).predict(rows[1][:, :3])
    assert str(info.value) == "input 'input': expected shape (-1, 11), got (1, 3)"


def test_info_shows_the_pytorch_specifics(packages: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["info", "-m", str(packages["pickle"])])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:3] == [
        "Flavor:   pytorch",
        f"          model_data=data, pytorch_version={torch.__version__}, "
        "serialization_format=pickle",
    ]
    assert "Pickle:   yes (data/model.pth): load only packages you trust" in lines


def test_pt2_archive_check_accepts_what_torch_export_writes(packages: dict[str, Path]) -> None:
    data = (packages["pt2"] / "data" / "model.pt2").read_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data))
    assert pt2_is_pickle_free(packages["pt2"] / "data" / "model.pt2")
    assert pickled_files(packages["pt2"]) == []
    assert pickled_files(packages["torchscript"]) == ["data/model.pth"]


# ---------------------------------------------------------------------------------------------
# the pickle policy cannot be bypassed by editing MLmodel


class TripwireNet(torch.nn.Linear):
    """A linear layer that records each time it is unpickled."""

    def __setstate__(self, state: dict) -> None:
        tampering.record("pytorch")
        super().__setstate__(state)


STRICT = Settings(allow_pickle=False)


@pytest.fixture(scope="module")
def tripwire_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tripwire") / "m"
    pt_flavor.save_model(TripwireNet(WIDTH, 1), path, serialization_format="pickle")
    return tampering.plant_model_code(path)


def test_the_tripwire_records_unpickling(tripwire_package: Path) -> None:
    tampering.reset()
    module = pt_flavor.load_model(tripwire_package, settings=Settings(allow_pickle=True))
    assert tampering.UNPICKLED == ["pytorch"]
    assert isinstance(module, TripwireNet)


def test_pyfunc_data_elsewhere_does_not_bypass_the_policy(tripwire_package: Path) -> None:
    # The old policy read python_function.data, the loader the pytorch section's model_data.
    mlmodel = yaml.safe_load((tripwire_package / "MLmodel").read_text())
    edits = [
        ("key", "<flavor>", "model_data", tampering.DELETE),
        ("key", "python_function", "data", "elsewhere"),
    ]
    tampering.reset()
    with tampering.tampered(tripwire_package, tampering.apply(mlmodel, "pytorch", edits)):
        for load in (modelpack.load_model, pt_flavor.load_model):
            with pytest.raises(PickleRefused) as info:
                load(tripwire_package, settings=STRICT)
            assert str(info.value).startswith(
                f"{tripwire_package / 'data' / 'model.pth'} is stored with pickle, and "
                "MODELPACK_ALLOW_PICKLE is false"
            )
    assert tampering.UNPICKLED == []


def _strict_pyfunc(path: Path) -> object:
    return modelpack.load_model(path, settings=STRICT)


def _strict_native(path: Path) -> object:
    return pt_flavor.load_model(path, settings=STRICT)


@hypothesis_settings(max_examples=100, deadline=None)
@given(edits=tampering.mlmodel_edits)
def test_no_mlmodel_edit_unpickles_with_pickle_off(tripwire_package: Path, edits) -> None:
    tampering.assert_never_unpickles(
        tripwire_package, "pytorch", edits, _strict_pyfunc, _strict_native
    )
