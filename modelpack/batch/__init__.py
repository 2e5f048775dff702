"""Batch scoring: the ``modelpack predict`` command without the command line, and Spark.

``predict_file`` reads CSV, JSON, JSON Lines or Parquet in chunks (``_files``), scores each chunk
and writes JSON, CSV or Parquet, renaming the output into place only when everything worked.
``spark_udf`` turns a package into a Spark UDF (``mlflow.pyfunc.spark_udf``'s signature);
``predict_spark`` scores Parquet or CSV into a Parquet directory on Spark (``--engine spark``).
pyspark is imported only when these two are called.
"""

from __future__ import annotations

from modelpack.batch._files import FORMATS
from modelpack.batch._local import BatchResult, predict_file
from modelpack.batch._spark import spark_udf
from modelpack.batch._spark_job import predict_spark

__all__ = ["FORMATS", "BatchResult", "predict_file", "predict_spark", "spark_udf"]
