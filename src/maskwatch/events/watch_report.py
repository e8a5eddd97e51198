"""``maskwatch report``: one self-contained HTML file (charts and snapshots embedded) for a
time window and some cameras, plus the same figures as JSON for scripts."""

from __future__ import annotations

import base64
import html
import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from ..errors import ConfigError
from ..labels import LABELS
from .store import STALE_AFTER, EventStore, camera_state, event_dict, per_minute, tally, utc_text, utcnow

COLOURS = {"with_mask": "#2e9d4a", "without_mask": "#d33c3c", "mask_incorrect": "#e59a1c"}
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")


def parse_time(text: str | None, now: datetime | None = None) -> datetime | None:
    """'2h', '30m', '7d' (ago), 'today', or an ISO date/time (UTC)."""
    if not text:
        return None
    now = now or utcnow()
    text = text.strip().lower()
    if text == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    m = _RELATIVE.match(text)
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        return now - timedelta(**{unit: float(m.group(1))})
    try:
        parsed = datetime.fromisoformat(text.replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{text!r}: use an ISO time (2026-11-22T08:00), a date, 'today' or an age (2h, 7d)") from None
    if parsed.tzinfo is not None:  # stored times are naive UTC
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def pick_bucket(span: timedelta) -> timedelta:
    for minutes in (1, 5, 15, 60, 360, 1440):
        if span / timedelta(minutes=minutes) <= 120:
            return timedelta(minutes=minutes)
    return timedelta(days=7)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _figures(series: list[dict], per_camera: dict[str, dict], bucket: timedelta) -> dict:
    """The report's matplotlib figures: people axes have whole-number ticks (nobody is half
    a person) and legends sit outside the plotting area, never over the bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figures = {}
    if series:
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, height_ratios=[1, 1.3])
        x = [row["start"] for row in series]
        ax1.plot(x, [100 * (row["compliance"] or 0) for row in series], marker="o", ms=3, color="#2e9d4a")
        ax1.set_ylim(0, 105)
        ax1.set_ylabel("compliance %")
        ax1.set_title(f"Compliance and people per {int(bucket.total_seconds() // 60)} min (UTC)")
        ax1.grid(alpha=0.3)
        bottom = np.zeros(len(series))
        width = bucket / timedelta(days=1) * 0.8
        for label in LABELS:
            values = np.array([row["per_label"][label] for row in series])
            ax2.bar(x, values, width=width, bottom=bottom, color=COLOURS[label], label=label, align="edge")
            bottom += values
        ax2.set_ylabel("people")
        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
        ax2.grid(alpha=0.3, axis="y")
        fig.autofmt_xdate()
        figures["time"] = fig
    if per_camera:
        fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(per_camera) + 2) + 1.6, 3.2))
        names = list(per_camera)
        idx = np.arange(len(names))
        for i, label in enumerate(LABELS):
            values = [per_camera[n]["per_label"][label] for n in names]
            ax.bar(idx + (i - 1) * 0.27, values, 0.27, color=COLOURS[label], label=label)
        ax.set_xticks(idx, names, rotation=20 if len(names) > 4 else 0)
        ax.set_ylabel("people")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("People per label and camera")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
        ax.grid(alpha=0.3, axis="y")
        figures["cameras"] = fig
    return figures


def _charts(series: list[dict], per_camera: dict[str, dict], bucket: timedelta) -> dict[str, str]:
    import matplotlib.pyplot as plt

    charts = {}
    for name, fig in _figures(series, per_camera, bucket).items():
        charts[name] = _png(fig)
        plt.close(fig)
    return charts


def _thumb(jpeg: bytes | None, width: int) -> str:
    if not jpeg:
        return ""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return ""
    if img.shape[1] > width:
        img = cv2.resize(img, (width, int(img.shape[0] * width / img.shape[1])), interpolation=cv2.INTER_AREA)
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    return f'<img src="data:image/jpeg;base64,{base64.b64encode(data).decode()}" alt="snapshot">'


def build_report(
    store: EventStore,
    since: datetime | None = None,
    until: datetime | None = None,
    cameras: list[str] | None = None,
    max_events: int = 100,
    now: datetime | None = None,
    stale_after: float = STALE_AFTER,
) -> dict:
    """The figures: totals, per camera, per time bucket, latest events (with snapshots),
    camera states (stale heartbeats shown as such), which database and window they cover,
    and warnings (a camera name the database has never seen)."""
    now = now or utcnow()
    overview = store.overview()
    warnings = [
        f"no camera named {name!r} in {store.url} (known: {', '.join(overview['cameras']) or 'none'})"
        for name in cameras or ()
        if name not in overview["cameras"]
    ]
    if not overview["people"] and not overview["cameras"]:
        warnings.append(f"{store.url} holds nothing yet: no `maskwatch watch` has written to it")
    rows = store.people(since, until, cameras)
    total, per_camera = tally(rows)
    start = since or (rows[0][2] if rows else utcnow())
    end = until or (rows[-1][2] if rows else utcnow())
    bucket = pick_bucket(max(end - start, timedelta(minutes=1)))
    return {
        "since": since,
        "until": until,
        "cameras": cameras or sorted(per_camera),
        "total": total,
        "per_camera": per_camera,
        "bucket": bucket,
        "series": per_minute(rows, bucket),
        "events": store.events(since, until, cameras, limit=max_events, snapshots=True),
        "status": [
            (c, camera_state(c, now, stale_after), (now - c.updated_at).total_seconds()) for c in store.cameras(cameras)
        ],
        "database": store.url,
        "overview": overview,
        "warnings": warnings,
        "generated": now,
    }


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def window_text(report: dict) -> str:
    return f"{utc_text(report['since'], ' ') or 'the beginning'} to {utc_text(report['until'], ' ') or 'now'}"


def holds_text(overview: dict) -> str:
    """The database's contents in words ("holds 12 people from 2 runs ..."): re-runs add up."""
    if not overview["people"]:
        return "the database holds no people yet"
    return (
        f"the database holds {overview['people']} people from {overview['runs']} watch run(s), "
        f"{utc_text(overview['first'], ' ')} to {utc_text(overview['last'], ' ')}"
    )


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def render_html(report: dict) -> str:
    charts = _charts(report["series"], report["per_camera"], report["bucket"])
    esc = html.escape
    window = window_text(report)
    total = report["total"]
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{s['people']}</td>"
        + "".join(f"<td>{s['per_label'][lb]}</td>" for lb in LABELS)
        + f"<td>{_pct(s['compliance'])}</td></tr>"
        for name, s in report["per_camera"].items()
    )
    status = "".join(
        f"<tr><td>{esc(c.name)}</td><td>{esc(_state_text(c, state, age))}</td><td>{c.frames}</td>"
        f"<td>{c.reconnects}</td><td>{utc_text(c.updated_at, ' ')} ({_age(age)} ago)</td>"
        f"<td>{esc(c.message or '')}</td></tr>"
        for c, state, age in report["status"]
    )
    warnings = "".join(f"<p class='warn'>warning: {esc(w)}</p>" for w in report["warnings"])
    events = "".join(
        f"<div class='ev {esc(e.label)}'>{_thumb(e.face_jpeg, 120)}{_thumb(e.frame_jpeg, 320)}"
        f"<p><b>{esc(e.label)}</b> {e.score:.2f}<br>{esc(e.camera)} · track {e.track_id}<br>"
        f"{utc_text(e.time, ' ')}<br><small>{esc(e.id)}</small></p></div>"
        for e in report["events"]
    )
    imgs = "".join(f'<img class="chart" src="data:image/png;base64,{data}" alt="{k}">' for k, data in charts.items())
    head = "".join(f"<th>{lb}</th>" for lb in LABELS)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>maskwatch report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child{{text-align:left}}
.big{{font-size:1.4em}}.chart{{max-width:100%;display:block;margin:1em 0}}
.ev{{display:inline-block;vertical-align:top;border:1px solid #ddd;border-radius:6px;padding:6px;margin:4px}}
.ev img{{margin-right:4px;vertical-align:top}}.ev p{{display:inline-block;margin:0;font-size:.85em}}
.without_mask{{border-left:5px solid #d33c3c}}.mask_incorrect{{border-left:5px solid #e59a1c}}
.warn{{color:#a33;font-weight:bold}}</style></head><body>
<h1>maskwatch report</h1>
<p>Window: {esc(window)} (times UTC); cameras: {esc(", ".join(report["cameras"]) or "none")}</p>
<p>Database: <code>{esc(report["database"])}</code>; {esc(holds_text(report["overview"]))}.
Generated {utc_text(report["generated"], " ")}.</p>{warnings}
<p class="big">{total["people"]} people counted, {total["violations"]} violations,
compliance {_pct(total["compliance"])}</p>
<table><tr><th>camera</th><th>people</th>{head}<th>compliance</th></tr>{rows}</table>
{imgs}
<h2>Cameras</h2><table><tr><th>camera</th><th>state</th><th>frames</th><th>reconnects</th><th>last heartbeat</th>
<th>message</th></tr>{status}</table>
<h2>Latest violations ({len(report["events"])} shown)</h2>{events or "<p>none</p>"}
</body></html>"""


def _state_text(row, state: str, age: float) -> str:
    if state == "stale":
        return f"stale: no heartbeat for {_age(age)} (last said {row.state}; the process is gone or hung)"
    return state


def report_json(report: dict) -> dict:
    overview = report["overview"]
    return {
        "database": report["database"],
        "since": utc_text(report["since"]),
        "until": utc_text(report["until"]),
        "generated": utc_text(report["generated"]),
        "cameras": report["cameras"],
        "database_holds": {
            "people": overview["people"],
            "runs": overview["runs"],
            "first": utc_text(overview["first"]),
            "last": utc_text(overview["last"]),
            "cameras": overview["cameras"],
        },
        "warnings": report["warnings"],
        "total": report["total"],
        "per_camera": report["per_camera"],
        "bucket_minutes": report["bucket"].total_seconds() / 60,
        "series": [{**row, "start": utc_text(row["start"])} for row in report["series"]],
        "camera_status": [
            {
                "name": c.name,
                "state": state,
                "last_state": c.state,
                "last_heartbeat": utc_text(c.updated_at),
                "heartbeat_age_s": round(age, 1),
                "frames": c.frames,
                "reconnects": c.reconnects,
                "message": c.message,
            }
            for c, state, age in report["status"]
        ],
        "events": [event_dict(e) for e in report["events"]],
    }


def write_report(store: EventStore, out: Path, **kwargs) -> dict:
    import json

    report = build_report(store, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report))
    data = report_json(report)
    out.with_suffix(".json").write_text(json.dumps(data, indent=1))
    return data
