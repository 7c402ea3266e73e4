"""Reader (and, for self-tests, writer) of the stamp the test pattern draws.

This is the Python twin of ``src-tauri/engine/src/source/stamp.rs``; that file
is the specification. In short:

* The stamp covers the top ``2 * block`` rows of the luma plane, where
  ``block = width // 40`` rounded down to an even number (at least 2).
* It is 2 rows of 40 square blocks: 80 bits, row-major (bit ``i`` sits in row
  ``i // 40``, column ``i % 40``). A bright block (luma 235) is a 1, a dark
  block (luma 16) is a 0.
* Bits: sync ``1 0``; the frame number (32 bits, MSB first); the capture time
  as Unix milliseconds modulo 2**32 (32 bits, MSB first); a CRC-8 (polynomial
  0x07, initial value 0) over those 8 payload bytes in big-endian order (MSB
  first); a tail ``1 0 1 0 1 0``.
* A block is read by averaging the central half-square of it (a square of
  side ``block // 2`` that starts ``block // 4`` into the block) and comparing
  the integer mean with 128.

The reader takes a numpy luma plane of any width (the stamp scales with it),
so the same code reads recordings, simulcast layers and frames a LiveKit or
RTMP receiver decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

COLUMNS = 40
ROWS = 2
BITS = COLUMNS * ROWS
SYNC = (1, 0)
TAIL = (1, 0, 1, 0, 1, 0)
LUMA_ONE = 235
LUMA_ZERO = 16
#: A block whose integer mean luma is above this reads as a 1.
THRESHOLD = 128
_PAYLOAD_BITS = 64
_CRC_AT = len(SYNC) + _PAYLOAD_BITS


@dataclass(frozen=True)
class Stamp:
    """What one frame says about itself."""

    frame: int
    #: Capture time, Unix milliseconds modulo 2**32.
    time_ms: int


def block_size(width: int) -> int:
    """Side in pixels of one stamp block in a picture ``width`` pixels wide."""
    return max(width // COLUMNS, 2) & ~1


def stamp_height(width: int) -> int:
    """Rows at the top of the picture the stamp covers."""
    return ROWS * block_size(width)


def crc8(data: bytes) -> int:
    """CRC-8 with polynomial x^8 + x^2 + x + 1 (0x07), initial value 0, no
    reflection and no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ 0x07) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def _payload(frame: int, time_ms: int) -> bytes:
    return (frame & 0xFFFFFFFF).to_bytes(4, "big") + (time_ms & 0xFFFFFFFF).to_bytes(4, "big")


def _bits_of(value: int, count: int) -> list[int]:
    return [(value >> shift) & 1 for shift in range(count - 1, -1, -1)]


def encode(stamp: Stamp) -> np.ndarray:
    """The 80 bits (a bool array) that carry ``stamp``."""
    payload = _payload(stamp.frame, stamp.time_ms)
    bits: list[int] = list(SYNC)
    for byte in payload + bytes([crc8(payload)]):
        bits += _bits_of(byte, 8)
    bits += TAIL
    assert len(bits) == BITS
    return np.array(bits, dtype=bool)


def _as_int(bits: Sequence[int]) -> int:
    value = 0
    for bit in bits:
        value = (value << 1) | int(bool(bit))
    return value


def decode(bits: Iterable[int]) -> Optional[Stamp]:
    """The stamp the 80 ``bits`` carry, or None if the sync, the tail or the
    CRC does not check out."""
    bits = [int(bool(b)) for b in bits]
    if len(bits) != BITS:
        raise ValueError(f"a stamp has {BITS} bits, got {len(bits)}")
    if tuple(bits[: len(SYNC)]) != SYNC or tuple(bits[-len(TAIL):]) != TAIL:
        return None
    payload = bytes(
        _as_int(bits[len(SYNC) + 8 * n : len(SYNC) + 8 * (n + 1)]) for n in range(8)
    )
    if crc8(payload) != _as_int(bits[_CRC_AT : _CRC_AT + 8]):
        return None
    return Stamp(
        frame=int.from_bytes(payload[:4], "big"),
        time_ms=int.from_bytes(payload[4:], "big"),
    )


def block_means(luma: np.ndarray) -> np.ndarray:
    """Mean luma of the central half-square of each of the 80 blocks, in bit
    order (a float array of 80). ``luma`` is a 2-D array, rows x width; only
    its top ``stamp_height(width)`` rows are looked at."""
    luma = np.asarray(luma)
    if luma.ndim != 2:
        raise ValueError(f"expected a 2-D luma plane, got shape {luma.shape}")
    height, width = luma.shape
    block = block_size(width)
    if height < ROWS * block or width < COLUMNS * block:
        raise ValueError(
            f"a {width}x{height} plane is too small for a stamp of {block}-pixel blocks"
        )
    side = max(block // 2, 1)
    inset = block // 4
    grid = luma[: ROWS * block, : COLUMNS * block].reshape(ROWS, block, COLUMNS, block)
    centres = grid[:, inset : inset + side, :, inset : inset + side].astype(np.float64)
    return centres.mean(axis=(1, 3)).reshape(BITS)


def read_bits(luma: np.ndarray) -> np.ndarray:
    """The 80 bits the stamp at the top of ``luma`` shows (a bool array)."""
    side = max(block_size(np.asarray(luma).shape[1]) // 2, 1)
    # Integer mean, exactly like the Rust reader: sum // (side * side) > 128.
    sums = np.rint(block_means(luma) * side * side).astype(np.int64)
    return sums // (side * side) > THRESHOLD


def read(luma: np.ndarray) -> Optional[Stamp]:
    """The stamp at the top of the luma plane ``luma``, or None if it cannot
    be read (a frame that is not the test pattern, or one damaged too much)."""
    return decode(read_bits(luma))


def draw(luma: np.ndarray, stamp: Stamp) -> None:
    """Draws ``stamp`` over the top rows of ``luma`` in place, as the engine
    does (columns right of the 40th block keep the dark level). For tests and
    synthetic receivers."""
    height, width = luma.shape
    block = block_size(width)
    bits = encode(stamp).reshape(ROWS, COLUMNS)
    levels = np.where(bits, LUMA_ONE, LUMA_ZERO).astype(luma.dtype)
    area = np.full((ROWS * block, width), LUMA_ZERO, dtype=luma.dtype)
    area[:, : COLUMNS * block] = np.repeat(np.repeat(levels, block, axis=0), block, axis=1)
    luma[: ROWS * block] = area
