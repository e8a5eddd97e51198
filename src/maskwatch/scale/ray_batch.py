"""``maskwatch detect --ray`` and ``evaluate --ray``: the batch job as a Ray Data pipeline.

Sources are expanded exactly as :func:`~maskwatch.pipelines.sources.expand_sources` does
(the same skips and failures), then every image and every piece of video becomes one row of a
Ray Data dataset. ``map_batches`` hands the rows to a pool of detector actors (``workers`` of
them, each loading the model once) and the results come back in input order
(``preserve_order``), so the JSON Lines and CSV are the plain path's, row for row, and a
Parquet file is written beside them.

Videos are split by file, and a long one into ranges of ``chunk_seconds``. Each range is
decoded by one actor from its first frame to its last; the tracker needs history, so the
actor also analyses the ``overlap_seconds`` before the range (the *warm-up*), whose faces are
not written again. The driver joins the ranges: a track seen in the warm-up keeps the id the
previous range gave it, a new track gets the next free id. Frame numbers are absolute (frames
before a range are grabbed, not decoded, from the start of the file, since seeking by frame
is not exact in every codec), so at every seam no frame is lost or doubled.

Files must be readable at the same path on every node (a shared or network file system), as
with any Ray Data job that reads from disk.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..detections import face_rows
from ..errors import BadInputError, ConfigError, OutputError, SourceError
from ..models.preprocess import iou_matrix
from ..pipelines.writers import CSV_FIELDS
from ..progress import track
from ..settings import DetectSettings, EvaluateSettings
from . import init_ray, need_ray, with_threads

#: a long video is split into ranges of this many seconds (each one actor's task)
CHUNK_SECONDS = 60.0
#: seconds analysed before each range so the tracker knows who is already there
OVERLAP_SECONDS = 2.0


# --- the actor's side ------------------------------------------------------------------------
class _DetectorActor:
    """A Ray Data UDF's start: its settings (``threads`` ONNX threads where they give none) and
    one detector, loaded once per actor."""

    def __init__(self, settings: DetectSettings | EvaluateSettings, threads: int | None = None):
        self.settings = with_threads(settings, threads)
        self.detector = self.settings.detector()


class DetectWorker(_DetectorActor):
    """A Ray Data UDF: one detector per actor, loaded once; one output row per input row.

    Input columns: ``kind`` (image, video), ``spec``, ``start``/``stop`` (a video's frame range,
    stop -1: to the end), ``warm`` (frames analysed before ``start`` for the tracker).
    Output columns: ``status`` (ok, fail), ``reason``, ``frames`` (decoded frames of the range),
    ``result`` (JSON: image face rows, or per analysed frame [index, t, rows, warm-up?])."""

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"status": [], "reason": [], "frames": [], "result": []}
        for kind, spec, start, stop, warm in zip(
            batch["kind"], batch["spec"], batch["start"], batch["stop"], batch["warm"]
        ):
            if kind == "image":
                status, reason, frames, result = self.image(str(spec))
            else:
                status, reason, frames, result = self.video(str(spec), int(start), int(stop), int(warm))
            out["status"].append(status)
            out["reason"].append(reason)
            out["frames"].append(frames)
            out["result"].append(json.dumps(result))
        for key in ("batch_order", "order", "start"):
            if key in batch:
                out[key] = list(batch[key])
        return out

    def image(self, spec: str):
        from ..images import read_image

        try:
            image = read_image(spec, self.settings.max_pixels, self.settings.max_image_bytes)
        except BadInputError as exc:
            return "fail", exc.reason, 0, []
        dets = self.detector.detect(image).above(self.settings.min_score)
        return "ok", "", 0, face_rows(dets, spec)

    def video(self, spec: str, start: int, stop: int, warm: int):
        from ..pipelines.frames import FramePipeline
        from ..pipelines.sources import Frame, open_video_file, quiet_opencv, video_fps
        from ..tracking.tracker import FaceTracker

        quiet_opencv()
        try:
            cap = open_video_file(spec)  # whatever bytes its name holds (OpenCV crashes on some)
        except OSError as exc:
            return "fail", f"cannot read ({exc.strerror or exc})", 0, []
        if not cap.isOpened():
            cap.release()
            return "fail", "cannot open video (corrupt or unsupported format)", 0, []
        try:
            fps = video_fps(cap)
            pipeline = FramePipeline(self.detector, self.settings.min_score, self.settings.stride, FaceTracker())
            first = start - warm
            index = 0
            while index < first:  # grabbed, not decoded: exact frame numbers in every codec
                if not cap.grab():
                    break
                index += 1
            frames, analysed = 0, []
            while stop < 0 or index < stop:
                ok, image = cap.read()
                if not ok or image is None:
                    break
                result = pipeline.process(Frame(image, index, index / fps))
                if result.analysed:
                    rows = face_rows(result.detections, spec, index, index / fps)
                    analysed.append([index, index < start, rows])
                if index >= start:
                    frames += 1
                index += 1
        finally:
            cap.release()
        if start == 0 and frames == 0:
            return "fail", "no frame could be decoded (corrupt or empty video)", 0, []
        return "ok", "", frames, analysed


# --- the driver's side -----------------------------------------------------------------------
def _probe(spec: str) -> tuple[int, float] | str:
    """(frame count (0: unknown), fps) of a video file, or the reason it cannot be opened, in
    the words of the plain path's :class:`~maskwatch.pipelines.sources.FrameReader`."""
    from ..pipelines.sources import FrameReader, quiet_opencv

    quiet_opencv()
    try:
        reader = FrameReader(spec, "video")
    except SourceError as exc:
        return str(exc).split(": ", 1)[-1]
    count, fps = reader.frame_count, reader.fps
    reader.close()
    return count, fps


def video_ranges(
    frame_count: int,
    fps: float,
    max_frames: int | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
) -> list[tuple[int, int, int]]:
    """(start, stop, warm) frame ranges covering a video once: stop -1 reads to the end (the
    last range, so a frame count that is off loses nothing), warm is how many frames before
    ``start`` the tracker sees first. ``max_frames`` caps the video as the plain path does."""
    total = min(frame_count, max_frames) if max_frames and frame_count else frame_count
    size = max(1, round(chunk_seconds * fps))
    warm_frames = max(0, round(overlap_seconds * fps))
    end = max_frames if max_frames else -1
    if total <= 0 or total <= size + size // 2:  # short (or unknown length): one range
        return [(0, end, 0)]
    starts = list(range(0, total, size))
    if total - starts[-1] < size // 2:  # no short tail range: the last one takes it
        starts.pop()
    return [(s, starts[i + 1] if i + 1 < len(starts) else end, min(s, warm_frames)) for i, s in enumerate(starts)]


def _boxes(rows: list[dict]) -> np.ndarray:
    return np.array([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in rows], np.float64).reshape(-1, 4)


class _Seams:
    """Joins one video's ranges: track ids of a range are renamed to the ids the previous
    range gave the same faces on the frames both analysed (the warm-up)."""

    def __init__(self):
        self.last: dict[int, list[dict]] = {}  # frame -> written rows of the previous range
        self.next_id = 0

    def join(self, analysed: list, first_range: bool) -> Iterator[list[dict]]:
        """The rows to write, one list per analysed frame past the warm-up, ids renamed."""
        mapping: dict[int, int] = {}
        votes: dict[int, dict[int, int]] = {}
        for index, warm, rows in analysed:
            if not warm:
                continue
            before = self.last.get(index, [])
            ious = iou_matrix(_boxes(rows), _boxes(before))
            for row, overlaps in zip(rows, ious):
                tid = row.get("track_id")
                if tid is None or not len(before):
                    continue
                best = before[int(overlaps.argmax())]
                if best.get("track_id") is not None and overlaps.max() >= 0.5:
                    tally = votes.setdefault(tid, {})
                    tally[best["track_id"]] = tally.get(best["track_id"], 0) + 1
        taken: set[int] = set()
        for tid, tally in sorted(votes.items()):
            old = max(tally, key=lambda k: (tally[k], -k))
            if old not in taken:
                mapping[tid], _ = old, taken.add(old)
        written: dict[int, list[dict]] = {}
        for index, warm, rows in analysed:
            if warm:
                continue
            for row in rows:
                tid = row.get("track_id")
                if tid is None:
                    continue
                if first_range:
                    self.next_id = max(self.next_id, tid + 1)
                    continue
                if tid not in mapping:
                    mapping[tid] = self.next_id
                    self.next_id += 1
                row["track_id"] = mapping[tid]
            written[index] = rows
            yield rows
        self.last = written


class _Parquet:
    """Face rows appended to one Parquet file in groups (pyarrow, which Ray Data brings)."""

    def __init__(self, path: str):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        f64, i64 = pa.float64(), pa.int64()
        self.schema = pa.schema(
            [
                ("image", pa.string()),
                ("frame", i64),
                ("t", f64),
                ("track_id", i64),
                *((name, f64) for name in ("x1", "y1", "x2", "y2")),
                ("label", pa.string()),
                ("score", f64),
                ("landmarks", pa.list_(pa.list_(f64))),
            ]
        )
        if path == "-":
            raise ConfigError("--parquet: give a file name, not '-' (Parquet is not a stream)")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(path, self.schema)
        except OSError as exc:
            raise OutputError.cannot_write(path, exc) from None
        self.rows: list[dict] = []

    def write(self, rows: list[dict]) -> None:
        self.rows += rows
        if len(self.rows) >= 10_000:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            columns = {name: [r.get(name) for r in self.rows] for name in CSV_FIELDS}
            self.writer.write_table(self.pa.table(columns, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _items(sources: list[str], settings: DetectSettings, summary, warn, chunk_seconds, overlap_seconds):
    """The dataset rows in the plain path's order (images, then videos range by range), with
    skips and failures reported as it reports them."""
    from ..pipelines.detect import record_unusable
    from ..pipelines.sources import expand_sources

    expanded = expand_sources(sources)
    live = [i.spec for i in expanded if i.kind in ("camera", "stream")]
    if live:
        raise ConfigError(f"--ray runs files, not live sources ({', '.join(live[:3])}): use `maskwatch watch --ray`")
    record_unusable(expanded, summary, warn)
    rows = [{"kind": "image", "spec": i.spec, "start": 0, "stop": -1, "warm": 0} for i in expanded if i.kind == "image"]
    late_failures = []  # videos that cannot be opened: reported where the plain path reports them
    for item in expanded:
        if item.kind != "video":
            continue
        probe = _probe(item.spec)
        if isinstance(probe, str):
            late_failures.append((len(rows), item.spec, probe))
            continue
        for start, stop, warm in video_ranges(probe[0], probe[1], settings.max_frames, chunk_seconds, overlap_seconds):
            rows.append({"kind": "video", "spec": item.spec, "start": start, "stop": stop, "warm": warm})
    for n, row in enumerate(rows):
        row["order"] = n
    return rows, late_failures


def detect_ray(
    sources: list[str],
    settings: DetectSettings | None = None,
    address: str | None = None,
    workers: int = 2,
    json_path: str | None = None,
    csv_path: str | None = None,
    parquet_path: str | None = None,
    progress: bool | None = None,
    warn=None,
    chunk_seconds: float = CHUNK_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
    threads: int | None = 1,
):
    """``maskwatch detect --ray``: :func:`~maskwatch.pipelines.detect.run_detect` on a Ray
    cluster, with the same outputs and the same :class:`~maskwatch.pipelines.detect.Summary`.

    Args:
        sources: images, folders (recursive), globs and video files (no webcams or streams).
        settings: the resolved :class:`~maskwatch.settings.DetectSettings`.
        address: the cluster (``auto``, ``host:6379``, ``ray://host:10001``); None: a local
            Ray started for this call (or the one this process already has).
        workers: detector actors (each one CPU, each loading the model once).
        json_path, csv_path: one row per face, as without Ray ("-": stdout).
        parquet_path: the same rows as a Parquet file.
        progress: a progress bar over images and video ranges (None: when on a terminal).
        warn: where one-line problems go (default: stderr).
        chunk_seconds, overlap_seconds: how long videos are split (see the module).
        threads: ONNX threads per actor when the settings give none (1: one core each).

    Raises:
        ConfigError: a webcam or stream among the sources.
        OutputError: an output that cannot be written.
        MissingExtraError: Ray is not installed.
    """
    from ..pipelines.detect import Summary, record_failure
    from ..pipelines.writers import FaceWriter

    ray = need_ray("detect --ray")
    settings = settings or DetectSettings.resolve()
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    summary = Summary()
    t0 = time.perf_counter()
    items, late = _items(sources, settings, summary, warn, chunk_seconds, overlap_seconds)
    writer = FaceWriter(json_path, csv_path)
    parquet = _Parquet(parquet_path) if parquet_path else None
    started = init_ray(address, num_cpus=None)
    try:
        results = _run_pipeline(ray, items, settings, workers, threads) if items else iter(())
        seams: dict[str, _Seams] = {}
        late_at = {n: (spec, reason) for n, spec, reason in late}
        videos_seen: dict[str, int] = {}

        def report_late(upto: int) -> None:
            for n in sorted(k for k in late_at if k <= upto):
                record_failure(summary, warn, *late_at.pop(n))

        for item, out in track(zip(items, results), "detect --ray", len(items), progress):
            report_late(item["order"])
            spec = item["spec"]
            if out["status"] == "fail":
                record_failure(summary, warn, spec, out["reason"])
                continue
            result = json.loads(out["result"])
            if item["kind"] == "image":
                summary.files += 1
                batches = [result]
            else:
                if item["start"] == 0:
                    seams[spec] = _Seams()
                    summary.files += 1
                videos_seen[spec] = videos_seen.get(spec, 0) + 1
                summary.frames += int(out["frames"])
                batches = list(seams[spec].join(result, item["start"] == 0))
            for rows in batches:
                summary.faces.update(r["label"] for r in rows)
                for row in rows:
                    writer.write_row(row)
                if parquet is not None:
                    parquet.write(rows)
        report_late(len(items) + len(late) + 1)
    finally:
        writer.close()
        if parquet is not None:
            parquet.close()
        if started:
            ray.shutdown()
    summary.seconds = time.perf_counter() - t0
    return summary


def _run_pipeline(ray, items: list[dict], settings, workers: int, threads: int | None) -> Iterator[dict]:
    """The Ray Data pipeline; one result row per item, in item order."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), 1000))
    ds = ds.map_batches(
        DetectWorker,
        fn_constructor_kwargs={"settings": settings, "threads": threads},
        batch_size=1,
        concurrency=workers,
        num_cpus=1,
    )
    yield from ds.iter_rows()


# --- evaluate --ray --------------------------------------------------------------------------
class EvaluateWorker(_DetectorActor):
    """A Ray Data UDF for ``evaluate --ray``: per image the class rows COCO evaluation reads
    (:func:`~maskwatch.evaluation.coco_eval.class_rows`), or the error message."""

    def __call__(self, batch: dict) -> dict:
        import pickle

        from ..evaluation.coco_eval import class_rows

        out: dict[str, list] = {"error": [], "dets": []}
        for path in batch["path"]:
            try:
                dets = class_rows(self.detector.detect(str(path)), self.settings.min_score, True)
                out["error"].append("")
                out["dets"].append(pickle.dumps(dets))
            except BadInputError as exc:
                out["error"].append(str(exc))
                out["dets"].append(b"")
        return out


def evaluate_ray(
    data: str | Path,
    settings: EvaluateSettings | None = None,
    split: str | None = None,
    fmt: str | None = None,
    classes: tuple[int, ...] = (3, 2),
    out: Path | None = None,
    label_map=None,
    progress: bool | None = None,
    allow_outside: bool = False,
    address: str | None = None,
    workers: int = 2,
    threads: int | None = 1,
) -> dict:
    """``maskwatch evaluate --ray``: :func:`~maskwatch.evaluation.run.evaluate` with the
    detections made by a pool of Ray actors (the same Ray Data path as ``detect --ray``); the
    metrics are computed on the driver, as without Ray, and come out the same, and ``out``
    gets the same files (report, raw predictions, ground truth) from the same writers."""
    from ..detections import Detections
    from ..evaluation import run as run_module

    ray = need_ray("evaluate --ray")
    settings = settings or EvaluateSettings.resolve()
    started = init_ray(address)
    try:
        import pickle

        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False

        def predict(detector, ds, min_score, progress_=None):
            paths = [{"path": str(r.path)} for r in ds.images]
            if not paths:
                return [], []
            rows = ray.data.from_items(paths, override_num_blocks=min(len(paths), 1000)).map_batches(
                EvaluateWorker,
                fn_constructor_kwargs={"settings": settings, "threads": threads},
                batch_size=4,
                concurrency=workers,
                num_cpus=1,
            )
            preds, failed = [], []
            for row in track(rows.iter_rows(), f"evaluating {ds.name}", len(paths), progress):
                if row["error"]:
                    failed.append(row["error"])
                    preds.append(Detections.empty())
                else:
                    preds.append(pickle.loads(row["dets"]))
            return preds, failed

        # the driver's detector only names the model and profile in the results; the actors detect
        return run_module.evaluate(
            settings.detector(),
            data,
            split,
            fmt,
            settings.min_score,
            classes,
            out,
            label_map,
            progress,
            allow_outside,
            predict=predict,
        )
    finally:
        if started:
            ray.shutdown()
