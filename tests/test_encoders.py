"""Each H.264 encoder a build can have (openh264 in every build, x264 in the
opt-in GPL build) through the whole engine: what nginx-rtmp records and
what a local recording holds, read back with ffprobe and the stamp reader.

x264 reorders pictures for B-frames on RTMP and files, so these also check
the decode and presentation times the FLV tags carry: every frame shown
once, in order, at its time, with the sound in step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from onair_testkit import media, onair, report
from onair_testkit.nginx import Nginx, wait_closed

SECONDS = 10
FPS = 30


def recorded(path: Path, encoder: str, measurements, label: str) -> None:
    analysed = report.analyse_file(path)
    (video,) = media.streams_of(analysed.info, "video")
    assert video["profile"] == "High", video
    # x264 for RTMP and files sends B-frames; openh264 has none.
    assert (int(video.get("has_b_frames", 0)) > 0) == (encoder == "x264"), video
    frames = analysed.frames
    assert frames.unreadable == [] and frames.out_of_order == [], analysed.summary()
    assert frames.lost == [] and frames.repeated == [], analysed.summary()
    assert frames.frames >= FPS * (SECONDS - 0.6), analysed.summary()
    av = analysed.av
    assert len(av.matches) >= SECONDS - 2, av.summary()
    assert av.max_abs_offset <= 1 / FPS + 0.0001, av.summary()
    measurements.record(f"{label} ({encoder}): " + analysed.summary().replace(str(path), "recording"))


def test_a_local_recording_has_every_frame_once_in_step_with_the_sound(encoder, ffmpeg, tmp_path, measurements):
    recording = tmp_path / "live.flv"
    run = onair.run(["live", f"file:{recording}", "--duration", str(SECONDS), "--json"], timeout=SECONDS + 40)
    assert run.returncode == 0, run.describe()
    recorded(recording, encoder, measurements, "local recording")


def test_what_nginx_records_has_every_frame_once_in_step_with_the_sound(encoder, ffmpeg, tmp_path, measurements):
    with Nginx(tmp_path / "nginx") as server:
        key = f"encoders_{encoder}"
        run = onair.run(["live", f"{server.url('live')}/{key}", "--duration", str(SECONDS), "--json"],
                        timeout=SECONDS + 40)
        assert run.returncode == 0, run.describe()
        path = server.recording(key)
        wait_closed(path)
        recorded(path, encoder, measurements, "nginx-rtmp")


@pytest.mark.parametrize("kind", ["file", "rtmp"])
def test_stats_count_no_dropped_frames(encoder, ffmpeg, tmp_path, kind):
    """An encoder holding pictures for B-frames is late, not dropping."""
    with Nginx(tmp_path / "nginx") as server:
        target = f"file:{tmp_path / 'stats.flv'}" if kind == "file" else f"{server.url('live')}/stats"
        run = onair.run(["live", target, "--duration", "4", "--json"], timeout=40)
        assert run.returncode == 0, run.describe()
    stats = run.of_type("stats")
    assert stats, run.describe()
    assert all(s.get("dropped", 0) == 0 for s in stats), stats
