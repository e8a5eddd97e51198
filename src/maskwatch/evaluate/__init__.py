"""Evaluation: COCO-style detection metrics (pycocotools) and classifier metrics on crops."""
