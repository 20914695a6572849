"""Redact a still or a video file into a new file, and describe exactly what was done.

Modes: `faces` covers every face; `background` also replaces everything but the person
(body and hands) — faces, the worker's and anyone else's, are covered in both. The output is
written beside its final name and moved there only when complete, so a failure leaves
nothing half-written. The audit record (`AUDIT_TYPE`) lists the input's and output's
SHA-256, the tools and the model (with its file's hash), the parameters, every frame's boxes
with their source, the frames flagged for human review, and the timing. It holds no pixels.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from itertools import chain
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from redaction import fill
from redaction.faces import FaceDetector, model
from redaction.media import (
    IMAGE_FORMATS,
    VIDEO_SUFFIXES,
    BadMedia,
    Probe,
    VideoWriter,
    probe,
    read_image,
    read_video,
    write_image,
)
from redaction.person import SAMPLES, People, Region, Room, bodies, grabcut
from redaction.tracks import DETECTED, HELD, INTERPOLATED, Box, Tracker

AUDIT_TYPE = "custody.redaction.audit/v1"
MODES = ("faces", "background")
BUFFER_BYTES = 512 * 1024**2  # at most this much video is held in memory at once
KEEP_AT_LEAST = 0.002  # a person mask smaller than this share of the frame is no person


@dataclass(frozen=True)
class Options:
    mode: str = "faces"
    fill: str = "solid"
    threshold: float = 0.2  # CenterFace heatmap score for a face
    long_side: int = 640  # video frames are searched at this size
    pad: float = 0.25  # share of a face box's size added on each side
    gap_seconds: float = 1.0  # longest gap between detections filled in by interpolation
    hold_seconds: float = 0.5  # how long a box stays before a track starts and after it ends
    review_every: int = 10  # video frames between checks for a person with no face covered

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.fill not in fill.FILLS:
            raise ValueError(f"fill must be one of {', '.join(fill.FILLS)}")
        if not 0.05 <= self.threshold <= 0.95:
            raise ValueError("threshold must be between 0.05 and 0.95")


@dataclass
class _Record:
    """What the audit record collects while frames go by."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    review: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {DETECTED: 0, INTERPOLATED: 0, HELD: 0})
    tracks: set[int] = field(default_factory=set)

    def frame(self, index: int, boxes: list[Box], flags: list[str]) -> None:
        self.frames.append({"index": index, "boxes": [b.row() for b in boxes]})
        for box in boxes:
            self.counts[box.source] += 1
            self.tracks.add(box.track)
        self.review += [{"frame": index, "reason": reason} for reason in flags]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def output_suffix(info: Probe) -> str:
    """The suffix a redacted copy of this input is written with."""
    return IMAGE_FORMATS[info.format] if info.kind == "image" else ".mp4"


def redact_path(
    src: Path,
    dst: Path,
    options: Options | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Redact `src` into `dst` and return the audit record. BadMedia when the input cannot
    be redacted; `progress` is called with the frame count as frames go by."""
    options = options or Options()
    started, clock = datetime.now(UTC), time.perf_counter()
    info = probe(src)
    suffixes = (".jpg", ".jpeg", ".png") if info.kind == "image" else tuple(VIDEO_SUFFIXES)
    if dst.suffix.lower() not in suffixes:
        raise BadMedia(f"a redacted {info.kind} is written as {', '.join(suffixes)}")
    partial = dst.with_name(f".{dst.name}.part{dst.suffix}")
    record = _Record()
    try:
        if info.kind == "image":
            _still(src, partial, options, record)
        else:
            _video(src, partial, info, options, record, progress or (lambda _: None))
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
    seconds = time.perf_counter() - clock
    out = probe(dst)
    return {
        "type": AUDIT_TYPE,
        "input": _describe(src, info),
        "output": {**_describe(dst, out), "codec": "h264" if out.kind == "video" else None},
        "tools": _tools(),
        "model": {
            "name": model().name,
            "file": model().path.name,
            "sha256": model().sha256,
            "package": f"{model().package} {model().package_version}",
        },
        "parameters": asdict(options),
        "frames_total": len(record.frames),
        "frames": record.frames,
        "review": record.review,
        "summary": {
            "boxes": record.counts,
            "tracks": len(record.tracks),
            "frames_with_faces": sum(1 for f in record.frames if f["boxes"]),
            "frames_flagged": len({r["frame"] for r in record.review}),
        },
        "timing": {
            "started_at": started.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "seconds": round(seconds, 3),
            "fps": round(len(record.frames) / seconds, 2) if seconds else None,
        },
    }


def _describe(path: Path, info: Probe) -> dict[str, Any]:
    return {
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
        "kind": info.kind,
        "format": info.format,
        "width": info.width,
        "height": info.height,
        "fps": str(info.fps) if info.fps else None,
        "frames": info.frames,
    }


def _tools() -> dict[str, str]:
    return {
        "custody": metadata.version("custody"),
        "opencv": cv2.__version__,
        "pyav": av.__version__,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "encoder": "libx264",
        "numpy": np.__version__,
    }


def _uncovered_people(people: list[Region], boxes: list[Box]) -> bool:
    """A person whose head (the top third of them) no face box touches."""
    for (x1, y1, x2, y2), _ in people:
        head = y1 + (y2 - y1) // 3
        if not any(b.x1 < x2 and b.x2 > x1 and b.y1 < head and b.y2 > y1 for b in boxes):
            return True
    return False


def _keep(
    rgb: np.ndarray, mask: np.ndarray | None, boxes: list[Box], people: list[Region]
) -> np.ndarray:
    """The person mask: from the room model when there is one and it found someone, else
    from the people and faces seen."""
    height, width = rgb.shape[:2]
    if mask is not None and mask.mean() / 255 >= KEEP_AT_LEAST:
        return mask
    regions = [*people, *bodies(boxes, width, height)]
    return grabcut(rgb, regions) if regions else np.zeros((height, width), np.uint8)


def _redact_frame(
    rgb: np.ndarray,
    boxes: list[Box],
    options: Options,
    people: list[Region] | None,
    room: Room | None = None,
) -> list[str]:
    """Fill one frame in place; the reasons it needs a person's review."""
    flags = []
    if people is not None and _uncovered_people(people, boxes):
        flags.append("person_without_face")
    if options.mode == "background":
        keep = _keep(rgb, room.person(rgb) if room else None, boxes, people or [])
        if keep.mean() / 255 < KEEP_AT_LEAST:
            flags.append("no_person_found")
        fill.background(rgb, keep, options.fill)
    fill.faces(rgb, boxes, options.fill)
    return flags


def _still(src: Path, dst: Path, options: Options, record: _Record) -> None:
    rgb = read_image(src)
    height, width = rgb.shape[:2]
    tracker = Tracker(width, height, max_gap=0, hold=0, pad=options.pad)
    tracker.push(0, FaceDetector(options.threshold).detect_still(rgb))
    boxes = tracker.boxes(0)
    flags = _redact_frame(rgb, boxes, options, People().find(rgb))
    write_image(rgb, dst)
    record.frame(0, boxes, flags)


def _room(src: Path, info: Probe) -> Room:
    """The room from frames sampled evenly across the clip (a first pass)."""
    step = max(1, (info.frames or SAMPLES) // SAMPLES)
    samples = [Room.sample(rgb) for n, rgb in enumerate(read_video(src, info)) if n % step == 0]
    return Room(samples)


def _video(
    src: Path,
    dst: Path,
    info: Probe,
    options: Options,
    record: _Record,
    progress: Callable[[int], None],
) -> None:
    assert info.fps is not None
    room = _room(src, info) if options.mode == "background" else None
    detector, people = FaceDetector(options.threshold, options.long_side), People()
    frames: Iterator[np.ndarray] = read_video(src, info)
    first = next(frames)
    height, width = first.shape[:2]
    held = max(1, BUFFER_BYTES // first.nbytes)  # frames waiting for the tracks' look-ahead
    tracker = Tracker(
        width,
        height,
        max_gap=min(held, max(1, round(float(info.fps) * options.gap_seconds))),
        hold=min(held, max(1, round(float(info.fps) * options.hold_seconds))),
        pad=options.pad,
    )
    writer = VideoWriter(dst, width, height, info.fps)
    waiting: deque[tuple[int, np.ndarray]] = deque()

    def emit(index: int, rgb: np.ndarray) -> None:
        boxes = tracker.boxes(index)
        seen = people.find(rgb) if index % options.review_every == 0 else None
        record.frame(index, boxes, _redact_frame(rgb, boxes, options, seen, room))
        writer.write(rgb)

    try:
        for index, rgb in enumerate(chain([first], frames)):
            tracker.push(index, detector.detect(rgb))
            waiting.append((index, rgb))
            while waiting[0][0] <= index - tracker.delay:
                emit(*waiting.popleft())
            if index % 25 == 0:
                progress(index)
        while waiting:
            emit(*waiting.popleft())
        writer.close()
    except BaseException:
        writer.abort()
        raise
