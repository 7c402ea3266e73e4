//! The byte pipe under RTMP: TCP, or TLS over TCP for rtmps (the engine's
//! shared TLS configuration, `net::tls`). RTMP stream keys go in clear over
//! rtmp:// by the ingests' own design (Twitch, Owncast); rtmps is the
//! creator's choice, so the secret rule of `net::policy` is not applied here.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::error::RtmpError;
use super::url::RtmpUrl;
use crate::net::resolve::{lookup, LOOKUP_TIMEOUT};

pub enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Transport {
    /// Resolves, connects and (for rtmps) completes the TLS handshake by `deadline`.
    pub fn connect(url: &RtmpUrl, deadline: Instant) -> Result<Transport, RtmpError> {
        let tcp = connect_tcp(&url.host, url.port, deadline)?;
        if !url.tls {
            return Ok(Transport::Plain(tcp));
        }
        let name = ServerName::try_from(url.host.clone())
            .map_err(|_| RtmpError::Tls(format!("{} is not a valid server name", url.host)))?;
        let config = crate::net::tls::client_config().map_err(|e| RtmpError::Tls(e.0))?;
        let conn =
            ClientConnection::new(config, name).map_err(|e| RtmpError::Tls(e.to_string()))?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            set_timeout(&stream.sock, deadline)?;
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| classify_tls_io(e, url))?;
        }
        Ok(Transport::Tls(Box::new(stream)))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => &s.sock,
        }
    }

    /// Bytes the kernel holds that have not been sent yet: with our own
    /// queue, the backlog a slow link builds up.
    pub fn kernel_unsent(&self) -> usize {
        unsent_bytes(self.tcp())
    }

    /// Sends TLS close_notify where there is TLS, then closes the socket.
    pub fn shutdown(&mut self) {
        if let Transport::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::Tls(s) => s.flush(),
        }
    }
}

/// Sets the socket's read and write timeouts to the time left before `deadline`.
pub fn set_timeout(tcp: &TcpStream, deadline: Instant) -> Result<(), RtmpError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(RtmpError::TimedOut {
            seconds: super::connection::OPEN_TIMEOUT.as_secs(),
        });
    }
    let left = left.max(Duration::from_millis(1));
    let _ = tcp.set_read_timeout(Some(left));
    let _ = tcp.set_write_timeout(Some(left));
    Ok(())
}

fn connect_tcp(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, RtmpError> {
    // The lookup gets its own bound inside the connect deadline: a resolver
    // that never answers would otherwise hold Go Live for its own timeouts.
    let left = deadline.saturating_duration_since(Instant::now());
    let addrs: Vec<SocketAddr> =
        lookup(host, port, left.min(LOOKUP_TIMEOUT)).map_err(|_| RtmpError::Dns {
            host: host.to_string(),
        })?;
    let mut last = String::new();
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                give_up_unacknowledged_after(&tcp, DEAD_LINK);
                return Ok(tcp);
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => last = "no answer".into(),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                last = "connection refused".into()
            }
            Err(e) => last = e.kind().to_string(),
        }
    }
    Err(RtmpError::Unreachable {
        host: host.to_string(),
        port,
        reason: if last.is_empty() {
            "no answer".into()
        } else {
            last
        },
    })
}

fn classify_tls_io(e: io::Error, url: &RtmpUrl) -> RtmpError {
    if e.kind() == io::ErrorKind::InvalidData {
        // rustls reports certificate and protocol failures as InvalidData.
        return RtmpError::Tls(e.to_string());
    }
    if matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) {
        return RtmpError::TimedOut {
            seconds: super::connection::OPEN_TIMEOUT.as_secs(),
        };
    }
    RtmpError::Unreachable {
        host: url.host.clone(),
        port: url.port,
        reason: format!("TLS handshake: {}", e.kind()),
    }
}

#[cfg(target_os = "linux")]
fn unsent_bytes(tcp: &TcpStream) -> usize {
    use std::os::fd::AsRawFd;
    // SIOCOUTQNSD: bytes in the send queue not yet sent (linux/sockios.h).
    const SIOCOUTQNSD: libc::c_ulong = 0x894b;
    let mut bytes: libc::c_int = 0;
    // SAFETY: a valid socket descriptor and a pointer to a c_int, as the ioctl expects.
    let rc = unsafe { libc::ioctl(tcp.as_raw_fd(), SIOCOUTQNSD as _, &mut bytes) };
    if rc == 0 {
        bytes.max(0) as usize
    } else {
        0
    }
}

/// A link that swallows packets without an error is dead once the server
/// has acknowledged nothing for this long (a 5 s outage still survives).
pub const DEAD_LINK: Duration = Duration::from_secs(10);

/// TCP_USER_TIMEOUT: the kernel closes the connection (reads and writes then
/// fail with TimedOut) when sent data stays unacknowledged this long.
/// Without it a blackholed link is noticed only when the send buffer fills
/// and a write stalls, 20 s or more at a typical bitrate.
#[cfg(target_os = "linux")]
fn give_up_unacknowledged_after(tcp: &TcpStream, after: Duration) {
    use std::os::fd::AsRawFd;
    let ms = after.as_millis() as libc::c_uint;
    // SAFETY: a valid socket descriptor and a pointer to a c_uint of the size passed.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_USER_TIMEOUT,
            &ms as *const libc::c_uint as *const libc::c_void,
            std::mem::size_of::<libc::c_uint>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn give_up_unacknowledged_after(_tcp: &TcpStream, _after: Duration) {}

#[cfg(not(target_os = "linux"))]
fn unsent_bytes(_tcp: &TcpStream) -> usize {
    0
}
