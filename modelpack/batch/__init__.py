"""Batch scoring: the ``modelpack predict`` command without the command line.

``predict_file`` reads CSV, JSON, JSON Lines or Parquet in chunks (``_files``), scores each chunk
and writes JSON, CSV or Parquet, renaming the output into place only when everything worked.
"""

from __future__ import annotations

from modelpack.batch._files import FORMATS
from modelpack.batch._local import BatchResult, predict_file

__all__ = ["FORMATS", "BatchResult", "predict_file"]
