"""Errors users see, in one tree under :class:`MaskwatchError`.

Each says which file (or setting) and why, so one bad file can be reported and skipped. Two
edges map the tree, and nothing else does: the CLI (:func:`maskwatch.cli` prints one line and
exits with :attr:`MaskwatchError.exit_code`) and the HTTP server (a JSON body with
:attr:`MaskwatchError.http_status`).

Exit codes: 1 when some inputs failed (the rest went on), 2 for usage, config or setup
errors (nothing useful could run).
"""

from __future__ import annotations


class MaskwatchError(Exception):
    """Base class: anything maskwatch raises on purpose."""

    #: what the CLI exits with when this error ends a command
    exit_code: int = 2
    #: what the HTTP server answers when a request ends with this error
    http_status: int = 500


class BadInputError(MaskwatchError):
    """An input that cannot be used (corrupt, truncated, wrong type, too large, bad labels)."""

    exit_code, http_status = 1, 400

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ImageTooLargeError(BadInputError):
    """Refused before decoding, so a decompression bomb costs no memory."""

    http_status = 413


class NotAnImageError(BadInputError):
    """The bytes are no image format maskwatch reads."""

    http_status = 415


class SourceError(MaskwatchError):
    """A video file, webcam or stream that cannot be opened or that dropped for good."""

    exit_code, http_status = 1, 400


class ConfigError(MaskwatchError):
    """A setting, option or config file that cannot be used; names the setting and why."""

    exit_code, http_status = 2, 422


class OutputError(MaskwatchError):
    """An output (folder, JSON/CSV file) that cannot be written."""

    exit_code = 2

    @classmethod
    def cannot_write(cls, path, exc: OSError, then: str = "") -> OutputError:
        """The one line every writer gives: the file, the system's reason, and what became of
        the output (``then``), for a full disk and a read-only folder alike."""
        from .images import shown_path

        text = f"{shown_path(path)}: cannot write ({exc.strerror or exc})"
        return cls(f"{text}; {then}" if then else text)


class StoreError(MaskwatchError):
    """The events database cannot be opened or written."""

    exit_code, http_status = 2, 503


class ModelError(MaskwatchError):
    """A model file that is missing, unreadable or not a maskwatch model."""

    exit_code = 2


class MissingExtraError(MaskwatchError):
    """A feature whose optional packages are not installed; says the exact command."""

    exit_code = 2

    def __init__(self, feature: str, extra: str, missing: str = ""):
        because = f" ({missing} is missing)" if missing else ""
        super().__init__(
            f"{feature} needs the [{extra}] extra{because}: run `scripts/setup.sh --dev` "
            f"or `pip install 'maskwatch[{extra}]'`"
        )
        self.feature, self.extra = feature, extra


class DeliveryError(MaskwatchError):
    """A failed delivery to a sink. ``permanent`` ones (a 4xx other than 408/425/429) are not
    retried."""

    exit_code = 1

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class HttpError(MaskwatchError):
    """A client error the server answers with ``status`` (401, 404, ...), as JSON."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.http_status, self.headers = status, headers or {}


def require(module: str, feature: str, extra: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, extra, exc.name or module) from None
