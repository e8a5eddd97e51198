"""The web page in a real headless Chromium (Debian's, driven by Playwright): upload a photo
and see boxes; the live view, fed by Chromium's fake camera playing real data set faces,
shows detections."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="serving needs the [serve] extra")
from servers import serving  # noqa: E402

from maskwatch.serve.app import create_app  # noqa: E402
from maskwatch.settings import ServeSettings  # noqa: E402

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("browser tests need Debian's chromium (apt-get install chromium)", allow_module_level=True)

BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def write_y4m(images: list[Path], path: Path, size=(640, 480), frames_each: int = 5) -> Path:
    """A raw YUV4MPEG2 clip, the format Chromium's fake camera plays."""
    w, h = size
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for p in images:
            frame = cv2.imread(str(p))
            scale = min(w / frame.shape[1], h / frame.shape[0])
            canvas = np.zeros((h, w, 3), np.uint8)
            small = cv2.resize(frame, (int(frame.shape[1] * scale), int(frame.shape[0] * scale)))
            canvas[: small.shape[0], : small.shape[1]] = small
            yuv = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes()
            for _ in range(frames_each):
                fh.write(b"FRAME\n" + yuv)
    return path


@pytest.fixture(scope="module")
def server(detector):
    with serving(create_app(detector, ServeSettings())) as base:
        yield base


def photo_page(p, server: str, image: Path):
    """A browser on the page with ``image`` uploaded and its faces listed: (browser, page)."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('model').textContent.length > 0")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#faces-table tbody tr", timeout=30000)
    return browser, page


def test_upload_a_photo_and_see_boxes(server, val_images, tmp_path):
    with sync_api.sync_playwright() as p:
        browser, page = photo_page(p, server, val_images[0])
        rows = page.locator("#faces-table tbody tr").count()
        assert rows > 0
        assert page.locator("#photo-canvas").is_visible()
        assert f"{rows} face(s)" in page.locator("#upload-status").inner_text()
        chips = page.locator("#upload-counts .chip").all_inner_texts()
        assert sum(int(c.split()[-1]) for c in chips) == rows
        # boxes were drawn: the canvas has the label colours somewhere
        pixels = page.evaluate("""() => { const c = document.getElementById('photo-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) if ((d[i] === 75 && d[i+1] === 180 && d[i+2] === 60) ||
              (d[i] === 230 && d[i+1] === 40 && d[i+2] === 40) || (d[i] === 255 && d[i+1] === 150 && d[i+2] === 0)) n++;
            return n; }""")
        assert pixels > 50
        page.screenshot(path=str(tmp_path / "upload.png"))
        page.set_input_files("#file", {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not an image"})
        page.wait_for_function("document.getElementById('upload-status').textContent.includes('Error 415')")
        browser.close()


def test_live_webcam_shows_detections(server, val_images, tmp_path):
    clip = write_y4m(val_images[:6], tmp_path / "cam.y4m")
    args = BROWSER_ARGS + [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    ]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page()
        page.goto(server + "/")
        page.click("#tab-live")
        page.click("#live-start")
        page.wait_for_function("Number(document.getElementById('live-overlay').dataset.faces || 0) > 0", timeout=30000)
        page.wait_for_function("parseFloat(document.getElementById('live-fps').textContent) > 0", timeout=10000)
        counts = page.locator("#live-counts .chip").all_inner_texts()
        assert sum(int(c.split()[-1]) for c in counts) > 0
        page.screenshot(path=str(tmp_path / "live.png"))
        page.click("#live-stop")
        assert page.locator("#live-status").inner_text() == "Stopped"
        browser.close()


def test_a_failed_upload_clears_the_previous_result(server, val_images):
    """Issue 10, item 24: the boxes, table and counts of the last photo are not left under a
    new error."""
    with sync_api.sync_playwright() as p:
        browser, page = photo_page(p, server, val_images[0])
        assert page.locator("#photo-canvas").is_visible()
        page.set_input_files("#file", {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not an image"})
        page.wait_for_function("document.getElementById('upload-status').textContent.includes('Error 415')")
        assert not page.locator("#photo-canvas").is_visible()
        assert not page.locator("#faces-table").is_visible()
        assert page.locator("#faces-table tbody tr").count() == 0
        assert page.locator("#upload-counts .chip").count() == 0
        browser.close()


def test_watch_tab_reports_an_unreachable_database(detector, val_images):
    """Issue 10, item 18: with its events database down the server still detects, and the
    Watch tab says what is wrong instead of the server not starting."""
    settings = ServeSettings(database="sqlite:////proc/maskwatch-nowhere/w.db")
    with serving(create_app(detector, settings)) as base, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(base + "/")
        page.wait_for_selector("#tab-watch:not([hidden])", timeout=15000)
        page.click("#tab-watch")
        page.wait_for_function(
            "document.getElementById('watch-compliance').textContent.includes('Error 503')", timeout=15000
        )
        assert "events database" in page.locator("#watch-compliance").inner_text()
        page.click("#tab-upload")
        page.set_input_files("#file", str(val_images[0]))
        page.wait_for_selector("#faces-table tbody tr", timeout=30000)
        browser.close()
