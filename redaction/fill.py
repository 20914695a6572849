"""What replaces a face or the background. A light blur can be undone by face recognition, so
the choices are a solid fill (the default) or coarse pixelation, blurred over: a face becomes
at most `FACE_BLOCKS` blocks across, the background at most `BACKGROUND_BLOCKS`."""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from redaction.tracks import Box

FILLS = ("solid", "pixelate")
FACE_COLOUR = (0, 0, 0)
BACKGROUND_COLOUR = (128, 128, 128)
FACE_BLOCKS = 6
BACKGROUND_BLOCKS = 16


def _pixelate(region: np.ndarray, blocks: int) -> np.ndarray:
    h, w = region.shape[:2]
    scale = blocks / max(h, w)
    small = cv2.resize(
        region,
        (max(1, round(w * scale)), max(1, round(h * scale))),
        interpolation=cv2.INTER_AREA,
    )
    coarse = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    kernel = max(3, (max(h, w) // blocks) | 1)
    return cv2.GaussianBlur(coarse, (kernel, kernel), 0)


def faces(rgb: np.ndarray, boxes: Iterable[Box], fill: str) -> None:
    """Cover each box, in place."""
    for box in boxes:
        if box.x2 <= box.x1 or box.y2 <= box.y1:
            continue
        region = rgb[box.y1 : box.y2, box.x1 : box.x2]
        if fill == "solid":
            region[:] = FACE_COLOUR
        else:
            region[:] = _pixelate(region, FACE_BLOCKS)


def background(rgb: np.ndarray, keep: np.ndarray, fill: str) -> None:
    """Replace everything outside the `keep` mask (uint8, 255 = person), in place."""
    outside = keep == 0
    if fill == "solid":
        rgb[outside] = BACKGROUND_COLOUR
    else:
        rgb[outside] = _pixelate(rgb, BACKGROUND_BLOCKS)[outside]
