"""Face redaction quality: ours beside deface, on the same files in the same run.

Run from the repository root (the evaluation set is built first if needed, see
bench/redaction_data.py):

    .venv/bin/python -m bench.eval_redaction [--cache bench/.data]
        [--out bench/results-redaction-quality.json] [--skip-ours]

Measured for each method on the same files:

* face recall on stills: the share of true face boxes covered, where covered means that at
  least 90% of the true box's area lies inside the union of the method's redaction regions;
* synthetic videos: the share of frames with at least one visible face in which every visible
  face is covered, and the share of face instances covered, overall and by condition (motion
  blur, something over the face, low light, tilt, partly outside the frame, small). The same
  is also given for the face's own rotated outline ("quad") instead of its upright box;
* false-positive area on face-free stills: redacted area / image area.

Methods:

* ours: `redaction.redactor.redact_path(src, dst, Options(mode="faces"))`, scored on the boxes
  its audit record lists for each frame (it fills those boxes);
* deface 1.5.0 run as a library with its CLI defaults: CenterFace on the full-resolution frame
  (`in_shape=None`) with the OpenCV backend, threshold 0.2, boxes grown by `scale_bb` with
  mask_scale 1.3 and clipped as `anonymize_frame` does. deface blurs only the ellipse inscribed
  in each box, so it is scored twice: on its boxes, and on the ellipse pixels it blurs.
  Video frames are decoded once with PyAV (rgb24), the decoder our redactor uses too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.draw

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.redaction_data import (
    DEFAULT_CACHE,
    Dataset,
    FaceTruth,
    Still,
    Video,
    build,
    load_rgb,
    summary,
    video_frames,
)

COVERED = 0.9  # share of a true face's area that must be redacted
THRESHOLD = 0.2  # deface --thresh default
MASK_SCALE = 1.3  # deface --mask-scale default
DEFAULT_OUT = Path(__file__).resolve().parent / "results-redaction-quality.json"
DEFINITION = (
    f"a face is covered when at least {COVERED:.0%} of its true box's area is inside the "
    "union of the method's redaction regions"
)
VARIANTS = ("ours", "deface_box", "deface_ellipse")
LABELS = {"ours": "ours", "deface_box": "deface box", "deface_ellipse": "deface ellipse"}

Region = tuple[int, int, int, int]
Masks = dict[str, np.ndarray]  # variant -> bool mask of redacted pixels


# --- redaction regions ------------------------------------------------------------------


def box_mask(shape: tuple[int, int], boxes: Sequence[Region]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x1, y1, x2, y2 in boxes:
        x1, y1 = max(0, x1), max(0, y1)
        if x2 > x1 and y2 > y1:
            mask[y1:y2, x1:x2] = True
    return mask


def ellipse_mask(shape: tuple[int, int], boxes: Sequence[Region]) -> np.ndarray:
    """The pixels deface's `draw_det` blurs with its default `ellipse=True`."""
    mask = np.zeros(shape, bool)
    for x1, y1, x2, y2 in boxes:
        h, w = y2 - y1, x2 - x1
        if h <= 0 or w <= 0:
            continue
        ey, ex = skimage.draw.ellipse(h // 2, w // 2, h // 2, w // 2, shape=(h, w))
        mask[y1 + ey, x1 + ex] = True
    return mask


class Deface:
    """deface's detector and box geometry with its CLI defaults.

    deface's CLI keeps one CenterFace for every input. With OpenCV 4.14 an ONNX net that has
    run on one input size returns wrong outputs on another, so one net is kept per input size
    here (a video has one size, so for videos this is exactly the CLI)."""

    def __init__(self) -> None:
        from deface.centerface import CenterFace

        self._make = lambda: CenterFace(in_shape=None, backend="opencv")
        self._nets: dict[tuple[int, int], Any] = {}

    def boxes(self, rgb: np.ndarray) -> list[Region]:
        from deface.deface import scale_bb

        shape = rgb.shape[:2]
        if shape not in self._nets:
            self._nets[shape] = self._make()
        dets, _ = self._nets[shape](rgb, threshold=THRESHOLD)
        height, width = shape
        out = []
        for det in dets:
            x1, y1, x2, y2 = det[:4].astype(int)
            x1, y1, x2, y2 = scale_bb(x1, y1, x2, y2, MASK_SCALE)
            y1, y2 = max(0, y1), min(height - 1, y2)
            x1, x2 = max(0, x1), min(width - 1, x2)
            out.append((int(x1), int(y1), int(x2), int(y2)))
        return out

    def masks(self, rgb: np.ndarray) -> Masks:
        boxes = self.boxes(rgb)
        shape = rgb.shape[:2]
        return {"deface_box": box_mask(shape, boxes), "deface_ellipse": ellipse_mask(shape, boxes)}


class Ours:
    """Our redactor run on whole files; the boxes of each frame from its audit record."""

    def __init__(self, scratch: Path) -> None:
        from redaction.redactor import Options, redact_path

        self._redact, self._options, self.scratch = redact_path, Options(mode="faces"), scratch

    def run(self, src: Path, suffix: str) -> dict[int, list[Region]]:
        dst = self.scratch / f"{src.stem}-ours{suffix}"
        audit = self._redact(src, dst, self._options)
        dst.unlink(missing_ok=True)
        return {
            int(f["index"]): [tuple(int(v) for v in b[:4]) for b in f["boxes"]]  # type: ignore[misc]
            for f in audit["frames"]
        }

    def masks(self, src: Path, suffix: str, shape: tuple[int, int]) -> Callable[[int], Masks]:
        per_frame = self.run(src, suffix)
        return lambda index: {"ours": box_mask(shape, per_frame.get(index, []))}


# --- scoring ----------------------------------------------------------------------------


def box_coverage(mask: np.ndarray, box: Sequence[int]) -> float:
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    return float(mask[y1:y2, x1:x2].sum()) / area if area > 0 else 1.0


def quad_coverage(mask: np.ndarray, quad: Sequence[Sequence[float]]) -> float:
    shape = np.zeros(mask.shape, np.uint8)
    points = np.round(np.asarray(quad) * 16).astype(np.int32)
    cv2.fillPoly(shape, [points], 1, cv2.LINE_8, shift=4)
    inside = shape.astype(bool)
    total = int(inside.sum())
    return float((mask & inside).sum()) / total if total else 1.0


def conditions(face: FaceTruth, unit: float) -> list[str]:
    """The hard conditions a face instance is under; "clean" when none."""
    found = [
        name
        for name, hit in (
            ("fast motion (blur >= 8 px)", face.blur >= 8),
            ("covered >= 10% (hand/face)", face.occluded >= 0.1),
            ("low light", face.low_light >= 0.5),
            ("tilt >= 20 deg", abs(face.tilt) >= 20),
            ("partly outside frame", face.inside < 0.99),
            ("small (< 60 px at 480p)", face.height < 60 * unit),
        )
        if hit
    ]
    return found or ["clean"]


@dataclass
class VideoTally:
    frames: int = 0
    frames_all: int = 0
    frames_all_quad: int = 0
    faces: int = 0
    covered: int = 0
    covered_quad: int = 0
    by_condition: dict[str, list[int]] = field(default_factory=dict)

    def add(self, faces: Sequence[FaceTruth], mask: np.ndarray, unit: float) -> None:
        if not faces:
            return
        hits = [box_coverage(mask, f.box) >= COVERED for f in faces]
        quads = [quad_coverage(mask, f.quad) >= COVERED for f in faces]
        self.frames += 1
        self.frames_all += all(hits)
        self.frames_all_quad += all(quads)
        self.faces += len(faces)
        self.covered += sum(hits)
        self.covered_quad += sum(quads)
        for face, hit in zip(faces, hits, strict=True):
            for name in conditions(face, unit):
                slot = self.by_condition.setdefault(name, [0, 0])
                slot[0] += hit
                slot[1] += 1

    def result(self) -> dict[str, Any]:
        return {
            "frames_with_faces": self.frames,
            "frames_all_covered": ratio(self.frames_all, self.frames),
            "frames_all_covered_quad": ratio(self.frames_all_quad, self.frames),
            "face_instances": self.faces,
            "faces_covered": ratio(self.covered, self.faces),
            "faces_covered_quad": ratio(self.covered_quad, self.faces),
            "faces_covered_by_condition": {
                k: {"covered": ratio(c, n), "instances": n}
                for k, (c, n) in sorted(self.by_condition.items())
            },
        }


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


# --- runs -------------------------------------------------------------------------------


def score_stills(
    stills: Sequence[Still], deface: Deface, ours: Ours | None
) -> dict[str, dict[str, Any]]:
    """Per still and variant: each true face's coverage."""
    out: dict[str, dict[str, Any]] = {}
    for still in stills:
        rgb = load_rgb(still.path)
        masks = deface.masks(rgb)
        if ours is not None:
            masks.update(ours.masks(still.path, ".png", rgb.shape[:2])(0))
        out[still.name] = {
            v: [round(box_coverage(m, box), 4) for box in still.faces] for v, m in masks.items()
        }
    return out


def score_negatives(
    negatives: Sequence[Still], deface: Deface, ours: Ours | None
) -> dict[str, dict[str, float]]:
    """Per face-free still and variant: the share of the image redacted."""
    out: dict[str, dict[str, float]] = {}
    for still in negatives:
        rgb = load_rgb(still.path)
        masks = deface.masks(rgb)
        if ours is not None:
            masks.update(ours.masks(still.path, ".png", rgb.shape[:2])(0))
        out[still.name] = {v: round(float(m.mean()), 5) for v, m in masks.items()}
    return out


def score_video(video: Video, deface: Deface, ours: Ours | None) -> dict[str, dict[str, Any]]:
    shape = (video.height, video.width)
    ours_masks = ours.masks(video.path, ".mp4", shape) if ours is not None else None
    tallies: dict[str, VideoTally] = {}
    unit = video.height / 480
    for index, rgb in enumerate(video_frames(video.path)):
        masks = deface.masks(rgb)
        if ours_masks is not None:
            masks.update(ours_masks(index))
        for variant, mask in masks.items():
            tallies.setdefault(variant, VideoTally()).add(video.frames[index], mask, unit)
    return {v: t.result() for v, t in tallies.items()}


def still_recall(per_still: dict[str, dict[str, list[float]]], variant: str) -> dict[str, Any]:
    values = [c for s in per_still.values() for c in s.get(variant, [])]
    hits = sum(c >= COVERED for c in values)
    return {"faces": len(values), "covered": hits, "recall": ratio(hits, len(values))}


def fp_area(per_image: dict[str, dict[str, float]], variant: str) -> dict[str, Any]:
    values = [s[variant] for s in per_image.values() if variant in s]
    if not values:
        return {}
    return {
        "mean": round(float(np.mean(values)), 5),
        "max": round(float(np.max(values)), 5),
        "images_with_any": sum(v > 0 for v in values),
        "images": len(values),
    }


# --- report -----------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def table(results: dict[str, Any], variants: Sequence[str]) -> list[str]:
    rows: list[tuple[str, list[str]]] = []
    stills = results["stills"]["recall"]
    n = stills[variants[0]]["faces"]
    rows.append(
        (
            f"stills: faces covered (of {n})",
            [f"{stills[v]['covered']} = {pct(stills[v]['recall'])}" for v in variants],
        )
    )
    for name, video in results["videos"].items():
        rows.append(
            (
                f"{name}: frames with every face covered",
                [pct(video[v]["frames_all_covered"]) for v in variants],
            )
        )
        rows.append(
            (f"{name}: face instances covered", [pct(video[v]["faces_covered"]) for v in variants])
        )
        rows.append(
            (
                f"{name}: same, on the face's rotated outline",
                [pct(video[v]["faces_covered_quad"]) for v in variants],
            )
        )
    fp = results["negatives"]["area"]
    n = fp[variants[0]]["images"]
    rows.append(
        (f"face-free stills ({n}): mean redacted area", [pct(fp[v]["mean"]) for v in variants])
    )
    rows.append(("face-free stills: max redacted area", [pct(fp[v]["max"]) for v in variants]))
    rows.append(
        (
            "face-free stills: images with any redaction",
            [str(fp[v]["images_with_any"]) for v in variants],
        )
    )
    return layout(rows, [LABELS[v] for v in variants])


def condition_table(results: dict[str, Any], variants: Sequence[str]) -> list[str]:
    rows: list[tuple[str, list[str]]] = []
    for name, video in results["videos"].items():
        first = video[variants[0]]["faces_covered_by_condition"]
        for cond, item in first.items():
            cells = [pct(video[v]["faces_covered_by_condition"][cond]["covered"]) for v in variants]
            rows.append((f"{name}: {cond} (n={item['instances']})", cells))
    return layout(rows, [LABELS[v] for v in variants])


def layout(rows: list[tuple[str, list[str]]], header: list[str]) -> list[str]:
    width = max(len(label) for label, _ in rows)
    cols = [max(len(h), *(len(r[1][i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join([" " * width, *(h.rjust(c) for h, c in zip(header, cols, strict=True))])]
    for label, cells in rows:
        lines.append(
            "  ".join([label.ljust(width), *(x.rjust(c) for x, c in zip(cells, cols, strict=True))])
        )
    return lines


def machine() -> dict[str, Any]:
    from importlib import metadata

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "opencv": cv2.__version__,
        "deface": metadata.version("deface"),
    }


def evaluate(data: Dataset, ours: Ours | None) -> dict[str, Any]:
    deface = Deface()
    variants = [v for v in VARIANTS if ours is not None or v != "ours"]
    per_still = score_stills(data.stills, deface, ours)
    per_negative = score_negatives(data.negatives, deface, ours)
    videos = {v.name: score_video(v, deface, ours) for v in data.videos}
    return {
        "definition": DEFINITION,
        "variants": variants,
        "stills": {
            "recall": {v: still_recall(per_still, v) for v in variants},
            "per_still": per_still,
        },
        "videos": videos,
        "negatives": {
            "area": {v: fp_area(per_negative, v) for v in variants},
            "per_image": per_negative,
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="write the figures as JSON here")
    p.add_argument("--skip-ours", action="store_true", help="score deface alone")
    return p.parse_args(argv)


def load_ours(scratch: Path, skip: bool) -> tuple[Ours | None, str | None]:
    if skip:
        return None, "skipped (--skip-ours)"
    try:
        return Ours(scratch), None
    except ImportError as e:
        return None, f"not available: {e}"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = build(args.cache, log=True)
    print("\n".join(summary(data)))
    with tempfile.TemporaryDirectory(prefix="redaction-eval-") as scratch:
        ours, why = load_ours(Path(scratch), args.skip_ours)
        if why:
            print(f"ours: {why}")
        results = evaluate(data, ours)
    results["machine"] = machine()
    results["dataset"] = summary(data)
    print(f"\nCovered: {DEFINITION}.")
    print("deface ellipse = the pixels deface blurs (the ellipse inside its box).\n")
    print("\n".join(table(results, results["variants"])))
    print("\nFace instances covered in the videos, by condition (an instance can be in several):")
    print("\n".join(condition_table(results, results["variants"])))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
