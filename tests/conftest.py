"""Shared fixtures for Onair's end-to-end suites.

Measurements a test records with the ``measurements`` fixture are printed in
a section of their own at the end of the run, even with ``-q``, so they land
in CI logs.
"""

from __future__ import annotations

import os
import secrets as stdlib_secrets
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onair_testkit import janus as janus_kit  # noqa: E402
from onair_testkit import livekit as livekit_kit  # noqa: E402
from onair_testkit import onair, secrets  # noqa: E402
from onair_testkit.nginx import Nginx  # noqa: E402
from onair_testkit.platform_backend import PlatformBackend  # noqa: E402
from onair_testkit.pulse import PulseServer, available  # noqa: E402
from onair_testkit import wayland as wayland_kit  # noqa: E402

_MEASUREMENTS: list[tuple[str, str]] = []

# tests/windows drives onair.exe under Wine: `make windows-test` runs it with
# ONAIR_BIN pointing at the .exe; the Linux suites leave it out.
collect_ignore = [] if os.environ.get("ONAIR_BIN", "").endswith(".exe") else ["windows"]


@pytest.fixture(scope="session")
def onair_bin() -> Path:
    """The onair binary under test; a missing one fails the test loudly."""
    try:
        return onair.onair_bin()
    except onair.OnairNotFound as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(params=["openh264", "x264"])
def encoder(request, onair_bin, monkeypatch) -> str:
    """Each H.264 encoder a build can have: openh264 (every build: the
    binary under test) and x264 (the opt-in GPL build, ``$ONAIR_X264_BIN``,
    which scripts/test builds). The test runs ``onair`` as that build."""
    if request.param == "x264":
        x264 = os.environ.get("ONAIR_X264_BIN")
        if not x264:
            pytest.skip("no x264 build: set ONAIR_X264_BIN (scripts/test builds one)")
        monkeypatch.setenv("ONAIR_BIN", x264)
    version = onair.run(["--version"], timeout=10).stdout
    assert f"H.264: {request.param}" in version, version
    return request.param


@pytest.fixture
def pulse(tmp_path):
    """A private PulseAudio server whose default source hears its null sink."""
    missing = available()
    if missing:
        pytest.fail(f"missing {missing}; scripts/setup installs them", pytrace=False)
    server = PulseServer(tmp_path / "pulse").start()
    yield server
    server.stop()


@pytest.fixture
def janus(tmp_path):
    """A WHIP server (Janus + simple-whip-server) in network namespaces of
    its own; run the publisher with ``janus.wrap(cmd)``, publish to
    ``janus.url`` with ``janus.token``. See onair_testkit/janus.py."""
    missing = janus_kit.missing_tools()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}; {janus_kit.SETUP_HINT}", pytrace=False)
    with janus_kit.JanusWhip(tmp_path / "janus") as server:
        yield server


@pytest.fixture
def wayland_session(tmp_path, measurements):
    """A headless GNOME Wayland session (mutter at 1920x1080, PipeWire,
    xdg-desktop-portal-gnome) on a private bus; ``grant`` a restore token
    and a ScreenCast with it starts without a dialog. See
    onair_testkit/wayland.py. Processes that do not start fail the test
    with their output; all of them end with the test."""
    missing = wayland_kit.missing_tools()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}; {wayland_kit.SETUP_HINT}", pytrace=False)
    with wayland_kit.WaylandSession(root=tmp_path / "wayland") as session:
        measurements.record(f"Wayland session started in {session.started_in:.2f} s")
        yield session


@pytest.fixture(scope="session")
def ffmpeg() -> None:
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not installed; the suites decode media with them", pytrace=False)


@pytest.fixture
def livekit(tmp_path):
    """A real livekit-server (dev mode, 127.0.0.1, free ports) for one test;
    see onair_testkit.livekit. A test may kill() and start() it again."""
    try:
        livekit_kit.server_bin()
    except livekit_kit.LiveKitMissing as e:
        pytest.fail(str(e), pytrace=False)
    server = livekit_kit.LiveKitServer(tmp_path / "livekit").start()
    yield server
    server.stop()


@pytest.fixture
def platform(livekit):
    """The creator's platform backend (see onair_testkit.platform_backend), minting
    tokens for the ``livekit`` server. Its bearer (``platform.bearer``) and
    every token and stream key it hands out are registered secrets."""
    bearer = secrets.SESSION.register("plat_" + stdlib_secrets.token_urlsafe(24))
    with PlatformBackend(bearer, livekit, on_secret=secrets.SESSION.register) as backend:
        yield backend


@pytest.fixture
def platform_nginx(platform, tmp_path):
    """A real nginx-rtmp whose application ``platform`` asks ``platform``
    about every publish; ``platform.rtmp_url`` is set to it, so the ingress
    contract hands out ``rtmp://127.0.0.1:PORT/platform``."""
    if shutil.which("nginx") is None:
        pytest.fail("nginx is not installed; scripts/setup installs it", pytrace=False)
    with Nginx(tmp_path / "platform-nginx", notify_url=platform.url) as nginx:
        platform.rtmp_url = nginx.url("platform")
        yield nginx
    platform.rtmp_url = None


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory):
    """Every onair run of the session logs into one private state folder
    (not the real home), which the secret scan reads at the end."""
    folder = tmp_path_factory.mktemp("state")
    os.environ["XDG_STATE_HOME"] = str(folder)
    secrets.SESSION.watch_folder(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def secret_scan():
    """After the last test: no registered secret may appear in any onair
    output, process-list snapshot or watched folder (see onair_testkit.secrets).
    A leak fails the session as an error in this fixture's teardown."""
    yield secrets.SESSION
    leaks = secrets.SESSION.leaks()
    if leaks:
        pytest.fail("secret scan found leaks:\n  " + "\n  ".join(leaks), pytrace=False)


class Measurements:
    def __init__(self, nodeid: str):
        self._nodeid = nodeid

    def record(self, text: str) -> None:
        print(text)
        _MEASUREMENTS.append((self._nodeid, text))


@pytest.fixture
def measurements(request) -> Measurements:
    return Measurements(request.node.nodeid)


@pytest.fixture(scope="module")
def module_measurements(request) -> Measurements:
    return Measurements(request.module.__name__)


def pytest_terminal_summary(terminalreporter):
    if not _MEASUREMENTS:
        return
    terminalreporter.section("Onair measurements")
    for where, text in _MEASUREMENTS:
        terminalreporter.write_line(f"[{where}]")
        for line in text.splitlines():
            terminalreporter.write_line(f"  {line}")
