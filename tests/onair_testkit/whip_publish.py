"""An independent WHIP publisher (aiortc), to check the test bed without Onair.

Run it where the publisher belongs, e.g. ``janus.wrap([sys.executable, THIS, ...])``.
It reads the bearer token from the first line of stdin (never argv: the
secret scan watches process lists), sends H.264 + Opus shaped like Onair's
test pattern, and prints one JSON object per line::

    {"event": "offer", "h264": [...fmtp lines...]}
    {"event": "answer", "status": 201, "location": "/whip/resource/onair", "ms": 812, ...}
    {"event": "connected", "ms": 1045}
    {"event": "patched", "status": 204}            (with --patch)
    {"event": "sent", "frames": 180, "seconds": 6.0}
    {"event": "deleted", "status": 200}
    {"event": "done"}

The picture is grey with a moving ramp under the stamp (stamp.py) and turns
white on every 30th frame; the audio is silence with a 1 kHz beep for the
first 100 ms of each second, starting with the flash: media.py's flash and
beep finders read both. Exit status: 0 when everything asked for worked, 2
when the POST was refused (the status is in the "answer" event), 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

# Run as a script, its own folder comes first on sys.path, and our
# secrets.py would hide the standard library's: put tests/ there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpSender, RTCSessionDescription  # noqa: E402
from av import AudioFrame, VideoFrame  # noqa: E402

from onair_testkit import media, stamp  # noqa: E402

FPS = 30
RATE = 48_000
AUDIO_PTIME = 0.020
BEEP_HZ = 1000.0
BEEP_SECONDS = 0.100


def emit(**event) -> None:
    print(json.dumps(event), flush=True)


class Clock:
    """One start instant for both tracks, so flash and beep leave together."""

    def __init__(self) -> None:
        self.t0: float | None = None

    def start(self) -> float:
        if self.t0 is None:
            self.t0 = time.monotonic()
        return self.t0

    async def sleep_until(self, offset: float) -> None:
        delay = self.start() + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class StampedVideo(MediaStreamTrack):
    kind = "video"

    def __init__(self, clock: Clock, width: int, height: int):
        super().__init__()
        self.clock, self.width, self.height = clock, width, height
        self.frames = 0
        ramp = (np.arange(width) * 160 // max(width - 1, 1) + 48).astype(np.uint8)
        self._ramp = np.tile(ramp, (height, 1))
        self._chroma = np.full((height // 2, width), 128, np.uint8)

    async def recv(self) -> VideoFrame:
        n = self.frames
        await self.clock.sleep_until(n / FPS)
        if n % FPS == 0:
            luma = np.full((self.height, self.width), media.FLASH_LUMA, np.uint8)
        else:
            luma = np.roll(self._ramp, 4 * n, axis=1)
        stamp.draw(luma, stamp.Stamp(frame=n, time_ms=int(time.time() * 1000) & 0xFFFFFFFF))
        frame = VideoFrame.from_ndarray(np.concatenate([luma, self._chroma]), format="yuv420p")
        frame.pts = n * (90_000 // FPS)
        frame.time_base = fractions.Fraction(1, 90_000)
        self.frames += 1
        return frame


class BeepingAudio(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: Clock):
        super().__init__()
        self.clock = clock
        self.samples = 0
        self.per_frame = int(RATE * AUDIO_PTIME)

    async def recv(self) -> AudioFrame:
        start = self.samples
        await self.clock.sleep_until(start / RATE)
        t = (start + np.arange(self.per_frame)) / RATE
        wave = np.where((t % 1.0) < BEEP_SECONDS, 0.5 * np.sin(2 * np.pi * BEEP_HZ * t), 0.0)
        pcm = (wave * 32767).astype(np.int16)
        frame = AudioFrame.from_ndarray(np.repeat(pcm, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, RATE)
        self.samples += self.per_frame
        return frame


def http(method: str, url: str, token: str | None, body: bytes | None = None,
         content_type: str | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, data=body, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, dict(answer.headers), answer.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode(errors="replace")


async def publish(args, token: str | None) -> int:
    clock = Clock()
    pc = RTCPeerConnection()
    video = pc.addTransceiver(StampedVideo(clock, args.width, args.height), direction="sendonly")
    pc.addTransceiver(BeepingAudio(clock), direction="sendonly")
    # H.264 only, as Onair offers it.
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
    video.setCodecPreferences(h264)
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def _state() -> None:
        emit(event="state", state=pc.connectionState)
        if pc.connectionState == "connected":
            connected.set()

    started = time.monotonic()
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    emit(event="offer", h264=[l for l in offer.splitlines() if "fmtp" in l and "profile-level-id" in l])
    loop = asyncio.get_running_loop()
    status, headers, body = await loop.run_in_executor(
        None, http, "POST", args.url, token, offer.encode(), "application/sdp")
    location = headers.get("Location")
    emit(event="answer", status=status, location=location, ms=round((time.monotonic() - started) * 1000),
         content_type=headers.get("Content-Type"), accept_patch=headers.get("Accept-Patch"),
         etag=headers.get("ETag"), links=headers.get("Link"), body=body if status != 201 else None,
         answer_h264=[l for l in body.splitlines() if "fmtp" in l] if status == 201 else None)
    if status != 201 or not location:
        await pc.close()
        return 2
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    try:
        await asyncio.wait_for(connected.wait(), timeout=10)
    except asyncio.TimeoutError:
        emit(event="error", error="not connected within 10 s", state=pc.connectionState)
        await pc.close()
        return 1
    emit(event="connected", ms=round((time.monotonic() - started) * 1000))
    resource = urllib.parse.urljoin(args.url, location)
    if args.patch:
        # aiortc does not trickle; an end-of-candidates fragment is the PATCH
        # a trickling client sends last, harmless to a running session.
        mid = next(l.split(":", 1)[1] for l in offer.splitlines() if l.startswith("a=mid:"))
        fragment = f"a=group:BUNDLE {mid}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:{mid}\r\na=end-of-candidates\r\n"
        status, _, body = await loop.run_in_executor(
            None, http, "PATCH", resource, token, fragment.encode(), "application/trickle-ice-sdpfrag")
        emit(event="patched", status=status, body=body or None)
    await asyncio.sleep(args.seconds)
    sender = pc.getTransceivers()[0].sender
    emit(event="sent", frames=sender.track.frames if sender.track else None, seconds=args.seconds)
    code = 0
    if not args.no_delete:
        status, _, body = await loop.run_in_executor(None, http, "DELETE", resource, token)
        emit(event="deleted", status=status, body=body if status >= 300 else None)
        code = 0 if 200 <= status < 300 else 1
    await pc.close()
    emit(event="done")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--no-token", action="store_true", help="send no Authorization header")
    parser.add_argument("--no-delete", action="store_true", help="leave without DELETE")
    parser.add_argument("--patch", action="store_true", help="PATCH an end-of-candidates fragment once connected")
    args = parser.parse_args()
    token = None if args.no_token else sys.stdin.readline().strip()
    return asyncio.run(publish(args, token))


if __name__ == "__main__":
    sys.exit(main())
