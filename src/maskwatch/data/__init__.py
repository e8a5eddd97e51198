"""Data-set tools: check, stats, split, face crops for the classifier, synthetic masks,
walk-by test videos, frame capture and pre-labelling.

The formats themselves (VOC, COCO, YOLO, crop folders, TFRecord) and the in-memory
:class:`~maskwatch.formats.Dataset` live in :mod:`maskwatch.formats`."""
