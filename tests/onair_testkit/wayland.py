"""A real headless Wayland session for the Wayland screen-capture suites:
GNOME's compositor (mutter, headless, one 1920x1080 virtual monitor), PipeWire
and WirePlumber, and xdg-desktop-portal with its GNOME backend, all on a
private session bus in private folders, so ScreenCast goes through the same
portal and the same PipeWire streams as on a creator's GNOME desktop.

A portal normally asks the creator which screen to share. The dialog cannot
be clicked here, so ``grant`` does what choosing once before leaves behind: a
restore token in the permission store. A client that passes that token to
SelectSources starts without a dialog.

``WaylandPainter`` draws the X11 painter's picture (``screen.Painter``: clock
stamp, code stamp, moving marker) as a fullscreen Wayland client, so frames
read the same way whichever screen they came from. ``ScreenCast`` is the
portal client the self-test uses (the Rust capture uses ashpd); ``Capture``
reads frames of a cast's PipeWire node with GStreamer, as a consumer would.

The kit needs no PyGObject in the test venv: the bus is dbus-next and
GStreamer runs as ``gst-launch-1.0``. Only the painter's process borrows
GTK 4 from the system's PyGObject (Debian's python3-gi, built for the same
Python 3.11).

Everything whose environment names the session's runtime folder (its
processes, the services the bus activates, clients started with ``env``)
is ended with it.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

try:  # as a module of the test kit, and as the painter's own script
    from . import process
    from . import stamp as stamp_mod
    from .screen import BACKGROUND, CLOCK_AT, CODE_AT, MARKER_SIZE, MARKER_STEP, MARKER_Y, Painter, stamp_rects
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from onair_testkit import process  # type: ignore
    from onair_testkit import stamp as stamp_mod  # type: ignore
    from onair_testkit.screen import (  # type: ignore
        BACKGROUND, CLOCK_AT, CODE_AT, MARKER_SIZE, MARKER_STEP, MARKER_Y, Painter, stamp_rects)

SIZE = (1920, 1080)
DISPLAY_NAME = "wayland-0"
PORTAL_GNOME = "/usr/libexec/xdg-desktop-portal-gnome"
PORTAL = "/usr/libexec/xdg-desktop-portal"
#: The portals' app id for unsandboxed clients: the permission store keeps
#: their screen-cast grants under the empty app id.
HOST_APP = ""
#: How the GNOME portal names the headless virtual monitor in restore data.
VIRTUAL_MONITOR = "MetaVendor:MetaVirtualMonitor:0x00"
MUTTER_SESSIONS = "/org/gnome/Mutter/ScreenCast/Session"
PORTAL_SESSIONS = "/org/freedesktop/portal/desktop/session"
SETUP_HINT = "scripts/setup installs them"

#: The variables that make it a GNOME Wayland session for every process on
#: the bus (the activated portals included).
_SESSION_VARS = {
    "XDG_CURRENT_DESKTOP": "GNOME",
    "XDG_SESSION_TYPE": "wayland",
    "WAYLAND_DISPLAY": DISPLAY_NAME,
    # No dconf: settings stay in each process and nothing is written to HOME.
    "GSETTINGS_BACKEND": "memory",
    # No accessibility bus to look for (it would be activated and linger).
    "NO_AT_BRIDGE": "1",
    "GTK_A11Y": "none",
}


class WaylandSessionError(RuntimeError):
    pass


def missing_tools() -> list[str]:
    """The programs the session needs that are not installed."""
    needed = ["dbus-daemon", "dbus-update-activation-environment", "pipewire", "wireplumber", "mutter",
              "gst-launch-1.0", PORTAL, PORTAL_GNOME, "/usr/libexec/xdg-permission-store"]
    return [tool for tool in needed if shutil.which(tool) is None]


class WaylandSession:
    """The session's processes, in a temporary folder of their own; see the
    module's docstring. Use it as a context manager."""

    def __init__(self, size: tuple[int, int] = SIZE, root: Optional[Path] = None):
        self.size = size
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="onair-wayland-")) if root is None else Path(root)
        self.runtime_dir = self.root / "runtime"
        self.home = self.root / "home"
        self.logs = self.root / "logs"
        self.bus_address = f"unix:path={self.runtime_dir / 'bus'}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.started_in = 0.0

    # -- environment ------------------------------------------------------

    def _base_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISPLAY", "WAYLAND_", "DBUS_", "XDG_"))}
        env.pop("DISPLAY", None)
        env.update(_SESSION_VARS)
        env.update(
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local/share"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            XDG_STATE_HOME=str(self.home / ".local/state"),
            DBUS_SESSION_BUS_ADDRESS=self.bus_address,
        )
        return env

    def env(self, **extra: str) -> dict:
        """The environment a client (onair) runs in: this session's Wayland
        display, runtime folder and bus, no X display. HOME and the caller's
        XDG_CONFIG_HOME/XDG_STATE_HOME stay, since tests bring their own."""
        env = dict(os.environ)
        for key in ("DISPLAY", "XAUTHORITY"):
            env.pop(key, None)
        env.update(_SESSION_VARS)
        env.update(XDG_RUNTIME_DIR=str(self.runtime_dir), DBUS_SESSION_BUS_ADDRESS=self.bus_address)
        env.update(extra)
        return env

    # -- processes --------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str], env: Optional[dict] = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        try:
            proc = subprocess.Popen(cmd, env=env or self._base_env(), cwd=self.home, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        try:
            return (self.logs / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _fail(self, name: str, what: str) -> None:
        text = self.log(name)[-4000:]
        raise WaylandSessionError(f"{name} {what}; its output:\n{text}")

    def _wait_for(self, name: str, ready, timeout: float = 15.0) -> None:
        """Waits until ``ready()`` is true; raises with ``name``'s output if
        it exits first or the time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                self._fail(name, f"exited with {proc.returncode}")
            if time.monotonic() > deadline:
                self._fail(name, f"was not ready after {timeout:.0f} s")
            time.sleep(0.02)

    def _has_name(self, bus_name: str) -> bool:
        return _run_bus(self.bus_address, _name_has_owner(bus_name))

    def start(self) -> "WaylandSession":
        missing = missing_tools()
        if missing:
            raise WaylandSessionError(f"missing {', '.join(missing)}; {SETUP_HINT}")
        began = time.monotonic()
        try:
            for folder in (self.runtime_dir, self.home, self.logs):
                folder.mkdir(parents=True, exist_ok=True)
            self.runtime_dir.chmod(0o700)
            env = self._base_env()
            self._spawn("dbus-daemon", ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--nosyslog",
                                        f"--address={self.bus_address}"])
            self._wait_for("dbus-daemon", (self.runtime_dir / "bus").exists, 10)
            # Bus-activated services (the permission store, the portals) get
            # the daemon's environment plus these; without them the GNOME
            # portal cannot find the Wayland display.
            keys = [k for k in env if k in _SESSION_VARS or k.startswith("XDG_") or k == "HOME"]
            subprocess.run(["dbus-update-activation-environment", *keys], env=env, check=True,
                           capture_output=True, timeout=10)
            self._spawn("pipewire", ["pipewire"])
            self._wait_for("pipewire", (self.runtime_dir / "pipewire-0").exists)
            self._spawn("wireplumber", ["wireplumber"])
            w, h = self.size
            # No animations (mutter's own plugin reads only this): a window
            # that goes fullscreen would be zoomed in over a quarter of a
            # second, and the first frames of a cast would show that.
            self._spawn("mutter", ["mutter", "--headless", "--virtual-monitor", f"{w}x{h}", "--wayland",
                                   "--no-x11", "--wayland-display", DISPLAY_NAME, "--sm-disable"],
                        env=dict(env, MUTTER_DEBUG_DISABLE_ANIMATIONS="1"))
            self._wait_for("mutter", lambda: self._has_name("org.gnome.Mutter.ScreenCast")
                           and (self.runtime_dir / DISPLAY_NAME).exists())
            self._spawn("xdg-desktop-portal-gnome", [PORTAL_GNOME, "-r"])
            self._wait_for("xdg-desktop-portal-gnome",
                           lambda: self._has_name("org.freedesktop.impl.portal.desktop.gnome"))
            self._spawn("xdg-desktop-portal", [PORTAL, "-r"])
            self._wait_for("xdg-desktop-portal", lambda: self._has_name("org.freedesktop.portal.Desktop"))
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    self._fail(name, f"exited with {proc.returncode}")
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    # -- the permission store -------------------------------------------

    def _store(self, method: str, *args: str) -> str:
        """Calls the permission store with ``gdbus`` (its arguments are
        GVariant text, the form the portals' own docs use)."""
        done = subprocess.run(
            ["gdbus", "call", "--session", "--dest", "org.freedesktop.impl.portal.PermissionStore",
             "--object-path", "/org/freedesktop/impl/portal/PermissionStore",
             "--method", f"org.freedesktop.impl.portal.PermissionStore.{method}", *args],
            env=self._base_env(), capture_output=True, text=True, timeout=10,
        )
        if done.returncode != 0:
            raise WaylandSessionError(f"PermissionStore.{method}: {done.stderr.strip()}")
        return done.stdout.strip()

    def grant(self, token: str) -> None:
        """Stands for "the creator chose this screen once before": stores
        ``token`` in the ``screencast`` table as xdg-desktop-portal does after
        a Start with persist_mode, with the restore data the GNOME portal
        keeps (the virtual monitor, by its match string), for unsandboxed
        apps. A SelectSources with this ``restore_token`` then starts with no
        dialog. The portal takes only UUID strings (``str(uuid.uuid4())``)."""
        uuid.UUID(token)  # the portal takes only UUID strings as tokens
        data = f"<('GNOME', uint32 1, <(int64 0, int64 0, [(uint32 0, uint32 {MONITOR}, <'{VIRTUAL_MONITOR}'>)])>)>"
        self._store("Set", "screencast", "true", token, "{'%s': ['yes']}" % HOST_APP, data)

    def tokens(self) -> list[str]:
        """The restore tokens in the permission store's ``screencast`` table."""
        out = self._store("List", "screencast")  # "(['a', 'b'],)" or "(@as [],)"
        return sorted(ast.literal_eval(out.replace("@as ", ""))[0])

    def lookup(self, token: str) -> str:
        """What the store keeps for ``token`` (GVariant text: the app ids
        with permissions, and the restore data)."""
        return self._store("Lookup", "screencast", token)

    def forget(self, token: str) -> None:
        """Deletes ``token`` from the permission store, as removing the app's
        screen-cast permission does: the next SelectSources with it would
        show the dialog again."""
        self._store("Delete", "screencast", token)

    # -- the creator stops sharing ----------------------------------------

    def cast_sessions(self) -> list[str]:
        """The object paths of mutter's running screen-cast sessions."""
        return _run_bus(self.bus_address, _children("org.gnome.Mutter.ScreenCast", MUTTER_SESSIONS))

    def video_nodes(self) -> list[int]:
        """The ids of PipeWire's video output nodes (mutter's casts), as
        ``pw-dump`` lists them."""
        done = subprocess.run(["pw-dump"], env=self._base_env(), capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise WaylandSessionError(f"pw-dump: {done.stderr.strip()}")
        return sorted(
            item["id"] for item in json.loads(done.stdout)
            if item.get("type") == "PipeWire:Interface:Node"
            and ((item.get("info") or {}).get("props") or {}).get("media.class") == "Stream/Output/Video"
        )

    def revoke(self, timeout: float = 5.0) -> list[str]:
        """Ends every screen cast the way "Stop sharing" does on a GNOME
        desktop, as far as can be done without GNOME Shell; returns the
        portal session handles it closed.

        On GNOME the Shell's stop button closes mutter's screen-cast session
        from inside mutter; mutter removes the stream's PipeWire node and
        emits ``Closed``, and the portal passes that on to the app as
        ``org.freedesktop.portal.Session.Closed``. Here nothing inside
        mutter can be reached: mutter answers ``Stop`` from anyone but the
        session's owner (the GNOME portal backend) with AccessDenied, and
        the only monitor cannot be switched off ("Monitors config
        incomplete"). So this closes the GNOME backend's own session objects
        (``org.freedesktop.impl.portal.Session.Close``), which stops their
        mutter sessions: the stream ends for the consumer exactly as on the
        desktop (mutter's node is removed; a pw_stream goes
        streaming -> paused -> unconnected), the app stays connected, but
        the app gets no ``Session.Closed`` signal (a closed backend session
        does not notify the frontend). Killing the backend does the same
        to the stream but leaves no backend for a next Start. Returns once
        mutter has no cast session left."""
        handles = _run_bus(self.bus_address, _children("org.freedesktop.impl.portal.desktop.gnome",
                                                        PORTAL_SESSIONS, depth=2))
        for handle in handles:
            _run_bus(self.bus_address, _call_close(handle))
        deadline = time.monotonic() + timeout
        while self.cast_sessions():
            if time.monotonic() > deadline:
                raise WaylandSessionError(f"mutter still casts after closing {handles}: {self.cast_sessions()}")
            time.sleep(0.05)
        return handles

    def _ours(self) -> list[int]:
        """Every process whose environment names this session's runtime
        folder: the ones started here and the ones the bus activated."""
        marker = f"XDG_RUNTIME_DIR={self.runtime_dir}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                pass
        return pids

    def stop(self) -> None:
        """Ends every process of the session (clients first, the bus last)
        and removes its folders."""
        for name in reversed(list(self.procs)):
            process.end(self.procs[name])
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._ours()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while pids and time.monotonic() < deadline:
                time.sleep(0.05)
                pids = self._ours()
            if not pids:
                break
        self.procs.clear()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "WaylandSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- D-Bus (dbus-next, one short-lived connection a call) ------------------


def _run_bus(address: str, coro_fn):
    return asyncio.run(_with_bus(address, coro_fn))


async def _with_bus(address: str, coro_fn):
    from dbus_next.aio import MessageBus

    bus = await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()
    try:
        return await coro_fn(bus)
    finally:
        await _disconnect(bus)


async def _disconnect(bus) -> None:
    """Disconnects and collects the end (dbus-next ends its reader with an
    EOFError that would otherwise be logged as never retrieved)."""
    bus.disconnect()
    try:
        await bus.wait_for_disconnect()
    except Exception:
        pass


def _children(bus_name: str, path: str, depth: int = 1):
    """The object paths ``depth`` levels below ``path`` on ``bus_name``."""
    async def call(bus):
        paths = [path]
        for _ in range(depth):
            found = []
            for parent in paths:
                try:
                    node = await bus.introspect(bus_name, parent)
                except Exception:
                    continue
                found += [f"{parent}/{child.name}" for child in node.nodes if child.name]
            paths = found
        return paths
    return call


def _call_close(handle: str):
    async def call(bus):
        from dbus_next import Message, MessageType

        reply = await bus.call(Message(destination="org.freedesktop.impl.portal.desktop.gnome", path=handle,
                                       interface="org.freedesktop.impl.portal.Session", member="Close"))
        if reply.message_type == MessageType.ERROR:
            raise WaylandSessionError(f"closing {handle}: {reply.error_name}: {reply.body}")
    return call


def _name_has_owner(name: str):
    async def call(bus):
        from dbus_next import Message

        reply = await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                                       interface="org.freedesktop.DBus", member="NameHasOwner",
                                       signature="s", body=[name]))
        return bool(reply.body and reply.body[0])
    return call


class _BusThread:
    """A dbus-next connection on an event loop in a thread of its own, so a
    portal session (which lives as long as its connection) can be held
    across synchronous test code."""

    def __init__(self, address: str):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="dbus", daemon=True)
        self.thread.start()
        self.bus = self.run(self._connect(address))

    @staticmethod
    async def _connect(address: str):
        from dbus_next.aio import MessageBus

        return await MessageBus(bus_address=address, negotiate_unix_fd=True).connect()

    def run(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.run(_disconnect(self.bus), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


PORTAL_BUS = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENCAST = "org.freedesktop.portal.ScreenCast"
#: SelectSources' source types and cursor modes (bit flags) and persist modes.
MONITOR = 1
CURSOR_EMBEDDED = 2
PERSIST_UNTIL_REVOKED = 2


class PortalError(RuntimeError):
    pass


class ScreenCast:
    """A ScreenCast portal session from the test's side, as a capturing app
    makes one: CreateSession, SelectSources (a monitor, the cursor drawn in,
    kept until revoked, with ``restore_token``), Start, OpenPipeWireRemote.

    Without a token the portal would show its dialog, which nobody answers;
    ``timeout`` bounds that wait. After ``open``: ``node_id`` (the PipeWire
    node of the monitor), ``fd`` (the PipeWire remote, ours to close),
    ``restore_token`` (the token Start gave, or None), ``start_s`` (how
    long Start took).

    What xdg-desktop-portal 1.16 does with a granted token (see
    tests/test_wayland_testbed.py): with persist_mode 2 Start gives the same
    token back and it stays in the store, usable again (and by two casts at
    once); with persist_mode 0 or 1 it restores once and deletes the token
    from the store (1 gives it back, kept only in the portal's memory)."""

    def __init__(self, session: WaylandSession, restore_token: Optional[str] = None,
                 persist_mode: int = PERSIST_UNTIL_REVOKED, timeout: float = 10.0):
        self.session = session
        self.asked_token = restore_token
        self.persist_mode = persist_mode
        self.timeout = timeout
        self.node_id: Optional[int] = None
        self.streams: list = []
        self.fd: Optional[int] = None
        self.restore_token: Optional[str] = None
        self.session_handle = ""
        self.start_s = 0.0
        #: Set when the portal says the session closed (Session.Closed).
        self.closed_by_portal = False
        self._bus: Optional[_BusThread] = None
        self._requests = 0

    def open(self) -> "ScreenCast":
        if self._bus is not None:
            return self
        self._bus = _BusThread(self.session.bus_address)
        try:
            self._bus.run(self._open(), timeout=self.timeout * 4 + 10)
        except BaseException:
            self.close()
            raise
        return self

    async def _call(self, member: str, signature: str, body: list, interface: str = SCREENCAST,
                    path: str = PORTAL_PATH):
        from dbus_next import Message, MessageType

        reply = await self._bus.bus.call(Message(destination=PORTAL_BUS, path=path, interface=interface,
                                                 member=member, signature=signature, body=body))
        if reply.message_type == MessageType.ERROR:
            raise PortalError(f"{member}: {reply.error_name}: {reply.body}")
        return reply

    async def _request(self, member: str, signature: str, body: list, options: dict) -> dict:
        """Calls a portal method that answers with a Request's Response
        signal; returns its results (raises unless the response is 0)."""
        from dbus_next import Message, Variant

        bus = self._bus.bus
        self._requests += 1
        token = f"onair{self._requests}"
        sender = bus.unique_name.lstrip(":").replace(".", "_")
        path = f"/org/freedesktop/portal/desktop/request/{sender}/{token}"
        answer = asyncio.get_running_loop().create_future()

        def on_message(msg):
            if msg.path == path and msg.member == "Response" and not answer.done():
                answer.set_result(msg.body)

        bus.add_message_handler(on_message)
        rule = f"type='signal',interface='org.freedesktop.portal.Request',member='Response',path='{path}'"
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch", signature="s", body=[rule]))
        try:
            options = dict(options, handle_token=Variant("s", token))
            await self._call(member, signature, body + [options])
            try:
                code, results = await asyncio.wait_for(answer, self.timeout)
            except asyncio.TimeoutError:
                raise PortalError(f"{member}: no response in {self.timeout:.0f} s (a dialog nobody answers?)")
        finally:
            bus.remove_message_handler(on_message)
        if code != 0:
            raise PortalError(f"{member}: response {code} ({'cancelled' if code == 1 else 'failed'})")
        return {key: value.value for key, value in results.items()}

    async def _open(self) -> None:
        from dbus_next import Message, Variant

        bus = self._bus.bus
        created = await self._request("CreateSession", "a{sv}", [],
                                      {"session_handle_token": Variant("s", f"onair{os.getpid()}")})
        self.session_handle = created["session_handle"]

        def on_closed(msg):
            if msg.path == self.session_handle and msg.member == "Closed":
                self.closed_by_portal = True

        bus.add_message_handler(on_closed)
        rule = f"type='signal',interface='org.freedesktop.portal.Session',path='{self.session_handle}'"
        await bus.call(Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                               interface="org.freedesktop.DBus", member="AddMatch", signature="s", body=[rule]))
        cursor_modes = await self._call("Get", "ss", [SCREENCAST, "AvailableCursorModes"],
                                        interface="org.freedesktop.DBus.Properties")
        options = {"types": Variant("u", MONITOR), "multiple": Variant("b", False),
                   "persist_mode": Variant("u", self.persist_mode)}
        if cursor_modes.body[0].value & CURSOR_EMBEDDED:
            options["cursor_mode"] = Variant("u", CURSOR_EMBEDDED)
        if self.asked_token:
            options["restore_token"] = Variant("s", self.asked_token)
        await self._request("SelectSources", "oa{sv}", [self.session_handle], options)
        began = time.monotonic()
        started = await self._request("Start", "osa{sv}", [self.session_handle, ""], {})
        self.start_s = time.monotonic() - began
        self.streams = [(node, {k: v.value for k, v in props.items()}) for node, props in started["streams"]]
        self.node_id = self.streams[0][0]
        self.restore_token = started.get("restore_token")
        reply = await self._call("OpenPipeWireRemote", "oa{sv}", [self.session_handle, {}])
        self.fd = reply.unix_fds[reply.body[0]]

    def close(self) -> None:
        """Closes the portal session (as an app that stops capturing) and
        the connection."""
        if self._bus is not None:
            if self.session_handle and not self.closed_by_portal:
                try:
                    self._bus.run(self._call("Close", "", [], interface="org.freedesktop.portal.Session",
                                             path=self.session_handle), timeout=5)
                except Exception:
                    pass
            self._bus.close()
            self._bus = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "ScreenCast":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


# -- reading a cast --------------------------------------------------------


class Capture:
    """A PipeWire consumer of a cast's node: ``gst-launch-1.0 pipewiresrc``
    on the portal's fd, converted to 8-bit luma (GRAY8) and read from its
    stdout, one ``numpy`` frame (rows x width) at a time. GStreamer logs
    the stream's state changes (``GST_DEBUG=pipewiresrc:5``); ``states()``
    lists them, so a test sees what a consumer sees when the cast ends."""

    def __init__(self, cast: ScreenCast, size: tuple[int, int] = SIZE):
        self.size = size
        self.log_path = cast.session.logs / f"capture-{cast.node_id}-{time.monotonic_ns()}.log"
        w, h = size
        env = cast.session.env(GST_DEBUG="pipewiresrc:5", GST_DEBUG_NO_COLOR="1",
                   GST_DEBUG_FILE=str(self.log_path))
        self.proc = subprocess.Popen(
            ["gst-launch-1.0", "-q", "pipewiresrc", f"fd={cast.fd}", f"path={cast.node_id}", "always-copy=true",
             "!", "videoconvert", "!", f"video/x-raw,format=GRAY8,width={w},height={h}",
             "!", "fdsink", "fd=1", "sync=false"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(cast.fd,), env=env,
        )

    def frames(self, seconds: float, limit: Optional[int] = None) -> list:
        """The frames that arrive within ``seconds`` (at most ``limit``)."""
        import numpy as np

        w, h = self.size
        size = w * h
        out, buf = [], bytearray()
        deadline = time.monotonic() + seconds
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline and (limit is None or len(out) < limit):
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                break
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= size:
                out.append(np.frombuffer(bytes(buf[:size]), dtype=np.uint8).reshape(h, w))
                del buf[:size]
        return out

    def wait_end(self, timeout: float) -> Optional[int]:
        """Reads (and drops) frames until GStreamer exits; its exit code,
        or None if it still runs after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.frames(min(0.2, max(deadline - time.monotonic(), 0)))
        return self.proc.poll()

    def states(self) -> list[str]:
        """The stream states pipewiresrc logged, in order."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return re.findall(r"got stream state (\S+)", text)

    def errors(self) -> str:
        return self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""

    def stop(self) -> None:
        process.end(self.proc)

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# -- the painter -------------------------------------------------------------

#: Where PyGObject lives on Debian: the painter (on the test venv's Python,
#: for numpy and the stamp code) borrows GTK from the system's.
SYSTEM_SITE = "/usr/lib/python3/dist-packages"


class WaylandPainter(Painter):
    """``screen.Painter``'s picture as a fullscreen GTK 4 window on the
    session's monitor, in a process of its own; same commands on stdin
    (``freeze``, ``move``, ``quit``) and the same "ready" line, printed once
    its first frame is drawn. GTK's cairo renderer (no GPU here) draws
    plain rectangles, a new frame on each compositor frame that is due at
    ``fps``. The pointer is hidden over it, so nothing covers the stamps."""

    def __init__(self, session: WaylandSession, code: int, fps: int = 60, timeout: float = 20.0):
        env = session.env(GDK_BACKEND="wayland", GSK_RENDERER="cairo")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "paint", str(code), str(fps)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            line = self.proc.stdout.readline() if sel.select(timeout) else ""
        if not line.startswith("ready"):
            self.proc.kill()
            raise RuntimeError(f"the Wayland painter did not start: {line}{self.proc.communicate()[1]}")


def _paint(code: int, fps: int) -> None:
    """The painter's main loop (its own process, GTK 4 on Wayland)."""
    sys.path.append(SYSTEM_SITE)
    import gi

    gi.require_version("Gtk", "4.0")
    gi.require_version("Gdk", "4.0")
    gi.require_version("Graphene", "1.0")
    from gi.repository import Gdk, GLib, Graphene, Gtk

    def colour(rgb: int) -> Gdk.RGBA:
        c = Gdk.RGBA()
        c.red, c.green, c.blue, c.alpha = ((rgb >> 16) & 255) / 255, ((rgb >> 8) & 255) / 255, (rgb & 255) / 255, 1
        return c

    white, black, grey = colour(0xFFFFFF), colour(0x000000), colour(BACKGROUND)
    code_white, code_black = stamp_rects(stamp_mod.encode(stamp_mod.Stamp(code, code ^ 0x5A5A5A5A)), *CODE_AT)
    interval = 1.0 / fps
    state = {"moving": True, "frame": 0, "late": 0, "next_due": time.monotonic(), "ready": False,
             "quit": False, "drawn": None}

    class Canvas(Gtk.Widget):
        def do_snapshot(self, snap) -> None:
            w, h = self.get_width(), self.get_height()

            def fill(rgba, rects) -> None:
                for x, y, rw, rh in rects:
                    snap.append_color(rgba, Graphene.Rect().init(x, y, rw, rh))

            fill(grey, [(0, 0, w, h)])
            frame = state["frame"]
            if state["drawn"] is None or state["moving"]:
                # A new picture: the clock says when it was drawn.
                now_ms = int(time.time() * 1000) % 2**32
                state["drawn"] = stamp_rects(stamp_mod.encode(stamp_mod.Stamp(frame, now_ms)), *CLOCK_AT)
                state["frame"] = frame + 1
            clock_white, clock_black = state["drawn"]
            fill(white, clock_white + code_white)
            fill(black, clock_black + code_black)
            x = ((state["frame"] - 1) * MARKER_STEP) % (max(w, MARKER_SIZE + 1) - MARKER_SIZE)
            fill(white, [(x, MARKER_Y, MARKER_SIZE, MARKER_SIZE)])

    canvas = Canvas()
    canvas.set_cursor_from_name("none")
    window = Gtk.Window(title="onair wayland painter", decorated=False)
    window.set_child(canvas)

    def on_tick(widget, clock) -> bool:
        if not state["moving"]:
            return GLib.SOURCE_CONTINUE
        now = time.monotonic()
        if now >= state["next_due"]:
            widget.queue_draw()
            state["next_due"] += interval
            if now > state["next_due"]:
                state["late"] += 1
                state["next_due"] = now + interval
        return GLib.SOURCE_CONTINUE

    def after_paint(clock) -> None:
        # The first full-screen frame is on its way to the compositor.
        if not state["ready"] and canvas.get_width() >= 64 and window.is_fullscreen():
            state["ready"] = True
            print("ready", flush=True)

    def on_stdin(fd, condition) -> bool:
        word = sys.stdin.readline().strip()
        if word in ("quit", ""):
            state["quit"] = True
            return GLib.SOURCE_REMOVE
        if word == "freeze":
            state["moving"] = False
        elif word == "move":
            state["moving"], state["next_due"] = True, time.monotonic()
            canvas.queue_draw()
        return GLib.SOURCE_CONTINUE

    GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(), GLib.IOCondition.IN | GLib.IOCondition.HUP,
                          on_stdin)
    canvas.add_tick_callback(on_tick)
    window.fullscreen()
    window.present()
    window.get_frame_clock().connect("after-paint", after_paint)
    context = GLib.MainContext.default()
    while not state["quit"]:
        context.iteration(True)
    print(f"frames {state['frame']} late {state['late']}", flush=True)
    window.destroy()


if __name__ == "__main__":
    if sys.argv[1:2] == ["paint"]:
        _paint(int(sys.argv[2]), int(sys.argv[3]))
