"""The Python stamp reader against the specification in
src-tauri/engine/src/source/stamp.rs, with stamps drawn here by numpy."""

import numpy as np
import pytest

from onair_testkit import stamp
from onair_testkit.media import DecodedAudio, find_beeps, find_beep_onsets
from onair_testkit.report import analyse_frames, match_av
from onair_testkit.media import Flash
from onair_testkit.stamp import Stamp


def picture(width: int, height: int, background: int = 100) -> np.ndarray:
    return np.full((height, width), background, dtype=np.uint8)


def test_block_size_follows_the_width():
    assert stamp.block_size(1280) == 32
    assert stamp.block_size(640) == 16
    assert stamp.block_size(320) == 8
    assert stamp.block_size(1920) == 48
    # 854 / 40 = 21 is rounded down to even; tiny pictures keep 2-pixel blocks.
    assert stamp.block_size(854) == 20
    assert stamp.block_size(40) == 2
    assert stamp.block_size(16) == 2
    assert stamp.stamp_height(1280) == 64


def test_crc8_matches_the_polynomial():
    assert stamp.crc8(b"") == 0
    # The standard check value of CRC-8 (poly 0x07, init 0) over "123456789".
    assert stamp.crc8(b"123456789") == 0xF4
    assert stamp.crc8(b"\x00" * 8) == 0


def test_bit_layout():
    bits = stamp.encode(Stamp(frame=1, time_ms=0x80000000))
    assert len(bits) == 80
    assert list(bits[:2]) == [1, 0], "sync"
    assert list(bits[-6:]) == [1, 0, 1, 0, 1, 0], "tail"
    # Frame number MSB first: frame 1 sets only the 32nd frame bit.
    assert bits[2 + 31] and not any(bits[2:33])
    # Capture time MSB first: 0x80000000 sets only its first bit.
    assert bits[34] and not any(bits[35:66])


@pytest.mark.parametrize(
    "value",
    [Stamp(0, 0), Stamp(123_456, 0xDEADBEEF), Stamp(0xFFFFFFFF, 0xFFFFFFFF), Stamp(77, 1_700_000_123)],
)
def test_encode_then_decode_round_trips(value):
    assert stamp.decode(stamp.encode(value)) == value


@pytest.mark.parametrize("flip", [0, 1, 2, 20, 33, 40, 65, 70, 79])
def test_a_flipped_bit_is_rejected(flip):
    bits = stamp.encode(Stamp(frame=42, time_ms=7))
    bits[flip] = not bits[flip]
    assert stamp.decode(bits) is None


@pytest.mark.parametrize("width,height", [(1280, 720), (640, 360), (320, 180), (1920, 1080), (854, 480), (642, 362)])
def test_draw_then_read_round_trips_at_every_layer_size(width, height):
    luma = picture(width, height)
    value = Stamp(frame=77, time_ms=1_700_000_123)
    stamp.draw(luma, value)
    assert stamp.read(luma) == value
    # Only the stamp's rows were touched.
    assert (luma[stamp.stamp_height(width):] == 100).all()


def test_reads_the_exact_block_geometry():
    """Blocks are laid out row-major, 40 to a row, at block_size(width)."""
    width = 640
    block = stamp.block_size(width)
    luma = picture(width, 360)
    value = Stamp(frame=0xA5A5A5A5, time_ms=0x0F0F0F0F)
    bits = stamp.encode(value)
    luma[: 2 * block] = stamp.LUMA_ZERO
    for i, bit in enumerate(bits):
        row, col = divmod(i, 40)
        if bit:
            luma[row * block : (row + 1) * block, col * block : (col + 1) * block] = stamp.LUMA_ONE
    assert list(stamp.read_bits(luma)) == list(bits)
    assert stamp.read(luma) == value


def test_only_the_centre_of_each_block_matters():
    """Ringing at block edges (what a codec adds) must not flip a bit."""
    width = 1280
    block = stamp.block_size(width)
    luma = picture(width, 720)
    value = Stamp(frame=999, time_ms=123_456_789)
    stamp.draw(luma, value)
    bits = stamp.encode(value)
    inset, side = block // 4, block // 2
    for i, bit in enumerate(bits):
        row, col = divmod(i, 40)
        cell = luma[row * block : (row + 1) * block, col * block : (col + 1) * block]
        ring = np.ones_like(cell, dtype=bool)
        ring[inset : inset + side, inset : inset + side] = False
        cell[ring] = stamp.LUMA_ZERO if bit else stamp.LUMA_ONE  # the opposite level
    assert stamp.read(luma) == value


def test_survives_noise_and_a_soft_picture():
    rng = np.random.default_rng(1)
    luma = picture(640, 360)
    value = Stamp(frame=31337, time_ms=42)
    stamp.draw(luma, value)
    noisy = luma.astype(np.int16) + rng.normal(0, 25, luma.shape).round().astype(np.int16)
    # A 3x3 box blur, like a soft encode.
    padded = np.pad(noisy, 1, mode="edge").astype(np.float64)
    blurred = sum(padded[dy : dy + 360, dx : dx + 640] for dy in range(3) for dx in range(3)) / 9
    assert stamp.read(np.clip(blurred, 0, 255).astype(np.uint8)) == value


def test_a_damaged_block_fails_the_crc():
    width = 640
    block = stamp.block_size(width)
    luma = picture(width, 360)
    value = Stamp(frame=5, time_ms=5)
    stamp.draw(luma, value)
    bit = 2 + 40 + 3  # a bit of the capture time, in the second row
    row, col = divmod(bit, 40)
    cell = luma[row * block : (row + 1) * block, col * block : (col + 1) * block]
    cell[:] = 255 - cell  # invert it
    assert stamp.read(luma) is None


def test_a_picture_without_a_stamp_reads_as_none():
    assert stamp.read(picture(1280, 720, 16)) is None
    assert stamp.read(picture(1280, 720, 235)) is None
    rng = np.random.default_rng(2)
    assert stamp.read(rng.integers(0, 256, (720, 1280), dtype=np.uint8)) is None


def test_frame_analysis_counts_lost_repeated_and_reordered():
    s = [Stamp(n, 0) for n in (10, 11, 11, 13, 12, 14)] + [None]
    got = analyse_frames(s)
    assert got.numbers == [10, 11, 11, 13, 12, 14]
    assert got.repeated == [11]
    assert got.lost == []
    assert got.out_of_order == [(13, 12)]
    assert got.unreadable == [6]
    assert not got.consecutive
    gap = analyse_frames([Stamp(n, 0) for n in (1, 2, 5, 6)])
    assert gap.lost == [3, 4] and not gap.consecutive
    assert analyse_frames([Stamp(n, 0) for n in range(3, 9)]).consecutive


def synthetic_tone(seconds: float, offset_s: float, rate: int = 48_000) -> np.ndarray:
    """The test tone as the engine makes it, delayed by ``offset_s``."""
    k = np.arange(int(seconds * rate)) - int(round(offset_s * rate))
    phase = (k % rate) / rate
    beep = (k % rate) < rate // 10
    out = np.where(beep, 0.5 * np.sin(2 * np.pi * 1000 * phase), 0.1 * np.sin(2 * np.pi * 440 * phase))
    return out.astype(np.float32)


def test_beep_onsets_are_found_to_a_fraction_of_a_millisecond():
    tone = synthetic_tone(3.5, offset_s=0.25)
    # Pre-echo: a faint 1 kHz smear in the 3 ms before each beep.
    rng = np.random.default_rng(3)
    for onset in (0.25, 1.25, 2.25, 3.25):
        i = int(onset * 48_000)
        tone[i - 144 : i] += (0.05 * rng.standard_normal(144)).astype(np.float32)
    audio = DecodedAudio(samples=tone, rate=48_000, start=1.5, channels=1)
    onsets = find_beep_onsets(audio)
    assert onsets == pytest.approx([1.75, 2.75, 3.75, 4.75], abs=0.0003)


def test_a_beep_cut_by_the_start_or_end_is_not_an_onset():
    # Starts 40 ms into a beep, ends 30 ms into one.
    tone = synthetic_tone(1.99, offset_s=-0.04)
    beeps = find_beeps(DecodedAudio(samples=tone, rate=48_000, start=0.0, channels=1))
    assert [b.onset for b in beeps] == [pytest.approx(0.96, abs=0.0003)]
    assert beeps[0].length == pytest.approx(0.1, abs=0.001)


def test_flashes_pair_with_the_nearest_beep():
    flashes = [Flash(1.02, 30), Flash(2.02, 60), Flash(3.5, 90)]
    av = match_av(flashes, [1.0, 2.0, 5.0])
    assert [round(m.offset, 3) for m in av.matches] == [0.02, 0.02]
    assert av.lone_flashes == [3.5]
    assert av.lone_beeps == [5.0]
