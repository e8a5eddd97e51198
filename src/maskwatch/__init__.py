"""maskwatch: find faces and tell whether each wears a mask correctly.

>>> from maskwatch import Detector
>>> det = Detector()                       # shipped default model
>>> faces = det.detect("photo.jpg")        # Detections: every face, or pass a BGR numpy array
>>> faces = faces.above(0.3)               # what people are shown
>>> for face in faces:
...     print(face.box, face.label, face.score)

Data sets and evaluation:

>>> from maskwatch import load_dataset, evaluate
>>> ds = load_dataset("../shared/datasets/andrewmvd-facemask", split="val")
>>> evaluate(det, "../shared/datasets/andrewmvd-facemask", split="val")["three_class"]["stats"]["mAP50"]

Counting people on cameras (tracking, one label per person, events in a database):

>>> from maskwatch import WatchSettings, run_watch, EventStore
>>> run_watch(WatchSettings.resolve("site.yaml"))
>>> EventStore().counts()                  # {'people': ..., 'per_label': ..., 'compliance': ...}
"""

from .detections import Detections, Face, face_rows
from .errors import (
    BadInputError,
    ConfigError,
    ImageTooLargeError,
    MaskwatchError,
    MissingExtraError,
    ModelError,
    OutputError,
    SourceError,
    StoreError,
)
from .labels import LABELS, MASK_INCORRECT, WITH_MASK, WITHOUT_MASK
from .models.detector import Detector

__version__ = "0.1.0"

#: Imported on first use: ``import maskwatch`` stays light for plain detection.
_LAZY = {
    "FaceTracker": "maskwatch.tracking.tracker",
    "PeopleCounter": "maskwatch.tracking.counting",
    "Region": "maskwatch.tracking.zones",
    "run_detect": "maskwatch.pipelines.detect",
    "run_watch": "maskwatch.pipelines.watch",
    "FramePipeline": "maskwatch.pipelines.frames",
    "DetectSettings": "maskwatch.settings",
    "WatchSettings": "maskwatch.settings",
    "ServeSettings": "maskwatch.settings",
    "EvaluateSettings": "maskwatch.settings",
    "EventStore": "maskwatch.events.store",
    "load_dataset": "maskwatch.formats",
    "save_dataset": "maskwatch.formats",
    "evaluate": "maskwatch.evaluation",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'maskwatch' has no attribute {name!r}")


__all__ = [
    "LABELS",
    "MASK_INCORRECT",
    "WITHOUT_MASK",
    "WITH_MASK",
    "BadInputError",
    "ConfigError",
    "DetectSettings",
    "Detections",
    "Detector",
    "EvaluateSettings",
    "EventStore",
    "Face",
    "FaceTracker",
    "FramePipeline",
    "ImageTooLargeError",
    "MaskwatchError",
    "MissingExtraError",
    "ModelError",
    "OutputError",
    "PeopleCounter",
    "Region",
    "ServeSettings",
    "SourceError",
    "StoreError",
    "WatchSettings",
    "__version__",
    "evaluate",
    "face_rows",
    "load_dataset",
    "run_detect",
    "run_watch",
    "save_dataset",
]
