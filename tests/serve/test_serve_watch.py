"""The server reads the database `maskwatch watch` writes: counts, events, snapshots, and the
web page's Watch tab refreshing live (in a real headless Chromium)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import cv2
import pytest

pytest.importorskip("fastapi", reason="serving needs the [serve] extra")
from fastapi.testclient import TestClient  # noqa: E402
from servers import serving  # noqa: E402

from maskwatch.events.store import EventStore, PersonRecord  # noqa: E402
from maskwatch.serve.app import create_app  # noqa: E402
from maskwatch.settings import ServeSettings  # noqa: E402


def _record(store: EventStore, image, label: str, camera: str, track: int) -> str | None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    face = cv2.imencode(".jpg", image[:120, :120])[1].tobytes()
    return store.record(
        PersonRecord(
            camera, "run", track, label, 0.91, 9, now - timedelta(seconds=3), now, (1, 2, 100, 120), face, jpeg
        )
    )


@pytest.fixture
def watched(tmp_path, val_images):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    store = EventStore(url)
    image = cv2.imread(str(val_images[0]))
    for i, (label, cam) in enumerate(
        [("with_mask", "door"), ("with_mask", "door"), ("without_mask", "door"), ("mask_incorrect", "hall")]
    ):
        _record(store, image, label, cam, i)
    store.heartbeat("door", "rtsp://cam/1", "running", 1200, 1, 9.5)
    return url, store, image


def test_summary_events_and_snapshots(watched, detector):
    url, store, _ = watched
    client = TestClient(create_app(detector, ServeSettings(database=url, api_key="k")))
    assert client.get("/v1/watch/summary").status_code == 401
    h = {"X-API-Key": "k"}
    assert client.get("/v1/info", headers=h).json()["watch"] is True
    s = client.get("/v1/watch/summary", headers=h).json()
    assert s["total"]["per_label"] == {"with_mask": 2, "without_mask": 1, "mask_incorrect": 1}
    assert s["total"]["compliance"] == 0.5
    assert s["per_camera"]["door"]["people"] == 3 and s["per_camera"]["hall"]["violations"] == 1
    assert [c["name"] for c in s["cameras"]] == ["door"] and s["cameras"][0]["state"] == "running"
    assert {e["label"] for e in s["events"]} == {"without_mask", "mask_incorrect"}
    only_hall = client.get("/v1/events?camera=hall", headers=h).json()
    assert [e["label"] for e in only_hall] == ["mask_incorrect"]
    face = client.get(only_hall[0]["face_url"] + "?api_key=k")  # how the page's <img> asks
    assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(__import__("numpy").frombuffer(face.content, "uint8"), 1).shape[:2] == (120, 120)
    assert client.get("/v1/events/nope/face.jpg", headers=h).status_code == 404
    assert client.get("/v1/watch/summary?since=soon", headers=h).status_code == 422
    assert client.get("/v1/watch/summary?since=1h&camera=hall", headers=h).json()["total"]["people"] == 1


def test_no_database_no_watch_routes(detector, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./maskwatch-data here
    client = TestClient(create_app(detector, ServeSettings(database=None)))
    assert client.get("/v1/info").json()["watch"] is False
    assert client.get("/v1/watch/summary").status_code == 404


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="browser tests need Debian's chromium (apt-get install chromium)")
def test_watch_tab_shows_live_counts_and_latest_events(watched, detector, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
    url, store, image = watched
    with serving(create_app(detector, ServeSettings(database=url))) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(base + "/")
        page.wait_for_selector("#tab-watch:not([hidden])", timeout=15000)
        page.click("#tab-watch")
        page.wait_for_selector("#watch-events figure.event", timeout=15000)
        chips = page.locator("#watch-counts .chip").all_inner_texts()
        assert chips == ["with_mask 2", "without_mask 1", "mask_incorrect 1"]
        assert "compliance 50.0%" in page.locator("#watch-compliance").inner_text()
        assert page.locator("#watch-events figure.event").count() == 2
        assert page.evaluate("document.querySelector('#watch-events img').naturalWidth") == 120
        assert page.locator("#watch-cameras tr[data-camera='door'] td.state").inner_text() == "running"
        _record(store, image, "without_mask", "door", 99)  # watch stores one more: the page follows
        page.wait_for_function("document.querySelectorAll('#watch-events figure.event').length === 3", timeout=10000)
        assert "without_mask 2" in page.locator("#watch-counts").inner_text()
        page.screenshot(path=str(tmp_path / "watch.png"))
        browser.close()
