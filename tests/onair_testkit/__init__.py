"""Shared tooling for Onair's end-to-end suites.

* ``stamp``  — read (and, for self-tests, draw) the test pattern's stamp.
* ``media``  — ffprobe/ffmpeg helpers: probe, decode video to stamps and
  flash levels, decode audio, find flashes and beep onsets.
* ``report`` — lost/repeated frames and A/V offsets from what was decoded.
* ``onair``  — locate and run the ``onair`` binary, parse its JSON lines.
"""

from . import media, onair, report, stamp  # noqa: F401
from .stamp import Stamp  # noqa: F401
