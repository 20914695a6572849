"""Test media made from scikit-image's astronaut: a still, and a video of her face moving
over a background, with its true face box in every frame."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data

# The face within the crop below (x1, y1, x2, y2), found by eye and by the detector.
_CROP = (slice(40, 200), slice(160, 290))
_FACE = np.array([21, 18, 109, 137], float)


def astronaut_png(path: Path) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return path


ASTRONAUT_FACE = (181, 58, 269, 177)  # in the 512 x 512 still


def face_video(
    path: Path,
    frames: int = 30,
    size: tuple[int, int] = (320, 240),
    scale: float = 0.6,
    hidden: frozenset[int] = frozenset(),
    fps: int = 30,
) -> list[tuple[int, int, int, int]]:
    """Write an H.264 video of the face moving right; in `hidden` frames a hand-coloured
    block covers it, so no detector can see it there. The true face box of each frame."""
    width, height = size
    patch = cv2.resize(data.astronaut()[_CROP], None, fx=scale, fy=scale)
    ph, pw = patch.shape[:2]
    background = cv2.resize(data.coffee(), size)
    truth = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for n in range(frames):
            x = int(10 + (width - pw - 20) * n / max(1, frames - 1))
            y = (height - ph) // 2
            frame = background.copy()
            frame[y : y + ph, x : x + pw] = patch
            box = (_FACE * scale + [x, y, x, y]).round().astype(int)
            if n in hidden:
                frame[box[1] - 5 : box[3] + 5, box[0] - 5 : box[2] + 5] = (205, 150, 125)
            truth.append((int(box[0]), int(box[1]), int(box[2]), int(box[3])))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return truth


def video_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def covered(rgb: np.ndarray, box: tuple[int, int, int, int], colour: int = 0) -> float:
    """Share of the box's pixels that are the solid fill (within codec noise)."""
    x1, y1, x2, y2 = box
    region = rgb[y1:y2, x1:x2].astype(int)
    return float((np.abs(region - colour).max(axis=2) <= 24).mean())
