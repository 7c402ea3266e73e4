"""Ending the test kit's child processes: one rule for every server and tool."""

from __future__ import annotations

import signal
import subprocess
from typing import Optional


def end(proc: Optional[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
    """Asks a running child to end with ``sig`` (the one that lets it finish
    its files or leave its room), kills it when it has not ended within
    ``timeout`` seconds, and reaps it either way. A child that is gone, or
    none, is left as it is."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
