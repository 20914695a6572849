"""Where the person is: what background mode keeps.

* Video from a static camera: the room is the per-pixel median of frames sampled across the
  clip; whatever differs from it (the moving body and hands) is the person.
* Stills, and frames where nothing moves: people found by OpenCV's HOG people detector and
  bodies reached from the faces found, refined by GrabCut.

The mask is dilated, so that a hand's edge is kept rather than cut. Where no person is found
the whole frame is background, and the frame is flagged for review.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from redaction.tracks import Box

WORK_SIDE = 320  # masks are computed at this long side, then scaled up
DIFFERENCE = 30  # grey levels from the room that count as the person
SAMPLES = 32  # frames sampled for the room


class Region(NamedTuple):
    reach: tuple[int, int, int, int]  # where a person may be
    core: tuple[int, int, int, int] | None  # where they surely are


class People:
    """Upright people, by the HOG descriptor that OpenCV builds in (no model file)."""

    def __init__(self) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector()))

    def find(self, rgb: np.ndarray, side: int = 400) -> list[Region]:
        scale = min(1.0, side / max(rgb.shape[:2]))
        small = cv2.resize(rgb, None, fx=scale, fy=scale) if scale < 1 else rgb
        if min(small.shape[:2]) < 128:
            return []
        rects, weights = self.hog.detectMultiScale(small, winStride=(8, 8), scale=1.08)
        return [
            Region(
                (int(x / scale), int(y / scale), int((x + w) / scale), int((y + h) / scale)), None
            )
            for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=True)
            if weight > 0.5
        ]


def bodies(faces: Iterable[Box], width: int, height: int) -> list[Region]:
    """Under each face, where its body can be (arms' reach to the sides, down to the bottom of
    the frame) and where it surely is (the face and the neck and chest below it)."""
    found = []
    for box in faces:
        w, h = box.x2 - box.x1, box.y2 - box.y1
        reach = (
            max(0, box.x1 - 3 * w // 2),
            max(0, box.y1 - h // 4),
            min(width, box.x2 + 3 * w // 2),
            height,
        )
        core = (box.x1, box.y1, box.x2, min(height, box.y2 + 2 * h))
        found.append(Region(reach, core))
    return found


def _work_scale(width: int, height: int) -> float:
    return min(1.0, WORK_SIDE / max(width, height))


def _dilate(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    size = max(3, round(0.03 * max(mask.shape[:2])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    grown = cv2.dilate(mask, kernel)
    return cv2.resize(grown, (width, height), interpolation=cv2.INTER_NEAREST)


def grabcut(rgb: np.ndarray, regions: Sequence[Region]) -> np.ndarray:
    """The person within these regions, at full size (uint8, 255 = person)."""
    height, width = rgb.shape[:2]
    scale = _work_scale(width, height)
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cut = np.full(small.shape[:2], cv2.GC_PR_BGD, np.uint8)
    for region in regions:
        for box, label in ((region.reach, cv2.GC_PR_FGD), (region.core, cv2.GC_FGD)):
            if box is not None:
                x1, y1, x2, y2 = (round(v * scale) for v in box)
                cut[y1:y2, x1:x2] = (
                    np.maximum(cut[y1:y2, x1:x2], label) if label == cv2.GC_PR_FGD else label
                )
    if not (cut == cv2.GC_PR_BGD).any():
        return np.full((height, width), 255, np.uint8)
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    cv2.grabCut(bgr, cut, (0, 0, 0, 0), background, foreground, 3, cv2.GC_INIT_WITH_MASK)
    mask = np.where((cut == cv2.GC_FGD) | (cut == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    return _dilate(mask, width, height)


class Room:
    """The static camera's empty room: the median of frames sampled across a clip."""

    def __init__(self, frames: Sequence[np.ndarray]) -> None:
        self.median = np.median(np.stack(frames), axis=0).astype(np.int16)

    @staticmethod
    def sample(rgb: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        scale = _work_scale(width, height)
        small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0)

    def person(self, rgb: np.ndarray) -> np.ndarray:
        """What differs from the room, cleaned and dilated, at full size."""
        height, width = rgb.shape[:2]
        diff = np.abs(self.sample(rgb).astype(np.int16) - self.median).max(axis=2)
        moved = np.where(diff > DIFFERENCE, 255, 0).astype(np.uint8)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        opened = cv2.morphologyEx(moved, cv2.MORPH_OPEN, kernel)
        closed = cv2.morphologyEx(opened, cv2.MORPH_CLOSE, kernel, iterations=2)
        return _dilate(np.asarray(closed, np.uint8), width, height)
