"""The README's pictures: an annotated crowd photo (andrewmvd, CC0) and a screenshot of the
web page. Run after changing the model:  python scripts/make_docs_pictures.py"""

import threading
import time
from pathlib import Path

import cv2

from maskwatch import Detector
from maskwatch.defaults import OUTPUT_MIN_SCORE
from maskwatch.draw import annotate

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT.parent / "shared" / "datasets" / "andrewmvd-facemask" / "images" / "maksssksksss657.jpg"


def example() -> None:
    det = Detector(profile="accurate")
    image = cv2.imread(str(PHOTO))
    faces = det.detect(image).above(OUTPUT_MIN_SCORE)
    scale = 2  # the source photo is 400 px wide: draw on a 2x copy so labels stay readable
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    from dataclasses import replace

    scaled = replace(faces, xyxy=faces.xyxy * scale, landmarks=faces.landmarks * scale)
    cv2.imwrite(str(ROOT / "docs" / "example.jpg"), annotate(big, scaled), [cv2.IMWRITE_JPEG_QUALITY, 85])


def page() -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from maskwatch.serve.app import create_app
    from maskwatch.settings import ServeSettings

    server = uvicorn.Server(
        uvicorn.Config(create_app(Detector(), ServeSettings()), host="127.0.0.1", port=8799, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        tab = browser.new_page(viewport={"width": 1000, "height": 760})
        tab.goto("http://127.0.0.1:8799/")
        tab.set_input_files("#file", str(PHOTO))
        tab.wait_for_selector("#faces-table tbody tr")
        tab.screenshot(path=str(ROOT / "docs" / "web-page.png"))
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    example()
    page()
    print("wrote docs/example.jpg and docs/web-page.png")
