"""What a receiver measured, from the stamps, flashes and beeps it saw.

``analyse_video`` and ``match_av`` work on anything a receiver collected (a
recording, frames from a LiveKit or RTMP client); ``analyse_file`` does the
whole job for a media file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import media
from .stamp import Stamp


@dataclass
class FrameReport:
    """The sequence of stamped frames a receiver saw."""

    frames: int
    #: Frames whose stamp could not be read (index into the decoded frames).
    unreadable: list[int]
    #: Frame numbers of the readable stamps, in the order they were shown.
    numbers: list[int]
    #: Frame numbers missing between the first and the last one seen.
    lost: list[int]
    #: Frame numbers shown more than once in a row (a repeated frame).
    repeated: list[int]
    #: Places where a number went backwards or reappeared later: (before, after).
    out_of_order: list[tuple[int, int]]

    @property
    def first(self) -> Optional[int]:
        return self.numbers[0] if self.numbers else None

    @property
    def last(self) -> Optional[int]:
        return self.numbers[-1] if self.numbers else None

    @property
    def consecutive(self) -> bool:
        """Every frame readable, each number one more than the previous."""
        return (
            not self.unreadable
            and bool(self.numbers)
            and all(b - a == 1 for a, b in zip(self.numbers, self.numbers[1:]))
        )


def analyse_frames(stamps: Sequence[Optional[Stamp]]) -> FrameReport:
    """Lost, repeated and reordered frames from the stamps in display order
    (None for a frame whose stamp did not decode)."""
    unreadable = [i for i, s in enumerate(stamps) if s is None]
    numbers = [s.frame for s in stamps if s is not None]
    repeated, out_of_order = [], []
    seen: set[int] = set()
    for prev, cur in zip(numbers, numbers[1:]):
        if cur == prev:
            repeated.append(cur)
        elif cur < prev or cur in seen:
            out_of_order.append((prev, cur))
        seen.add(prev)
    lost: list[int] = []
    if numbers:
        present = set(numbers)
        lost = [n for n in range(min(numbers), max(numbers) + 1) if n not in present]
    return FrameReport(
        frames=len(stamps),
        unreadable=unreadable,
        numbers=numbers,
        lost=lost,
        repeated=repeated,
        out_of_order=out_of_order,
    )


@dataclass
class AvMatch:
    flash_time: float
    beep_time: float
    #: flash_time - beep_time: positive when the picture is late.
    offset: float
    flash_frame: Optional[int] = None


@dataclass
class AvReport:
    matches: list[AvMatch]
    #: Flashes with no beep within reach, and beeps with no flash.
    lone_flashes: list[float]
    lone_beeps: list[float]

    @property
    def offsets(self) -> np.ndarray:
        return np.array([m.offset for m in self.matches])

    @property
    def mean_offset(self) -> float:
        return float(self.offsets.mean()) if self.matches else float("nan")

    @property
    def max_abs_offset(self) -> float:
        return float(np.abs(self.offsets).max()) if self.matches else float("nan")

    def summary(self) -> str:
        if not self.matches:
            return f"A/V: no flash matched a beep ({len(self.lone_flashes)} flashes, {len(self.lone_beeps)} beeps)"
        ms = self.offsets * 1000
        return (
            f"A/V offset (flash - beep) over {len(ms)} flashes: mean {ms.mean():+.2f} ms, "
            f"max |{np.abs(ms).max():.2f}| ms, min {ms.min():+.2f} ms, max {ms.max():+.2f} ms; "
            f"each: {' '.join(f'{v:+.1f}' for v in ms)}"
            + (f"; unmatched flashes {self.lone_flashes}" if self.lone_flashes else "")
            + (f"; unmatched beeps {self.lone_beeps}" if self.lone_beeps else "")
        )


def match_av(
    flashes: Sequence[media.Flash], beeps: Sequence[float], reach: float = 0.5
) -> AvReport:
    """Pairs each flash with the nearest beep (within ``reach`` seconds; the
    beeps are a second apart, so anything nearer than half a second is the
    same instant)."""
    beeps_arr = np.asarray(beeps, dtype=np.float64)
    matches, lone_flashes, used = [], [], set()
    for flash in flashes:
        if len(beeps_arr) == 0:
            lone_flashes.append(flash.time)
            continue
        j = int(np.argmin(np.abs(beeps_arr - flash.time)))
        if abs(beeps_arr[j] - flash.time) > reach:
            lone_flashes.append(flash.time)
            continue
        used.add(j)
        matches.append(
            AvMatch(
                flash_time=flash.time,
                beep_time=float(beeps_arr[j]),
                offset=flash.time - float(beeps_arr[j]),
                flash_frame=flash.frame,
            )
        )
    lone_beeps = [float(b) for j, b in enumerate(beeps_arr) if j not in used]
    return AvReport(matches=matches, lone_flashes=lone_flashes, lone_beeps=lone_beeps)


def capture_time_skew(pts: Sequence[float], stamps: Sequence[Optional[Stamp]]) -> Optional[float]:
    """How far (s) the frames' presentation times wander from the capture
    times in their stamps, after removing the constant difference: the
    largest |(pts - capture) - median(pts - capture)|. None without stamps."""
    diffs = []
    base = None
    for t, s in zip(pts, stamps):
        if s is None or not np.isfinite(t):
            continue
        if base is None:
            base = s.time_ms
        # Unwrap relative to the first stamp (the field is Unix ms mod 2**32).
        rel_ms = (s.time_ms - base) % (1 << 32)
        if rel_ms >= 1 << 31:
            rel_ms -= 1 << 32
        diffs.append(t - rel_ms / 1000.0)
    if not diffs:
        return None
    d = np.array(diffs)
    return float(np.abs(d - np.median(d)).max())


@dataclass
class FileReport:
    path: Path
    info: dict
    video: Optional[media.DecodedVideo]
    frames: Optional[FrameReport]
    flashes: list[media.Flash]
    audio: Optional[media.DecodedAudio]
    beeps: list[float]
    av: Optional[AvReport]
    audio_gaps: list[tuple[float, float]] = field(default_factory=list)
    skew: Optional[float] = None

    def summary(self) -> str:
        lines = [f"{self.path.name}:"]
        if self.frames is not None:
            f = self.frames
            lines.append(
                f"  video: {f.frames} frames, numbers {f.first}..{f.last}, "
                f"unreadable {len(f.unreadable)}, lost {len(f.lost)}, repeated {len(f.repeated)}, "
                f"out of order {len(f.out_of_order)}"
            )
            if self.skew is not None:
                lines.append(f"  pts vs stamp capture time: max wander {self.skew * 1000:.2f} ms")
            lines.append(
                f"  flashes: {len(self.flashes)} at frames {[fl.frame for fl in self.flashes]}"
            )
        if self.audio is not None:
            lines.append(
                f"  audio: {self.audio.duration:.3f} s from {self.audio.start:.3f} s, "
                f"{len(self.beeps)} beeps, {len(self.audio_gaps)} packet gaps"
            )
        if self.av is not None:
            lines.append("  " + self.av.summary())
        return "\n".join(lines)


def analyse_file(path: str | Path) -> FileReport:
    """Everything the test pattern and tone let us measure in a media file."""
    path = Path(path)
    info = media.probe(path)
    video = frames = None
    flashes: list[media.Flash] = []
    skew = None
    if media.streams_of(info, "video"):
        video = media.decode_video(path)
        frames = analyse_frames(video.stamps)
        flashes = media.find_flashes(video)
        skew = capture_time_skew(video.pts, video.stamps)
    audio = None
    beeps: list[float] = []
    gaps: list[tuple[float, float]] = []
    if media.streams_of(info, "audio"):
        audio = media.decode_audio(path)
        beeps = media.find_beep_onsets(audio)
        gaps = media.find_audio_gaps(path)
    av = match_av(flashes, beeps) if video is not None and audio is not None else None
    return FileReport(
        path=path,
        info=info,
        video=video,
        frames=frames,
        flashes=flashes,
        audio=audio,
        beeps=beeps,
        av=av,
        audio_gaps=gaps,
        skew=skew,
    )
