from __future__ import annotations

import pytest

from modelpack.errors import InvalidArgument
from modelpack.settings import Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.workers, s.timeout, s.allow_pickle) == (
        "127.0.0.1",
        5000,
        1,
        60.0,
        True,
    )
    assert s.max_body_bytes == 100 * 1024 * 1024


def test_environment_then_flags() -> None:
    env = {"MODELPACK_PORT": "6000", "MODELPACK_ALLOW_PICKLE": "false", "MODELPACK_TIMEOUT": "2.5"}
    s = Settings.from_env(env, port=7000, workers=None)
    assert (s.port, s.allow_pickle, s.timeout, s.workers) == (7000, False, 2.5, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODELPACK_PORT": "http"}, "MODELPACK_PORT: expected an integer, got 'http'"),
        ({"MODELPACK_DEBUG": "maybe"}, "MODELPACK_DEBUG: expected true or false, got 'maybe'"),
        ({"MODELPACK_TIMEOUT": "soon"}, "MODELPACK_TIMEOUT: expected a number, got 'soon'"),
    ],
)
def test_bad_environment_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Settings.from_env(env)
    assert str(info.value) == message


def test_unknown_override_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unknown settings"):
        Settings.from_env({}, colour="red")


def test_auth_token_from_the_environment_is_stripped_and_never_in_the_repr() -> None:
    s = Settings.from_env({"MODELPACK_AUTH_TOKEN": " s3cr3t\n"})
    assert s.auth_token == "s3cr3t"
    assert "s3cr3t" not in repr(s)
    assert Settings.from_env({}).auth_token is None


def test_an_empty_auth_token_stays_empty_for_the_server_to_refuse() -> None:
    # Unlike other optional settings, empty does not mean unset: a typo must not turn auth off.
    assert Settings.from_env({"MODELPACK_AUTH_TOKEN": ""}).auth_token == ""
    assert Settings.from_env({"MODELPACK_CACHE_DIR": ""}).cache_dir is None


def test_v2_settings_from_the_environment() -> None:
    env = {
        "MODELPACK_MODEL_NAME": "wine",
        "MODELPACK_MODEL_VERSION": "3",
        "MODELPACK_ENABLE_MLSERVER": "true",
        "MODELPACK_GRPC_PORT": "8081",
    }
    s = Settings.from_env(env)
    assert (s.model_name, s.model_version, s.enable_mlserver, s.grpc_port) == (
        "wine",
        "3",
        True,
        8081,
    )
    unset = Settings.from_env({})
    assert (unset.model_name, unset.model_version, unset.enable_mlserver, unset.grpc_port) == (
        None,
        None,
        False,
        None,
    )


def test_observability_settings() -> None:
    s = Settings.from_env({})
    assert (s.metrics, s.log_format, s.access_log) == (True, "text", False)
    env = {
        "MODELPACK_METRICS": "false",
        "MODELPACK_LOG_FORMAT": "json",
        "MODELPACK_ACCESS_LOG": "1",
    }
    s = Settings.from_env(env)
    assert (s.metrics, s.log_format, s.access_log) == (False, "json", True)
    with pytest.raises(InvalidArgument) as info:
        Settings.from_env({"MODELPACK_LOG_FORMAT": "xml"})
    assert str(info.value) == "MODELPACK_LOG_FORMAT must be one of ['text', 'json'], got 'xml'"
