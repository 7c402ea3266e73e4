//! The client side of the plain RTMP handshake (C0 C1 → S0 S1 S2 → C2).
//! Ingest servers accept it for publishing; the digest variant only matters
//! to old Flash players.

pub const VERSION: u8 = 3;
pub const PACKET_LEN: usize = 1536;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("the server speaks RTMP version {0}, not 3")]
    Version(u8),
}

/// The handshake's end: C2 to send, and the server bytes that followed S2
/// (the start of the chunk stream).
#[derive(Debug, PartialEq, Eq)]
pub struct Completed {
    pub c2: Vec<u8>,
    pub leftover: Vec<u8>,
}

/// Feed it the server's bytes until it completes.
pub struct Handshake {
    received: Vec<u8>,
    done: bool,
}

impl Handshake {
    /// Starts a handshake; returns the machine and C0+C1 to send.
    /// `random` fills C1 (its content only has to be echoed back).
    pub fn start(epoch_ms: u32, random: &mut dyn FnMut() -> u32) -> (Handshake, Vec<u8>) {
        let mut out = Vec::with_capacity(1 + PACKET_LEN);
        out.push(VERSION);
        out.extend_from_slice(&epoch_ms.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        while out.len() < 1 + PACKET_LEN {
            out.extend_from_slice(&random().to_be_bytes());
        }
        let machine = Handshake {
            received: Vec::with_capacity(1 + 2 * PACKET_LEN),
            done: false,
        };
        (machine, out)
    }

    /// Takes server bytes; completes once S0 S1 S2 are all in.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<Completed>, HandshakeError> {
        if self.done {
            return Ok(None);
        }
        self.received.extend_from_slice(bytes);
        if let Some(&version) = self.received.first() {
            if version != VERSION {
                return Err(HandshakeError::Version(version));
            }
        }
        let needed = 1 + 2 * PACKET_LEN;
        if self.received.len() < needed {
            return Ok(None);
        }
        self.done = true;
        // C2 echoes S1: its time, then our read time (0 is fine), then its random.
        let s1 = &self.received[1..1 + PACKET_LEN];
        let mut c2 = Vec::with_capacity(PACKET_LEN);
        c2.extend_from_slice(&s1[..4]);
        c2.extend_from_slice(&[0; 4]);
        c2.extend_from_slice(&s1[8..]);
        Ok(Some(Completed {
            c2,
            leftover: self.received[needed..].to_vec(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c0_c1_then_c2_echoes_s1() {
        let mut n = 0;
        let (mut hs, c0c1) = Handshake::start(77, &mut || {
            n += 1;
            n
        });
        assert_eq!(c0c1.len(), 1 + PACKET_LEN);
        assert_eq!(c0c1[0], 3);
        assert_eq!(&c0c1[1..9], &[0, 0, 0, 77, 0, 0, 0, 0]);

        let s1: Vec<u8> = (0..PACKET_LEN).map(|i| (i % 251) as u8).collect();
        let mut server = vec![3];
        server.extend(&s1);
        server.extend(&c0c1[1..]); // S2 echoes C1
        server.extend([0xaa, 0xbb]); // the first chunk bytes
                                     // Bytes arrive in pieces.
        assert_eq!(hs.feed(&server[..100]).unwrap(), None);
        let Completed { c2, leftover } = hs.feed(&server[100..]).unwrap().unwrap();
        assert_eq!(c2.len(), PACKET_LEN);
        assert_eq!(&c2[..4], &s1[..4]);
        assert_eq!(&c2[8..], &s1[8..]);
        assert_eq!(leftover, vec![0xaa, 0xbb]);
    }

    #[test]
    fn a_wrong_version_is_refused() {
        let (mut hs, _) = Handshake::start(0, &mut || 0);
        assert_eq!(hs.feed(&[6, 0, 0]), Err(HandshakeError::Version(6)));
    }
}
