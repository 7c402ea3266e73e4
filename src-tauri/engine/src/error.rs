//! The errors a creator sees: a stable code plus a sentence they can act on.
//! Lower layers keep their own typed errors and convert into this at the edge.

use serde::{Deserialize, Serialize};

/// Stable error codes shared by the CLI's `--json`, the UI and the docs.
/// Their spelling is a contract: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidDestination,
    KeyMissing,
    KeyRejected,
    AuthFailed,
    PermissionDenied,
    Unreachable,
    Tls,
    DeviceUnavailable,
    KeychainUnavailable,
    PlatformError,
    /// A setting out of range (picture size, frame rate, bitrate, status URL).
    InvalidSettings,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidDestination => "invalid_destination",
            ErrorCode::KeyMissing => "key_missing",
            ErrorCode::KeyRejected => "key_rejected",
            ErrorCode::AuthFailed => "auth_failed",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::Tls => "tls",
            ErrorCode::DeviceUnavailable => "device_unavailable",
            ErrorCode::KeychainUnavailable => "keychain_unavailable",
            ErrorCode::PlatformError => "platform_error",
            ErrorCode::InvalidSettings => "invalid_settings",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An error as a creator sees it. `message` must never contain a secret:
/// build it from redacted values only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[error("{message} [{}]", code.as_str())]
pub struct OnairError {
    pub code: ErrorCode,
    pub message: String,
}

impl OnairError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        OnairError {
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_names() {
        for code in [
            ErrorCode::InvalidDestination,
            ErrorCode::KeyMissing,
            ErrorCode::KeyRejected,
            ErrorCode::AuthFailed,
            ErrorCode::PermissionDenied,
            ErrorCode::Unreachable,
            ErrorCode::Tls,
            ErrorCode::DeviceUnavailable,
            ErrorCode::KeychainUnavailable,
            ErrorCode::PlatformError,
            ErrorCode::InvalidSettings,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
