"""How much memory a package needs: load it in a fresh Python and read the peak resident size.

The child process imports modelpack's server (its libraries are in every pod too), loads the
package, predicts its input example once (as a worker warms up before it reports ready), and
prints the high-water mark of its resident memory: ``VmHWM`` from ``/proc/self/status`` on Linux.
(Not ``getrusage``'s ``ru_maxrss`` there: Linux carries it over ``exec`` from the forked copy of
the parent, so a child of a big process reports the parent's size; it is the fallback elsewhere.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modelpack.errors import InvalidModel, first_line

__all__ = ["measure_peak_rss"]

_SCRIPT = """
import json, resource, sys
import modelpack.serving  # noqa: F401  (the server's libraries are in every pod)
from modelpack.format.examples import load_input_example
from modelpack.pyfunc import load_model
from modelpack.settings import Settings

path = sys.argv[1]
model = load_model(path, settings=Settings.from_env())
example = load_input_example(model.path, model.metadata.saved_input_example_info)
if example is not None:
    model.predict(example)
try:
    with open("/proc/self/status") as status:
        line = next(l for l in status if l.startswith("VmHWM:"))
    peak = int(line.split()[1]) * 1024  # kB
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024
print(json.dumps({"peak": peak}))
"""


def measure_peak_rss(package: Path, timeout: float = 600.0) -> int:
    """Peak resident bytes of a process that loads ``package`` and predicts its example."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(package)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InvalidModel(
            f"loading {package} to measure its memory took over {timeout:g} s; give --memory"
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = first_line(RuntimeError(lines[-1])) if lines else f"exit status {done.returncode}"
        raise InvalidModel(
            f"loading {package} to measure its memory failed ({last}); install its "
            "requirements here, or give --memory"
        )
    return int(json.loads(done.stdout.strip().splitlines()[-1])["peak"])
