//! Where a secret may travel, decided before any connection is made: only
//! over TLS (https, wss), except to this computer (what local development
//! and the tests use); and a server's answer (a WHIP `Location`) may not move
//! it to a weaker scheme or to another origin. Pure, so the rules are tested
//! without sockets.

use std::net::IpAddr;

use reqwest::Url;

use crate::redact::redact_url;

/// Hosts the creator explicitly accepts sending secrets to without TLS
/// (comma-separated, exact names or addresses), e.g. a lab network that has
/// no certificates. Nothing is trusted this way unless it is named here.
pub const CLEARTEXT_HOSTS_VAR: &str = "ONAIR_CLEARTEXT_HOSTS";

/// Why a secret may not go to a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{shown} is not a URL Onair can check")]
    NotAUrl { shown: String },
    /// Plain http/ws to a host that is not this computer.
    #[error("{shown} is not encrypted; use {secure}:// (plain {scheme}:// is only for this computer: localhost, 127.0.0.1, ::1)")]
    Cleartext {
        shown: String,
        scheme: String,
        secure: &'static str,
    },
    /// An answer that points from TLS to plain text.
    #[error("{to} drops the encryption of {from}")]
    Downgrade { from: String, to: String },
    /// An answer that points to another scheme, host or port.
    #[error("{to} is on another server than {from}")]
    OtherOrigin { from: String, to: String },
}

/// May a secret be sent to `url`? Reads the creator's opt-in hosts from
/// the environment.
pub fn secret_may_go_to(url: &str) -> Result<(), Refusal> {
    let allowed = std::env::var(CLEARTEXT_HOSTS_VAR).unwrap_or_default();
    check_secret_destination(url, &cleartext_hosts(&allowed))
}

/// A server URL a platform answered, that the session will send a token to
/// (a LiveKit or WHIP URL from a hook or a token endpoint).
pub fn answered_url_may_carry_secret(url: &str, who: &str) -> Result<(), crate::error::OnairError> {
    secret_may_go_to(url).map_err(|e| {
        crate::error::OnairError::new(
            crate::error::ErrorCode::PlatformError,
            format!("{who} named a server Onair will not send the token to: {e}. The platform must hand out an encrypted (wss:// or https://) URL."),
        )
    })
}

/// The opt-in list as written in the environment variable.
pub fn cleartext_hosts(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect()
}

/// The rule itself: TLS, or this computer, or a host the creator named.
pub fn check_secret_destination(url: &str, allowed: &[String]) -> Result<(), Refusal> {
    let shown = redact_url(url);
    let parsed = Url::parse(url.trim()).map_err(|_| Refusal::NotAUrl {
        shown: shown.clone(),
    })?;
    let secure = match parsed.scheme() {
        "https" | "wss" => return Ok(()),
        "http" => "https",
        "ws" => "wss",
        _ => "https",
    };
    if parsed.host_str().is_some_and(is_loopback_name) {
        return Ok(());
    }
    let host = parsed
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    if !host.is_empty() && allowed.contains(&host) {
        return Ok(());
    }
    Err(Refusal::Cleartext {
        shown,
        scheme: parsed.scheme().to_string(),
        secure,
    })
}

/// This computer: `localhost`, 127.0.0.0/8, ::1 (also as ::ffff:127.x).
/// `host` as a URL spells it (IPv6 in brackets) or bare.
pub fn is_loopback_name(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => host.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    }
}

/// May a secret sent to `from` follow a URL a server answered (`to`)?
/// Only to the same origin, or to https on the same host (an upgrade).
pub fn may_follow(from: &Url, to: &Url) -> Result<(), Refusal> {
    let shown = |u: &Url| redact_url(u.as_str());
    let secure = |u: &Url| matches!(u.scheme(), "https" | "wss");
    if secure(from) && !secure(to) {
        return Err(Refusal::Downgrade {
            from: shown(from),
            to: shown(to),
        });
    }
    let same_host =
        from.host_str().map(str::to_ascii_lowercase) == to.host_str().map(str::to_ascii_lowercase);
    let same_origin = from.scheme() == to.scheme()
        && same_host
        && from.port_or_known_default() == to.port_or_known_default();
    let upgrade = !secure(from) && secure(to) && same_host;
    if same_origin || upgrade {
        Ok(())
    } else {
        Err(Refusal::OtherOrigin {
            from: shown(from),
            to: shown(to),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), Refusal> {
        check_secret_destination(url, &[])
    }

    #[test]
    fn tls_always_carries_a_secret() {
        for url in [
            "https://api.example/token",
            "wss://lk.example",
            "HTTPS://API.EXAMPLE:8443/x",
        ] {
            assert_eq!(check(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn cleartext_only_reaches_this_computer() {
        for url in [
            "http://127.0.0.1:8080/t",
            "http://127.0.0.2/t",
            "http://127.255.1.9/t",
            "ws://localhost:7880",
            "ws://LOCALHOST.:7880",
            "http://[::1]:9/x",
            "http://[::ffff:127.0.0.1]/x",
        ] {
            assert_eq!(check(url), Ok(()), "{url}");
        }
        for (url, secure) in [
            ("http://token.example.invalid/t", "https"),
            ("ws://10.0.0.5:7880", "wss"),
            ("http://128.0.0.1/", "https"),
            ("http://localhost.evil.example/", "https"),
            ("http://[::2]/", "https"),
            ("http://0.0.0.0/", "https"),
        ] {
            match check(url) {
                Err(Refusal::Cleartext { secure: s, .. }) => assert_eq!(s, secure, "{url}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_refusal_names_the_redacted_url_and_the_fix() {
        let e = check("http://user:pw@token.example.invalid/t?token=abc").unwrap_err();
        let said = e.to_string();
        assert!(said.contains("token.example.invalid"), "{said}");
        assert!(said.contains("use https://"), "{said}");
        assert!(!said.contains("pw@") && !said.contains("abc"), "{said}");
        assert!(matches!(check("not a url"), Err(Refusal::NotAUrl { .. })));
    }

    #[test]
    fn named_hosts_are_the_only_other_exception() {
        let allowed = cleartext_hosts(" 10.77.0.1, Lab.Example ,,[fd00::1]");
        assert_eq!(allowed, ["10.77.0.1", "lab.example", "fd00::1"]);
        for url in [
            "http://10.77.0.1:7080/whip",
            "ws://lab.example",
            "http://[fd00::1]/",
        ] {
            assert_eq!(check_secret_destination(url, &allowed), Ok(()), "{url}");
        }
        assert!(check_secret_destination("http://10.77.0.2/whip", &allowed).is_err());
        assert!(check_secret_destination("http://sub.lab.example/", &allowed).is_err());
    }

    #[test]
    fn loopback_names() {
        assert!(is_loopback_name("127.0.0.1"));
        assert!(is_loopback_name("[::1]"));
        assert!(is_loopback_name("localhost"));
        assert!(!is_loopback_name("10.0.0.1"));
        assert!(!is_loopback_name("example.com"));
    }

    #[test]
    fn an_answer_may_not_move_the_secret() {
        let url = |s: &str| Url::parse(s).unwrap();
        let https = url("https://whip.example/whip/ep");
        assert_eq!(
            may_follow(&https, &url("https://whip.example/res/1")),
            Ok(())
        );
        assert_eq!(
            may_follow(&https, &url("https://WHIP.example:443/r")),
            Ok(())
        );
        assert!(matches!(
            may_follow(&https, &url("http://whip.example/res/1")),
            Err(Refusal::Downgrade { .. })
        ));
        for other in [
            "https://cdn.example/r",
            "https://whip.example:8443/r",
            "https://whip.example.evil/r",
        ] {
            assert!(
                matches!(
                    may_follow(&https, &url(other)),
                    Err(Refusal::OtherOrigin { .. })
                ),
                "{other}"
            );
        }
        // From plain http (this computer), an upgrade on the same host is fine.
        let local = url("http://127.0.0.1:7080/whip");
        assert_eq!(may_follow(&local, &url("http://127.0.0.1:7080/r")), Ok(()));
        assert_eq!(may_follow(&local, &url("https://127.0.0.1/r")), Ok(()));
        assert!(may_follow(&local, &url("http://127.0.0.2:7080/r")).is_err());
        assert!(may_follow(&local, &url("http://127.0.0.1:7081/r")).is_err());
    }
}
