"""The desktop app in a real window (Xvfb + WebKitGTK), driven like a creator
would: see the test pattern, press Go Live, see LIVE and the timer, press
Stop, find the recording. Screenshots land in tests/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from onair_testkit import media
from onair_testkit.webdriver import Desktop, desktop_bin

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


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
        yield wd, home
    finally:
        try:
            wd.quit()
        finally:
            desktop.stop()


def tally(wd) -> str:
    return wd.script("return document.getElementById('tally').dataset.state")


def wait_for_state(wd, want: str, timeout: float = 20) -> None:
    seen = []
    def reached():
        state = tally(wd)
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == want
    try:
        wd.wait_for(f"the tally to show {want}", reached, timeout)
    except TimeoutError:
        wd.screenshot(ARTIFACTS / f"failed-waiting-for-{want}.png")
        raise AssertionError(f"tally went {' -> '.join(seen)}, never {want}") from None


def test_go_live_records_locally_and_stop_says_where(window, ffmpeg, measurements):
    wd, home = window
    wd.wait_for("the preview to draw", lambda: wd.script(
        "const c = document.getElementById('preview');"
        "const d = c.getContext('2d').getImageData(0, c.height - 2, c.width, 1).data;"
        "return d.some((v, i) => i % 4 !== 3 && v > 40);"))
    assert "TEST PATTERN" in wd.text("#source")
    assert "No camera found" in wd.text("#source")
    assert tally(wd) == "idle" and wd.text("#golive") == "Go Live"
    wd.screenshot(ARTIFACTS / "main-idle.png")

    wd.click("#golive")
    wait_for_state(wd, "live")
    assert wd.text("#tally-label") == "LIVE"
    wd.wait_for("the elapsed timer", lambda: re.fullmatch(r"00:0[2-9]", wd.text("#elapsed")), timeout=15)
    wd.wait_for("stats", lambda: wd.text("#stat-fps") not in ("", "–"))
    assert float(wd.text("#stat-fps")) > 25
    wd.screenshot(ARTIFACTS / "main-live.png")

    wd.click("#golive")  # Stop
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

