"""Self-test of the spoilable uplink (onair_testkit.uplink): the userspace
delay line really adds its delay to the round trip, connections survive it
being switched on and off, and the loss rule drops what it says."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from onair_testkit import uplink


@pytest.fixture
def link():
    missing = uplink.missing_tools() + [t for t in ("ping",) if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (scripts/setup installs them)", pytrace=False)
    with uplink.Uplink() as link:
        yield link


def ping_ms(link: uplink.Uplink, count: int = 10) -> list[float]:
    """Round trips from the publisher's namespace to the host, in ms."""
    done = subprocess.run(link.wrap(["ping", "-n", "-c", str(count), "-i", "0.05", "-W", "2", link.host_ip]),
                          capture_output=True, text=True, timeout=30)
    return [float(ms) for ms in re.findall(r"time=([\d.]+) ms", done.stdout)]


def test_the_delay_line_adds_its_delay_to_the_round_trip(link, measurements):
    clean = ping_ms(link)
    link.delay(200)
    delayed = ping_ms(link)
    link.delay(100, down_ms=50)
    split = ping_ms(link)
    link.delay(200, jitter_ms=20)
    jittery = ping_ms(link, count=40)
    link.no_delay()
    after = ping_ms(link)
    stats = link.wire_stats()
    measurements.record(
        f"uplink ping: clean max {max(clean):.2f} ms; 200 ms delay {min(delayed):.1f}..{max(delayed):.1f} ms; "
        f"100 up + 50 down {min(split):.1f}..{max(split):.1f} ms; 200 +- 20 ms "
        f"{min(jittery):.1f}..{max(jittery):.1f} ms; off again max {max(after):.2f} ms; wire {stats}"
    )
    assert len(clean) == len(delayed) == len(split) == len(after) == 10
    assert max(clean) < 20 and max(after) < 20, (clean, after)
    assert all(199 <= ms < 230 for ms in delayed), delayed
    assert all(149 <= ms < 180 for ms in split), split
    assert len(jittery) == 40 and all(179 <= ms < 250 for ms in jittery), jittery
    assert max(jittery) - min(jittery) > 15, f"no jitter: {jittery}"
    # 60 pings went through it each way (IPv6 chatter of the TUNs comes on top).
    assert stats["up"]["passed"] >= 60 and stats["down"]["passed"] >= 60, stats


def test_a_connection_rides_through_the_delay_switching_on_and_off(link):
    """The routes change under an open TCP connection: same addresses, so it carries on."""
    server = socket.create_server((link.host_ip, 0))
    port = server.getsockname()[1]
    echoed: list[bytes] = []

    def echo():
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(4096):
                echoed.append(data)
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    client = subprocess.Popen(
        link.wrap(["python3", "-u", "-c",
                   "import socket,sys,time\n"
                   f"s=socket.create_connection(('{link.host_ip}',{port}))\n"
                   "for line in sys.stdin:\n"
                   "    t=time.monotonic(); s.sendall(line.encode()); s.recv(4096)\n"
                   "    print(round((time.monotonic()-t)*1000,1), flush=True)\n"]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )

    def round_trip() -> float:
        client.stdin.write("x\n")
        client.stdin.flush()
        return float(client.stdout.readline())

    try:
        before = round_trip()
        link.delay(200)
        during = round_trip()
        link.no_delay()
        time.sleep(0.3)
        after = round_trip()
    finally:
        client.kill()
        server.close()
    assert before < 50 and after < 50, (before, after)
    assert 199 <= during < 300, during
    assert len(echoed) == 3


def test_loss_drops_the_share_it_is_told_to(link):
    link.loss(30, protocol="all")
    received = len(ping_ms(link, count=100))
    dropped = link.dropped_packets()
    link.no_loss()
    # The counter also sees the namespace's own IPv6 chatter.
    assert 50 <= received <= 90 and 100 - received <= dropped <= 110 - received, (received, dropped)
