"""What a viewer saw around a fault, from the frames it decoded (anything
with ``received``, Unix seconds, and the stamp's ``capture_ms``, Unix ms
mod 2**32: LiveKit's ``VideoRecord``, the RTMP viewer's ``ViewedFrame``).

A frame decoded after the fault was cleared proves nothing by itself (it
may have waited in a queue): recovery is the first frame *captured* after
the fault was cleared reaching the viewer.
"""

from __future__ import annotations

from typing import Optional, Sequence

_WRAP = 2**32


def captured_after(capture_ms: Optional[int], unix_s: float) -> bool:
    """Whether a stamp's capture time (Unix ms mod 2**32) is at or after ``unix_s``."""
    if capture_ms is None:
        return False
    return (capture_ms - int(unix_s * 1000)) % _WRAP < _WRAP // 2


def fresh(frames: Sequence, since_unix_s: float) -> list:
    """The frames captured at or after ``since_unix_s``."""
    return [f for f in frames if captured_after(f.capture_ms, since_unix_s)]


def recovery_s(frames: Sequence, cleared_unix_s: float) -> Optional[float]:
    """Seconds from the fault's end to the first frame captured after it
    reaching the viewer; None if none has."""
    first = next(iter(fresh(frames, cleared_unix_s)), None)
    return None if first is None else first.received - cleared_unix_s


def longest_gap_s(frames: Sequence, start_unix_s: float, end_unix_s: float) -> float:
    """The longest stretch between ``start`` and ``end`` with no frame
    decoded: the freeze a viewer saw."""
    times = [start_unix_s] + sorted(f.received for f in frames if start_unix_s < f.received < end_unix_s) + [end_unix_s]
    return max(b - a for a, b in zip(times, times[1:]))
