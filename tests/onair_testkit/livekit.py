"""A real LiveKit server and real LiveKit clients for the LiveKit suites.

``LiveKitServer(dir)`` runs the ``livekit-server`` scripts/setup builds (Go
module proxy, cached in ``~/.cache/onair/go-bin``) in dev mode on 127.0.0.1,
with its own free ports, so runs never collide and a killed server can be
started again on the same ports::

    with LiveKitServer(tmp_path) as server:          # or the `livekit` fixture
        token = server.token("onair", "studio", can_subscribe=False)
        # ... start onair publishing to server.url with token ...
        with server.subscriber("studio") as sub:       # a Subscriber, joined
            sub.wait_for_frames(30)
            print(sub.latency_ms(50), sub.latency_ms(95), sub.sizes())

``Subscriber`` is LiveKit's own client (PyPI ``livekit``: LiveKit's Rust SDK
with Google's libwebrtc) on an asyncio loop in its own thread. It decodes
what it is sent and records every video frame's size, arrival time and the
test pattern's stamp (see ``stamp.py``), and every audio sample.

``Viewers`` is a crowd of plain subscribers that join and leave on command
(viewer counts); ``LiveKitServer.load_test`` does the same with ``lk
load-test``. ``Publisher`` publishes the stamped pattern and the test tone
with the same SDK, and ``LkH264Publisher`` publishes libx264 Constrained
Baseline through ``lk`` (pion): they prove the instrument before Onair's
publisher is pointed at it, and give tests references to compare with.

Loopback works without a network namespace: the server advertises only
127.0.0.1 host candidates (UDP mux port and TCP port), and libwebrtc in the
SDK connects to them. Tokens a test hands to onair are secrets: register
them with ``secrets.SESSION`` (``on_command_line=True`` for ``--token``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections import Counter
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from . import process
from . import stamp as stamp_mod

API_KEY = "devkey"
API_SECRET = "secret"
SERVER_VERSION = "1.13.5"
LK_VERSION = "2.18.2"
GO_BIN = Path(os.environ.get("ONAIR_CACHE", Path.home() / ".cache" / "onair")) / "go-bin"
BUILD_HINT = "run scripts/setup (install_test_tools builds livekit-server and lk into {bin})"


class LiveKitMissing(RuntimeError):
    pass


def server_bin() -> Path:
    """``$LIVEKIT_SERVER_BIN``, else the one scripts/setup built (which
    must be the version the suites were written against)."""
    path = Path(os.environ.get("LIVEKIT_SERVER_BIN") or GO_BIN / "livekit-server")
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LiveKitMissing(f"no livekit-server at {path}; " + BUILD_HINT.format(bin=GO_BIN))
    if "LIVEKIT_SERVER_BIN" not in os.environ:
        found = _version_of(path)
        if found != f"livekit-server version {SERVER_VERSION}":
            raise LiveKitMissing(f"{path} is {found!r}, not {SERVER_VERSION}; " + BUILD_HINT.format(bin=GO_BIN))
    return path


@lru_cache(maxsize=None)
def _version_of(path: Path) -> str:
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def lk_bin() -> Path:
    path = Path(os.environ.get("LK_BIN") or GO_BIN / "lk")
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LiveKitMissing(f"no lk at {path}; " + BUILD_HINT.format(bin=GO_BIN))
    return path


#: Ports are picked below Linux's ephemeral range (32768 and up), so no
#: outgoing connection can take one between the probe and the server's bind.
PORT_RANGE = (20000, 32000)


def _bindable(port: int) -> bool:
    # On every address, TCP and UDP: the RTC TCP port listens on all of them.
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("", port))
            except OSError:
                return False
    return True


def _pick_ports(count: int) -> list[int]:
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randrange(*PORT_RANGE)
        if port not in ports and _bindable(port):
            ports.append(port)
    return ports


# The server advertises its one address only (127.0.0.1 unless told): node_ip set (so it neither asks a
# public STUN server for its address nor offers the VM's other interfaces)
# and loopback candidates on, which pion leaves out by default.
CONFIG = """\
port: {port}
bind_addresses: ["{ip}"]
rtc:
  tcp_port: {tcp_port}
  udp_port: {udp_port}
  node_ip: {ip}
  use_external_ip: false
  enable_loopback_candidate: true
  ips:
    includes: ["{ip}/32"]
keys:
  {key}: {secret}
logging:
  level: {log_level}
"""


class _PortTaken(Exception):
    pass


class LiveKitServer:
    """The real livekit-server, in dev mode, on 127.0.0.1 (or a given address) and free ports.

    ``kill()`` then ``start()`` brings it back on the same ports, as a
    crashed and restarted server would be (its rooms are gone).
    """

    def __init__(self, directory: Path, *, log_level: str = "info", ip: str = "127.0.0.1"):
        """``ip``: the host address to serve on, e.g. an ``Uplink``'s host
        side for a publisher in another namespace. One address only: with
        two, the server answered ICE checks from the wrong socket."""
        self.dir = Path(directory)
        self.ip = ip
        self.dir.mkdir(parents=True, exist_ok=True)
        self.api_key = API_KEY
        self.api_secret = API_SECRET
        self.log_level = log_level
        self.config = self.dir / "livekit.yaml"
        self._new_ports()
        self.log_path = self.dir / "livekit.log"
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0

    def _new_ports(self) -> None:
        self.port, self.tcp_port, self.udp_port = _pick_ports(3)
        self.config.write_text(
            CONFIG.format(
                port=self.port,
                tcp_port=self.tcp_port,
                udp_port=self.udp_port,
                key=self.api_key,
                secret=self.api_secret,
                log_level=self.log_level,
                ip=self.ip,
            )
        )

    @property
    def url(self) -> str:
        """The signal URL clients connect to."""
        return f"ws://{self.ip}:{self.port}"

    @property
    def http_url(self) -> str:
        """The same port over HTTP: the server APIs (Twirp) and /rtc/validate."""
        return f"http://{self.ip}:{self.port}"

    def start(self, timeout: float = 20) -> "LiveKitServer":
        """Starts the server and waits until it serves. The first start
        moves to other ports if another program took one meanwhile; later
        starts keep the ports (clients reconnect to the same URL)."""
        for attempt in range(5):
            try:
                return self._start_once(timeout)
            except _PortTaken:
                if self.starts == 0:
                    self._new_ports()
                else:
                    time.sleep(0.5)
        raise RuntimeError(f"livekit-server could not bind its ports:\n{self.log()[-3000:]}")

    def _start_once(self, timeout: float) -> "LiveKitServer":
        if self.proc and self.proc.poll() is None:
            raise RuntimeError("the LiveKit server is already running")
        binary = server_bin()
        log = open(self.log_path, "ab")
        log.write(f"\n=== start {self.starts + 1}, port {self.port} ===\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [str(binary), "--dev", "--bind", self.ip, "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self.log()[-2000:]:
                    raise _PortTaken()
                raise RuntimeError(f"livekit-server exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            if self.ready():
                self.starts += 1
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"livekit-server was not ready within {timeout} s:\n{self.log()[-3000:]}")

    def ready(self) -> bool:
        """The server answers its health check (GET / is 200 once it serves)."""
        try:
            with urllib.request.urlopen(self.http_url + "/", timeout=0.5) as answer:
                return answer.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def running(self) -> bool:
        return bool(self.proc) and self.proc.poll() is None

    def kill(self) -> None:
        """Dies at once (SIGKILL), as a crashed server would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 10) -> None:
        """Shuts down gracefully (SIGTERM: participants are told to leave)."""
        process.end(self.proc, timeout=timeout)

    def restart(self, timeout: float = 20) -> "LiveKitServer":
        """kill() then start() on the same ports."""
        self.kill()
        return self.start(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "LiveKitServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- tokens -----------------------------------------------------------

    def token(
        self,
        identity: str,
        room: str,
        *,
        can_publish: bool = True,
        can_subscribe: bool = True,
        sources: Optional[Sequence[str]] = None,
        ttl: datetime.timedelta | float = datetime.timedelta(hours=1),
        expired: bool = False,
        room_admin: bool = False,
        name: Optional[str] = None,
        secret: Optional[str] = None,
    ) -> str:
        """A real JWT signed with this server's key (livekit-api).

        ``sources`` limits publishing to those track sources ("camera",
        "microphone", "screen_share", "screen_share_audio"). ``expired`` makes
        one that expired five minutes ago (past the server's one minute of
        leeway). ``secret`` signs with another secret (a forged token).
        """
        return mint_token(
            self.api_key,
            secret or self.api_secret,
            identity,
            room,
            can_publish=can_publish,
            can_subscribe=can_subscribe,
            sources=sources,
            ttl=ttl,
            expired=expired,
            room_admin=room_admin,
            name=name,
        )

    def validate(self, token: str) -> tuple[int, str]:
        """What the server says of ``token`` before any WebSocket: GET
        /rtc/validate answers 200, or 401 with a readable reason."""
        query = urllib.parse.urlencode({"access_token": token})
        try:
            with urllib.request.urlopen(f"{self.http_url}/rtc/validate?{query}", timeout=5) as answer:
                return answer.status, answer.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    # -- clients -------------------------------------------------------------

    def subscriber(self, room: str, identity: str = "viewer", **kwargs) -> "Subscriber":
        """A started Subscriber in ``room`` (a subscribe-only token)."""
        return Subscriber(self.url, self.token(identity, room, can_publish=False), **kwargs).start()

    def viewers(self, room: str, prefix: str = "viewer") -> "Viewers":
        """A (still empty) crowd of subscribe-only viewers of ``room``."""
        return Viewers(self.url, lambda identity: self.token(identity, room, can_publish=False), prefix=prefix)

    def publisher(self, room: str, identity: str = "reference", **kwargs) -> "Publisher":
        """A started reference Publisher in ``room`` (a publish-only token)."""
        return Publisher(self.url, self.token(identity, room, can_subscribe=False), **kwargs).start()

    def lk(self, *args: str, log: Optional[Path] = None) -> subprocess.Popen:
        """Starts the ``lk`` CLI against this server; the key and secret go
        in its environment, not on a command line. Output goes to ``log``
        (default: lk.log in the server's folder)."""
        env = dict(
            os.environ,
            LIVEKIT_URL=self.url,
            LIVEKIT_API_KEY=self.api_key,
            LIVEKIT_API_SECRET=self.api_secret,
        )
        out = open(log or self.dir / "lk.log", "ab")
        try:
            return subprocess.Popen([str(lk_bin()), *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir)
        finally:
            out.close()

    def load_test(self, room: str, subscribers: int, prefix: str = "lt") -> "LoadTest":
        """``lk load-test`` with ``subscribers`` plain subscribers in ``room``
        (identities ``PREFIX_0`` ...) until ``stop()``: viewers made by
        LiveKit's Go SDK rather than the Python one."""
        log = self.dir / f"load-test-{prefix}.log"
        log.unlink(missing_ok=True)
        test = LoadTest(
            self.lk(
                "load-test", "--room", room, "--subscribers", str(subscribers),
                "--identity-prefix", prefix, "--num-per-second", "10",
                log=log,
            ),
            log,
        )
        return test.wait_connected()

    # -- server API (Twirp RoomService) ------------------------------------

    def _room_service(self, call: Callable):
        from livekit import api

        async def go():
            async with api.LiveKitAPI(self.http_url, self.api_key, self.api_secret) as lkapi:
                return await call(lkapi.room, api)

        with _short_key_ok():
            return asyncio.run(go())

    def participants(self, room: str) -> list:
        """ParticipantInfo of everyone in ``room`` (RoomService.ListParticipants)."""
        return list(
            self._room_service(
                lambda rs, api: rs.list_participants(api.ListParticipantsRequest(room=room))
            ).participants
        )

    def rooms(self) -> list:
        """Room info of every open room (RoomService.ListRooms)."""
        return list(self._room_service(lambda rs, api: rs.list_rooms(api.ListRoomsRequest())).rooms)

    def viewer_count(self, room: str, publisher: str) -> int:
        """Participants in ``room`` other than ``publisher``: what Onair's
        ``viewers`` event should say."""
        return sum(1 for p in self.participants(room) if p.identity != publisher)

    def wait_for_participants(
        self, room: str, predicate: Callable[[list], bool], timeout: float = 10
    ) -> list:
        """Polls ListParticipants until ``predicate(participants)`` holds."""
        deadline = time.monotonic() + timeout
        seen: list = []
        while True:
            try:
                seen = self.participants(room)
            except Exception:  # the room does not exist yet
                seen = []
            if predicate(seen):
                return seen
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"room {room!r} never matched; it has {[p.identity for p in seen]}"
                )
            time.sleep(0.2)


@contextlib.contextmanager
def _short_key_ok():
    """PyJWT warns that dev mode's "secret" is a short HMAC key; it is meant to be."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The HMAC key is .* bytes long")
        yield


def mint_token(
    api_key: str,
    api_secret: str,
    identity: str,
    room: str,
    *,
    can_publish: bool = True,
    can_subscribe: bool = True,
    sources: Optional[Sequence[str]] = None,
    ttl: datetime.timedelta | float = datetime.timedelta(hours=1),
    expired: bool = False,
    room_admin: bool = False,
    name: Optional[str] = None,
) -> str:
    from livekit import api

    if not isinstance(ttl, datetime.timedelta):
        ttl = datetime.timedelta(seconds=ttl)
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=can_publish,
        can_subscribe=can_subscribe,
        room_admin=room_admin,
    )
    if sources is not None:
        grants.can_publish_sources = list(sources)
    import jwt

    token = api.AccessToken(api_key, api_secret).with_identity(identity).with_grants(grants).with_ttl(ttl)
    if name:
        token = token.with_name(name)
    with _short_key_ok():
        jwt_text = token.to_jwt()
        if not expired:
            return jwt_text
        # livekit-api always sets nbf = now; re-sign the same claims with a
        # lifetime wholly in the past, so the token is plainly expired.
        claims = jwt.decode(jwt_text, options={"verify_signature": False})
        now = int(time.time())
        claims["nbf"], claims["exp"] = now - 600, now - 300
        return jwt.encode(claims, api_secret, algorithm="HS256")


# ---------------------------------------------------------------------------
# Clients (PyPI livekit). Each lives on an asyncio loop in a thread of its
# own, so a test drives it with plain blocking calls while frames arrive.


class _LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str):
        self.errors: list[BaseException] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro, timeout: Optional[float] = None):
        """Runs ``coro`` on the loop and waits for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable, *args):
        """Runs a plain function on the loop's thread and returns its result."""

        async def wrapper():
            return fn(*args)

        return self.run(wrapper())

    def task(self, coro) -> asyncio.Task:
        """A task on the loop (call from the loop's thread) whose failure is
        kept in ``errors`` rather than lost in a log."""
        task = self.loop.create_task(coro)

        def done(t: asyncio.Task) -> None:
            if not t.cancelled() and t.exception() is not None:
                self.errors.append(t.exception())

        task.add_done_callback(done)
        return task

    def check(self) -> None:
        """Raises the first error a task died of."""
        if self.errors:
            raise RuntimeError(f"a LiveKit client task failed: {self.errors[0]!r}") from self.errors[0]

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


def _quality(value):
    """``"low"``/``"medium"``/``"high"`` (or an rtc.VideoQuality) as rtc.VideoQuality."""
    from livekit import rtc

    if isinstance(value, str):
        return {
            "low": rtc.VideoQuality.VIDEO_QUALITY_LOW,
            "medium": rtc.VideoQuality.VIDEO_QUALITY_MEDIUM,
            "high": rtc.VideoQuality.VIDEO_QUALITY_HIGH,
        }[value.lower()]
    return value


@dataclass(frozen=True)
class VideoRecord:
    """One decoded video frame, as the subscriber saw it."""

    width: int
    height: int
    #: Wall-clock time (Unix seconds) the decoded frame reached the subscriber.
    received: float
    #: The stamp's frame number and capture time (Unix ms mod 2**32); None
    #: when no stamp could be read.
    frame: Optional[int]
    capture_ms: Optional[int]
    #: Mean luma below the stamp (sampled): over 200 on the pattern's flash.
    below_mean: float
    #: Wall-clock time libwebrtc means the picture to be shown: the render
    #: time it stamps on each decoded frame (its jitter buffer's and lip
    #: sync's delay, and its render delay, after decoding).
    render: float = float("nan")

    @property
    def latency_ms(self) -> Optional[float]:
        """Capture (at the publisher) to decode (here), in milliseconds."""
        if self.capture_ms is None:
            return None
        received_ms = int(round(self.received * 1000)) & 0xFFFFFFFF
        diff = (received_ms - self.capture_ms) & 0xFFFFFFFF
        # A negative difference (clocks in another process) wraps: fold back.
        return float(diff - 2**32 if diff >= 2**31 else diff)


#: Decoded frames the SDK may hold for the viewer's Python side: one
#: second. Its default is one frame, which drops every frame that arrives
#: while Python is a frame late (a garbage collection, a busy machine): the
#: right thing for a screen, the wrong one for counting what arrived.
VIDEO_QUEUE_FRAMES = 30


def _counting_video_stream(track, loop):
    """LiveKit's VideoStream with a receive queue deep enough to count frames."""
    from livekit import rtc
    from livekit.rtc._ffi_client import FfiClient
    from livekit.rtc._proto import ffi_pb2, video_frame_pb2

    class CountingVideoStream(rtc.VideoStream):
        def _create_owned_stream(self):
            request = ffi_pb2.FfiRequest()
            ask = request.new_video_stream
            ask.track_handle = self._track._ffi_handle.handle
            ask.type = video_frame_pb2.VideoStreamType.VIDEO_STREAM_NATIVE
            ask.format = rtc.VideoBufferType.I420
            ask.normalize_stride = True
            ask.queue_size_frames = VIDEO_QUEUE_FRAMES
            return FfiClient.instance.request(request).new_video_stream.stream

    return CountingVideoStream(track, loop=loop, format=rtc.VideoBufferType.I420)


class Subscriber:
    """LiveKit's own client joined to a room, decoding what it subscribes to.

    Every decoded video frame becomes a ``VideoRecord``; audio arrives as
    48 kHz mono float samples (``audio()``). ``mark()`` returns a position to
    pass as ``since=`` so a test can look only at frames after some event
    (e.g. after ``set_quality``).
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        video: bool = True,
        audio: bool = True,
        quality=None,
        connect_timeout: float = 10,
        name: str = "livekit-subscriber",
    ):
        self.url = url
        self._token = token
        self._want_video = video
        self._want_audio = audio
        self._initial_quality = quality
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._video: list[VideoRecord] = []
        #: (wall time, luma plane) of the first few frames whose stamp could
        #: not be read, kept to look at.
        self.unreadable_pictures: list[tuple[float, np.ndarray]] = []
        #: One whole decoded picture (packed I420: width, height, planes), half
        #: a second after a flash (the bars show), for the colour check.
        self.sample_picture: Optional[tuple[int, int, np.ndarray]] = None
        self._audio_chunks: list[np.ndarray] = []
        self._audio_first: Optional[float] = None
        self._audio_samples = 0
        #: (samples received so far, wall time) after each audio chunk.
        self._audio_arrivals: list[tuple[int, float]] = []
        self._events: list[tuple[float, str, str]] = []
        #: (wall time, sender identity, topic, payload) of each data packet.
        self._data: list[tuple[float, str, str, bytes]] = []
        self._tasks: list[asyncio.Task] = []
        self._publications: dict[str, object] = {}
        self._thread = _LoopThread(name)
        self.room = None
        self.connected_at: Optional[float] = None
        self._video_track = None

    # -- life cycle --------------------------------------------------------

    def start(self) -> "Subscriber":
        """Connects (raises ``livekit.rtc.ConnectError`` if the server refuses)."""
        try:
            self._thread.run(self._connect(), timeout=self.connect_timeout + 5)
        except BaseException:
            self._thread.stop()
            raise
        return self

    async def _connect(self) -> None:
        from livekit import rtc

        room = rtc.Room(loop=asyncio.get_running_loop())
        self.room = room
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("track_published", lambda pub, p: self._event("track_published", pub.sid))
        room.on("track_unpublished", lambda pub, p: self._event("track_unpublished", pub.sid))
        room.on("participant_connected", lambda p: self._event("participant_connected", p.identity))
        room.on("participant_disconnected", lambda p: self._event("participant_disconnected", p.identity))
        room.on("disconnected", lambda reason=None: self._event("disconnected", str(reason)))
        room.on("data_received", self._on_data)
        room.on("reconnecting", lambda: self._event("reconnecting", ""))
        room.on("reconnected", lambda: self._event("reconnected", ""))
        options = rtc.RoomOptions(auto_subscribe=True, connect_timeout=self.connect_timeout)
        await room.connect(self.url, self._token, options)
        self.connected_at = time.time()
        self._event("connected", room.local_participant.identity)

    def close(self) -> None:
        """Leaves the room and stops the thread."""
        if self._thread.thread.is_alive():
            try:
                self._thread.run(self._disconnect(), timeout=10)
            except Exception:
                pass
            self._thread.stop()

    async def _disconnect(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.room is not None:
            await self.room.disconnect()

    def __enter__(self) -> "Subscriber":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- on the loop's thread ----------------------------------------------

    def _event(self, name: str, detail: str) -> None:
        with self._lock:
            self._events.append((time.time(), name, detail))

    def _on_data(self, packet) -> None:
        sender = packet.participant.identity if packet.participant else ""
        with self._lock:
            self._data.append((time.time(), sender, packet.topic or "", bytes(packet.data)))

    def data(self, topic: str) -> list[tuple[str, bytes]]:
        """(sender, payload) of the data packets received on ``topic``."""
        with self._lock:
            return [(who, payload) for _, who, t, payload in self._data if t == topic]

    def _on_track_subscribed(self, track, publication, participant) -> None:
        from livekit import rtc

        self._event("track_subscribed", f"{participant.identity}/{publication.sid}/{publication.mime_type}")
        self._publications[publication.sid] = publication
        loop = asyncio.get_running_loop()
        if track.kind == rtc.TrackKind.KIND_VIDEO and self._want_video:
            if self._initial_quality is not None and publication.simulcasted:
                publication.set_video_quality(_quality(self._initial_quality))
            self._video_track = track
            stream = _counting_video_stream(track, loop)
            self._tasks.append(self._thread.task(self._read_video(stream)))
        elif track.kind == rtc.TrackKind.KIND_AUDIO and self._want_audio:
            stream = rtc.AudioStream(track, loop=loop, sample_rate=48_000, num_channels=1)
            self._tasks.append(self._thread.task(self._read_audio(stream)))

    async def _read_video(self, stream) -> None:
        try:
            async for event in stream:
                received, monotonic = time.time(), time.monotonic()
                # libwebrtc's clock is CLOCK_MONOTONIC, as time.monotonic().
                render = received + event.timestamp_us / 1e6 - monotonic
                frame = event.frame
                w, h = frame.width, frame.height
                # I420 from the SDK is packed: the luma plane is the first w*h bytes.
                luma = np.frombuffer(frame.data, dtype=np.uint8, count=w * h).reshape(h, w)
                found, top = None, stamp_mod.stamp_height(w)
                if w >= stamp_mod.COLUMNS * 2 and h > top:
                    found = stamp_mod.read(luma)
                below = float(luma[top::8, ::8].mean()) if h > top else float("nan")
                record = VideoRecord(
                    w,
                    h,
                    received,
                    None if found is None else found.frame,
                    None if found is None else found.time_ms,
                    below,
                    render,
                )
                with self._lock:
                    self._video.append(record)
                    if found is None and len(self.unreadable_pictures) < 5:
                        self.unreadable_pictures.append((received, luma.copy()))
                    if self.sample_picture is None and found is not None and found.frame % 30 == 15:
                        planes = np.frombuffer(frame.data, dtype=np.uint8, count=w * h * 3 // 2).copy()
                        self.sample_picture = (w, h, planes)
        finally:
            await stream.aclose()

    async def _read_audio(self, stream) -> None:
        try:
            async for event in stream:
                pcm = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float32) / 32768.0
                received = time.time()
                with self._lock:
                    if self._audio_first is None:
                        self._audio_first = received - len(pcm) / 48_000
                    self._audio_chunks.append(pcm)
                    self._audio_samples += len(pcm)
                    self._audio_arrivals.append((self._audio_samples, received))
        finally:
            await stream.aclose()

    def video_stats(self) -> dict:
        """The receiving side's own counters for the video track (libwebrtc's
        inbound-rtp stats): where frames went missing, on the wire (packets
        lost, NACKs, retransmissions) or in the decoder (frames dropped,
        freezes). Empty before a video track arrived."""
        track = self._video_track
        if track is None:
            return {}

        async def look():
            for report in await track.get_stats():
                if report.WhichOneof("stats") == "inbound_rtp":
                    inbound, received = report.inbound_rtp.inbound, report.inbound_rtp.received
                    return {
                        "packets_received": received.packets_received,
                        "packets_lost": received.packets_lost,
                        "retransmitted_packets_received": inbound.retransmitted_packets_received,
                        "nack_count": inbound.nack_count,
                        "pli_count": inbound.pli_count,
                        "frames_received": inbound.frames_received,
                        "frames_decoded": inbound.frames_decoded,
                        "frames_dropped": inbound.frames_dropped,
                        "freeze_count": inbound.freeze_count,
                    }
            return {}

        return self._thread.run(look(), timeout=10)

    # -- control -----------------------------------------------------------

    def set_quality(self, quality) -> None:
        """Asks the server for one simulcast layer of every subscribed video
        track: "low" (q), "medium" (h) or "high" (f)."""
        from livekit import rtc

        def apply():
            done = 0
            for pub in self._publications.values():
                if pub.kind == rtc.TrackKind.KIND_VIDEO:
                    pub.set_video_quality(_quality(quality))
                    done += 1
            if not done:
                raise RuntimeError("no subscribed video track to set the quality of")

        self._thread.call(apply)

    def video_publication(self) -> Optional[dict]:
        """What the room says of the subscribed video track: sid, mime type,
        simulcasted, width and height (None before one is subscribed)."""
        from livekit import rtc

        def look():
            for pub in self._publications.values():
                if pub.kind == rtc.TrackKind.KIND_VIDEO:
                    return dict(
                        sid=pub.sid,
                        mime_type=pub.mime_type,
                        simulcasted=pub.simulcasted,
                        width=pub.width,
                        height=pub.height,
                    )
            return None

        return self._thread.call(look)

    def remote_identities(self) -> list[str]:
        return self._thread.call(lambda: [p.identity for p in self.room.remote_participants.values()])

    # -- what was received -------------------------------------------------

    def mark(self) -> int:
        """The number of video frames decoded so far (a ``since=`` position)."""
        with self._lock:
            return len(self._video)

    def frames(self, since: int = 0) -> list[VideoRecord]:
        with self._lock:
            return list(self._video[since:])

    def events(self) -> list[tuple[float, str, str]]:
        """(wall time, name, detail) of room events: connected,
        track_subscribed, disconnected, reconnecting, ..."""
        with self._lock:
            return list(self._events)

    def frames_decoded(self, since: int = 0) -> int:
        return len(self.frames(since))

    def sizes(self, since: int = 0) -> Counter:
        """How many frames arrived at each (width, height)."""
        return Counter((r.width, r.height) for r in self.frames(since))

    def stamp_numbers(self, since: int = 0) -> list[int]:
        """The stamps' frame numbers, in arrival order, each once."""
        seen, out = set(), []
        for r in self.frames(since):
            if r.frame is not None and r.frame not in seen:
                seen.add(r.frame)
                out.append(r.frame)
        return out

    def unreadable(self, since: int = 0) -> int:
        """Decoded frames whose stamp could not be read."""
        return sum(1 for r in self.frames(since) if r.frame is None)

    def latencies_ms(self, since: int = 0) -> np.ndarray:
        return np.array(
            [r.latency_ms for r in self.frames(since) if r.latency_ms is not None], dtype=np.float64
        )

    def latency_ms(self, percentile: float = 50, since: int = 0) -> float:
        """A percentile of capture-to-decode latency (NaN without stamps)."""
        values = self.latencies_ms(since)
        return float(np.percentile(values, percentile)) if len(values) else float("nan")

    @property
    def first_frame_at(self) -> Optional[float]:
        """Wall time (Unix s) the first video frame was decoded."""
        with self._lock:
            return self._video[0].received if self._video else None

    def audio(self):
        """Everything heard so far as ``media.DecodedAudio`` (48 kHz mono;
        ``start`` is the wall time of the first sample), ready for
        ``media.find_beeps``."""
        from .media import DecodedAudio

        with self._lock:
            samples = np.concatenate(self._audio_chunks) if self._audio_chunks else np.zeros(0, np.float32)
            start = self._audio_first or 0.0
        return DecodedAudio(samples=samples, rate=48_000, start=start, channels=1)

    def av_offsets(self, since: int = 0, fps: int = 30) -> list[float]:
        """Sound against picture as this viewer gets them, in seconds
        (positive: the sound comes late): for each flash of the test pattern
        (a stamped frame on a whole second, bright below the stamp), the
        arrival of the nearest beep's onset less the flash frame's render
        time (when libwebrtc means it to be seen). libwebrtc's own lip sync
        (from the sender's reports) is in both."""
        from . import media

        audio = self.audio()
        beeps = [self.audio_arrival((b.onset - audio.start) * audio.rate) for b in media.find_beeps(audio)]
        flashes = [r.render for r in self.frames(since)
                   if r.frame is not None and r.frame % fps == 0 and r.below_mean > 200]
        offsets = []
        for shown in flashes:
            heard = min(beeps, key=lambda t: abs(t - shown), default=None)
            if heard is not None and abs(heard - shown) < 0.3:
                offsets.append(heard - shown)
        return offsets

    def audio_arrival(self, sample: float) -> float:
        """Wall time (Unix s) audio sample number ``sample`` reached the
        subscriber: the arrival of the chunk that held it, less the samples
        after it in that chunk. With a beep's onset (as a sample index), the
        audio path's latency is this minus the beep's capture time."""
        with self._lock:
            arrivals = list(self._audio_arrivals)
        ends = np.array([end for end, _ in arrivals])
        i = int(np.searchsorted(ends, sample, side="right"))
        if i >= len(arrivals):
            raise ValueError(f"sample {sample} has not arrived (only {ends[-1] if len(ends) else 0})")
        end, at = arrivals[i]
        return at - (end - sample) / 48_000

    def wait_until(self, predicate: Callable[["Subscriber"], bool], timeout: float, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            self._thread.check()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"subscriber: timed out after {timeout} s waiting for {what or predicate}; "
                    f"{self.summary()}"
                )
            time.sleep(0.05)

    def wait_for_frames(self, count: int, timeout: float = 15, since: int = 0) -> None:
        self.wait_until(
            lambda s: s.frames_decoded(since) >= count, timeout, f"{count} decoded frames"
        )

    def summary(self, since: int = 0) -> str:
        """One line for a failure message or a measurement."""
        frames = self.frames(since)
        numbers = self.stamp_numbers(since)
        first = self.first_frame_at
        audio = self.audio()
        return (
            f"{len(frames)} frames decoded, sizes {dict(self.sizes(since))}, "
            f"{len(numbers)} stamps ({numbers[0] if numbers else '-'}..{numbers[-1] if numbers else '-'}), "
            f"{self.unreadable(since)} unreadable, latency p50 {self.latency_ms(50, since):.1f} ms "
            f"p95 {self.latency_ms(95, since):.1f} ms, first frame "
            f"{'-' if first is None or self.connected_at is None else f'{first - self.connected_at:.2f} s after joining'}, "
            f"{audio.duration:.1f} s of audio{self._audio_summary(audio)}"
        )

    @staticmethod
    def _audio_summary(audio) -> str:
        """What the sound held, so a missed beep says whether it was silence or
        beeps bent out of shape (a starved receiver stretches and squeezes them)."""
        from . import media

        if not len(audio.samples):
            return ""
        bursts = media.find_beeps(audio, length_tolerance=1.0)
        lengths = ", ".join(f"{b.length * 1000:.0f}" for b in bursts[:8])
        return (
            f" (peak {float(np.abs(audio.samples).max()):.2f}, "
            f"{len(bursts)} 1 kHz burst(s){f' of {lengths} ms' if bursts else ''})"
        )


class Viewers:
    """Plain subscribers that join and leave a room on command, all on one
    loop thread: the viewers of the viewer-count tests. They subscribe (so
    the publisher sees real subscriptions) but do not read the media."""

    def __init__(self, url: str, token_for: Callable[[str], str], *, prefix: str = "viewer", subscribe: bool = True):
        self.url = url
        self._token_for = token_for
        self.prefix = prefix
        self.subscribe = subscribe
        self._rooms: list[tuple[str, object]] = []
        self._next = 1
        self._thread = _LoopThread("livekit-viewers")

    @property
    def count(self) -> int:
        return len(self._rooms)

    @property
    def identities(self) -> list[str]:
        return [identity for identity, _ in self._rooms]

    def join(self, n: int = 1, timeout: float = 15) -> list[str]:
        """Connects ``n`` more viewers (all at once) and returns their identities."""
        from livekit import rtc

        names = [f"{self.prefix}-{self._next + i}" for i in range(n)]
        self._next += n

        async def connect(identity):
            room = rtc.Room(loop=asyncio.get_running_loop())
            await room.connect(self.url, self._token_for(identity), rtc.RoomOptions(auto_subscribe=self.subscribe))
            # A viewer that leaves while its subscriptions are still being
            # negotiated sometimes never tells the server, which then counts
            # it for ~20 s more: a joined viewer is one whose tracks arrived.
            while self.subscribe and not all(
                publication.subscribed
                for participant in room.remote_participants.values()
                for publication in participant.track_publications.values()
            ):
                await asyncio.sleep(0.02)
            return identity, room

        async def all_of():
            return await asyncio.gather(*(connect(name) for name in names))

        self._rooms.extend(self._thread.run(all_of(), timeout))
        return names

    def leave(self, n: Optional[int] = None, timeout: float = 15) -> list[str]:
        """Disconnects the ``n`` most recent viewers (all of them if None)."""
        n = len(self._rooms) if n is None else n
        going = [self._rooms.pop() for _ in range(min(n, len(self._rooms)))]

        async def all_of():
            await asyncio.gather(*(room.disconnect() for _, room in going))

        self._thread.run(all_of(), timeout)
        return [identity for identity, _ in going]

    def close(self) -> None:
        if self._thread.thread.is_alive():
            try:
                self.leave()
            except Exception:
                pass
            self._thread.stop()

    def __enter__(self) -> "Viewers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LoadTest:
    """A running ``lk load-test``; ``stop()`` makes its testers leave."""

    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc, self.log = proc, log

    def wait_connected(self, timeout: float = 20) -> "LoadTest":
        """Waits until every tester has joined. Interrupted while joining,
        lk leaves without saying goodbye, and the server keeps the testers
        for a while as if they might resume."""
        deadline = time.monotonic() + timeout
        while b"Finished connecting" not in (self.log.read_bytes() if self.log.exists() else b""):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"lk load-test did not connect:\n{self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        return self

    def stop(self, timeout: float = 10) -> None:
        process.end(self.proc, signal.SIGINT, timeout)  # SIGINT: prints its summary and leaves

    def __enter__(self) -> "LoadTest":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _bars_i420(width: int, height: int) -> np.ndarray:
    """A packed I420 picture of grey bars (mean luma about 100, neutral
    chroma): the reference publisher's picture under the stamp."""
    chroma = ((width + 1) // 2) * ((height + 1) // 2)
    buf = np.full(width * height + 2 * chroma, 128, dtype=np.uint8)
    levels = np.array([180, 150, 120, 90, 60, 40, 30, 130], dtype=np.uint8)
    columns = levels[np.arange(width) * len(levels) // width]
    buf[: width * height] = np.tile(columns, height)
    return buf


def tone_sample(k: np.ndarray, rate: int = 48_000) -> np.ndarray:
    """The test tone of ``src-tauri/engine/src/source/test_tone.rs``: a quiet
    440 Hz tone with a 0.5 amplitude 1 kHz beep for the first 100 ms of
    every second (sample ``k`` counted from a whole second)."""
    k = np.asarray(k, dtype=np.int64)
    t = (k % rate) / rate
    beep = (k % rate) < rate // 10
    return np.where(beep, 0.5 * np.sin(2 * np.pi * 1000.0 * t), 0.1 * np.sin(2 * np.pi * 440.0 * t))


class Publisher:
    """LiveKit's own SDK publishing a stamped picture and the test tone: the
    reference publisher that proves the testbed (and a baseline to compare
    Onair with). Frame ``n`` carries stamp ``(n, capture Unix ms)``; frames
    whose number is a multiple of ``fps`` are white below the stamp, in step
    with the tone's beeps.

    ``codec`` is "h264", "vp8", ... (``rtc.VideoCodec`` names). The SDK
    encodes with libwebrtc's own encoders, which is not what Onair does.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        width: int = 1280,
        height: int = 720,
        fps: int = 30,
        simulcast: bool = False,
        codec: str = "h264",
        max_bitrate: int = 2_500_000,
        audio: bool = True,
    ):
        self.url, self._token = url, token
        self.width, self.height, self.fps = width, height, fps
        self.simulcast, self.codec, self.max_bitrate, self.audio = simulcast, codec, max_bitrate, audio
        self.frames_sent = 0
        self.started_at: Optional[float] = None
        self._thread = _LoopThread("livekit-publisher")
        self._tasks: list[asyncio.Task] = []
        self.room = None

    def start(self, timeout: float = 15) -> "Publisher":
        try:
            self._thread.run(self._start(), timeout)
        except BaseException:
            self._thread.stop()
            raise
        return self

    async def _start(self) -> None:
        from livekit import rtc

        loop = asyncio.get_running_loop()
        self.room = rtc.Room(loop=loop)
        await self.room.connect(self.url, self._token, rtc.RoomOptions(auto_subscribe=False))
        source = rtc.VideoSource(self.width, self.height)
        track = rtc.LocalVideoTrack.create_video_track("camera", source)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            simulcast=self.simulcast,
            video_codec=getattr(rtc.VideoCodec, self.codec.upper()),
            video_encoding=rtc.VideoEncoding(max_framerate=self.fps, max_bitrate=self.max_bitrate),
        )
        await self.room.local_participant.publish_track(track, options)
        audio_source = None
        if self.audio:
            audio_source = rtc.AudioSource(48_000, 1, queue_size_ms=100, loop=loop)
            audio_track = rtc.LocalAudioTrack.create_audio_track("microphone", audio_source)
            await self.room.local_participant.publish_track(
                audio_track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            )
        # Both clocks start on a whole second of wall time, so the flash and
        # the beep of one second are due at the same instant.
        self.started_at = float(int(time.time()) + 1)
        self._tasks.append(self._thread.task(self._video(source)))
        if audio_source is not None:
            self._tasks.append(self._thread.task(self._tone(audio_source)))

    async def _video(self, source) -> None:
        from livekit import rtc

        w, h = self.width, self.height
        base = _bars_i420(w, h)
        # The SDK takes a bytearray by reference; numpy draws into it in place.
        data = bytearray(base.tobytes())
        luma = np.frombuffer(data, dtype=np.uint8, count=w * h).reshape(h, w)
        top = stamp_mod.stamp_height(w)
        frame = rtc.VideoFrame(w, h, rtc.VideoBufferType.I420, data)
        n, flashing = 0, False
        while True:
            due = self.started_at + n / self.fps
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            flash = n % self.fps == 0
            if flash != flashing:
                luma[top:] = 235 if flash else base[: w * h].reshape(h, w)[top:]
                flashing = flash
            now = time.time()
            stamp_mod.draw(luma, stamp_mod.Stamp(frame=n, time_ms=int(now * 1000) & 0xFFFFFFFF))
            source.capture_frame(frame, timestamp_us=int(now * 1e6))
            self.frames_sent = n = n + 1

    async def _tone(self, source) -> None:
        from livekit import rtc

        chunk = 480  # 10 ms
        k = 0
        while True:
            # Like a sound card: a chunk is handed over once its last sample is due.
            due = self.started_at + (k + chunk) / 48_000
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            pcm = (tone_sample(np.arange(k, k + chunk)) * 32767).astype(np.int16)
            frame = rtc.AudioFrame(pcm.tobytes(), 48_000, 1, chunk)
            await source.capture_frame(frame)
            k += chunk

    def check(self) -> None:
        """Raises if the frame or tone generator died."""
        self._thread.check()

    def close(self) -> None:
        if self._thread.thread.is_alive():

            async def stop():
                for task in self._tasks:
                    task.cancel()
                if self.room is not None:
                    await self.room.disconnect()

            try:
                self._thread.run(stop(), timeout=10)
            except Exception:
                pass
            self._thread.stop()

    def __enter__(self) -> "Publisher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class LkH264Publisher:
    """A publisher that is not libwebrtc, like Onair's: the stamped picture
    encoded live by ffmpeg's libx264 (Constrained Baseline, one slice per
    frame, no B-frames) and published by ``lk room join --publish
    h264://...`` (LiveKit's Go SDK on pion), which reads Annex-B from a TCP
    socket this class serves. Video only.

    lk reads one NAL unit per sample (SPS/PPS aside): a frame of several
    slices would be cut apart, hence ``sliced-threads=0``.
    """

    def __init__(
        self,
        server: "LiveKitServer",
        room: str,
        identity: str = "pion",
        *,
        width: int = 640,
        height: int = 360,
        fps: int = 30,
        bitrate: str = "1M",
    ):
        self.server, self.room, self.identity = server, room, identity
        self.width, self.height, self.fps, self.bitrate = width, height, fps, bitrate
        self.frames_sent = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._lk: Optional[subprocess.Popen] = None
        self._ffmpeg: Optional[subprocess.Popen] = None
        self._feeder: Optional[threading.Thread] = None
        self.log_path = server.dir / f"lk-publish-{identity}.log"

    def start(self, timeout: float = 15) -> "LkH264Publisher":
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(timeout)
        port = listener.getsockname()[1]
        self._lk = self.server.lk(
            "room", "join", "--identity", self.identity,
            "--publish", f"h264://127.0.0.1:{port}", "--fps", str(self.fps), self.room,
            log=self.log_path,
        )
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            self.close()
            raise RuntimeError(f"lk never connected to the H.264 socket:\n{self.log_path.read_text()[-2000:]}")
        finally:
            listener.close()
        # ffmpeg starts only now, so no frame waits in a buffer for lk: lk
        # paces its reads at exactly fps, and a backlog would never drain.
        self._ffmpeg = subprocess.Popen(
            [
                "ffmpeg", "-v", "error", "-hide_banner",
                "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{self.width}x{self.height}",
                "-r", str(self.fps), "-i", "-",
                "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast",
                "-tune", "zerolatency", "-threads", "1", "-x264-params", "sliced-threads=0",
                "-g", str(self.fps), "-b:v", self.bitrate, "-f", "h264", "-",
            ],
            stdin=subprocess.PIPE,
            stdout=conn.fileno(),
            stderr=open(self.log_path.with_suffix(".ffmpeg.log"), "wb"),
        )
        conn.close()  # ffmpeg holds its own copy
        self._feeder = threading.Thread(target=self._feed, name="lk-h264-feed", daemon=True)
        self._feeder.start()
        return self

    def _feed(self) -> None:
        w, h = self.width, self.height
        data = _bars_i420(w, h)
        luma = data[: w * h].reshape(h, w)
        start, n = time.time(), 0
        try:
            while not self._stop.is_set():
                delay = start + n / self.fps - time.time()
                if delay > 0:
                    time.sleep(delay)
                stamp_mod.draw(luma, stamp_mod.Stamp(n, int(time.time() * 1000) & 0xFFFFFFFF))
                self._ffmpeg.stdin.write(data.tobytes())
                self._ffmpeg.stdin.flush()
                self.frames_sent = n = n + 1
        except (BrokenPipeError, ValueError) as e:
            if not self._stop.is_set():
                self.errors.append(e)

    def check(self) -> None:
        if self.errors:
            raise RuntimeError(f"the lk publisher's feed failed: {self.errors[0]!r}")
        for name, proc in (("lk", self._lk), ("ffmpeg", self._ffmpeg)):
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode}; see {self.log_path}")

    def close(self) -> None:
        self._stop.set()
        process.end(self._lk, signal.SIGINT)  # SIGINT: leaves the room
        if self._ffmpeg is not None:
            try:
                self._ffmpeg.stdin.close()
            except OSError:
                pass
            if self._ffmpeg.poll() is None:
                self._ffmpeg.kill()
            self._ffmpeg.wait()
        if self._feeder is not None:
            self._feeder.join(timeout=5)

    def __enter__(self) -> "LkH264Publisher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
