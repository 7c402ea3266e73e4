//! The TLS client configuration every encrypted connection uses (RTMPS,
//! HTTPS for hooks, tokens and WHIP, WSS to LiveKit): rustls with ring and
//! the platform's root certificates; `SSL_CERT_FILE` adds or replaces them,
//! the way OpenSSL-based tools behave.

use std::sync::{Arc, Mutex};

use rustls::{ClientConfig, RootCertStore};

use crate::error::{ErrorCode, OnairError};

/// Why no TLS configuration could be built (no roots, a bad provider).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(pub String);

impl From<TlsSetupError> for OnairError {
    fn from(e: TlsSetupError) -> OnairError {
        OnairError::new(
            ErrorCode::Tls,
            format!("Secure connections cannot be set up on this machine: {e}. Check its root certificates (or SSL_CERT_FILE)."),
        )
    }
}

/// The shared configuration: loading the roots reads files, so a built one
/// is kept. A failure is not: once the creator fixes the certificates, the
/// next try succeeds without a restart.
pub fn client_config() -> Result<Arc<ClientConfig>, TlsSetupError> {
    static CONFIG: Mutex<Option<Arc<ClientConfig>>> = Mutex::new(None);
    kept_once_built(&CONFIG, build)
}

fn build() -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsSetupError(
            "no trusted root certificates found on this system".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
        .map_err(|e| TlsSetupError(e.to_string()))
}

/// The value in `cell`, built on first success; failures are returned and
/// forgotten.
fn kept_once_built<T: Clone, E>(
    cell: &Mutex<Option<T>>,
    build: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    // A panic while building leaves nothing half-made: the cell is only
    // written with a finished value.
    let mut kept = cell.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(value) = kept.as_ref() {
        return Ok(value.clone());
    }
    let value = build()?;
    *kept = Some(value.clone());
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_not_kept_and_a_later_try_succeeds() {
        let cell = Mutex::new(None);
        let mut builds = 0;
        let mut attempt = |result: Result<u32, &'static str>| {
            kept_once_built(&cell, || {
                builds += 1;
                result
            })
        };
        assert_eq!(attempt(Err("no roots")), Err("no roots"));
        assert_eq!(attempt(Err("still none")), Err("still none"));
        assert_eq!(attempt(Ok(7)), Ok(7));
        // Built once it worked: later callers share it without building.
        assert_eq!(attempt(Ok(8)), Ok(7));
        assert_eq!(builds, 3);
    }

    #[test]
    fn the_machine_has_a_configuration() {
        assert!(client_config().is_ok());
    }
}
