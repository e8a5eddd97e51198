"""The shipped Detector end to end on real images."""

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from maskwatch import LABELS, ConfigError, Detector, Face, face_rows
from maskwatch.models.preprocess import iou_matrix


@pytest.fixture(scope="module", params=["two-stage", "one-pass"])
def shipped(request):
    """Each shipped model behind the same Detector (the default profile, every core)."""
    return Detector(request.param)


def test_finds_annotated_faces_on_real_photos(shipped, andrewmvd):
    detector = shipped
    from maskwatch.formats import load_dataset

    ds = load_dataset(andrewmvd, split="val")
    hit = total = 0
    for record in ds.images[:25]:
        faces = detector.detect(record.path).above(0.05)
        gt = np.array([b.as_list() for b in record.boxes if min(b.width, b.height) >= 16])
        if not len(gt):
            continue
        found = np.array([f.box for f in faces]).reshape(-1, 4)
        ious = iou_matrix(gt, found)
        hit += int((ious.max(1) >= 0.5).sum()) if ious.size else 0
        total += len(gt)
    assert total > 30
    assert hit / total > 0.8, f"only {hit}/{total} faces of 16 px and more found"


def test_shipped_int8_agrees_with_fp32_on_real_photos(val_images):
    """Stated tolerance of the INT8 variant: of the faces fp32 is sure of (face score >= 0.5) on
    40 validation photos, 9 in 10 are found by INT8 at IoU >= 0.7 with the same label."""
    from maskwatch.models.shipped import model_path

    fp32_path = model_path("one-pass")
    fp32 = Detector(fp32_path, threads=1)
    int8 = Detector(fp32_path.with_suffix(".int8.onnx"), threads=1)
    assert "int8" in int8.metadata["quantized"]
    agree = total = 0
    for path in val_images[:40]:
        a, b = fp32.detect(path), int8.detect(path)
        a = a[a.face_score >= 0.5]
        total += len(a)
        if len(a) and len(b):
            ious = iou_matrix(a.xyxy, b.xyxy)
            nearest = ious.argmax(1)
            same = np.asarray(a.labels) == np.asarray(b.labels)[nearest]
            agree += int(((ious.max(1) >= 0.7) & same).sum())
    assert total > 30
    assert agree / total >= 0.9, f"INT8 agrees on {agree} of {total} faces"


def test_masked_crop_set_comes_out_with_mask(shipped, datasets):
    detector = shipped
    folder = datasets / "crops" / "rmfd-real-masked" / "with_mask"
    paths = sorted(folder.glob("*.jpg"))[-60:]  # the end of the sorted list: not in the default training cap
    labels = []
    for p in paths:
        faces = detector.detect(p)
        if faces:
            labels.append(max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).label)
    assert len(labels) > 30
    assert labels.count("with_mask") / len(labels) > 0.8


def test_unmasked_faces_come_out_without_mask(shipped, andrewmvd):
    detector = shipped
    from maskwatch.formats import load_dataset

    ds = load_dataset(andrewmvd, split="val")
    right = total = 0
    for record in ds.images:
        big = [b for b in record.boxes if b.label == "without_mask" and min(b.width, b.height) >= 24]
        if not big:
            continue
        faces = detector.detect(record.path).above(0.05)
        found = np.array([f.box for f in faces]).reshape(-1, 4)
        ious = iou_matrix(np.array([b.as_list() for b in big]), found)
        for i in range(len(big)):
            if ious.size and ious[i].max() >= 0.4:
                total += 1
                right += faces.labels[int(ious[i].argmax())] == "without_mask"
    assert total >= 10
    assert right / total > 0.7


def test_face_fields_and_json_shape(detector, andrewmvd):
    faces = detector.detect(str(andrewmvd / "images" / "maksssksksss0.jpg")).above(0.3)
    assert faces and all(isinstance(f, Face) for f in faces)
    f = faces.faces()[0]
    assert f.label in LABELS and 0 <= f.score <= 1 and len(f.box) == 4 and len(f.landmarks) == 5
    d = face_rows(faces)[0]
    assert set(d) == {"x1", "y1", "x2", "y2", "label", "score", "landmarks"}
    assert sum(f.probs.values()) == pytest.approx(1, abs=1e-4)


def test_array_and_path_agree_and_gray_bgra_accepted(detector, andrewmvd):
    path = andrewmvd / "images" / "maksssksksss0.jpg"
    image = cv2.imread(str(path))
    a, b = detector.detect(image), detector.detect(path)
    assert face_rows(a) == face_rows(b)
    assert detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA))
    detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))  # no error
    assert len(detector.detect(np.zeros((4, 4, 3), np.uint8))) == 0


def test_batch_and_threads_give_the_same_answers(detector, val_images):
    paths = val_images[:8]
    single = [face_rows(detector.detect(p)) for p in paths]
    batch = [face_rows(faces) for faces in detector.detect_batch(paths)]
    assert batch == single
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda p: face_rows(detector.detect(p)), paths * 2))
    assert threaded == single * 2


def test_profiles_trade_recall_for_speed(val_images):
    fast, accurate = Detector(profile="fast"), Detector(profile="accurate")
    n_fast = sum(len(fast.detect(p).above(0.3)) for p in val_images[:15])
    n_acc = sum(len(accurate.detect(p).above(0.3)) for p in val_images[:15])
    assert n_acc > n_fast
    with pytest.raises(ConfigError, match="profile"):
        Detector(profile="turbo")


def test_landmarks_stay_inside_the_image(detector, andrewmvd):
    """Faces cut by the picture's edge (these photos had eyes and mouths guessed beyond it)."""
    for stem in ("maksssksksss657", "maksssksksss672", "maksssksksss847"):
        image = cv2.imread(str(andrewmvd / "images" / f"{stem}.jpg"))
        h, w = image.shape[:2]
        dets = detector.detect(image)
        assert len(dets)
        marks = dets.landmarks.reshape(-1, 2)
        assert (marks[:, 0] >= 0).all() and (marks[:, 0] <= w).all(), stem
        assert (marks[:, 1] >= 0).all() and (marks[:, 1] <= h).all(), stem


def test_shipped_models_are_picked_by_name(tmp_path):
    """``--model two-stage`` / ``--model one-pass`` name the shipped files; a file of that name
    in the working folder would win (a path is a path); no ``--model`` is DEFAULT_MODEL."""
    from maskwatch.defaults import DEFAULT_MODEL
    from maskwatch.models.shipped import SHIPPED, model_path, shipped_path

    assert model_path("two-stage").name == SHIPPED["two-stage"] and model_path("two-stage").exists()
    assert model_path(None) == shipped_path(DEFAULT_MODEL) and model_path(None).exists()
    assert model_path(tmp_path / "mine.onnx") == tmp_path / "mine.onnx"
    assert Detector("two-stage", profile="fast", threads=1).kind == "crop-classifier"


def test_one_pass_accurate_keeps_close_ups_whole(datasets):
    """``accurate`` upscales a small photo to 1024 px; the one-pass detector, trained on faces
    up to ~400 px, then breaks a close-up into a dozen partial faces. Its second look at 416 px
    gives the face that fills the crop, once."""
    import dataclasses

    from maskwatch.models.face_detector import PROFILES
    from maskwatch.models.onepass import OnePassFaces
    from maskwatch.models.shipped import shipped_path

    accurate = PROFILES["accurate"]
    looks = OnePassFaces(shipped_path("one-pass"), accurate, threads=1)
    one_look = OnePassFaces(shipped_path("one-pass"), dataclasses.replace(accurate, second_side=None), threads=1)
    crops = [
        p for label in LABELS[:2] for p in sorted((datasets / "crops" / "chandrikadeb7" / label).glob("*.jpg"))[:12]
    ]
    whole = {"two looks": 0, "one look": 0}
    faces_seen = {"two looks": 0, "one look": 0}
    for path in crops:
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        for name, detector in (("two looks", looks), ("one look", one_look)):
            faces, probs = detector(image)
            assert len(probs) == len(faces.boxes)
            sure = faces.boxes[faces.scores >= 0.3]
            covered = ((sure[:, 2] - sure[:, 0]) * (sure[:, 3] - sure[:, 1]) / (w * h)).max() if len(sure) else 0
            whole[name] += covered >= 0.4
            faces_seen[name] += len(sure)
    assert whole["two looks"] >= 0.7 * len(crops) and faces_seen["two looks"] <= 1.3 * len(crops), (whole, faces_seen)
    assert whole["one look"] <= 0.2 * len(crops), whole  # what the second look mends: the check can fail


@pytest.mark.parametrize(
    ("size", "side"), [((640, 480), 416), ((640, 480), 256), ((1920, 1080), 416), ((300, 200), 416)]
)
def test_frames_are_shrunk_as_area_averages_and_laid_out_as_rgb_planes(datasets, size, side):
    """``fit_blob``'s resize (``shrink``: exact 2x2 averages, then bilinear to twice the size
    and one more 2x2 average) stays within a grey level of OpenCV's INTER_AREA on a real
    photo, the network's input size is unchanged, and the planes are RGB, padding black."""
    from maskwatch.models.face_detector import DetectorProfile, fit_blob

    photo = cv2.imread(str(sorted((datasets / "webmask-yolo").rglob("*.jpg"))[3]))
    frame = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    blob, scale = fit_blob(frame, DetectorProfile("t", target_side=side, min_side=side))
    rw, rh = round(size[0] * scale), round(size[1] * scale)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    area = cv2.resize(frame, (rw, rh), interpolation=interp)[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    assert blob.shape == (1, 3, -(-rh // 32) * 32, -(-rw // 32) * 32) and blob.dtype == np.float32
    assert np.abs(blob[0, :, :rh, :rw] - area).mean() < 1.0
    assert np.abs(blob[0, :, :rh, :rw] - area).max() < 60  # no misplaced or swapped plane
    assert not blob[0, :, rh:, :].any() and not blob[0, :, :, rw:].any()
    if scale >= 1:
        np.testing.assert_array_equal(blob[0, :, :rh, :rw], area)
