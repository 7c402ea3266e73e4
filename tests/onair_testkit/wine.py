"""Wine for the Windows suites (tests/windows): Debian's wine64 in a fresh
prefix (its own registry, credential store and %APPDATA%), no display."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

WINE = shutil.which("wine64") or "/usr/lib/wine/wine64"
WINESERVER = shutil.which("wineserver") or "/usr/lib/wine/wineserver"
#: What Wine 8 lacks and every Windows 10 has (see the file).
STAND_IN = Path(__file__).resolve().parents[1] / "windows" / "bcryptprimitives.c"


def new_prefix(prefix: Path) -> dict:
    """Makes a Wine prefix at ``prefix``; returns the environment to run in it."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    # No Mono or Gecko to offer (nothing here needs .NET or a browser).
    env.update(WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    subprocess.run([WINE, "wineboot", "--init"], env=env, check=True, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["x86_64-w64-mingw32-gcc", "-O2", "-shared", "-Wl,--kill-at", "-o",
                    str(prefix / "drive_c" / "windows" / "system32" / "bcryptprimitives.dll"),
                    str(STAND_IN), "-ladvapi32"], check=True)
    return env


def user_folder(env: dict) -> Path:
    """The Wine user's profile folder (C:\\users\\NAME)."""
    users = Path(env["WINEPREFIX"]) / "drive_c" / "users"
    (home,) = [p for p in users.iterdir() if p.name != "Public"]
    return home


def end_session(env: dict) -> None:
    """Ends every Wine process of the prefix (its wineserver, and the desktop
    process it started without a display), so the next program starts a
    session of its own, with the display it is given."""
    subprocess.run([WINESERVER, "-k"], env=env, check=False, capture_output=True)
    subprocess.run([WINESERVER, "-w"], env=env, check=False, capture_output=True, timeout=60)
