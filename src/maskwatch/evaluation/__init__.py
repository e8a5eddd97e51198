"""Evaluation: COCO-style detection metrics (pycocotools) and classifier metrics on crops.
The public entry is :func:`evaluate` (also ``maskwatch.evaluate``)."""

from .run import evaluate

__all__ = ["evaluate"]
