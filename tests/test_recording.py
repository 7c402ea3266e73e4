"""`onair live file:...` end to end: the CLI's events, the FLV it leaves, and
what the test pattern and tone measure in it (lost or repeated frames, A/V
offset).

The two recordings run once per module, side by side, and every assertion
reads the same files, so the suite takes about as long as the longest one.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from onair_testkit import media, onair, report

STATES = ["preparing", "connecting", "live", "stopping", "ended"]


@dataclass
class Case:
    name: str
    args: list[str]
    width: int
    height: int
    fps: int
    seconds: float
    audio: bool


FULL = Case("full", ["--video", "test", "--audio", "test", "--duration", "10"], 1280, 720, 30, 10.0, True)
SMALL = Case(
    "small",
    ["--video", "test", "--size", "640x360", "--fps", "25", "--audio", "none", "--duration", "4"],
    640,
    360,
    25,
    4.0,
    False,
)
CASES = {c.name: c for c in (FULL, SMALL)}


@dataclass
class Recording:
    case: Case
    path: Path
    run: onair.Run
    report: report.FileReport | None


def _record(case: Case, directory: Path) -> Recording:
    path = directory / f"{case.name}.flv"
    run = onair.run(["live", f"file:{path}", *case.args, "--json"], timeout=case.seconds + 30)
    analysed = report.analyse_file(path) if run.returncode == 0 and path.exists() else None
    return Recording(case, path, run, analysed)


@pytest.fixture(scope="module")
def recordings(onair_bin, ffmpeg, tmp_path_factory, module_measurements) -> dict[str, Recording]:
    directory = tmp_path_factory.mktemp("recordings")
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {name: pool.submit(_record, case, directory) for name, case in CASES.items()}
        done = {name: f.result() for name, f in futures.items()}
    for rec in done.values():
        if rec.report is not None:
            module_measurements.record(f"[{rec.case.name}] " + rec.report.summary())
    return done


@pytest.fixture(params=sorted(CASES), scope="module")
def rec(request, recordings) -> Recording:
    return recordings[request.param]


@pytest.fixture(scope="module")
def full(recordings) -> Recording:
    return recordings["full"]


def analysed(rec: Recording) -> report.FileReport:
    assert rec.report is not None, "no recording to analyse:\n" + rec.run.describe()
    return rec.report


# --- the CLI's side --------------------------------------------------------


def test_exits_zero_with_only_json_on_stdout(rec):
    assert rec.run.returncode == 0, rec.run.describe()
    assert rec.run.stray == [], f"non-JSON lines on stdout with --json: {rec.run.stray}"
    assert rec.path.is_file() and rec.path.stat().st_size > 0


def test_states_come_in_order(rec):
    assert rec.run.states == STATES, rec.run.describe()
    times = [e["at_ms"] for e in rec.run.of_type("state")]
    assert all(isinstance(t, int) and t >= 0 for t in times), times
    assert times == sorted(times), f"state times go backwards: {times}"
    ended = rec.run.of_type("state")[-1]["at_ms"]
    assert rec.case.seconds * 1000 <= ended <= rec.case.seconds * 1000 + 1500, ended


def test_announces_the_recording_path(rec):
    recording = rec.run.of_type("recording")
    assert len(recording) == 1, rec.run.describe()
    assert Path(recording[0]["path"]).resolve() == rec.path.resolve()


def test_stats_lines_are_sane(rec):
    stats = rec.run.of_type("stats")
    assert len(stats) >= int(rec.case.seconds) - 2, rec.run.describe()
    at = [s["at_ms"] for s in stats]
    assert at == sorted(at) and len(set(at)) == len(at), f"stats times: {at}"
    encoded_before = 0
    for s in stats:
        v = s["video"]
        for key in ("fps", "kbps", "encoded", "dropped", "encode_ms"):
            assert isinstance(v.get(key), (int, float)), f"video.{key} in {s}"
        assert 0.8 * rec.case.fps <= v["fps"] <= 1.2 * rec.case.fps, s
        assert 20 <= v["kbps"] <= 50_000, s
        assert v["encoded"] >= encoded_before, f"encoded went backwards: {s}"
        encoded_before = v["encoded"]
        assert v["dropped"] == 0, s
        assert 0 <= v["encode_ms"] < 1000 / rec.case.fps, s
        audio = s.get("audio")
        if rec.case.audio:
            assert isinstance(audio, dict) and 32 <= audio.get("kbps", 0) <= 512, s
        else:
            assert not audio or not audio.get("kbps"), f"audio stats with --audio none: {s}"
    assert encoded_before >= rec.case.fps * (rec.case.seconds - 1.5), stats[-1]


def _queue(s: dict, *where: str) -> dict:
    q = s
    for key in where:
        q = q.get(key) if isinstance(q, dict) else None
    assert isinstance(q, dict), f"{'.'.join(where)} missing in {s}"
    for key in ("now", "peak", "capacity"):
        assert isinstance(q.get(key), int) and q[key] >= 0, f"{'.'.join(where)}.{key} in {s}"
    assert q["now"] <= q["peak"] <= q["capacity"] and q["capacity"] > 0, s
    return q


def test_stats_show_small_queues_in_a_normal_run(rec, measurements):
    """Capture -> encoder and encoder -> sink queues: present, and nearly
    empty when nothing falls behind (a queue that fills means a stage lags)."""
    stats = rec.run.of_type("stats")
    assert stats, rec.run.describe()
    peaks = {"video": [], "audio": [], "sink": []}
    for s in stats:
        video = _queue(s, "video", "capture_queue")
        sink = _queue(s, "sink_queue")
        peaks["video"].append(video["peak"])
        peaks["sink"].append(sink["peak"])
        if rec.case.audio:
            peaks["audio"].append(_queue(s, "audio", "capture_queue")["peak"])
        # A frame or two may wait while the encoder works on another; half
        # the queue would mean encoding cannot keep up.
        assert video["peak"] <= video["capacity"] // 2, s
        # The file sink writes as fast as packets come: a few may bunch up
        # (a keyframe, audio and video at once), never a second's worth.
        assert sink["peak"] <= 16, s
    measurements.record(
        f"[{rec.case.name}] queue peaks per second: video capture {max(peaks['video'])}, "
        f"audio capture {max(peaks['audio'], default='-')}, sink {max(peaks['sink'])}"
    )


# --- the file --------------------------------------------------------------


def test_file_holds_h264_and_aac_lc_at_the_requested_format(rec):
    info = analysed(rec).info
    videos = media.streams_of(info, "video")
    audios = media.streams_of(info, "audio")
    assert len(videos) == 1, info["streams"]
    v = videos[0]
    assert v["codec_name"] == "h264"
    assert (v["width"], v["height"]) == (rec.case.width, rec.case.height)
    assert Fraction(v["r_frame_rate"]) == rec.case.fps, v["r_frame_rate"]
    assert v.get("pix_fmt") == "yuv420p"
    if rec.case.audio:
        assert len(audios) == 1, info["streams"]
        a = audios[0]
        assert a["codec_name"] == "aac" and a.get("profile") == "LC", a
        assert int(a["sample_rate"]) == 48_000
        assert int(a["channels"]) == 2
    else:
        assert audios == [], "--audio none must leave no audio stream"
    duration = float(info["format"]["duration"])
    assert abs(duration - rec.case.seconds) <= 0.2, duration


def test_every_frame_stamped_once_in_order(rec):
    r = analysed(rec)
    frames = r.frames
    expected = rec.case.fps * rec.case.seconds
    assert frames.unreadable == [], f"{len(frames.unreadable)} unreadable stamps, at decoded frames {frames.unreadable[:20]}"
    assert frames.lost == [], f"lost frames {frames.lost[:50]}"
    assert frames.repeated == [], f"repeated frames {frames.repeated[:50]}"
    assert frames.out_of_order == [], f"out of order {frames.out_of_order[:20]}"
    assert frames.consecutive
    assert abs(frames.frames - expected) <= 2, f"{frames.frames} frames, expected about {expected:.0f}"


def test_frame_times_follow_the_capture_clock(rec):
    r = analysed(rec)
    steps = np.diff(r.video.pts)
    period = 1 / rec.case.fps
    # FLV timestamps are whole milliseconds.
    assert np.all(np.abs(steps - period) <= 0.0015), f"frame steps (ms) {np.round(steps * 1000, 1).tolist()}"
    assert r.skew is not None and r.skew <= 0.002, f"pts wander from stamped capture times by {r.skew}"


def test_flashes_fall_on_whole_seconds(rec):
    r = analysed(rec)
    flashes = r.flashes
    assert len(flashes) >= int(rec.case.seconds) - 1, [f.frame for f in flashes]
    for flash in flashes:
        assert flash.frame is not None and flash.frame % rec.case.fps == 0, f"flash on frame {flash.frame}"
    # And every whole-second frame of the recording flashed.
    flashed = {f.frame for f in flashes}
    due = {n for n in r.frames.numbers if n % rec.case.fps == 0}
    assert due == flashed, f"frames due to flash {sorted(due)}, flashed {sorted(flashed)}"


# --- audio and A/V (the full case only) -----------------------------------


def test_audio_is_continuous(full):
    r = analysed(full)
    assert r.audio_gaps == [], f"audio packet gaps (time, seconds): {r.audio_gaps[:20]}"
    assert abs(r.audio.duration - full.case.seconds) <= 0.2, r.audio.duration


def test_beeps_once_a_second(full):
    beeps = np.array(analysed(full).beeps)
    assert len(beeps) >= full.case.seconds - 1, beeps
    assert np.all(np.abs(np.diff(beeps) - 1.0) <= 0.002), f"beep spacing {np.diff(beeps)}"


def test_av_offset_within_one_frame(full):
    r = analysed(full)
    av = r.av
    print(av.summary())  # also in the "Onair measurements" section of the run
    assert len(av.matches) >= full.case.seconds - 1, av.summary()
    # A flash may only miss its beep where the audio cannot hold a whole beep.
    audio_start, audio_end = r.audio.start, r.audio.start + r.audio.duration
    for t in av.lone_flashes:
        assert t < audio_start + 0.001 or t + media.BEEP_SECONDS > audio_end - 0.001, (
            f"flash at {t:.3f} s has no beep: {av.summary()}"
        )
    # And a beep may only miss its flash where there is no picture to flash.
    # The file's clock starts at the AAC encoder's priming, about 43 ms before
    # Go Live, and the first picture is the first one captured after Go Live
    # (up to a frame later): a beep before it is alone.
    frame = 1 / full.case.fps
    video_start, video_end = r.video.pts[0], r.video.pts[-1]
    for t in av.lone_beeps:
        # 2 ms: file timestamps are rounded to the millisecond at both ends.
        assert t < video_start + 0.002 or t > video_end + frame - 0.002, (
            f"beep at {t:.3f} s has no flash: {av.summary()}"
        )
    worst = av.max_abs_offset
    assert worst <= frame + 0.0001, av.summary()


# --- failures ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args,code",
    [
        (["live", "ftp://x", "--duration", "2", "--json"], "invalid_destination"),
        (["live", "file:{tmp}/camera.flv", "--video", "camera", "--duration", "2", "--json"], "device_unavailable"),
    ],
    ids=["invalid_destination", "no_camera"],
)
def test_failures_exit_1_with_a_coded_error(onair_bin, tmp_path, args, code):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    run = onair.run(args, timeout=30)
    assert run.returncode == 1, run.describe()
    assert run.stray == [], run.stray
    assert run.states and run.states[-1] == "failed", run.describe()
    assert "live" not in run.states and "ended" not in run.states, run.states
    error = run.error
    assert error is not None and error.get("code") == code, run.describe()
    assert isinstance(error.get("message"), str) and error["message"].strip(), error
    assert list(tmp_path.iterdir()) == [], "a session that never went live left a file behind"


def test_a_second_go_live_to_the_same_file_never_overwrites_the_first(onair_bin, ffmpeg, tmp_path):
    """Stop and Go Live again within a second: the first recording stays
    whole. A path typed by the creator that is taken is refused before
    anything starts (the desktop's automatic names step aside instead:
    `default_recording_path`'s unit tests)."""
    out = tmp_path / "show.flv"
    first = onair.run(["live", f"file:{out}", "--audio", "none", "--duration", "1", "--json"], timeout=60)
    assert first.returncode == 0, first.describe()
    kept = out.read_bytes()
    second = onair.run(["live", f"file:{out}", "--audio", "none", "--duration", "1", "--json"], timeout=60)
    assert second.returncode == 1, second.describe()
    assert second.states == ["failed"], second.describe()
    assert second.error["code"] == "invalid_destination", second.describe()
    assert "already exists" in second.error["message"] and str(out) in second.error["message"]
    assert out.read_bytes() == kept
    assert float(media.probe(out)["format"]["duration"]) > 0.5
    # --record is held to the same rule.
    again = onair.run(["live", f"file:{tmp_path / 'other.flv'}", "--record", str(out), "--duration", "1", "--json"],
                      timeout=60)
    assert again.returncode == 1 and again.error["code"] == "invalid_destination", again.describe()
    assert out.read_bytes() == kept
    assert not (tmp_path / "other.flv").exists()


def test_a_link_planted_at_the_recording_path_is_not_followed(onair_bin, tmp_path):
    target = tmp_path / "authorized_keys"
    target.write_text("ssh-ed25519 AAAA planted\n")
    link = tmp_path / "show.flv"
    link.symlink_to(target)
    run = onair.run(["live", f"file:{link}", "--audio", "none", "--duration", "1", "--json"], timeout=60)
    assert run.returncode == 1 and run.error["code"] == "invalid_destination", run.describe()
    assert "live" not in run.states
    assert target.read_text() == "ssh-ed25519 AAAA planted\n"
    # Dangling, it still names someone's file.
    target.unlink()
    run = onair.run(["live", f"file:{link}", "--audio", "none", "--duration", "1", "--json"], timeout=60)
    assert run.returncode == 1 and run.error["code"] == "invalid_destination", run.describe()
    assert not target.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["live", "file:{tmp}/x.flv", "--size", "12", "--json"],
        ["live", "file:{tmp}/x.flv", "--fps", "0", "--json"],
        ["live", "file:{tmp}/x.flv", "--audio", "loud", "--json"],
        ["live", "--json"],
    ],
    ids=["size", "fps", "audio", "no_destination"],
)
def test_usage_errors_exit_2(onair_bin, tmp_path, args):
    run = onair.run([a.replace("{tmp}", str(tmp_path)) for a in args], timeout=30)
    assert run.returncode == 2, run.describe()
    assert run.stderr.strip(), "a usage error should explain itself on stderr"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_ends_an_open_ended_session_cleanly_with_all_its_audio(onair_bin, ffmpeg, tmp_path, measurements):
    """No --duration: the creator stops with Ctrl-C. Every second of the
    recording must carry its audio (an open end once dropped every packet)."""
    out = tmp_path / "open.flv"
    with onair.Session(["live", f"file:{out}", "--json"]) as session:
        session.wait_for_state("live", timeout=15)
        time.sleep(3)
        assert session.stop() == 0, session.stderr
    assert session.states == ["preparing", "connecting", "live", "stopping", "ended"]
    duration = float(media.probe(out)["format"]["duration"])
    audio_pts, _ = media.packet_times(out, "a:0")
    video_pts, _ = media.packet_times(out, "v:0")
    expected_audio = duration * 48_000 / 1024
    measurements.record(
        f"Ctrl-C after ~3 s live: {duration:.2f} s, {len(video_pts)} video and "
        f"{len(audio_pts)} audio packets (expected ~{expected_audio:.0f})"
    )
    assert len(video_pts) >= duration * 30 - 2
    assert abs(len(audio_pts) - expected_audio) <= 3
