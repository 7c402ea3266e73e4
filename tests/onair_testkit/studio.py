"""The desktop app's studio screen, read through WebDriver: starting it on
a keychain, its tally and where failure screenshots go. Shared by the
desktop suites."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from . import keyring
from .tray import TrayHost
from .webdriver import Desktop, WebDriver, desktop_bin

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# The shell's own dialog before a key is revealed (src-tauri/src/reveal.rs).
REVEAL_DIALOG = "Onair: reveal a stream key"


def answer_reveal(x11, show: bool) -> None:
    """Answers the shell's reveal question as the creator would, at the
    keyboard: Alt+S for "Show key", Escape for no. A page script cannot."""
    x11.press_in(REVEAL_DIALOG, *(("Alt_L", "s") if show else ("Escape",)))


def wait_until_loaded(wd) -> None:
    """Waits until every view has wired its controls and loaded (the window
    marks its body ready)."""
    wd.wait_for("the window to load", lambda: wd.script("return document.body.dataset.ready === 'true'"))


def pick_destinations(wd, names: list[str], record: bool = False) -> None:
    """Ticks exactly NAMES (once the studio lists them: the list is refilled
    after the Destinations view saves) and Local recording when ``record``,
    clicking each box that must change, as the creator would."""
    boxes = "#pick-destination-list input[type=checkbox]"
    wd.wait_for(f"{names} in the destination list", lambda: wd.script(
        f"const listed = [...document.querySelectorAll('{boxes}')].map(b => b.value);"
        "return arguments[0].every(n => listed.includes(n))", names))
    listed = wd.script(f"return [...document.querySelectorAll('{boxes}')].map(b => [b.value, b.checked])")
    for index, (name, checked) in enumerate(listed):
        if checked != (name in names):
            wd.click(f"#pick-destination-list label:nth-child({index + 1}) input")
    if wd.script("return document.getElementById('pick-record').checked") != record:
        wd.click("#pick-record")


def pick_destination(wd, name: str) -> None:
    """Ticks NAME alone; an empty name ticks Local recording alone."""
    pick_destinations(wd, [name] if name else [], record=not name)


def tally(wd) -> str:
    return wd.script("return document.getElementById('tally').dataset.state")


def wait_for_state(wd, want: str, timeout: float = 20) -> None:
    """Waits for the tally to show `want`; on timeout, says every state it
    went through and the banner, and keeps a screenshot."""
    seen: list[str] = []

    def reached():
        state = tally(wd)
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == want

    try:
        wd.wait_for(f"the tally to show {want}", reached, timeout)
    except TimeoutError:
        wd.screenshot(ARTIFACTS / f"failed-waiting-for-{want}.png")
        raise AssertionError(f"tally went {' -> '.join(seen)}, never {want}; banner: {wd.text('#banner')!r}") from None


@contextlib.contextmanager
def app_on_keyring(root: Path, panel: bool = False) -> Iterator[tuple[WebDriver, keyring.KeyringEnv, Optional[TrayHost]]]:
    """The app in a window on a private session bus with an unlocked
    gnome-keyring, loaded. With ``panel``, a tray host (what a desktop panel
    is to a tray icon) is on the bus before the app starts."""
    missing = keyring.missing_tools()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}; scripts/setup installs them", pytrace=False)
    binary = desktop_bin()
    if not binary.is_file():
        pytest.fail(f"no desktop app at {binary}; build it with cargo build -p onair-desktop", pytrace=False)
    env = keyring.KeyringEnv(root)
    env.start_bus()
    env.start_keyring()
    desktop = Desktop(env.home, env=env.env)
    try:
        with TrayHost(env.bus_address) if panel else contextlib.nullcontext() as tray:
            wd = desktop.start()
            try:
                launched = time.monotonic()
                wd.start(binary)
                wait_until_loaded(wd)
                #: Seconds from launching the app to its window being usable.
                wd.loaded_in_s = time.monotonic() - launched
                yield wd, env, tray
            finally:
                wd.quit()
    finally:
        desktop.stop()
        env.stop()
