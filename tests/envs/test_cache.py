"""The environment cache: published whole or not at all, one builder per key at a time."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from modelpack.envs._cache import READY_FILE, EnvCache


def _fill(target: Path) -> None:
    (target / "bin").mkdir(parents=True)
    (target / "bin" / "python").write_text("")


def test_a_built_environment_is_published_under_its_key(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)

    directory = cache.build("uv-py3.11-abc", _fill, lambda: {"manager": "uv"})

    assert cache.entry("uv-py3.11-abc").is_symlink()
    assert cache.ready("uv-py3.11-abc") == directory
    assert json.loads((directory / READY_FILE).read_text()) == {"manager": "uv"}
    assert cache.info("uv-py3.11-abc") == {"manager": "uv"}


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)

    def fail(target: Path) -> None:
        _fill(target)
        raise RuntimeError("resolver said no")

    with pytest.raises(RuntimeError, match="resolver said no"):
        cache.build("uv-py3.11-abc", fail, dict)

    assert cache.ready("uv-py3.11-abc") is None
    assert not cache.entry("uv-py3.11-abc").exists()
    assert list((tmp_path / ".store").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".store"]


def test_what_a_crashed_build_left_is_swept_by_the_next_builder(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    crashed = tmp_path / ".store" / "uv-py3.11-abc-dead"
    _fill(crashed)  # no modelpack-env.json: never finished
    (tmp_path / "uv-py3.11-abc").symlink_to(".store/uv-py3.11-abc-dead")
    other = tmp_path / ".store" / "uv-py3.11-def-0000"
    _fill(other)

    assert cache.ready("uv-py3.11-abc") is None
    directory = cache.build("uv-py3.11-abc", _fill, dict)

    assert sorted(p.name for p in (tmp_path / ".store").iterdir()) == sorted(
        [directory.name, other.name]
    )


def test_a_second_builder_of_the_same_key_waits_for_the_first(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    events: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with cache.lock("k", on_wait=lambda: events.append("first waited")):
            events.append("first holds")
            inside.set()
            release.wait(10)
            events.append("first releases")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)

    def on_wait() -> None:
        events.append("second waits")
        release.set()

    with cache.lock("k", on_wait=on_wait):
        events.append("second holds")
    thread.join(10)

    assert events == ["first holds", "second waits", "first releases", "second holds"]


def test_locks_of_other_keys_do_not_wait(tmp_path: Path) -> None:
    cache = EnvCache(tmp_path)
    waited: list[str] = []

    with cache.lock("a", on_wait=lambda: waited.append("a")):
        with cache.lock("b", on_wait=lambda: waited.append("b")):
            pass

    assert waited == []
