"""The headless CLI must run where there is no desktop: it links neither GTK
nor WebKit (only the desktop app does)."""

from __future__ import annotations

import subprocess


def test_onair_cli_links_no_gtk_or_webkit(onair_bin):
    libs = subprocess.run(["ldd", str(onair_bin)], capture_output=True, text=True, check=True).stdout
    linked = [line.split()[0] for line in libs.splitlines() if line.strip()]
    offenders = [lib for lib in linked if any(word in lib for word in ("gtk", "webkit", "gdk", "soup"))]
    assert not offenders, f"onair links desktop libraries: {offenders}"


def test_the_desktop_app_is_the_one_that_links_webkit(onair_bin):
    app = onair_bin.with_name("onair-desktop")
    libs = subprocess.run(["ldd", str(app)], capture_output=True, text=True, check=True).stdout
    assert "webkit2gtk" in libs
