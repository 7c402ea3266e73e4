"""The desktop app's studio screen, read through WebDriver: its tally and
where failure screenshots go. Shared by the desktop suites."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def wait_until_loaded(wd) -> None:
    """Waits until every view has wired its controls and loaded (the window
    marks its body ready)."""
    wd.wait_for("the window to load", lambda: wd.script("return document.body.dataset.ready === 'true'"))


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
