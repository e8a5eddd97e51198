"""maskwatch: find faces and tell whether each wears a mask correctly.

>>> from maskwatch import Detector
>>> det = Detector()                       # shipped default model
>>> faces = det.detect("photo.jpg")        # or a BGR numpy array
>>> faces[0].box, faces[0].label, faces[0].score

Counting people on cameras (tracking, one label per person, events in a database):

>>> from maskwatch import EventStore, load_config, run_watch
>>> run_watch(load_config("site.yaml"))
>>> EventStore().counts()                  # {'people': ..., 'per_label': ..., 'compliance': ...}
"""

from .errors import BadInputError, ImageTooLargeError, MaskwatchError, SourceError
from .labels import LABELS, MASK_INCORRECT, WITH_MASK, WITHOUT_MASK
from .models.detector import DEFAULT_MIN_SCORE, Detector, Face

__version__ = "0.1.0"

#: Imported on first use: ``import maskwatch`` stays light for plain detection.
_LAZY = {
    "FaceTracker": "maskwatch.video.tracking",
    "PeopleCounter": "maskwatch.video.counting",
    "Region": "maskwatch.video.counting",
    "run_watch": "maskwatch.video.watch",
    "load_config": "maskwatch.video.watch_config",
    "WatchConfig": "maskwatch.video.watch_config",
    "EventStore": "maskwatch.events.store",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'maskwatch' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MIN_SCORE",
    "LABELS",
    "MASK_INCORRECT",
    "WITHOUT_MASK",
    "WITH_MASK",
    "BadInputError",
    "Detector",
    "EventStore",
    "FaceTracker",
    "PeopleCounter",
    "Region",
    "WatchConfig",
    "load_config",
    "run_watch",
    "Face",
    "ImageTooLargeError",
    "MaskwatchError",
    "SourceError",
    "__version__",
]
