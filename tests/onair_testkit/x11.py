"""What a desktop does to a window, done on the test's own X display:
ask a window to close (the window manager's close button sends
WM_DELETE_WINDOW), read the clipboard, focus another application's window,
and press keys through XTEST (as a keyboard would, so global grabs see
them). python-xlib speaks the X protocol itself: no xdotool, no xclip."""

from __future__ import annotations

import time
from typing import Optional

from Xlib import X, XK, display as xdisplay
from Xlib.error import BadWindow
from Xlib.ext import xtest
from Xlib.protocol import event as xevent


class X11:
    def __init__(self, display: str):
        self.d = xdisplay.Display(display)
        self.root = self.d.screen().root
        self._own: Optional[object] = None

    def close(self) -> None:
        self.d.close()

    def _atom(self, name: str) -> int:
        return self.d.intern_atom(name)

    def windows_named(self, title: str) -> list:
        """Top-level windows whose title is ``title`` (_NET_WM_NAME or WM_NAME)."""
        found, todo = [], [self.root]
        net_wm_name, utf8 = self._atom("_NET_WM_NAME"), self._atom("UTF8_STRING")
        while todo:
            window = todo.pop()
            try:
                prop = window.get_full_property(net_wm_name, utf8)
                name = prop.value.decode() if prop else window.get_wm_name()
                if name == title:
                    found.append(window)
                todo.extend(window.query_tree().children)
            except BadWindow:
                continue
        return found

    def ask_to_close(self, title: str) -> None:
        """What a window manager's close button does: WM_DELETE_WINDOW to
        every window of that title that takes it."""
        protocols, delete = self._atom("WM_PROTOCOLS"), self._atom("WM_DELETE_WINDOW")
        windows = [w for w in self.windows_named(title) if delete in (w.get_wm_protocols() or [])]
        assert windows, f"no window titled {title!r} takes WM_DELETE_WINDOW"
        for window in windows:
            message = xevent.ClientMessage(
                window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
            window.send_event(message, event_mask=X.NoEventMask)
        self.d.flush()

    def own_window(self):
        """A small mapped window of this client's (another application)."""
        if self._own is None:
            self._own = self.root.create_window(
                0, 0, 64, 64, 0, X.CopyFromParent, event_mask=X.PropertyChangeMask)
            self._own.set_wm_name("another application")
            self._own.map()
            self.d.sync()
        return self._own

    def focus_another_application(self) -> None:
        self.own_window().set_input_focus(X.RevertToParent, X.CurrentTime)
        self.d.sync()

    def press(self, *keys: str) -> None:
        """Presses ``keys`` together (e.g. "Control_L", "Shift_L", "l") and releases them."""
        codes = [self.d.keysym_to_keycode(XK.string_to_keysym(k)) for k in keys]
        assert all(codes), f"unknown key in {keys}"
        for code in codes:
            xtest.fake_input(self.d, X.KeyPress, code)
        for code in reversed(codes):
            xtest.fake_input(self.d, X.KeyRelease, code)
        self.d.sync()

    def clipboard_targets(self, timeout: float = 5) -> list[str]:
        """The formats the CLIPBOARD's owner offers (what `xclip -t TARGETS -o` lists)."""
        clipboard, targets, into = self._atom("CLIPBOARD"), self._atom("TARGETS"), self._atom("ONAIR_TEST_TARGETS")
        if self.d.get_selection_owner(clipboard) == X.NONE:
            return []
        window = self.own_window()
        window.convert_selection(clipboard, targets, into, X.CurrentTime)
        self.d.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.d.pending_events():
                e = self.d.next_event()
                if e.type == X.SelectionNotify and e.target == targets:
                    if e.property == X.NONE:
                        return []
                    prop = window.get_full_property(into, X.AnyPropertyType)
                    return [self.d.get_atom_name(atom) for atom in prop.value] if prop else []
            time.sleep(0.05)
        raise TimeoutError("the clipboard's owner did not answer")

    def press_in(self, title: str, *keys: str, timeout: float = 10) -> None:
        """Gives the window titled ``title`` the keyboard focus (waiting for it
        to appear) and presses ``keys`` in it, as a person at the keyboard would."""
        deadline = time.monotonic() + timeout
        while not (windows := [w for w in self.windows_named(title) if w.get_attributes().map_state == X.IsViewable]):
            assert time.monotonic() < deadline, f"no window titled {title!r} appeared"
            time.sleep(0.1)
        windows[0].set_input_focus(X.RevertToParent, X.CurrentTime)
        self.d.sync()
        time.sleep(0.3)  # the toolkit takes the focus in before the keys arrive
        self.press(*keys)

    def clipboard(self, timeout: float = 5) -> Optional[str]:
        """The CLIPBOARD's text as its owner serves it, or None if nobody owns it."""
        window = self.own_window()
        clipboard, utf8, into = self._atom("CLIPBOARD"), self._atom("UTF8_STRING"), self._atom("ONAIR_TEST_CLIP")
        if self.d.get_selection_owner(clipboard) == X.NONE:
            return None
        window.convert_selection(clipboard, utf8, into, X.CurrentTime)
        self.d.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self.d.pending_events():
                e = self.d.next_event()
                if e.type == X.SelectionNotify:
                    if e.property == X.NONE:
                        return None
                    prop = window.get_full_property(into, X.AnyPropertyType)
                    return prop.value.decode() if prop else ""
            time.sleep(0.05)
        raise TimeoutError("the clipboard's owner did not answer")
