"""Data sets: one in-memory form for VOC, COCO, YOLO and class-folder crops."""

from .dataset import Box, Dataset, ImageRecord, Problem
from .formats import load_dataset, save_dataset

__all__ = ["Box", "Dataset", "ImageRecord", "Problem", "load_dataset", "save_dataset"]
