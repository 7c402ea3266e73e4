"""A creator's platform backend, real enough to test Onair's platform hooks.

``PlatformBackend`` is a small HTTP server (stdlib ``ThreadingHTTPServer``
in a background thread, JSON in and out, on 127.0.0.1) that plays the
platform a creator streams for. It speaks three contracts, each modelled on
a real platform and on the ways such platforms break:

* **events** — an event platform: open a streaming session for an event,
  then ask for a broadcaster token. A session left open answers 409.
* **ingress** — an RTMP ingress platform: ask for an RTMP server URL and a
  stream key (asking again resets the key). It learns whether the creator
  is live from nginx-rtmp's ``on_publish``/``on_publish_done`` callbacks.
* **rooms** — a rooms platform whose rooms get stuck with a stale session
  (``make_stuck``), so a start answers 409 until the room is ended.

The LiveKit tokens it hands out are real JWTs for the test's real
livekit-server (signed with its key and secret), and the viewer counts it
reports are the non-publishing participants LiveKit itself lists. Every
API route needs ``Authorization: Bearer <bearer>``; nginx's callbacks do not.

Every call is counted per route and logged, so a test can check what Onair
asked, how often and in what order (``calls``, ``call_log``, ``requests``,
``wait_for_calls``). A test breaks the platform on purpose with
``fail_next`` (the next calls of a route answer an error status) and
``down``/``up`` (connections refused, then served again on the same port
with every session and key kept)::

    with PlatformBackend("bearer-xyz", livekit) as platform:   # or the `platform` fixture
        platform.fail_next("events.start", 503)
        ... run onair against platform.url ...
        assert platform.calls("events.start") == 2

Wiring nginx-rtmp to the ingress contract: nginx's configuration needs the
backend's URL, and the backend's answers need nginx's RTMP URL, so start
the backend first, then nginx, then tell the backend where nginx listens
(the ``platform_nginx`` fixture does exactly this)::

    platform = PlatformBackend(bearer).start()
    nginx = Nginx(directory, notify_url=platform.url).start()
    platform.rtmp_url = nginx.url("platform")

While the backend is ``down()``, nginx's ``on_publish`` cannot reach it and
nginx refuses every publish to application ``platform``.

A hostile or broken platform: ``redirect_next`` answers a route with a
redirect (307 by default) to a URL of the test's choosing, e.g. a
``Witness`` on another loopback address that records whether anything
arrived there; ``oversize_next`` answers 200 with an endless body (no
Content-Length) of the given size.

Route names (for ``calls``, ``fail_next``, ``requests``): ``events.start``,
``events.token``, ``events.status``, ``events.end``, ``ingress.ingress``,
``ingress.status``, ``rooms.start``, ``rooms.end``, ``rooms.status``,
``nginx.on_publish``, ``nginx.on_publish_done``; a request that matches no
route is logged as ``unknown`` (404).
"""

from __future__ import annotations

import errno
import http
import json
import random
import re
import secrets as token_source
import socketserver
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

from .livekit import mint_token

if TYPE_CHECKING:
    from .livekit import LiveKitServer

HOST = "127.0.0.1"
#: Ports are picked below Linux's ephemeral range, so no outgoing connection
#: can take the port while the backend is down.
PORT_RANGE = (20000, 32000)
MAX_BODY = 1 << 20

PHASES = ("PRE_LIVE", "LIVE", "POST_LIVE")
ROLES = ("BROADCASTER", "VIEWER")

# (method, path pattern, route name). Ids are one path segment.
_ROUTES: list[tuple[str, re.Pattern, str]] = [
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("POST", r"/api/streaming/session/(?P<id>[^/]+)", "events.start"),
        ("POST", r"/api/streaming/session/(?P<id>[^/]+)/end", "events.end"),
        ("POST", r"/api/streaming/(?P<id>[^/]+)/token", "events.token"),
        ("GET", r"/api/streaming/(?P<id>[^/]+)/status", "events.status"),
        ("POST", r"/api/stream/ingress", "ingress.ingress"),
        ("GET", r"/api/stream/status", "ingress.status"),
        ("POST", r"/rooms/(?P<id>[^/]+)/sessions", "rooms.start"),
        ("POST", r"/rooms/(?P<id>[^/]+)/end", "rooms.end"),
        ("GET", r"/rooms/(?P<id>[^/]+)", "rooms.status"),
        ("GET", r"/nginx/on_publish", "nginx.on_publish"),
        ("POST", r"/nginx/on_publish", "nginx.on_publish"),
        ("GET", r"/nginx/on_publish_done", "nginx.on_publish_done"),
        ("POST", r"/nginx/on_publish_done", "nginx.on_publish_done"),
    )
]
UNKNOWN = "unknown"
ROUTE_NAMES: frozenset[str] = frozenset(name for _, _, name in _ROUTES) | {UNKNOWN}
#: Routes nginx calls: they need no bearer.
_CALLBACKS = frozenset({"nginx.on_publish", "nginx.on_publish_done"})


class Call(NamedTuple):
    """One answered request. ``time`` is ``time.monotonic()`` at arrival,
    so differences between calls are retry intervals."""

    time: float
    method: str
    path: str
    route: str
    status: int


@dataclass
class Request:
    """What a client sent to one route: ``body`` is the parsed JSON (or, for
    a form, a dict of its fields), None when there was none or it did not
    parse; ``raw`` is the body as sent. Header names are lower-cased."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class _Event:
    phase: str = "PRE_LIVE"
    session: Optional[dict] = None  # the latest session, ACTIVE or ENDED


@dataclass
class _Room:
    status: str = "idle"
    session_id: Optional[str] = None


@dataclass
class _Answer:
    status: int
    payload: dict
    headers: dict[str, str] = field(default_factory=dict)
    #: Instead of the payload: this many bytes of filler, without a length.
    stream: int = 0


def _error(status: int, message: str, **extra: Any) -> _Answer:
    return _Answer(status, {"error": message, **extra})


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return f"error {status}"


def _random_id(prefix: str) -> str:
    return prefix + token_source.token_hex(8)


class PlatformBackend:
    """The creator's platform, on ``url`` once started (see the module doc).

    ``livekit``: the server whose tokens it mints and whose rooms it counts
    viewers in (tokens answer 500 without one). ``rtmp_url``: the RTMP
    server URL the ingress contract hands out, e.g. ``nginx.url("platform")``;
    settable later. ``on_secret`` is called with every secret the platform
    hands out (tokens, stream keys), e.g. ``secrets.SESSION.register``.
    ``public_status``: ``GET /api/stream/status`` answers without the bearer.
    """

    def __init__(
        self,
        bearer: str,
        livekit: Optional["LiveKitServer"] = None,
        rtmp_url: Optional[str] = None,
        *,
        on_secret: Optional[Callable[[str], Any]] = None,
        public_status: bool = False,
    ):
        if not bearer:
            raise ValueError("the platform needs a bearer")
        self.bearer = bearer
        self.livekit = livekit
        self.rtmp_url = rtmp_url
        self.on_secret = on_secret
        #: The ingress contract's status readable without the bearer, like
        #: the public status pages some platforms offer.
        self.public_status = public_status
        self.port: Optional[int] = None
        self._lock = threading.Condition()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._log: list[Call] = []
        self._requests: dict[str, list[Request]] = {}
        self._failures: dict[str, deque[int]] = {}
        self._scripted: dict[str, deque[tuple[float, Optional[int], Optional[dict]]]] = {}
        self._tricks: dict[str, deque[_Answer]] = {}
        #: The LiveKit URL token answers name, when not the real server's
        #: (a platform handing out a URL Onair must refuse).
        self.answered_livekit_url: Optional[str] = None
        self._events: dict[str, _Event] = {}
        self._rooms: dict[str, _Room] = {}
        self._stream_key: Optional[str] = None
        self._publishing: set[str] = set()
        self._viewers = 0
        #: Identities this platform gave publish rights (not viewers).
        self._hosts: set[str] = set()

    # -- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the platform backend was never started")
        return f"http://{HOST}:{self.port}"

    def start(self) -> "PlatformBackend":
        """Listens on a free port (the first time) and serves in a thread."""
        if self.port is not None:
            return self.up()
        rng = random.Random()
        for _ in range(100):
            port = rng.randrange(*PORT_RANGE)
            try:
                self._listen(port)
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                continue
            self.port = port
            return self
        raise RuntimeError(f"no free port for the platform backend in {PORT_RANGE}")

    def stop(self) -> None:
        """Stops serving (the same as ``down()``; ``start()`` serves again)."""
        self.down()

    def down(self) -> None:
        """Closes the listening socket: connections are refused until ``up()``.
        Every session, key and count is kept."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def up(self) -> "PlatformBackend":
        """Listens again on the same port, with the state ``down()`` left."""
        if self.port is None:
            return self.start()
        if self._server is None:
            self._listen(self.port)
        return self

    @property
    def serving(self) -> bool:
        return self._server is not None

    def _listen(self, port: int) -> None:
        server = _Server((HOST, port), _Handler, self)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"platform-{port}", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread

    def __enter__(self) -> "PlatformBackend":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what tests see and steer -------------------------------------------

    def fail_next(self, route: str, status: int, times: int = 1) -> None:
        """The next ``times`` calls of ``route`` answer ``status`` with a JSON
        error body, before any other check (as a gateway in front of the
        platform would). Calls queue up after earlier ``fail_next`` ones."""
        self._check_route(route)
        if not 400 <= status <= 599:
            raise ValueError(f"{status} is not an error status")
        with self._lock:
            self._failures.setdefault(route, deque()).extend([status] * times)

    def answer_next(self, route: str, status: Optional[int] = None, body: Optional[dict] = None,
                    *, delay: float = 0.0) -> None:
        """The next call of ``route`` waits ``delay`` seconds (a stalled
        platform), then answers ``status`` with ``body`` (a hostile or odd
        answer) or, with ``status`` None, its normal answer."""
        self._check_route(route)
        with self._lock:
            self._scripted.setdefault(route, deque()).append((delay, status, body))

    def redirect_next(self, route: str, location: str, status: int = 307, times: int = 1) -> None:
        """The next ``times`` calls of ``route`` answer ``status`` with
        ``Location: location``, before any other check."""
        self._check_route(route)
        if not 300 <= status <= 399:
            raise ValueError(f"{status} is not a redirect")
        answer = _Answer(status, {"moved": location}, {"Location": location})
        with self._lock:
            self._tricks.setdefault(route, deque()).extend([answer] * times)

    def oversize_next(self, route: str, size: int, times: int = 1) -> None:
        """The next ``times`` calls of ``route`` answer 200 with ``size``
        bytes of JSON whitespace and no Content-Length, before any other check."""
        self._check_route(route)
        answer = _Answer(200, {}, stream=size)
        with self._lock:
            self._tricks.setdefault(route, deque()).extend([answer] * times)

    def calls(self, route: str) -> int:
        """How many requests ``route`` answered (errors included)."""
        self._check_route(route)
        with self._lock:
            return sum(1 for call in self._log if call.route == route)

    @property
    def call_log(self) -> list[Call]:
        """Every answered request, oldest first: (time, method, path, route, status)."""
        with self._lock:
            return list(self._log)

    def requests(self, route: str) -> list[Request]:
        """What was sent to ``route``, oldest first (bodies and headers)."""
        self._check_route(route)
        with self._lock:
            return list(self._requests.get(route, []))

    def statuses(self, route: str) -> list[int]:
        """The statuses ``route`` answered, oldest first."""
        self._check_route(route)
        with self._lock:
            return [call.status for call in self._log if call.route == route]

    def wait_for_calls(self, route: str, count: int, timeout: float = 10) -> int:
        """Waits until ``route`` has answered ``count`` requests; returns the count."""
        self._check_route(route)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                seen = sum(1 for call in self._log if call.route == route)
                left = deadline - time.monotonic()
                if seen >= count:
                    return seen
                if left <= 0:
                    raise TimeoutError(f"{route} answered {seen} of {count} calls within {timeout} s")
                self._lock.wait(left)

    def set_viewers(self, n: int) -> None:
        """The ingress contract's ``viewerCount``."""
        with self._lock:
            self._viewers = n

    def make_stuck(self, room_id: str) -> str:
        """Leaves a stale current session in room ``room_id`` (as a crashed
        broadcaster would): starting a session there answers 409 until the
        room is ended. Returns the stale session's id."""
        stale = _random_id("rs_")
        with self._lock:
            room = self._rooms.setdefault(room_id, _Room())
            room.status, room.session_id = "live", stale
        return stale

    @property
    def stream_key(self) -> Optional[str]:
        """The ingress contract's current stream key (None before the first ask)."""
        with self._lock:
            return self._stream_key

    @property
    def is_live(self) -> bool:
        """What ``GET /api/stream/status`` says in ``isLive``."""
        with self._lock:
            return self._stream_key is not None and self._stream_key in self._publishing

    def phase(self, event_id: str) -> str:
        """The events contract's phase of ``event_id``."""
        with self._lock:
            return self._events.get(event_id, _Event()).phase

    def _check_route(self, route: str) -> None:
        if route not in ROUTE_NAMES:
            raise ValueError(f"no route {route!r}; routes are {sorted(ROUTE_NAMES)}")

    # -- serving -------------------------------------------------------------

    def _serve(self, handler: "_Handler") -> None:
        """Answers one request (called on the server's request threads)."""
        arrived = time.monotonic()
        split = urllib.parse.urlsplit(handler.path)
        path = split.path
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        raw = handler.read_body()
        headers = {name.lower(): value for name, value in handler.headers.items()}
        body = _parse_body(raw, headers.get("content-type", ""))
        route, params = UNKNOWN, {}
        for method, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match and method == handler.command:
                route, params = name, {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                break
        request = Request(arrived, handler.command, handler.path, query, headers, body, raw)
        try:
            answer = self._answer(route, params, request)
        except Exception as e:  # a bug here must still answer, and show
            answer = _error(500, f"platform backend failed: {e!r}")
        with self._lock:
            self._requests.setdefault(route, []).append(request)
            self._log.append(Call(arrived, handler.command, handler.path, route, answer.status))
            self._lock.notify_all()
        handler.send_json(answer)

    def _answer(self, route: str, params: dict[str, str], request: Request) -> _Answer:
        if route == UNKNOWN:
            return _error(404, f"no route for {request.method} {urllib.parse.urlsplit(request.path).path}")
        with self._lock:
            tricks = self._tricks.get(route)
            trick = tricks.popleft() if tricks else None
            queued = self._failures.get(route)
            injected = queued.popleft() if queued and trick is None else None
            scripted = self._scripted.get(route)
            script = scripted.popleft() if scripted and trick is None else None
        if trick is not None:
            return trick
        if injected is not None:
            return _error(injected, _phrase(injected), injected=True)
        if script is not None:
            delay, status, body = script
            time.sleep(delay)
            if status is not None:
                return _Answer(status, body or {})
        public = route in _CALLBACKS or (self.public_status and route == "ingress.status")
        if not public and not self._authorised(request):
            answer = _error(401, "missing or invalid bearer token")
            answer.headers["WWW-Authenticate"] = 'Bearer realm="platform"'
            return answer
        return getattr(self, "_" + route.replace(".", "_"))(request, **params)

    def _authorised(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token_source.compare_digest(credentials.strip(), self.bearer)

    def _secret(self, value: str) -> str:
        if self.on_secret is not None:
            self.on_secret(value)
        return value

    def _token(self, identity: str, room: str, can_publish: bool) -> str:
        assert self.livekit is not None
        if can_publish:
            with self._lock:
                self._hosts.add(identity)
        return self._secret(
            mint_token(self.livekit.api_key, self.livekit.api_secret, identity, room, can_publish=can_publish)
        )

    def _audience(self, room: str) -> int:
        """Participants in LiveKit room ``room`` that publish no track and
        were not given publish rights here: the viewers. 0 when the room
        does not exist or LiveKit cannot be asked."""
        if self.livekit is None:
            return 0
        try:
            people = self.livekit.participants(room)
        except Exception:
            return 0
        with self._lock:
            hosts = set(self._hosts)
        return sum(1 for p in people if not p.tracks and p.identity not in hosts)

    # -- contract "events" ---------------------------------------------------

    def _events_start(self, request: Request, id: str) -> _Answer:
        with self._lock:
            event = self._events.setdefault(id, _Event())
            if event.session and event.session["status"] == "ACTIVE":
                return _error(409, "event already has an active session", sessionId=event.session["id"])
            event.session = {"id": _random_id("ses_"), "eventId": id, "status": "ACTIVE"}
            event.phase = "LIVE"
            return _Answer(201, {"session": dict(event.session)})

    def _events_token(self, request: Request, id: str) -> _Answer:
        """409 without an active session, then 400 for a wrong role. A
        BROADCASTER token is identity ``broadcaster-ID`` (publish and
        subscribe), a VIEWER one ``viewer-ID-xxxxxx`` (subscribe only)."""
        with self._lock:
            event = self._events.get(id)
            active = bool(event and event.session and event.session["status"] == "ACTIVE")
        if not active:
            return _error(409, "no active session")
        role = request.body.get("role") if isinstance(request.body, dict) else None
        if role not in ROLES:
            return _error(400, f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if self.livekit is None:
            return _error(500, "no LiveKit server configured")
        room = f"event-{id}"
        if role == "BROADCASTER":
            token = self._token(f"broadcaster-{id}", room, can_publish=True)
        else:
            token = self._token(f"viewer-{id}-{token_source.token_hex(3)}", room, can_publish=False)
        return _Answer(200, {"token": token, "url": self.answered_livekit_url or self.livekit.url})

    def _events_status(self, request: Request, id: str) -> _Answer:
        with self._lock:
            phase = self._events.get(id, _Event()).phase
        return _Answer(200, {"phase": phase, "viewerCount": self._audience(f"event-{id}")})

    def _events_end(self, request: Request, id: str) -> _Answer:
        with self._lock:
            event = self._events.setdefault(id, _Event())
            if not (event.session and event.session["status"] == "ACTIVE"):
                return _Answer(200, {"ended": False})
            event.session["status"] = "ENDED"
            event.phase = "POST_LIVE"
            return _Answer(200, {"session": dict(event.session)})

    # -- contract "ingress" --------------------------------------------------

    def _ingress_ingress(self, request: Request) -> _Answer:
        if self.rtmp_url is None:
            return _error(500, "no RTMP ingest configured")
        key = self._secret(_random_id("sk_"))
        with self._lock:
            self._stream_key = key
        return _Answer(200, {"serverUrl": self.rtmp_url, "streamKey": key})

    def _ingress_status(self, request: Request) -> _Answer:
        with self._lock:
            viewers = self._viewers
        return _Answer(200, {"isLive": self.is_live, "viewerCount": viewers})

    def _nginx_on_publish(self, request: Request) -> _Answer:
        name = _callback_name(request)
        with self._lock:
            if name is None or name != self._stream_key:
                return _error(403, "unknown stream key")
            self._publishing.add(name)
        return _Answer(200, {"accepted": True})

    def _nginx_on_publish_done(self, request: Request) -> _Answer:
        name = _callback_name(request)
        with self._lock:
            self._publishing.discard(name)
        return _Answer(200, {"ok": True})

    # -- contract "rooms" ----------------------------------------------------

    def _rooms_start(self, request: Request, id: str) -> _Answer:
        with self._lock:
            room = self._rooms.setdefault(id, _Room())
            if room.session_id is not None:
                return _error(409, "room already has an active session", currentSessionId=room.session_id)
            if self.livekit is None:
                return _error(500, "no LiveKit server configured")
            session_id = _random_id("rs_")
            room.status, room.session_id = "live", session_id
        token = self._token(f"host-{id}", id, can_publish=True)
        return _Answer(201, {"sessionId": session_id, "token": token, "livekitUrl": self.livekit.url})

    def _rooms_end(self, request: Request, id: str) -> _Answer:
        with self._lock:
            room = self._rooms.setdefault(id, _Room())
            room.status, room.session_id = "idle", None
        return _Answer(200, {"status": "idle"})

    def _rooms_status(self, request: Request, id: str) -> _Answer:
        with self._lock:
            room = self._rooms.get(id, _Room())
            status, session_id = room.status, room.session_id
        return _Answer(200, {"status": status, "currentSessionId": session_id, "viewers": self._audience(id)})


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        return dict(urllib.parse.parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _callback_name(request: Request) -> Optional[str]:
    """The stream key of an nginx-rtmp callback: ``name`` in the query
    (``notify_method get``) or in the form body (the default, POST)."""
    form = request.body if isinstance(request.body, dict) else {}
    return form.get("name") or request.query.get("name")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, backend: PlatformBackend):
        self.backend = backend
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks for the host's FQDN (a DNS lookup); not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hung up mid-answer is not the test's business


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so ``down()`` leaves no
    # kept-alive connection that would still be served.
    protocol_version = "HTTP/1.0"
    server_version = "OnairTestPlatform/1"
    server: _Server

    def do_GET(self) -> None:
        self.server.backend._serve(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def send_json(self, answer: _Answer) -> None:
        if answer.stream:
            self._send_stream(answer)
            return
        data = json.dumps(answer.payload).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, answer: _Answer) -> None:
        """Filler until ``answer.stream`` bytes are out or the client hangs up;
        the end of the body is the end of the connection (HTTP/1.0)."""
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        block = b" " * 65536
        left = answer.stream
        try:
            while left > 0:
                self.wfile.write(block[: min(left, len(block))])
                left -= min(left, len(block))
        except OSError:
            pass  # the client stopped reading: what a capped reader does
        self.close_connection = True

    def log_message(self, format: str, *args) -> None:
        pass  # the backend's call log records every request


class Witness:
    """A listener that only records: on another loopback address (by
    default 127.0.0.2), where a redirect points, to show that nothing (no
    connection, no secret) arrived there. ``url`` once started."""

    def __init__(self, host: str = "127.0.0.2"):
        import socket

        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"witness-{self.port}", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        import socket

        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(1)
            try:
                self.received += conn.recv(65536)
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> "Witness":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
