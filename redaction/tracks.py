"""Face tracks across video frames, so that no frame slips between detections.

Detections are joined into tracks by overlap with each track's predicted box. A frame's
boxes are only given once `delay` later frames have been seen, so that each track can
cover it from both sides:

* `detected`: the track was detected in this frame;
* `interpolated`: a gap of at most `max_gap` frames between two detections of the track,
  filled with the box moving linearly between them;
* `held`: up to `hold` frames before a track's first and after its last detection, the
  nearest detected box carried on at the track's velocity, growing with every frame away
  from it.

Every box is padded beyond the detector's face box (hair, ears, chin), more when it was not
detected in that frame.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

DETECTED, INTERPOLATED, HELD = "detected", "interpolated", "held"


@dataclass(frozen=True)
class Box:
    x1: int
    y1: int
    x2: int
    y2: int
    source: str
    track: int

    def row(self) -> list[object]:
        return [self.x1, self.y1, self.x2, self.y2, self.source]


@dataclass
class Track:
    id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)

    def add(self, index: int, box: np.ndarray) -> None:
        self.frames.append(index)
        self.boxes.append(box)

    def predict(self, index: int) -> np.ndarray:
        """The box carried on to another frame at the velocity of the two detections at that
        end of the track (the last two going forward, the first two going back)."""
        end = -1 if index > self.frames[0] else 0
        box = self.boxes[end]
        if len(self.frames) < 2:
            return box
        near = end - 1 if end == -1 else 1
        step = (box - self.boxes[near]) / (self.frames[end] - self.frames[near])
        return np.asarray(box + step * (index - self.frames[end]))

    def at(self, index: int, hold: int) -> tuple[np.ndarray, str, int, float] | None:
        """The track's box in a frame, how it was found, how many frames from a detection
        it is, and how far (pixels) the face may have strayed from it: the faster the face
        moved, the further."""
        first, last = self.frames[0], self.frames[-1]
        if index < first - hold or index > last + hold:
            return None
        if index < first or index > last:
            box, away = self.predict(index), max(first - index, index - last)
            end = self.boxes[-1] if index > last else self.boxes[0]
            return box, HELD, away, _shift(end, box) / 2
        at = bisect.bisect_left(self.frames, index)
        if self.frames[at] == index:
            return self.boxes[at], DETECTED, 0, 0.0
        before, after = self.frames[at - 1], self.frames[at]
        share = (index - before) / (after - before)
        box = self.boxes[at - 1] * (1 - share) + self.boxes[at] * share
        away = min(index - before, after - index)
        step = _shift(self.boxes[at - 1], self.boxes[at]) / (after - before)
        return box, INTERPOLATED, away, step * away / 2


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """How far a box's centre moved, in pixels."""
    return float(np.hypot((b[0] + b[2] - a[0] - a[2]) / 2, (b[1] + b[3] - a[1] - a[3]) / 2))


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Between the centres, in sizes of the larger box."""
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1])
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / size)


class Tracker:
    def __init__(
        self,
        width: int,
        height: int,
        max_gap: int,
        hold: int,
        pad: float = 0.25,
        growth: float = 0.04,
    ) -> None:
        self.width, self.height = width, height
        self.max_gap, self.hold = max_gap, hold
        self.pad, self.growth = pad, growth
        self.delay = max(max_gap, hold)
        self.live: list[Track] = []
        self.done: list[Track] = []
        self.count = 0

    def push(self, index: int, detections: np.ndarray) -> None:
        """Join one frame's detections (rows of x1, y1, x2, y2, score) to the tracks."""
        self.done += [t for t in self.live if index - t.frames[-1] > self.max_gap + 1]
        self.live = [t for t in self.live if index - t.frames[-1] <= self.max_gap + 1]
        boxes = [np.asarray(row[:4], np.float64) for row in detections]
        # A detection joins the track whose predicted box it overlaps most, or, failing
        # that, whose predicted centre is nearest: within a face's size, more the longer
        # the track went unseen (a blurred face moving fast is lost for several frames).
        pairs = sorted(
            (iou(p, b), -_distance(p, b), ti, bi)
            for ti, (track, p) in enumerate((t, t.predict(index)) for t in self.live)
            for bi, b in enumerate(boxes)
            if iou(p, b) > 0.1 or _distance(p, b) < 1 + 0.25 * (index - track.frames[-1] - 1)
        )[::-1]
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        for _, _, ti, bi in pairs:
            if ti not in used_tracks and bi not in used_boxes:
                self.live[ti].add(index, boxes[bi])
                used_tracks.add(ti)
                used_boxes.add(bi)
        for bi, box in enumerate(boxes):
            if bi not in used_boxes:
                self.count += 1
                track = Track(self.count)
                track.add(index, box)
                self.live.append(track)

    def boxes(self, index: int) -> list[Box]:
        """The padded boxes to redact in a frame; final once frame `index + delay` was pushed
        (or the stream ended)."""
        found: list[Box] = []
        for track in [*self.done, *self.live]:
            at = track.at(index, self.hold)
            if at is not None:
                found.append(self._pad(*at, track.id))
        self.done = [t for t in self.done if t.frames[-1] + self.hold >= index]
        return found

    def _pad(self, box: np.ndarray, source: str, distance: int, stray: float, track: int) -> Box:
        w, h = box[2] - box[0], box[3] - box[1]
        extra = self.pad + min(0.75, self.growth * distance)
        if source != DETECTED:
            extra += 0.1
        stray = min(stray, 1.5 * max(w, h))
        return Box(
            max(0, int(np.floor(box[0] - w * extra - stray))),
            max(0, int(np.floor(box[1] - h * extra - stray))),
            min(self.width, int(np.ceil(box[2] + w * extra + stray))),
            min(self.height, int(np.ceil(box[3] + h * extra + stray))),
            source,
            track,
        )
