"""Reading and writing the media a redaction works on: JPEG and PNG stills, and any video
FFmpeg (through PyAV) can decode, streamed frame by frame. Video is written as H.264 in MP4
at the input's frame rate and size; stills keep their format. Neither carries the input's
metadata (EXIF, GPS, tags) or audio over."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np
from av.video.stream import VideoStream
from PIL import Image

MAX_IMAGE_PIXELS = 50_000_000  # about 8,700 x 5,800
MAX_VIDEO_PIXELS = 4096 * 2304  # 4K
IMAGE_FORMATS = {"JPEG": ".jpg", "PNG": ".png"}
# Demuxers of real video files. FFmpeg also turns text, subtitles and images into "video"
# (its tty, image2 and other demuxers): such files are refused.
VIDEO_CONTAINERS = ("mov", "mp4", "matroska", "webm", "avi", "mpegts", "mpeg", "flv", "ogg")
VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
ENCODER = "libx264"
logging.getLogger("libav").setLevel(logging.CRITICAL)  # FFmpeg's own chatter about bad input


_NOT_MEDIA = (
    "the file is neither a JPEG or PNG image nor a video that can be decoded "
    f"(containers: {', '.join(VIDEO_CONTAINERS)})"
)


class BadMedia(ValueError):
    """The input cannot be redacted; the message says why, for a person to act on."""


@dataclass(frozen=True)
class Probe:
    kind: str  # image | video
    format: str
    width: int
    height: int
    fps: Fraction | None = None
    frames: int | None = None  # as the container states it; None when it does not


def probe(path: Path) -> Probe:
    size = path.stat().st_size
    if size == 0:
        raise BadMedia("the file is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            kind, width, height = image.format or "", image.width, image.height
    except Image.DecompressionBombError as error:
        raise BadMedia(
            f"the image is far too large; at most {MAX_IMAGE_PIXELS:,} pixels can be redacted"
        ) from error
    except (OSError, ValueError):
        kind = ""
    if kind:
        if kind not in IMAGE_FORMATS:
            raise BadMedia(f"{kind} images are not supported; send a JPEG or PNG")
        _check_size(width, height, MAX_IMAGE_PIXELS, "image")
        return Probe("image", kind, width, height)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadMedia("the file holds no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            width, height = stream.codec_context.width, stream.codec_context.height
            frames = stream.frames or None
            name = container.format.name
            if not set(name.split(",")) & set(VIDEO_CONTAINERS):
                raise BadMedia(_NOT_MEDIA)
    except av.FFmpegError as error:
        raise BadMedia(_NOT_MEDIA) from error
    if not width or not height or not rate:
        raise BadMedia("the video's size or frame rate cannot be read")
    _check_size(width, height, MAX_VIDEO_PIXELS, "video frame")
    return Probe("video", name, width, height, Fraction(rate), frames)


def _check_size(width: int, height: int, limit: int, what: str) -> None:
    if width * height > limit:
        raise BadMedia(f"the {what} is {width}x{height}; at most {limit:,} pixels can be redacted")


def read_image(path: Path) -> np.ndarray:
    data = np.fromfile(path, np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise BadMedia("the image cannot be decoded; it may be truncated or damaged")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_image(rgb: np.ndarray, path: Path) -> None:
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(path.suffix.lower(), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise BadMedia(f"cannot write a {path.suffix} image")
    path.write_bytes(data.tobytes())


def read_video(path: Path, info: Probe) -> Iterator[np.ndarray]:
    """RGB frames, upright, one at a time; BadMedia when the stream ends early or breaks."""
    count = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                turns = round(frame.rotation / 90) % 4 if frame.rotation else 0
                yield np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
                count += 1
    except av.FFmpegError as error:
        raise BadMedia(
            f"the video cannot be decoded after frame {count}; it may be truncated or damaged"
        ) from error
    if info.frames and count < info.frames:
        raise BadMedia(f"the video is truncated: {count} of its {info.frames} frames could be read")
    if count == 0:
        raise BadMedia("the video holds no frame that can be decoded")


class VideoWriter:
    """H.264 (yuv420p, or yuv444p when a side is odd) at a constant frame rate."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction) -> None:
        container_format = VIDEO_SUFFIXES.get(path.suffix.lower())
        if container_format is None:
            raise BadMedia(f"a redacted video is written as {', '.join(VIDEO_SUFFIXES)}")
        options = {"movflags": "+faststart"} if container_format != "matroska" else {}
        self.container = av.open(str(path), "w", format=container_format, options=options)
        self.stream = cast(VideoStream, self.container.add_stream(ENCODER, rate=fps))
        self.stream.width, self.stream.height = width, height
        even = width % 2 == 0 and height % 2 == 0
        self.stream.pix_fmt = "yuv420p" if even else "yuv444p"
        self.stream.options = {"crf": "20", "preset": "veryfast"}
        self.stream.thread_type = "AUTO"
        self.time_base = Fraction(fps.denominator, fps.numerator)
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = self.frames, self.time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self.container.mux(self.stream.encode())
        self.container.close()

    def abort(self) -> None:
        self.container.close()
