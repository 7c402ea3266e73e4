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
portal client the self-test uses (the Rust capture uses ashpd); ``capture``
reads frames of a cast's PipeWire node with GStreamer.

The kit's Python (the test venv) needs no PyGObject: the bus is dbus-next,
GStreamer runs as ``gst-launch-1.0``, and only the painter runs on the
system's Python (``/usr/bin/python3``, for GTK 4).
"""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Optional

SIZE = (1920, 1080)
DISPLAY_NAME = "wayland-0"
PORTAL_GNOME = "/usr/libexec/xdg-desktop-portal-gnome"
PORTAL = "/usr/libexec/xdg-desktop-portal"
#: The portals' app id for unsandboxed clients: the permission store keeps
#: their screen-cast grants under the empty app id.
HOST_APP = ""
#: How the GNOME portal names the headless virtual monitor in restore data.
VIRTUAL_MONITOR = "MetaVendor:MetaVirtualMonitor:0x00"
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
            self._spawn("mutter", ["mutter", "--headless", "--virtual-monitor", f"{w}x{h}", "--wayland",
                                   "--no-x11", "--wayland-display", DISPLAY_NAME, "--sm-disable"])
            self._wait_for("mutter", lambda: self._has_name("org.gnome.Mutter.ScreenCast")
                           and (self.runtime_dir / DISPLAY_NAME).exists())
            self._spawn("xdg-desktop-portal-gnome", [PORTAL_GNOME, "-r"])
            self._wait_for("xdg-desktop-portal-gnome",
                           lambda: self._has_name("org.freedesktop.impl.portal.desktop.gnome"))
            self._spawn("xdg-desktop-portal", [PORTAL, "-r"])
            self._wait_for("xdg-desktop-portal", lambda: self._has_name("org.freedesktop.portal.Desktop"))
            self._wait_for("wireplumber", lambda: True)
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
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
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
        bus.disconnect()


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
        import threading

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
            self.loop.call_soon_threadsafe(self.bus.disconnect)
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
    ``restore_token`` (the new token Start gave, or None), ``start_s`` (how
    long Start took)."""

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
