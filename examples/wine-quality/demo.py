"""`make demo`: train the wine-quality model, serve it on 127.0.0.1:5000 and print a curl line.

    python examples/wine-quality/demo.py [--port 5000] [--check]

With --check the server is stopped after one request has been answered (used by the tests).
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Seed 000's request, verbatim: the MLflow 1.x content type, which MLflow 3 refuses with a 415.
CONTENT_TYPE = "application/json; format=pandas-split"
BODY = (
    '{"columns":["alcohol", "chlorides", "citric acid", "density", "fixed acidity", '
    '"free sulfur dioxide", "pH", "residual sugar", "sulphates", "total sulfur dioxide", '
    '"volatile acidity"],"data":[[12.8, 0.029, 0.48, 0.98, 6.2, 29, 3.33, 1.2, 0.39, 75, 0.66]]}'
)


def _run(*args: str) -> None:
    print("$", " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(args, check=True)


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    server.terminate()
    sys.exit(f"the server did not answer /ping within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--check", action="store_true", help="stop after one request")
    args = parser.parse_args()

    data, model = HERE / "data" / "winequality.csv", HERE / "model"
    bin_dir = Path(sys.executable).parent
    _run(sys.executable, str(HERE / "make_data.py"), "-o", str(data))
    _run(
        sys.executable,
        str(HERE / "train.py"),
        "-i",
        str(data),
        "-a",
        "0.4",
        "-l",
        "0.75",
        "-o",
        str(model),
    )
    _run(str(bin_dir / "modelpack"), "info", "-m", str(model))

    url = f"http://127.0.0.1:{args.port}"
    cmd = [str(bin_dir / "modelpack"), "serve", "-m", str(model), "-p", str(args.port)]
    print("$", " ".join(shlex.quote(a) for a in cmd), flush=True)
    server = subprocess.Popen(cmd)
    try:
        _wait_ready(url, server)
        request = urllib.request.Request(
            url + "/invocations", data=BODY.encode(), headers={"Content-Type": CONTENT_TYPE}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer = json.loads(resp.read())
        print(f"\nThe model is served at {url}. Try it:\n")
        print(
            f"curl -X POST -H {shlex.quote('Content-Type:' + CONTENT_TYPE)} "
            f"--data {shlex.quote(BODY)} {url}/invocations\n"
        )
        print(f"It answered: {json.dumps(answer)}")
        print(
            "(a bare list: this is seed 000's MLflow 1.x request, format=pandas-split, and MLflow "
            '1.x answered those without the {"predictions": ...} envelope; with '
            "Content-Type: application/json and a dataframe_split body the answer is "
            '{"predictions": [...]}, as MLflow 2 and 3 answer)'
        )
        if args.check:
            return
        print("Press Ctrl-C to stop the server.", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
