"""The ``maskwatch`` command: one verb per task, thin over the package.

Each verb parses its options, resolves its settings (:mod:`maskwatch.settings`: flag, then
environment, then config file, then default) and calls one public function. Errors are
mapped in one place, :class:`_Group`: a :class:`~maskwatch.errors.MaskwatchError` becomes one
line on stderr and its ``exit_code`` (1 some inputs failed, 2 usage, config or setup)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from .defaults import DEFAULT_MODEL, FILE_WORKERS, PRELABEL_MIN_SCORE
from .errors import ConfigError, MaskwatchError
from .settings import DetectSettings, EvaluateSettings, ServeSettings, WatchSettings

err = Console(stderr=True, soft_wrap=True)  # one message, one line: greppable logs


def error_line(message: str) -> None:
    """One red ``error:`` line; the message is plain text (rich would eat ``[serve]``)."""
    err.print(Text("error: ", style="red") + Text(str(message)))


class _Group(TyperGroup):
    """The one place where errors become exit codes."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MaskwatchError as exc:
            error_line(str(exc))
            raise typer.Exit(exc.exit_code) from None


# rich_markup_mode=None: help is plain text, so "[default: 0.3]" and "maskwatch[serve]" show
app = typer.Typer(
    cls=_Group,
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    help="Find faces and tell whether each wears a mask correctly.",
)
data_app = typer.Typer(
    cls=_Group,
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Data sets: check, stats, split, convert, crop, synth, prelabel, capture, walkby.",
)
app.add_typer(data_app, name="data")

RAY_HELP = "Spread the work over a Ray cluster (pip install 'maskwatch[ray]')"
ADDRESS_HELP = "With --ray: a running Ray cluster (HEAD_IP:6379); default: a local one"
MODEL_HELP = (
    "one-pass (one network: faces and labels), two-stage (CenterFace, then the crop classifier), "
    f"or an ONNX file from `maskwatch export` [default: {DEFAULT_MODEL}]"
)
PROFILE_HELP = "fast (256 px, the quickest), balanced (VGA cameras), accurate (crowds of small faces)"
WORKERS_HELP = (
    "Videos/streams: inference threads the frames are spread over, output in frame order "
    f"[default: {FILE_WORKERS} for video files, 1 for cameras and streams]"
)


def _default(settings, name: str):
    """A setting's default, for help texts (written once, in maskwatch.settings)."""
    return settings.model_fields[name].default


def _settings(settings_class, config: Path | None, options: dict):
    """``settings_class`` resolved from a verb's options: an option named like a setting is
    that setting's flag (None: not given), over the environment, over ``config``."""
    fields = settings_class.model_fields
    return settings_class.resolve(config, **{k: v for k, v in options.items() if k in fields})


def _detector(model: Path | None = None, profile: str | None = None, *, threads: int | None = None):
    """A detector for the data tools, from the same settings as ``detect``."""
    return DetectSettings.resolve(model=model, profile=profile, threads=threads).detector()


@app.command()
def detect(
    sources: list[str] = typer.Argument(..., help="Images, folders, globs, videos, webcam index (0) or stream URLs"),
    json_path: str | None = typer.Option(None, "--json", help="JSON Lines, one face a line ('-' for stdout)"),
    csv_path: str | None = typer.Option(None, "--csv", help="The same rows as CSV"),
    out: Path | None = typer.Option(None, "--out", help="Folder for annotated images / videos"),
    min_score: float | None = typer.Option(
        None, help=f"Drop faces scoring lower [default: {_default(DetectSettings, 'min_score')}]"
    ),
    profile: str | None = typer.Option(None, help=f"{PROFILE_HELP} [default: {_default(DetectSettings, 'profile')}]"),
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    stride: int | None = typer.Option(None, min=1, help="Videos: analyse every Nth frame, carrying boxes forward"),
    show: bool = typer.Option(False, help="Show a live window where a display exists"),
    threads: int | None = typer.Option(None, help="CPU threads for inference (default: all cores)"),
    max_frames: int | None = typer.Option(None, help="Stop each video/stream after this many frames"),
    workers: int | None = typer.Option(
        None,
        min=1,
        help=WORKERS_HELP,
    ),
    stream_timeout: float | None = typer.Option(
        None,
        help="Seconds a camera/stream may stay unreachable (retrying with backoff) before it is given up "
        f"[default: {_default(DetectSettings, 'stream_timeout')}]",
    ),
    ray: bool | None = typer.Option(None, "--ray", help=RAY_HELP),
    address: str | None = typer.Option(None, help=ADDRESS_HELP),
    ray_workers: int | None = typer.Option(None, help="Detector actors on Ray [default: 2]"),
    parquet: Path | None = typer.Option(None, help="With --ray: also write the rows as Parquet"),
    config: Path | None = typer.Option(None, help="Settings YAML (flags and MASKWATCH_* variables win)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summary"),
):
    """Detect faces and mask wearing in images, folders, videos, webcams and streams."""
    from .pipelines.detect import format_summary, run_detect

    settings = _settings(DetectSettings, config, locals())
    progress, warn = (None if not quiet else False), (lambda m: err.print(m, markup=False))
    if settings.ray:
        if out or show:
            raise ConfigError("--out and --show are not available with --ray (the rows are: --json, --csv, --parquet)")
        from .scale.ray_batch import detect_ray

        summary = detect_ray(
            sources,
            settings,
            address=settings.address,
            workers=settings.ray_workers,
            json_path=json_path,
            csv_path=csv_path,
            parquet_path=str(parquet) if parquet else None,
            progress=progress,
            warn=warn,
        )
    elif parquet:
        raise ConfigError("--parquet is written by the Ray path: add --ray")
    else:
        summary = run_detect(
            sources,
            settings,
            json_path=json_path,
            csv_path=csv_path,
            out=str(out) if out else None,
            show=show,
            progress=progress,
            warn=warn,
        )
    if not quiet:
        err.print(format_summary(summary), markup=False)
    raise typer.Exit(0 if summary.ok else 1)


ALLOW_OUTSIDE_HELP = (
    "Also read images and labels that resolve outside the data set's folder (../ or absolute "
    "file names, symlinks out); by default they are skipped and reported"
)


@app.command()
def evaluate(
    data: str = typer.Argument(..., help="Annotated data: VOC/YOLO folder or COCO JSON"),
    split: str | None = typer.Option(None, help="splits/<name>.txt or a sub-folder (e.g. val, test)"),
    fmt: str | None = typer.Option(None, "--format", help="voc, yolo or coco (default: detected)"),
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    profile: str | None = typer.Option(None, help=f"{PROFILE_HELP} [default: {_default(EvaluateSettings, 'profile')}]"),
    min_score: float | None = typer.Option(
        None,
        help="Detections scoring lower are not counted; low, so the PR curve is complete "
        f"[default: {_default(EvaluateSettings, 'min_score')}]",
    ),
    classes: int | None = typer.Option(None, help="3, or 2 (mask_incorrect faces become ignore regions); default both"),
    label_map: Path | None = typer.Option(None, help="YAML of extra class-name aliases"),
    out: Path = typer.Option(
        Path("runs/evaluate"),
        help="Folder for metrics.json, report.md, report.html and the raw predictions with their ground truth "
        "(predictions.coco.json, ground_truth.coco.json, predictions.jsonl; see the README)",
    ),
    classifier_only: bool = typer.Option(
        False, help="Classifier alone on annotated boxes / crop folders: precision, recall, F1, confusion matrix"
    ),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
    ray: bool | None = typer.Option(None, "--ray", help=RAY_HELP),
    address: str | None = typer.Option(None, help=ADDRESS_HELP),
    ray_workers: int | None = typer.Option(None, help="Detector actors on Ray [default: 2]"),
):
    """COCO-style metrics (pycocotools): mAP@[.5:.95], mAP@.5, per-class AP, AR (needs the [eval] extra)."""
    from .errors import require
    from .evaluation.metrics_report import metrics_markdown
    from .labels import load_label_map

    settings = EvaluateSettings.resolve(
        model=model, profile=profile, min_score=min_score, ray=ray, address=address, ray_workers=ray_workers
    )
    require("matplotlib", "maskwatch evaluate", "eval")
    if classifier_only:
        from .evaluation.classifier_eval import evaluate_classifier, format_classification
        from .models.classifier import MaskClassifier

        ds = _load(data, split, fmt, label_map, allow_outside)
        metrics = evaluate_classifier(MaskClassifier(settings.model, settings.threads), ds, out)
        print(format_classification(metrics))
        err.print(f"wrote {out}/classifier_metrics.json, confusion.png, wrong.png")
        return
    require("pycocotools", "maskwatch evaluate", "eval")
    if settings.ray:
        from .scale.ray_batch import evaluate_ray

        results = evaluate_ray(
            data,
            settings,
            split,
            fmt,
            (classes,) if classes else (3, 2),
            out,
            load_label_map(str(label_map) if label_map else None),
            allow_outside=allow_outside,
            address=settings.address,
            workers=settings.ray_workers,
        )
        print(metrics_markdown(results))
        _print_written(out, results)
        return
    from .evaluation import evaluate as run_evaluate

    results = run_evaluate(
        settings.detector(),
        data,
        split,
        fmt,
        settings.min_score,
        (classes,) if classes else (3, 2),
        out,
        load_label_map(str(label_map) if label_map else None),
        allow_outside=allow_outside,
    )
    print(metrics_markdown(results))
    _print_written(out, results)


def _print_written(out: Path, results: dict) -> None:
    """``evaluate``'s last line: the files it wrote into ``out``."""
    from .images import shown_path

    names = ", ".join(Path(f).name for f in results.get("files", {}).values())
    err.print(Text(f"wrote {shown_path(out)}/{names}"))


def _require_training(feature: str) -> None:
    """PyTorch and the training packages, or the one-line install command."""
    from .errors import require

    for module in ("torch", "albumentations", "matplotlib"):
        require(module, feature, "train")


@app.command()
def train(
    config: Path = typer.Argument(Path("configs/default.yaml"), help="Training config (YAML)"),
    resume: bool = typer.Option(
        False, help="Continue from <out>/last.pt (--set epochs=N may ask for more epochs than the first run)"
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set epochs=3 (repeatable)"),
    export_to: Path | None = typer.Option(None, "--export", help="Also export the best model to this ONNX path"),
    version: str = typer.Option("0.1.0", help="Model version written into the exported ONNX and its card"),
    leave_out: list[str] = typer.Option(
        [],
        "--leave-out",
        help="Train without the source in this folder (e.g. webmask-yolo), then `evaluate` on it: "
        "cross-source accuracy without a test split (repeatable)",
    ),
):
    """Train the one-pass detector (config `task: detector`, configs/detector.yaml) or the
    two-stage pipeline's mask classifier (`task: classifier`) (needs the [train] extra)."""
    _require_training("maskwatch train")
    from .train.config import leave_out as without
    from .train.config import load_config, parse_overrides

    cfg = without(load_config(config, parse_overrides(set_)), leave_out)
    if cfg.task == "detector":
        from .train.onepass_loop import train_detector as run_train

        metric = "validation 3-class mAP@.5"
    else:
        from .train.loop import train as run_train

        metric = "validation balanced accuracy"
    result = run_train(cfg, resume=resume)
    err.print(f"best epoch {result.best_epoch}: {metric} {result.best_metric:.4f}; checkpoint {result.best_checkpoint}")
    from .train.training_report import write_training_report

    err.print(f"report: {write_training_report(result.out)}")
    if export_to:
        _print_export(export_to, _export_model(result.best_checkpoint, export_to, version))


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="A best.pt from `maskwatch train`"),
    out: Path = typer.Argument(..., help="ONNX file to write (a .json/.md model card goes beside it)"),
    version: str = typer.Option("0.1.0", help="Model version written into the ONNX metadata and the card"),
    int8: bool = typer.Option(
        False,
        help="Also write <out>.int8.onnx: static INT8, calibrated on 32 of the run's training photos (detector only)",
    ),
):
    """Export a checkpoint to ONNX (metadata carries preprocessing and labels) + model card (needs [train])."""
    _print_export(out, _export_model(checkpoint, out, version, int8))


def _export_model(checkpoint: Path, out: Path, version: str = "0.1.0", int8: bool = False) -> dict:
    from .errors import require

    require("torch", "maskwatch export", "train")
    from .train.export import export_model

    return export_model(checkpoint, out, version, int8)


def _print_export(out: Path, meta: dict) -> None:
    err.print(
        f"wrote {out} ({meta['size_bytes'] / 1e6:.1f} MB); max |ONNX - PyTorch| probability difference "
        f"{meta['max_abs_diff_probs']:.2e}"
    )
    if meta.get("int8"):
        err.print(f"wrote {meta['int8']['path']}: INT8, largest difference from fp32 {meta['int8']['max_difference']}")


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Address to listen on (0.0.0.0: all interfaces) [default: 127.0.0.1]"),
    port: int | None = typer.Option(None, help="HTTP port (API, web page, /docs, /metrics) [default: 8000]"),
    grpc_port: int | None = typer.Option(None, help="gRPC port (0: no gRPC server) [default: 50051]"),
    source: str | None = typer.Option(None, help="Server-side camera for /v1/stream.mjpg (index or URL)"),
    profile: str | None = typer.Option(None, help=f"{PROFILE_HELP} [default: {_default(ServeSettings, 'profile')}]"),
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    min_score: float | None = typer.Option(
        None, help=f"Drop faces scoring lower [default: {_default(ServeSettings, 'min_score')}]"
    ),
    workers: int | None = typer.Option(None, help="Inference threads [default: 2]"),
    queue: int | None = typer.Option(None, help="Requests that may wait for a worker before 503 + Retry-After [16]"),
    cors_origins: list[str] = typer.Option(
        [], "--cors-origin", help="Allow browser calls from this origin (repeatable); off by default"
    ),
    database: str | None = typer.Option(
        None, help="The events database `watch` writes, for live counts on the page (default: SQLite in --data-dir)"
    ),
    data_dir: Path | None = typer.Option(None, help="Folder of the SQLite events database [default: maskwatch-data]"),
    ray: bool | None = typer.Option(None, "--ray", help="Run the API as a Ray Serve deployment, autoscaled"),
    address: str | None = typer.Option(None, help=ADDRESS_HELP),
    min_replicas: int | None = typer.Option(None, help="With --ray: fewest replicas [default: 1]"),
    max_replicas: int | None = typer.Option(None, help="With --ray: most replicas [default: 2]"),
    target_ongoing_requests: float | None = typer.Option(
        None, help="With --ray: requests in flight per replica that autoscaling aims at [default: 2]"
    ),
    config: Path | None = typer.Option(None, help="Settings YAML (flags and MASKWATCH_* variables win)"),
):
    """HTTP + gRPC API and the web page (upload, live webcam). Set MASKWATCH_API_KEY to require a key."""
    from .errors import require

    require("fastapi", "maskwatch serve", "serve")
    from .serve import run_server

    settings = _settings(ServeSettings, config, locals())
    if settings.ray:
        from .scale.ray_serve import serve_ray

        grpc = f"; gRPC on {settings.host}:{settings.grpc_port}" if settings.grpc_port else ""
        err.print(f"Ray Serve on http://{settings.host}:{settings.port}/{grpc}", markup=False)
        serve_ray(
            settings,
            settings.min_replicas,
            settings.max_replicas,
            settings.target_ongoing_requests,
            address=settings.address,
        )
        return
    run_server(settings, log=lambda m: err.print(m, markup=False))


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
    pending = "unknown (database unreadable)" if result.pending < 0 else f"{result.pending} pending"
    err.print(f"events in {store_url}; webhook deliveries: {result.delivered} sent, {pending}", markup=False)
    if result.lost:
        err.print(
            f"error: {result.lost} counted people could NOT be stored (disk full or database down) and are lost",
            markup=False,
        )


@app.command()
def watch(
    sources: list[str] = typer.Argument(..., help="A config YAML, or sources: video files, webcam index, RTSP/HTTP"),
    database: str | None = typer.Option(
        None, help="Database URL, e.g. postgresql+psycopg://user:pw@host/db (default: SQLite in --data-dir)"
    ),
    data_dir: Path | None = typer.Option(None, help="Folder for the SQLite database [default: maskwatch-data]"),
    profile: str | None = typer.Option(None, help=f"{PROFILE_HELP} [default: {_default(WatchSettings, 'profile')}]"),
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    min_score: float | None = typer.Option(
        None, help=f"Faces scoring lower are not tracked [default: {_default(WatchSettings, 'min_score')}]"
    ),
    max_fps: float | None = typer.Option(None, help="Analyse at most this many frames a second per camera"),
    workers: int | None = typer.Option(
        None,
        min=1,
        help=WORKERS_HELP,
    ),
    min_frames: int | None = typer.Option(None, help="Frames a track needs before the person counts [default: 5]"),
    decide_after: float | None = typer.Option(None, help="Seconds after which a lingering person is decided [5]"),
    webhook: list[str] = typer.Option([], help="POST each violation here (repeatable; durable outbox)"),
    log_events: bool = typer.Option(False, help="Also log one line per violation"),
    mqtt: str | None = typer.Option(None, help="Publish each violation to this MQTT broker (mqtt://user:pw@host:1883)"),
    say_dir: Path | None = typer.Option(
        None, help="Speak a reminder per violation, written as WAV files to this folder (no speaker needed)"
    ),
    ray: bool | None = typer.Option(None, "--ray", help="Each camera a Ray actor, restarted if it dies"),
    address: str | None = typer.Option(None, help=ADDRESS_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Warnings and the summary only"),
):
    """Count people per label on cameras and files; store violations (with snapshots) and alert.

    Runs until every file has ended, or until Ctrl-C / SIGTERM (open tracks are decided and
    stored first). A live camera that drops is reconnected with backoff for as long as it takes."""
    from .events.store import EventStore
    from .pipelines.watch import run_watch, watch_settings

    _logging(quiet)
    settings = watch_settings(
        sources,
        database=database,
        data_dir=data_dir,
        profile=profile,
        model=model,
        min_score=min_score,
        max_fps=max_fps,
        workers=workers,
        min_frames=min_frames,
        decide_after=decide_after,
        webhooks=webhook,
        log_events=log_events,
        mqtt=mqtt,
        say_dir=str(say_dir) if say_dir else None,
        ray=ray,
        address=address,
    )
    store = EventStore(settings.database_url)
    detector = settings.detector()
    from .events.watch_report import holds_text

    err.print(
        f"watching {len(settings.cameras)} camera(s); events in {store.url} ({holds_text(store.overview())}; "
        "this run adds to it: use report --since to see one run)",
        markup=False,
    )
    if settings.ray:
        from .scale.ray_watch import watch_ray

        result = watch_ray(settings, address=settings.address)
    else:
        result = run_watch(settings, detector, store)
    _print_watch(result, store.url)
    failed = [n for n, st in result.cameras.items() if st.state == "failed" or (st.error and not st.analysed)]
    raise typer.Exit(1 if failed or result.lost else 0)


@app.command()
def report(
    out: Path = typer.Option(Path("maskwatch-report.html"), "--out", "-o", help="HTML file (JSON written beside it)"),
    since: str | None = typer.Option(None, help="Start: ISO time (UTC), a date, 'today', or an age: 2h, 30m, 7d"),
    until: str | None = typer.Option(None, help="End, in the same forms (default: now)"),
    camera: list[str] = typer.Option([], help="Only these cameras (repeatable)"),
    database: str | None = typer.Option(None, help="Database URL (default: SQLite in --data-dir)"),
    data_dir: Path | None = typer.Option(None, help="Folder of the SQLite database [default: maskwatch-data]"),
    max_events: int = typer.Option(100, help="Violations shown with snapshots (newest first)"),
):
    """An HTML report of what `watch` counted: compliance over time, people per label and camera,
    the latest violations with their snapshots."""
    from .errors import ConfigError
    from .events.store import EventStore
    from .events.watch_report import holds_text, parse_time, write_report
    from .settings import StoreSettings

    start, end = parse_time(since), parse_time(until)
    store_settings = StoreSettings.resolve(database=database, data_dir=data_dir)
    if not store_settings.database_exists:  # a mistyped --data-dir: say so, create nothing
        raise ConfigError(
            f"no events database in {store_settings.data_dir} (no {store_settings.database_url}); "
            "check --data-dir or --database (watch creates it)"
        )
    store = EventStore(store_settings.database_url)
    data = write_report(store, out, since=start, until=end, cameras=list(camera) or None, max_events=max_events)
    for warning in data["warnings"]:
        err.print(f"warning: {warning}", markup=False)
    t = data["total"]
    compliance = "-" if t["compliance"] is None else f"{100 * t['compliance']:.1f}%"
    window = f"{data['since'] or 'the beginning'} to {data['until'] or 'now'}"
    err.print(f"report on {data['database']}, {window} (UTC); {holds_text(store.overview())}", markup=False)
    print(f"{t['people']} people, {t['violations']} violations, compliance {compliance}: wrote {out}")


def _load(path: str, split: str | None, fmt: str | None, label_map: Path | None, allow_outside: bool = False):
    """The data set (errors are MaskwatchErrors: the CLI's one handler reports them)."""
    from .formats import load_dataset
    from .labels import load_label_map

    return load_dataset(
        path, fmt, split, load_label_map(str(label_map) if label_map else None), allow_outside=allow_outside
    )


PATH_HELP = "A data set: VOC/YOLO/class-folder crops folder or a COCO JSON file"
SPLIT_HELP = "Only this split: splits/<name>.txt (from `data split`) or a sub-folder (train, val, test)"
FORMAT_HELP = "voc, coco, yolo or crops (default: detected from the files)"
LABEL_MAP_HELP = "YAML of extra class-name aliases (e.g. mask_weared_incorrect: mask_incorrect)"


@data_app.command("check")
def data_check(
    path: str = typer.Argument(..., help=PATH_HELP),
    split: str | None = typer.Option(None, help=SPLIT_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    label_map: Path | None = typer.Option(None, help=LABEL_MAP_HELP),
    report: Path | None = typer.Option(None, help="Write the report as JSON here"),
    against: list[str] = typer.Option([], help="Other data sets (or splits as PATH:SPLIT) to look for shared images"),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
):
    """Find missing/corrupt images, bad boxes, unknown classes and duplicates; exit 1 if any."""
    from .data.check import check_dataset

    ds = _load(path, split, fmt, label_map, allow_outside)
    others = []
    for spec in against:
        p, _, s = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
        others.append(_load(p, s or None, None, label_map, allow_outside))
    result = check_dataset(ds, others)
    for line in result.lines():
        print(line)
    if report:
        report.write_text(json.dumps(result.to_dict(), indent=1))
    raise typer.Exit(1 if result.problems else 0)


@data_app.command("stats")
def data_stats(
    path: str = typer.Argument(..., help=PATH_HELP),
    split: str | None = typer.Option(None, help=SPLIT_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    label_map: Path | None = typer.Option(None, help=LABEL_MAP_HELP),
    out: Path | None = typer.Option(None, help="Folder for stats.json and histogram PNGs"),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
):
    """Images, faces per class, face sizes (histogram), image sizes."""
    from .data.stats import dataset_stats, format_stats, write_stats

    ds = _load(path, split, fmt, label_map, allow_outside)
    stats = dataset_stats(ds)
    print(format_stats(stats))
    if out:
        for p in write_stats(stats, out):
            err.print(f"wrote {p}")


@data_app.command("split")
def data_split(
    path: str = typer.Argument(..., help=PATH_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    label_map: Path | None = typer.Option(None, help=LABEL_MAP_HELP),
    train: float = typer.Option(0.8, help="Share of images for train"),
    val: float = typer.Option(0.1, help="Share of images for val"),
    test: float = typer.Option(0.1, help="Share of images for test"),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same split"),
    out: Path | None = typer.Option(None, help="Folder for <split>.txt (default PATH/splits)"),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
):
    """Deterministic stratified split; identical images stay in one split."""
    from .data.split import split_dataset, write_splits

    ds = _load(path, None, fmt, label_map, allow_outside)
    splits = split_dataset(ds, {"train": train, "val": val, "test": test}, seed)
    target = out or Path(path) / "splits"
    write_splits(splits, target)
    for name, stems in splits.items():
        print(f"{name}: {len(stems)} images")
    err.print(f"wrote {target}/{{train,val,test}}.txt")


@data_app.command("convert")
def data_convert(
    path: str = typer.Argument(..., help=PATH_HELP),
    out: Path = typer.Argument(..., help="Folder to write (images/ + labels)"),
    to: str = typer.Option(..., help="voc, coco, yolo or tfrecord"),
    split: str | None = typer.Option(None, help=SPLIT_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    label_map: Path | None = typer.Option(None, help=LABEL_MAP_HELP),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
):
    """Convert between VOC, COCO and YOLO, or to TFRecord + label_map.pbtxt; names every file left out (exit 1)."""
    from .formats import save_dataset

    ds = _load(path, split, fmt, label_map, allow_outside)
    target = save_dataset(ds, out, to)
    for p in ds.problems:
        err.print(str(p), markup=False)
    skipped = [p for p in ds.problems if p.kind != "no_annotation"]
    note = f"; {len(skipped)} problem(s) above: those files or entries were not written" if skipped else ""
    print(f"wrote {len(ds)} images as {to} to {target}{note}")
    raise typer.Exit(1 if skipped else 0)


@data_app.command("crop")
def data_crop(
    path: str = typer.Argument(..., help=PATH_HELP),
    out: Path = typer.Argument(..., help="Folder for <label>/*.jpg crops and crops.json"),
    split: str | None = typer.Option(None, help=SPLIT_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    label_map: Path | None = typer.Option(None, help=LABEL_MAP_HELP),
    size: int = typer.Option(128, help="Crop side in pixels"),
    margin: float = typer.Option(0.15, help="Margin around the face box, as a share of its size"),
    find_faces: bool = typer.Option(True, help="Crop around the face detector's matching box"),
    profile: str = typer.Option("balanced", help=PROFILE_HELP),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
):
    """Face crops with a margin into class folders, for the classifier."""
    from .data.make_crops import extract_crops, save_crop_summary
    from .models.face_detector import CenterFace

    ds = _load(path, split, fmt, label_map, allow_outside)
    result = extract_crops(ds, out, CenterFace(profile) if find_faces else None, size, margin)
    save_crop_summary(result, out / "crops.json")
    print(json.dumps(result.written))
    for p in result.problems:
        err.print(str(p), markup=False)
    raise typer.Exit(1 if result.problems else 0)


@data_app.command("synth")
def data_synth(
    path: str = typer.Argument(..., help=PATH_HELP),
    out: Path = typer.Argument(..., help="Folder for the crops and contact_sheet.png"),
    split: str | None = typer.Option(None, help=SPLIT_HELP),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP),
    label_map: Path | None = typer.Option(None, help=LABEL_MAP_HELP),
    per_face: int = typer.Option(1, help="Synthetic masks drawn on each unmasked face"),
    max_faces: int | None = typer.Option(None, help="Use at most this many faces (default: all)"),
    seed: int = typer.Option(0, help="Random seed for mask styles and placements"),
    size: int = typer.Option(128, help="Crop side in pixels"),
    margin: float = typer.Option(0.15, help="Margin around the face box, as a share of its size"),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
):
    """Synthetic masks on the unmasked faces of a data set, as classifier crops.

    Surgical, cloth, black, patterned and N95 masks, worn correctly, below the nose or on the
    chin, written as classifier crops + contact_sheet.png."""
    from .data.synth import synthesize
    from .models.face_detector import CenterFace

    ds = _load(path, split, fmt, label_map, allow_outside)
    result = synthesize(ds, CenterFace("balanced"), out, per_face, seed, size, margin, max_faces)
    print(json.dumps(result))


@data_app.command("prelabel")
def data_prelabel(
    folder: Path = typer.Argument(..., help="Folder of images to label"),
    out: Path | None = typer.Option(None, help="Write XML here instead of beside images"),
    min_score: float = typer.Option(PRELABEL_MIN_SCORE, help="Leave out faces scoring lower"),
    overwrite: bool = typer.Option(False, help="Replace XML files that already exist (default: keep them)"),
    model: Path | None = typer.Option(None, help=MODEL_HELP),
    profile: str = typer.Option("accurate", help=PROFILE_HELP),
):
    """Write PascalVOC XML with the model's boxes, for LabelImg/CVAT to correct."""
    from .data.prelabel import prelabel_folder

    written, faces, problems = prelabel_folder(_detector(model, profile), folder, out, min_score, overwrite)
    for p in problems:
        err.print(str(p), markup=False)
    print(f"wrote {written} XML file(s) with {faces} face(s)")
    raise typer.Exit(1 if any(p.kind != "exists" for p in problems) else 0)


@data_app.command("capture")
def data_capture(
    source: str = typer.Argument(..., help="Webcam index, stream URL or video file"),
    out: Path = typer.Argument(..., help="Folder for the saved frames (JPEG)"),
    every: float = typer.Option(2.0, help="Seconds between saves"),
    max_images: int | None = typer.Option(None, help="Stop after saving this many images"),
    duration: float | None = typer.Option(None, help="Stop after this many seconds"),
    show: bool = typer.Option(False, help="Show a live window (space saves a frame) where a display exists"),
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


WALKBY_VERIFY_HELP = (
    "Keep only faces the shipped model already labels right on a still frame. The video then "
    "tests tracking and counting, not the classifier: a count that matches the truth is partly "
    "by construction. --no-verify keeps every face drawn, for the unverified figure"
)


@data_app.command("walkby")
def data_walkby(
    paths: list[str] = typer.Argument(..., help="Data sets to take faces from (any format)"),
    out: Path = typer.Option(..., "--out", help="Video to write (.mp4); the truth goes to <out>.json"),
    people: int = typer.Option(2, help="People per label"),
    labels: list[str] = typer.Option(
        list(("with_mask", "without_mask", "mask_incorrect")), "--label", help="Labels to show (repeatable)"
    ),
    fps: float = typer.Option(10.0, help="Frames a second of the video"),
    seed: int = typer.Option(0, help="Random seed for the faces drawn and their paths"),
    verify: bool = typer.Option(True, help=WALKBY_VERIFY_HELP),
    allow_outside: bool = typer.Option(False, help=ALLOW_OUTSIDE_HELP),
):
    """A walk-by test video: people from a data set cross the picture, so the true counts are known.

    --verify (the default) keeps only faces the shipped model already labels right on a still frame,
    so `watch` counting the true numbers on such a video is partly by construction: it checks
    tracking and counting, not the classifier. Make the video with --no-verify for the unverified figure."""
    from .data.walkby import make_walkby

    datasets = [_load(p, None, None, None, allow_outside) for p in paths]
    det = _detector(None, "balanced") if verify else None
    truth = make_walkby(datasets, out, dict.fromkeys(labels, people), fps=fps, seed=seed, detector=det)
    print(json.dumps({"video": str(out), "frames": truth["frames"], "people": truth["people"], "verified": verify}))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
