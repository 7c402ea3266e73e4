"""One Go Live through the creator's platform: Onair runs the platform's
hooks (start a session, get a token or an ingest key, read the status, end
the session) against the reference platform backend
(onair_testkit.platform_backend), which mints real tokens for the real
livekit-server and hears nginx-rtmp's publish callbacks, and counts every
call. Destinations and their platform API tokens live in a real
gnome-keyring (onair_testkit.keyring).
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from onair_testkit import onair
from onair_testkit.keyring import KeyringEnv, missing_tools
from onair_testkit.platform_backend import Witness

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason=f"missing {missing_tools()}")

EVENT = "42"
ROOM = "studio"


@pytest.fixture
def k(tmp_path):
    with KeyringEnv(tmp_path / "env") as env:
        env.start_bus()
        env.start_keyring(unlock=True)
        yield env


def auth() -> dict:
    return {"Authorization": "Bearer {secret}"}


def events_hooks(base: str) -> dict:
    """The event platform: a session first, then a broadcaster token."""
    return {
        "vars": {"eventId": EVENT},
        "start": {"url": base + "/api/streaming/session/{eventId}", "headers": auth(),
                  "read": {"session_id": "/session/id"}},
        "token": {"url": base + "/api/streaming/{eventId}/token", "headers": auth(),
                  "body": {"role": "BROADCASTER"}, "read": {"token": "/token", "url": "/url"}},
        "status": {"method": "GET", "url": base + "/api/streaming/{eventId}/status", "headers": auth(),
                   "read": {"live": "/phase", "viewers": "/viewerCount"}, "live_when": "LIVE"},
        "end": {"url": base + "/api/streaming/session/{eventId}/end", "headers": auth()},
    }


def rooms_hooks(base: str) -> dict:
    """The rooms platform: start answers the token itself, or 409 when stuck."""
    return {
        "vars": {"roomId": ROOM},
        "start": {"url": base + "/rooms/{roomId}/sessions", "headers": auth(),
                  "read": {"session_id": "/sessionId", "token": "/token", "url": "/livekitUrl"}},
        "status": {"method": "GET", "url": base + "/rooms/{roomId}", "headers": auth(),
                   "read": {"live": "/status", "viewers": "/viewers"}, "live_when": "live"},
        "end": {"url": base + "/rooms/{roomId}/end", "headers": auth()},
    }


def ingress_hooks(base: str) -> dict:
    """The RTMP ingress platform: an ingest URL and key, asked for once."""
    return {
        "ingress": {"url": base + "/api/stream/ingress", "headers": auth(),
                    "read": {"url": "/serverUrl", "key": "/streamKey"}},
        "status": {"method": "GET", "url": base + "/api/stream/status", "headers": auth(),
                   "read": {"live": "/isLive", "viewers": "/viewerCount"}},
    }


def add(k: KeyringEnv, tmp_path, name: str, url: str, hooks: dict, bearer: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(hooks))
    run = k.onair("keys", "add", name, "--url", url, "--platform", str(path), stdin=bearer + "\n")
    assert run.returncode == 0, run.describe()


def live(k: KeyringEnv, name: str, *extra: str) -> onair.Session:
    return onair.Session(["live", name, "--json", *extra], env=k.env)


def platform_events(session: onair.Session) -> list[dict]:
    return [e for e in session.events if e.get("type") == "platform"]


def health(session: onair.Session, code: str) -> list[str]:
    return [e["message"] for e in session.events if e.get("type") == "health" and e["code"] == code]


def journal(k: KeyringEnv, name: str):
    return k.config / "onair" / "sessions" / f"{name}.json"


def test_the_event_platform_goes_live_shows_status_and_ends_once(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    with live(k, "events") as session:
        session.wait_for_state("live", timeout=30)
        assert platform.calls("events.start") == 1 and platform.calls("events.token") == 1
        assert platform.requests("events.token")[0].body == {"role": "BROADCASTER"}
        assert journal(k, "events").exists(), "the open session is in the journal"
        with livekit.subscriber(f"event-{EVENT}", identity="fan", audio=False) as sub:
            sub.wait_for_frames(10, timeout=15)
            session.wait_for(lambda e: e.get("type") == "platform" and e.get("viewers") == 1, timeout=15)
        # The platform ends the event under a broadcaster who is still sending:
        # the creator is told, not left guessing.
        platform.phase(EVENT)  # the event exists
        k_calls_before = platform.calls("events.end")
        _post(platform, f"/api/streaming/session/{EVENT}/end")
        session.wait_for(lambda e: e.get("type") == "health" and e["code"] == "platform_not_live", timeout=20)
        assert platform.calls("events.end") == k_calls_before + 1
        session.stop()
    assert session.returncode == 0, session.describe()
    statuses = platform_events(session)
    assert statuses[0]["live"] is True, statuses
    assert platform.calls("events.end") == 2, "Onair's own end, once (after the platform's)"
    assert not journal(k, "events").exists()
    assert platform.calls("events.status") >= 3


def _post(platform, path: str) -> None:
    import urllib.request

    request = urllib.request.Request(platform.url + path, method="POST", data=b"{}",
                                     headers={"Authorization": f"Bearer {platform.bearer}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def test_a_stuck_room_is_ended_and_started_again_once(k, tmp_path, platform, livekit):
    add(k, tmp_path, "rooms", livekit.url, rooms_hooks(platform.url), platform.bearer)
    platform.make_stuck(ROOM)
    with live(k, "rooms", "--duration", "3") as session:
        session.wait_for_state("live", timeout=30)
        session.wait(30)
    assert session.returncode == 0, session.describe()
    assert platform.statuses("rooms.start") == [409, 201]
    assert platform.calls("rooms.end") == 2, "the stuck session, then ours"
    notes = health(session, "platform_session")
    assert any("409" in n for n in notes), session.describe()


def kept_ingest(k: KeyringEnv, name: str) -> dict | None:
    """The ingest a platform handed out, as kept in the keychain: its server and key together."""
    stored = k.lookup(f"{name}#ingest-key")
    return json.loads(stored) if stored is not None else None


def test_the_ingress_platform_hands_out_a_key_once(k, tmp_path, platform, platform_nginx):
    # The saved URL is another application of the same nginx: the key the
    # platform hands out belongs to the server it names, on every Go Live
    # (a kept key once went to the saved URL instead).
    add(k, tmp_path, "ingest", platform_nginx.url("live"), ingress_hooks(platform.url), platform.bearer)
    before = k.onair("status", "ingest", "--json")
    assert before.returncode == 0, before.describe()
    assert before.events == [{"type": "platform", "live": False, "viewers": 0, "stale": False}], before.describe()
    with live(k, "ingest") as session:
        session.wait_for_state("live", timeout=30)
        platform.set_viewers(4)
        session.wait_for(lambda e: e.get("type") == "viewers" and e["count"] == 4, timeout=20)
        # The platform's view from outside the session, as a creator would check it.
        watch = onair.Session(["status", "ingest", "--watch", "--json"], env=k.env)
        reading = watch.wait_for(lambda e: e.get("type") == "platform", timeout=15)
        watch.stop()
        assert watch.returncode == 0, watch.describe()
        assert (reading["live"], reading["viewers"]) == (True, 4), reading
        assert any(e.get("live") is True for e in platform_events(session)), platform_events(session)
        session.stop()
    assert session.returncode == 0, session.describe()
    assert platform.calls("ingress.ingress") == 1
    assert kept_ingest(k, "ingest") == {"url": platform.rtmp_url, "key": platform.stream_key}, \
        "the key is kept in the keychain with its server"

    publishes = platform.calls("nginx.on_publish")
    again = live(k, "ingest", "--duration", "2")
    again.wait(30)
    assert again.returncode == 0, again.describe()
    assert platform.calls("ingress.ingress") == 1, "the kept key is used, not a new one"
    assert platform.calls("nginx.on_publish") == publishes + 1, "sent to the platform's server, not the saved one"
    assert platform.statuses("nginx.on_publish")[-1] == 200

    # The creator regenerates the key on the platform's site: the kept one is
    # refused, forgotten, and the next Go Live asks for the new one.
    _post(platform, "/api/stream/ingress")
    refused = live(k, "ingest", "--duration", "2")
    failed = refused.wait_for_state("failed", timeout=30)
    refused.wait(15)
    assert failed["error"]["code"] == "key_rejected", failed
    assert k.lookup("ingest#ingest-key") is None
    fresh = live(k, "ingest", "--duration", "2")
    fresh.wait(30)
    assert fresh.returncode == 0, fresh.describe()
    assert platform.calls("ingress.ingress") == 3 and kept_ingest(k, "ingest")["key"] == platform.stream_key


def test_the_platform_down_at_start_publishes_nothing(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    platform.down()
    started = time.time()
    session = live(k, "events")
    failed = session.wait_for_state("failed", timeout=30)
    session.wait(15)
    assert session.returncode == 1
    assert failed["error"]["code"] == "platform_error", failed
    assert "could not reach your platform" in failed["error"]["message"], failed
    assert livekit.rooms() == [], "nothing was published"
    assert not journal(k, "events").exists()
    platform.up()
    assert platform.calls("events.end") == 0
    assert time.time() - started < 15


def test_the_platform_down_while_live_leaves_the_stream_up(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    with live(k, "events") as session:
        session.wait_for_state("live", timeout=30)
        session.wait_for(lambda e: e.get("type") == "platform" and not e["stale"], timeout=15)
        platform.down()
        stale = session.wait_for(lambda e: e.get("type") == "platform" and e["stale"], timeout=20)
        frames_at_stale = _encoded(session)
        time.sleep(2)
        assert _encoded(session) > frames_at_stale, "the stream went on"
        platform.up()
        session.stop()
    assert session.returncode == 0, session.describe()
    assert stale["live"] is True, "the last known state is kept"
    assert platform.calls("events.end") == 1


def _encoded(session: onair.Session) -> int:
    stats = [e for e in session.events if e.get("type") == "stats"]
    return stats[-1]["video"]["encoded"] if stats else 0


def test_a_failure_after_start_still_ends_the_session_once(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    platform.fail_next("events.token", 500, times=10)
    session = live(k, "events")
    failed = session.wait_for_state("failed", timeout=30)
    session.wait(15)
    assert failed["error"]["code"] == "platform_error" and "HTTP 500" in failed["error"]["message"], failed
    assert platform.calls("events.token") == 4, "one try and three retries"
    assert platform.calls("events.start") == 1 and platform.calls("events.end") == 1
    assert not journal(k, "events").exists()


def test_a_5xx_is_tried_again_and_a_4xx_is_not(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    platform.fail_next("events.start", 503)
    with live(k, "events", "--duration", "2") as session:
        session.wait_for_state("live", timeout=30)
        session.wait(30)
    assert session.returncode == 0, session.describe()
    assert platform.statuses("events.start") == [503, 201]

    platform.fail_next("events.start", 400)
    refused = live(k, "events")
    failed = refused.wait_for_state("failed", timeout=30)
    refused.wait(15)
    assert platform.statuses("events.start")[-1] == 400 and platform.calls("events.start") == 3
    assert failed["error"]["code"] == "platform_error" and "HTTP 400" in failed["error"]["message"], failed


def test_a_crash_while_live_is_cleaned_up_by_the_next_go_live(k, tmp_path, platform, livekit):
    add(k, tmp_path, "rooms", livekit.url, rooms_hooks(platform.url), platform.bearer)
    crashed = live(k, "rooms")
    crashed.wait_for_state("live", timeout=30)
    crashed.proc.send_signal(signal.SIGKILL)
    crashed.wait(10)
    assert journal(k, "rooms").exists()
    assert platform.calls("rooms.end") == 0

    with live(k, "rooms", "--duration", "2") as session:
        session.wait_for_state("live", timeout=30)
        session.wait(30)
    assert session.returncode == 0, session.describe()
    assert platform.statuses("rooms.start") == [201, 201], "no 409: the stale session was ended first"
    assert platform.calls("rooms.end") == 2
    assert any("crash" in n for n in health(session, "platform_session")), session.describe()
    assert not journal(k, "rooms").exists()


def test_a_platform_answer_naming_a_file_writes_nothing(k, tmp_path, platform, platform_nginx):
    """A hostile (or broken) platform answers with a file: URL where a server
    belongs: Onair refuses it as the platform's error and the file stays as it was."""
    victim = tmp_path / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 creator@laptop\n")
    before = victim.read_bytes()

    add(k, tmp_path, "events", "wss://lk.invalid", events_hooks(platform.url), platform.bearer)
    platform.answer_next("events.token", 200, {"token": "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "url": f"file:{victim}"})
    session = live(k, "events")
    failed = session.wait_for_state("failed", timeout=30)
    session.wait(15)
    assert session.returncode == 1
    assert failed["error"]["code"] == "platform_error", failed
    assert "ws:// or wss://" in failed["error"]["message"], failed
    assert platform.calls("events.end") == 1, "the session the start hook opened is ended"

    add(k, tmp_path, "ingest", platform_nginx.url("live"), ingress_hooks(platform.url), platform.bearer)
    platform.answer_next("ingress.ingress", 200, {"serverUrl": f"file:{victim}", "streamKey": "sk_hostile_0001"})
    session = live(k, "ingest")
    failed = session.wait_for_state("failed", timeout=30)
    session.wait(15)
    assert failed["error"]["code"] == "platform_error", failed
    assert kept_ingest(k, "ingest") is None, "a refused ingest is not kept"

    assert victim.read_bytes() == before
    assert not list(tmp_path.glob("authorized_keys*.flv")) and not (tmp_path / "authorized_keys").is_dir()


def test_stop_during_a_stalled_start_hook_acts_within_a_second(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    platform.answer_next("events.start", delay=8)
    session = live(k, "events")
    session.wait_for_state("preparing", timeout=15)
    time.sleep(1.0)  # the start call is in flight, stalled
    asked = time.monotonic()
    session.proc.send_signal(signal.SIGINT)
    ended = session.wait_for(lambda e: e.get("type") == "state" and e["state"] in ("ended", "failed"), timeout=10)
    took = time.monotonic() - asked
    session.wait(10)
    assert ended["state"] == "ended" and session.returncode == 0, session.describe()
    assert took < 1.0, f"Stop took {took:.2f} s"
    platform.wait_for_calls("events.end", 1, timeout=5)
    time.sleep(0.5)
    assert platform.calls("events.end") == 1, "the end hook runs once: start may have opened a session"
    assert livekit.rooms() == [], "nothing was published"


def key_header_hooks(base: str) -> dict:
    """The event platform with the secret in a custom header and in the body,
    which reqwest's own redirect handling would have carried along."""
    hooks = events_hooks(base)
    hooks["start"]["headers"] = {"X-Api-Key": "{secret}", **auth()}
    hooks["start"]["body"] = {"apiKey": "{secret}"}
    return hooks


def test_a_redirect_to_another_host_carries_no_secret_there(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, key_header_hooks(platform.url), platform.bearer)
    with Witness("127.0.0.2") as elsewhere:
        target = elsewhere.url + "/collect"
        platform.redirect_next("events.start", target, 307)
        started = time.monotonic()
        run = k.onair("live", "events", "--json", "--duration", "5")
        took = time.monotonic() - started
        time.sleep(0.3)
        assert elsewhere.connections == 0 and elsewhere.received == b"", "the redirect target was contacted"
    assert run.returncode == 1, run.describe()
    assert run.error["code"] == "platform_error", run.error
    assert "HTTP 307" in run.error["message"] and target in run.error["message"], run.error
    # The platform got its one call (with the key, as configured); not retried.
    assert platform.statuses("events.start") == [307]
    assert platform.requests("events.start")[0].headers["x-api-key"] == platform.bearer
    assert platform.calls("events.end") == 0 and livekit.rooms() == []
    assert took < 15, run.describe()


def _maxrss_kib(stderr: str) -> int:
    for line in stderr.splitlines():
        if line.startswith("onair-maxrss-kib="):
            return int(line.split("=", 1)[1])
    raise AssertionError(f"no maxrss line in {stderr[-500:]!r}")


def test_an_oversized_answer_is_a_clear_error_without_reading_it_whole(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    size = 512 << 20
    platform.oversize_next("events.start", size)
    run = onair.run(["live", "events", "--json", "--duration", "5"], env=k.env, timeout=60,
                    wrap=["/usr/bin/time", "-f", "onair-maxrss-kib=%M"])
    peak = _maxrss_kib(run.stderr)
    print(f"peak RSS with a {size >> 20} MiB answer: {peak} KiB")
    assert run.returncode == 1, run.describe()
    assert run.error["code"] == "platform_error", run.error
    assert "larger than 1 MiB" in run.error["message"], run.error
    # Onair's own footprint here is about 30 MiB (1.1 GiB when the body was
    # read whole, before the cap).
    assert peak < 100 * 1024, f"peak RSS {peak} KiB"
    assert platform.statuses("events.start") == [200], "not asked again"


def _local_non_loopback_ipv4() -> str | None:
    import subprocess

    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        address = line.split()[3].split("/")[0]
        if not address.startswith("127."):
            return address
    return None


def test_a_cleartext_token_url_is_refused_before_any_connection(k, livekit):
    # A name that cannot be looked up: the refusal must come first, named.
    bearer = "plat_cleartext_" + "x" * 16
    started = time.monotonic()
    run = k.onair("live", livekit.url, "--token-url", "http://token.example.invalid/t",
                  "--key-stdin", "--json", "--duration", "3", stdin=bearer + "\n")
    assert time.monotonic() - started < 10, run.describe()
    assert run.returncode == 1, run.describe()
    assert run.error["code"] == "invalid_destination", run.error
    assert "http://token.example.invalid/t" in run.error["message"], run.error
    assert "use https://" in run.error["message"], run.error
    assert livekit.rooms() == []
    # And a real listener on this machine's own non-loopback address hears nothing.
    address = _local_non_loopback_ipv4()
    if address is None:
        return
    with Witness(address) as listener:
        run = k.onair("live", livekit.url, "--token-url", listener.url + "/t",
                      "--key-stdin", "--json", "--duration", "3", stdin=bearer + "\n")
        time.sleep(0.3)
        assert listener.connections == 0, "the token endpoint was contacted in clear"
    assert run.error["code"] == "invalid_destination", run.error


def test_saving_a_cleartext_token_url_is_refused(k):
    run = k.onair("keys", "add", "lk", "--url", "wss://lk.example", "--token-url",
                  "http://token.example.invalid/t", stdin="plat_bearer_000000000001\n")
    assert run.returncode == 2, run.describe()
    assert "use https://" in run.stderr, run.describe()
    ok = k.onair("keys", "add", "local", "--url", "ws://127.0.0.1:7880", "--token-url",
                 "http://127.0.0.1:9/t", stdin="plat_bearer_000000000001\n")
    assert ok.returncode == 0, ok.describe()


def test_a_platform_naming_a_cleartext_server_gets_no_token_sent_there(k, tmp_path, platform, livekit):
    add(k, tmp_path, "events", livekit.url, events_hooks(platform.url), platform.bearer)
    platform.answered_livekit_url = "ws://lk.example.invalid:7880"
    run = k.onair("live", "events", "--json", "--duration", "5")
    assert run.returncode == 1, run.describe()
    assert run.error["code"] == "platform_error", run.error
    assert "ws://lk.example.invalid:7880" in run.error["message"] and "use wss://" in run.error["message"], run.error
    # The session the platform opened is ended, once.
    assert platform.calls("events.start") == 1 and platform.calls("events.end") == 1
    assert not journal(k, "events").exists()

