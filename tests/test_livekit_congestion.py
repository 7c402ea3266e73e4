"""Onair's WebRTC congestion control under a real bottleneck and real loss:
Onair publishes from its own network namespace (onair_testkit.uplink) to the
real livekit-server, and LiveKit's own client decodes what gets through.

A link down for five seconds must come back live within seconds.

The busy test pattern makes the encoder spend what it is given (2.5 Mbit/s),
so a 1.2 Mbit/s cap would lose half of every second's packets if Onair did
not step down.
"""

from __future__ import annotations

import time

import pytest

from onair_testkit import livekit as livekit_kit
from onair_testkit import onair, secrets, uplink

ROOM = "congested"
TARGET_KBPS = 2500
CAP_KBIT = 1200


@pytest.fixture
def link():
    missing = uplink.missing_tools()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (scripts/setup installs them)", pytrace=False)
    with uplink.Uplink() as link:
        yield link


@pytest.fixture
def server(tmp_path, link):
    server = livekit_kit.LiveKitServer(tmp_path / "livekit", ip=link.host_ip).start()
    yield server
    server.stop()


def targets(session: onair.Session, since: int) -> list[int]:
    """The bitrates Onair stepped to after event number ``since``."""
    return [e["kbps"] for e in session.events[since:] if e.get("type") == "bitrate"]


def window(sub, seconds: float) -> tuple[int, int, float]:
    """Frames decoded and sent over the next ``seconds``, and the longest
    gap between decoded frames (a freeze the viewer sees)."""
    mark = sub.mark()
    time.sleep(seconds)
    numbers = sub.stamp_numbers(mark)
    arrivals = [r.received for r in sub.frames(mark) if r.frame is not None]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    sent = numbers[-1] - numbers[0] + 1 if numbers else 0
    return len(numbers), sent, max(gaps, default=seconds)


def test_the_publisher_steps_down_under_a_cap_and_rides_through_loss(link, server, measurements):
    token = server.token("onair", ROOM, can_subscribe=False)
    secrets.SESSION.register(token)
    args = ["live", server.url, "--key-stdin", "--json", "--video", "test:busy", "--bitrate", str(TARGET_KBPS)]
    with server.subscriber(ROOM, audio=False) as sub, onair.Session(
        args, stdin=token + "\n", wrap=link.netns_prefix
    ) as session:
        session.wait_for_state("live", timeout=30)
        sub.wait_for_frames(30, timeout=20)
        clean = window(sub, 5)

        # A bottleneck under the bitrate: Onair must step below it.
        capped_at, capped_mark = time.time(), len(session.events)
        link.cap(CAP_KBIT)
        session.wait_for(lambda e: e.get("type") == "bitrate" and e["kbps"] <= CAP_KBIT * 0.9, timeout=20)
        stepped_down_s = time.time() - capped_at
        time.sleep(3)
        capped = window(sub, 10)
        under_cap = targets(session, capped_mark)

        # The bottleneck gone: back up to what the creator chose.
        uncapped_at = time.time()
        link.uncap()
        session.wait_for(lambda e: e.get("type") == "bitrate" and e["kbps"] >= TARGET_KBPS * 0.9, timeout=40)
        recovered_s = time.time() - uncapped_at

        # Light random loss (5 %): NACK repairs it; no reason to step down.
        lossy_mark = len(session.events)
        link.loss(5)
        lossy = window(sub, 10)
        dropped = link.dropped_packets()
        link.no_loss()
        steps_in_loss = targets(session, lossy_mark)
        session.stop()
    assert session.returncode == 0, session.describe()

    measurements.record(
        f"congestion: clean {clean[0]}/{clean[1]} frames (longest gap {clean[2]:.2f} s); "
        f"cap {CAP_KBIT} kbit/s: stepped to <= {CAP_KBIT * 0.9:.0f} kbps in {stepped_down_s:.1f} s, "
        f"then {capped[0]}/{capped[1]} frames decoded (longest gap {capped[2]:.2f} s), targets {under_cap}; "
        f"cap lifted: back to {TARGET_KBPS * 0.9:.0f}+ kbps in {recovered_s:.1f} s; "
        f"5 % loss ({dropped} packets dropped): {lossy[0]}/{lossy[1]} frames (longest gap {lossy[2]:.2f} s), "
        f"steps {steps_in_loss}"
    )
    # The round trip rides on the stats from the signal connection's pings.
    rtts = [d.get("rtt_ms") for e in session.events if e.get("type") == "stats" for d in e.get("destinations", [])]
    assert any(rtt is not None for rtt in rtts), "no round trip in the stats"
    assert clean[0] >= 0.95 * clean[1], clean
    assert capped[0] >= 0.8 * capped[1], f"under the cap only {capped[0]} of {capped[1]} frames decoded"
    assert dropped > 0, "the loss rule dropped nothing"
    assert lossy[0] >= 0.85 * lossy[1], f"with 5 % loss only {lossy[0]} of {lossy[1]} frames decoded"
    assert all(kbps >= TARGET_KBPS * 0.8 for kbps in steps_in_loss), steps_in_loss


def test_the_link_down_for_five_seconds_comes_back_live(link, server, measurements):
    token = server.token("onair", ROOM, can_subscribe=False)
    secrets.SESSION.register(token)
    args = ["live", server.url, "--key-stdin", "--json"]
    with server.subscriber(ROOM, audio=False) as sub, onair.Session(
        args, stdin=token + "\n", wrap=link.netns_prefix
    ) as session:
        session.wait_for_state("live", timeout=30)
        sub.wait_for_frames(30, timeout=20)
        link.down()
        time.sleep(5)
        mark, restored_at = sub.mark(), time.time()
        link.up()
        # Resume with an ICE restart: seconds, not the server's 15 s timeout.
        sub.wait_until(lambda s: len(s.frames(mark)) >= 30, timeout=10, what="frames after the link came back")
        back_s = sub.frames(mark)[0].received - restored_at
        time.sleep(1)
        states = [e["state"] for e in session.events if e.get("type") == "state"]
        reconnects = [e for e in session.events if e.get("type") == "reconnect"]
        session.stop()
    assert session.returncode == 0, session.describe()
    assert "failed" not in states, states
    measurements.record(
        f"link down 5 s: frames again {back_s:.1f} s after it came back; states {states}; "
        f"{len(reconnects)} reconnect attempt(s): "
        + "; ".join(f"{e['at_ms'] / 1000:.1f} s #{e['attempt']} retry in {e['retry_in_ms']} ms ({e['reason']})" for e in reconnects)
        + "; states at " + ", ".join(f"{e['state']} {e['at_ms'] / 1000:.1f} s" for e in session.events if e.get("type") == "state")
    )
