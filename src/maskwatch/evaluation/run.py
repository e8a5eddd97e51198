"""``maskwatch evaluate``: the detector end to end on an annotated data set."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..defaults import EVALUATION_MIN_SCORE
from ..errors import OutputError
from ..formats import load_dataset
from ..images import shown_path
from .coco_eval import coco_results, evaluated_labels, face_recall, ground_truth, predict_dataset, score_results
from .metrics_report import write_report
from .predictions import write_predictions


def _cannot_write(exc: OSError, out: Path) -> OutputError:
    """The file the system named, else the output folder."""
    return OutputError.cannot_write(exc.filename or out, exc)


def _output_folder(out: Path) -> None:
    """Make ``out`` and try a file in it, before the long run rather than after it.

    Raises:
        OutputError: it cannot be made or written.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"{shown_path(out)}: is a file; give a folder for the evaluation's files")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise _cannot_write(exc, out) from None


def evaluate(
    detector,
    data: str | Path,
    split: str | None = None,
    fmt: str | None = None,
    min_score: float = EVALUATION_MIN_SCORE,
    classes: tuple[int, ...] = (3, 2),
    out: Path | None = None,
    label_map=None,
    progress: bool | None = None,
    allow_outside: bool = False,
    predict=None,
) -> dict:
    """COCO-style metrics (pycocotools) of ``detector`` on an annotated data set.

    Every face is scored for every class and faint faces are kept down to ``min_score``, so
    the precision-recall curve is complete: build the detector with a face threshold no
    higher than ``min_score`` (``EvaluateSettings.resolve(...).detector()`` does).

    Args:
        detector: a :class:`~maskwatch.Detector`.
        data: a VOC/YOLO/crops folder or a COCO JSON file.
        split: a ``splits/<split>.txt`` or sub-folder name; None: every image.
        fmt: the data set's format; None: detected.
        min_score: (face, class) scores below it are not counted as detections.
        classes: which metrics: 3 (all labels), 2 (mask_incorrect faces become ignore
            regions), or both.
        out: a folder for ``metrics.json``, ``report.md``, ``report.html`` and the raw
            predictions with their ground truth (:mod:`~maskwatch.evaluation.predictions`:
            ``predictions.coco.json``, ``ground_truth.coco.json``, their ``.2class`` twins,
            ``predictions.jsonl``); None: none.
        label_map: class-name aliases (:func:`maskwatch.labels.load_label_map`); None: the
            defaults.
        progress: show a progress bar (None: when on a terminal).
        allow_outside: read images that resolve outside the data set's folder
            (:func:`~maskwatch.formats.load_dataset`).
        predict: how detections are made, ``(detector, dataset, min_score, progress) ->
            (one Detections per image, failed images)``; None:
            :func:`~maskwatch.evaluation.coco_eval.predict_dataset` (``evaluate --ray``
            passes its Ray pipeline).

    Returns:
        ``dataset``, ``images``, ``model``, ``profile``, ``min_score``, ``failed_images``,
        ``problems``, ``face_recall50``, ``three_class`` and/or ``two_class``
        (:func:`~maskwatch.evaluation.coco_eval.coco_metrics`) and, with ``out``, ``files``.

    Raises:
        BadInputError: the data set cannot be read.
        ConfigError: an unknown format or split.
        OutputError: ``out`` cannot be made or written (checked before detecting).
    """
    ds = load_dataset(data, fmt, split, label_map, allow_outside=allow_outside)
    if out:
        out = Path(out)
        _output_folder(out)
    preds, failed = (predict or predict_dataset)(detector, ds, min_score, progress)
    results: dict = {
        "dataset": f"{data}{':' + split if split else ''}",
        "images": len(ds.images),
        "model": detector.model_version,
        "profile": detector.profile,
        "min_score": min_score,
        "failed_images": failed,
        "problems": [str(p) for p in ds.problems],
    }
    gt3 = ground_truth(ds, 3)
    results["face_recall50"] = face_recall(gt3, preds)
    scored = {}  # classes: (ground truth, COCO results)
    for n, key in ((3, "three_class"), (2, "two_class")):
        if n in classes:
            scored[n] = (gt3 if n == 3 else ground_truth(ds, n), coco_results(preds, evaluated_labels(n)))
            results[key] = score_results(*scored[n], n)
    if out:
        try:
            files = write_report(results, out)
            files.update(write_predictions(out, ds, preds, scored))
        except OSError as exc:
            raise _cannot_write(exc, out) from None
        results["files"] = {k: str(v) for k, v in files.items()}
    return results
