//! What the kernel knows about a TCP connection: how many bytes the peer has
//! acknowledged and the round-trip time. The link check measures a path
//! with it: acknowledged bytes are what really crossed, whatever sits in
//! buffers on the way.

use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TcpStats {
    /// Bytes the peer has acknowledged since the connection opened.
    pub bytes_acked: u64,
    /// The kernel's smoothed round-trip time.
    pub rtt: Duration,
    /// The smallest round trip seen: the path without queues.
    pub min_rtt: Duration,
}

/// `struct tcp_info` (linux/tcp.h) up to `tcpi_min_rtt`; the kernel fills as
/// much as it has and says how much.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct KernelTcpInfo {
    bytes: [u8; 8],
    /// rto .. total_retrans, 24 counters; `rtt` is the 16th (index 15).
    counters: [u32; 24],
    pacing_rate: u64,
    max_pacing_rate: u64,
    bytes_acked: u64,
    bytes_received: u64,
    segs_out: u32,
    segs_in: u32,
    notsent_bytes: u32,
    min_rtt: u32,
}

#[cfg(target_os = "linux")]
pub fn tcp_stats(tcp: &TcpStream) -> Option<TcpStats> {
    use std::os::fd::AsRawFd;
    const RTT: usize = 15;
    let mut info = KernelTcpInfo::default();
    let mut len = std::mem::size_of::<KernelTcpInfo>() as libc::socklen_t;
    // SAFETY: a valid socket descriptor, and a buffer of `len` bytes the
    // kernel writes at most `len` of.
    let rc = unsafe {
        libc::getsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    // A kernel older than 4.9 has no min_rtt: nothing to measure with.
    if rc != 0 || (len as usize) < std::mem::size_of::<KernelTcpInfo>() {
        return None;
    }
    Some(TcpStats {
        bytes_acked: info.bytes_acked,
        rtt: Duration::from_micros(info.counters[RTT].into()),
        min_rtt: Duration::from_micros(info.min_rtt.into()),
    })
}

#[cfg(not(target_os = "linux"))]
pub fn tcp_stats(_tcp: &TcpStream) -> Option<TcpStats> {
    None
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn acknowledged_bytes_follow_what_the_peer_read() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let before = tcp_stats(&client).expect("TCP_INFO on Linux");
        client.write_all(&[7u8; 100_000]).unwrap();
        let mut got = vec![0u8; 100_000];
        server.read_exact(&mut got).unwrap();
        let mut after = tcp_stats(&client).unwrap();
        for _ in 0..100 {
            if after.bytes_acked - before.bytes_acked >= 100_000 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
            after = tcp_stats(&client).unwrap();
        }
        assert_eq!(after.bytes_acked - before.bytes_acked, 100_000);
        assert!(
            after.rtt > Duration::ZERO && after.rtt < Duration::from_millis(50),
            "{after:?}"
        );
        assert!(after.min_rtt <= after.rtt, "{after:?}");
    }
}
