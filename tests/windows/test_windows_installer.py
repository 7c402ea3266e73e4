"""The Windows installer (scripts/windows/build, NSIS) under Wine: a silent
install for the current user puts the desktop app, onair.exe and the
uninstaller in %LOCALAPPDATA%\\Programs\\Onair, a Start menu entry and an
entry in Settings > Apps; the installed onair.exe runs; the installed app
opens its window and stops where Wine stops (WebView2, Edge's engine in
every Windows 10 and 11, does not exist under Wine: it says so in a
message box); the uninstaller takes all of it away again and leaves the
creator's keys and destinations where they are."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from onair_testkit import secrets
from onair_testkit.screen import VirtualScreen
from onair_testkit.wine import WINE, end_session, user_folder
from onair_testkit.x11 import X11

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

UNINSTALL_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\Onair"


def wine_run(wine: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([WINE, *args], env=wine, input=stdin, capture_output=True, text=True, timeout=120)


def test_install_run_and_uninstall(wine):
    setup = os.environ.get("ONAIR_WINDOWS_INSTALLER")
    if not setup:
        pytest.fail("ONAIR_WINDOWS_INSTALLER is not set; run these through scripts/windows/test", pytrace=False)
    assert wine_run(wine, setup, "/S").returncode == 0
    home = user_folder(wine)
    installed = home / "AppData" / "Local" / "Programs" / "Onair"
    assert sorted(p.name for p in installed.iterdir()) == ["WebView2Loader.dll", "onair-desktop.exe", "onair.exe", "uninstall.exe"]
    menu = home / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Onair.lnk"
    assert menu.is_file(), f"no Start menu entry at {menu}"
    listed = wine_run(wine, "reg", "query", UNINSTALL_KEY).stdout
    assert "DisplayName" in listed and "Onair" in listed and "UninstallString" in listed, listed

    version = wine_run(wine, str(installed / "onair.exe"), "--version")
    assert version.returncode == 0 and version.stdout.startswith("onair "), version
    key = secrets.SESSION.register("sk_installed_0123456789")
    added = wine_run(wine, str(installed / "onair.exe"), "keys", "add", "kept", "--url",
                     "rtmp://127.0.0.1/live", stdin=key + "\n")
    assert added.returncode == 0, added.stderr
    assert key not in added.stdout + added.stderr

    app_window_opens_until_webview2(wine, installed / "onair-desktop.exe")

    # _?= runs the uninstaller in place, so the call waits for it.
    gone = wine_run(wine, str(installed / "uninstall.exe"), "/S", f"_?={wine_path(installed)}")
    assert gone.returncode == 0, gone
    left = sorted(p.name for p in installed.iterdir()) if installed.exists() else []
    # An uninstaller run in place cannot delete itself; everything else goes.
    assert left in ([], ["uninstall.exe"]), left
    assert not menu.exists()
    assert "Onair" not in wine_run(wine, "reg", "query", UNINSTALL_KEY).stdout
    # The creator's keys and destinations stay (as with the .deb).
    store = wine_run(wine, "reg", "query", r"HKCU\Software\Wine\Credential Manager", "/s").stdout
    assert "kept.onair" in store
    assert (home / "AppData" / "Roaming" / "onair" / "destinations.json").is_file()


def wine_path(path: Path) -> str:
    """A Unix path as Wine's Z: drive names it."""
    return "Z:" + str(path).replace("/", "\\")


def app_window_opens_until_webview2(wine: dict, app: Path) -> None:
    """The app under Xvfb: its window "Onair" appears, and the WebView2
    loader's message box ("Error": Could not find the WebView2 Runtime)."""
    end_session(wine)  # the session so far has no display
    with VirtualScreen(size=(1280, 800)) as screen:
        proc = subprocess.Popen([WINE, str(app)], env=dict(wine, DISPLAY=screen.display),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        x = X11(screen.display)
        try:
            deadline = time.monotonic() + 30
            while not (x.windows_named("Onair") and x.windows_named("Error")):
                assert proc.poll() is None, (
                    f"the app exited ({proc.returncode}) before its window showed: {proc.stderr.read()[-2000:]}"
                )
                assert time.monotonic() < deadline, "no Onair window and WebView2 message within 30 s"
                time.sleep(0.5)
            ARTIFACTS.mkdir(exist_ok=True)
            subprocess.run(["import", "-display", screen.display, "-window", "root",
                            str(ARTIFACTS / "windows-app-under-wine.png")], check=False)
        finally:
            x.close()
            proc.kill()
            end_session(wine)
