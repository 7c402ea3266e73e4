"""Encoder overload for real: 2160p120 is more than openh264 encodes in real
time on a small machine. The stream must step down (frame rate first) with a
visible health event, stop losing frames from the capture queue, and leave a
recording that decodes cleanly."""

from __future__ import annotations

import subprocess

from onair_testkit import onair


def test_an_overloaded_encoder_steps_down_visibly_and_the_recording_stays_valid(tmp_path, onair_bin, ffmpeg, measurements):
    out = tmp_path / "overload.flv"
    run = onair.run(
        # Grain, so each frame costs a camera's worth of encoding, at twice
        # the rate a fast machine keeps up with: 2160p60 took 15-18 ms a frame
        # here and on CI, right at the governor's edge, and a test on that
        # edge flakes.
        ["live", f"file:{out}", "--video", "test:busy", "--size", "3840x2160", "--fps", "120", "--duration", "20",
         "--json"],
        timeout=120,
    )
    assert run.returncode == 0, run.describe()
    stats = run.of_type("stats")
    first_ms = stats[0]["video"]["encode_ms"]
    steps = [h for h in run.of_type("health") if h["code"] == "encoder_overload"]
    if not steps:
        # A machine fast enough for 2160p120 has nothing to step down, and
        # then it must really have kept up: the full frame rate, next to no
        # frame lost. (Where a machine near the edge steps is the governor's
        # call, pinned by its unit tests, not this test's.)
        assert stats[-1]["video"]["fps"] >= 115, run.describe()
        assert stats[-1]["video"]["dropped_by"]["capture"] <= 2, run.describe()
        assert not run.of_type("health"), run.describe()
        return
    assert "frame rate" in steps[0]["message"]
    last = stats[-1]["video"]["dropped_by"]
    assert last["overload"] > 0
    # A slower machine needs more rungs (one every two seconds at most), so
    # judge the seconds after the last step against those before the first:
    # the capture queue's losses fall to a small fraction. (Zero on an idle
    # machine; a loaded one at the ladder's last rung still loses a few.)
    first_step = min(i for i, e in enumerate(run.events) if e.get("code") == "encoder_overload")
    last_step = max(i for i, e in enumerate(run.events) if e.get("code") == "encoder_overload")
    before = [e["video"]["dropped_by"]["capture"] for e in run.events[:first_step] if e.get("type") == "stats"]
    after = [e["video"]["dropped_by"]["capture"] for e in run.events[last_step + 1 :] if e.get("type") == "stats"]
    settled = after[1:]  # the first report straddles the step
    # Two whole seconds after the last step at least (a busy CI machine took
    # six steps, the last at 12 s of 16).
    assert len(settled) >= 3, f"still stepping down near the end: {run.describe()}"
    lost_before = before[-1] / len(before)
    lost_after = (settled[-1] - settled[0]) / (len(settled) - 1)
    assert lost_after <= max(1.0, lost_before / 4), (before, settled)
    measurements.record(
        f"overload: encode {first_ms:.1f} ms/frame at 2160p120 -> {steps[0]['message']} "
        f"after {len(steps)} step(s), last: {steps[-1]['message']} "
        f"(capture losses {lost_before:.1f}/s before, {lost_after:.1f}/s after; overload skips {last['overload']})"
    )
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True, text=True)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr
