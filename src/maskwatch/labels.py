"""The three labels maskwatch speaks, and how other data sets' names map onto them.

Public data sets spell the same idea many ways (``mask_weared_incorrect``, ``no_mask``,
YOLO ids...). Everything that reads labels goes through :func:`canonical_label` so that an
unknown name fails loudly, naming the file, instead of silently becoming a wrong class.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import BadInputError, ConfigError

WITH_MASK = "with_mask"
WITHOUT_MASK = "without_mask"
MASK_INCORRECT = "mask_incorrect"

#: Order matters: it is the classifier's output order and the COCO category id - 1.
LABELS: tuple[str, ...] = (WITH_MASK, WITHOUT_MASK, MASK_INCORRECT)
#: Labels that make a person a violation (an event, an alert, a snapshot).
VIOLATIONS: tuple[str, ...] = (WITHOUT_MASK, MASK_INCORRECT)

#: Aliases seen in public data sets. Users extend it with ``--label-map`` (YAML) or
#: :func:`label_mapping`'s ``extra`` argument. Keys are compared lower-cased, with spaces
#: and dashes read as underscores.
DEFAULT_ALIASES: dict[str, str] = {
    "with_mask": WITH_MASK,
    "mask": WITH_MASK,
    "masked": WITH_MASK,
    "face_mask": WITH_MASK,
    "facemask": WITH_MASK,
    "good": WITH_MASK,
    "without_mask": WITHOUT_MASK,
    "no_mask": WITHOUT_MASK,
    "nomask": WITHOUT_MASK,
    "no_facemask": WITHOUT_MASK,
    "unmasked": WITHOUT_MASK,
    "face": WITHOUT_MASK,
    "face_nomask": WITHOUT_MASK,
    "bad": WITHOUT_MASK,
    "mask_incorrect": MASK_INCORRECT,
    "mask_weared_incorrect": MASK_INCORRECT,
    "mask_worn_incorrectly": MASK_INCORRECT,
    "with_incorrect_mask": MASK_INCORRECT,
    "incorrect_mask": MASK_INCORRECT,
    "incorrect": MASK_INCORRECT,
    "improper_mask": MASK_INCORRECT,
    "mask_chin": MASK_INCORRECT,
    "mask_nose": MASK_INCORRECT,
    "mask_mouth_chin": MASK_INCORRECT,
    "none": WITHOUT_MASK,
}


class UnknownLabelError(BadInputError):
    """A class name that no mapping knows; carries the file so users can fix their data.

    A :class:`~maskwatch.errors.BadInputError` whose ``path`` is the annotation file (or
    ``""`` where none is known); the message reads as it always has."""

    def __init__(self, name: str, source: str | None = None):
        where = f" in {source}" if source else ""
        hint = f"known: {', '.join(LABELS)} (add an alias with --label-map FILE.yaml, e.g. `{{name}}: with_mask`)"
        super().__init__(source or "", f"unknown class name {name!r}; {hint}")
        # the message names the file inside the sentence, as before (not "path: reason")
        self.args = (f"unknown class name {name!r}{where}; {hint}",)
        self.name = name
        self.source = source


def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def label_mapping(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The default aliases (or ``base``) plus ``extra``.

    Args:
        extra: more ``alias: label`` pairs; each label must be one of :data:`LABELS`.
        base: the mapping to extend (default: :data:`DEFAULT_ALIASES`).

    Returns:
        The whole mapping, keys normalised (lower case, underscores).

    Raises:
        ConfigError: a target that is not one of :data:`LABELS`.
    """
    mapping = dict(DEFAULT_ALIASES if base is None else base)
    for key, value in (extra or {}).items():
        if value not in LABELS:
            raise ConfigError(f"label map: target {value!r} for {key!r} is not one of {', '.join(LABELS)}")
        mapping[_norm(str(key))] = value
    return mapping


def canonical_label(name: str, mapping: Mapping[str, str] | None = None, source: str | None = None) -> str:
    """One of :data:`LABELS` for a class name as a data set spells it.

    Args:
        name: the class name (compared lower-cased, spaces and dashes read as underscores).
        mapping: the aliases (:func:`label_mapping`); None: :data:`DEFAULT_ALIASES`.
        source: the file the name comes from, for the error message.

    Returns:
        The canonical label.

    Raises:
        UnknownLabelError: no alias maps ``name``.
    """
    table = mapping if mapping is not None else DEFAULT_ALIASES
    try:
        return table[_norm(name)]
    except KeyError:
        raise UnknownLabelError(name, source) from None


def load_label_map(path: str | None) -> dict[str, str]:
    """Read a YAML ``alias: label`` file (or nothing) into a full mapping.

    Args:
        path: the YAML file; None or "": the default aliases only.

    Returns:
        The whole mapping (:func:`label_mapping`).

    Raises:
        ConfigError: the file cannot be read, is not YAML, is not a mapping, or maps onto
            something that is not one of :data:`LABELS`.
    """
    if not path:
        return label_mapping()
    from .yaml_files import read_yaml_mapping

    try:
        extra = read_yaml_mapping(path, "a label map is a YAML mapping of alias: label")
    except ConfigError as exc:
        raise ConfigError(f"label map: {exc}") from None
    return label_mapping({str(k): str(v) for k, v in extra.items()})
