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
from typing import Iterator, Optional, Sequence

import numpy as np

from . import media, stamp


@dataclass(frozen=True)
class ViewedFrame:
    #: Wall-clock time (Unix seconds) the decoded frame reached the viewer.
    received: float
    frame: Optional[int]
    #: The stamp's capture time (Unix ms mod 2**32), None when unreadable.
    capture_ms: Optional[int]


class StampReader:
    """The stamp of every frame ffmpeg decodes from ``source`` (a URL or a
    file), as it decodes it: memory stays flat however long the stream.
    ``close()`` (from any thread) ends the reading."""

    def __init__(self, source: str, width: int, input_args: Sequence[str] = ()):
        self.width = width
        self.rows = stamp.stamp_height(width)
        self._proc = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", *input_args, "-i", source, "-an",
             "-vf", f"crop={width}:{self.rows}:0:0,format=gray",
             *media._passthrough_args(), "-flush_packets", "1", "-f", "rawvideo", "pipe:1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )

    def __iter__(self) -> Iterator[Optional[stamp.Stamp]]:
        size = self.width * self.rows
        while len(data := self._proc.stdout.read(size)) == size:
            yield stamp.read(np.frombuffer(data, dtype=np.uint8).reshape(self.rows, self.width))
        self._proc.wait()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


class RtmpViewer:
    def __init__(self, url: str, width: int, stall_s: float = 3.0):
        self.url = url
        self.width = width
        self.stall_s = stall_s
        self.plays = 0
        self._frames: list[ViewedFrame] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._playing: Optional[StampReader] = None
        self._thread = threading.Thread(target=self._watch, name="rtmp-viewer", daemon=True)

    def start(self) -> "RtmpViewer":
        self._thread.start()
        return self

    def _watch(self) -> None:
        # -rw_timeout: a stalled stream ends the play, and the viewer plays again.
        live = ["-rw_timeout", str(int(self.stall_s * 1_000_000)), "-fflags", "nobuffer", "-flags", "low_delay"]
        while not self._stopping.is_set():
            self.plays += 1
            self._playing = StampReader(self.url, self.width, live)
            if self._stopping.is_set():  # close() came while it started
                self._playing.close()
            for found in self._playing:
                frame = ViewedFrame(time.time(), None if found is None else found.frame,
                                    None if found is None else found.time_ms)
                with self._lock:
                    self._frames.append(frame)
            self._playing.close()
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
        if self._playing is not None:
            self._playing.close()
        self._thread.join(timeout=10)

    def __enter__(self) -> "RtmpViewer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
