"""Faults on a live session (issue 10): the real ``onair`` publishes from its
own network namespace (onair_testkit.uplink) to a real LiveKit server, seen
by LiveKit's own client, and to a real nginx-rtmp, seen by ffmpeg playing
the stream. Each fault is applied to the running session, held, cleared;
then the session must be live again with fresh frames reaching the viewer
(or failed with a clear error, never stuck), and onair's memory must stay
bounded. Recovery times land in the measurements summary.

The faults: 2, 5 and 10 % random loss (UDP media for WebRTC, the TCP
connection for RTMP), 200 ms more delay, both at once (5 %), a cap under
the stream's bitrate, the link down for 5 s; and the server killed and
restarted 20 times in a row, with RSS flat after the first five. WHIP to Janus gets loss and the link down.
A link that never comes back (down, or a blackhole where packets vanish
without an error) must end failed with a clear error.
ONAIR_FAULT_SECONDS (default 5) is how long each fault is held,
ONAIR_FAULT_RESTARTS (default 20) the kills; ``make faults`` runs longer,
and the blackhole (ONAIR_FAULTS_FULL=1).
"""

from __future__ import annotations

import contextlib
import os
import secrets as stdlib_secrets
import time
from dataclasses import dataclass
from typing import Callable, Optional, Union

import pytest

from onair_testkit import janus as janus_kit
from onair_testkit import livekit as livekit_kit
from onair_testkit import media, onair, recovery, secrets, uplink
from onair_testkit.nginx import Nginx
from onair_testkit.rss import RssSampler
from onair_testkit.rtmp_viewer import RtmpViewer, ViewedFrame

HOLD_S = float(os.environ.get("ONAIR_FAULT_SECONDS", "5"))
RESTARTS = int(os.environ.get("ONAIR_FAULT_RESTARTS", "20"))
#: The variants too slow for CI (scripts/faults sets it).
FULL = os.environ.get("ONAIR_FAULTS_FULL") == "1"
ROOM = "faults"
WIDTH = 640
#: The grain makes the encoder spend the bitrate, so a cap under it bites.
STREAM = ["--json", "--video", "test:busy", "--size", f"{WIDTH}x360", "--bitrate", "1200"]
CAP_KBIT = 600
#: After a fault is cleared, fresh frames must reach the viewer within this.
RECOVERY_LIMIT_S = 15
#: RSS may grow this much above its warm-up level over all the faults
#: (seen: about 1 MiB).
RSS_GROWTH_LIMIT_MIB = 16
#: Server restarts: after the first few (pools and caches filling), RSS
#: stays within this of where it was, however many follow. Issue 20: LiveKit
#: crept about 0.2 MiB a rejoin, peer connections outliving their session (a
#: pending live notice held a closed one for 5 s; one dropped without close
#: kept its driver task forever). Seen since: within 0.5 MiB over 50
#: restarts for LiveKit, 0.1 for RTMP.
RESTART_RSS_WARM_CYCLES = 5
RESTART_RSS_GROWTH_LIMIT_MIB = 1.0

Viewer = Union[livekit_kit.Subscriber, RtmpViewer]


@dataclass
class Bed:
    kind: str
    link: uplink.Uplink
    session: onair.Session
    viewer: Viewer
    rss: RssSampler
    warm_rss_mib: float = 0.0

    @property
    def media_protocol(self) -> str:
        return "udp" if self.kind == "livekit" else "tcp"


def last_state(session: onair.Session, since: int = 0) -> str:
    found = [e["state"] for e in session.events[since:] if e.get("type") == "state"]
    return found[-1] if found else ""


def wait_fresh_frames(viewer: Viewer, since_unix_s: float, count: int, timeout: float) -> None:
    deadline, mark = time.monotonic() + timeout, viewer.mark()
    while len(recovery.fresh(viewer.frames(mark), since_unix_s)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} frames captured after the mark reached the viewer in {timeout} s")
        time.sleep(0.05)


def settle(bed: Bed, cleared: float, since_frame: int, timeout: float) -> str:
    """Waits until the session is live with fresh frames at the viewer
    ("live"), or has failed or ended ("failed"); "stuck" after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = last_state(bed.session)
        if state in ("failed", "ended"):
            return "failed"
        if state == "live" and len(recovery.fresh(bed.viewer.frames(since_frame), cleared)) >= 15:
            return "live"
        time.sleep(0.05)
    return "stuck"


def settled_state(session: onair.Session, timeout: float) -> str:
    """The session's state once it is live or failed again ("stuck" if neither comes)."""
    deadline = time.monotonic() + timeout
    while (state := last_state(session)) not in ("live", "failed", "ended"):
        if time.monotonic() > deadline:
            return "stuck"
        time.sleep(0.05)
    return state


def dropped_by(events: list[dict]) -> dict:
    """onair's count of dropped video frames by cause, as of the last stats event."""
    stats = [e for e in events if e.get("type") == "stats"]
    return dict(stats[-1]["video"].get("dropped_by", {})) if stats else {}


def state_after(session: onair.Session, since: int, wanted: set[str], timeout: float) -> str:
    """The first state in ``wanted`` announced after event ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in session.events[since:]:
            if e.get("type") == "state" and e["state"] in wanted:
                return e["state"]
        if session.proc.poll() is not None:
            break
        time.sleep(0.02)
    raise AssertionError(f"no {sorted(wanted)} within {timeout} s:\n{session.describe()}")


@contextlib.contextmanager
def open_bed(kind: str, directory, *extra: str):
    """onair in its own namespace publishing to a ``kind`` server, a viewer
    watching, RSS sampled; yields the Bed once fresh frames flow."""
    missing = uplink.missing_tools()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (scripts/setup installs them)", pytrace=False)
    with contextlib.ExitStack() as stack:
        link = stack.enter_context(uplink.Uplink())
        if kind == "livekit":
            server = stack.enter_context(livekit_kit.LiveKitServer(directory / "livekit", ip=link.host_ip))
            token = secrets.SESSION.register(server.token("onair", ROOM, can_subscribe=False))
            viewer = server.subscriber(ROOM, audio=False)  # started already
            stack.callback(viewer.close)
            session = stack.enter_context(onair.Session(
                ["live", server.url, "--key-stdin", *STREAM, *extra], stdin=token + "\n", wrap=link.netns_prefix))
            session.wait_for_state("live", timeout=30)
        else:
            nginx = stack.enter_context(Nginx(directory / "nginx", ip=link.host_ip))
            # A throwaway key the viewer must name on its command line, like any RTMP player.
            key = f"sk_faults_{stdlib_secrets.token_hex(6)}"
            session = stack.enter_context(onair.Session(
                ["live", nginx.url("live"), "--key-stdin", *STREAM, *extra], stdin=key + "\n", wrap=link.netns_prefix))
            session.wait_for_state("live", timeout=30)
            # A player that waits out a stalled stream rather than starting again:
            # it sees when onair's frames come back, not when a new play got a keyframe.
            viewer = stack.enter_context(RtmpViewer(f"{nginx.url('live')}/{key}", WIDTH, stall_s=20))
        rss = RssSampler(session.proc.pid).start()
        stack.callback(rss.stop)
        the_bed = Bed(kind, link, session, viewer, rss)
        wait_fresh_frames(viewer, time.time(), 30, timeout=30)
        time.sleep(3)  # warm-up: encoders, queues and the congestion controller at their working size
        the_bed.warm_rss_mib = rss.now_mib()
        yield the_bed


@pytest.fixture(scope="module", params=["livekit", "rtmp"])
def bed(request, tmp_path_factory):
    with open_bed(request.param, tmp_path_factory.mktemp(f"faults-{request.param}")) as the_bed:
        yield the_bed
        the_bed.session.stop()
        assert the_bed.session.returncode == 0, the_bed.session.describe()


@dataclass(frozen=True)
class Fault:
    name: str
    apply: Callable[[Bed], None]
    clear: Callable[[Bed], None]
    hold_s: float = HOLD_S
    #: The longest freeze the viewer may see while the fault lasts (None: any).
    max_freeze_s: Optional[float] = None
    #: Proof that the fault bit, read just before it is cleared.
    evidence: Callable[[Bed], str] = lambda bed: ""


def _loss(percent: float) -> Fault:
    return Fault(f"loss {percent:g} %", lambda b: b.link.loss(percent, b.media_protocol), lambda b: b.link.no_loss(),
                 max_freeze_s=2.0, evidence=lambda b: f"{b.link.dropped_packets()} packets dropped")


FAULTS = [
    _loss(2),
    _loss(5),
    _loss(10),
    Fault("delay 200 ms", lambda b: b.link.delay(200), lambda b: b.link.no_delay(), max_freeze_s=2.0,
          evidence=lambda b: f"{b.link.wire_stats()['up']['passed']} packets delayed"),
    Fault("loss 5 % at 200 ms", lambda b: (b.link.delay(200), b.link.loss(5, b.media_protocol)),
          lambda b: (b.link.no_loss(), b.link.no_delay()), max_freeze_s=2.0,
          evidence=lambda b: f"{b.link.dropped_packets()} packets dropped"),
    Fault(f"cap {CAP_KBIT} kbit/s", lambda b: b.link.cap(CAP_KBIT), lambda b: b.link.uncap()),
    Fault("link down 5 s", lambda b: b.link.down(), lambda b: b.link.up(), hold_s=5),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name.replace(" ", "-") for f in FAULTS])
def test_a_fault_ends_live_again(bed: Bed, fault: Fault, measurements):
    try:
        wait_fresh_frames(bed.viewer, time.time(), 10, timeout=RECOVERY_LIMIT_S)
    except TimeoutError as e:
        raise AssertionError(f"not flowing before the fault: {e}\n{bed.session.describe()}") from None
    since_event, since_frame = len(bed.session.events), bed.viewer.mark()
    dropped_before = dropped_by(bed.session.events)
    started, started_mono = time.time(), time.monotonic()
    fault.apply(bed)
    try:
        time.sleep(fault.hold_s)
        evidence = fault.evidence(bed)
    finally:
        cleared = time.time()
        fault.clear(bed)
    outcome = settle(bed, cleared, since_frame, RECOVERY_LIMIT_S)
    back_s = recovery.recovery_s(bed.viewer.frames(since_frame), cleared)
    during = [f for f in bed.viewer.frames(since_frame) if f.received < cleared]
    freeze_s = recovery.longest_gap_s(during, started, cleared)
    events = bed.session.events[since_event:]
    states = [e["state"] for e in events if e.get("type") == "state"]
    reconnects = [e for e in events if e.get("type") == "reconnect"]
    steps = [e["kbps"] for e in events if e.get("type") == "bitrate"]
    error = onair.failure(events)
    dropped = {cause: n - dropped_before.get(cause, 0) for cause, n in dropped_by(events).items()}
    measurements.record(
        f"{bed.kind}, {fault.name} for {fault.hold_s:g} s{f' ({evidence})' if evidence else ''}: {outcome}"
        f"{f' {error}' if error else ''}; fresh frames {'-' if back_s is None else f'{back_s:.2f} s'} after "
        f"it cleared; during it {len(during)} frames decoded (~{fault.hold_s * 30:.0f} sent), longest freeze "
        f"{freeze_s:.2f} s; onair dropped {dropped or '-'}; states {states or '(none)'}, "
        f"{len(reconnects)} reconnect(s), bitrate steps {steps}; "
        f"RSS {bed.warm_rss_mib:.0f} MiB warm, peak {bed.rss.peak_mib(started_mono):.0f} MiB"
        + (f"; the RTMP viewer has played {bed.viewer.plays} time(s)" if isinstance(bed.viewer, RtmpViewer) else "")
    )
    assert outcome == "live", f"{fault.name}: {outcome}\n{bed.session.describe()}"
    assert back_s is not None and back_s < RECOVERY_LIMIT_S, back_s
    if fault.max_freeze_s is not None:
        assert freeze_s <= fault.max_freeze_s, f"{fault.name}: the viewer saw a {freeze_s:.2f} s freeze"


def test_memory_stays_bounded_through_the_faults(bed: Bed, measurements):
    time.sleep(2)
    peak, end = bed.rss.peak_mib(), bed.rss.now_mib()
    measurements.record(
        f"{bed.kind}: onair RSS {bed.warm_rss_mib:.1f} MiB after warm-up, peak {peak:.1f} MiB over all "
        f"faults, {end:.1f} MiB at the end ({len(bed.rss.samples)} samples)"
    )
    assert peak - bed.warm_rss_mib < RSS_GROWTH_LIMIT_MIB, (bed.warm_rss_mib, peak)


@pytest.mark.parametrize("how", ["down", pytest.param("blackhole", marks=pytest.mark.skipif(
    not FULL, reason="slow (LiveKit takes over 2 min to give up); make faults runs it"))])
@pytest.mark.parametrize("kind", ["livekit", "rtmp"])
def test_a_link_that_never_comes_back_fails_with_a_clear_error(kind, how, tmp_path, measurements):
    """Down: the interface is gone (sends fail at once). Blackhole: every
    packet vanishes without an error (connects must time out)."""
    with open_bed(kind, tmp_path, "--reconnect-attempts", "3") as bed:
        lost = time.monotonic()
        if how == "down":
            bed.link.down()
        else:
            bed.link.loss(100, "all")
        outcome = state_after(bed.session, 0, {"failed"}, timeout=60 if how == "down" else 300)
        failed_s = time.monotonic() - lost
        bed.session.wait(timeout=15)
    error = onair.failure(bed.session.events)
    reconnects = onair.of_type(bed.session.events, "reconnect")
    measurements.record(
        f"{kind}, link {how} for good: {outcome} after {failed_s:.1f} s with {error}; states {bed.session.states}; "
        "attempts: " + "; ".join(f"#{e['attempt']} at {e['at_ms'] / 1000:.1f} s ({e['reason']})" for e in reconnects))
    assert bed.session.returncode == 1, bed.session.describe()
    assert error and error.get("code") == "unreachable" and error.get("message"), error


# --- the server killed and restarted, again and again --------------------------


@pytest.mark.parametrize("kind", ["livekit", "rtmp"])
def test_the_server_killed_and_restarted_many_times_in_a_row(kind, tmp_path, measurements):
    with contextlib.ExitStack() as stack:
        if kind == "livekit":
            server = stack.enter_context(livekit_kit.LiveKitServer(tmp_path / "livekit"))
            secret = secrets.SESSION.register(server.token("onair", ROOM, can_subscribe=False))
            url, kill, start = server.url, server.kill, server.start
        else:
            server = stack.enter_context(Nginx(tmp_path / "nginx"))
            secret = f"sk_restarts_{stdlib_secrets.token_hex(6)}"
            url, kill, start = server.url("live"), server.kill, server.start
        session = stack.enter_context(onair.Session(["live", url, "--key-stdin", *STREAM], stdin=secret + "\n"))
        session.wait_for_state("live", timeout=30)
        rss = RssSampler(session.proc.pid).start()
        stack.callback(rss.stop)
        time.sleep(2)
        first_rss = rss.now_mib()
        noticed, back, rss_after = [], [], []
        for cycle in range(RESTARTS):
            since = len(session.events)
            killed = time.monotonic()
            kill()
            state_after(session, since, {"reconnecting", "failed"}, timeout=10)
            noticed.append(time.monotonic() - killed)
            start()
            restarted = time.monotonic()
            outcome = state_after(session, since, {"live", "failed"}, timeout=30)
            assert outcome == "live", f"cycle {cycle + 1}: {outcome}\n{session.describe()}"
            back.append(time.monotonic() - restarted)
            rss_after.append(rss.now_mib())
        # The last restart must carry real frames to a real viewer.
        settled = time.time()
        if kind == "livekit":
            viewer = server.subscriber(ROOM, audio=False)
            stack.callback(viewer.close)
        else:
            viewer = stack.enter_context(RtmpViewer(f"{url}/{secret}", WIDTH))
        wait_fresh_frames(viewer, settled, 30, timeout=20)
        assert session.stop() == 0, session.describe()
    states = session.states
    attempts = [e["attempt"] for e in session.events if e.get("type") == "reconnect"]
    measurements.record(
        f"{kind} killed and restarted {RESTARTS}x: reconnecting {min(noticed):.2f}..{max(noticed):.2f} s "
        f"after each kill; live again {min(back):.2f}..{max(back):.2f} s after each restart "
        f"(median {sorted(back)[len(back) // 2]:.2f} s); {len(attempts)} reconnect attempts, at most "
        f"#{max(attempts)} in a row; RSS {first_rss:.1f} MiB before, then after cycles "
        + ", ".join(f"{i + 1}: {rss_after[i]:.1f}" for i in sorted({0, *(len(rss_after) * q // 4 - 1 for q in (1, 2, 3, 4))}))
        + f" MiB, peak {rss.peak_mib():.1f}"
    )
    assert states.count("live") == RESTARTS + 1 and "failed" not in states, states
    if RESTARTS > RESTART_RSS_WARM_CYCLES:
        warm = rss_after[RESTART_RSS_WARM_CYCLES - 1]
        assert max(rss_after[RESTART_RSS_WARM_CYCLES:]) - warm < RESTART_RSS_GROWTH_LIMIT_MIB, rss_after


# --- WHIP to Janus: the cheap part of the matrix ------------------------------


def recorded_video_bytes(janus: janus_kit.JanusWhip) -> int:
    return sum(r.video_mjr.stat().st_size for r in janus.recordings() if r.video_mjr is not None)


def wait_recording_grows(janus: janus_kit.JanusWhip, by: int, timeout: float) -> float:
    """Seconds until Janus has recorded ``by`` more bytes of video."""
    started, start_bytes = time.monotonic(), recorded_video_bytes(janus)
    while recorded_video_bytes(janus) < start_bytes + by:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"Janus recorded under {by} more bytes of video in {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_whip_rides_through_loss_and_comes_back_after_the_link_was_down(janus, ffmpeg, measurements):
    link = uplink.Uplink.of(janus.publisher_netns, janus_kit.PUBLISHER_IF)
    faults = [("loss 5 %", lambda: link.loss(5), link.no_loss, HOLD_S), ("link down 5 s", link.down, link.up, 5)]
    with onair.Session(["live", janus.url, "--key-stdin", *STREAM], stdin=janus.token + "\n",
                       wrap=janus.netns_prefix) as session:
        session.wait_for_state("live", timeout=30)
        janus.wait_for_recording(0, timeout=15)
        rss = RssSampler(session.proc.pid).start()
        try:
            time.sleep(3)
            warm = rss.now_mib()
            results = []
            for name, apply, clear, hold in faults:
                since = len(session.events)
                apply()
                try:
                    time.sleep(hold)
                finally:
                    cleared = time.time()
                    clear()
                # About a keyframe's worth of new video: media flows again.
                back_s = wait_recording_grows(janus, 20_000, RECOVERY_LIMIT_S)
                outcome = settled_state(session, RECOVERY_LIMIT_S)
                states = [e["state"] for e in session.events[since:] if e.get("type") == "state"]
                results.append((name, hold, outcome, back_s, states))
                assert outcome == "live", f"{name}: {outcome}\n{session.describe()}"
            peak = rss.peak_mib()
        finally:
            rss.stop()
        time.sleep(2)
        assert session.stop() == 0, session.describe() + janus.describe()
    janus.wait_recordings_idle()
    stamps = media.decode_video(janus.recordings()[-1].convert().video).stamps
    after = [s for s in stamps if s is not None and recovery.captured_after(s.time_ms, cleared)]
    measurements.record(
        "whip: " + "; ".join(
            f"{name} for {hold:g} s: {outcome}, video recorded again {back_s:.2f} s after it cleared, states "
            f"{states or '(none)'}" for name, hold, outcome, back_s, states in results)
        + f"; {len(after)} frames captured after the link came back are in Janus's last recording; "
        f"RSS {warm:.0f} MiB warm, peak {peak:.0f} MiB"
    )
    assert len(after) >= 30, f"only {len(after)} frames captured after the link came back were recorded"
    assert peak - warm < RSS_GROWTH_LIMIT_MIB, (warm, peak)


# --- the recovery arithmetic, without sockets ----------------------------------


def stamp_ms(unix_s: float) -> int:
    """A capture time as the stamp carries it."""
    return int(unix_s * 1000) % 2**32


def test_recovery_is_timed_by_the_first_frame_captured_after_the_fault():
    cleared = 1_700_000_000.0
    ms = stamp_ms
    frames = [
        ViewedFrame(cleared - 0.5, 1, ms(cleared - 0.6)),
        ViewedFrame(cleared + 0.4, 2, ms(cleared - 5.0)),  # stale: waited in a queue
        ViewedFrame(cleared + 0.7, 3, None),  # unreadable stamp
        ViewedFrame(cleared + 1.2, 4, ms(cleared + 0.9)),
    ]
    assert recovery.recovery_s(frames, cleared) == pytest.approx(1.2)
    assert [f.frame for f in recovery.fresh(frames, cleared)] == [4]
    assert recovery.recovery_s(frames[:3], cleared) is None
    assert recovery.longest_gap_s(frames, cleared - 1, cleared + 1) == pytest.approx(0.9)
    # The stamp's clock wraps every 49.7 days; "after" must survive it.
    assert recovery.captured_after(5, 2**32 / 1000 - 0.010)
