"""Colour end to end: the stream says which YUV matrix its pictures are in
(BT.709 for HD, BT.601 for SD, limited range), and converting the test
pattern's bars back to RGB with the matrix it signals gives the bars' own
colours, in the local recording and in what nginx-rtmp records of the same
session, with each encoder a build can have. Over WebRTC the same check
reads Janus's recording (test_whip.py) and the picture LiveKit's own client
decodes (test_livekit.py)."""

from __future__ import annotations

import pytest

from onair_testkit import media, onair
from onair_testkit.colour import check
from onair_testkit.nginx import Nginx, wait_closed


def profile(path) -> str:
    return media.streams_of(media.probe(path), "video")[0].get("profile")


@pytest.mark.parametrize("width,height,matrix", [(1280, 720, "bt709"), (640, 360, "smpte170m")])
def test_recordings_signal_the_matrix_their_bars_are_in(encoder, ffmpeg, tmp_path, width, height, matrix):
    recording = tmp_path / "bars.flv"
    run = onair.run(
        ["live", f"file:{recording}", "--video", "test", "--audio", "none",
         "--size", f"{width}x{height}", "--duration", "2", "--json"],
        timeout=40,
    )
    assert run.returncode == 0, run.describe()
    check(recording, width, height, matrix)
    assert profile(recording) == "High"


def test_what_an_rtmp_server_records_has_the_same_colour(encoder, ffmpeg, tmp_path):
    with Nginx(tmp_path / "nginx") as server:
        key = "colour"
        run = onair.run(["live", server.url("live") + "/" + key, "--audio", "none", "--duration", "2", "--json"],
                        timeout=40)
        assert run.returncode == 0, run.describe()
        path = server.recording(key)
        wait_closed(path)
        check(path, 1280, 720, "bt709")
        # RTMP takes the High profile (CABAC) from either encoder.
        assert profile(path) == "High"
