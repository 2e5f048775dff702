"""Compile only the modules that serving one model imports (an image's install stage runs it).

``python -m modelpack.cli._precompile MODEL_DIR`` imports the CLI, builds the app and uvicorn's
configuration as ``serve`` does, loads the model and warms it up on its serving example; each
module imported on the way writes its ``.pyc``. ``build-docker``'s Dockerfile deletes every
``__pycache__`` pip wrote first: most of a scipy/pandas/scikit-learn stack's bytecode is for
modules serving never imports (the wine image's venv layer: 296 -> 275 MB). A module imported
later (a rare request form) is compiled in memory when first used. Exits 1 when the model
cannot be loaded or warmed up; the Dockerfile then compiles everything, as pip did.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m modelpack.cli._precompile MODEL_DIR", file=sys.stderr)
        return 2
    import modelpack.cli  # noqa: F401  (the CLI, as `modelpack serve` imports it)
    from modelpack.pyfunc import load_model
    from modelpack.serving.app import create_app
    from modelpack.serving.runtime import Runtime
    from modelpack.serving.server import uvicorn_config
    from modelpack.settings import Settings

    settings = Settings()
    try:
        model = load_model(argv[0], settings=settings)
        runtime = Runtime(model, settings)
        runtime.start()
        if not runtime.wait_ready(600):
            raise TimeoutError("the warm-up did not finish within 600 s")
        uvicorn_config(create_app(model, settings, runtime), settings).load()
        if importlib.util.find_spec("grpc") is not None:  # an --enable-mlserver image
            importlib.import_module("modelpack.serving.grpc")
    except Exception as exc:  # any failure: the Dockerfile falls back to compiling everything
        print(f"precompile: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
