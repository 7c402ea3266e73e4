"""A creator's uplink we can spoil: Onair runs in its own network namespace
and reaches the host (where the servers and the test's clients live) over a
veth pair. Everything Onair sends crosses that one link, so shaping it
touches nothing else.

    host namespace                               netns onair-ul-PID-N
      livekit-server, the SDK viewer
      veth uplh-N 10.79.X.1/30  <-------------->  veth uplp-N 10.79.X.2/30
                                                  onair (wrap(...))
                                                  tc tbf: a bandwidth cap
                                                  nft: random UDP loss

This kernel has no netem, so loss is nftables' ``numgen random`` on the
publisher's outgoing UDP (the media; the TCP signal connection is spared, as
on a real lossy Wi-Fi link TCP repairs its own), and a cap is a token bucket
(``tbf``) that queues then drops what exceeds it, as a real bottleneck does.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from typing import Sequence

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
        subnet = (os.getpid() + n) % 250 + 1
        self.host_ip = f"10.79.{subnet}.1"
        self.publisher_ip = f"10.79.{subnet}.2"
        self._up = False

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
        return ["ip", "netns", "exec", self.netns]

    def cap(self, kbit: int) -> None:
        """At most ``kbit`` kbit/s leave the publisher; a 200 ms queue, then drops."""
        _run(self.wrap(["tc", "qdisc", "replace", "dev", self.publisher_if, "root", "tbf",
                        "rate", f"{kbit}kbit", "burst", "16kb", "latency", "200ms"]))

    def uncap(self) -> None:
        _run(self.wrap(["tc", "qdisc", "del", "dev", self.publisher_if, "root"]))

    def down(self) -> None:
        """The link goes away (a cable pulled, Wi-Fi lost)."""
        _run(self.wrap(["ip", "link", "set", self.publisher_if, "down"]))

    def up(self) -> None:
        _run(self.wrap(["ip", "link", "set", self.publisher_if, "up"]))

    def loss(self, percent: float) -> None:
        """Drops ``percent`` % of the publisher's outgoing UDP packets at random."""
        self.no_loss()
        per_mille = round(percent * 10)
        rules = (
            "table inet onair_loss {\n"
            "  chain out {\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"    meta l4proto udp numgen random mod 1000 < {per_mille} counter drop\n"
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

    def close(self) -> None:
        if not self._up:
            return
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
