"""The WHIP test bed itself (onair_testkit/janus.py), checked with an
independent publisher (aiortc, onair_testkit/whip_publish.py) before any
Onair test relies on it: what Janus records is what was sent, a wrong token
is refused, DELETE is seen, and a Janus killed mid-stream comes back.
"""

from __future__ import annotations

import time

import pytest

from onair_testkit import media, report
from onair_testkit.janus import ENDPOINT_ID, JanusWhip, ReferencePublisher

SECONDS = 5.0
FPS = 30


def _probe(path) -> tuple[dict, float]:
    info = media.probe(path)
    return info, float(info["format"]["duration"])


def test_records_what_an_independent_publisher_sent(janus: JanusWhip, ffmpeg, measurements):
    pub = ReferencePublisher(janus, seconds=SECONDS, extra=["--patch"]).run(timeout=SECONDS + 30)
    assert pub.returncode == 0, pub.describe() + janus.describe()

    answer = pub.answer
    assert answer["status"] == 201 and answer["location"] == janus.resource_path, answer
    assert answer["content_type"].startswith("application/sdp"), answer
    # Janus keeps the offered profile and packetization mode 1.
    assert any("packetization-mode=1" in line for line in answer["answer_h264"]), answer

    # Trickle PATCH is accepted (204) mid-stream.
    assert pub.event("patched")["status"] == 204, pub.describe()
    assert [p["status"] for p in janus.requests("PATCH")] == [204], janus.requests()
    (delete,) = janus.deletes()
    assert delete["status"] == 200 and delete["auth"] == "Bearer", delete
    (post,) = janus.publishes()
    assert post["status"] == 201 and post["content_type"] == "application/sdp", post

    janus.wait_recordings_idle()
    (rec,) = janus.recordings()
    started = time.monotonic()
    converted = rec.convert()
    convert_s = time.monotonic() - started

    info, duration = _probe(converted.video)
    (v,) = media.streams_of(info, "video")
    assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (640, 360), v
    assert SECONDS - 0.5 <= duration <= SECONDS + 0.5, duration
    info, duration = _probe(converted.audio)
    (a,) = media.streams_of(info, "audio")
    assert a["codec_name"] == "opus" and int(a["sample_rate"]) == 48_000, a
    assert SECONDS - 0.5 <= duration <= SECONDS + 0.5, duration

    # The stamp reader and the A/V matcher work on Janus's recording.
    analysed = report.analyse_file(converted.muxed)
    frames = analysed.frames
    assert frames.unreadable == [] and frames.out_of_order == [], analysed.summary()
    assert len(frames.lost) <= 3 and frames.frames >= FPS * (SECONDS - 0.5), analysed.summary()
    assert len(analysed.av.matches) >= SECONDS - 1, analysed.summary()
    assert analysed.av.max_abs_offset < 0.050, analysed.summary()

    connected = pub.event("connected")
    measurements.record(
        f"aiortc -> Janus: 201 after {answer['ms']} ms, ICE+DTLS connected after {connected['ms']} ms; "
        f"janus-pp-rec + mux {convert_s:.2f} s\n" + analysed.summary().replace(converted.muxed.name, "Janus recording")
    )


def test_wrong_or_missing_token_and_unknown_endpoint_are_refused(janus: JanusWhip):
    wrong = ReferencePublisher(janus, seconds=1, token="not-the-token").run(timeout=30)
    missing = ReferencePublisher(janus, seconds=1, no_token=True).run(timeout=30)
    unknown = ReferencePublisher(janus, seconds=1, url=janus.url_for("nobody")).run(timeout=30)
    # simple-whip-server answers 403 (never 401) for a wrong or missing token.
    assert wrong.returncode == 2 and wrong.answer["status"] == 403, wrong.describe()
    assert missing.returncode == 2 and missing.answer["status"] == 403, missing.describe()
    assert unknown.returncode == 2 and unknown.answer["status"] == 404, unknown.describe()
    statuses = sorted(r["status"] for r in janus.requests("POST", "/whip/endpoint/"))
    assert statuses == [403, 403, 404], janus.requests()
    assert [r["auth"] for r in janus.publishes()] == ["Bearer", None], janus.publishes()
    assert janus.recordings() == []


def test_janus_killed_mid_stream_comes_back(janus: JanusWhip, ffmpeg, measurements):
    first = ReferencePublisher(janus, seconds=6, delete=False).start()
    janus.wait_for_recording(0, timeout=15)
    time.sleep(1.0)
    janus.kill()

    # While Janus is down the WHIP server still answers, with 503.
    down = ReferencePublisher(janus, seconds=1).run(timeout=30)
    assert down.answer.get("status") == 503, down.describe()

    restart_s = janus.restart()
    second = ReferencePublisher(janus, seconds=2).run(timeout=30)
    assert second.returncode == 0 and second.answer["status"] == 201, second.describe() + janus.describe()
    assert [d["status"] for d in janus.deletes()] == [200], janus.requests()
    first.wait(timeout=30)

    janus.wait_recordings_idle()
    before, after = janus.recordings()
    for rec, least in ((before, 0.5), (after, 1.5)):
        converted = rec.convert()
        _, duration = _probe(converted.video)
        assert duration >= least, (rec, duration)
        _, duration = _probe(converted.audio)
        assert duration >= least, (rec, duration)
    measurements.record(f"Janus killed -> WHIP publish possible again after {restart_s:.2f} s (restart + reconnect)")
    assert [p["status"] for p in janus.publishes()] == [201, 503, 201], janus.publishes()
    assert all(p["path"].endswith(ENDPOINT_ID) for p in janus.publishes())
