"""Shared tooling for Onair's end-to-end suites.

* ``stamp``  — read (and, for self-tests, draw) the test pattern's stamp.
* ``media``  — ffprobe/ffmpeg helpers: probe, decode video to stamps and
  flash levels, decode audio, find flashes and beep onsets.
* ``report`` — lost/repeated frames and A/V offsets from what was decoded.
* ``onair``  — locate and run the ``onair`` binary, parse its JSON lines.
* ``secrets`` — the secret scan: registered secrets must appear nowhere.
* ``keyring`` — a private session bus with a real gnome-keyring Secret Service.
* ``process`` — end a child process: its own signal first, then a kill.
"""

from . import media, onair, report, secrets, stamp  # noqa: F401
from .stamp import Stamp  # noqa: F401
