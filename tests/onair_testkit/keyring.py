"""A private keychain for a test: its own HOME and XDG folders, its own D-Bus
session bus, and a real gnome-keyring Secret Service on it.

The bus is started from a config of our own that lists no service folders,
so nothing on it is started on demand: a test gets exactly the Secret
Service it asked for (unlocked, locked, or none at all), never the
machine's.

    with KeyringEnv(tmp_path) as k:
        k.onair("keys", "add", "main", "--url", "rtmp://h/app", stdin=k.secret("sk_..."))
        assert k.lookup("main") == "sk_..."
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional, Sequence

from . import onair, process, secrets

PASSWORD = "pw"
SECRETS_BUS_NAME = "org.freedesktop.secrets"
LOGIN_COLLECTION = "/org/freedesktop/secrets/collection/login"
TOOLS = ("dbus-daemon", "dbus-send", "gnome-keyring-daemon", "secret-tool")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


class KeyringEnv:
    def __init__(self, root: Path, scan: Optional[secrets.SecretScan] = None):
        self.root = Path(root)
        self.scan = scan or secrets.SESSION
        self.home = self.root / "home"
        self.config = self.root / "config"
        self.data = self.root / "data"
        self.runtime = self.root / "run"
        self.logs = self.root / "logs"
        for d in (self.home, self.config, self.data, self.runtime, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self._bus_pid: Optional[int] = None
        self._keyring: Optional[subprocess.Popen] = None
        self._keyring_log = None
        self.bus_address: Optional[str] = None
        # Config, logs and the keyring's own files are all checked for leaks.
        self.scan.watch_folder(self.root)

    # --- lifecycle -----------------------------------------------------------

    @property
    def state(self) -> Path:
        """Where onair keeps its log (``onair/logs``)."""
        return self.root / "state"

    @property
    def env(self) -> dict:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_DATA_HOME": str(self.data),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "XDG_STATE_HOME": str(self.state),
        }
        if self.bus_address:
            env["DBUS_SESSION_BUS_ADDRESS"] = self.bus_address
        return env

    def start_bus(self) -> None:
        bus_dir = self.root / "bus"
        bus_dir.mkdir(exist_ok=True)
        conf = self.root / "bus.conf"
        conf.write_text(BUS_CONFIG.format(dir=bus_dir))
        out = subprocess.run(
            ["dbus-daemon", f"--config-file={conf}", "--fork", "--print-address=1", "--print-pid=1"],
            capture_output=True, text=True, check=True, env=self.env, timeout=10,
        ).stdout.split()
        self.bus_address, self._bus_pid = out[0], int(out[1])

    def start_keyring(self, unlock: bool = True) -> None:
        """gnome-keyring's Secret Service on our bus; with ``unlock`` it
        creates (or opens) the login keyring with PASSWORD, as a desktop
        login does. Without it the daemon runs with no unlocked keyring."""
        assert self.bus_address, "start_bus first"
        self._keyring_log = open(self.logs / "gnome-keyring.log", "ab")
        args = ["gnome-keyring-daemon", "--foreground", "--components=secrets"]
        if unlock:
            args.append("--unlock")
        self._keyring = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=self._keyring_log, stderr=self._keyring_log, env=self.env,
        )
        if unlock:
            self._keyring.stdin.write(PASSWORD.encode())
        self._keyring.stdin.close()
        deadline = time.monotonic() + 10
        while not self.name_has_owner(SECRETS_BUS_NAME):
            if self._keyring.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gnome-keyring did not come up; see {self.logs / 'gnome-keyring.log'}")
            time.sleep(0.05)
        if unlock:
            # The login collection appears once the password has been read.
            while not self.collection_exists(LOGIN_COLLECTION):
                if time.monotonic() > deadline:
                    raise RuntimeError("gnome-keyring never created the login keyring")
                time.sleep(0.05)

    def stop(self) -> None:
        process.end(self._keyring)
        self._keyring = None
        if self._keyring_log:
            self._keyring_log.close()
            self._keyring_log = None
        if self._bus_pid:
            try:
                os.kill(self._bus_pid, 15)
            except ProcessLookupError:
                pass
            self._bus_pid = None
        self.bus_address = None

    def __enter__(self) -> "KeyringEnv":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- D-Bus and secret-tool probes -----------------------------------------

    def _dbus(self, dest: str, path: str, method: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["dbus-send", "--session", "--print-reply", f"--dest={dest}", path, method, *args],
            capture_output=True, text=True, env=self.env, timeout=10,
        )

    def name_has_owner(self, name: str) -> bool:
        done = self._dbus("org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus.NameHasOwner", f"string:{name}")
        return "boolean true" in done.stdout

    def collection_exists(self, path: str) -> bool:
        done = self._dbus(SECRETS_BUS_NAME, path, "org.freedesktop.DBus.Properties.Get",
                          "string:org.freedesktop.Secret.Collection", "string:Locked")
        return done.returncode == 0

    def lock(self) -> None:
        """Locks the login keyring, as a screen lock or a timeout does."""
        done = self._dbus(SECRETS_BUS_NAME, "/org/freedesktop/secrets",
                          "org.freedesktop.Secret.Service.Lock", f"array:objpath:{LOGIN_COLLECTION}")
        assert done.returncode == 0, done.stderr
        assert self.is_locked(), "the login keyring did not lock"

    def is_locked(self) -> bool:
        done = self._dbus(SECRETS_BUS_NAME, LOGIN_COLLECTION, "org.freedesktop.DBus.Properties.Get",
                          "string:org.freedesktop.Secret.Collection", "string:Locked")
        return "boolean true" in done.stdout

    def _secret_tool(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["secret-tool", *args], capture_output=True, text=True, env=self.env, timeout=10)

    def lookup(self, name: str) -> Optional[str]:
        """The key secret-tool finds for destination NAME, or None."""
        done = self._secret_tool("lookup", "service", "onair", "username", name)
        return done.stdout if done.returncode == 0 and done.stdout else None

    def search(self) -> str:
        """secret-tool's listing of every onair item (secrets included)."""
        done = self._secret_tool("search", "--all", "service", "onair")
        return done.stdout + done.stderr

    def delete_item(self, name: str) -> None:
        """Deletes a key behind onair's back."""
        self._secret_tool("clear", "service", "onair", "username", name)

    # --- running onair -----------------------------------------------------------

    def secret(self, value: str, on_command_line: bool = False) -> str:
        """Registers VALUE with the secret scan and returns it."""
        return self.scan.register(value, on_command_line=on_command_line)

    def onair(self, *args: str, stdin: Optional[str] = None, reveals: Sequence[str] = (),
              env: Optional[dict] = None, timeout: float = 30) -> onair.Run:
        return onair.run(list(args), timeout=timeout, stdin=stdin, env=env or self.env, reveals=reveals)

    @property
    def destinations_file(self) -> Path:
        return self.config / "onair" / "destinations.json"
