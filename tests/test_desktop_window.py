"""The desktop app in a real window (Xvfb + WebKitGTK), driven like a creator
would: see the test pattern, press Go Live, see LIVE and the timer, press
Stop, find the recording. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import re
import struct
import subprocess
import time
from pathlib import Path

import pytest

from onair_testkit import media
from onair_testkit.rss import cpu_seconds
from onair_testkit.studio import ARTIFACTS, tally, wait_for_state, wait_until_loaded
from onair_testkit.webdriver import CONTROL, SHIFT, Desktop, desktop_bin



@pytest.fixture(scope="module")
def window(tmp_path_factory):
    app = desktop_bin()
    if not app.is_file():
        pytest.fail(f"no desktop app at {app}; build it with cargo build -p onair-desktop", pytrace=False)
    home = tmp_path_factory.mktemp("desktop-home")
    desktop = Desktop(home)
    wd = desktop.start()
    try:
        wd.start(app)
        wait_until_loaded(wd)
        yield wd, home
    finally:
        try:
            wd.quit()
        finally:
            desktop.stop()


def gray_pixels(png: bytes) -> tuple[int, int, bytes]:
    """A PNG's size (from its header) and its pixels as 8-bit gray, row by row."""
    width, height = struct.unpack(">II", png[16:24])
    gray = subprocess.run(["ffmpeg", "-v", "error", "-f", "png_pipe", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"],
                          input=png, capture_output=True, check=True).stdout
    assert len(gray) == width * height, (len(gray), width, height)
    return width, height, gray


def app_processes(app: Path) -> list[int]:
    """The app and the WebKit processes it started (web content, network)."""
    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    found = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/exe").resolve() == app.resolve():
                found.append(pid)
        except OSError:
            continue
    for pid in pids:
        try:
            if parent(pid) in found and pid not in found:
                found.append(pid)
        except (OSError, ValueError):
            continue
    return found


def test_the_preview_is_smooth_and_cheap(window, measurements):
    """At least 15 frames a second drawn in the window, and what that costs
    in CPU (the app, the web process) while idle: no session running."""
    wd, _ = window
    wd.wait_for("the preview to draw", lambda: int(wd.script("return document.getElementById('preview').dataset.frames || 0")) > 5)
    pids = app_processes(desktop_bin())
    assert pids, "the app's processes"
    frames = lambda: int(wd.script("return document.getElementById('preview').dataset.frames"))  # noqa: E731
    cpu_before, frames_before, started = [cpu_seconds(p) for p in pids], frames(), time.monotonic()
    time.sleep(5)
    elapsed = time.monotonic() - started
    fps = (frames() - frames_before) / elapsed
    shares = [(cpu_seconds(p) - before) / elapsed for p, before in zip(pids, cpu_before)]
    split = ", ".join(f"{Path(f'/proc/{p}/exe').resolve().name} {share * 100:.0f} %" for p, share in zip(pids, shares))
    measurements.record(f"desktop preview: {fps:.1f} frames/s drawn, {sum(shares) * 100:.0f} % of one core ({split}; capture included)")
    assert fps >= 15, f"the preview drew {fps:.1f} frames a second"


def test_go_live_records_locally_and_stop_says_where(window, ffmpeg, measurements):
    wd, home = window
    wd.wait_for("the preview to show frames", lambda: int(wd.script(
        "return document.getElementById('preview').dataset.frames || 0")) > 2)
    # What it shows is the picture: the bottom row of the bars is not black.
    # (Read off the screen: the preview sends no CORS header, so no script
    # may read its pixels, the page's own included.)
    width, height, gray = gray_pixels(wd.element_png("#preview"))
    assert width > 100 and height > 50, (width, height)
    assert max(gray[(height - 3) * width:(height - 2) * width]) > 40, "the bottom row of the bars"
    assert wd.script(
        "return fetch('preview://localhost/frame.jpg').then(() => 'read', () => 'refused')") == "refused"
    assert "TEST PATTERN" in wd.text("#source")
    assert "No camera found" in wd.text("#source")
    assert tally(wd) == "idle" and wd.text("#golive") == "Go Live"
    wd.screenshot(ARTIFACTS / "main-idle.png")

    wd.chord(CONTROL, SHIFT, "l")  # the keyboard shortcut for the one button
    wait_for_state(wd, "live")
    assert wd.text("#tally-label") == "LIVE"
    wd.wait_for("the elapsed timer", lambda: re.fullmatch(r"00:0[3-9]", wd.text("#elapsed")), timeout=15)
    wd.wait_for("stats", lambda: wd.text("#stat-fps") not in ("", "–"))
    assert float(wd.text("#stat-fps")) > 25
    wd.screenshot(ARTIFACTS / "main-live.png")
    # The window redraws four times a second; a redraw that swapped the
    # button's text node between press and release lost the creator's click.
    wd.script("window.heldLabel = document.getElementById('golive').firstChild")
    time.sleep(0.6)
    assert wd.script("return window.heldLabel === document.getElementById('golive').firstChild"), \
        "the redraw leaves an unchanged label alone"

    wd.click("#golive")  # Stop: asks first
    wd.wait_for("the stop confirmation", lambda: wd.visible("#confirm"))
    assert tally(wd) == "live", "nothing stops before the creator confirms"
    wd.click("#confirm-yes")
    wait_for_state(wd, "ended")
    saved = wd.wait_for("the saved notice", lambda: wd.text("#saved"))
    wd.screenshot(ARTIFACTS / "main-ended.png")
    path = Path(saved.removeprefix("Recording saved: "))
    assert path.is_file(), saved
    assert str(path).startswith(str(home)), "records into the user's Videos/Onair folder"

    info = media.probe(path)
    codecs = sorted(s["codec_name"] for s in info["streams"])
    assert codecs == ["aac", "h264"]
    duration = float(info["format"]["duration"])
    assert 2.0 < duration < 15.0
    audio_packets = len(media.packet_times(path, "a:0")[0])
    assert abs(audio_packets - duration * 48_000 / 1024) <= 3, f"{audio_packets} audio packets in {duration:.2f} s"
    measurements.record(f"desktop Go Live -> Stop recording: {duration:.2f} s, {path.name}")

