"""`--video y4m:PATH` end to end: a generated YUV4MPEG2 clip recorded through
the whole engine arrives picture by picture, at the clip's own frame rate,
looped; a missing or malformed file fails with `device_unavailable`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onair_testkit import media, onair

WIDTH, HEIGHT = 320, 240
#: Twelve flat pictures at 10 fps: a 1.2 s loop, each picture on three 30 fps frames.
LEVELS = [30 + 15 * k for k in range(12)]
CLIP_FPS = 10
SESSION_FPS = 30
SECONDS = 4


def write_clip(path: Path, levels: list[int], header: str | None = None) -> Path:
    header = header or f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{CLIP_FPS}:1 Ip A1:1 C420jpeg"
    chroma = np.full(2 * (WIDTH // 2) * (HEIGHT // 2), 128, np.uint8).tobytes()
    with path.open("wb") as out:
        out.write(header.encode() + b"\n")
        for level in levels:
            out.write(b"FRAME\n")
            out.write(np.full(WIDTH * HEIGHT, level, np.uint8).tobytes())
            out.write(chroma)
    return path


def test_a_clip_plays_picture_by_picture_at_its_own_rate_and_loops(onair_bin, ffmpeg, tmp_path):
    clip = write_clip(tmp_path / "clip.y4m", LEVELS)
    recording = tmp_path / "clip.flv"
    run = onair.run(
        [
            "live", f"file:{recording}", "--video", f"y4m:{clip}", "--audio", "none",
            "--size", f"{WIDTH}x{HEIGHT}", "--fps", str(SESSION_FPS),
            "--duration", str(SECONDS), "--json",
        ],
        timeout=SECONDS + 30,
    )
    assert run.returncode == 0, run.describe()
    video = media.decode_video(recording)
    assert len(video) >= (SECONDS - 0.5) * SESSION_FPS, len(video)
    # The nearest of the clip's levels names the picture each frame shows.
    pictures = [int(np.argmin([abs(m - level) for level in LEVELS])) for m in video.below_mean]
    errors = [abs(m - LEVELS[p]) for m, p in zip(video.below_mean, pictures)]
    assert max(errors) < 3, f"a frame that is no picture of the clip: {max(errors):.1f}"
    # Runs of the same picture: each picture stays 3 frames (10 fps in 30),
    # then the next one comes, wrapping from the last to the first.
    runs: list[list[int]] = []
    for p in pictures:
        if runs and runs[-1][0] == p:
            runs[-1][1] += 1
        else:
            runs.append([p, 1])
    steps = [(b[0] - a[0]) % len(LEVELS) for a, b in zip(runs, runs[1:])]
    assert steps and all(s == 1 for s in steps), f"pictures out of order: {[r[0] for r in runs]}"
    inner = [length for _, length in runs[1:-1]]
    assert inner and all(length == 3 for length in inner), f"frames per picture: {inner}"
    assert sum(1 for p, _ in runs if p == 0) >= 3, "the clip did not loop"


@pytest.mark.parametrize(
    "case,wanted",
    [("missing", "cannot be opened"), ("not_y4m", "not a YUV4MPEG2 file"), ("444", "4:2:0")],
)
def test_an_unplayable_file_is_device_unavailable(onair_bin, tmp_path, case, wanted):
    clip = tmp_path / "clip.y4m"
    if case == "not_y4m":
        clip.write_bytes(b"\x1aE\xdf\xa3 this is a matroska file\n")
    elif case == "444":
        write_clip(clip, [100], header=f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F30:1 C444")
    recording = tmp_path / "out.flv"
    run = onair.run(
        ["live", f"file:{recording}", "--video", f"y4m:{clip}", "--duration", "2", "--json"],
        timeout=30,
    )
    assert run.returncode == 1, run.describe()
    assert run.states and run.states[-1] == "failed", run.describe()
    error = run.error
    assert error is not None and error.get("code") == "device_unavailable", run.describe()
    assert wanted in error["message"] and "--video test" in error["message"], error
    assert not recording.exists(), "a session that never went live left a file behind"
