"""Encoder overload for real: 2160p60 is more than openh264 encodes in real
time on a small machine. The stream must step down (frame rate first) with a
visible health event, stop losing frames from the capture queue, and leave a
recording that decodes cleanly."""

from __future__ import annotations

import subprocess

from onair_testkit import onair


def test_an_overloaded_encoder_steps_down_visibly_and_the_recording_stays_valid(tmp_path, onair_bin, ffmpeg, measurements):
    out = tmp_path / "overload.flv"
    run = onair.run(
        ["live", f"file:{out}", "--size", "3840x2160", "--fps", "60", "--duration", "10", "--json"],
        timeout=90,
    )
    assert run.returncode == 0, run.describe()
    stats = run.of_type("stats")
    first_ms = stats[0]["video"]["encode_ms"]
    if first_ms < 1000 / 60:
        # A machine fast enough for 2160p60 has nothing to step down.
        assert not run.of_type("health"), run.describe()
        return
    steps = [h for h in run.of_type("health") if h["code"] == "encoder_overload"]
    assert steps, run.describe()
    assert "frame rate" in steps[0]["message"]
    last = stats[-1]["video"]["dropped_by"]
    assert last["overload"] > 0
    # After the step the capture queue (nearly) stops overflowing: over the
    # last three seconds it loses at most a frame now and then, not ~30 a second.
    settled = [s["video"]["dropped_by"]["capture"] for s in stats[-4:]]
    assert settled[-1] - settled[0] <= 3, settled
    measurements.record(
        f"overload: encode {first_ms:.1f} ms/frame at 2160p60 -> {steps[0]['message']} "
        f"(capture drops {last['capture']}, overload skips {last['overload']})"
    )
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "null", "-"], capture_output=True, text=True)
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr
