//! Name lookups with a bound. The system resolver (getaddrinfo) blocks for
//! as long as it likes, tens of seconds on a dead network; a Go Live must
//! not hang there. The lookup runs on a thread of its own and is abandoned
//! (left to finish and be dropped) when the time is up.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

/// What a lookup may take before the caller gives up on it.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("its name did not resolve within {} s", .0.as_secs().max(1))]
    TimedOut(Duration),
    #[error("its name does not resolve ({0})")]
    Failed(io::Error),
    #[error("its name resolves to no address")]
    NoAddress,
}

/// The addresses of `host:port`, within `timeout`. Addresses need no lookup.
pub fn lookup(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, LookupError> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_string();
    let found = within(timeout, move || {
        (name.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>())
    })
    .ok_or(LookupError::TimedOut(timeout))?
    .map_err(LookupError::Failed)?;
    if found.is_empty() {
        return Err(LookupError::NoAddress);
    }
    Ok(found)
}

/// Runs `work` on its own thread; None if it did not finish in `timeout`.
pub fn within<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("onair-lookup".into())
        .spawn(move || {
            let _ = tx.send(work());
        });
    match spawned {
        Ok(_) => rx.recv_timeout(timeout).ok(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_slow_lookup_is_abandoned_at_the_bound() {
        let started = Instant::now();
        let result = within(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(5));
            1
        });
        assert_eq!(result, None);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(within(Duration::from_secs(5), || 2), Some(2));
    }

    #[test]
    fn addresses_and_localhost_resolve() {
        let found = lookup("127.0.0.1", 1935, LOOKUP_TIMEOUT).unwrap();
        let address = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(found, vec![address("127.0.0.1:1935")]);
        assert_eq!(
            lookup("[::1]", 80, LOOKUP_TIMEOUT).unwrap()[0],
            address("[::1]:80")
        );
        assert!(!lookup("localhost", 80, LOOKUP_TIMEOUT).unwrap().is_empty());
    }
}
