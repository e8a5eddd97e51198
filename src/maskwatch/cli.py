"""The ``maskwatch`` command: one verb per task, sensible defaults, thin over the modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from .models.detector import DEFAULT_MIN_SCORE

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Find faces and tell whether each wears a mask correctly."
)
data_app = typer.Typer(no_args_is_help=True, help="Data sets: check, stats, split, convert, crop.")
app.add_typer(data_app, name="data")
err = Console(stderr=True, soft_wrap=True)  # one message, one line: greppable logs

PROFILE_HELP = "fast (320 px, 60+ FPS), balanced (VGA cameras), accurate (crowds of small faces)"


def _detector(model: Path | None, profile: str, min_score: float, threads: int | None = None):
    from .models.detector import Detector

    try:
        return Detector(model, profile=profile, min_score=min_score, threads=threads)
    except (FileNotFoundError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def detect(
    sources: list[str] = typer.Argument(..., help="Images, folders, globs, videos, webcam index (0) or stream URLs"),
    json_path: str | None = typer.Option(None, "--json", help="JSON Lines, one face a line ('-' for stdout)"),
    csv_path: str | None = typer.Option(None, "--csv", help="The same rows as CSV"),
    out: Path | None = typer.Option(None, "--out", help="Folder for annotated images / videos"),
    min_score: float = typer.Option(DEFAULT_MIN_SCORE, help="Drop faces scoring lower (evaluation uses 0.05)"),
    profile: str = typer.Option("balanced", help=PROFILE_HELP),
    model: Path | None = typer.Option(None, help="Classifier ONNX (default: the shipped model)"),
    stride: int = typer.Option(1, min=1, help="Videos: analyse every Nth frame, carrying boxes forward"),
    show: bool = typer.Option(False, help="Show a live window where a display exists"),
    threads: int | None = typer.Option(None, help="CPU threads for inference (default: all cores)"),
    max_frames: int | None = typer.Option(None, help="Stop each video/stream after this many frames"),
    stream_timeout: float = typer.Option(
        60.0, help="Seconds a camera/stream may stay unreachable (retrying with backoff) before it is given up"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summary"),
):
    """Detect faces and mask wearing in images, folders, videos, webcams and streams."""
    from .detect import format_summary, run_detect
    from .errors import SourceError

    det = _detector(model, profile, min_score, threads)
    try:
        summary = run_detect(
            det,
            sources,
            json_path,
            csv_path,
            str(out) if out else None,
            show,
            stride,
            min_score,
            progress=None if not quiet else False,
            warn=lambda m: err.print(m, markup=False),
            max_frames=max_frames,
            stream_timeout=stream_timeout,
        )
    except SourceError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if not quiet:
        err.print(format_summary(summary), markup=False)
    raise typer.Exit(0 if summary.ok else 1)


@app.command()
def evaluate(
    data: str = typer.Argument(..., help="Annotated data: VOC/YOLO folder or COCO JSON"),
    split: str | None = typer.Option(None, help="splits/<name>.txt or a sub-folder (e.g. val, test)"),
    fmt: str | None = typer.Option(None, "--format", help="voc, yolo or coco (default: detected)"),
    model: Path | None = typer.Option(None, help="Classifier ONNX (default: the shipped model)"),
    profile: str = typer.Option("accurate", help=PROFILE_HELP),
    min_score: float = typer.Option(0.05),
    classes: int | None = typer.Option(None, help="3, or 2 (mask_incorrect faces become ignore regions); default both"),
    label_map: Path | None = typer.Option(None, help="YAML of extra class-name aliases"),
    out: Path = typer.Option(Path("runs/evaluate"), help="Folder for metrics.json, report.md, report.html"),
    classifier_only: bool = typer.Option(
        False, help="Classifier alone on annotated boxes / crop folders: precision, recall, F1, confusion matrix"
    ),
):
    """COCO-style metrics (pycocotools): mAP@[.5:.95], mAP@.5, per-class AP, AR."""
    from .evaluate.report import metrics_markdown
    from .evaluate.run import evaluate_detector
    from .labels import load_label_map

    if classifier_only:
        from .evaluate.classifier_eval import evaluate_classifier, format_classification
        from .models.classifier import MaskClassifier

        ds = _load(data, split, fmt, label_map)
        metrics = evaluate_classifier(MaskClassifier(model), ds, out)
        print(format_classification(metrics))
        err.print(f"wrote {out}/classifier_metrics.json, confusion.png, wrong.png")
        return
    det = _detector(model, profile, min_score)
    results = evaluate_detector(
        det,
        data,
        split,
        fmt,
        min_score,
        (classes,) if classes else (3, 2),
        out,
        load_label_map(str(label_map) if label_map else None),
    )
    print(metrics_markdown(results))
    err.print(f"wrote {out}/metrics.json, report.md, report.html")


@app.command()
def train(
    config: Path = typer.Argument(Path("configs/default.yaml"), help="Training config (YAML)"),
    resume: bool = typer.Option(False, help="Continue from <out>/last.pt"),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set epochs=3"),
    export_to: Path | None = typer.Option(None, "--export", help="Also export the best model to this ONNX path"),
):
    """Train the mask classifier (needs the [train] extra)."""
    try:
        from .train.config import load_config
        from .train.loop import train as run_train
    except ImportError as exc:
        err.print(f"[red]error:[/red] training needs extras: pip install -e '.[train]' ({exc})")
        raise typer.Exit(2) from None
    overrides = {}
    for item in set_:
        key, _, value = item.partition("=")
        import yaml

        overrides[key] = yaml.safe_load(value)
    cfg = load_config(config, overrides)
    result = run_train(cfg, resume=resume)
    err.print(
        f"best epoch {result.best_epoch}: validation balanced accuracy {result.best_metric:.4f}; "
        f"checkpoint {result.best_checkpoint}"
    )
    from .train.report import write_training_report

    err.print(f"report: {write_training_report(result.out)}")
    if export_to:
        export(result.best_checkpoint, export_to)


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A best.pt from `maskwatch train`"),
    out: Path = typer.Argument(..., help="ONNX file to write (a .json/.md model card goes beside it)"),
    version: str = typer.Option("0.1.0"),
):
    """Export a checkpoint to ONNX (metadata carries preprocessing and labels) + model card."""
    from .train.export import export_onnx, write_model_card

    meta = export_onnx(checkpoint, out, version)
    card_path = out.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    card.update({"name": meta["name"], "version": version, "export": meta})
    write_model_card(card_path, card)
    err.print(
        f"wrote {out} ({meta['size_bytes'] / 1e6:.1f} MB); max |ONNX - PyTorch| probability difference "
        f"{meta['max_abs_diff_probs']:.2e}"
    )


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 for all interfaces)"),
    port: int = typer.Option(8000, help="HTTP port (API, web page, /docs, /metrics)"),
    grpc_port: int = typer.Option(50051, help="gRPC port (0: no gRPC server)"),
    source: str | None = typer.Option(None, help="Server-side camera for /v1/stream.mjpg (index or URL)"),
    profile: str = typer.Option("balanced", help=PROFILE_HELP),
    model: Path | None = typer.Option(None, help="Classifier ONNX (default: the shipped model)"),
    min_score: float = typer.Option(DEFAULT_MIN_SCORE),
    workers: int = typer.Option(2, help="Inference threads"),
    queue: int = typer.Option(16, help="Requests that may wait for a worker before 503 + Retry-After"),
    cors_origin: list[str] = typer.Option([], help="Allow browser calls from this origin (repeatable); off by default"),
    events_db: str | None = typer.Option(
        None, help="Database `watch` writes, for live counts on the page (default: ./maskwatch-data if present)"
    ),
):
    """HTTP + gRPC API and the web page (upload, live webcam). Set MASKWATCH_API_KEY to require a key."""
    try:
        import uvicorn

        from .serve.app import create_app
        from .serve.settings import ServeSettings
    except ImportError as exc:
        err.print(f"[red]error:[/red] serving needs extras: pip install -e '.[serve]' ({exc})")
        raise typer.Exit(2) from None
    settings = ServeSettings(workers=workers, queue=queue, cors_origins=list(cors_origin), source=source)
    settings.events_db = events_db or settings.events_db
    det = _detector(model, profile, min_score)
    grpc_server = None
    if grpc_port:
        from .serve.grpc_server import create_grpc_server

        grpc_server, bound = create_grpc_server(
            det, grpc_port, host, workers=workers, api_key=settings.api_key, max_bytes=settings.max_image_bytes
        )
        grpc_server.start()
        err.print(f"gRPC on {host}:{bound}")
    err.print(f"web page and API on http://{host}:{port}/ (docs: /docs)")
    try:
        uvicorn.run(create_app(det, settings), host=host, port=port, log_level="info")
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2)


def _logging(quiet: bool = False) -> None:
    """Plain timestamped lines on stderr: watch runs as a service, its log is grepped."""
    import logging

    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _print_watch(result, store_url: str) -> None:
    from .labels import LABELS

    for name, st in result.cameras.items():
        people = sum(st.people.values())
        per = ", ".join(f"{label} {st.people.get(label, 0)}" for label in LABELS)
        err.print(
            f"{name}: {st.analysed} frames analysed, {people} people ({per}), {st.events} violation(s), "
            f"{st.reconnects} reconnect(s), {st.state}" + (f" [{st.error}]" if st.error else ""),
            markup=False,
        )
    err.print(f"events in {store_url}; webhook deliveries: {result.delivered} sent, {result.pending} pending")


@app.command()
def watch(
    sources: list[str] = typer.Argument(..., help="A config YAML, or sources: video files, webcam index, RTSP/HTTP"),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: SQLite in --data-dir, or MASKWATCH_DB)"),
    data_dir: Path | None = typer.Option(None, help="Folder for the SQLite database (default ./maskwatch-data)"),
    profile: str | None = typer.Option(None, help=PROFILE_HELP),
    model: Path | None = typer.Option(None, help="Classifier ONNX (default: the shipped model)"),
    min_score: float | None = typer.Option(None, help="Faces scoring lower are not tracked (default 0.3)"),
    max_fps: float | None = typer.Option(None, help="Analyse at most this many frames a second per camera"),
    min_frames: int | None = typer.Option(None, help="Frames a track needs before the person counts (default 5)"),
    decide_after: float | None = typer.Option(None, help="Seconds after which a lingering person is decided (5)"),
    webhook: list[str] = typer.Option([], help="POST each violation here (repeatable; durable outbox)"),
    log_events: bool = typer.Option(False, help="Also log one line per violation"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and the summary only"),
):
    """Count people per label on cameras and files; store violations (with snapshots) and alert.

    Runs until every file has ended, or until Ctrl-C / SIGTERM (open tracks are decided and
    stored first). A live camera that drops is reconnected with backoff for as long as it takes."""
    from .errors import SourceError
    from .events.store import EventStore
    from .video.watch import run_watch
    from .video.watch_config import config_from_sources, load_config

    _logging(quiet)
    try:
        if len(sources) == 1 and sources[0].lower().endswith((".yaml", ".yml")):
            cfg = load_config(sources[0])
        else:
            cfg = config_from_sources(sources)
    except SourceError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(2) from None
    cfg.database = db or cfg.database
    cfg.data_dir = str(data_dir) if data_dir else cfg.data_dir
    cfg.profile = profile or cfg.profile
    cfg.model = str(model) if model else cfg.model
    cfg.min_score = cfg.min_score if min_score is None else min_score
    for cam in cfg.cameras:
        cam.max_fps = max_fps or cam.max_fps
    if min_frames is not None:
        cfg.counting.min_frames = min_frames
    if decide_after is not None:
        cfg.counting.decide_after = decide_after
    cfg.sinks += [
        {"type": "webhook", "url": u, "name": "webhook" if i == 0 else f"webhook{i + 1}"} for i, u in enumerate(webhook)
    ]
    if log_events:
        cfg.sinks.append({"type": "log"})
    try:
        store = EventStore(cfg.database, cfg.data_dir)
        det = _detector(Path(cfg.model) if cfg.model else None, cfg.profile, cfg.min_score)
        err.print(f"watching {len(cfg.cameras)} camera(s); events in {store.url}", markup=False)
        result = run_watch(cfg, det, store)
    except (SourceError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    _print_watch(result, store.url)
    failed = [n for n, st in result.cameras.items() if st.state == "failed" or (st.error and not st.analysed)]
    raise typer.Exit(1 if failed else 0)


@app.command()
def report(
    out: Path = typer.Option(Path("maskwatch-report.html"), "--out", "-o", help="HTML file (JSON written beside it)"),
    since: str | None = typer.Option(None, help="Start: ISO time (UTC), a date, 'today', or an age: 2h, 30m, 7d"),
    until: str | None = typer.Option(None, help="End, in the same forms (default: now)"),
    camera: list[str] = typer.Option([], help="Only these cameras (repeatable)"),
    db: str | None = typer.Option(None, "--db", help="Database URL (default: SQLite in --data-dir, or MASKWATCH_DB)"),
    data_dir: Path | None = typer.Option(None, help="Folder of the SQLite database (default ./maskwatch-data)"),
    max_events: int = typer.Option(100, help="Violations shown with snapshots (newest first)"),
):
    """An HTML report of what `watch` counted: compliance over time, people per label and camera,
    the latest violations with their snapshots."""
    from .errors import SourceError
    from .events.report import parse_time, write_report
    from .events.store import EventStore

    try:
        start, end = parse_time(since), parse_time(until)
        store = EventStore(db, data_dir)
        data = write_report(store, out, since=start, until=end, cameras=list(camera) or None, max_events=max_events)
    except (SourceError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    t = data["total"]
    compliance = "-" if t["compliance"] is None else f"{100 * t['compliance']:.1f}%"
    print(f"{t['people']} people, {t['violations']} violations, compliance {compliance}: wrote {out}")


def _load(path: str, split: str | None, fmt: str | None, label_map: Path | None):
    from .data.formats import load_dataset
    from .labels import load_label_map

    try:
        return load_dataset(path, fmt, split, load_label_map(str(label_map) if label_map else None))
    except (FileNotFoundError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@data_app.command("check")
def data_check(
    path: str,
    split: str | None = None,
    fmt: str | None = typer.Option(None, "--format"),
    label_map: Path | None = None,
    report: Path | None = typer.Option(None, help="Write the report as JSON here"),
    against: list[str] = typer.Option([], help="Other data sets (or splits as PATH:SPLIT) to look for shared images"),
):
    """Find missing/corrupt images, bad boxes, unknown classes and duplicates; exit 1 if any."""
    from .data.check import check_dataset

    ds = _load(path, split, fmt, label_map)
    others = []
    for spec in against:
        p, _, s = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
        others.append(_load(p, s or None, None, label_map))
    result = check_dataset(ds, others)
    for line in result.lines():
        print(line)
    if report:
        report.write_text(json.dumps(result.to_dict(), indent=1))
    raise typer.Exit(1 if result.problems else 0)


@data_app.command("stats")
def data_stats(
    path: str,
    split: str | None = None,
    fmt: str | None = typer.Option(None, "--format"),
    label_map: Path | None = None,
    out: Path | None = typer.Option(None, help="Folder for stats.json and histogram PNGs"),
):
    """Images, faces per class, face sizes (histogram), image sizes."""
    from .data.stats import dataset_stats, format_stats, write_stats

    ds = _load(path, split, fmt, label_map)
    stats = dataset_stats(ds)
    print(format_stats(stats))
    if out:
        for p in write_stats(stats, out):
            err.print(f"wrote {p}")


@data_app.command("split")
def data_split(
    path: str,
    fmt: str | None = typer.Option(None, "--format"),
    label_map: Path | None = None,
    train: float = 0.8,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    out: Path | None = typer.Option(None, help="Folder for <split>.txt (default PATH/splits)"),
):
    """Deterministic stratified split; identical images stay in one split."""
    from .data.split import split_dataset, write_splits

    ds = _load(path, None, fmt, label_map)
    splits = split_dataset(ds, {"train": train, "val": val, "test": test}, seed)
    target = out or Path(path) / "splits"
    write_splits(splits, target)
    for name, stems in splits.items():
        print(f"{name}: {len(stems)} images")
    err.print(f"wrote {target}/{{train,val,test}}.txt")


@data_app.command("convert")
def data_convert(
    path: str,
    out: Path,
    to: str = typer.Option(..., help="voc, coco, yolo or tfrecord"),
    split: str | None = None,
    fmt: str | None = typer.Option(None, "--format"),
    label_map: Path | None = None,
):
    """Convert between VOC, COCO and YOLO, or to TFRecord + label_map.pbtxt."""
    from .data.formats import save_dataset

    ds = _load(path, split, fmt, label_map)
    target = save_dataset(ds, out, to)
    print(f"wrote {len(ds)} images as {to} to {target}")


@data_app.command("crop")
def data_crop(
    path: str,
    out: Path,
    split: str | None = None,
    fmt: str | None = typer.Option(None, "--format"),
    label_map: Path | None = None,
    size: int = 128,
    margin: float = 0.15,
    find_faces: bool = typer.Option(True, help="Crop around the face detector's matching box"),
    profile: str = "balanced",
):
    """Face crops with a margin into class folders, for the classifier."""
    from .data.crop import extract_crops, save_crop_summary
    from .models.face_detector import CenterFace

    ds = _load(path, split, fmt, label_map)
    result = extract_crops(ds, out, CenterFace(profile) if find_faces else None, size, margin)
    save_crop_summary(result, out / "crops.json")
    print(json.dumps(result.written))
    for p in result.problems:
        err.print(str(p), markup=False)
    raise typer.Exit(1 if result.problems else 0)


@data_app.command("synth")
def data_synth(
    path: str,
    out: Path,
    split: str | None = None,
    fmt: str | None = typer.Option(None, "--format"),
    label_map: Path | None = None,
    per_face: int = 1,
    max_faces: int | None = None,
    seed: int = 0,
    size: int = 128,
    margin: float = 0.15,
):
    """Synthetic masks (surgical, cloth, black, patterned, N95; correct / below nose / on chin)
    on the unmasked faces of a data set, written as classifier crops + contact_sheet.png."""
    from .data.synth import synthesize
    from .models.face_detector import CenterFace

    ds = _load(path, split, fmt, label_map)
    result = synthesize(ds, CenterFace("balanced"), out, per_face, seed, size, margin, max_faces)
    print(json.dumps(result))


@data_app.command("prelabel")
def data_prelabel(
    folder: Path,
    out: Path | None = typer.Option(None, help="Write XML here instead of beside images"),
    min_score: float = 0.4,
    overwrite: bool = False,
    model: Path | None = None,
    profile: str = "accurate",
):
    """Write PascalVOC XML with the model's boxes, for LabelImg/CVAT to correct."""
    from .data.prelabel import prelabel_folder

    written, faces, problems = prelabel_folder(_detector(model, profile, min_score), folder, out, min_score, overwrite)
    for p in problems:
        err.print(str(p), markup=False)
    print(f"wrote {written} XML file(s) with {faces} face(s)")
    raise typer.Exit(1 if any(p.kind != "exists" for p in problems) else 0)


@data_app.command("capture")
def data_capture(
    source: str = typer.Argument(..., help="Webcam index, stream URL or video file"),
    out: Path = typer.Argument(...),
    every: float = typer.Option(2.0, help="Seconds between saves"),
    max_images: int | None = None,
    duration: float | None = None,
    show: bool = False,
):
    """Save frames every N seconds (and on space where a display exists) for labelling."""
    from .data.capture import capture
    from .errors import SourceError

    try:
        saved = capture(source, out, every, max_images, duration, show)
    except (SourceError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    print(f"saved {len(saved)} image(s) to {out}")


@data_app.command("walkby")
def data_walkby(
    paths: list[str] = typer.Argument(..., help="Data sets to take faces from (any format)"),
    out: Path = typer.Option(..., "--out", help="Video to write (.mp4); the truth goes to <out>.json"),
    people: int = typer.Option(2, help="People per label"),
    labels: list[str] = typer.Option(list(("with_mask", "without_mask", "mask_incorrect")), "--label"),
    fps: float = 10.0,
    seed: int = 0,
    verify: bool = typer.Option(True, help="Use only faces the shipped models label right on a still frame"),
):
    """A walk-by test video: people from a data set cross the picture, so the true counts are known."""
    from .data.walkby import make_walkby
    from .errors import SourceError

    datasets = [_load(p, None, None, None) for p in paths]
    det = _detector(None, "balanced", DEFAULT_MIN_SCORE) if verify else None
    try:
        truth = make_walkby(datasets, out, dict.fromkeys(labels, people), fps=fps, seed=seed, detector=det)
    except (SourceError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    print(json.dumps({"video": str(out), "frames": truth["frames"], "people": truth["people"]}))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
