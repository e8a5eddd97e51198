"""Training augmentation with albumentations: geometry, colour, blur, noise, JPEG artefacts
and random down-scaling of the face to CCTV size and back."""

from __future__ import annotations

import albumentations as A
import cv2

from .config import AugmentConfig


def build_augment(cfg: AugmentConfig, size: int) -> A.Compose:
    lo, hi = cfg.small_face
    face = size / (1 + 2 * 0.15)  # the face's side inside a crop of `size`
    return A.Compose(
        [
            A.HorizontalFlip(p=cfg.flip),
            A.Affine(
                rotate=(-cfg.rotate, cfg.rotate),
                translate_percent=(-cfg.shift, cfg.shift),
                scale=(1 - cfg.scale, 1 + cfg.scale),
                shear=(-cfg.shear, cfg.shear),
                border_mode=cv2.BORDER_REPLICATE,
                p=0.8,
            ),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.04, p=cfg.color),
            A.ToGray(p=cfg.gray),
            A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=cfg.blur),
            A.GaussNoise(std_range=(0.02, 0.08), p=cfg.noise),
            A.Downscale(scale_range=(min(1.0, lo / face), min(1.0, hi / face)), p=cfg.downscale),
            A.ImageCompression(quality_range=(30, 90), p=cfg.jpeg),
        ]
    )
