"""A userspace delay line ("netem" for a kernel that has none): two TUN
devices, one in the publisher's network namespace and one in the host's,
and this process between them holding every packet for a while.

    python wire.py NETNS INNER OUTER

creates TUN ``INNER`` inside ``NETNS`` and ``OUTER`` in the namespace it
runs in, prints ``ready``, then copies packets both ways. Routing decides
what crosses it (``uplink.Uplink.delay`` points one /32 route on each side
at the TUNs). Each line on stdin is a JSON object that changes the wire:

    {"up_ms": 200, "jitter_ms": 20, "down_ms": 0, "loss": 0.0}

``up`` is INNER -> OUTER (what the publisher sends), ``down`` the way back.
Jitter draws each packet's delay uniformly from delay +- jitter but never
lets a packet overtake the one before it (a real queue reorders rarely; a
reordering jitter would test TCP's reordering heuristics, not Onair).
``{"stats": true}`` prints the packet counters as one JSON line. The wire
ends when stdin closes, so it dies with whoever started it.

It runs as its own process, not a thread of the test: the test's decoders
hold the GIL for milliseconds at a time, which would show up as jitter.
"""

from __future__ import annotations

import ctypes
import fcntl
import heapq
import json
import os
import random
import selectors
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
#: Bytes held per direction before the wire drops the newest (netem's
#: ``limit``): a few seconds of a stream at any bitrate we test.
QUEUE_LIMIT_BYTES = 8 * 1024 * 1024


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def open_tun_in(netns: str, name: str) -> int:
    """A TUN device made from inside ``netns``: a device belongs to the
    namespace its /dev/net/tun file was opened in."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {netns}")
        try:
            return open_tun(name)
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")
    finally:
        os.close(home)
        os.close(target)


class Direction:
    """One way through the wire: packets waiting for their release time."""

    def __init__(self, out_fd: int):
        self.out_fd = out_fd
        self.delay_s = 0.0
        self.jitter_s = 0.0
        self.loss = 0.0
        self.last_release = 0.0
        self.held_bytes = 0
        self.passed = 0
        self.dropped = 0

    def release_time(self, now: float) -> float:
        delay = self.delay_s
        if self.jitter_s:
            delay = max(0.0, delay + random.uniform(-self.jitter_s, self.jitter_s))
        self.last_release = max(now + delay, self.last_release)
        return self.last_release


def main() -> int:
    netns, inner_name, outer_name = sys.argv[1:4]
    try:
        os.nice(-10)  # timing matters more than fairness on a busy 2-core machine
    except PermissionError:
        pass
    inner = open_tun_in(netns, inner_name)
    outer = open_tun(outer_name)
    up, down = Direction(outer), Direction(inner)
    ways = {inner: up, outer: down}
    held: list[tuple[float, int, Direction, bytes]] = []
    sequence = 0

    selector = selectors.DefaultSelector()
    selector.register(inner, selectors.EVENT_READ)
    selector.register(outer, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)

    while True:
        timeout = None if not held else max(0.0, held[0][0] - time.monotonic())
        for key, _ in selector.select(timeout):
            if key.fileobj is sys.stdin:
                line = sys.stdin.readline()
                if not line:
                    return 0
                command = json.loads(line)
                if command.get("stats"):
                    print(json.dumps({
                        "up": {"passed": up.passed, "dropped": up.dropped},
                        "down": {"passed": down.passed, "dropped": down.dropped},
                    }), flush=True)
                    continue
                up.delay_s = command.get("up_ms", 0) / 1000
                down.delay_s = command.get("down_ms", 0) / 1000
                up.jitter_s = down.jitter_s = command.get("jitter_ms", 0) / 1000
                up.loss = down.loss = command.get("loss", 0.0)
                continue
            way = ways[key.fd]
            while True:
                try:
                    packet = os.read(key.fd, 65536)
                except BlockingIOError:
                    break
                except OSError:  # the device went down
                    break
                now = time.monotonic()
                if (way.loss and random.random() < way.loss) or way.held_bytes + len(packet) > QUEUE_LIMIT_BYTES:
                    way.dropped += 1
                    continue
                way.held_bytes += len(packet)
                sequence += 1
                heapq.heappush(held, (way.release_time(now), sequence, way, packet))
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, way, packet = heapq.heappop(held)
            way.held_bytes -= len(packet)
            try:
                os.write(way.out_fd, packet)
                way.passed += 1
            except OSError:  # device down or its queue full: the packet is lost, as on a wire
                way.dropped += 1


if __name__ == "__main__":
    sys.exit(main())
