"""Benchmark of face redaction end to end (decode, detect, redact, encode H.264 to a file) on
the synthetic videos, ours beside deface's own pipeline in the same run.

Run from the repository root (the evaluation set is built first if needed, see
bench/redaction_data.py):

    .venv/bin/python -m bench.bench_redaction [--repeats 3] [--cache bench/.data]
        [--out bench/results-redaction-speed.json]

For each video (640x480 and 1280x720, 300 frames at 30 fps), timed runs alternate between:

* ours: `redaction.redactor.redact_path(src, dst.mp4, Options(mode="faces"))`, the whole call
  (model load, PyAV decode, detection, tracking, fill, libx264 encode, audit record);
* deface: what its CLI does for one video with its default options: a `CenterFace` (OpenCV
  backend, as `auto` picks without onnxruntime; full-resolution input) and
  `deface.deface.video_detect` with threshold 0.2, mask_scale 1.3, ellipse blur, writing an mp4
  through imageio-ffmpeg with `{"codec": "libx264"}` (its frame count pass included).

The order flips each round; the best of `--repeats` runs of each is reported as frames per
second, with the ratio ours / deface (above 1 means ours is faster).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import av
import cv2

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.redaction_data import DEFAULT_CACHE, Video, build

DEFAULT_OUT = Path(__file__).resolve().parent / "results-redaction-speed.json"
DEFACE_DEFAULTS: dict[str, Any] = {
    "threshold": 0.2,
    "enable_preview": False,
    "cam": False,
    "nested": False,
    "replacewith": "blur",
    "mask_scale": 1.3,
    "ellipse": True,
    "draw_scores": False,
    "ffmpeg_config": {"codec": "libx264"},
    "keep_audio": False,
}


def run_ours(src: Path, dst: Path) -> float:
    from redaction.redactor import Options, redact_path

    start = time.perf_counter()
    redact_path(src, dst, Options(mode="faces"))
    return time.perf_counter() - start


def run_deface(src: Path, dst: Path) -> float:
    from deface.centerface import CenterFace
    from deface.deface import video_detect

    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm progress bar
        centerface = CenterFace(in_shape=None, backend="opencv")
        video_detect(ipath=str(src), opath=str(dst), centerface=centerface, **DEFACE_DEFAULTS)
    return time.perf_counter() - start


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def timed(
    name: str, run: Callable[[Path, Path], float], video: Video, scratch: Path, frames: int
) -> float:
    """One run into a fresh file; the output must hold every frame."""
    dst = scratch / f"{video.name}-{name}.mp4"
    dst.unlink(missing_ok=True)
    seconds = run(video.path, dst)
    written = count_frames(dst)
    if written != frames:
        raise RuntimeError(f"{name} wrote {written} of {frames} frames of {video.name}")
    dst.unlink()
    return seconds


def bench_video(video: Video, repeats: int, scratch: Path) -> dict[str, Any]:
    frames = len(video.frames)
    runs: dict[str, list[float]] = {"ours": [], "deface": []}
    order = [("ours", run_ours), ("deface", run_deface)]
    for round_ in range(repeats):
        for name, run in order if round_ % 2 == 0 else order[::-1]:
            seconds = timed(name, run, video, scratch, frames)
            runs[name].append(round(seconds, 3))
            print(f"  {video.name} round {round_ + 1}: {name:6} {seconds:6.2f} s", flush=True)
    best = {name: min(times) for name, times in runs.items()}
    fps = {name: frames / seconds for name, seconds in best.items()}
    return {
        "frames": frames,
        "size": f"{video.width}x{video.height}",
        "seconds": runs,
        "best_seconds": best,
        "fps": {name: round(value, 2) for name, value in fps.items()},
        "ratio_ours_to_deface": round(fps["ours"] / fps["deface"], 2),
    }


def machine() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "python": platform.python_version(),
        "opencv": cv2.__version__,
        "opencv_threads": cv2.getNumThreads(),
        "pyav": av.__version__,
        "deface": metadata.version("deface"),
        "imageio_ffmpeg": metadata.version("imageio-ffmpeg"),
    }


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def report(results: dict[str, Any]) -> list[str]:
    lines = [f"{'video':20} {'ours fps':>9} {'deface fps':>11} {'ours/deface':>12}"]
    for name, r in results.items():
        lines.append(
            f"{name:20} {r['fps']['ours']:9.1f} {r['fps']['deface']:11.1f} "
            f"{r['ratio_ours_to_deface']:12.2f}"
        )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each, best kept")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="write the figures as JSON here")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    data = build(args.cache, log=True)
    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), "
        f"{info['platform']}, Python {info['python']}"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="redaction-bench-") as scratch:
        for video in data.videos:
            results[video.name] = bench_video(video, args.repeats, Path(scratch))
    print(f"\nend-to-end fps, best of {args.repeats} (decode, detect, redact, encode H.264):")
    print("\n".join(report(results)))
    figures = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "repeats": args.repeats,
        "deface_options": DEFACE_DEFAULTS,
        "ours_options": {"mode": "faces"},
        "videos": results,
    }
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.out}")
    return figures


if __name__ == "__main__":
    main()
