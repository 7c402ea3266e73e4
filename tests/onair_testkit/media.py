"""Reading media files with the system's ffprobe and ffmpeg, and finding the
test pattern's flashes and the test tone's beeps in them.

Everything returns plain numbers in seconds on the file's own timeline, so a
flash at ``t`` and a beep at ``t`` were captured at the same instant.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

import numpy as np

from . import stamp as stamp_mod

#: Luma the test pattern fills the picture with on a flash frame.
FLASH_LUMA = 235
#: Mean luma below the stamp above which a frame counts as a flash. The
#: colour bars average about 98, a flash 235.
FLASH_THRESHOLD = 200.0
AUDIO_RATE = 48_000
BEEP_HZ = 1000.0
#: The test tone beeps for the first 100 ms of every second.
BEEP_SECONDS = 0.100


class MediaError(RuntimeError):
    """ffprobe or ffmpeg failed, or the file is not what was expected."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MediaError(f"{name} is not installed (the test suites need ffmpeg and ffprobe)")
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True)
    if done.returncode != 0:
        raise MediaError(
            f"{' '.join(args)} exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}"
        )
    return done


# ---------------------------------------------------------------------------
# Probing


def _ffmpeg_reading(path: str | Path, selector: str, decoder: Optional[str] = None) -> list[str]:
    """The start of an ffmpeg command that decodes one stream of `path`
    (with ``decoder`` instead of ffmpeg's default for its codec)."""
    forced = ["-c:a", decoder] if decoder else []
    return [_tool("ffmpeg"), "-v", "error", "-nostdin", *forced, "-i", str(path), "-map", f"0:{selector}"]


def _libopus_available() -> bool:
    done = subprocess.run([_tool("ffmpeg"), "-hide_banner", "-decoders"], capture_output=True, text=True)
    return " libopus " in done.stdout


def probe(path: str | Path) -> dict:
    """ffprobe's JSON for the file: ``{"streams": [...], "format": {...}}``."""
    done = _run(
        [_tool("ffprobe"), "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    )
    return json.loads(done.stdout)


def streams_of(info: dict, codec_type: str) -> list[dict]:
    """The streams of one type ("video" or "audio") in a ``probe`` result."""
    return [s for s in info.get("streams", []) if s.get("codec_type") == codec_type]


def _float(value) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _frame_times(path: str | Path, selector: str, limit: Optional[int] = None) -> np.ndarray:
    """Presentation times (s) of the decoded frames of one stream, in the
    order a decoder outputs them."""
    args = [_tool("ffprobe"), "-v", "error", "-select_streams", selector]
    if limit is not None:
        args += ["-read_intervals", f"%+#{limit}"]
    args += [
        "-show_entries",
        "frame=best_effort_timestamp_time,pts_time",
        "-of",
        "json",
        str(path),
    ]
    frames = json.loads(_run(args).stdout).get("frames", [])
    times = []
    for frame in frames:
        t = _float(frame.get("best_effort_timestamp_time"))
        if t is None:
            t = _float(frame.get("pts_time"))
        times.append(np.nan if t is None else t)
    return np.array(times, dtype=np.float64)


def packet_times(path: str | Path, selector: str) -> tuple[np.ndarray, np.ndarray]:
    """(pts, duration) in seconds of every packet of one stream, in file order."""
    done = _run(
        [
            _tool("ffprobe"),
            "-v",
            "error",
            "-select_streams",
            selector,
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "json",
            str(path),
        ]
    )
    packets = json.loads(done.stdout).get("packets", [])
    pts = np.array([_float(p.get("pts_time")) or 0.0 for p in packets])
    dur = np.array([_float(p.get("duration_time")) or 0.0 for p in packets])
    return pts, dur


# ---------------------------------------------------------------------------
# Video


@dataclass
class DecodedVideo:
    """Every decoded frame of a video stream, reduced to what the measuring
    needs: the stamp rows and the mean luma of the rest of the picture."""

    width: int
    height: int
    #: Presentation time of each frame, seconds.
    pts: np.ndarray
    #: frames x stamp_height x width luma (uint8): the top of every frame.
    stamp_rows: np.ndarray
    #: Mean luma of each frame below the stamp.
    below_mean: np.ndarray
    stamps: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pts)


@lru_cache(maxsize=1)
def _ffmpeg_version() -> tuple[int, int]:
    out = _run([_tool("ffmpeg"), "-hide_banner", "-version"]).stdout.decode(errors="replace")
    found = re.search(r"version n?(\d+)\.(\d+)", out)
    # Builds from git report "version N-12345-g..."; treat them as new.
    return (int(found.group(1)), int(found.group(2))) if found else (99, 0)


def _passthrough_args() -> list[str]:
    """Ask ffmpeg to output every decoded frame once, with no duplication or
    dropping to reach a constant rate."""
    if _ffmpeg_version() >= (5, 1):
        return ["-fps_mode", "passthrough"]
    return ["-vsync", "passthrough"]


def decode_video(path: str | Path, stream: int = 0) -> DecodedVideo:
    """Decodes video stream number ``stream`` of the file and reads the stamp
    of every frame. Frames stream through a pipe one at a time, so long files
    do not need memory for whole pictures."""
    info = probe(path)
    videos = streams_of(info, "video")
    if len(videos) <= stream:
        raise MediaError(f"{path} has no video stream {stream}")
    width, height = int(videos[stream]["width"]), int(videos[stream]["height"])
    selector = f"v:{stream}"

    # Frame times from ffprobe, in a thread while ffmpeg decodes the pixels.
    times: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def probe_times() -> None:
        try:
            times["pts"] = _frame_times(path, selector)
        except BaseException as e:  # re-raised below
            errors.append(e)

    prober = threading.Thread(target=probe_times, daemon=True)
    prober.start()

    # Raw I420 out, so the luma plane arrives untouched (no range conversion).
    args = [
        *_ffmpeg_reading(path, selector),
        *_passthrough_args(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-",
    ]
    chroma = ((width + 1) // 2) * ((height + 1) // 2)
    frame_bytes = width * height + 2 * chroma
    top = stamp_mod.stamp_height(width)
    rows: list[np.ndarray] = []
    below: list[float] = []
    stamps: list = []
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr_chunks: list[bytes] = []
    drain = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()), daemon=True)
    drain.start()
    try:
        buf = bytearray(frame_bytes)
        view = memoryview(buf)
        while True:
            got = 0
            while got < frame_bytes:
                n = proc.stdout.readinto(view[got:])
                if not n:
                    break
                got += n
            if got == 0:
                break
            if got < frame_bytes:
                raise MediaError(f"ffmpeg ended inside a frame ({got} of {frame_bytes} bytes)")
            luma = np.frombuffer(buf, dtype=np.uint8, count=width * height).reshape(height, width)
            rows.append(luma[:top].copy())
            below.append(float(luma[top:].mean()) if height > top else float("nan"))
            stamps.append(stamp_mod.read(luma))
    finally:
        proc.stdout.close()
        code = proc.wait()
        drain.join()
        prober.join()
    if code != 0:
        raise MediaError(f"ffmpeg could not decode {path}: {b''.join(stderr_chunks).decode(errors='replace')[-2000:]}")
    if errors:
        raise errors[0]
    pts = times["pts"]
    if len(pts) != len(rows):
        raise MediaError(f"ffprobe saw {len(pts)} video frames, ffmpeg decoded {len(rows)}")
    return DecodedVideo(
        width=width,
        height=height,
        pts=pts,
        stamp_rows=np.stack(rows) if rows else np.zeros((0, top, width), np.uint8),
        below_mean=np.array(below),
        stamps=stamps,
    )


@dataclass
class Flash:
    """A white frame of the test pattern."""

    time: float
    #: The frame number its stamp carries (None if the stamp was unreadable).
    frame: Optional[int]


def find_flashes(video: DecodedVideo, threshold: float = FLASH_THRESHOLD) -> list[Flash]:
    """The flash frames: the first frame of every run of frames whose picture
    below the stamp is white."""
    flashes = []
    bright = video.below_mean > threshold
    for i in np.flatnonzero(bright):
        if i > 0 and bright[i - 1]:
            continue  # the same flash shown again (a repeated frame)
        s = video.stamps[i] if i < len(video.stamps) else None
        flashes.append(Flash(time=float(video.pts[i]), frame=None if s is None else s.frame))
    return flashes


# ---------------------------------------------------------------------------
# Audio


@dataclass
class DecodedAudio:
    """Mono float32 samples of an audio stream and the time of the first."""

    samples: np.ndarray
    rate: int
    #: Presentation time (s) of samples[0].
    start: float
    channels: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    def time_of(self, sample_index: float) -> float:
        return self.start + sample_index / self.rate


def decode_audio(path: str | Path, stream: int = 0, rate: int = AUDIO_RATE,
                 decoder: Optional[str] = None) -> DecodedAudio:
    """Decodes audio stream number ``stream`` to mono float32 at ``rate`` (the
    channels are averaged here rather than by ffmpeg's downmix matrix), with
    ``decoder`` if given (e.g. ffmpeg's own ``opus``)."""
    info = probe(path)
    audios = streams_of(info, "audio")
    if len(audios) <= stream:
        raise MediaError(f"{path} has no audio stream {stream}")
    channels = int(audios[stream].get("channels") or 1)
    selector = f"a:{stream}"
    # The first decoded frame's time, after any priming the decoder trims;
    # the stream's start_time if ffprobe cannot say.
    first = _frame_times(path, selector, limit=1)
    start = float(first[0]) if len(first) and np.isfinite(first[0]) else _float(audios[stream].get("start_time")) or 0.0
    # libopus is the reference decoder, and what browsers use. (ffmpeg 5.1's
    # own garbles stereo hybrid packets with in-band FEC; Onair's Opus is
    # mono so that it does not, which test_whip checks.)
    if decoder is None and audios[stream].get("codec_name") == "opus" and _libopus_available():
        decoder = "libopus"
    done = _run(
        [
            *_ffmpeg_reading(path, selector, decoder),
            "-ar",
            str(rate),
            "-ac",
            str(channels),
            "-f",
            "f32le",
            "-",
        ]
    )
    pcm = np.frombuffer(done.stdout, dtype="<f4")
    pcm = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels)
    return DecodedAudio(
        samples=pcm.mean(axis=1).astype(np.float32), rate=rate, start=start, channels=channels
    )


def agreement_db(a: np.ndarray, b: np.ndarray, max_lag: int = 64, block: int = 960) -> float:
    """How closely two decodes of the same audio agree: signal over
    difference in dB at their best alignment (within ``max_lag`` samples,
    for decoders that trim their start differently), the median over
    ``block``-sample pieces (20 ms at 48 kHz). A packet lost on the way is
    concealed differently by each decoder; the median lets a few such
    pieces pass, while a decoder that garbles the stream fails everywhere."""
    n = min(len(a), len(b)) - max_lag
    if n < block:
        raise MediaError("too little audio to compare")

    def aligned(lag: int) -> tuple[np.ndarray, np.ndarray]:
        return a[max(0, lag):max(0, lag) + n], b[max(0, -lag):max(0, -lag) + n]

    lag = min(range(-max_lag, max_lag + 1), key=lambda k: float(np.mean(np.subtract(*aligned(k)) ** 2)))
    x, y = aligned(lag)
    pieces = n // block
    error = np.mean(((x - y)[: pieces * block] ** 2).reshape(pieces, block), axis=1)
    signal = np.mean((y[: pieces * block] ** 2).reshape(pieces, block), axis=1)
    heard = signal > 1e-6  # silence says nothing either way
    if not heard.any():
        raise MediaError("only silence to compare")
    return float(np.median(10 * np.log10(signal[heard] / np.maximum(error[heard], 1e-20))))


def tone_envelope(samples: np.ndarray, rate: int, freq: float, window: int) -> np.ndarray:
    """Amplitude of the ``freq`` component over a sliding rectangular window of
    ``window`` samples (a sliding single-bin DFT). Entry ``i`` covers samples
    ``i .. i + window - 1``; a sine of amplitude A filling the window gives A.

    The window is centred at sample ``i + window / 2``: when a tone starts at
    sample ``s``, the window centred on ``s`` is half full of it and reads A/2.
    """
    x = np.asarray(samples, dtype=np.float64)
    n = np.arange(len(x))
    mixed = x * np.exp(-2j * np.pi * freq * n / rate)
    sums = np.concatenate(([0.0], np.cumsum(mixed)))
    return np.abs(sums[window:] - sums[:-window]) * 2.0 / window


def _crossing(env: np.ndarray, level: float, lo: int, hi: int, rising: bool) -> Optional[float]:
    """First fractional index in [lo, hi) where ``env`` passes through
    ``level`` upwards (``rising``) or downwards, interpolated linearly."""
    lo, hi = max(lo, 1), min(hi, len(env))
    if hi <= lo:
        return None
    seg = env[lo - 1 : hi]
    side = seg >= level if rising else seg < level
    hits = np.flatnonzero(side[1:] & ~side[:-1])
    if len(hits) == 0:
        return None
    i = lo + int(hits[0])
    before, after = env[i - 1], env[i]
    return (i - 1) + (level - before) / (after - before)


@dataclass
class Beep:
    #: Time (s) the beep starts.
    onset: float
    #: Seconds from onset to end, both measured at half level.
    length: float
    #: Amplitude of the beep's plateau.
    level: float


def find_beeps(
    audio: DecodedAudio,
    freq: float = BEEP_HZ,
    beep_seconds: float = BEEP_SECONDS,
    length_tolerance: float = 0.003,
    window_seconds: float = 0.005,
    min_level: float = 0.05,
) -> list[Beep]:
    """The test tone's beeps, timed to a fraction of a millisecond.

    The level of the 1 kHz component is followed with a 5 ms sliding DFT; its
    window holds a whole number of beep cycles, while the 440 Hz background
    leaks in at under a tenth of its own small amplitude. A beep starts where
    that level rises through half of the beep's own plateau level (there the
    centred window is exactly half full of beep) and ends where it falls back
    through it. Measuring at half level keeps AAC's pre-echo (a faint smear of
    the beep just before it) and any gain change from moving the answer.

    Accuracy: on a clean signal the onset comes out about 0.1 ms early,
    because the 440 Hz tone that stops at the onset leaks a little into the
    1 kHz bin while the window straddles it (a fixed bias of a few samples,
    whatever the window length).

    Only beeps ``beep_seconds`` long (within ``length_tolerance``) count: one
    cut short by the start or end of the recording has no true onset.
    """
    rate = audio.rate
    window = max(int(round(window_seconds * rate)), 8)
    env = tone_envelope(audio.samples, rate, freq, window)
    if len(env) < 2:
        return []
    centre = window / 2.0
    peak = float(env.max())
    if peak < min_level:
        return []
    beep = int(round(beep_seconds * rate))
    coarse = env >= peak / 2
    starts = np.flatnonzero(coarse & ~np.concatenate(([True], coarse[:-1])))
    beeps: list[Beep] = []
    last_end = -1.0
    for s in starts:
        if s <= last_end:
            continue
        # The beep's own level: the median of the middle of its plateau.
        a, b = s + beep // 5, s + beep * 4 // 5
        if b > len(env):
            continue  # cut off by the end of the recording
        level = float(np.median(env[a:b]))
        if level < min_level:
            continue
        # Refine at half of this beep's level, searching from a little before
        # the coarse crossing (this level may be lower than the coarse one).
        onset = _crossing(env, level / 2, s - beep // 2, s + beep // 2, rising=True)
        if onset is None:
            continue
        end = _crossing(env, level / 2, int(onset) + 1, int(onset) + 2 * beep, rising=False)
        if end is None:
            continue
        last_end = end
        length = (end - onset) / rate
        if abs(length - beep_seconds) > length_tolerance:
            continue  # cut short (the recording began or ended inside it) or not a beep
        beeps.append(Beep(onset=audio.time_of(onset + centre), length=length, level=level))
    return beeps


def find_beep_onsets(audio: DecodedAudio, **kwargs) -> list[float]:
    """Onset times (s) of the test tone's beeps; see ``find_beeps``."""
    return [b.onset for b in find_beeps(audio, **kwargs)]


def find_audio_gaps(path: str | Path, stream: int = 0, tolerance: float = 0.0015) -> list[tuple[float, float]]:
    """Places where an audio packet does not start where the previous one
    ended (beyond ``tolerance`` seconds, which allows for millisecond
    timestamps): a list of (time, gap seconds; negative for an overlap)."""
    pts, dur = packet_times(path, f"a:{stream}")
    gaps = []
    for i in range(1, len(pts)):
        expected = pts[i - 1] + dur[i - 1]
        if abs(pts[i] - expected) > tolerance:
            gaps.append((float(pts[i]), float(pts[i] - expected)))
    return gaps
