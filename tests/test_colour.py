"""Colour end to end: the stream says which YUV matrix its pictures are in
(BT.709 for HD, BT.601 for SD, limited range), and converting the test
pattern's bars back to RGB with the matrix it signals gives the bars' own
colours, in the local recording and in what nginx-rtmp records of the same
session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from onair_testkit import media, onair
from onair_testkit.nginx import Nginx, wait_closed

#: 75 % bars, left to right as the pattern draws them.
BARS = {
    "white": (191, 191, 191),
    "yellow": (191, 191, 0),
    "cyan": (0, 191, 191),
    "green": (0, 191, 0),
    "magenta": (191, 0, 191),
    "red": (191, 0, 0),
    "blue": (0, 0, 191),
    "black": (0, 0, 0),
}
#: (Kr, Kb) of the matrices a stream may signal, by ffprobe's name.
MATRICES = {"bt709": (0.2126, 0.0722), "smpte170m": (0.299, 0.114), "bt470bg": (0.299, 0.114)}
#: Largest error of any channel of a bar's median, in 8-bit RGB steps.
TOLERANCE = 5


def colour_tags(path: Path) -> dict:
    info = media.probe(path)
    video = media.streams_of(info, "video")[0]
    return {k: video.get(k) for k in ("color_space", "color_primaries", "color_transfer", "color_range")}


def decoded_rows(path: Path, width: int, height: int, frame: int = 10) -> np.ndarray:
    """Frame `frame` as YUV 4:2:0 planes, untouched by any conversion."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{frame})", "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
        check=True, capture_output=True,
    ).stdout
    assert len(raw) == width * height * 3 // 2, len(raw)
    return np.frombuffer(raw, np.uint8)


def to_rgb(planes: np.ndarray, width: int, height: int, matrix: str, row: int) -> np.ndarray:
    """One picture row to RGB (0-255 floats) with a limited-range matrix."""
    kr, kb = MATRICES[matrix]
    kg = 1 - kr - kb
    y = planes[row * width:(row + 1) * width].astype(float)
    chroma = planes[width * height:]
    cw = width // 2
    u = np.repeat(chroma[(row // 2) * cw:(row // 2 + 1) * cw].astype(float), 2)
    v_plane = chroma[cw * (height // 2):]
    v = np.repeat(v_plane[(row // 2) * cw:(row // 2 + 1) * cw].astype(float), 2)
    y, u, v = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    r = y + 2 * (1 - kr) * v
    b = y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / kg
    return np.clip(np.stack([r, g, b], axis=1) * 255, 0, 255)


def bar_errors(path: Path, width: int, height: int) -> dict[str, float]:
    """For every bar, the smallest error of a bar-wide stretch of the middle
    row against its intended colour (the bars move, so find them)."""
    tags = colour_tags(path)
    rgb = to_rgb(decoded_rows(path, width, height), width, height, tags["color_space"], height // 2)
    span = width // 8 - 8  # a bar less its edges' chroma blur
    errors = {}
    for name, want in BARS.items():
        per_pixel = np.abs(rgb - np.array(want, float)).max(axis=1)
        # The median over each window: noise at a pixel does not decide.
        windows = np.lib.stride_tricks.sliding_window_view(per_pixel, span)
        errors[name] = float(np.median(windows, axis=1).min())
    return errors


def check(path: Path, width: int, height: int, matrix: str) -> None:
    tags = colour_tags(path)
    assert tags["color_space"] == matrix and tags["color_range"] == "tv", tags
    assert tags["color_primaries"] == matrix and tags["color_transfer"] == matrix, tags
    errors = bar_errors(path, width, height)
    wrong = {k: round(v, 1) for k, v in errors.items() if v > TOLERANCE}
    assert not wrong, f"bars off their colour with the signalled {matrix}: {wrong} (all: {errors})"


@pytest.mark.parametrize("width,height,matrix", [(1280, 720, "bt709"), (640, 360, "smpte170m")])
def test_recordings_signal_the_matrix_their_bars_are_in(onair_bin, ffmpeg, tmp_path, width, height, matrix):
    recording = tmp_path / "bars.flv"
    run = onair.run(
        ["live", f"file:{recording}", "--video", "test", "--audio", "none",
         "--size", f"{width}x{height}", "--duration", "2", "--json"],
        timeout=40,
    )
    assert run.returncode == 0, run.describe()
    check(recording, width, height, matrix)


def test_what_an_rtmp_server_records_has_the_same_colour(onair_bin, ffmpeg, tmp_path):
    with Nginx(tmp_path / "nginx") as server:
        key = "colour"
        run = onair.run(["live", server.url("live") + "/" + key, "--audio", "none", "--duration", "2", "--json"],
                        timeout=40)
        assert run.returncode == 0, run.describe()
        path = server.recording(key)
        wait_closed(path)
        check(path, 1280, 720, "bt709")
