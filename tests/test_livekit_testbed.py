"""The LiveKit testbed measures itself before it measures Onair.

LiveKit's own SDK publishes the stamped picture and the test tone to the real
livekit-server; the testbed's subscriber must read every stamp in order at
the published size, hear the beeps, see each simulcast layer it asks for,
count viewers, be refused by the server for bad tokens, and survive the
server being killed and started again on the same ports.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from onair_testkit import media
from onair_testkit.livekit import LkH264Publisher, Subscriber

ROOM = "studio"


def _in_order(numbers: list[int]) -> bool:
    return all(b > a for a, b in zip(numbers, numbers[1:]))


def _last_size(sub: Subscriber):
    last = sub.frames(since=-1)
    return (last[0].width, last[0].height) if last else None


def test_subscriber_reads_stamps_size_latency_and_tone(livekit, measurements):
    with livekit.publisher(ROOM, width=1280, height=720, fps=30) as pub:
        joined = time.time()
        with livekit.subscriber(ROOM) as sub:
            sub.wait_for_frames(10, timeout=15)
            # Audio starts on its own track, sometimes a second after video.
            sub.wait_until(lambda s: media.find_beeps(s.audio()), timeout=10, what="the first beep")
            start, sent_before = sub.mark(), pub.frames_sent
            time.sleep(4)
            frames, sent = sub.frames(start), pub.frames_sent - sent_before
            pub.check()
            numbers = sub.stamp_numbers(start)
            sizes = sub.sizes(start)
            audio = sub.audio()
            info = sub.video_publication()

    assert info["mime_type"].lower() == "video/h264", info
    assert set(sizes) == {(1280, 720)}, sizes
    assert _in_order(numbers), numbers
    # Every frame sent in the window arrives (allowing the window's edges).
    assert len(numbers) >= 0.9 * sent, (len(numbers), sent)
    assert sum(r.frame is None for r in frames) <= 2, sub.summary(start)
    p50, p95 = sub.latency_ms(50, start), sub.latency_ms(95, start)
    assert 0 < p50 < 150 and p95 < 400, (p50, p95)

    # The beeps, at 1 kHz and the tone's level, one a second.
    beeps = media.find_beeps(audio)
    assert len(beeps) >= 3, f"{len(beeps)} beeps in {audio.duration:.1f} s"
    assert all(abs(b.level - 0.5) < 0.1 for b in beeps), [b.level for b in beeps]
    # Whole seconds apart (under load an underrun may spoil one beep).
    gaps = np.diff([b.onset for b in beeps])
    assert np.all((np.round(gaps) >= 1) & (np.abs(gaps - np.round(gaps)) < 0.05)), gaps
    # Beeps are captured on whole seconds of wall time: the arrival of a
    # beep's onset past its second is the audio path's latency.
    arrivals = [sub.audio_arrival((b.onset - audio.start) * audio.rate) for b in beeps]
    audio_ms = float(np.median([(t - round(t)) * 1000 for t in arrivals]))
    assert 0 < audio_ms < 300, audio_ms

    measurements.record(
        f"SDK publisher → livekit-server → SDK subscriber, 1280x720 H.264 on loopback:\n"
        f"capture-to-decode p50 {p50:.0f} ms, p95 {p95:.0f} ms; "
        f"{len(numbers)} of {sent} frames in 4 s; first frame "
        f"{sub.first_frame_at - joined:.2f} s after the subscriber started joining; "
        f"audio (beep onset) capture-to-arrival {audio_ms:.0f} ms"
    )


def test_simulcast_layers_on_request(livekit, measurements):
    with livekit.publisher(ROOM, simulcast=True) as pub, livekit.subscriber(ROOM, audio=False) as sub:
        sub.wait_for_frames(5, timeout=15)
        assert sub.video_publication()["simulcasted"]
        got = {}
        for quality, size in (("low", (320, 180)), ("medium", (640, 360)), ("high", (1280, 720))):
            sub.set_quality(quality)
            # The switch waits for a keyframe of the new layer.
            sub.wait_until(lambda s: _last_size(s) == size, timeout=10, what=f"{quality} layer {size}")
            mark = sub.mark()
            time.sleep(1.0)
            got[quality] = sub.sizes(mark)
            assert set(got[quality]) == {size}, (quality, got[quality])
            assert _in_order(sub.stamp_numbers(mark))
        pub.check()
    measurements.record(
        "simulcast layers received on request (frames in 1 s): "
        + ", ".join(f"{q} {dict(c)}" for q, c in got.items())
    )


def test_viewers_join_and_leave(livekit):
    with livekit.publisher(ROOM, width=640, height=360, audio=False), livekit.viewers(ROOM) as crowd:
        livekit.wait_for_participants(ROOM, lambda ps: [p.identity for p in ps] == ["reference"])
        assert livekit.viewer_count(ROOM, "reference") == 0
        crowd.join(3)
        livekit.wait_for_participants(ROOM, lambda ps: len(ps) == 4)
        assert livekit.viewer_count(ROOM, "reference") == 3
        crowd.leave(1)
        livekit.wait_for_participants(ROOM, lambda ps: len(ps) == 3)
        crowd.leave()
        livekit.wait_for_participants(ROOM, lambda ps: len(ps) == 1)
        assert livekit.viewer_count(ROOM, "reference") == 0
        # The same with LiveKit's Go SDK: lk load-test.
        with livekit.load_test(ROOM, 3):
            livekit.wait_for_participants(ROOM, lambda ps: len(ps) == 4, timeout=20)
            assert livekit.viewer_count(ROOM, "reference") == 3
        livekit.wait_for_participants(ROOM, lambda ps: len(ps) == 1)


def test_server_refuses_bad_tokens(livekit):
    import jwt
    from livekit import rtc

    # The claims a client checks before connecting are the ones asked for.
    limited = livekit.token("onair", ROOM, can_subscribe=False, sources=["camera", "microphone"])
    video = jwt.decode(limited, options={"verify_signature": False})["video"]
    assert video["room"] == ROOM and video["canPublishSources"] == ["camera", "microphone"]
    assert video["canSubscribe"] is False

    expired = livekit.token("onair", ROOM, expired=True)
    forged = livekit.token("onair", ROOM, secret="not-the-secret")
    status, why = livekit.validate(expired)
    assert status == 401 and "expired" in why.lower(), (status, why)
    assert livekit.validate(forged)[0] == 401
    assert livekit.validate(livekit.token("onair", ROOM))[0] == 200
    for token in (expired, forged):
        with pytest.raises(rtc.ConnectError):
            Subscriber(livekit.url, token, connect_timeout=5).start()

    # The room lives in the token: one for another room joins that room, so
    # only the client can refuse it before connecting. The testbed makes it.
    with livekit.viewers("elsewhere") as crowd:
        crowd.join(1)
        livekit.wait_for_participants("elsewhere", lambda ps: len(ps) == 1)
        assert not any(r.name == ROOM for r in livekit.rooms())


def test_server_killed_and_restarted_on_the_same_ports(livekit, measurements):
    ports = (livekit.port, livekit.tcp_port, livekit.udp_port)
    with livekit.publisher(ROOM, width=640, height=360, audio=False) as pub:
        with livekit.subscriber(ROOM, audio=False) as before:
            before.wait_for_frames(5, timeout=15)
        livekit.kill()
        down = time.monotonic()
        livekit.start()
        assert (livekit.port, livekit.tcp_port, livekit.udp_port) == ports
        # The SDK publisher finds the room gone and rejoins by itself.
        livekit.wait_for_participants(ROOM, lambda ps: any(p.identity == "reference" for p in ps), timeout=30)
        with livekit.subscriber(ROOM, audio=False) as after:
            after.wait_for_frames(5, timeout=15)
            back = time.monotonic() - down
            assert _in_order(after.stamp_numbers())
        pub.check()
    measurements.record(f"SDK publisher back on a restarted server: frames at a new subscriber {back:.1f} s after the kill")


def test_decodes_constrained_baseline_from_a_non_libwebrtc_publisher(livekit, ffmpeg, measurements):
    """libx264 Constrained Baseline sent by pion (lk), as Onair's openh264 and
    webrtc-rs will send it: the SDK subscriber decodes every frame."""
    with LkH264Publisher(livekit, ROOM, width=640, height=360) as pub:
        livekit.wait_for_participants(ROOM, lambda ps: any(p.tracks for p in ps), timeout=15)
        with livekit.subscriber(ROOM, audio=False) as sub:
            sub.wait_for_frames(10, timeout=15)
            start, sent_before = sub.mark(), pub.frames_sent
            time.sleep(3)
            sent = pub.frames_sent - sent_before
            numbers = sub.stamp_numbers(start)
            pub.check()
            assert sub.video_publication()["mime_type"].lower() == "video/h264"
    assert set(sub.sizes(start)) == {(640, 360)}
    assert _in_order(numbers) and len(numbers) >= 0.9 * sent, (len(numbers), sent)
    p50, p95 = sub.latency_ms(50, start), sub.latency_ms(95, start)
    assert p50 < 250, (p50, p95)
    measurements.record(
        f"libx264 baseline via lk (pion) → SDK subscriber, 640x360: {len(numbers)} of {sent} frames in 3 s, "
        f"capture-to-decode p50 {p50:.0f} ms, p95 {p95:.0f} ms (includes ffmpeg and lk's paced reader)"
    )
