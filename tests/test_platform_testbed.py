"""The platform backend proves itself before Onair's platform hooks meet it.

Plain HTTP (urllib) drives the three contracts of
``onair_testkit.platform_backend``: their happy paths and their error codes (401
without the bearer, 409 for a second start or a stuck room, 400 for a wrong
role), injected failures, and the backend going down (connections refused)
and coming back on the same port with its state. The tokens it mints must
be accepted by the real livekit-server with the grants promised, its viewer
counts must follow LiveKit's rooms, and its ingress must steer the real
nginx-rtmp: ffmpeg publishing with the current stream key makes it live, a
stale key is refused by nginx, and the end of the push ends the live.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Optional

import jwt
import pytest

from onair_testkit import process
from onair_testkit.livekit import Publisher, Viewers
from onair_testkit.platform_backend import PlatformBackend

API_ROUTES = {
    "events.start": ("POST", "/api/streaming/session/ev1"),
    "events.token": ("POST", "/api/streaming/ev1/token"),
    "events.status": ("GET", "/api/streaming/ev1/status"),
    "events.end": ("POST", "/api/streaming/session/ev1/end"),
    "ingress.ingress": ("POST", "/api/stream/ingress"),
    "ingress.status": ("GET", "/api/stream/status"),
    "rooms.start": ("POST", "/rooms/r1/sessions"),
    "rooms.end": ("POST", "/rooms/r1/end"),
    "rooms.status": ("GET", "/rooms/r1"),
}


class Answer:
    def __init__(self, status: int, headers, raw: bytes):
        self.status, self.headers, self.raw = status, headers, raw
        self.json: Any = json.loads(raw) if raw else None

    def __repr__(self) -> str:
        return f"<{self.status} {self.raw[:200]!r}>"


def call(
    platform: PlatformBackend,
    method: str,
    path: str,
    body: Any = None,
    bearer: Optional[str] = "",
    form: Optional[dict] = None,
) -> Answer:
    """One request; ``bearer`` "" means the platform's own, None none at all."""
    headers = {}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer or platform.bearer}"
    request = urllib.request.Request(platform.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return Answer(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


def wait_until(what: str, check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"never {what} within {timeout} s")
        time.sleep(0.1)


def grants(token: str) -> dict:
    claims = jwt.decode(token, options={"verify_signature": False})
    return {"identity": claims["sub"], **claims["video"]}


@pytest.fixture
def bare_platform():
    """A backend with no LiveKit and no RTMP ingest: HTTP behaviour only."""
    with PlatformBackend("bare-bearer") as backend:
        yield backend


# -- HTTP behaviour ----------------------------------------------------------


def test_every_api_route_needs_the_bearer(bare_platform):
    p = bare_platform
    for route, (method, path) in API_ROUTES.items():
        for bearer in (None, "wrong"):
            answer = call(p, method, path, bearer=bearer)
            assert answer.status == 401, (route, bearer, answer)
            assert answer.headers["Content-Type"] == "application/json"
            assert "error" in answer.json
        assert p.calls(route) == 2, route
    # nginx's callbacks need none (and refuse a key never handed out).
    assert call(p, "POST", "/nginx/on_publish", form={"name": "sk_nope"}, bearer=None).status == 403
    assert call(p, "GET", "/nginx/on_publish_done?name=sk_nope", bearer=None).status == 200
    missing = call(p, "GET", "/api/nothing")
    assert missing.status == 404 and "error" in missing.json
    assert call(p, "DELETE", "/rooms/r1").status == 404
    assert p.calls("unknown") == 2
    assert [c.status for c in p.call_log][-4:] == [403, 200, 404, 404]
    with pytest.raises(ValueError):
        p.calls("events.begin")


def test_fail_next_answers_the_status_then_serves_again(bare_platform):
    p = bare_platform
    p.fail_next("events.start", 503, times=2)
    p.fail_next("events.start", 500)
    answers = [call(p, "POST", "/api/streaming/session/ev1") for _ in range(4)]
    assert [a.status for a in answers] == [503, 503, 500, 201], answers
    assert answers[0].json["error"] == "Service Unavailable"
    assert answers[0].headers["Content-Type"] == "application/json"
    # Injected failures come before the bearer check, like a gateway's.
    p.fail_next("events.status", 400)
    assert call(p, "GET", "/api/streaming/ev1/status", bearer=None).status == 400
    assert p.statuses("events.start") == [503, 503, 500, 201]
    assert p.calls("events.status") == 1
    assert p.wait_for_calls("events.start", 4, timeout=1) == 4
    with pytest.raises(TimeoutError):
        p.wait_for_calls("events.start", 5, timeout=0.2)


def test_down_refuses_connections_and_up_serves_the_same_state(bare_platform):
    p = bare_platform
    url = p.url
    session = call(p, "POST", "/api/streaming/session/ev1").json["session"]
    p.down()
    with pytest.raises(urllib.error.URLError) as refused:
        call(p, "GET", "/api/streaming/ev1/status")
    assert isinstance(refused.value.reason, ConnectionRefusedError), refused.value
    assert not p.serving
    p.up()
    assert p.url == url
    assert call(p, "GET", "/api/streaming/ev1/status").json["phase"] == "LIVE"
    again = call(p, "POST", "/api/streaming/session/ev1")
    assert again.status == 409 and again.json["sessionId"] == session["id"], again
    # A refused connection is no call: only the served ones are counted.
    assert p.calls("events.status") == 1


# -- contract "events" ---------------------------------------------------------


def test_events_session_token_status_and_end(platform, livekit):
    p = platform
    assert call(p, "GET", "/api/streaming/E7/status").json == {"phase": "PRE_LIVE", "viewerCount": 0}
    early = call(p, "POST", "/api/streaming/E7/token", {"role": "BROADCASTER"})
    assert early.status == 409 and early.json["error"] == "no active session", early

    started = call(p, "POST", "/api/streaming/session/E7")
    assert started.status == 201, started
    session = started.json["session"]
    assert session["id"].startswith("ses_") and session["eventId"] == "E7" and session["status"] == "ACTIVE"
    assert p.phase("E7") == "LIVE"
    twice = call(p, "POST", "/api/streaming/session/E7")
    assert twice.status == 409, twice
    assert twice.json == {"error": "event already has an active session", "sessionId": session["id"]}

    for role in ("broadcaster", "HOST", None):
        wrong = call(p, "POST", "/api/streaming/E7/token", {"role": role})
        assert wrong.status == 400 and wrong.json["error"].startswith("unknown role"), (role, wrong)
    assert call(p, "POST", "/api/streaming/E7/token").status == 400  # no body at all

    answer = call(p, "POST", "/api/streaming/E7/token", {"role": "BROADCASTER"})
    assert answer.status == 200 and answer.json["url"] == livekit.url, answer
    assert livekit.validate(answer.json["token"])[0] == 200
    g = grants(answer.json["token"])
    assert (g["identity"], g["room"], g["roomJoin"], g["canPublish"]) == ("broadcaster-E7", "event-E7", True, True), g
    viewer = call(p, "POST", "/api/streaming/E7/token", {"role": "VIEWER"})
    assert livekit.validate(viewer.json["token"])[0] == 200
    g = grants(viewer.json["token"])
    assert (g["room"], g["canPublish"], g["canSubscribe"]) == ("event-E7", False, True), g
    sent = [(r.body, r.headers["authorization"]) for r in p.requests("events.token")]
    assert sent[-2:] == [({"role": "BROADCASTER"}, f"Bearer {p.bearer}"), ({"role": "VIEWER"}, f"Bearer {p.bearer}")]

    ended = call(p, "POST", "/api/streaming/session/E7/end")
    assert ended.status == 200 and ended.json["session"] == {**session, "status": "ENDED"}, ended
    assert call(p, "GET", "/api/streaming/E7/status").json["phase"] == "POST_LIVE"
    assert call(p, "POST", "/api/streaming/session/E7/end").json == {"ended": False}
    assert call(p, "POST", "/api/streaming/E7/token", {"role": "BROADCASTER"}).status == 409
    # A new session opens the event again.
    reopened = call(p, "POST", "/api/streaming/session/E7")
    assert reopened.status == 201 and reopened.json["session"]["id"] != session["id"]


def test_the_broadcaster_token_publishes_and_viewers_are_counted(platform, livekit):
    p = platform
    call(p, "POST", "/api/streaming/session/E8")
    token = call(p, "POST", "/api/streaming/E8/token", {"role": "BROADCASTER"}).json["token"]
    status = lambda: call(p, "GET", "/api/streaming/E8/status").json  # noqa: E731
    with Publisher(livekit.url, token, width=320, height=180, fps=10, audio=False) as pub, livekit.viewers(
        "event-E8"
    ) as crowd:
        livekit.wait_for_participants("event-E8", lambda ps: any(x.identity == "broadcaster-E8" and x.tracks for x in ps))
        pub.check()
        assert status() == {"phase": "LIVE", "viewerCount": 0}
        crowd.join(2)
        wait_until("two viewers", lambda: status()["viewerCount"] == 2)
        crowd.leave(1)
        wait_until("one viewer", lambda: status()["viewerCount"] == 1)


# -- contract "rooms" ----------------------------------------------------------


def test_rooms_session_stuck_room_and_viewers(platform, livekit):
    p = platform
    assert call(p, "GET", "/rooms/lobby").json == {"status": "idle", "currentSessionId": None, "viewers": 0}
    started = call(p, "POST", "/rooms/lobby/sessions")
    assert started.status == 201, started
    body = started.json
    assert body["sessionId"].startswith("rs_") and body["livekitUrl"] == livekit.url
    assert livekit.validate(body["token"])[0] == 200
    g = grants(body["token"])
    assert (g["identity"], g["room"], g["canPublish"]) == ("host-lobby", "lobby", True), g
    assert call(p, "GET", "/rooms/lobby").json["currentSessionId"] == body["sessionId"]
    twice = call(p, "POST", "/rooms/lobby/sessions")
    assert twice.status == 409, twice
    assert twice.json == {"error": "room already has an active session", "currentSessionId": body["sessionId"]}

    # The host (joined, not yet publishing) is no viewer; a subscriber is.
    with Viewers(livekit.url, lambda identity: body["token"], prefix="host") as host, livekit.viewers("lobby") as crowd:
        host.join(1)
        crowd.join(1)
        livekit.wait_for_participants("lobby", lambda ps: len(ps) == 2)
        assert call(p, "GET", "/rooms/lobby").json["viewers"] == 1

    assert call(p, "POST", "/rooms/lobby/end").json == {"status": "idle"}
    assert call(p, "POST", "/rooms/lobby/end").json == {"status": "idle"}
    assert call(p, "GET", "/rooms/lobby").json["currentSessionId"] is None

    stale = p.make_stuck("lobby")
    stuck = call(p, "POST", "/rooms/lobby/sessions")
    assert stuck.status == 409 and stuck.json["currentSessionId"] == stale, stuck
    assert call(p, "GET", "/rooms/lobby").json["status"] == "live"
    call(p, "POST", "/rooms/lobby/end")
    assert call(p, "POST", "/rooms/lobby/sessions").status == 201
    assert p.statuses("rooms.start") == [201, 409, 409, 201]


# -- contract "ingress", with the real nginx-rtmp ------------------------------


class RtmpPush:
    """ffmpeg publishing a small live test picture and tone over RTMP."""

    def __init__(self, url: str):
        self.proc = subprocess.Popen(
            [
                "ffmpeg", "-v", "error", "-hide_banner", "-nostdin", "-re",
                "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-threads", "1", "-g", "15",
                "-c:a", "aac", "-b:a", "64k", "-f", "flv", url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        process.end(self.proc, signal.SIGINT, 10)  # SIGINT: ends the stream as a publisher would

    def __enter__(self) -> "RtmpPush":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def test_ingress_key_goes_live_on_nginx_and_a_stale_key_is_refused(platform, platform_nginx, ffmpeg):
    p, nginx = platform, platform_nginx
    status = lambda: call(p, "GET", "/api/stream/status").json  # noqa: E731
    assert status() == {"isLive": False, "viewerCount": 0}
    first = call(p, "POST", "/api/stream/ingress").json
    assert first["serverUrl"] == nginx.url("platform") and first["streamKey"].startswith("sk_"), first

    with RtmpPush(f"{first['serverUrl']}/{first['streamKey']}") as push:
        wait_until("live", lambda: status()["isLive"])
        assert push.proc.poll() is None
        p.set_viewers(3)
        assert status() == {"isLive": True, "viewerCount": 3}
        assert p.requests("nginx.on_publish")[-1].body["name"] == first["streamKey"]
    wait_until("no longer live", lambda: not status()["isLive"])
    assert p.requests("nginx.on_publish_done")[-1].body["name"] == first["streamKey"]
    assert nginx.recording(first["streamKey"]).is_file()

    # A reset hands out a new key; the old one is refused by nginx.
    second = call(p, "POST", "/api/stream/ingress").json
    assert second["streamKey"] != first["streamKey"] and p.stream_key == second["streamKey"]
    refused_before = p.statuses("nginx.on_publish").count(403)
    with RtmpPush(f"{first['serverUrl']}/{first['streamKey']}") as stale:
        assert stale.proc.wait(15) != 0
    assert p.statuses("nginx.on_publish").count(403) == refused_before + 1
    assert not status()["isLive"]

    # The platform down: nginx cannot ask it and refuses even the current key.
    p.down()
    with RtmpPush(f"{second['serverUrl']}/{second['streamKey']}") as blind:
        assert blind.proc.wait(15) != 0
    p.up()
    with RtmpPush(f"{second['serverUrl']}/{second['streamKey']}"):
        wait_until("live with the new key", lambda: status()["isLive"])
    wait_until("no longer live", lambda: not status()["isLive"])
    assert p.calls("nginx.on_publish") == 3
