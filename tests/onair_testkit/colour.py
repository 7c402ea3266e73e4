"""The test pattern's colour bars, read back: which YUV matrix a recording
signals, and whether its bars converted back to RGB with that matrix are
the bars' own colours."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from . import media

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


def bar_errors(planes: np.ndarray, width: int, height: int, matrix: str) -> dict[str, float]:
    """For every bar, the smallest error of a bar-wide stretch of the middle
    row of a packed I420 picture against its intended colour, converted
    with ``matrix`` (the bars move, so find them)."""
    rgb = to_rgb(planes, width, height, matrix, height // 2)
    span = width // 8 - 8  # a bar less its edges' chroma blur
    errors = {}
    for name, want in BARS.items():
        per_pixel = np.abs(rgb - np.array(want, float)).max(axis=1)
        # The median over each window: noise at a pixel does not decide.
        windows = np.lib.stride_tricks.sliding_window_view(per_pixel, span)
        errors[name] = float(np.median(windows, axis=1).min())
    return errors


def check_bars(planes: np.ndarray, width: int, height: int, matrix: str) -> None:
    """The test pattern's bars in a decoded I420 picture, back in RGB with
    ``matrix``, are each within TOLERANCE of their own colour."""
    errors = bar_errors(planes, width, height, matrix)
    wrong = {k: round(v, 1) for k, v in errors.items() if v > TOLERANCE}
    assert not wrong, f"bars off their colour with {matrix}: {wrong} (all: {errors})"


def check(path: Path, width: int, height: int, matrix: str) -> None:
    """A recording signals ``matrix`` (limited range) and its bars are right
    converted back with it."""
    tags = colour_tags(path)
    assert tags["color_space"] == matrix and tags["color_range"] == "tv", tags
    assert tags["color_primaries"] == matrix and tags["color_transfer"] == matrix, tags
    check_bars(decoded_rows(path, width, height), width, height, matrix)
