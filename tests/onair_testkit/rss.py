"""What a running process uses: its resident memory (VmRSS), sampled in
the background to show that a long or troubled session does not grow, and
its CPU time so far."""

from __future__ import annotations

import os
import threading
import time
from typing import Optional


def rss_kib(pid: int) -> Optional[int]:
    """VmRSS of ``pid`` in KiB, None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """(monotonic time, KiB) every ``interval`` seconds until ``stop()``."""

    def __init__(self, pid: int, interval: float = 0.5):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            kib = rss_kib(self.pid)
            if kib is None:
                return
            self.samples.append((time.monotonic(), kib))
            self._stop.wait(self.interval)

    def now_mib(self) -> float:
        kib = rss_kib(self.pid)
        return (kib if kib is not None else self.samples[-1][1]) / 1024

    def peak_mib(self, since: float = 0.0) -> float:
        """The largest sample taken at or after monotonic time ``since``."""
        return max((kib for t, kib in self.samples if t >= since), default=0) / 1024

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
