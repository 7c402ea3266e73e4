"""The link check (issue 25, item 3): `onair check DEST` measures what the
path to an RTMP ingest or a LiveKit server carries, without publishing, and
proposes a size and bitrate with a fifth spare. Against a real nginx-rtmp
and a real livekit-server (watched by LiveKit's own client) across an
uplink capped with tc tbf in its own network namespace."""

from __future__ import annotations

import contextlib
import json
import os
import secrets as stdlib_secrets
import time

import pytest

from onair_testkit import onair, secrets, uplink
from onair_testkit.livekit import LiveKitServer
from onair_testkit.keyring import KeyringEnv
from onair_testkit.nginx import Nginx


@contextlib.contextmanager
def capped_ingest(tmp_path, kbit: int | None):
    missing = uplink.missing_tools()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (scripts/setup installs them)", pytrace=False)
    with uplink.Uplink() as link, Nginx(tmp_path / "nginx", ip=link.host_ip) as nginx:
        if kbit:
            link.cap(kbit)
        yield link, nginx


def check(link, dest: str, *extra: str, env: dict | None = None) -> tuple[onair.Run, dict]:
    ran = onair.run(["check", dest, "--json", *extra], wrap=link.netns_prefix, env=env, timeout=60)
    lines = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, ran.describe()
    return ran, lines[0]


def capped_proposal(report: dict, at_least: int, at_most: int) -> tuple[dict, int]:
    """Checks a report from behind a cap: a proposal (sound included) within
    the bounds, a sentence, and the queue showing in the loaded round trip
    (tbf queues up to 200 ms). Returns the proposal and its total."""
    proposal = report["proposal"]
    total = proposal["video_kbps"] + proposal["audio_kbps"]
    assert at_least <= total <= at_most, report
    assert not report["at_least"] and not report["too_slow"], report
    assert "kbit/s of video" in report["sentence"], report
    assert report["loaded_rtt_ms"] > report["rtt_ms"] + 10, report
    return proposal, total


@pytest.mark.parametrize("cap_kbit, at_most, at_least", [(3000, 2400, 1500), (1000, 800, 300)])
def test_the_check_proposes_what_fits_the_cap_and_publishes_nothing(tmp_path, cap_kbit, at_most, at_least,
                                                                     measurements):
    key = secrets.SESSION.register("sk_check_" + stdlib_secrets.token_hex(8))
    with KeyringEnv(tmp_path / "env") as k, capped_ingest(tmp_path, cap_kbit) as (link, nginx):
        k.start_bus()
        k.start_keyring(unlock=True)
        # A saved destination with its key, as a creator has it: the check
        # must not send the key.
        added = k.onair("keys", "add", "ingest", "--url", nginx.url("live"), stdin=key + "\n")
        assert added.returncode == 0, added.describe()
        ran, report = check(link, "ingest", env=k.env)
        log = nginx.error_log()
        recordings = sorted(p.name for p in nginx.rec.iterdir())
    assert ran.returncode == 0, ran.describe()
    proposal, total = capped_proposal(report, at_least, at_most)
    # Nothing went public: no stream was made, so nothing was recorded, and
    # the key never reached the server.
    assert recordings == [], recordings
    assert key not in log and "publish" not in log.lower(), log[-2000:]
    carried = report["carried_kbps"]
    measurements.record(
        f"link check behind a {cap_kbit} kbit/s tbf cap: carried {carried} kbit/s "
        f"({carried / cap_kbit - 1:+.1%} against the cap, which counts packet headers), "
        f"proposed {total} kbit/s at {proposal['width']}x{proposal['height']}, "
        f"round trip {report['rtt_ms']} ms idle, {report['loaded_rtt_ms']} ms full; took {report['seconds']:.1f} s"
    )


def test_an_open_path_is_reported_as_at_least_and_the_request_stands(tmp_path):
    with capped_ingest(tmp_path, None) as (link, nginx):
        ran, report = check(link, nginx.url("live"), "--bitrate", "3000")
    assert ran.returncode == 0, ran.describe()
    assert report["at_least"] and report["carried_kbps"] >= 7000, report
    assert report["proposal"]["video_kbps"] == 3000 and report["proposal"]["height"] == 720, report
    assert "at least" in report["sentence"], report


def test_the_human_answer_says_what_to_send_and_how(tmp_path):
    with capped_ingest(tmp_path, 3000) as (link, nginx):
        ran = onair.run(["check", nginx.url("live")], wrap=link.netns_prefix, timeout=60)
    assert ran.returncode == 0, ran.describe()
    assert "nothing is published" in ran.stderr
    # The words and the command to paste; the figures are the other tests'.
    assert "kbit/s of video at " in ran.stdout and "onair live DEST --size " in ran.stdout, ran.stdout


@pytest.mark.parametrize("url, code, says", [
    ("wss://lk.example/rtc", "key_missing", "onair keys add"),
    ("https://whip.example/whip", "invalid_destination", "WHIP's one request starts the stream"),
    ("rtmp://127.0.0.1:9/live", "unreachable", "127.0.0.1"),
    ("rtmp://no-such-host.invalid/live", "unreachable", "no-such-host.invalid"),
])
def test_what_cannot_be_checked_says_why(url, code, says):
    ran = onair.run(["check", url, "--json"], timeout=30)
    assert ran.returncode == 1, ran.describe()
    error = json.loads(ran.stdout)["error"]
    assert error["code"] == code and says in error["message"], error


def test_rtmps_is_checked_over_tls_and_a_bad_certificate_is_a_tls_error(tmp_path):
    with Nginx(tmp_path / "nginx") as nginx:
        env = {**os.environ, "SSL_CERT_FILE": str(nginx.ca)}
        ran = onair.run(["check", nginx.url("live", tls=True), "--json"], env=env, timeout=60)
        untrusted = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        refused = onair.run(["check", nginx.url("live", tls=True), "--json"], env=untrusted, timeout=60)
    assert ran.returncode == 0, ran.describe()
    assert json.loads(ran.stdout)["at_least"], ran.stdout
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"]["code"] == "tls", refused.describe()


@pytest.mark.parametrize("cap_kbit, at_most, at_least", [(3000, 2400, 1500), (1000, 800, 300)])
def test_the_livekit_check_proposes_what_fits_and_publishes_nothing(tmp_path, cap_kbit, at_most, at_least,
                                                                    measurements):
    room = "checked"
    missing = uplink.missing_tools()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (scripts/setup installs them)", pytrace=False)
    with KeyringEnv(tmp_path / "env") as k, uplink.Uplink() as link, \
            LiveKitServer(tmp_path / "livekit", ip=link.host_ip) as server:
        k.start_bus()
        k.start_keyring(unlock=True)
        # A self-hosted destination that mints its own tokens, as in Go Live
        # (the server is across the namespace's link, so not this computer).
        added = k.onair("keys", "add", "studio", "--url", server.url, "--api-key", server.api_key,
                        "--room", room, stdin=server.api_secret + "\n",
                        env={**k.env, "ONAIR_CLEARTEXT_HOSTS": link.host_ip})
        assert added.returncode == 0, added.describe()
        with server.subscriber(room, audio=False) as viewer:
            link.cap(cap_kbit)
            ran, report = check(link, "studio", env=k.env)
            checked_at = time.time()
            link.uncap()
            # The check leaves as it ends: the room lets it go at once.
            server.wait_for_participants(room, lambda ps: [p.identity for p in ps] == ["viewer"], timeout=3)
            left_s = time.time() - checked_at
            events = viewer.events()
            received = list(viewer._data)
    assert ran.returncode == 0, ran.describe()
    proposal, total = capped_proposal(report, at_least, at_most)
    # Nothing went public: a self-hosted destination's check mints itself a
    # hidden token, so the viewer never saw a participant, let alone a
    # track, and received not a byte of the filler; and it left the room.
    assert not [e for e in events if e[1] in ("track_published", "track_subscribed")], events
    assert not [e for e in events if e[1] == "participant_connected"], events
    assert received == [], received[:3]
    carried = report["carried_kbps"]
    measurements.record(
        f"LiveKit link check behind a {cap_kbit} kbit/s tbf cap: carried {carried} kbit/s "
        f"({carried / cap_kbit - 1:+.1%} against the cap, which counts packet headers), "
        f"proposed {total} kbit/s at {proposal['width']}x{proposal['height']}, "
        f"round trip {report['rtt_ms']} ms idle, {report['loaded_rtt_ms']} ms full; took {report['seconds']:.1f} s, "
        f"gone from the room {left_s:.1f} s after the answer"
    )


def test_a_given_livekit_token_is_checked_as_a_participant_without_tracks(tmp_path, measurements):
    """A token from the platform cannot be made hidden: the room lists the
    check for its seconds, with no track, and then not at all."""
    room = "given"
    with KeyringEnv(tmp_path / "env") as k, LiveKitServer(tmp_path / "livekit") as server:
        k.start_bus()
        k.start_keyring(unlock=True)
        token = secrets.SESSION.register(server.token("onair", room))
        added = k.onair("keys", "add", "platform-room", "--url", server.url, stdin=token + "\n")
        assert added.returncode == 0, added.describe()
        with server.subscriber(room, audio=False) as viewer:
            ran = onair.run(["check", "platform-room", "--json"], env=k.env, timeout=60)
            server.wait_for_participants(room, lambda ps: [p.identity for p in ps] == ["viewer"], timeout=3)
            deadline = time.time() + 3
            while time.time() < deadline and not any(e[1] == "participant_disconnected" for e in viewer.events()):
                time.sleep(0.1)
            events = viewer.events()
            received = list(viewer._data)
    assert ran.returncode == 0, ran.describe()
    report = json.loads(ran.stdout)
    assert report["at_least"], report
    assert not [e for e in events if e[1] in ("track_published", "track_subscribed")], events
    assert received == [], received[:3]
    joined = [e[0] for e in events if e[1] == "participant_connected"]
    gone = [e[0] for e in events if e[1] == "participant_disconnected"]
    assert len(joined) == 1 and len(gone) == 1, events
    measurements.record(f"LiveKit link check with a given token: listed in the room, without tracks, "
                        f"for {gone[0] - joined[0]:.1f} s; {report['sentence']}")
