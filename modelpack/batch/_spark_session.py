"""The Spark session of ``predict --engine spark``, and the job's progress line.

``session`` uses the session the caller gave or the one active in this process, else starts one
(``local[*]`` or ``--spark-master``) with Spark's own logging off and stops it at the end.
``Progress`` prints rows, finished tasks and rows/s from Spark's status tracker.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelpack.errors import RemoteError, first_line
from modelpack.settings import Settings

__all__ = ["Progress", "session"]

# Spark's own logging off (its startup lines and the Java stack of a failed task); our errors
# are one line. MODELPACK_LOG_LEVEL=debug keeps Spark's warnings.
_LOG4J = """\
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n%ex
"""


@contextlib.contextmanager
def session(given: Any, master: str | None, settings: Settings, batch: int) -> Iterator[Any]:
    """``given``, the session active in this process, or a new one (stopped at the end)."""
    from pyspark.sql import SparkSession

    with warnings.catch_warnings():
        # pyspark warns that it does not fully support pandas 3 on every pandas UDF; not ours.
        warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
        # ... and its toPandas passes astype(copy=False), which pandas 3 deprecates.
        warnings.filterwarnings("ignore", "The copy keyword is deprecated", module="pyspark")
        spark: Any = given if given is not None else SparkSession.getActiveSession()
        owned = spark is None
        with tempfile.TemporaryDirectory(prefix="modelpack-spark-log-") as logs:
            if owned:
                spark = _build(SparkSession, master, settings, Path(logs))
            conf = "spark.sql.execution.arrow.maxRecordsPerBatch"
            before = spark.conf.get(conf)
            spark.conf.set(conf, str(batch))
            try:
                yield spark
            finally:
                if owned:
                    spark.stop()
                else:
                    spark.conf.set(conf, before)


def _build(builder_class: Any, master: str | None, settings: Settings, logs: Path) -> Any:
    level = "warn" if settings.log_level == "debug" else "off"
    config = logs / "log4j2.properties"
    config.write_text(_LOG4J.format(level=level), encoding="utf-8")
    builder = (
        builder_class.builder.master(master or "local[*]")
        .appName("modelpack predict")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={config.as_uri()}")
    )
    try:
        with _quiet_jvm(level == "off"):
            spark = builder.getOrCreate()
    except Exception as exc:  # py4j and the JVM launcher raise their own types
        raise RemoteError(
            f"Spark did not start ({master or 'local[*]'}): {first_line(exc)} "
            "(MODELPACK_LOG_LEVEL=debug shows Spark's own output)"
        ) from None
    spark.sparkContext.setLogLevel(level.upper())
    return spark


@contextlib.contextmanager
def _quiet_jvm(quiet: bool) -> Iterator[None]:
    """Standard error pointed at /dev/null while pyspark starts the JVM, which inherits it: the
    JVM's banner lines (printed before any log configuration applies) stay off the terminal."""
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Progress:
    """Rows, finished tasks and rows/s of the running job on stderr (from Spark's status
    tracker and the rows the finished tasks counted); silent unless enabled."""

    def __init__(self, spark: Any, rows: Any, enabled: bool) -> None:
        self._tracker = spark.sparkContext.statusTracker()
        self._rows = rows
        self._enabled = enabled
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="modelpack-progress", daemon=True)

    def __enter__(self) -> Progress:
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            stages = [self._tracker.getStageInfo(s) for s in self._tracker.getActiveStageIds()]
            done = sum(s.numCompletedTasks for s in stages if s is not None)
            total = sum(s.numTasks for s in stages if s is not None)
            rows = self._rows.value
            elapsed = max(time.monotonic() - self._start, 1e-9)
            line = f"\r{rows:,} rows  {done}/{total} tasks  {rows / elapsed:,.0f} rows/s"
            sys.stderr.write(line.ljust(60))
            sys.stderr.flush()

    def finish(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._enabled:
            elapsed = time.monotonic() - self._start
            sys.stderr.write(f"\r{self._rows.value:,} rows in {elapsed:,.1f} s".ljust(60) + "\n")
            sys.stderr.flush()
