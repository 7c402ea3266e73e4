"""The desktop conventions, done the way the desktop does them, in the real
window (Xvfb + WebKitGTK through WebKitWebDriver) on a session bus with an
unlocked gnome-keyring:

* the tray: a panel (``TrayHost``, the StatusNotifierWatcher the app
  registers its tray item with) reads the menu's live state and clicks Stop;
* the global shortcut: Ctrl+Shift+L pressed through XTEST while another
  application has the keyboard focus;
* copying a key puts it on the X clipboard, marked for clipboard managers
  to keep out of their history, never in the page; rotating,
  editing and deleting reach the keychain;
* importing OBS's settings from its own folder in the user's config;
* the window manager's close button while live asks first, "Keep streaming"
  keeps it, "Stop and close" ends the stream, finishes the recording and
  quits (the last test: the app is gone afterwards).
"""

from __future__ import annotations

import json
import secrets as stdlib_secrets
import time

import pytest

from onair_testkit import media
from onair_testkit.studio import ARTIFACTS, app_on_keyring, pick_destination, tally, wait_for_state
from onair_testkit.x11 import X11


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    """The app, its X display and the panel its tray item registers with."""
    with app_on_keyring(tmp_path_factory.mktemp("desktop-conventions"), panel=True) as (wd, env, tray):
        x11 = X11((env.home / "display").read_text())
        try:
            yield wd, env, tray, x11
        finally:
            x11.close()


def same(found, key: str) -> bool:
    """Compares without putting the key into an assertion's report."""
    return found == key


def text_now(wd, css: str) -> str:
    """An element's text read in one step: the destinations table is redrawn
    whole after every change, so a row found first and read after may be gone."""
    return wd.script("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)


def go_live_locally(wd) -> None:
    wd.click("#tab-studio")
    pick_destination(wd, "")
    wd.wait_for("Go Live to be ready", lambda: not wd.visible("#confirm")
                and wd.script("return !document.getElementById('golive').disabled"))
    wd.click("#golive")
    wait_for_state(wd, "live")


def add_destination_with_key(wd, name: str, key: str) -> None:
    wd.click("#tab-destinations")
    wd.choose("#d-kind", "rtmp")
    wd.type("#d-name", name)
    wd.type("#d-url", "rtmp://127.0.0.1:1935/live")
    wd.type("#d-key", key)
    wd.click("#d-save")
    wd.wait_for(f"{name} in the list", lambda: wd.script(
        "return !!document.querySelector(`#destinations-body tr[data-name='${arguments[0]}']`)", name))


def test_the_tray_shows_live_and_stops_after_the_window_confirms(desktop):
    wd, _, tray, _ = desktop
    tray.wait_for_item()
    menu = tray.menu()
    assert "Off air" in menu and not menu["Stop streaming…"]["enabled"], menu
    assert menu["Quit Onair"]["enabled"]

    go_live_locally(wd)
    wd.wait_for("the tray to say LIVE", lambda: "LIVE" in tray.menu(), timeout=5)
    assert tray.menu()["Stop streaming…"]["enabled"]

    tray.click("Stop streaming…")
    wd.wait_for("the window's question", lambda: wd.visible("#confirm"))
    assert "End the live stream" in wd.text("#confirm-text")
    assert tally(wd) == "live", "the tray's Stop asks before it ends anything"
    wd.screenshot(ARTIFACTS / "tray-stop-confirm.png")
    wd.click("#confirm-yes")
    wait_for_state(wd, "ended")
    wd.wait_for("the tray to say off air", lambda: "Off air" in tray.menu(), timeout=5)
    assert not tray.menu()["Stop streaming…"]["enabled"]


def test_the_global_shortcut_goes_live_and_stops_from_another_application(desktop):
    wd, _, _, x11 = desktop
    wd.click("#tab-studio")
    pick_destination(wd, "")
    wd.wait_for("Go Live to be ready", lambda: wd.script("return !document.getElementById('golive').disabled"))
    x11.focus_another_application()
    x11.press("Control_L", "Shift_L", "l")
    wait_for_state(wd, "live")

    x11.focus_another_application()
    x11.press("Control_L", "Shift_L", "l")
    wd.wait_for("the stop question", lambda: wd.visible("#confirm"))
    assert tally(wd) == "live", "Stop by shortcut asks first too"
    wd.click("#confirm-yes")
    wait_for_state(wd, "ended")


def test_copy_puts_the_key_on_the_clipboard_and_not_in_the_page(desktop):
    wd, env, _, x11 = desktop
    key = env.secret("sk_copy_" + stdlib_secrets.token_urlsafe(16))
    add_destination_with_key(wd, "copied", key)
    assert not same(x11.clipboard(), key)
    wd.click("tr[data-name='copied'] button[data-action='copy']")
    wd.wait_for("the copied notice", lambda: "Copied" in text_now(wd, "tr[data-name='copied'] td.key"), timeout=5)
    assert same(x11.clipboard(), key), "the clipboard holds the key"
    # Clipboard managers (Klipper, GPaste, CopyQ...) keep no history of a
    # selection that offers this hint.
    assert "x-kde-passwordManagerHint" in x11.clipboard_targets(), "marked as a secret for clipboard managers"
    assert key not in wd.page(), "copying does not show the key"


def test_import_from_obs_reads_obs_own_settings(desktop):
    wd, env, _, _ = desktop
    key = env.secret("obs_desktop_" + stdlib_secrets.token_urlsafe(16))
    profile = env.config / "obs-studio" / "basic" / "profiles" / "Untitled"
    profile.mkdir(parents=True)
    (profile / "service.json").write_text(json.dumps({
        "type": "rtmp_custom",
        "settings": {"server": "rtmp://127.0.0.1:1935/obs", "key": key, "use_auth": False},
    }))
    try:
        wd.click("#tab-destinations")
        wd.type("#obs-dir", "")  # empty: OBS's own folder
        wd.type("#obs-name", "from obs")
        wd.click("#obs-import")
        wd.wait_for("the imported destination", lambda: wd.script(
            "return !!document.querySelector(`tr[data-name='from obs']`)"))
        assert "Imported from OBS" in text_now(wd, "tr[data-name='from obs'] td.key")
        assert same(env.lookup("from obs"), key), "the key went to the keychain"
        assert key not in wd.page()
        config = (env.config / "onair" / "destinations.json").read_text()
        assert key not in config and "rtmp://127.0.0.1:1935/obs" in config
    finally:
        (profile / "service.json").unlink()  # OBS's plaintext copy is the fixture's, not a leak


def test_rotate_edit_and_delete_a_destination(desktop):
    wd, env, _, _ = desktop
    first = env.secret("sk_first_" + stdlib_secrets.token_urlsafe(16))
    second = env.secret("sk_second_" + stdlib_secrets.token_urlsafe(16))
    add_destination_with_key(wd, "kept", first)
    row = "tr[data-name='kept']"

    wd.click(f"{row} button[data-action='rotate']")
    wd.type(f"{row} input.rotate-input", second)
    wd.click(f"{row} form.rotate button")
    wd.wait_for("the replaced notice", lambda: "Key replaced" in text_now(wd, f"{row} td.key"), timeout=5)
    assert same(env.lookup("kept"), second), "the keychain holds the new key"
    assert first not in wd.page() and second not in wd.page()

    wd.click(f"{row} button[data-action='edit']")
    assert wd.script("return document.getElementById('d-url').value") == "rtmp://127.0.0.1:1935/live"
    wd.type("#d-url", "rtmp://127.0.0.1:1935/edited")
    wd.click("#d-save")
    wd.wait_for("the edited URL", lambda: text_now(wd, f"{row} td.url") == "rtmp://127.0.0.1:1935/edited", timeout=5)
    assert same(env.lookup("kept"), second), "editing keeps the key"

    wd.click(f"{row} button[data-action='delete']")
    wd.wait_for("the delete question", lambda: wd.visible("#confirm"))
    assert "kept" in wd.text("#confirm-text")
    wd.click("#confirm-yes")
    wd.wait_for("the row to go", lambda: not wd.script(f"return !!document.querySelector(`{row}`)"), timeout=5)
    assert env.lookup("kept") is None, "the key left the keychain with it"
    assert "kept" not in (env.config / "onair" / "destinations.json").read_text()


def test_closing_the_window_while_live_asks_then_finishes_the_recording(desktop):
    wd, env, _, x11 = desktop
    go_live_locally(wd)
    time.sleep(2)

    x11.ask_to_close("Onair")
    wd.wait_for("the close question", lambda: wd.visible("#confirm"))
    assert "close Onair" in wd.text("#confirm-text")
    wd.screenshot(ARTIFACTS / "close-while-live.png")
    wd.click("#confirm-no")
    wd.wait_for("the question to go", lambda: not wd.visible("#confirm"))
    time.sleep(1)
    assert tally(wd) == "live", "Keep streaming keeps the stream and the window"

    x11.ask_to_close("Onair")
    wd.wait_for("the close question again", lambda: wd.visible("#confirm"))
    wd.click("#confirm-yes")
    deadline = time.monotonic() + 20
    while x11.windows_named("Onair"):
        assert time.monotonic() < deadline, "the app did not quit after Stop and close"
        time.sleep(0.2)
    # In the user's Videos folder, or their home when the desktop names none.
    recordings = sorted(env.home.rglob("Onair/*"), key=lambda p: p.stat().st_mtime)
    assert recordings, "a recording was saved"
    info = media.probe(recordings[-1])
    assert sorted(s["codec_name"] for s in info["streams"]) == ["aac", "h264"]
    assert float(info["format"]["duration"]) > 2.5, "the recording was finished, not cut"
