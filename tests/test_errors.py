"""The error hierarchy, and whose fault a failed prediction is."""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from modelpack import errors
from modelpack.errors import (
    InternalError,
    ModelpackError,
    PredictionFailed,
    prediction_error,
    raised_in_modelpack,
)
from modelpack.signature.casting import _text_to_number, object_array


def _tree() -> dict[str, tuple[str, str, int, int]]:
    """The docstring's tree: class -> (parent, error_code, status_code, exit_code)."""
    rows: dict[str, tuple[str, str, int, int]] = {}
    parents: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.fullmatch(r" {4}([│ ]*(?:[├└]── )?)(\w+)(?: \(\w+\))? +(\w+) +(\d+) +(\d)", line)
        if not found:
            continue
        depth = len(found.group(1)) // 4
        del parents[depth:]
        parent = parents[-1] if parents else ""
        parents.append(found.group(2))
        rows[found.group(2)] = (parent, found.group(3), int(found.group(4)), int(found.group(5)))
    return rows


def test_the_docstring_tree_is_the_hierarchy() -> None:
    classes = {
        name: cls
        for name in errors.__all__
        if isinstance(cls := getattr(errors, name), type) and issubclass(cls, ModelpackError)
    }
    tree = _tree()
    assert set(tree) == set(classes)
    for name, (parent, code, status, exit_code) in tree.items():
        cls = classes[name]
        assert (cls.error_code, cls.status_code, cls.exit_code) == (code, status, exit_code), name
        if parent:
            assert cls.__bases__[0] is classes[parent], name


def _raised(fn: Callable[[], Any]) -> Exception:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("nothing raised")


def _line(exc: BaseException) -> int:
    return traceback.extract_tb(exc.__traceback__)[-1].lineno or 0


def _value_error() -> None:
    raise ValueError("x must be positive\nmore detail")


def _recurse(n: int) -> int:
    return _recurse(n + 1) + 1


# -- the model's fault: 400 -------------------------------------------------------------------


def test_an_error_in_the_models_code_is_the_models() -> None:
    exc = _raised(_value_error)
    error = prediction_error(exc)
    assert type(error) is PredictionFailed
    assert error.status_code == 400
    assert error.message == "the model raised ValueError: x must be positive"
    assert not raised_in_modelpack(exc)


def test_an_error_in_a_library_the_model_calls_is_the_models() -> None:
    exc = _raised(lambda: pd.DataFrame({"a": [1]})["b"])
    assert type(prediction_error(exc)) is PredictionFailed


def test_an_error_from_c_called_by_the_model_is_the_models() -> None:
    # int() has no frame of its own: the error is placed in the (test's) caller.
    exc = _raised(lambda: int("seven"))
    assert prediction_error(exc).message == (
        "the model raised ValueError: invalid literal for int() with base 10: 'seven'"
    )


def test_recursion_error_is_judged_by_place() -> None:
    exc = _raised(lambda: _recurse(0))
    assert isinstance(exc, RecursionError)
    assert type(prediction_error(exc)) is PredictionFailed


def test_an_exception_whose_str_fails_still_gives_a_message() -> None:
    class Odd(Exception):
        def __str__(self) -> str:
            raise RuntimeError("broken __str__")

    def boom() -> None:
        raise Odd

    assert prediction_error(_raised(boom)).message == "the model raised Odd"


# -- the server's fault: 500 ------------------------------------------------------------------


def test_memory_error_is_the_servers() -> None:
    def allocate() -> None:
        raise MemoryError

    error = prediction_error(_raised(allocate))
    assert type(error) is InternalError
    assert (error.status_code, error.error_code) == (500, "INTERNAL_ERROR")
    assert error.message == "the server ran out of memory while predicting (MemoryError)"


def test_an_error_raised_in_modelpacks_code_is_ours() -> None:
    # A real modelpack function fed what no caller of ours should pass it.
    exc = _raised(lambda: object_array(5))  # type: ignore[arg-type]
    assert isinstance(exc, TypeError)
    assert raised_in_modelpack(exc)
    error = prediction_error(exc)
    assert type(error) is InternalError
    assert error.message == (
        f"internal error while predicting: TypeError in modelpack/signature/casting.py line "
        f"{_line(exc)}; see the server log"
    )


def test_the_message_never_quotes_our_exceptions_text() -> None:
    secret = "s3cr3t-from-the-request"
    exc = _raised(lambda: _text_to_number(secret))  # float() refuses it, inside casting.py
    assert secret in str(exc)
    assert raised_in_modelpack(exc)
    assert secret not in prediction_error(exc).message


def test_an_exception_never_raised_is_not_ours() -> None:
    assert not raised_in_modelpack(ValueError("not raised"))


@pytest.mark.parametrize("exc", [MemoryError(), KeyError("k")])
def test_internal_error_names_what_was_being_done(exc: Exception) -> None:
    assert "while serving the request" in errors.internal_error(exc, "serving the request").message
