"""Every default maskwatch has, written once. :mod:`maskwatch.settings` builds the typed
settings from these; the models read them without importing the settings machinery, so
``import maskwatch`` stays light."""

import os
from pathlib import Path

#: The face network's input size for every command unless told otherwise (``evaluate`` uses
#: ``accurate``); see ``maskwatch.models.face_detector.PROFILES``.
DEFAULT_PROFILE = "balanced"
#: the shipped model ``--model`` defaults to: "one-pass" (one network: faces and labels) or
#: "two-stage" (CenterFace, then the crop classifier); see maskwatch.models.shipped
DEFAULT_MODEL = "one-pass"
EVALUATION_PROFILE = "accurate"
#: Inference workers a video file's frames are spread over when ``--workers`` is not given
#: (cameras and streams get 1: a pool raises their latency). On 2 cores 2 workers gave
#: 1.12-1.35x the frames/s of 1 on two machines; 3 gave about as much on one (1.17x, 1.29x)
#: and more on the other (1.60x, 1.33x), at 43-48 ms latency against 33-39 ms
#: (``benchmarks/bench_video_workers.py``, ``benchmarks/results.md``).
FILE_WORKERS = min(2, os.cpu_count() or 1)
#: People-facing output (CLI, API, watch) drops faces scoring lower: mostly wrong background
#: detections. On the classifier's validation holdout F1 is flat from 0.30 to 0.40 and 0.30
#: keeps the most faces (``scripts/tune_min_score.py``).
OUTPUT_MIN_SCORE = 0.3
#: Evaluation keeps faint faces so that the precision-recall curve is complete.
EVALUATION_MIN_SCORE = 0.05
#: ``data prelabel`` writes boxes people will correct: fewer, surer ones.
PRELABEL_MIN_SCORE = 0.4
#: Images with more pixels are refused before decoding (decompression bombs).
MAX_PIXELS = 50_000_000
#: Image files larger on disk are refused before a byte is read (a 50 MP image is at most
#: ~200 MB even as an uncompressed 32-bit BMP or TIFF; a 3 GB sparse ".jpg" costs nothing).
MAX_IMAGE_BYTES = 256 * 2**20
#: The folder and file of the default SQLite events database.
DEFAULT_DATA_DIR = Path("maskwatch-data")
DATABASE_FILE = "maskwatch.db"
