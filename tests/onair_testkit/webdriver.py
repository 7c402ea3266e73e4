"""A small W3C WebDriver client (plain HTTP + JSON) and the desktop harness:
Xvfb, a private session bus and WebKitWebDriver driving the real Onair window.

tauri-driver is only a proxy in front of WebKitWebDriver that sets
TAURI_WEBVIEW_AUTOMATION and rewrites one capability; its proxy (2.1.0) reset
connections now and then here, losing clicks. So the harness does those two
things itself and talks to WebKitWebDriver directly."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CONTROL = "\ue009"
SHIFT = "\ue008"


class WebDriverError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.session: Optional[str] = None

    def _call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.code} {e.read().decode(errors='replace')}") from None

    def start(self, application: Path) -> None:
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {"binary": str(application), "args": []}}}}
        self.session = self._call("POST", "/session", caps, timeout=120)["sessionId"]

    def quit(self) -> None:
        if self.session:
            try:
                self._call("DELETE", f"/session/{self.session}", timeout=20)
            except (OSError, WebDriverError):
                pass  # the app closing can drop the connection before the reply
            finally:
                self.session = None

    def find(self, css: str) -> str:
        query = {"using": "css selector", "value": css}
        return self._call("POST", f"/session/{self.session}/element", query)[ELEMENT]

    def click(self, css: str) -> None:
        self._call("POST", f"/session/{self.session}/element/{self.find(css)}/click", {})

    def type(self, css: str, text: str) -> None:
        """Clears a field and types TEXT into it, key by key as a person would."""
        element = self.find(css)
        self._call("POST", f"/session/{self.session}/element/{element}/clear", {})
        if text:
            self._call("POST", f"/session/{self.session}/element/{element}/value", {"text": text})

    def choose(self, css: str, value: str) -> None:
        """Picks VALUE in a <select> and tells the page, as a click on the option would."""
        found = self.script(
            "const s = document.querySelector(arguments[0]);"
            "if (![...s.options].some(o => o.value === arguments[1])) return false;"
            "s.value = arguments[1]; s.dispatchEvent(new Event('change', {bubbles: true})); return true;",
            css, value)
        if not found:
            raise WebDriverError(f"{css} has no option {value!r}")

    def chord(self, *keys: str) -> None:
        """Presses KEYS together, then releases them: real key events, as
        from a keyboard (e.g. CONTROL, SHIFT, "l")."""
        down = [{"type": "keyDown", "value": k} for k in keys]
        up = [{"type": "keyUp", "value": k} for k in reversed(keys)]
        body = {"actions": [{"type": "key", "id": "keyboard", "actions": down + up}]}
        self._call("POST", f"/session/{self.session}/actions", body)

    def page(self) -> str:
        """The whole DOM as HTML, with every field's current value written in
        (so a key typed into an input counts as rendered)."""
        return self.script(
            "const values = [...document.querySelectorAll('input')].map(i => i.value).join('\\n');"
            "return document.documentElement.outerHTML + '\\n' + values;")

    def visible(self, css: str) -> bool:
        return self.script("const e = document.querySelector(arguments[0]); return !!e && !e.closest('[hidden]');", css)

    def text(self, css: str) -> str:
        return self._call("GET", f"/session/{self.session}/element/{self.find(css)}/text")

    def script(self, source: str, *args: Any) -> Any:
        body = {"script": source, "args": list(args)}
        return self._call("POST", f"/session/{self.session}/execute/sync", body)

    def element_png(self, css: str) -> bytes:
        """What the element looks like on screen, as PNG bytes."""
        return base64.b64decode(self._call("GET", f"/session/{self.session}/element/{self.find(css)}/screenshot"))

    def screenshot(self, path: Path) -> Path:
        png = base64.b64decode(self._call("GET", f"/session/{self.session}/screenshot"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return path

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(0.1)
        raise TimeoutError(f"waited {timeout}s for {what}; last saw {last!r}")


class Desktop:
    """Xvfb + dbus-run-session + WebKitWebDriver, torn down in reverse order.
    With ``env`` (e.g. a KeyringEnv's, naming its session bus and XDG
    folders) the app runs on that bus instead of a private one."""

    def __init__(self, home: Path, env: Optional[dict] = None):
        self.home = home
        self.extra_env = dict(env or {})
        self.procs: list[subprocess.Popen] = []

    def start(self) -> WebDriver:
        for tool in ("Xvfb", "dbus-run-session", "WebKitWebDriver"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (the project's setup installs it)")
        display = self._start_xvfb()
        runtime = self.home / "run"
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        # NO_AT_BRIDGE: the accessibility bus stalls WebKitGTK under a bare session bus.
        env = dict(
            os.environ,
            DISPLAY=display,
            HOME=str(self.home),
            XDG_RUNTIME_DIR=str(runtime),
            NO_AT_BRIDGE="1",
            TAURI_WEBVIEW_AUTOMATION="true",  # lets WebKitWebDriver drive the app's webview
        )
        env.update(self.extra_env)
        port = free_port()
        self.log = open(self.home / "webdriver.log", "wb")
        bus = [] if "DBUS_SESSION_BUS_ADDRESS" in self.extra_env else ["dbus-run-session", "--"]
        driver = subprocess.Popen(
            [*bus, "WebKitWebDriver", f"--port={port}", "--host=127.0.0.1"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs.append(driver)
        wd = WebDriver(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 20
        while True:
            try:
                wd._call("GET", "/status", timeout=2)
                break
            except (OSError, WebDriverError):
                if time.monotonic() > deadline or driver.poll() is not None:
                    raise RuntimeError(f"WebKitWebDriver did not start; see {self.home / 'webdriver.log'}")
                time.sleep(0.2)
        return wd

    def _start_xvfb(self) -> str:
        """A private X display; returns once it accepts clients."""
        number = next(n for n in range(100, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists())
        display = f":{number}"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"], stderr=subprocess.DEVNULL)
        self.procs.append(xvfb)
        deadline = time.monotonic() + 15
        while subprocess.run(["xdpyinfo", "-display", display], capture_output=True).returncode != 0:
            if time.monotonic() > deadline or xvfb.poll() is not None:
                raise RuntimeError(f"Xvfb {display} did not start")
            time.sleep(0.1)
        (self.home / "display").write_text(display)
        return display

    def stop(self) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, 15) if proc.args[0] in ("dbus-run-session", "WebKitWebDriver") else proc.terminate()
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                proc.kill()
        self.procs.clear()


def desktop_bin() -> Path:
    if os.environ.get("ONAIR_DESKTOP_BIN"):
        return Path(os.environ["ONAIR_DESKTOP_BIN"])
    from .onair import onair_bin

    return onair_bin().with_name("onair-desktop")
