//! The machine-readable stamp the test pattern draws at the top of every frame:
//! 80 black-or-white blocks in two rows, carrying the frame number and the
//! capture wall time, protected by a CRC. Blocks are 1/40 of the width so the
//! stamp survives compression and downscaling to simulcast layers.
//! The Python twin of `read` lives in tests/onair_testkit/stamp.py.

pub const COLUMNS: u32 = 40;
pub const ROWS: u32 = 2;
pub const BITS: usize = (COLUMNS * ROWS) as usize;
const SYNC: [bool; 2] = [true, false];
const TAIL: [bool; 6] = [true, false, true, false, true, false];
const LUMA_ONE: u8 = 235;
const LUMA_ZERO: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub frame: u32,
    /// Capture time, Unix milliseconds modulo 2^32.
    pub time_ms: u32,
}

/// Side of one square block in pixels for a picture `width` wide.
pub fn block_size(width: u32) -> u32 {
    (width / COLUMNS).max(2) & !1
}

/// Rows of the picture the stamp covers.
pub fn height(width: u32) -> u32 {
    block_size(width) * ROWS
}

pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

pub fn encode(stamp: Stamp) -> [bool; BITS] {
    let mut payload = [0u8; 8];
    payload[..4].copy_from_slice(&stamp.frame.to_be_bytes());
    payload[4..].copy_from_slice(&stamp.time_ms.to_be_bytes());
    let mut bits = [false; BITS];
    let mut i = 0;
    let mut push = |b: bool| {
        bits[i] = b;
        i += 1;
    };
    SYNC.iter().for_each(|&b| push(b));
    for byte in payload.iter().chain(std::iter::once(&crc8(&payload))) {
        for k in (0..8).rev() {
            push(byte >> k & 1 == 1);
        }
    }
    TAIL.iter().for_each(|&b| push(b));
    bits
}

pub fn decode(bits: &[bool; BITS]) -> Option<Stamp> {
    if bits[..2] != SYNC || bits[BITS - 6..] != TAIL {
        return None;
    }
    let mut bytes = [0u8; 9];
    for (n, byte) in bytes.iter_mut().enumerate() {
        for k in 0..8 {
            *byte = (*byte << 1) | bits[2 + n * 8 + k] as u8;
        }
    }
    if crc8(&bytes[..8]) != bytes[8] {
        return None;
    }
    Some(Stamp {
        frame: u32::from_be_bytes(bytes[..4].try_into().unwrap()),
        time_ms: u32::from_be_bytes(bytes[4..8].try_into().unwrap()),
    })
}

/// Draws the stamp over the top `height(width)` rows of an I420 picture.
pub fn draw(y: &mut [u8], u: &mut [u8], v: &mut [u8], width: u32, stamp: Stamp) {
    let bits = encode(stamp);
    let block = block_size(width) as usize;
    let w = width as usize;
    for row in 0..ROWS as usize {
        for line in 0..block {
            let out = &mut y[(row * block + line) * w..][..w];
            for (x, px) in out.iter_mut().enumerate() {
                let col = x / block;
                let on = col < COLUMNS as usize && bits[row * COLUMNS as usize + col];
                *px = if on { LUMA_ONE } else { LUMA_ZERO };
            }
        }
    }
    // Neutral chroma under the stamp, so colour bleed cannot flip a block.
    let cw = w.div_ceil(2);
    let chroma_rows = (ROWS as usize * block).div_ceil(2);
    u[..cw * chroma_rows].fill(128);
    v[..cw * chroma_rows].fill(128);
}

/// Reads the stamp from a luma plane by sampling the middle of every block.
pub fn read(y: &[u8], width: u32) -> Option<Stamp> {
    let block = block_size(width) as usize;
    let w = width as usize;
    let mut bits = [false; BITS];
    for (i, bit) in bits.iter_mut().enumerate() {
        let (row, col) = (i / COLUMNS as usize, i % COLUMNS as usize);
        let (y0, x0) = (row * block + block / 4, col * block + block / 4);
        let side = (block / 2).max(1);
        let mut sum = 0u32;
        for yy in y0..y0 + side {
            sum += y[yy * w + x0..yy * w + x0 + side]
                .iter()
                .map(|&p| p as u32)
                .sum::<u32>();
        }
        *bit = sum / (side * side) as u32 > 128;
    }
    decode(&bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips() {
        for stamp in [
            Stamp {
                frame: 0,
                time_ms: 0,
            },
            Stamp {
                frame: 123_456,
                time_ms: 0xdead_beef,
            },
            Stamp {
                frame: u32::MAX,
                time_ms: u32::MAX,
            },
        ] {
            assert_eq!(decode(&encode(stamp)), Some(stamp));
        }
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let mut bits = encode(Stamp {
            frame: 42,
            time_ms: 7,
        });
        bits[20] = !bits[20];
        assert_eq!(decode(&bits), None);
    }

    #[test]
    fn draw_then_read_round_trips_at_every_layer_size() {
        for (w, h) in [(1280u32, 720u32), (640, 360), (320, 180), (1920, 1080)] {
            let len = crate::media::VideoFrame::i420_len(w, h);
            let mut data = vec![100u8; len];
            let (y, rest) = data.split_at_mut((w * h) as usize);
            let (u, v) = rest.split_at_mut(rest.len() / 2);
            let stamp = Stamp {
                frame: 77,
                time_ms: 1_700_000_123,
            };
            draw(y, u, v, w, stamp);
            assert_eq!(read(y, w), Some(stamp), "{w}x{h}");
        }
    }
}
