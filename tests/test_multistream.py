"""Several destinations in one Go Live (issue 21): one capture, one set of
encoders, and each destination lives, falls behind, reconnects or fails on
its own. Real servers only: livekit-server watched by LiveKit's own client
(PyPI ``livekit``), nginx-rtmp instances whose recordings are read frame by
frame (the test pattern's stamps) and beep by beep, and Onair's own local
recording.

Multi-destination sessions name SAVED destinations (``--key-stdin`` is for
one ad-hoc URL only), so every test keeps its destinations in a private
keychain (onair_testkit.keyring). Every key and token is registered with the
session's secret scan, and each test also greps its own run's output.

The topology of the fault test: onair and everything else run in the host
namespace, but nginx "B" lives in a network namespace of its own, reachable
only over a veth pair whose host end carries a ``tc tbf`` cap when the test
throttles it; nginx "A" is on 127.0.0.1 and is killed and restarted alone.

ONAIR_MULTI_SECONDS (default 20) is how long the clean session streams; the
issue's full minute is ``ONAIR_MULTI_SECONDS=60`` (``make test-multi-long``).
"""

from __future__ import annotations

import contextlib
import os
import secrets as stdlib_secrets
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest

from onair_testkit import media, onair, report, secrets, uplink
from onair_testkit.keyring import KeyringEnv, missing_tools
from onair_testkit.nginx import Nginx, wait_closed

SECONDS = float(os.environ.get("ONAIR_MULTI_SECONDS", "20"))
ROOM = "multi"
FPS = 30
#: Share of the frames sent that every receiver must decode.
DECODED_SHARE = 0.99
AV_LIMIT_S = 0.020
#: The fault test's stream: grain makes the encoder spend its bitrate, so a
#: cap under it bites (as in tests/test_faults.py).
BUSY = ["--video", "test:busy", "--size", "640x360", "--bitrate", "1200"]
CAP_KBIT = 300


# --- helpers ------------------------------------------------------------------


def new_key(label: str) -> str:
    return secrets.SESSION.register(f"sk_{label}_{stdlib_secrets.token_hex(8)}")


@pytest.fixture
def k(tmp_path, onair_bin):
    missing = missing_tools()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}; scripts/setup installs them", pytrace=False)
    with KeyringEnv(tmp_path / "env") as env:
        env.start_bus()
        env.start_keyring(unlock=True)
        yield env


def save(k: KeyringEnv, name: str, url: str, key: str, *extra: str) -> None:
    added = k.onair("keys", "add", name, "--url", url, *extra, stdin=key + "\n")
    assert added.returncode == 0, added.describe()


def save_livekit(k: KeyringEnv, livekit, name: str = "lk") -> str:
    """A LiveKit destination whose key is a publisher token for ROOM
    (registered with the secret scan); returns the token."""
    token = secrets.SESSION.register(livekit.token("onair", ROOM, can_subscribe=False))
    save(k, name, livekit.url, token)
    return token


def dest_events(events: list[dict], name: Optional[str] = None) -> list[dict]:
    return [e for e in events if e.get("type") == "destination" and (name is None or e.get("destination") == name)]


def dest_states(events: list[dict], name: str) -> list[str]:
    return [e["state"] for e in dest_events(events, name)]


def dest_state_now(events: list[dict], name: str) -> str:
    found = dest_states(events, name)
    return found[-1] if found else ""


def dest_stats(events: list[dict], name: str) -> Optional[dict]:
    """The latest ``stats.destinations`` entry for NAME."""
    for e in reversed(events):
        if e.get("type") == "stats":
            for d in e.get("destinations", []):
                if d.get("destination") == name:
                    return d
    return None


def dropped(events: list[dict], name: str) -> int:
    found = dest_stats(events, name)
    assert found is not None, f"no stats entry for {name}"
    return found["dropped"]


def wait_dest(session: onair.Session, name: str, state: str, timeout: float, since: int = 0) -> dict:
    """The first ``destination`` event NAME -> STATE after event ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in session.events[since:]:
            if e.get("type") == "destination" and e.get("destination") == name and e.get("state") == state:
                return e
        if session.proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"{name} did not become {state} within {timeout} s:\n{session.describe()}")


def wait_event(session: onair.Session, predicate, timeout: float, what: str, since: int = 0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in session.events[since:]:
            if predicate(e):
                return e
        if session.proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {timeout} s:\n{session.describe()}")


def wait_until(predicate, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what()}")
        time.sleep(0.05)


def wait_stats_after(session: onair.Session, since: int, timeout: float = 5) -> dict:
    """The next stats event after event ``since`` (fresh counters)."""
    return wait_event(session, lambda e: e.get("type") == "stats", timeout, "stats event", since)


def assert_keys_not_in(session_or_run, *keys: str) -> None:
    """The keys appear nowhere in what onair printed (the session-wide
    secret scan checks the same, later and for every run)."""
    events = getattr(session_or_run, "events", [])
    text = "\n".join(map(str, events)) + session_or_run.stderr + getattr(session_or_run, "stdout", "")
    for key in keys:
        assert key not in text, "a stream key or token leaked into onair's output"


def decoded_share(numbers: list[int]) -> tuple[int, int]:
    """(frames decoded, frames sent between the first and the last seen)."""
    if not numbers:
        return 0, 0
    return len(set(numbers)), max(numbers) - min(numbers) + 1


def summary_of(label: str, analysed: report.FileReport) -> str:
    f = analysed.frames
    got, sent = decoded_share(f.numbers)
    av = analysed.av
    av_text = (f"A/V max |{av.max_abs_offset * 1000:.1f}| ms over {len(av.matches)} flashes"
               if av is not None and av.matches else "no A/V match")
    return f"{label}: {got}/{sent} frames, lost {len(f.lost)}, unreadable {len(f.unreadable)}, {av_text}"


def go_live_to_every_destination(events: list[dict], names: list[str]) -> Optional[int]:
    """at_ms of the last destination's first ``live``."""
    firsts = []
    for name in names:
        live = [e["at_ms"] for e in dest_events(events, name) if e["state"] == "live"]
        if not live:
            return None
        firsts.append(live[0])
    return max(firsts)


def check_event_shapes(events: list[dict], names: set[str]) -> None:
    """What the contract says every multi-destination event carries."""
    for e in dest_events(events):
        assert e["destination"] in names, e
        assert e["state"] in ("connecting", "live", "reconnecting", "failed", "ended"), e
        assert isinstance(e["at_ms"], int), e
    for kind in ("reconnect", "viewers", "platform", "bitrate"):
        for e in onair.of_type(events, kind):
            assert e.get("destination") in names, f"{kind} event without a destination: {e}"
    for e in onair.of_type(events, "viewers"):
        assert isinstance(e.get("total"), int) and e["total"] >= e["count"], e
    for e in onair.of_type(events, "state"):
        assert "destination" not in e, f"a session state names a destination: {e}"
    for e in onair.of_type(events, "stats"):
        entries = e.get("destinations")
        assert isinstance(entries, list), f"stats without destinations: {e}"
        for d in entries:
            assert d["destination"] in names, d
            assert {"state", "kbps", "dropped", "queue"} <= set(d), d
            assert {"now", "peak", "capacity"} <= set(d["queue"]), d


# --- the command line ---------------------------------------------------------


def test_usage_errors_for_several_destinations(k, tmp_path):
    key = new_key("usage")
    save(k, "a", "rtmp://127.0.0.1:1935/live", key)
    save(k, "b", "rtmp://127.0.0.1:1936/live", key)
    twice = k.onair("live", "a", "b", "a", "--duration", "1", "--json")
    assert twice.returncode == 2 and twice.stderr.strip(), twice.describe()
    for flag in (["--key-stdin"], ["--room", ROOM], ["--token-url", "http://127.0.0.1:9/token"]):
        run = k.onair("live", "a", "b", *flag, "--duration", "1", "--json", stdin=key + "\n")
        assert run.returncode == 2, f"{flag}: {run.describe()}"
        assert flag[0] in run.stderr, run.describe()
        assert_keys_not_in(run, key)
    assert_keys_not_in(twice, key)


# --- 1. one clean session: LiveKit (simulcast), two RTMP, a recording ---------------


def test_one_go_live_reaches_livekit_two_rtmp_servers_and_the_recording(
        k, livekit, ffmpeg, tmp_path, measurements):
    names = ["lk", "rtmp-a", "rtmp-b"]
    with Nginx(tmp_path / "nginx-a") as a, Nginx(tmp_path / "nginx-b") as b:
        token = save_livekit(k, livekit)
        key_a, key_b = new_key("a"), new_key("b")
        save(k, "rtmp-a", a.url("live"), key_a)
        save(k, "rtmp-b", b.url("live"), key_b)
        # Inside the keychain folder, so the secret scan reads the file too.
        recording = k.root / "multi.flv"
        with livekit.subscriber(ROOM, quality="high") as sub:
            time.sleep(1)  # the viewer's own join settles first (see test_livekit)
            args = ["live", *names, "--simulcast", "--record", str(recording),
                    "--duration", str(SECONDS), "--json"]
            with onair.Session(args, env=k.env) as session:
                session.wait_for_state("live", timeout=30)
                for name in names:
                    wait_dest(session, name, "live", timeout=15)
                sub.wait_for_frames(10, timeout=15)
                code = session.wait(timeout=SECONDS + 40)
            heard = sub.audio()
            numbers = sub.stamp_numbers()
            sizes = sub.sizes()
            # LiveKit's decoder hands out a 2x2 placeholder when a track ends: not a layer.
            tail_sizes = {(r.width, r.height) for r in sub.frames()[-90:] if r.width >= 16}
        for server, key in ((a, key_a), (b, key_b)):
            wait_closed(server.recording(key))
        analysed = {
            "rtmp-a": report.analyse_file(a.recording(key_a)),
            "rtmp-b": report.analyse_file(b.recording(key_b)),
            "recording": report.analyse_file(recording),
        }
    events = session.events
    assert_keys_not_in(session, token, key_a, key_b)
    assert code == 0, session.describe()
    assert session.stray == [], session.stray
    assert session.states == ["preparing", "connecting", "live", "stopping", "ended"], session.describe()
    check_event_shapes(events, set(names))
    for name in names:
        states = dest_states(events, name)
        assert states[0] == "connecting" and "live" in states and states[-1] == "ended", (name, states)
        assert "reconnecting" not in states and "failed" not in states, (name, states)
        assert dropped(events, name) == 0, (name, dest_stats(events, name))
    stats = onair.of_type(events, "stats")
    assert {d["destination"] for d in stats[-1]["destinations"]} == set(names), \
        "the local recording is not a destination"
    assert [e["path"] for e in onair.of_type(events, "recording")] == [str(recording)]
    lk_viewers = [e for e in onair.of_type(events, "viewers") if e["destination"] == "lk"]
    assert any(e["count"] >= 1 for e in lk_viewers), f"the LiveKit viewer was never counted: {lk_viewers}"

    got, sent = decoded_share(numbers)
    assert sent >= FPS * (SECONDS - 3) and got >= DECODED_SHARE * sent, \
        f"LiveKit viewer decoded {got} of {sent} frames; {sub.summary()}"
    # The SFU may start on a small layer; the viewer asked for the top one.
    assert tail_sizes == {(1280, 720)} and sizes[(1280, 720)] >= 0.5 * sum(sizes.values()), sizes
    assert len(media.find_beeps(heard)) >= SECONDS - 3, "the LiveKit viewer hears the tone"
    for label, found in analysed.items():
        frames = found.frames
        got, sent = decoded_share(frames.numbers)
        assert sent >= FPS * (SECONDS - 2), f"{label}: only {sent} frames"
        assert got >= DECODED_SHARE * sent, summary_of(label, found)
        (v,) = media.streams_of(found.info, "video")
        assert (v["width"], v["height"]) == (1280, 720), f"{label}: RTMP and the recording take the full size: {v}"
        (au,) = media.streams_of(found.info, "audio")
        assert au["codec_name"] == "aac", f"{label}: {au}"
        av = found.av
        assert av is not None and len(av.matches) >= SECONDS - 3, f"{label}: {av and av.summary()}"
        assert av.max_abs_offset <= AV_LIMIT_S, f"{label}: {av.summary()}"
    local = analysed["recording"].frames
    assert local.lost == [] and local.unreadable == [], summary_of("recording", analysed["recording"])

    every = go_live_to_every_destination(events, names)
    live_at = next(e["at_ms"] for e in onair.of_type(events, "state") if e["state"] == "live")
    measurements.record(
        f"{SECONDS:g} s to LiveKit (simulcast) + 2 RTMP + recording: session live at {live_at} ms, every "
        f"destination live at {every} ms; LiveKit viewer {decoded_share(numbers)[0]}/{decoded_share(numbers)[1]} "
        f"frames, p50 {sub.latency_ms(50):.0f} ms; "
        + "; ".join(summary_of(label, found) for label, found in analysed.items())
    )


# --- 2. one destination throttled, another killed: the rest never notice -------------


def cap_host_side(link: uplink.Uplink, kbit: int) -> None:
    """At most KBIT kbit/s from the host into B's namespace (what onair
    sends B); a 200 ms queue, then drops."""
    subprocess.run(["tc", "qdisc", "replace", "dev", link.host_if, "root", "tbf", "rate", f"{kbit}kbit",
                    "burst", "16kb", "latency", "200ms"], check=True, capture_output=True)


def uncap_host_side(link: uplink.Uplink) -> None:
    subprocess.run(["tc", "qdisc", "del", "dev", link.host_if, "root"], capture_output=True)


def encoder_kbps(events: list[dict], since: int) -> list[float]:
    return [e["video"]["kbps"] for e in events[since:] if e.get("type") == "stats"]


def test_a_slow_destination_and_a_dead_one_hurt_nobody_else(k, livekit, ffmpeg, tmp_path, measurements):
    if uplink.missing_tools():
        pytest.fail(f"{', '.join(uplink.missing_tools())} not installed", pytrace=False)
    names = ["lk", "rtmp-a", "rtmp-b"]
    with contextlib.ExitStack() as stack:
        link = stack.enter_context(uplink.Uplink())
        a = stack.enter_context(Nginx(tmp_path / "nginx-a"))
        b = stack.enter_context(Nginx(tmp_path / "nginx-b", wrap=["ip", "netns", "exec", link.netns],
                                      ip=link.publisher_ip))
        stack.callback(uncap_host_side, link)
        token = save_livekit(k, livekit)
        key_a, key_b = new_key("killed"), new_key("slow")
        save(k, "rtmp-a", a.url("live"), key_a)
        save(k, "rtmp-b", b.url("live"), key_b)
        recording = k.root / "multi-faults.flv"
        sub = stack.enter_context(livekit.subscriber(ROOM, audio=False, quality="high"))
        session = stack.enter_context(onair.Session(
            ["live", *names, *BUSY, "--simulcast", "--record", str(recording), "--json"], env=k.env))
        session.wait_for_state("live", timeout=30)
        for name in names:
            wait_dest(session, name, "live", timeout=15)
        sub.wait_for_frames(30, timeout=15)
        time.sleep(3)  # warm-up: encoders and queues at their working size

        # -- B alone throttled far under the bitrate
        since = len(session.events)
        before = wait_stats_after(session, since)
        kbps_before = before["video"]["kbps"]
        capped = time.monotonic()
        cap_host_side(link, CAP_KBIT)
        try:
            behind = wait_event(
                session, lambda e: e.get("type") == "health" and e.get("code") == "destination_behind",
                timeout=20, what="destination_behind", since=since)
            behind_s = time.monotonic() - capped
            time.sleep(4)
            during = len(session.events)
            kbps_capped = encoder_kbps(session.events, since)
            wait_stats_after(session, during)
        finally:
            uncap_host_side(link)
        uncapped = len(session.events)
        assert behind.get("destination") == "rtmp-b", behind
        b_dropped = dropped(session.events, "rtmp-b")
        assert b_dropped > 0, dest_stats(session.events, "rtmp-b")
        for name in ("lk", "rtmp-a"):
            assert dropped(session.events, name) == 0, (name, dest_stats(session.events, name))
        # B catches up (or reconnects) and is live again.
        wait_until(lambda: dest_state_now(session.events, "rtmp-b") == "live"
                   and (dest_stats(session.events[uncapped:], "rtmp-b") or {}).get("state") == "live",
                   timeout=20, what=lambda: f"rtmp-b live again:\n{session.describe()}")
        time.sleep(2)

        # -- A killed and restarted
        since_kill = len(session.events)
        b_dropped_at_kill = dropped(session.events, "rtmp-b")
        killed = time.monotonic()
        a.kill()
        wait_dest(session, "rtmp-a", "reconnecting", timeout=10, since=since_kill)
        noticed_s = time.monotonic() - killed
        time.sleep(2)
        before_restart = a.dir / "before-restart.flv"
        if a.recording(key_a).exists():
            a.recording(key_a).rename(before_restart)
        a.start()
        restarted = time.monotonic()
        wait_dest(session, "rtmp-a", "live", timeout=20, since=since_kill)
        back_s = time.monotonic() - restarted
        time.sleep(3)
        end = len(session.events)
        wait_stats_after(session, end)
        assert session.stop() == 0, session.describe()
        numbers = sub.stamp_numbers()
        wait_closed(a.recording(key_a))
        b.stop()
        wait_closed(b.recording(key_b))
        local = report.analyse_file(recording)
        a_before = report.analyse_file(before_restart) if before_restart.exists() else None
        a_after = media.probe(a.recording(key_a))
        b_file = report.analyse_file(b.recording(key_b))

    events = session.events
    assert_keys_not_in(session, token, key_a, key_b)
    check_event_shapes(events, set(names))
    assert session.states == ["preparing", "connecting", "live", "stopping", "ended"], \
        f"the session itself must never reconnect: {session.states}"
    a_states = dest_states(events[since_kill:], "rtmp-a")
    assert a_states[0] == "reconnecting" and "live" in a_states and "failed" not in a_states, a_states
    reconnects = onair.of_type(events[since_kill:], "reconnect")
    assert reconnects and {e["destination"] for e in reconnects} == {"rtmp-a"}, reconnects
    for name in ("lk", "rtmp-b"):
        later = dest_states(events[since_kill:], name)
        assert later in ([], ["ended"]), f"{name} noticed the other server's death: {later}"
    assert dropped(events, "lk") == 0, dest_stats(events, "lk")
    assert dropped(events, "rtmp-b") == b_dropped_at_kill, "B lost frames while A was away"
    # B while capped; A may skip ahead too while its server is away (its own
    # queue fills during the outage), never LiveKit.
    behinds = [e for e in onair.of_type(events[:since_kill], "health") if e.get("code") == "destination_behind"]
    assert {e.get("destination") for e in behinds} == {"rtmp-b"}, behinds
    later_behinds = [e for e in onair.of_type(events[since_kill:], "health") if e.get("code") == "destination_behind"]
    assert {e.get("destination") for e in later_behinds} <= {"rtmp-a", "rtmp-b"}, later_behinds
    # The encoder follows the most capable destination: one slow one does not pull it down.
    assert kbps_capped and min(kbps_capped[1:] or kbps_capped) >= 0.6 * kbps_before, (kbps_before, kbps_capped)

    got, sent = decoded_share(numbers)
    assert got >= DECODED_SHARE * sent, f"LiveKit viewer decoded {got} of {sent}; {sub.summary()}"
    assert local.frames.lost == [] and local.frames.unreadable == [], summary_of("recording", local)
    if a_before is not None:
        assert a_before.frames.lost == [], "A lost frames while B was throttled: " + summary_of("A", a_before)
    assert float(a_after["format"]["duration"]) >= 2, "A records again after its restart"
    measurements.record(
        f"B capped at {CAP_KBIT} kbit/s: destination_behind after {behind_s:.1f} s, B dropped {b_dropped} frames "
        f"(its recording: {summary_of('B', b_file)}); encoder kbps {kbps_before:.0f} before, "
        f"{min(kbps_capped):.0f}..{max(kbps_capped):.0f} while B was capped. A killed: reconnecting after "
        f"{noticed_s:.2f} s, live {back_s:.2f} s after its restart. LiveKit viewer {got}/{sent} frames; "
        + summary_of("recording", local)
        + (f"; {summary_of('A before the kill', a_before)}" if a_before else "")
    )


def test_when_every_destination_is_congested_the_encoder_steps_down(k, ffmpeg, tmp_path, measurements):
    """The creator's own uplink is the bottleneck: onair runs in a namespace
    whose one link is capped, both RTMP servers are across it. The shared
    encoder steps down (bitrate events), and the recording still loses nothing."""
    if uplink.missing_tools():
        pytest.fail(f"{', '.join(uplink.missing_tools())} not installed", pytrace=False)
    names = ["up-a", "up-b"]
    with contextlib.ExitStack() as stack:
        link = stack.enter_context(uplink.Uplink())
        server = stack.enter_context(Nginx(tmp_path / "nginx", ip=link.host_ip))
        keys = {name: new_key(name) for name in names}
        for name in names:
            save(k, name, server.url("live"), keys[name])
        recording = k.root / "congested.flv"
        session = stack.enter_context(onair.Session(
            ["live", *names, *BUSY, "--record", str(recording), "--json"],
            env=k.env, wrap=["ip", "netns", "exec", link.netns]))
        session.wait_for_state("live", timeout=30)
        for name in names:
            wait_dest(session, name, "live", timeout=15)
        time.sleep(3)
        since = len(session.events)
        before = wait_stats_after(session, since)["video"]["kbps"]
        link.cap(2 * CAP_KBIT)
        try:
            steps = wait_event(session, lambda e: e.get("type") == "bitrate" and e.get("congested"),
                               timeout=20, what="a congested bitrate step", since=since)
            time.sleep(8)
            kbps_capped = encoder_kbps(session.events, since)
        finally:
            link.uncap()
        time.sleep(2)
        assert session.stop() == 0, session.describe()
        local = report.analyse_file(recording)
    events = session.events
    assert_keys_not_in(session, *keys.values())
    check_event_shapes(events, set(names))
    assert steps["destination"] in names, steps
    down = [e for e in onair.of_type(events[since:], "bitrate") if e["congested"]]
    assert min(kbps_capped[-3:]) < 0.7 * before, f"the encoder stepped down: {before} -> {kbps_capped}"
    assert local.frames.lost == [] and local.frames.unreadable == [], summary_of("recording", local)
    measurements.record(
        f"uplink capped at {2 * CAP_KBIT} kbit/s under two RTMP destinations: first congested step at "
        f"{steps['at_ms']} ms ({steps['kbps']} kbps), congested steps from "
        f"{sorted({e['destination'] for e in down})}; encoder kbps {before:.0f} before, "
        f"{kbps_capped[-1]:.0f} at the end of the cap; {summary_of('recording', local)}"
    )


# --- 3. a refused key on one of three ------------------------------------------------


def test_a_refused_key_fails_that_destination_alone(k, livekit, ffmpeg, tmp_path, measurements):
    names = ["lk", "good", "refused"]
    with Nginx(tmp_path / "nginx") as server, livekit.subscriber(ROOM, audio=False) as sub:
        token = save_livekit(k, livekit)
        good, bad = new_key("good"), new_key("refused")
        save(k, "good", server.url("live"), good)
        save(k, "refused", server.url("secure"), bad)
        run = onair.run(["live", *names, "--duration", "10", "--json"], env=k.env, timeout=60)
        numbers = sub.stamp_numbers()
        wait_closed(server.recording(good))
        recorded = media.probe(server.recording(good))
        asked = (server.dir / "access.log").read_text().count(f"name={bad}")
    events = run.events
    assert_keys_not_in(run, token, good, bad)
    assert run.returncode == 0, run.describe()
    assert run.stray == [], run.stray
    assert run.states == ["preparing", "connecting", "live", "stopping", "ended"], run.describe()
    check_event_shapes(events, set(names))
    failed = [e for e in dest_events(events, "refused") if e["state"] == "failed"]
    assert len(failed) == 1, dest_events(events, "refused")
    error = failed[0].get("error") or {}
    assert error.get("code") == "key_rejected" and error.get("message"), failed[0]
    assert failed[0]["at_ms"] <= 5000, f"key_rejected only after {failed[0]['at_ms']} ms"
    assert "live" not in dest_states(events, "refused"), dest_states(events, "refused")
    assert not [e for e in onair.of_type(events, "reconnect") if e["destination"] == "refused"], \
        "a refused key is not retried"
    assert asked == 1, f"on_publish asked {asked} times: a refused key must not be retried"
    for name in ("lk", "good"):
        states = dest_states(events, name)
        assert "live" in states and states[-1] == "ended" and "failed" not in states, (name, states)
        assert dropped(events, name) == 0, dest_stats(events, name)
    assert len(numbers) >= FPS * 6, f"the LiveKit viewer saw {len(numbers)} frames"
    assert float(recorded["format"]["duration"]) >= 8, recorded["format"]
    measurements.record(f"refused key: destination failed (key_rejected) at {failed[0]['at_ms']} ms; "
                        f"LiveKit viewer {len(numbers)} frames, the good RTMP recorded "
                        f"{float(recorded['format']['duration']):.1f} s")


def test_when_every_destination_fails_the_session_fails_with_the_last_error(k, tmp_path):
    with Nginx(tmp_path / "nginx") as server:
        keys = [new_key("refused1"), new_key("refused2")]
        save(k, "no1", server.url("secure"), keys[0])
        save(k, "no2", server.url("secure"), keys[1])
        run = onair.run(["live", "no1", "no2", "--duration", "10", "--json"], env=k.env, timeout=30)
    assert_keys_not_in(run, *keys)
    assert run.returncode == 1, run.describe()
    assert run.states[-1] == "failed" and "live" not in run.states, run.describe()
    failures = [e for e in dest_events(run.events) if e["state"] == "failed"]
    assert {e["destination"] for e in failures} == {"no1", "no2"}, failures
    assert run.error == failures[-1]["error"], (run.error, failures[-1])
    assert run.error["code"] == "key_rejected", run.error


# --- four at once, one an ad-hoc URL ---------------------------------------------------


def test_four_destinations_at_once_one_of_them_a_url(k, ffmpeg, tmp_path):
    with Nginx(tmp_path / "nginx") as server:
        keys = {name: new_key(name) for name in ("one", "two", "three")}
        for name, key in keys.items():
            save(k, name, server.url("live"), key)
        pasted = secrets.SESSION.register(f"sk_url_{stdlib_secrets.token_hex(8)}", on_command_line=True)
        url = f"{server.url('live')}/{pasted}"
        run = onair.run(["live", *keys, url, "--size", "640x360", "--duration", "6", "--json"],
                        env=k.env, timeout=60)
        for key in (*keys.values(), pasted):
            wait_closed(server.recording(key))
        durations = {key: float(media.probe(server.recording(key))["format"]["duration"])
                     for key in (*keys.values(), pasted)}
    assert_keys_not_in(run, *keys.values(), pasted)
    assert run.returncode == 0, run.describe()
    names = {e["destination"] for e in dest_events(run.events)}
    assert names >= set(keys) and len(names) == 4, names
    (url_name,) = names - set(keys)
    assert pasted not in url_name and url_name.startswith(server.url("live")), url_name
    for name in names:
        assert "live" in dest_states(run.events, name), (name, dest_states(run.events, name))
    assert all(d >= 4 for d in durations.values()), durations
