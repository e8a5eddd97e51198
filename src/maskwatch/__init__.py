"""maskwatch: find faces and tell whether each wears a mask correctly.

>>> from maskwatch import Detector
>>> det = Detector()                       # shipped default model
>>> faces = det.detect("photo.jpg")        # or a BGR numpy array
>>> faces[0].box, faces[0].label, faces[0].score
"""

from .errors import BadInputError, ImageTooLargeError, MaskwatchError, SourceError
from .labels import LABELS, MASK_INCORRECT, WITH_MASK, WITHOUT_MASK
from .models.detector import DEFAULT_MIN_SCORE, Detector, Face

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MIN_SCORE",
    "LABELS",
    "MASK_INCORRECT",
    "WITHOUT_MASK",
    "WITH_MASK",
    "BadInputError",
    "Detector",
    "Face",
    "ImageTooLargeError",
    "MaskwatchError",
    "SourceError",
    "__version__",
]
