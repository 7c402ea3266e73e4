"""The desktop app's screen capture (issue 22): Screen in the picture picker,
the layout buttons beside the preview, a switch while live that reaches the
stream on the next frames, and the layout remembered. In the real window
under Xvfb; the camera in the corner is the test pattern (no camera here),
whose stamp the recording is read for."""

from __future__ import annotations

import json
import time
from pathlib import Path

from onair_testkit import media
from onair_testkit.studio import ARTIFACTS, app_on_keyring, pick_destination, wait_for_state
from test_screen import FPS, PIP_BR, SIDE_RIGHT, luma_frames, read_at


def pressed(wd) -> str:
    return wd.script("return document.querySelector('#layouts button[aria-pressed=\"true\"]')?.dataset.layout ?? ''")


def test_screen_with_the_camera_in_a_corner_and_a_layout_switch_while_live(tmp_path):
    with app_on_keyring(tmp_path / "desktop") as (wd, env, _):
        wd.click("#tab-studio")
        assert not wd.visible("#layouts"), "no layouts for the camera alone"
        wd.choose("#pick-video", "screen")
        wd.wait_for("the layout buttons", lambda: wd.visible("#layouts"))
        wd.wait_for("the screen as the source", lambda: "screen" in wd.text("#source").lower())
        assert pressed(wd) == "pip-br", "the camera starts in the bottom-right corner"
        time.sleep(1)
        wd.screenshot(ARTIFACTS / "studio-screen-pip.png")
        corner = wd.element_png("#preview")

        pick_destination(wd, "")
        wd.wait_for("Go Live to be ready", lambda: wd.script("return !document.getElementById('golive').disabled"))
        wd.click("#golive")
        wait_for_state(wd, "live")
        time.sleep(2)
        wd.click("#layouts button[data-layout='side']")
        wd.wait_for("side by side pressed", lambda: pressed(wd) == "side")
        time.sleep(2)
        assert wd.element_png("#preview") != corner, "the preview shows the new layout"
        wd.screenshot(ARTIFACTS / "studio-screen-side.png")
        wd.click("#golive")
        wd.wait_for("the stop confirmation", lambda: wd.visible("#confirm"))
        wd.click("#confirm-yes")
        wait_for_state(wd, "ended")
        saved = Path(wd.wait_for("the saved notice", lambda: wd.text("#saved")).removeprefix("Recording saved: "))
        settings = json.loads((env.config / "onair" / "settings.json").read_text())
        assert settings["video"] == {"kind": "screen", "monitor": None} and settings["layout"] == "side", settings

    # The stream: the pattern's stamp in the corner, then in the right half,
    # every frame readable in the one place or the other.
    pts = media._frame_times(saved, "v:0")
    places = []
    for luma in luma_frames(saved):
        in_corner, on_the_right = read_at(luma, *PIP_BR[:3]), read_at(luma, *SIDE_RIGHT[:3])
        places.append("corner" if in_corner else "right" if on_the_right else None)
    first_right = places.index("right")
    assert set(places[:first_right][3:]) == {"corner"}, places[:first_right]
    assert set(places[first_right:]) == {"right"}, places[first_right:]
    assert pts[first_right] > 1.5 and len(places) - first_right >= 2 * FPS, (pts[first_right], len(places))
