"""A creator's uplink we can spoil: Onair runs in its own network namespace
and reaches the host (where the servers and the test's clients live) over a
veth pair. Everything Onair sends crosses that one link, so shaping it
touches nothing else.

    host namespace                               netns onair-ul-PID-N
      livekit-server, the SDK viewer
      veth uplh-N 10.79.X.1/30  <-------------->  veth uplp-N 10.79.X.2/30
                                                  onair (wrap(...))
                                                  tc tbf: a bandwidth cap
                                                  nft: random loss
      tun ulo-N  <-- wire.py (delay) -->          tun uli-N   (only while delayed)

This kernel has no netem, so loss is nftables' ``numgen random`` on the
publisher's outgoing UDP by default (the media; the TCP signal connection is
spared, as on a real lossy Wi-Fi link TCP repairs its own; RTMP tests drop
TCP), and a cap is a token bucket (``tbf``) that queues then drops what
exceeds it, as a real bottleneck does. Delay is a userspace delay line
(``wire.py``): while it is on, a /32 route on each side sends the traffic
between the two addresses through a TUN pair instead of the veth, so
connections carry on with the same addresses when it is switched on or off.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

_COUNTER = itertools.count()


def missing_tools() -> list[str]:
    return [tool for tool in ("ip", "tc", "nft") if shutil.which(tool) is None]


def _run(args: Sequence[str], input: str | None = None) -> None:
    done = subprocess.run(list(args), input=input, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")


class Uplink:
    def __init__(self) -> None:
        n = next(_COUNTER)
        tag = f"{os.getpid() % 10000}-{n}"
        self.netns = f"onair-ul-{tag}"
        self.host_if = f"uplh{tag}"[:15]
        self.publisher_if = f"uplp{tag}"[:15]
        self.wire_inner_if = f"uli{tag}"[:15]
        self.wire_outer_if = f"ulo{tag}"[:15]
        self._wire: Optional[subprocess.Popen] = None
        self._delayed = False
        subnet = (os.getpid() + n) % 250 + 1
        self.host_ip = f"10.79.{subnet}.1"
        self.publisher_ip = f"10.79.{subnet}.2"
        self._up = False

    @classmethod
    def of(cls, netns: str, publisher_if: str) -> "Uplink":
        """Loss, cap and down/up on the link of a namespace someone else made
        and removes (a ``JanusWhip``'s publisher side); no delay line."""
        link = cls()
        link.netns, link.publisher_if = netns, publisher_if
        return link

    def start(self) -> "Uplink":
        _run(["ip", "netns", "add", self.netns])
        self._up = True
        _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.publisher_if,
              "netns", self.netns])
        _run(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if])
        _run(["ip", "link", "set", self.host_if, "up"])
        inside = ["ip", "-n", self.netns]
        _run([*inside, "addr", "add", f"{self.publisher_ip}/30", "dev", self.publisher_if])
        _run([*inside, "link", "set", self.publisher_if, "up"])
        _run([*inside, "link", "set", "lo", "up"])
        return self

    def wrap(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` run inside the publisher's namespace."""
        return ["ip", "netns", "exec", self.netns, *[str(c) for c in cmd]]

    @property
    def netns_prefix(self) -> list[str]:
        """What runs Onair in the publisher's namespace. The server across
        the link is plain ws:// on a private address, so Onair is told to
        accept sending the token there in clear (ONAIR_CLEARTEXT_HOSTS);
        without it only loopback or TLS would do."""
        return ["ip", "netns", "exec", self.netns, "env", f"ONAIR_CLEARTEXT_HOSTS={self.host_ip}"]

    def cap(self, kbit: int) -> None:
        """At most ``kbit`` kbit/s leave the publisher; a 200 ms queue, then drops."""
        _run(self.wrap(["tc", "qdisc", "replace", "dev", self.publisher_if, "root", "tbf",
                        "rate", f"{kbit}kbit", "burst", "16kb", "latency", "200ms"]))

    def uncap(self) -> None:
        _run(self.wrap(["tc", "qdisc", "del", "dev", self.publisher_if, "root"]))

    def cap_inbound(self, kbit: int) -> None:
        """At most ``kbit`` kbit/s reach the namespace from the host: the
        upload of a host program (the desktop app) to a server inside it."""
        _run(["tc", "qdisc", "replace", "dev", self.host_if, "root", "tbf",
              "rate", f"{kbit}kbit", "burst", "16kb", "latency", "200ms"])

    def uncap_inbound(self) -> None:
        _run(["tc", "qdisc", "del", "dev", self.host_if, "root"])

    def down(self) -> None:
        """The link goes away (a cable pulled, Wi-Fi lost)."""
        _run(self.wrap(["ip", "link", "set", self.publisher_if, "down"]))

    def up(self) -> None:
        _run(self.wrap(["ip", "link", "set", self.publisher_if, "up"]))

    def loss(self, percent: float, protocol: str = "udp") -> None:
        """Drops ``percent`` % of the publisher's outgoing ``protocol``
        ("udp", "tcp" or "all") packets at random."""
        self.no_loss()
        if protocol != "udp":
            # TCP hands the device runs of segments at once (TSO): one packet
            # each, so a drop loses one wire packet, not a burst.
            _run(self.wrap(["ip", "link", "set", "dev", self.publisher_if, "gso_max_segs", "1"]))
        per_mille = round(percent * 10)
        match = {"udp": "meta l4proto udp ", "tcp": "meta l4proto tcp ", "all": ""}[protocol]
        if per_mille < 1000:
            match += f"numgen random mod 1000 < {per_mille} "
        rules = (
            "table inet onair_loss {\n"
            "  chain out {\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"    {match}counter drop\n"
            "  }\n"
            "}\n"
        )
        _run(self.wrap(["nft", "-f", "-"]), input=rules)

    def no_loss(self) -> None:
        subprocess.run(self.wrap(["nft", "delete", "table", "inet", "onair_loss"]),
                       capture_output=True, timeout=30)

    def dropped_packets(self) -> int:
        """Packets the loss rule has dropped so far."""
        done = subprocess.run(self.wrap(["nft", "list", "table", "inet", "onair_loss"]),
                              capture_output=True, text=True, timeout=30)
        for word, value in zip(done.stdout.split(), done.stdout.split()[1:]):
            if word == "packets":
                return int(value)
        return 0

    def delay(self, ms: float, jitter_ms: float = 0, down_ms: float = 0) -> None:
        """Holds what the publisher sends for ``ms`` (+- ``jitter_ms``) and
        what it receives for ``down_ms``: the round trip grows by their sum."""
        if self._wire is None:
            self._start_wire()
        if not self._delayed:
            _run(self.wrap(["ip", "route", "replace", f"{self.host_ip}/32", "dev", self.wire_inner_if,
                            "src", self.publisher_ip]))
            _run(["ip", "route", "replace", f"{self.publisher_ip}/32", "dev", self.wire_outer_if,
                  "src", self.host_ip])
            self._delayed = True
        self._tell_wire({"up_ms": ms, "jitter_ms": jitter_ms, "down_ms": down_ms})

    def no_delay(self) -> None:
        """Back onto the veth; what the wire still holds arrives late, as
        from a queue that drains."""
        if self._delayed:
            _run(["ip", "route", "del", f"{self.publisher_ip}/32", "dev", self.wire_outer_if])
            _run(self.wrap(["ip", "route", "del", f"{self.host_ip}/32", "dev", self.wire_inner_if]))
            self._delayed = False

    def wire_stats(self) -> dict:
        """Packets the delay line passed and dropped each way (zeros before it ran)."""
        if self._wire is None:
            return {"up": {"passed": 0, "dropped": 0}, "down": {"passed": 0, "dropped": 0}}
        self._tell_wire({"stats": True})
        return json.loads(self._wire.stdout.readline())

    def _start_wire(self) -> None:
        script = Path(__file__).with_name("wire.py")
        self._wire = subprocess.Popen(
            [sys.executable, str(script), self.netns, self.wire_inner_if, self.wire_outer_if],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        ready = self._wire.stdout.readline().strip()
        if ready != "ready":
            self._wire.kill()
            raise RuntimeError(f"the delay line did not start: {self._wire.stderr.read()[-2000:]}")
        for inside, name in ((True, self.wire_inner_if), (False, self.wire_outer_if)):
            cmd = ["ip", "link", "set", name, "mtu", "1500", "up"]
            _run(self.wrap(cmd) if inside else cmd)

    def _tell_wire(self, command: dict) -> None:
        self._wire.stdin.write(json.dumps(command) + "\n")
        self._wire.stdin.flush()

    def close(self) -> None:
        if not self._up:
            return
        if self._wire is not None:
            # Its host-side TUN, and the route through it, go with it.
            self._wire.kill()
            self._wire.wait()
            self._wire = None
        pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        # Deleting the namespace destroys the veth pair with it.
        subprocess.run(["ip", "netns", "delete", self.netns], capture_output=True, timeout=30)
        self._up = False

    def __enter__(self) -> "Uplink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
