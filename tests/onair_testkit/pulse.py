"""A private PulseAudio server with a null sink whose monitor is the default
source: what the sink plays, a microphone hears. Tests play a known tone into
it and check what Onair recorded (../shared/TESTBED.md, "Audio capture")."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

from . import process

SINK = "vsink"
RATE = 48_000


class PulseServer:
    def __init__(self, root: Path):
        self.root = root
        self.home = root / "home"
        self.runtime = root / "run"
        self.home.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        self.log = root / "pulseaudio.log"
        self.proc: Optional[subprocess.Popen] = None
        self.players: list[subprocess.Popen] = []

    @property
    def env(self) -> dict:
        """The environment a client needs to reach this server and no other."""
        env = dict(os.environ)
        env.update(HOME=str(self.home), XDG_RUNTIME_DIR=str(self.runtime))
        env.pop("PULSE_SERVER", None)
        return env

    def start(self) -> "PulseServer":
        script = self.root / "null.pa"
        script.write_text(
            "load-module module-native-protocol-unix\n"
            f"load-module module-null-sink sink_name={SINK} rate={RATE} channels=2\n"
            f"set-default-sink {SINK}\n"
            f"set-default-source {SINK}.monitor\n"
        )
        self.proc = subprocess.Popen(
            ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.pactl("info", check=False).returncode == 0:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"pulseaudio did not start: {self.log.read_text()[-2000:]}")

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, check=check)

    def play_sine(self, hz: float, amplitude: float, seconds: float) -> None:
        """Plays a sine into the sink in the background (sox makes it, paplay plays it)."""
        wav = self.root / f"sine-{hz:g}-{amplitude:g}-{seconds:g}.wav"
        if not wav.exists():
            subprocess.run(
                ["sox", "-n", "-r", str(RATE), "-c", "2", "-b", "16", str(wav),
                 "synth", str(seconds), "sine", str(hz), "vol", str(amplitude)],
                check=True,
            )
        self.players.append(subprocess.Popen(["paplay", str(wav)], env=self.env))

    def unplug(self) -> None:
        """Removes the null sink, and with it the source Onair captures from."""
        self.pactl("unload-module", "module-null-sink")

    def plug_back(self) -> None:
        self.pactl("load-module", "module-null-sink", f"sink_name={SINK}", f"rate={RATE}", "channels=2")
        self.pactl("set-default-sink", SINK)
        self.pactl("set-default-source", f"{SINK}.monitor")

    def stop(self) -> None:
        for p in self.players:
            p.kill()
            p.wait()
        process.end(self.proc)


def available() -> Optional[str]:
    """None when the tools exist, else what is missing."""
    missing = [t for t in ("pulseaudio", "pactl", "paplay", "sox") if shutil.which(t) is None]
    return ", ".join(missing) or None
