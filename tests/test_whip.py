"""Onair publishing over WHIP to a real Janus (VideoRoom, recording on) behind
simple-whip-server, in network namespaces of its own (onair_testkit/janus.py).
Janus's recording is converted and read with ffprobe and the stamp reader.
"""

from __future__ import annotations

import os
import time

from onair_testkit import colour, media, onair, report
from onair_testkit.janus import JanusWhip

#: Seconds of media the main test publishes (30 for the issue's full run).
SECONDS = float(os.environ.get("ONAIR_WHIP_SECONDS", "12"))
FPS = 30


def live(janus: JanusWhip, *extra: str, token: str | None = None) -> onair.Session:
    # The token goes in on stdin, never on the command line.
    token = janus.token if token is None else token
    return onair.Session(["live", janus.url, "--key-stdin", "--json", "--size", "640x360", *extra],
                         stdin=token + "\n", wrap=janus.netns_prefix)


def test_publishes_h264_and_opus_that_janus_records(janus: JanusWhip, ffmpeg, measurements):
    pressed = time.monotonic()
    with live(janus) as session:
        session.wait_for_state("live", timeout=30)
        to_live = time.monotonic() - pressed
        janus.wait_for_recording(0, timeout=15)
        time.sleep(SECONDS)
        session.stop()
    assert session.returncode == 0, session.describe() + janus.describe()

    (post,) = janus.publishes()
    assert post["status"] == 201 and post["content_type"] == "application/sdp", post
    assert post["auth"] == "Bearer", post
    # Stop sent DELETE for the resource, and Janus took it.
    assert [d["status"] for d in janus.deletes()] == [200], janus.requests()

    janus.wait_recordings_idle()
    (rec,) = janus.recordings()
    converted = rec.convert()
    info = media.probe(converted.video)
    (v,) = media.streams_of(info, "video")
    assert v["codec_name"] == "h264" and (v["width"], v["height"]) == (640, 360), v
    # SD: BT.601 signalled, and the bars right converted back with it.
    colour.check(converted.video, 640, 360, "smpte170m")
    video_s = float(info["format"]["duration"])
    info = media.probe(converted.audio)
    (a,) = media.streams_of(info, "audio")
    assert a["codec_name"] == "opus" and int(a["sample_rate"]) == 48_000, a
    assert video_s >= SECONDS, video_s
    # Restreaming and recording services often decode with ffmpeg's own
    # Opus decoder: it must hear what libopus hears.
    native = media.decode_audio(converted.audio, decoder="opus").samples
    reference = media.decode_audio(converted.audio, decoder="libopus").samples
    agreement = media.agreement_db(native, reference)
    assert agreement > 30, f"ffmpeg's Opus decoder and libopus differ: {agreement:.1f} dB"

    analysed = report.analyse_file(converted.muxed)
    frames = analysed.frames
    assert frames.unreadable == [] and frames.out_of_order == [], analysed.summary()
    assert len(frames.lost) <= 3, analysed.summary()
    assert len(frames.numbers) >= FPS * SECONDS, analysed.summary()
    assert len(analysed.av.matches) >= SECONDS - 2, analysed.summary()
    # Janus lines the tracks up by their first packets' arrival: Onair sends
    # picture and sound with one capture-to-send delay (peer/lipsync.rs;
    # the sound was 27 ms late before).
    assert analysed.av.max_abs_offset < 0.010, analysed.summary()
    measurements.record(
        f"WHIP -> Janus, {SECONDS:.0f} s+: live {to_live:.2f} s after Go Live (POST answered in {post['ms']} ms); "
        f"recorded {len(frames.numbers)} frames ({frames.first}..{frames.last}), lost {len(frames.lost)}, "
        f"consecutive {frames.consecutive}; A/V offset mean {analysed.av.mean_offset * 1000:.1f} ms, "
        f"max {analysed.av.max_abs_offset * 1000:.1f} ms over {len(analysed.av.matches)} beeps; "
        f"ffmpeg's Opus decoder agrees with libopus to {agreement:.1f} dB"
    )


def test_a_wrong_token_is_auth_failed_and_nothing_is_published(janus: JanusWhip):
    run = onair.run(["live", janus.url, "--key-stdin", "--json", "--duration", "5"],
                    stdin="not-the-token\n", wrap=janus.netns_prefix, timeout=30)
    assert run.returncode == 1, run.describe()
    error = run.error
    assert error["code"] == "auth_failed", run.describe()
    # Janus answers 403, not 401; the message says what to do and quotes it.
    assert "403" in error["message"] and "--key-stdin" in error["message"], error
    assert [p["status"] for p in janus.publishes()] == [403], janus.requests()
    assert janus.recordings() == []


def test_an_unknown_endpoint_is_invalid_destination(janus: JanusWhip):
    run = onair.run(["live", janus.url_for("nobody"), "--key-stdin", "--json", "--duration", "5"],
                    stdin=janus.token + "\n", wrap=janus.netns_prefix, timeout=30)
    assert run.returncode == 1, run.describe()
    assert run.error["code"] == "invalid_destination", run.describe()


def test_a_cleartext_endpoint_on_another_host_gets_no_token(janus: JanusWhip):
    # Without the test bed's opt-in, plain http to 10.77.0.1 is not this
    # computer: the bearer is refused before anything is sent.
    run = onair.run(["live", janus.url, "--key-stdin", "--json", "--duration", "5"],
                    stdin=janus.token + "\n", wrap=["ip", "netns", "exec", janus.publisher_netns], timeout=30)
    assert run.returncode == 1, run.describe()
    assert run.error["code"] == "invalid_destination", run.describe()
    assert janus.url in run.error["message"] and "use https://" in run.error["message"], run.error
    assert janus.publishes() == [], "the WHIP server got no offer"


def test_a_refused_connection_is_unreachable(janus: JanusWhip):
    janus.kill(whip_server=True)
    run = onair.run(["live", janus.url, "--key-stdin", "--json", "--duration", "5"],
                    stdin=janus.token + "\n", wrap=janus.netns_prefix, timeout=30)
    assert run.returncode == 1, run.describe()
    assert run.error["code"] == "unreachable", run.describe()
    assert "10.77.0.1:7080" in run.error["message"], run.error


def test_janus_killed_mid_stream_reconnects_with_a_new_publish(janus: JanusWhip, ffmpeg, measurements):
    with live(janus) as session:
        session.wait_for_state("live", timeout=30)
        janus.wait_for_recording(0, timeout=15)
        time.sleep(1.0)
        killed = time.monotonic()
        janus.kill()
        reconnect = session.wait_for(lambda e: e.get("type") == "reconnect", timeout=30)
        noticed = time.monotonic() - killed
        restart_s = janus.restart()
        session.wait_for_state("live", timeout=60)
        back = time.monotonic() - killed
        janus.wait_for_recording(1, timeout=20)
        time.sleep(3.0)
        session.stop()
    assert session.returncode == 0, session.describe() + janus.describe()
    attempts = [e for e in session.events if e.get("type") == "reconnect"]

    # The old resource was gone with Janus: a new POST made a new one.
    statuses = [p["status"] for p in janus.publishes()]
    assert statuses[0] == 201 and statuses[-1] == 201, janus.requests()
    assert janus.deletes()[-1]["status"] == 200, janus.requests()

    janus.wait_recordings_idle()
    before, after = janus.recordings()[:2]
    analysed = report.analyse_file(after.convert().muxed)
    frames = analysed.frames
    assert frames.unreadable == [] and frames.out_of_order == [], analysed.summary()
    assert len(frames.numbers) >= FPS * 2, analysed.summary()
    measurements.record(
        f"Janus killed mid-WHIP-stream: reconnect event after {noticed:.1f} s ({reconnect.get('reason', '')!s:.80}); "
        f"Janus restart took {restart_s:.1f} s; live again {back:.1f} s after the kill, "
        f"{len(attempts)} reconnect attempt(s), POSTs {statuses}; the new recording has "
        f"{len(frames.numbers)} frames, lost {len(frames.lost)}"
    )
