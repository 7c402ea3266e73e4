"""A real RTMP viewer: ffmpeg plays the stream from the server, as a
player would, and every decoded frame's stamp is read as it arrives.

    with RtmpViewer(nginx.url("live") + "/" + key, width=640) as viewer:
        viewer.wait_for_frames(30)
        print(viewer.frames()[-1].capture_ms)

Only the stamp's rows leave ffmpeg (cropped, grey), so reading costs
little. When ffmpeg gives up (the server died, nothing arrived for
``stall_s``) the viewer plays the stream again, as a player retrying
would: ``plays`` counts the attempts.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import media, stamp


@dataclass(frozen=True)
class ViewedFrame:
    #: Wall-clock time (Unix seconds) the decoded frame reached the viewer.
    received: float
    frame: Optional[int]
    #: The stamp's capture time (Unix ms mod 2**32), None when unreadable.
    capture_ms: Optional[int]


class RtmpViewer:
    def __init__(self, url: str, width: int, stall_s: float = 3.0):
        self.url = url
        self.width = width
        self.rows = stamp.stamp_height(width)
        self.stall_s = stall_s
        self.plays = 0
        self._frames: list[ViewedFrame] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._proc: Optional[subprocess.Popen] = None
        self._thread = threading.Thread(target=self._watch, name="rtmp-viewer", daemon=True)

    def start(self) -> "RtmpViewer":
        self._thread.start()
        return self

    def _command(self) -> list[str]:
        return [
            "ffmpeg", "-nostdin", "-loglevel", "error",
            "-rw_timeout", str(int(self.stall_s * 1_000_000)),
            "-fflags", "nobuffer", "-flags", "low_delay",
            "-i", self.url, "-an",
            "-vf", f"crop={self.width}:{self.rows}:0:0,format=gray",
            *media._passthrough_args(), "-flush_packets", "1",
            "-f", "rawvideo", "pipe:1",
        ]

    def _watch(self) -> None:
        size = self.width * self.rows
        while not self._stopping.is_set():
            self.plays += 1
            self._proc = subprocess.Popen(self._command(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            while True:
                data = self._proc.stdout.read(size)
                if len(data) < size:
                    break
                received = time.time()
                found = stamp.read(np.frombuffer(data, dtype=np.uint8).reshape(self.rows, self.width))
                with self._lock:
                    self._frames.append(ViewedFrame(
                        received, None if found is None else found.frame, None if found is None else found.time_ms))
            self._proc.wait()
            self._stopping.wait(0.2)

    def mark(self) -> int:
        with self._lock:
            return len(self._frames)

    def frames(self, since: int = 0) -> list[ViewedFrame]:
        with self._lock:
            return self._frames[since:]

    def wait_for_frames(self, count: int, timeout: float = 15, since: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.frames(since)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the RTMP viewer decoded {len(self.frames(since))} of {count} frames "
                                   f"in {timeout} s ({self.plays} plays)")
            time.sleep(0.05)

    def close(self) -> None:
        self._stopping.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RtmpViewer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
