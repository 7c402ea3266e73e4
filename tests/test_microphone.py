"""The microphone for real: a PulseAudio null sink plays a 440 Hz tone, its
monitor is the default source, and `onair live --audio mic` records it."""

from __future__ import annotations

import numpy as np
import pytest

from onair_testkit import media, onair

SOURCE_HZ = 440.0
SOURCE_AMPLITUDE = 0.5
SOURCE_RMS_DBFS = 20 * np.log10(SOURCE_AMPLITUDE / np.sqrt(2))


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window))
    peak = int(np.argmax(spectrum[1:])) + 1
    # Parabolic interpolation between bins for sub-bin accuracy.
    a, b, c = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (peak + offset) * rate / len(samples)


def test_the_microphone_records_the_tone_at_its_pitch_and_level(pulse, tmp_path, onair_bin, ffmpeg, measurements):
    pulse.play_sine(SOURCE_HZ, SOURCE_AMPLITUDE, 30)
    out = tmp_path / "mic.flv"
    # The capture path itself, without the voice chain (tests/test_voice.py has it).
    run = onair.run(
        ["live", f"file:{out}", "--video", "test", "--audio", "mic", "--voice", "off", "--duration", "6", "--json", "--levels"],
        timeout=60,
        env=pulse.env,
    )
    assert run.returncode == 0, run.describe()
    assert not run.of_type("health"), run.describe()

    audio = media.decode_audio(out)
    # Skip the first second (the player starting) and the last (encoder flush).
    middle = audio.samples[audio.rate : audio.rate * 5]
    hz = dominant_hz(middle, audio.rate)
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(middle.astype(np.float64) ** 2)))
    measurements.record(f"microphone: {hz:.2f} Hz, {rms_dbfs:.2f} dBFS RMS (source {SOURCE_RMS_DBFS:.2f})")
    assert abs(hz - SOURCE_HZ) <= 2.0
    assert abs(rms_dbfs - SOURCE_RMS_DBFS) <= 1.0

    levels = run.of_type("levels")
    # About 20 a second; a loaded machine's sound server may deliver late.
    assert 10 * 6 <= len(levels) <= 25 * run.seconds, f"{len(levels)} level events in {run.seconds:.1f} s"
    loud = [lv["rms_dbfs"] for lv in levels if lv["rms_dbfs"] > -40][5:]
    assert loud, run.describe()
    # The meter follows what the sound server delivers: under CI load the
    # player can underrun for a moment and one 50 ms window reads low. The
    # meter must read the tone's level, with at most a few such dips.
    off = [round(db, 2) for db in loud if abs(db - SOURCE_RMS_DBFS) >= 1.0]
    measurements.record(f"meter: median {np.median(loud):.2f} dBFS over {len(loud)} windows, {len(off)} off by 1 dB+ {off}")
    assert abs(np.median(loud) - SOURCE_RMS_DBFS) < 0.5
    assert len(off) <= len(loud) // 10, off


def test_an_unplugged_microphone_becomes_silence_and_comes_back(pulse, tmp_path, onair_bin, ffmpeg):
    pulse.play_sine(SOURCE_HZ, SOURCE_AMPLITUDE, 60)
    out = tmp_path / "unplug.flv"
    with onair.Session(["live", f"file:{out}", "--audio", "mic", "--json"], env=pulse.env) as session:
        session.wait_for_state("live", timeout=15)
        session.wait_for(lambda e: e.get("type") == "stats", timeout=5)
        pulse.unplug()
        lost = session.wait_for(lambda e: e.get("type") == "health", timeout=10)
        assert lost["code"] == "device_lost", lost
        pulse.plug_back()
        pulse.play_sine(SOURCE_HZ, SOURCE_AMPLITUDE, 60)
        back = session.wait_for(lambda e: e.get("type") == "health", timeout=10)
        assert back["code"] == "device_restored", back
        session.wait_for(lambda e: e.get("type") == "stats", timeout=5)
        session.wait_for(lambda e: e.get("type") == "stats", timeout=5)
        session.stop()
    assert session.returncode == 0, session.describe()
    assert session.states[-1] == "ended"

    # The stream never stopped: audio covers the whole session without gaps.
    assert media.find_audio_gaps(out) == []
    audio = media.decode_audio(out)
    assert audio.duration > 3


def test_a_missing_microphone_names_what_exists(pulse, onair_bin):
    run = onair.run(["live", "file:/tmp/never.flv", "--audio", "mic:no such device", "--json"], env=pulse.env)
    assert run.returncode == 1, run.describe()
    error = run.error
    assert error["code"] == "device_unavailable"
    assert "no such device" in error["message"]
    assert "Monitor of Null Output" in error["message"], error["message"]
    assert "--audio test" in error["message"]
