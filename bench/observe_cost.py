"""What metrics, request ids and the model page cost the fast path: the 1-row probe's req/s with
metrics on (the default) and off (`--no-metrics`), at 1 and 64 connections, in one run.

    python bench/observe_cost.py                 # 5 rounds of 5 s per setting and connection count
    python bench/observe_cost.py --rounds 3 --duration 3

Request ids cannot be turned off (every answer carries one), so "off" is metrics off with the
request id still made; the model page and /openapi.json cost nothing until they are asked for
(they are built on first request). The two servers run one after the other, in alternating
order each round, on the same package; the table gives each setting's median req/s and the
ratio on/off (1.00 = no cost), and the same for the server's CPU time per request (the steadier
measure on a shared machine). Needs wrk (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serve import loadavg, make_packages, make_payloads, settle, start_local, wrk

SETTINGS = {"metrics on": [], "metrics off": ["--no-metrics"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelpack-observe-") as scratch:
        work = Path(scratch)
        package = make_packages(work, ["probe"])["probe"]
        payload = make_payloads(work, tensor=False)["split"]
        results: dict[tuple[str, int], list[float]] = {}
        cpu: dict[tuple[str, int], list[float]] = {}
        load_before = loadavg()
        for round_ in range(args.rounds):
            order = list(SETTINGS) if round_ % 2 == 0 else list(reversed(SETTINGS))
            for name in order:
                log = work / f"{name.replace(' ', '-')}-{round_}.log"
                server = start_local("modelpack", package, 1, log, extra=SETTINGS[name])
                try:
                    wrk(server, payload, 8, 1.0)  # warm the connection pool and the caches
                    settle(server)
                    for connections in (1, 64):
                        result = wrk(server, payload, connections, args.duration)
                        results.setdefault((name, connections), []).append(result.requests_per_s)
                        cpu.setdefault((name, connections), []).append(result.cpu_ms_per_request)
                        settle(server)
                finally:
                    server.stop()
        print(f"load average before: {load_before:.2f}, after: {loadavg():.2f}")
        print(
            "| connections | req/s on | req/s off | on / off | CPU ms/request on | off | on / off |"
        )
        print("|---|---|---|---|---|---|---|")
        for connections in (1, 64):
            on = statistics.median(results[("metrics on", connections)])
            off = statistics.median(results[("metrics off", connections)])
            cpu_on = statistics.median(cpu[("metrics on", connections)])
            cpu_off = statistics.median(cpu[("metrics off", connections)])
            print(
                f"| {connections} | {on:,.0f} | {off:,.0f} | {on / off:.3f} "
                f"| {cpu_on:.3f} | {cpu_off:.3f} | {cpu_on / cpu_off:.3f} |"
            )


if __name__ == "__main__":
    main()
