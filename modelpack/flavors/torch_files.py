"""What a PyTorch file holds, read without running it: pickles inside archives, TorchScript or
not, and whether a ``torch.export`` archive loads without unrestricted unpickling."""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from pathlib import Path

from modelpack.flavors import require
from modelpack.references import pickle_modules

__all__ = ["is_torchscript", "pt2_is_pickle_free", "zip_pickle_modules"]

# pt2 records that are safe without unpickling: short text metadata and raw tensor bytes.
_TEXT_RECORDS = {"version", "archive_format", "archive_version", "byteorder", "serialization_id"}
_TEXT_CONTENT = re.compile(rb"[A-Za-z0-9._-]{1,64}\n?")
_PAYLOAD_CONFIG = re.compile(r"(?:^|/)data/(?:weights|constants)/[^/]+_config\.json$")


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


def pt2_is_pickle_free(file: Path) -> bool:
    """True when loading the archive unpickles nothing beyond what ``weights_only`` allows.

    ``torch.export.load`` unpickles (unrestricted) weights marked ``use_pickle``, custom objects
    and, as a fallback, sample inputs; an archive written by ``torch.export.save`` for plain
    tensors holds none of those.
    """
    torch = require("torch", "pytorch")
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        return False
    with archive:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        raw: set[str] = set()
        for name in names:
            if not _PAYLOAD_CONFIG.search(name):
                continue
            folder = name.rsplit("/", 1)[0]
            try:
                config = json.loads(archive.read(name)).get("config", {})
            except ValueError:
                return False
            for meta in config.values():
                if isinstance(meta, dict) and meta.get("use_pickle") is False:
                    raw.add(f"{folder}/{meta.get('path_name')}")
        for name in names:
            if name in raw:
                continue
            content = archive.read(name)
            if name.rsplit("/", 1)[-1] in _TEXT_RECORDS and _TEXT_CONTENT.fullmatch(content):
                continue
            if _is_json(content):
                continue
            try:
                torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
            except Exception:
                return False
    return True


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True
