"""What a PyTorch file holds, read without running it: pickles inside archives, TorchScript or
not. Whether a ``torch.export`` archive loads without unrestricted unpickling is the opener's
question (``modelpack.format.opener.pt2_is_pickle_free``)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from modelpack.format.references import pickle_modules

__all__ = ["is_torchscript", "zip_pickle_modules"]


def zip_pickle_modules(file: Path) -> set[str]:
    """Modules named by the pickle inside a ``torch.save`` archive."""
    with zipfile.ZipFile(file) as archive:
        name = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
        if name is None:
            return set()
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "data.pkl"
            dest.write_bytes(archive.read(name))
            return pickle_modules(dest)


def is_torchscript(file: Path) -> bool:
    try:
        with zipfile.ZipFile(file) as archive:
            return any(n.endswith("/constants.pkl") for n in archive.namelist())
    except zipfile.BadZipFile:
        return False  # a legacy (pre-1.6) torch.save file: plain pickle
