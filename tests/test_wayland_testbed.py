"""The Wayland test bed on its own, without Onair: a headless GNOME session
whose ScreenCast portal starts with a granted restore token and no dialog,
a PipeWire stream that shows what the Wayland painter draws (the whole
screen, its code stamp readable), what the portal does with restore tokens,
and a revoke a consumer sees as the end of its stream. If these fail, the
Wayland capture suites cannot tell anything about Onair."""

from __future__ import annotations

import random
import time
import uuid
from typing import Optional

import numpy as np

from onair_testkit import stamp as stamp_mod
from onair_testkit import wayland
from onair_testkit.screen import BACKGROUND, CLOCK_AT, CODE_AT, MARKER_SIZE, MARKER_Y


def read_at(luma: np.ndarray, x: int, y: int, width: int) -> Optional[stamp_mod.Stamp]:
    rows = stamp_mod.stamp_height(width)
    return stamp_mod.read(luma[y : y + rows, x : x + width])


def off_picture(luma: np.ndarray) -> int:
    """Pixels that are not the painter's background outside its stamps
    and the marker's row: a window that does not cover the screen (an
    offset, a shadow, a title bar) or a cursor shows here."""
    grey = BACKGROUND & 0xFF
    mask = luma != grey
    for x, y, w in (CLOCK_AT, CODE_AT):
        mask[y : y + stamp_mod.stamp_height(w), x : x + w] = False
    mask[MARKER_Y : MARKER_Y + MARKER_SIZE, :] = False
    return int(mask.sum())


def test_a_granted_screen_is_cast_without_a_dialog_and_shows_the_painter(wayland_session, measurements, tmp_path):
    code = random.getrandbits(32)
    token = str(uuid.uuid4())
    wayland_session.grant(token)
    assert wayland_session.tokens() == [token]
    with wayland.WaylandPainter(wayland_session, code) as painter:
        with wayland.ScreenCast(wayland_session, token).open() as cast:
            assert cast.streams[0][1]["size"] == [1920, 1080], cast.streams
            with wayland.Capture(cast) as capture:
                frames = capture.frames(1.5)
                states = capture.states()
                # mutter sends frames only when the screen changes.
                painter.command("freeze")
                # A busy machine may still deliver the last drawn frame late.
                capture.frames(1.0)
                still = capture.frames(1.0)
        said = painter.stop()
    assert still == [], "a still screen sends no frames"
    assert len(frames) >= 10, (len(frames), states)
    assert states[:3] == ["connecting", "paused", "streaming"], states
    last = frames[-1]
    assert read_at(last, *CODE_AT) == stamp_mod.Stamp(code, code ^ 0x5A5A5A5A)
    clocks = [read_at(f, *CLOCK_AT) for f in frames]
    for n, clock in enumerate(clocks):
        if clock is None:
            np.save(tmp_path / f"unreadable-{n}.npy", frames[n])
    assert all(clocks), f"every frame shows a readable clock stamp (see {tmp_path})"
    numbers = [c.frame for c in clocks]
    assert numbers == sorted(numbers), "in order"
    # mutter sends a frame when the screen changes, and under load now and
    # then the same picture twice.
    assert len(set(numbers)) >= 5, numbers
    assert off_picture(last) == 0, "the painter covers the whole screen and nothing else shows"
    measurements.record(
        f"Wayland test bed: session started in {wayland_session.started_in:.2f} s, Start took "
        f"{cast.start_s * 1000:.0f} ms, {len(frames)} frames in 1.5 s; painter: {said.strip()}"
    )


def test_start_keeps_the_granted_token(wayland_session):
    """xdg-desktop-portal 1.16 answers a restored Start (persist_mode 2) with
    the token it was given, stored again with fresh restore data: the token
    keeps working, no second one appears, and two casts may use it at once."""
    t0 = str(uuid.uuid4())
    wayland_session.grant(t0)
    with wayland.ScreenCast(wayland_session, t0).open() as first:
        t1 = first.restore_token
    assert t1 == t0
    with wayland.ScreenCast(wayland_session, t1).open() as again:
        assert again.restore_token == t0 and again.node_id is not None
        with wayland.ScreenCast(wayland_session, t0).open() as also:
            assert also.restore_token == t0 and also.node_id != again.node_id
    assert wayland_session.tokens() == [t0]
    wayland_session.forget(t0)
    assert wayland_session.tokens() == []


def test_a_cast_that_does_not_persist_uses_the_grant_up(wayland_session):
    """persist_mode 0 or 1 with a granted token restores without a dialog
    once, and the portal deletes the token from the store (mode 1 gives it
    back, but keeps it only in its memory): the next start in another
    connection would show the dialog. A capture that should start again without
    asking must use persist_mode 2."""
    for mode in (0, 1):
        token = str(uuid.uuid4())
        wayland_session.grant(token)
        with wayland.ScreenCast(wayland_session, token, persist_mode=mode) as cast:
            assert cast.node_id is not None
            assert cast.restore_token == (None if mode == 0 else token)
        assert wayland_session.tokens() == []


def test_a_token_that_was_never_granted_waits_for_a_dialog(wayland_session):
    """Without a grant the portal shows its dialog; nobody answers it."""
    cast = wayland.ScreenCast(wayland_session, str(uuid.uuid4()), timeout=2)
    try:
        cast.open()
    except wayland.PortalError as e:
        assert "no response" in str(e)
    else:
        raise AssertionError("a cast started without a grant")
    finally:
        cast.close()


def test_revoke_ends_the_stream_for_its_consumer(wayland_session):
    token = str(uuid.uuid4())
    wayland_session.grant(token)
    with wayland.WaylandPainter(wayland_session, 7):
        with wayland.ScreenCast(wayland_session, token).open() as cast:
            with wayland.Capture(cast) as capture:
                assert capture.frames(0.5), capture.states()
                assert len(wayland_session.cast_sessions()) == 1
                assert wayland_session.video_nodes() == [cast.node_id]
                began = time.monotonic()
                assert wayland_session.revoke() == [cast.session_handle]
                capture.frames(1.0)
                states = capture.states()
                # What a pw_stream consumer sees: its node goes, the stream
                # goes paused, then unconnected (no error state).
                assert states == ["connecting", "paused", "streaming", "paused", "unconnected"], states
                assert time.monotonic() - began < 2
                assert wayland_session.video_nodes() == []
                assert not capture.frames(0.5), "no frame after the end"
                # Unlike GNOME Shell's stop button, this revoke does not
                # reach the app as Session.Closed: the stream is the signal.
                assert not cast.closed_by_portal
            # The creator shares again: the same grant starts a new cast.
            with wayland.ScreenCast(wayland_session, token).open() as again:
                with wayland.Capture(again) as capture:
                    assert capture.frames(1.0)
