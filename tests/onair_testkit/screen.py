"""A real X screen for the screen-capture suites: Xvfb at 1920x1080 and a
painter, a window of its own process (python-xlib, so its pace is not the
test's) that covers the screen and draws, every frame:

* a **clock stamp** at the top left (960 px wide, the test pattern's stamp
  format): its frame number and the Unix milliseconds when it was drawn, so a
  recording tells when what it shows was on the screen;
* the **per-run code** as a second, still stamp at ``CODE_AT``;
* a white **marker** square that moves along a row.

The painter reads commands on stdin: ``freeze`` stops drawing (a static
screen), ``move`` starts again, ``quit`` ends it.

Scaled from 1920x1080 to a 1280x720 stream every position and block size is
multiplied by 2/3, exactly (all are multiples of 3).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

try:  # as a module of the test kit, and as the painter's own script
    from . import stamp as stamp_mod
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from onair_testkit import stamp as stamp_mod  # type: ignore

SCREEN = (1920, 1080)
#: The clock stamp: x, y, width on the screen.
CLOCK_AT = (0, 0, 960)
#: The code stamp: x, y, width on the screen.
CODE_AT = (480, 360, 960)
#: Where the marker moves: its row, size and step a frame.
MARKER_Y, MARKER_SIZE, MARKER_STEP = 852, 48, 24
#: Background grey (so neither stamp level is the background).
BACKGROUND = 0x606060
#: Where the test parks the pointer (on the background, away from stamps).
POINTER_AT = (1650, 210)


def scaled(value: int, screen_w: int = SCREEN[0], stream_w: int = 1280) -> int:
    return value * stream_w // screen_w


class VirtualScreen:
    """Xvfb on a free display number; ``env`` runs a client on it."""

    def __init__(self, size: tuple[int, int] = SCREEN, extra_args: tuple[str, ...] = ()):
        """``extra_args`` go to Xvfb (``-extension MIT-SHM`` turns shared memory off)."""
        self.size = size
        self.extra_args = extra_args
        self.proc: Optional[subprocess.Popen] = None
        self.display = ""

    def start(self) -> "VirtualScreen":
        number = next(
            n for n in range(300, 400)
            if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists()
        )
        self.display = f":{number}"
        return self.restart()

    def restart(self) -> "VirtualScreen":
        """(Re)starts Xvfb on this display; returns once it takes clients."""
        w, h = self.size
        self.proc = subprocess.Popen(
            # -noreset: the last client leaving must not reset the server (and the pointer).
            ["Xvfb", self.display, "-screen", "0", f"{w}x{h}x24", "-nolisten", "tcp", "-noreset", *self.extra_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                self.xlib("pass")
                return self
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()  # a server that half-started is not left behind
                    raise RuntimeError(f"Xvfb {self.display} did not start")
                time.sleep(0.1)
            except BaseException:
                self.stop()
                raise

    def xlib(self, code: str) -> str:
        """Runs ``code`` with ``d``, a python-xlib Display on this screen, in
        a process of its own: python-xlib keeps extension event codes in
        state shared by every Display of a process, and two servers with
        different extensions (no MIT-SHM) clash in it. Returns its stdout."""
        script = f"from Xlib import X, display\nd = display.Display({self.display!r})\n{code}\nd.close()\n"
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout

    def env(self, **extra: str) -> dict:
        env = dict(os.environ, DISPLAY=self.display)
        env.pop("WAYLAND_DISPLAY", None)
        env.update(extra)
        return env

    def move_pointer(self, x: int, y: int) -> None:
        """Moves the pointer as a mouse would (XTEST; a plain warp is ignored
        by Xvfb while no client has the pointer)."""
        self.xlib(f"from Xlib.ext import xtest\nxtest.fake_input(d, X.MotionNotify, x={x}, y={y})\nd.sync()")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self) -> "VirtualScreen":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Painter:
    """The painter process on ``screen``; see the module's docstring."""

    def __init__(self, screen: VirtualScreen, code: int, fps: int = 60, text: bool = False):
        """``text``: instead of stamps, screens of 12-pixel text (the core
        font "fixed", 6x13) scrolling up 2 px a frame, as in an editor."""
        self.proc = subprocess.Popen(
            [sys.executable, __file__, screen.display, str(code), str(fps), "text" if text else "stamps"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            self.proc.kill()
            raise RuntimeError(f"the painter did not start: {line}{self.proc.communicate()[1]}")

    def command(self, word: str) -> None:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def stop(self) -> str:
        """Ends the painter; returns what it said (its late-frame count)."""
        if self.proc.poll() is None:
            try:
                self.command("quit")
            except BrokenPipeError:
                pass
        try:
            out, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return out + err

    def __enter__(self) -> "Painter":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def stamp_rects(bits: np.ndarray, x0: int, y0: int, width: int) -> tuple[list, list]:
    """(white, black) rectangles that draw the 80 ``bits`` as a stamp
    ``width`` px wide at (x0, y0)."""
    block = stamp_mod.block_size(width)
    white, black = [], []
    for i, bit in enumerate(bits):
        row, col = divmod(i, stamp_mod.COLUMNS)
        (white if bit else black).append((x0 + col * block, y0 + row * block, block, block))
    return white, black


def _paint_text(d, win, w: int, h: int, fps: int) -> None:
    """Lines of code-like text scrolling up, until stdin says quit."""
    import random
    import select

    font = d.open_font("fixed")
    gc = win.create_gc(foreground=0x000000, background=0xFFFFFF, font=font)
    rng = random.Random(1)
    words = ["let", "frame", "=", "capture.next_frame()?;", "fn", "scale_into(src,", "dst,", "rect)",
             "{", "}", "// why", "match", "layout", "Some(x)", "=>", "Ok(())", "0x5A5A", "if", "else"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(400)]
    line_h = 13
    print("ready", flush=True)
    offset, next_due = 0, time.monotonic()
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], max(next_due - time.monotonic(), 0))
        if ready and sys.stdin.readline().strip() in ("quit", ""):
            break
        if ready:
            continue
        first = offset // line_h
        for row in range(h // line_h + 2):
            y = row * line_h - offset % line_h + 10
            # ImageText8 takes at most 255 characters (1530 px of "fixed").
            win.image_text(gc, 4, y, lines[(first + row) % len(lines)].ljust(255)[:255])
        d.sync()
        offset += 2
        next_due += 1.0 / fps
    d.close()


def _paint(display_name: str, code: int, fps: int, mode: str = "stamps") -> None:
    """The painter's main loop (its own process)."""
    import select

    from Xlib import X, display as xdisplay

    d = xdisplay.Display(display_name)
    screen = d.screen()
    w, h = screen.width_in_pixels, screen.height_in_pixels
    win = screen.root.create_window(
        0, 0, w, h, 0, screen.root_depth, X.InputOutput, X.CopyFromParent,
        background_pixel=BACKGROUND, override_redirect=True,
    )
    win.set_wm_name("onair screen painter")
    win.map()
    white = win.create_gc(foreground=0xFFFFFF)
    black = win.create_gc(foreground=0x000000)
    grey = win.create_gc(foreground=BACKGROUND)
    if mode == "text":
        win.change_attributes(background_pixel=0xFFFFFF)
        win.clear_area(0, 0, w, h)
        return _paint_text(d, win, w, h, fps)
    code_white, code_black = stamp_rects(stamp_mod.encode(stamp_mod.Stamp(code, code ^ 0x5A5A5A5A)), *CODE_AT)
    d.sync()
    print("ready", flush=True)
    interval = 1.0 / fps
    moving, frame, late = True, 0, 0
    next_due = time.monotonic()
    last_marker = None
    while True:
        wait = max(next_due - time.monotonic(), 0) if moving else None
        ready, _, _ = select.select([sys.stdin], [], [], wait)
        if ready:
            word = sys.stdin.readline().strip()
            if word in ("quit", ""):
                break
            if word == "freeze":
                moving = False
            elif word == "move":
                moving, next_due = True, time.monotonic()
            continue
        if not moving:
            continue
        now_ms = int(time.time() * 1000) % 2**32
        clock_white, clock_black = stamp_rects(stamp_mod.encode(stamp_mod.Stamp(frame, now_ms)), *CLOCK_AT)
        win.poly_fill_rectangle(white, clock_white + code_white)
        win.poly_fill_rectangle(black, clock_black + code_black)
        x = (frame * MARKER_STEP) % (w - MARKER_SIZE)
        if last_marker is not None:
            win.fill_rectangle(grey, last_marker, MARKER_Y, MARKER_SIZE, MARKER_SIZE)
        win.fill_rectangle(white, x, MARKER_Y, MARKER_SIZE, MARKER_SIZE)
        last_marker = x
        d.sync()  # drawn on the server before the next frame's time is taken
        frame += 1
        next_due += interval
        if time.monotonic() > next_due:
            late += 1
            next_due = time.monotonic()
    print(f"frames {frame} late {late}", flush=True)
    d.close()


if __name__ == "__main__":
    _paint(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "stamps")
