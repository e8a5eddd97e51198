"""PascalVOC as LabelImg writes it: one XML per image, beside it or under ``annotations/``.

Images and XML are paired by file stem, because LabelImg's ``<filename>`` often names a file
that was later renamed or moved. XML is parsed with defusedxml (no entity expansion bombs,
no external entities)."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from ..errors import BadInputError
from ..images import IMAGE_EXTENSIONS
from ..labels import UnknownLabelError, canonical_label
from .dataset import Box, Dataset, ImageRecord, Problem, finite, outside_reason


def _images_by_stem(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            found.setdefault(p.stem, p)
    return found


def _num(node, tag: str, what: str) -> float:
    text = node.findtext(tag)
    if text is None:
        raise ValueError(f"{what}: missing <{tag}>")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: <{tag}> {text.strip()[:40]!r} is not a number") from None
    if not finite(value):
        raise ValueError(f"{what}: <{tag}> {text.strip()[:40]!r} is not a finite number")
    return value


def parse_voc_xml(xml_path: Path, mapping=None) -> tuple[list[Box], int | None, int | None]:
    """Boxes and the declared size of one LabelImg XML file.

    Args:
        xml_path: the XML file.
        mapping: class-name aliases; None: the defaults.

    Returns:
        (boxes, width, height); width and height are None where the XML does not say.

    Raises:
        ValueError: malformed or hostile XML (the readers turn it into a problem entry).
        UnknownLabelError: a class name no alias maps.
    """
    try:
        tree = DET.parse(str(xml_path))
    except DefusedXmlException as exc:
        raise ValueError(f"refused hostile XML ({exc.__class__.__name__})") from None
    except Exception as exc:  # ParseError and friends
        raise ValueError(f"malformed XML ({exc})") from None
    root = tree.getroot()
    size = root.find("size")
    width = height = None
    if size is not None:
        try:
            width, height = int(float(size.findtext("width") or 0)), int(float(size.findtext("height") or 0))
        except (ValueError, OverflowError):  # not a number, or inf
            width = height = None
        width, height = (width or None), (height or None)
    boxes = []
    for n, obj in enumerate(root.iter("object"), 1):
        name = (obj.findtext("name") or "").strip()
        label = canonical_label(name, mapping, str(xml_path))
        what = f"object {n} ({name})"
        bb = obj.find("bndbox")
        if bb is None:
            raise ValueError(f"{what} has no <bndbox>")
        difficult = (obj.findtext("difficult") or "0").strip() == "1"
        x1, y1, x2, y2 = (_num(bb, tag, what) for tag in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append(Box(x1, y1, x2, y2, label, difficult))
    return boxes, width, height


def read_voc(root: Path, mapping=None, strict: bool = False, allow_outside: bool = False) -> Dataset:
    """A folder of images and LabelImg XML (paired by file stem) as a :class:`Dataset`.

    Args:
        root: the folder (searched recursively).
        mapping: class-name aliases; None: the defaults.
        strict: raise on the first bad XML instead of reporting it as a problem.
        allow_outside: read images and XML that resolve outside ``root`` (symlinks out); by
            default they are skipped and reported as ``outside_dataset`` problems.

    Returns:
        The data set; images without XML are kept as images with no faces, and said so in
        ``problems``.

    Raises:
        BadInputError: (``strict`` only) a malformed XML, or ``UnknownLabelError``.
    """
    root = Path(root)
    ds = Dataset(root.name, root, "voc")
    images = _images_by_stem(root)
    xmls = sorted(p for p in root.rglob("*.xml") if p.is_file())
    refused: set[str] = set()
    if not allow_outside:
        for stem, image in list(images.items()):
            reason = outside_reason(image, root)
            if reason:
                ds.problems.append(Problem(str(image), "outside_dataset", reason))
                del images[stem]
                refused.add(stem)
        kept = []
        for xml in xmls:
            reason = outside_reason(xml, root)
            if reason:
                ds.problems.append(Problem(str(xml), "outside_dataset", reason))
                refused.add(xml.stem)  # its image is not read as an image without faces either
            else:
                kept.append(xml)
        xmls = kept
    seen: set[str] = set()
    for xml in xmls:
        image = images.get(xml.stem)
        if xml.stem in refused:
            continue  # its image was reported above
        if image is None:
            ds.problems.append(Problem(str(xml), "missing_image", "no image with this file stem"))
            continue
        seen.add(xml.stem)  # a bad XML is reported below; its image is not read as unlabelled
        try:
            boxes, w, h = parse_voc_xml(xml, mapping)
        except UnknownLabelError as exc:
            if strict:
                raise
            ds.problems.append(Problem(str(xml), "unknown_class", str(exc)))
            continue
        except ValueError as exc:
            if strict:
                raise BadInputError(str(xml), str(exc)) from None
            ds.problems.append(Problem(str(xml), "bad_annotation", str(exc)))
            continue
        ds.images.append(ImageRecord(image, boxes, w, h, annotation=xml))
    for stem, image in images.items():
        if stem not in seen and stem not in refused:
            # an image with no XML is an image with no faces in LabelImg's world, but
            # usually a forgotten file: keep it (as a negative) and say so
            ds.images.append(ImageRecord(image, []))
            ds.problems.append(Problem(str(image), "no_annotation", "image has no XML; read as an image with no faces"))
    return ds


def voc_xml(record: ImageRecord, width: int, height: int) -> str:
    objects = "".join(
        f"""
    <object>
        <name>{escape(b.label)}</name>
        <pose>Unspecified</pose>
        <truncated>0</truncated>
        <difficult>{int(b.difficult)}</difficult>
        <bndbox>
            <xmin>{round(b.x1)}</xmin>
            <ymin>{round(b.y1)}</ymin>
            <xmax>{round(b.x2)}</xmax>
            <ymax>{round(b.y2)}</ymax>
        </bndbox>
    </object>"""
        for b in record.boxes
    )
    return f"""<annotation>
    <folder>images</folder>
    <filename>{escape(record.path.name)}</filename>
    <path>{escape(str(record.path))}</path>
    <source><database>maskwatch</database></source>
    <size>
        <width>{width}</width>
        <height>{height}</height>
        <depth>3</depth>
    </size>
    <segmented>0</segmented>{objects}
</annotation>
"""


def write_voc_record(record: ImageRecord, xml_path: Path, width: int, height: int) -> None:
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    xml_path.write_text(voc_xml(record, width, height), encoding="utf-8")
