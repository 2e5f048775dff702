"""What the manifest check costs: load time of a ~1 GB package with and without MANIFEST.json.

Two layouts of the same python_model package: one 1 GB artifact, and eight of 128 MB. The
model's ``load_context`` reads every artifact, as a model loading its weights does, so "without"
is a realistic load and "with" adds the hashing. Each is timed with a warm page cache (the
package read just before) and a cold one (the package's pages dropped with
``posix_fadvise(DONTNEED)`` before each load, which needs no root); the check alone is timed on
one thread and on the default pool.

    python bench/manifest.py [--size-mb 1024] [--repeat 3] [--dir /tmp/modelpack-bench-manifest]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import modelpack
from modelpack.format.manifest import MANIFEST_FILE, Manifest, check_files, read_manifest
from modelpack.settings import Settings


class ReadsArtifacts(modelpack.PythonModel):
    """Reads each artifact whole when it loads, as a model reads its weights."""

    def load_context(self, context: modelpack.PythonModelContext) -> None:
        self.sizes = {name: len(Path(p).read_bytes()) for name, p in context.artifacts.items()}

    def predict(self, context, model_input, params=None):
        return model_input


def _package(root: Path, name: str, parts: int, size_mb: int) -> Path:
    path = root / name
    if (path / MANIFEST_FILE).is_file():
        return path
    shutil.rmtree(path, ignore_errors=True)
    src = root / f"{name}-src"
    src.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    artifacts = {}
    for i in range(parts):
        file = src / f"weights{i}.bin"
        with open(file, "wb") as out:
            for _ in range(size_mb // parts):
                out.write(rng.bytes(1 << 20))
        artifacts[f"w{i}"] = file
    modelpack.save_model(ReadsArtifacts(), path, artifacts=artifacts)
    shutil.rmtree(src)
    return path


def _drop_cache(package: Path) -> None:
    for file in package.rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _time(fn: Callable[[], object], repeat: int, before: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        before()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _warm(package: Path) -> None:
    for file in package.rglob("*"):
        if file.is_file():
            with open(file, "rb") as f:
                while f.read(1 << 24):
                    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/modelpack-bench-manifest"))
    args = parser.parse_args()
    settings = Settings()
    print(f"CPUs available: {len(os.sched_getaffinity(0))}; package size {args.size_mb} MB")
    print(
        "| layout | page cache | load without manifest | load with manifest | check alone "
        "| check alone, 1 thread |"
    )
    print("|---|---|---|---|---|---|")
    for parts in (1, 8):
        name = f"{parts} x {args.size_mb // parts} MB"
        package = _package(args.dir, f"parts{parts}", parts, args.size_mb)
        found = read_manifest(package)
        assert found is not None
        manifest = found[0]
        aside = args.dir / f"parts{parts}.manifest"

        def load(p: Path = package) -> object:
            return modelpack.load_model(p, settings=settings)

        def check(p: Path = package, m: Manifest = manifest, workers: int | None = None) -> None:
            report = check_files(p, m, workers=workers)
            assert report.ok, report.summary()

        for cache in ("warm", "cold"):
            prepare = _warm if cache == "warm" else _drop_cache

            def before(p: Path = package, prepare: Callable[[Path], None] = prepare) -> None:
                prepare(p)

            with_manifest = _time(load, args.repeat, before)
            pooled = _time(check, args.repeat, before)
            single = _time(lambda: check(workers=1), args.repeat, before)
            shutil.move(package / MANIFEST_FILE, aside)
            try:
                without = _time(load, args.repeat, before)
            finally:
                shutil.move(aside, package / MANIFEST_FILE)
            print(
                f"| {name} | {cache} | {without:.2f} s | {with_manifest:.2f} s "
                f"(+{with_manifest - without:.2f} s) | {pooled:.2f} s | {single:.2f} s |"
            )


if __name__ == "__main__":
    main()
