"""Where packages come from: pip's index configuration, handed to uv.

pip run inside an environment reads its configuration itself (files and ``PIP_*`` variables).
uv reads neither, so the settings pip would use here (``pip config list``: ``index-url``,
``extra-index-url``, ``find-links``, ``constraint``, ``no-index``, ``trusted-host``, ``cert``)
become uv's options; pip's merge of several indexes (the best version wins, wherever it is) is
uv's ``--index-strategy unsafe-best-match``. When uv's own index variables are set (``UV_INDEX``,
``UV_DEFAULT_INDEX``, ``UV_INDEX_URL``, ``UV_EXTRA_INDEX_URL``, ``UV_FIND_LINKS``, ``UV_NO_INDEX``)
they win and pip's index settings are not passed; likewise ``UV_CONSTRAINT`` for constraints.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["IndexConfig"]

_UV_INDEX_VARS = (
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)
_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "no-index", "trusted-host")
_PIP_VARS = {key: "PIP_" + key.upper().replace("-", "_") for key in (*_KEYS, "cert")}
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class IndexConfig:
    """The index settings pip would install with here."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    no_index: bool = False
    trusted_hosts: tuple[str, ...] = ()
    cert: str | None = None

    @classmethod
    def from_pip(cls, environ: Mapping[str, str], python: str = sys.executable) -> IndexConfig:
        """pip's effective settings for ``pip install`` (``pip config list`` of ``python``, whose
        output includes the ``PIP_*`` variables); the variables alone where pip cannot run."""
        try:
            listed = subprocess.run(
                [python, "-m", "pip", "config", "list"],
                capture_output=True,
                text=True,
                timeout=60,
                env=dict(environ),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            listed = None
        if listed is not None and listed.returncode == 0:
            return cls.from_config_list(listed.stdout)
        return cls.from_values(_env_values(environ))

    @classmethod
    def from_config_list(cls, text: str) -> IndexConfig:
        """From the text of ``pip config list``: ``:env:`` wins over ``install.`` over
        ``global.`` (pip has already merged the files in its own order of precedence)."""
        ranked: dict[str, tuple[int, str]] = {}
        rank = {"global": 0, "install": 1, ":env:": 2}
        for line in text.splitlines():
            name, sep, raw = line.partition("=")
            section, _, key = name.strip().rpartition(".")
            if not sep or section not in rank or key not in (*_KEYS, "cert"):
                continue
            try:
                value = ast.literal_eval(raw.strip())
            except (SyntaxError, ValueError):
                value = raw.strip().strip("'\"")
            if key not in ranked or rank[section] >= ranked[key][0]:
                ranked[key] = (rank[section], str(value))
        return cls.from_values({key: value for key, (_, value) in ranked.items()})

    @classmethod
    def from_values(cls, values: Mapping[str, str]) -> IndexConfig:
        def listed(key: str) -> tuple[str, ...]:
            return tuple(values.get(key, "").split())

        return cls(
            index_url=values.get("index-url") or None,
            extra_index_urls=listed("extra-index-url"),
            find_links=listed("find-links"),
            constraints=listed("constraint"),
            no_index=values.get("no-index", "").strip().lower() in _TRUE,
            trusted_hosts=listed("trusted-host"),
            cert=values.get("cert") or None,
        )

    def describe(self, uv_environ: Mapping[str, str] | None = None) -> str:
        """One line for the build's progress: where packages will come from (``uv_environ``:
        the environment uv runs with, whose ``UV_*`` index variables win)."""
        if uv_environ is not None and _uv_own(uv_environ):
            return "indexes from the UV_* variables"
        if self.no_index:
            indexes = ["no index"]
        else:
            indexes = [self.index_url or "https://pypi.org/simple", *self.extra_index_urls]
        parts = [f"indexes {', '.join(indexes)}"]
        if self.find_links:
            parts.append(f"find-links {', '.join(self.find_links)}")
        if self.constraints:
            parts.append(f"constraints {', '.join(self.constraints)}")
        return "; ".join(parts)

    def uv_args(self, environ: Mapping[str, str]) -> list[str]:
        """uv's options for these settings (none of the index ones when ``UV_*`` ones are set)."""
        args: list[str] = []
        if not _uv_own(environ):
            if self.index_url:
                args += ["--index-url", self.index_url]
            for url in self.extra_index_urls:
                args += ["--extra-index-url", url]
            for link in self.find_links:
                args += ["--find-links", link]
            if self.no_index:
                args.append("--no-index")
            for host in self.trusted_hosts:
                args += ["--allow-insecure-host", host]
            merged = bool(self.extra_index_urls or self.find_links)
            if merged and not environ.get("UV_INDEX_STRATEGY"):
                args += ["--index-strategy", "unsafe-best-match"]
        if not environ.get("UV_CONSTRAINT"):
            for constraint in self.constraints:
                args += ["--constraint", constraint]
        return args

    def uv_environ(self, environ: Mapping[str, str]) -> dict[str, str]:
        """``environ`` plus pip's certificate bundle for uv (``SSL_CERT_FILE``) unless set."""
        out = dict(environ)
        if self.cert and not out.get("SSL_CERT_FILE"):
            out["SSL_CERT_FILE"] = self.cert
        return out


def _uv_own(environ: Mapping[str, str]) -> bool:
    return any(environ.get(var) for var in _UV_INDEX_VARS)


def _env_values(environ: Mapping[str, str]) -> dict[str, str]:
    return {key: environ[var] for key, var in _PIP_VARS.items() if environ.get(var)}
