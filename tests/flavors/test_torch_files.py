"""PyTorch files read without loading them."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from modelpack.flavors._torch_files import is_torchscript, zip_pickle_modules  # noqa: E402

pytestmark = [
    pytest.mark.torch,
    # TorchScript is deprecated in torch 2.13 but still written by users and read by MLflow.
    pytest.mark.filterwarnings("ignore:`torch.jit.*is deprecated:DeprecationWarning"),
]


def test_torchscript_and_pickled_modules_are_told_apart(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 1)
    torch.jit.save(torch.jit.script(net), str(tmp_path / "ts.pth"))
    torch.save(net, tmp_path / "pickled.pth")
    assert is_torchscript(tmp_path / "ts.pth")
    assert not is_torchscript(tmp_path / "pickled.pth")
    assert "torch" in zip_pickle_modules(tmp_path / "pickled.pth")
