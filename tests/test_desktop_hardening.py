"""The desktop app's defences, in the real window (Xvfb + WebKitGTK through
WebKitWebDriver) on a session bus with an unlocked gnome-keyring:

* the window's capability names exactly the commands it uses, under a CSP
  with no base, form, frame or plugin targets (read from the config; no
  window needed);
* a script in the page is refused what the window never calls, and cannot
  reveal a key without the creator answering the shell's own dialog;
* a keychain that does not answer (an unlock prompt) leaves the window
  drawing and answering: nothing that can block runs on its main thread;
* Stop acts while a session is still starting: against a server that takes
  the TCP connection and never answers, and a platform whose start hook
  never answers, the window is off air again within seconds.
"""

from __future__ import annotations

import json
import os
import re
import secrets as stdlib_secrets
import signal
import socket
import threading
import time
import tomllib
from pathlib import Path

import pytest

from onair_testkit.studio import REVEAL_DIALOG, answer_reveal, app_on_keyring, pick_destination, tally, wait_until_loaded
from onair_testkit.x11 import X11

ROOT = Path(__file__).resolve().parents[1]
STOP_WITHIN = 3.0  # seconds from the click to off air; the engine acts within 1 s


def csp_directives() -> dict[str, list[str]]:
    csp = json.loads((ROOT / "tauri.conf.json").read_text())["app"]["security"]["csp"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in csp.split(";")) if d}


def test_the_csp_gives_no_base_form_frame_or_plugin_targets():
    csp = csp_directives()
    for directive in ("base-uri", "form-action", "frame-src", "object-src"):
        assert csp.get(directive) == ["'none'"], f"{directive}: {csp.get(directive)}"
    assert csp["default-src"] == ["'self'"]
    assert not any("*" in source for sources in csp.values() for source in sources), csp
    # The preview is an <img>, never fetched by script (it sends no CORS header).
    assert not any(s.startswith(("preview:", "http://preview.")) for s in csp["connect-src"]), csp["connect-src"]


def test_the_window_may_call_exactly_the_commands_it_uses():
    """Every command the UI's generated bindings call has an app permission
    of its own, the window's one capability names exactly those plus
    listening to events, and nothing of core:default's (window, webview,
    app, path, menu, tray...) remains."""
    bindings = (ROOT / "ui" / "src" / "bindings.ts").read_text()
    used = set(re.findall(r'__TAURI_INVOKE(?:<[^>]*>)?\("([a-z_]+)"', bindings))
    assert len(used) >= 16, used
    defined = {}
    for path in (ROOT / "src-tauri" / "permissions").glob("*.toml"):
        for permission in tomllib.loads(path.read_text()).get("permission", []):
            defined[permission["identifier"]] = permission["commands"]["allow"]
    assert {f"allow-{c.replace('_', '-')}": [c] for c in used} == defined
    [capability] = json.loads((ROOT / "tauri.conf.json").read_text())["app"]["security"]["capabilities"]
    assert capability["windows"] == ["main"]
    assert sorted(capability["permissions"]) == sorted(["core:event:allow-listen", "core:event:allow-unlisten", *defined])


def test_tauri_is_pinned_to_the_locked_version():
    lock = tomllib.loads((ROOT / "Cargo.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    deps = tomllib.loads((ROOT / "Cargo.toml").read_text())
    for name, table in (("tauri", "dependencies"), ("tauri-build", "build-dependencies")):
        assert deps[table][name]["version"] == locked[name], f"{name} allows older than the lock's {locked[name]}"


# --- in the window -------------------------------------------------------------


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    with app_on_keyring(tmp_path_factory.mktemp("desktop-hardening")) as (wd, env, _):
        x11 = X11((env.home / "display").read_text())
        try:
            yield wd, env, x11
        finally:
            x11.close()


def invoke(wd, command: str, args: dict | None = None) -> str:
    """Calls a command from a script in the page, as injected code would;
    says "allowed" or the refusal."""
    return wd.script(
        "return window.__TAURI_INTERNALS__.invoke(arguments[0], arguments[1])"
        ".then(() => 'allowed', e => 'refused: ' + e)", command, args or {})


def add_destination(wd, name: str, url: str, key: str) -> None:
    wd.click("#tab-destinations")
    wd.choose("#d-kind", "rtmp")
    wd.type("#d-name", name)
    wd.type("#d-url", url)
    wd.type("#d-key", key)
    wd.click("#d-save")
    wd.wait_for(f"{name} in the list", lambda: wd.script(
        "return !!document.querySelector(`#destinations-body tr[data-name='${arguments[0]}']`)", name))


def test_a_script_is_refused_what_the_window_never_calls(desktop):
    wd, _, _ = desktop
    assert invoke(wd, "session_state") == "allowed", "the window's own commands still work"
    for command, args in [
        ("plugin:app|version", {}),
        ("plugin:window|title", {"label": "main"}),
        ("plugin:event|emit", {"event": "app-event", "payload": {"type": "confirm_close"}}),
        ("plugin:global-shortcut|unregister_all", {}),
    ]:
        answer = invoke(wd, command, args)
        assert answer.startswith("refused") and "not allowed" in answer, f"{command}: {answer}"


def test_a_script_cannot_reveal_a_key_without_the_creator(desktop):
    wd, env, x11 = desktop
    key = env.secret("sk_reveal_" + stdlib_secrets.token_urlsafe(16))
    add_destination(wd, "guarded", "rtmp://127.0.0.1:1935/live", key)
    wd.script(
        "window.revealed = 'waiting';"
        "window.__TAURI_INTERNALS__.invoke('reveal_key', {name: 'guarded'})"
        ".then(r => window.revealed = (r === null ? 'no' : 'a key'), e => window.revealed = 'error ' + e)")
    time.sleep(1.5)
    assert wd.script("return window.revealed") == "waiting", "nothing until the creator answers"
    assert x11.windows_named(REVEAL_DIALOG), "the shell asks in a dialog of its own"
    answer_reveal(x11, show=False)
    wd.wait_for("the refusal", lambda: wd.script("return window.revealed") != "waiting", timeout=5)
    assert wd.script("return window.revealed") == "no"
    assert key not in wd.page()


def frames_drawn(wd) -> int:
    return int(wd.script("return document.getElementById('preview').dataset.frames || 0"))


def test_a_keychain_that_does_not_answer_does_not_freeze_the_window(desktop, measurements):
    """An unlock prompt can keep the keychain from answering for minutes: a
    keyring daemon stopped with SIGSTOP is that, for as long as the test
    wants. Meanwhile the window goes on drawing the preview and answering."""
    wd, env, _ = desktop
    key = env.secret("sk_frozen_" + stdlib_secrets.token_urlsafe(16))
    add_destination(wd, "frozen keychain", "rtmp://127.0.0.1:1935/live", key)
    daemon = env._keyring.pid
    os.kill(daemon, signal.SIGSTOP)
    try:
        wd.click("tr[data-name='frozen keychain'] button[data-action='copy']")
        before, started = frames_drawn(wd), time.monotonic()
        time.sleep(3)
        fps = (frames_drawn(wd) - before) / (time.monotonic() - started)
        asked = time.monotonic()
        assert wd.script("return window.__TAURI_INTERNALS__.invoke('session_state')") == "idle"
        answered = time.monotonic() - asked
        copied = text_now(wd, "tr[data-name='frozen keychain'] td.key")
    finally:
        os.kill(daemon, signal.SIGCONT)
    measurements.record(f"desktop with the keychain not answering: preview {fps:.1f} frames/s, a command answered in {answered * 1000:.0f} ms")
    assert "Copied" not in copied, "the copy was waiting for the keychain"
    assert fps >= 10, f"the preview drew {fps:.1f} frames a second while the keychain hung"
    assert answered < 1, f"a command took {answered:.1f} s while the keychain hung"
    wd.wait_for("the copy to finish once the keychain answers",
                lambda: "Copied" in text_now(wd, "tr[data-name='frozen keychain'] td.key"), timeout=30)


def text_now(wd, css: str) -> str:
    return wd.script("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)


class Silent:
    """A TCP server that takes connections and never says a word: an RTMP
    server stuck before its handshake, or a platform that never answers."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


def press_stop_while_starting(wd, name: str, silent: Silent) -> float:
    """Goes live to NAME, waits until the engine is held up by the silent
    server, presses Stop and returns the seconds until the window is off air."""
    wd.click("#tab-studio")
    pick_destination(wd, name)
    wd.wait_for("Go Live to be ready", lambda: wd.script("return !document.getElementById('golive').disabled"))
    wd.click("#golive")
    wd.wait_for("the silent server to be called", lambda: silent.accepted > 0, timeout=15)
    time.sleep(1)
    state = tally(wd)
    assert state in ("preparing", "connecting"), f"still starting, not {state}"
    assert wd.text("#golive") == "Stop", "the one button is Stop while starting"
    assert wd.script("return !document.getElementById('golive').disabled"), "and it can be pressed"
    pressed = time.monotonic()
    wd.click("#golive")
    assert not wd.visible("#confirm"), "nothing is live yet: no question"
    wd.wait_for("off air", lambda: tally(wd) in ("ended", "failed", "idle"), timeout=60)
    took = time.monotonic() - pressed
    assert tally(wd) == "ended", f"Stop ends the session; {took:.1f} s later it {tally(wd)}: {wd.text('#banner')!r}"
    return took


def test_stop_while_connecting_to_a_server_that_never_answers(desktop, measurements):
    wd, env, _ = desktop
    silent = Silent()
    try:
        key = env.secret("sk_stall_" + stdlib_secrets.token_urlsafe(16))
        add_destination(wd, "silent server", f"rtmp://127.0.0.1:{silent.port}/live", key)
        took = press_stop_while_starting(wd, "silent server", silent)
    finally:
        silent.close()
    measurements.record(f"desktop Stop while connecting to a silent RTMP server: off air in {took:.2f} s")
    assert took < STOP_WITHIN, f"Stop took {took:.1f} s"
    assert wd.text("#golive") == "Go Live"


def test_stop_while_the_platform_start_hook_never_answers(desktop, tmp_path, measurements):
    wd, env, _ = desktop
    silent = Silent()
    try:
        bearer = env.secret("plat_stall_" + stdlib_secrets.token_urlsafe(16))
        hooks = {"ingress": {"url": f"http://127.0.0.1:{silent.port}/api/stream/ingress",
                             "headers": {"Authorization": "Bearer {secret}"},
                             "read": {"url": "/serverUrl", "key": "/streamKey"}}}
        (tmp_path / "hooks.json").write_text(json.dumps(hooks))
        run = env.onair("keys", "add", "silent platform", "--url", "rtmp://127.0.0.1:1935/live",
                        "--platform", str(tmp_path / "hooks.json"), stdin=bearer + "\n")
        assert run.returncode == 0, run.describe()
        # The pickers read the store the CLI wrote.
        wd.script("document.body.dataset.ready = 'reloading'; setTimeout(() => location.reload(), 0)")
        wait_until_loaded(wd)
        took = press_stop_while_starting(wd, "silent platform", silent)
    finally:
        silent.close()
    measurements.record(f"desktop Stop while the platform's hook never answers: off air in {took:.2f} s")
    assert took < STOP_WITHIN, f"Stop took {took:.1f} s"
