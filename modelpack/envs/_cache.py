"""The environment cache: one environment per key under ``<cache_dir>/envs``.

A virtual environment cannot be moved once built (console scripts and pip's records hold its
absolute path), so each is built in a directory of its own under ``.store/`` that never moves,
and published by an atomic rename of a symbolic link ``<key> -> .store/<key>-<random>``, made
after the build wrote its ``modelpack-env.json``. A reader therefore sees a finished
environment or none. Builders of the same key take a file lock (``.locks/<key>.lock``,
``fcntl.flock``) and wait for one another; the one that waited finds the other's environment.
A failed build removes its directory; a crashed one leaves a directory no link points to, which
the next builder of that key removes.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["READY_FILE", "EnvCache"]

READY_FILE = "modelpack-env.json"
"""Written into an environment last, before it is published: what it was built from."""
_STORE = ".store"
_LOCKS = ".locks"


class EnvCache:
    """Environments under ``root`` (``<cache_dir>/envs``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, key: str) -> Path:
        """The published name of the environment for ``key`` (a link; it may not exist)."""
        return self.root / key

    def ready(self, key: str) -> Path | None:
        """The directory of the finished environment for ``key``, or None."""
        entry = self.entry(key)
        if not entry.is_symlink():
            return None
        target = entry.resolve()
        return target if (target / READY_FILE).is_file() else None

    def info(self, key: str) -> dict[str, Any]:
        """What ``modelpack-env.json`` of a ready environment says ({} if it cannot be read)."""
        target = self.ready(key)
        try:
            data = json.loads((target / READY_FILE).read_text(encoding="utf-8")) if target else {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextmanager
    def lock(self, key: str, on_wait: Callable[[], None]) -> Iterator[None]:
        """Hold the lock of ``key``; ``on_wait`` is called once if another process holds it."""
        import fcntl

        locks = self.root / _LOCKS
        locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(locks / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def build(
        self, key: str, fill: Callable[[Path], None], info: Callable[[], dict[str, Any]]
    ) -> Path:
        """Build the environment for ``key`` with ``fill(directory)`` and publish it.

        The caller holds ``lock(key)``. ``fill`` creates ``directory``; if it raises, nothing
        of the attempt is kept. ``info()``, called once ``fill`` is done, is written to
        ``modelpack-env.json``. Returns the environment's directory.
        """
        store = self.root / _STORE
        store.mkdir(parents=True, exist_ok=True)
        self._sweep(key)
        target = store / f"{key}-{secrets.token_hex(4)}"
        link = self.root / f".{key}.link-{secrets.token_hex(4)}"
        try:
            fill(target)
            (target / READY_FILE).write_text(
                json.dumps(info(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            os.symlink(os.path.relpath(target, self.root), link)
            os.replace(link, self.entry(key))
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            link.unlink(missing_ok=True)
            raise
        return target

    def _sweep(self, key: str) -> None:
        """Remove what an earlier, interrupted build of ``key`` left (the lock is held)."""
        entry = self.entry(key)
        if entry.is_symlink() and self.ready(key) is None:
            entry.unlink()  # points at a directory that is gone or was never finished
        current = entry.resolve() if entry.is_symlink() else None
        for stale in (self.root / _STORE).glob(f"{key}-*"):
            if stale.resolve() != current:
                shutil.rmtree(stale, ignore_errors=True)
        for link in self.root.glob(f".{key}.link-*"):
            link.unlink(missing_ok=True)
