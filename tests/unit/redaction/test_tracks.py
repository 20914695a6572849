"""Face tracks: gaps filled, track ends held, boxes padded, sources told apart."""

from __future__ import annotations

import numpy as np

from redaction.tracks import DETECTED, HELD, INTERPOLATED, Tracker


def det(x: float, y: float = 100, size: float = 40, score: float = 0.9) -> np.ndarray:
    return np.array([[x, y, x + size, y + size, score]], np.float32)


NONE = np.empty((0, 5), np.float32)


def run(tracker: Tracker, detections: list[np.ndarray]) -> list[list]:  # type: ignore[type-arg]
    for index, found in enumerate(detections):
        tracker.push(index, found)
    return [tracker.boxes(i) for i in range(len(detections))]


def test_a_gap_is_filled_by_interpolation_and_track_ends_are_held():
    tracker = Tracker(640, 480, max_gap=5, hold=3, pad=0.0)
    detections = [NONE, NONE, det(100), det(110), NONE, NONE, NONE, det(150), NONE, NONE, NONE]
    frames = run(tracker, detections)
    sources = [[b.source for b in f] for f in frames]
    assert sources == [
        [HELD],
        [HELD],
        [DETECTED],
        [DETECTED],
        [INTERPOLATED],
        [INTERPOLATED],
        [INTERPOLATED],
        [DETECTED],
        [HELD],
        [HELD],
        [HELD],
    ]
    # the interpolated box moves between the detections: frame 5 is halfway from 110 to 150
    middle = frames[5][0]
    assert middle.x1 < 130 < middle.x2 and middle.x1 > 110 - 40
    assert len({b.track for f in frames for b in f}) == 1


def test_a_gap_longer_than_max_gap_starts_a_new_track():
    tracker = Tracker(640, 480, max_gap=2, hold=1, pad=0.0)
    frames = run(tracker, [det(100), NONE, NONE, NONE, NONE, det(100)])
    assert [[b.source for b in f] for f in frames] == [
        [DETECTED],
        [HELD],
        [],
        [],
        [HELD],
        [DETECTED],
    ]
    assert frames[0][0].track != frames[5][0].track


def test_boxes_are_padded_more_the_further_they_are_from_a_detection():
    tracker = Tracker(640, 480, max_gap=1, hold=4, pad=0.25)
    frames = run(tracker, [det(200), NONE, NONE, NONE, NONE])
    widths = [f[0].x2 - f[0].x1 for f in frames]
    assert widths[0] >= 40 * 1.5  # a quarter of the face added on each side
    assert widths == sorted(widths) and widths[-1] > widths[0]


def test_two_faces_keep_their_own_tracks_and_boxes_stay_inside_the_frame():
    tracker = Tracker(300, 200, max_gap=3, hold=0, pad=0.5)
    both = [np.concatenate([det(0, 0), det(250, 150)]) for _ in range(4)]
    frames = run(tracker, both)
    assert all(len(f) == 2 for f in frames)
    assert len({b.track for f in frames for b in f}) == 2
    for box in (b for f in frames for b in f):
        assert 0 <= box.x1 < box.x2 <= 300 and 0 <= box.y1 < box.y2 <= 200


def test_a_fast_face_stays_on_its_track():
    tracker = Tracker(1280, 720, max_gap=3, hold=0, pad=0.0)
    frames = run(tracker, [det(100 + 30 * n) for n in range(10)])  # no overlap frame to frame
    assert len({b.track for f in frames for b in f}) == 1
