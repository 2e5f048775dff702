"""The data plane: every protocol's requests go through one engine per model.

Admission (a bounded queue, deadlines from arrival), row-aware batching (merge, predict once,
split) and the one prediction thread. No HTTP in here: the server, the V2 routes and gRPC call
``Engine.submit`` with input that is already decoded and checked.
"""

from __future__ import annotations

from modelpack.engine._batch import count_rows, merge, merge_key, rows_of, split
from modelpack.engine._engine import ClientGone, Engine, EngineObserver, EngineStats
from modelpack.engine._plane import DataPlane, Prepared

__all__ = [
    "ClientGone",
    "DataPlane",
    "Engine",
    "EngineObserver",
    "EngineStats",
    "Prepared",
    "count_rows",
    "merge",
    "merge_key",
    "rows_of",
    "split",
]
