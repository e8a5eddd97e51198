"""Errors users see. Each says which file and why, so one bad file can be reported and skipped."""


class MaskwatchError(Exception):
    """Base class: anything maskwatch raises on purpose."""


class BadInputError(MaskwatchError):
    """An input that cannot be used (corrupt, truncated, wrong type, too large)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ImageTooLargeError(BadInputError):
    """Refused before decoding, so a decompression bomb costs no memory."""


class SourceError(MaskwatchError):
    """A video file, webcam or stream that cannot be opened or that dropped for good."""
