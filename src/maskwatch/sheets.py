"""Contact sheets: many small pictures on one PNG, each with a caption."""

from __future__ import annotations

import cv2
import numpy as np


def contact_sheet(
    tiles: list[np.ndarray], captions: list[str] | None = None, cols: int = 8, tile: int = 112
) -> np.ndarray:
    if not tiles:
        return np.full((tile, tile, 3), 255, np.uint8)
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * (tile + 16), cols * tile, 3), 255, np.uint8)
    for i, im in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (tile + 16), c * tile
        sheet[y : y + tile, x : x + tile] = cv2.resize(im, (tile, tile))
        if captions:
            cv2.putText(
                sheet,
                captions[i][:22],
                (x + 2, y + tile + 12),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.33,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
    return sheet
