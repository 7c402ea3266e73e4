"""The Studio's Voice switch in the real window (Xvfb + WebKitGTK): it sits
beside the microphone picker, shows the setting in force (off for the test
tone), and what is picked is saved in settings.json and shown again."""

from __future__ import annotations

import json

import pytest

from onair_testkit.studio import ARTIFACTS, wait_until_loaded
from onair_testkit.webdriver import Desktop, desktop_bin


def checked(wd) -> str:
    return wd.script("return document.querySelector('#pick-voice input:checked')?.value ?? ''")


def test_the_voice_switch_is_saved_and_shown_again(tmp_path):
    app = desktop_bin()
    if not app.is_file():
        pytest.fail(f"no desktop app at {app}; build it with cargo build -p onair-desktop", pytrace=False)
    home = tmp_path / "home"
    home.mkdir()
    desktop = Desktop(home)
    wd = desktop.start()
    try:
        wd.start(app)
        wait_until_loaded(wd)
        settings_file = home / ".config" / "onair" / "settings.json"
        # The test tone is the default source: the chain is off for it.
        wd.wait_for("the voice switch", lambda: checked(wd) == "off")
        assert wd.script(
            "return document.getElementById('pick-voice').parentElement === document.getElementById('pick-audio').closest('.pickers')"
        ), "the switch sits beside the microphone picker"
        wd.click('#pick-voice label:nth-of-type(2)')  # Light
        wd.wait_for(
            "voice saved",
            lambda: settings_file.exists() and json.loads(settings_file.read_text()).get("voice") == "light",
        )
        assert checked(wd) == "light"
        wd.script("document.getElementById('pick-voice').scrollIntoView()")
        wd.screenshot(ARTIFACTS / "studio-voice.png")
        wd.script("location.reload()")
        wait_until_loaded(wd)
        wd.wait_for("the saved voice shown again", lambda: checked(wd) == "light")
        assert not wd.visible("#banner"), wd.text("#banner")
    finally:
        try:
            wd.quit()
        finally:
            desktop.stop()
