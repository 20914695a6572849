"""Evaluation set for face redaction, built from images that installed packages ship.

Build (or check) the cache from the repository root:

    .venv/bin/python -m bench.redaction_data [--cache bench/.data] [--force]

Three parts, written into the cache folder and reused while the truth file and this generator
are unchanged (a stamp in `manifest.json` says which):

* stills with faces: images from scikit-image, matplotlib and Debian's opencv-doc, with the
  face boxes listed in bench/redaction_truth.json (checked by eye), saved as RGB PNG;
* face-free stills from the same packages (false-positive area), saved as RGB PNG;
* two synthetic videos, 640x480 and 1280x720, 30 fps, 300 frames, H.264 (libx264, yuv420p,
  crf 18): faces cut from the stills, warped onto face-free backgrounds with motion, scale
  changes, in-plane tilt up to 35 degrees, motion blur on fast frames, skin-coloured "hands"
  passing over faces, low-light segments, up to three faces at once, entering and leaving
  the frame. A JSON beside each video holds every face's box per frame.

Nothing is downloaded: scikit-image and matplotlib come from pip, opencv-doc from apt
(`apt-get install opencv-doc`). The generator is deterministic (fixed seeds).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRUTH_FILE = ROOT / "bench" / "redaction_truth.json"
DEFAULT_CACHE = ROOT / "bench" / ".data"
OPENCV_DOC = Path("/usr/share/doc/opencv-doc")
GENERATOR = 1  # bump when the synthetic scenes change, so caches rebuild

FPS = 30
FRAMES = 300
CRF = 18
MIN_VISIBLE = 0.3  # a face counts in a frame while this share of it is in view, unoccluded
SPRITE_FACES = (
    ("astronaut", 0),
    ("grace_hopper", 0),
    ("camera", 0),
    ("messi5", 0),
    ("left06", 0),
    ("right06", 0),
    ("basketball1", 0),
)
SKIN = ((224, 172, 140), (198, 134, 96), (141, 85, 54), (236, 188, 160), (170, 110, 75))

Box = tuple[int, int, int, int]
Quad = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class VideoSpec:
    name: str
    width: int
    height: int
    seed: int
    background: str  # name of a negative still


VIDEOS = (
    VideoSpec("synthetic-640x480", 640, 480, seed=480, background="leuvenA"),
    VideoSpec("synthetic-1280x720", 1280, 720, seed=720, background="building"),
)


@dataclass(frozen=True)
class Still:
    name: str
    path: Path
    source: str
    faces: tuple[Box, ...] = ()
    poses: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaceTruth:
    id: int
    box: Box  # axis-aligned box of the transformed face box, clipped to the frame
    quad: Quad  # the transformed face box corners (unclipped)
    visible: float  # share of the face inside the frame and not covered by anything
    inside: float  # share of the face inside the frame
    occluded: float  # share of the face covered by a hand or a face drawn over it
    blur: float  # motion blur length in pixels
    tilt: float  # degrees
    height: float  # face box height in pixels
    low_light: float  # 0 = normal light, 1 = darkest


@dataclass(frozen=True)
class Video:
    name: str
    path: Path
    truth_path: Path
    width: int
    height: int
    fps: int
    frames: tuple[tuple[FaceTruth, ...], ...]


@dataclass(frozen=True)
class Dataset:
    stills: tuple[Still, ...]
    negatives: tuple[Still, ...]
    videos: tuple[Video, ...]


# --- sources ----------------------------------------------------------------------------


def package_path(package: str, rel: str) -> Path:
    """Where an installed package keeps a data file."""
    if package == "scikit-image":
        import skimage.data

        path = Path(skimage.data.data_dir) / rel
    elif package == "matplotlib":
        import matplotlib.cbook

        path = Path(matplotlib.cbook.get_sample_data(rel, asfileobj=False))
    elif package == "opencv-doc":
        path = OPENCV_DOC / rel
    else:
        raise ValueError(f"unknown package {package!r}")
    if not path.is_file():
        hint = "apt-get install opencv-doc" if package == "opencv-doc" else f"pip install {package}"
        raise FileNotFoundError(f"{path} is missing: {hint}")
    return path


def load_rgb(path: Path) -> np.ndarray:
    """An image as 8-bit RGB; grey is repeated, transparency is laid over white."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f"cannot read {path}")
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(1.0, float(img.max())))
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:].astype(np.float32) / 255.0
        img = (img[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)


def save_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")


def read_truth() -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(TRUTH_FILE.read_text())
    return truth


def _still(entry: dict[str, Any], folder: Path) -> Still:
    faces = entry.get("faces", [])
    return Still(
        name=entry["name"],
        path=folder / f"{entry['name']}.png",
        source=f"{entry['package']}:{entry['path']}",
        faces=tuple((f["box"][0], f["box"][1], f["box"][2], f["box"][3]) for f in faces),
        poses=tuple(f.get("pose", "") for f in faces),
    )


def video_frames(path: Path) -> Iterator[np.ndarray]:
    """Decoded RGB frames of a video, in order."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


# --- synthetic scenes -------------------------------------------------------------------


@dataclass(frozen=True)
class Sprite:
    name: str
    premult: np.ndarray  # float32 RGB multiplied by alpha
    alpha: np.ndarray  # float32, 0..1
    face: tuple[float, float, float, float]  # face box in sprite pixels


@dataclass(frozen=True)
class Hand:
    start: int
    end: int
    direction: int  # +1 sweeps left to right, -1 right to left
    dy: float  # vertical offset from the face centre, in face heights
    radii: tuple[float, float]  # in face heights
    color: tuple[int, int, int]
    rounded: bool  # rounded rectangle instead of an ellipse


@dataclass(frozen=True)
class Track:
    face_id: int
    sprite: int
    start: int
    end: int  # exclusive
    p0: tuple[float, float]  # face centre at the first frame
    p1: tuple[float, float]  # face centre at the last frame
    h0: float  # face box height at the first frame
    h1: float
    tilt: float  # amplitude, degrees
    period: float  # frames
    phase: float
    bob: float  # vertical wobble, pixels
    hands: tuple[Hand, ...] = field(default=())

    def pose(self, t: float) -> tuple[float, float, float, float]:
        """Face centre x, y, face height and tilt at frame t."""
        u = (t - self.start) / max(1, self.end - 1 - self.start)
        x = self.p0[0] + (self.p1[0] - self.p0[0]) * u
        y = self.p0[1] + (self.p1[1] - self.p0[1]) * u + self.bob * math.sin(4 * math.pi * u)
        h = self.h0 * (self.h1 / self.h0) ** u
        angle = self.tilt * math.sin(2 * math.pi * t / self.period + self.phase)
        return x, y, h, angle


def cut_sprite(name: str, rgb: np.ndarray, box: Box) -> Sprite:
    """The face with hair and neck around it, under a feathered elliptical mask."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx1, cy1 = max(0, int(x1 - 0.6 * w)), max(0, int(y1 - 0.6 * h))
    cx2, cy2 = min(rgb.shape[1], int(x2 + 0.6 * w)), min(rgb.shape[0], int(y2 + 0.6 * h))
    crop = rgb[cy1:cy2, cx1:cx2].astype(np.float32)
    yy, xx = np.mgrid[cy1:cy2, cx1:cx2].astype(np.float32)
    fx, fy = (x1 + x2) / 2, (y1 + y2) / 2
    d = np.sqrt(((xx + 0.5 - fx) / w) ** 2 + ((yy + 0.5 - fy) / (0.95 * h)) ** 2)
    alpha = np.clip((1.0 - d) / 0.25, 0.0, 1.0)
    face = (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)
    return Sprite(name, crop * alpha[:, :, None], alpha, face)


def load_sprites(stills: dict[str, Still]) -> list[Sprite]:
    sprites = []
    for name, index in SPRITE_FACES:
        still = stills[name]
        sprites.append(cut_sprite(f"{name}#{index}", load_rgb(still.path), still.faces[index]))
    return sprites


def plan_tracks(spec: VideoSpec, rng: np.random.Generator, n_sprites: int) -> list[Track]:
    """Three lanes of consecutive tracks, so two or three faces are often on screen."""
    tracks: list[Track] = []
    for lane in range(3):
        t = 0 if lane == 0 else int(rng.integers(10, 60))
        while t < FRAMES - 30:
            track = _track(spec, rng, lane, t, len(tracks), n_sprites)
            tracks.append(track)
            t = track.end + int(rng.integers(0, 25 if lane < 2 else 60))
    return tracks


def _track(
    spec: VideoSpec, rng: np.random.Generator, lane: int, start: int, face_id: int, n: int
) -> Track:
    w, h, unit = spec.width, spec.height, spec.height / 480
    kind = str(rng.choice(["cross", "enter", "leave", "drift", "approach", "fast"]))
    size0 = float(rng.uniform(45, 150)) * unit
    size1 = size0 * float(rng.uniform(0.7, 1.4))
    band = h * (0.3 + 0.2 * lane) + float(rng.uniform(-0.08, 0.08)) * h
    inside = (float(rng.uniform(0.2, 0.8)) * w, band)
    duration = int(rng.integers(70, 130))
    if kind == "approach":
        size0, size1 = 40 * unit, float(rng.uniform(150, 200)) * unit
        p0, p1 = inside, (inside[0] + float(rng.uniform(-0.15, 0.15)) * w, band)
    elif kind == "drift":
        p0, p1 = inside, (inside[0] + float(rng.uniform(-0.25, 0.25)) * w, band)
    else:
        side = 1 if rng.random() < 0.5 else -1
        out_l, out_r = (-0.3 * size0, band), (w + 0.3 * size1, band)
        left, right = (out_l, out_r) if side > 0 else (out_r, out_l)
        p0, p1 = {
            "cross": (left, right),
            "fast": (left, right),
            "enter": (left, inside),
            "leave": (inside, right),
        }[kind]
        if kind == "fast":
            duration = int(rng.integers(25, 40))
    end = min(FRAMES, start + duration)
    track = Track(
        face_id=face_id,
        sprite=face_id % n,
        start=start,
        end=end,
        p0=p0,
        p1=(p1[0], p1[1] + float(rng.uniform(-0.1, 0.1)) * h),
        h0=size0,
        h1=size1,
        tilt=float(rng.uniform(0, 35)),
        period=float(rng.uniform(40, 120)),
        phase=float(rng.uniform(0, 2 * math.pi)),
        bob=float(rng.uniform(0, 0.04)) * h,
    )
    return _with_hands(track, rng)


def _with_hands(track: Track, rng: np.random.Generator) -> Track:
    span = track.end - track.start
    if span < 50 or rng.random() < 0.4:
        return track
    length = int(rng.integers(20, 40))
    start = track.start + int(rng.integers(5, span - length))
    hand = Hand(
        start=start,
        end=start + length,
        direction=1 if rng.random() < 0.5 else -1,
        dy=float(rng.uniform(0.0, 0.35)),
        radii=(float(rng.uniform(0.28, 0.4)), float(rng.uniform(0.35, 0.5))),
        color=SKIN[int(rng.integers(0, len(SKIN)))],
        rounded=bool(rng.random() < 0.5),
    )
    return replace(track, hands=(hand,))


def low_light_plan(rng: np.random.Generator) -> list[tuple[int, int]]:
    first = int(rng.integers(60, 100))
    second = int(rng.integers(190, 230))
    return [(first, first + 45), (second, second + 40)]


def low_light_level(t: int, segments: Sequence[tuple[int, int]], ramp: int = 8) -> float:
    level = 0.0
    for a, b in segments:
        if a <= t < b:
            level = max(level, min(1.0, (t - a + 1) / ramp, (b - t) / ramp))
    return level


def face_matrix(sprite: Sprite, pose: tuple[float, float, float, float]) -> np.ndarray:
    """Affine map from sprite pixels to frame pixels for a pose."""
    x, y, height, angle = pose
    fx1, fy1, fx2, fy2 = sprite.face
    centre = ((fx1 + fx2) / 2, (fy1 + fy2) / 2)
    m = cv2.getRotationMatrix2D(centre, angle, height / (fy2 - fy1))
    m[:, 2] += np.array([x - centre[0], y - centre[1]])
    return m


def transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:, :2].T + m[:, 2]


def blur_kernel(dx: float, dy: float) -> np.ndarray | None:
    """Line kernel along the motion of one frame (shutter open 90% of the frame)."""
    length = 0.9 * math.hypot(dx, dy)
    if length < 3:
        return None
    size = math.ceil(length) | 1
    kernel = np.zeros((size, size), np.float32)
    c, ux, uy = size // 2, dx / math.hypot(dx, dy), dy / math.hypot(dx, dy)
    half = length / 2
    p0 = (round(c - ux * half), round(c - uy * half))
    p1 = (round(c + ux * half), round(c + uy * half))
    cv2.line(kernel, p0, p1, 1.0, 1, cv2.LINE_AA)
    return kernel / kernel.sum()


@dataclass
class Layer:
    face_id: int
    quad: np.ndarray  # 4x2 float
    cover: np.ndarray  # full-frame bool: where this layer hides what is below
    blur: float
    tilt: float
    height: float


def draw_sprite(
    frame: np.ndarray, sprite: Sprite, m: np.ndarray, kernel: np.ndarray | None
) -> np.ndarray:
    """Composite the warped sprite into frame (float32, in place); returns its cover mask."""
    hgt, wid = frame.shape[:2]
    sh, sw = sprite.alpha.shape
    corners = transform(m, np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float64))
    pad = 0 if kernel is None else kernel.shape[0]
    x0 = max(0, math.floor(corners[:, 0].min()) - pad)
    y0 = max(0, math.floor(corners[:, 1].min()) - pad)
    x1 = min(wid, math.ceil(corners[:, 0].max()) + pad)
    y1 = min(hgt, math.ceil(corners[:, 1].max()) + pad)
    cover = np.zeros((hgt, wid), bool)
    if x1 <= x0 or y1 <= y0:
        return cover
    local = m.copy()
    local[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    premult = cv2.warpAffine(sprite.premult, local, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(sprite.alpha, local, size, flags=cv2.INTER_LINEAR)
    if kernel is not None:
        premult = cv2.filter2D(premult, -1, kernel)
        alpha = cv2.filter2D(alpha, -1, kernel)
    roi = frame[y0:y1, x0:x1]
    roi *= 1.0 - alpha[:, :, None]
    roi += premult
    cover[y0:y1, x0:x1] = alpha > 0.5
    return cover


def draw_hand(
    frame: np.ndarray, hand: Hand, t: int, pose: tuple[float, float, float, float]
) -> np.ndarray:
    """A skin-coloured blob sweeping across the face; returns its cover mask."""
    x, y, height, _ = pose
    u = (t - hand.start) / max(1, hand.end - 1 - hand.start)
    cx = x + hand.direction * (u - 0.5) * 2.4 * height
    cy = y + hand.dy * height
    rx, ry = hand.radii[0] * height, hand.radii[1] * height
    mask = np.zeros(frame.shape[:2], np.uint8)
    centre = (round(cx), round(cy))
    if hand.rounded:
        r = max(1, round(0.5 * rx))
        p0 = (round(cx - rx + r), round(cy - ry + r))
        p1 = (round(cx + rx - r), round(cy + ry - r))
        cv2.rectangle(mask, p0, p1, 255, -1)
        cv2.rectangle(mask, (p0[0] - r, p0[1]), (p1[0] + r, p1[1]), 255, -1)
        cv2.rectangle(mask, (p0[0], p0[1] - r), (p1[0], p1[1] + r), 255, -1)
        for corner in (p0, p1, (p0[0], p1[1]), (p1[0], p0[1])):
            cv2.circle(mask, corner, r, 255, -1, cv2.LINE_AA)
    else:
        cv2.ellipse(mask, centre, (round(rx), round(ry)), 15.0, 0, 360, 255, -1, cv2.LINE_AA)
    alpha = cv2.GaussianBlur(mask, (5, 5), 0).astype(np.float32) / 255.0
    shade = np.linspace(1.08, 0.85, frame.shape[0], dtype=np.float32)[:, None, None]
    colour = np.array(hand.color, np.float32)[None, None, :] * shade
    frame *= 1.0 - alpha[:, :, None]
    frame += colour * alpha[:, :, None]
    return alpha > 0.5


class Backdrop:
    """A face-free still, enlarged, with a slow camera pan across it."""

    def __init__(self, rgb: np.ndarray, width: int, height: int, seed: int) -> None:
        scale = 1.2 * max(width / rgb.shape[1], height / rgb.shape[0])
        size = (math.ceil(rgb.shape[1] * scale), math.ceil(rgb.shape[0] * scale))
        self.image = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
        self.width, self.height = width, height
        self.slack = (size[0] - width, size[1] - height)
        self.phase = seed % 7

    def frame(self, t: int) -> np.ndarray:
        ox = self.slack[0] * (0.5 + 0.5 * math.sin(2 * math.pi * t / 400 + self.phase))
        oy = self.slack[1] * (0.5 + 0.5 * math.sin(2 * math.pi * t / 260 + self.phase))
        m = np.float32([[1, 0, -ox], [0, 1, -oy]])
        return cv2.warpAffine(self.image, m, (self.width, self.height), flags=cv2.INTER_LINEAR)


def darken(frame: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Low light: less gain, more contrast in the shadows, sensor noise."""
    if level <= 0:
        return frame
    gain, gamma, sigma = 1.0 - 0.65 * level, 1.0 + 0.6 * level, 7.0 * level
    out = 255.0 * gain * (np.clip(frame, 0, 255) / 255.0) ** gamma
    return out + rng.normal(0.0, sigma, out.shape).astype(np.float32)


def quad_area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def face_truth(layer: Layer, covered: np.ndarray, level: float) -> FaceTruth | None:
    """Ground truth for one face given what was drawn over it; None when hardly visible."""
    hgt, wid = covered.shape
    mask = np.zeros((hgt, wid), np.uint8)
    cv2.fillPoly(mask, [np.round(layer.quad * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    area = quad_area(layer.quad)
    shown = mask.astype(bool)
    inside = float(shown.sum()) / area
    visible = float((shown & ~covered).sum()) / area
    if visible < MIN_VISIBLE:
        return None
    occluded = float((shown & covered).sum()) / max(1.0, float(shown.sum()))
    x1 = max(0, math.floor(layer.quad[:, 0].min()))
    y1 = max(0, math.floor(layer.quad[:, 1].min()))
    x2 = min(wid, math.ceil(layer.quad[:, 0].max()))
    y2 = min(hgt, math.ceil(layer.quad[:, 1].max()))
    return FaceTruth(
        id=layer.face_id,
        box=(x1, y1, x2, y2),
        quad=tuple((round(float(px), 2), round(float(py), 2)) for px, py in layer.quad),
        visible=round(min(1.0, visible), 4),
        inside=round(min(1.0, inside), 4),
        occluded=round(occluded, 4),
        blur=round(layer.blur, 2),
        tilt=round(layer.tilt, 2),
        height=round(layer.height, 2),
        low_light=round(level, 3),
    )


class Scene:
    """Renders the frames of one synthetic video and the truth for each."""

    def __init__(self, spec: VideoSpec, sprites: list[Sprite], background: np.ndarray) -> None:
        rng = np.random.default_rng(spec.seed)
        self.spec = spec
        self.sprites = sprites
        self.tracks = plan_tracks(spec, rng, len(sprites))
        self.dark = low_light_plan(rng)
        self.backdrop = Backdrop(background, spec.width, spec.height, spec.seed)

    def render(self, t: int) -> tuple[np.ndarray, tuple[FaceTruth, ...]]:
        frame = self.backdrop.frame(t)
        layers = [self._draw_track(frame, track, t) for track in self._active(t)]
        hands = self._draw_hands(frame, t)
        level = low_light_level(t, self.dark)
        frame = darken(frame, level, np.random.default_rng(self.spec.seed * 1000 + t))
        truths = []
        for i, layer in enumerate(layers):
            covered = hands.copy()
            for later in layers[i + 1 :]:
                covered |= later.cover
            truth = face_truth(layer, covered, level)
            if truth is not None:
                truths.append(truth)
        return np.clip(frame, 0, 255).round().astype(np.uint8), tuple(truths)

    def _active(self, t: int) -> list[Track]:
        return [track for track in self.tracks if track.start <= t < track.end]

    def _draw_track(self, frame: np.ndarray, track: Track, t: int) -> Layer:
        sprite = self.sprites[track.sprite]
        pose, before = track.pose(t), track.pose(t - 1)
        m = face_matrix(sprite, pose)
        dx, dy = pose[0] - before[0], pose[1] - before[1]
        kernel = blur_kernel(dx, dy)
        cover = draw_sprite(frame, sprite, m, kernel)
        fx1, fy1, fx2, fy2 = sprite.face
        quad = transform(m, np.array([[fx1, fy1], [fx2, fy1], [fx2, fy2], [fx1, fy2]], float))
        blur = 0.0 if kernel is None else 0.9 * math.hypot(dx, dy)
        return Layer(track.face_id, quad, cover, blur, pose[3], pose[2])

    def _draw_hands(self, frame: np.ndarray, t: int) -> np.ndarray:
        cover = np.zeros(frame.shape[:2], bool)
        for track in self._active(t):
            for hand in track.hands:
                if hand.start <= t < hand.end:
                    cover |= draw_hand(frame, hand, t, track.pose(t))
        return cover

    def faces(self) -> dict[str, Any]:
        return {
            str(tr.face_id): {
                "sprite": self.sprites[tr.sprite].name,
                "frames": [tr.start, tr.end],
                "hands": [[h.start, h.end] for h in tr.hands],
            }
            for tr in self.tracks
        }


def write_video(spec: VideoSpec, scene: Scene, path: Path) -> list[tuple[FaceTruth, ...]]:
    """Encode the scene frame by frame (H.264, yuv420p) and return the truth per frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    truth: list[tuple[FaceTruth, ...]] = []
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = spec.width, spec.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(CRF), "preset": "medium"}
        for t in range(FRAMES):
            rgb, faces = scene.render(t)
            truth.append(faces)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return truth


def truth_json(spec: VideoSpec, scene: Scene, truth: list[tuple[FaceTruth, ...]]) -> dict[str, Any]:
    return {
        "video": f"{spec.name}.mp4",
        "width": spec.width,
        "height": spec.height,
        "fps": FPS,
        "frames_total": FRAMES,
        "seed": spec.seed,
        "background": spec.background,
        "min_visible": MIN_VISIBLE,
        "low_light": scene.dark,
        "faces": scene.faces(),
        "frames": [[asdict(f) for f in faces] for faces in truth],
    }


def load_video(spec: VideoSpec, folder: Path) -> Video:
    truth_path = folder / f"{spec.name}.json"
    data = json.loads(truth_path.read_text())
    frames = tuple(
        tuple(
            FaceTruth(**{**f, "box": tuple(f["box"]), "quad": tuple(map(tuple, f["quad"]))})
            for f in faces
        )
        for faces in data["frames"]
    )
    return Video(
        spec.name, folder / f"{spec.name}.mp4", truth_path, spec.width, spec.height, FPS, frames
    )


# --- the cache --------------------------------------------------------------------------


def stamp() -> str:
    digest = hashlib.sha256(TRUTH_FILE.read_bytes())
    digest.update(f"generator={GENERATOR};frames={FRAMES};crf={CRF}".encode())
    return digest.hexdigest()[:16]


def _listed(cache: Path) -> Dataset:
    truth = read_truth()
    stills = tuple(_still(e, cache / "stills") for e in truth["stills"])
    negatives = tuple(_still(e, cache / "negatives") for e in truth["negatives"])
    videos = tuple(load_video(spec, cache / "videos") for spec in VIDEOS)
    return Dataset(stills, negatives, videos)


def _is_built(cache: Path) -> bool:
    manifest = cache / "manifest.json"
    if not manifest.is_file():
        return False
    if json.loads(manifest.read_text()).get("stamp") != stamp():
        return False
    truth = read_truth()
    names = [cache / "stills" / f"{e['name']}.png" for e in truth["stills"]]
    names += [cache / "negatives" / f"{e['name']}.png" for e in truth["negatives"]]
    for spec in VIDEOS:
        names += [cache / "videos" / f"{spec.name}.mp4", cache / "videos" / f"{spec.name}.json"]
    return all(p.is_file() for p in names)


def _copy_stills(entries: list[dict[str, Any]], folder: Path) -> None:
    for entry in entries:
        rgb = load_rgb(package_path(entry["package"], entry["path"]))
        save_rgb(folder / f"{entry['name']}.png", rgb)


def _make_video(spec: VideoSpec, cache: Path, sprites: list[Sprite]) -> None:
    background = load_rgb(cache / "negatives" / f"{spec.background}.png")
    scene = Scene(spec, sprites, background)
    folder = cache / "videos"
    truth = write_video(spec, scene, folder / f"{spec.name}.mp4")
    (folder / f"{spec.name}.json").write_text(json.dumps(truth_json(spec, scene, truth)))


def build(cache: Path = DEFAULT_CACHE, force: bool = False, log: bool = False) -> Dataset:
    """The evaluation set in `cache`, built first if missing or out of date."""
    if force or not _is_built(cache):
        truth = read_truth()
        if log:
            print(f"building the redaction evaluation set in {cache} ...", file=sys.stderr)
        _copy_stills(truth["stills"], cache / "stills")
        _copy_stills(truth["negatives"], cache / "negatives")
        stills = {e["name"]: _still(e, cache / "stills") for e in truth["stills"]}
        sprites = load_sprites(stills)
        for spec in VIDEOS:
            _make_video(spec, cache, sprites)
        (cache / "manifest.json").write_text(json.dumps({"stamp": stamp()}) + "\n")
    return _listed(cache)


def summary(data: Dataset) -> list[str]:
    lines = [
        f"stills with faces: {len(data.stills)} ({sum(len(s.faces) for s in data.stills)} faces)",
        f"face-free stills: {len(data.negatives)}",
    ]
    for v in data.videos:
        with_faces = [f for f in v.frames if f]
        counts = [len(f) for f in v.frames]
        lines.append(
            f"{v.name}: {len(v.frames)} frames, {len(with_faces)} with faces, "
            f"{sum(counts)} face instances, up to {max(counts)} at once, "
            f"{len({t.id for f in v.frames for t in f})} tracks"
        )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--force", action="store_true", help="rebuild even if the cache is current")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = build(args.cache, force=args.force, log=True)
    print("\n".join(summary(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
