"""`onair devices` and a camera that is not there. This machine has no
camera, so the list is empty and asking for one fails with a hint; a private
PulseAudio server provides one microphone to list."""

from __future__ import annotations

import json

import pytest

from onair_testkit import onair


def devices_json(env=None) -> dict:
    run = onair.run(["devices", "--json"], env=env)
    assert run.returncode == 0, run.describe()
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, run.describe()
    return json.loads(lines[0])


def test_devices_lists_every_kind_and_exits_0_without_any(onair_bin):
    devices = devices_json()
    assert set(devices) == {"cameras", "microphones", "screen", "monitors", "test_sources"}
    assert devices["cameras"] == []  # no camera in this VM
    assert devices["screen"] in (None, "x11", "wayland")
    assert isinstance(devices["microphones"], list)
    assert isinstance(devices["monitors"], list)  # test_screen.py lists a real one
    flags = {s["flag"] for s in devices["test_sources"]}
    assert flags == {"--video test", "--audio test"}


def test_devices_lists_the_pulse_microphone_as_default(pulse, onair_bin):
    devices = devices_json(env=pulse.env)
    mics = {m["name"]: m for m in devices["microphones"]}
    assert "Monitor of Null Output" in mics, devices["microphones"]
    monitor = mics["Monitor of Null Output"]
    assert monitor["is_default"] is True
    assert monitor["rate"] == 48000 and monitor["channels"] == 2

    human = onair.run(["devices"], env=pulse.env)
    assert human.returncode == 0, human.describe()
    assert "* Monitor of Null Output" in human.stdout, human.stdout
    assert "none found" in human.stdout  # the cameras
    assert "--video test" in human.stdout


@pytest.mark.parametrize("video", ["camera", "camera:0"])
def test_a_missing_camera_says_none_was_found_and_offers_the_test_pattern(video, onair_bin):
    run = onair.run(["live", "file:/tmp/never-camera.flv", "--video", video, "--json"])
    assert run.returncode == 1, run.describe()
    assert not run.stray, run.describe()
    error = run.error
    assert error is not None, run.describe()
    assert error["code"] == "device_unavailable"
    assert "No camera was found" in error["message"], error["message"]
    assert "--video test" in error["message"], error["message"]
