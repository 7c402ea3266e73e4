//! WHIP (RFC 9725) without sockets: what a response means, where the
//! resource lives, which ICE servers the Link headers offer, and the SDP
//! fragments trickle and ICE restart PATCH. The client does the I/O.

use reqwest::Url;

use super::error::WhipError;
use crate::net::policy;
use crate::redact::{redact_key_segments, redact_url};

pub const SDP: &str = "application/sdp";
pub const SDPFRAG: &str = "application/trickle-ice-sdpfrag";

/// How much of a server's reply goes into a message.
const WORDS_MAX: usize = 200;

/// What a response carried, as plain values (the client copies them out of
/// its HTTP library).
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub reason: String,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub accept_patch: Option<String>,
    pub etag: Option<String>,
    /// Every Link header value, in order.
    pub links: Vec<String>,
    pub body: String,
}

/// An ICE server a Link header offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub url: String,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// A publish the server accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The resource to PATCH and DELETE.
    pub resource: Url,
    pub answer: String,
    /// The server takes trickle and ICE restart through PATCH.
    pub patch: bool,
    pub etag: Option<String>,
    pub ice_servers: Vec<IceServer>,
}

/// The endpoint URL, checked before anything is sent.
pub fn endpoint(url: &str) -> Result<Url, WhipError> {
    let parsed = Url::parse(url).map_err(|e| WhipError::BadEndpoint(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(WhipError::NotHttp);
    }
    Ok(parsed)
}

/// SDP wants CRLF line ends; some servers (Janus) reject anything else.
pub fn crlf(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 64);
    for line in sdp.lines() {
        out.push_str(line.trim_end_matches('\r'));
        out.push_str("\r\n");
    }
    out
}

/// The answer to the offer POST: 201 Created with a Location and an SDP
/// answer, or the error a creator can act on.
pub fn accept_post(endpoint: &Url, reply: &Reply) -> Result<Accepted, WhipError> {
    if reply.status != 201 {
        return Err(refusal(endpoint, reply, "publishing"));
    }
    let Some(location) = reply.location.as_deref().filter(|l| !l.trim().is_empty()) else {
        return Err(WhipError::NoLocation {
            said: words(&reply.body),
        });
    };
    let resource = resolve(endpoint, location)?;
    if !reply.body.trim_start().starts_with("v=0") {
        return Err(WhipError::NotSdp {
            said: words(&reply.body),
        });
    }
    let patch = reply
        .accept_patch
        .as_deref()
        .is_some_and(|v| v.split(',').any(|t| media_type(t) == SDPFRAG));
    Ok(Accepted {
        resource,
        answer: reply.body.clone(),
        patch,
        etag: reply.etag.clone(),
        ice_servers: reply.links.iter().flat_map(|l| ice_servers(l)).collect(),
    })
}

/// A non-success status as the error a creator sees. `doing` names the
/// request ("publishing", "restarting ICE").
pub fn refusal(endpoint: &Url, reply: &Reply, doing: &str) -> WhipError {
    let said = words(&reply.body)
        .or_else(|| (!reply.reason.is_empty()).then(|| reply.reason.clone()))
        .map(|w| format!("{}: {w}", reply.status))
        .unwrap_or_else(|| reply.status.to_string());
    let host = endpoint.host_str().unwrap_or("the server").to_string();
    let doing = doing.to_string();
    match reply.status {
        // Janus's WHIP server answers 403, never 401, for a wrong token.
        401 | 403 => WhipError::Refused { host, doing, said },
        // Some services put the stream key in the path: it is not echoed.
        404 => WhipError::NoEndpoint {
            host,
            path: redact_key_segments(endpoint.path()),
            said,
        },
        // Not followed: the bearer token would go along to wherever it points.
        300..=399 => WhipError::Redirected {
            host,
            doing,
            target: crate::net::http::redirect_target(
                reply.status,
                reply.location.as_deref(),
                endpoint,
            )
            .unwrap_or_default(),
            said,
        },
        500..=599 => WhipError::ServerFailed { host, doing, said },
        _ => WhipError::NotAccepted { host, doing, said },
    }
}

/// The server's own words, short, on one line, without control characters.
fn words(body: &str) -> Option<String> {
    let flat: String = body
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return None;
    }
    Some(match flat.char_indices().nth(WORDS_MAX) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    })
}

fn media_type(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The Location header against the endpoint: servers often answer a path.
pub fn resolve(endpoint: &Url, location: &str) -> Result<Url, WhipError> {
    let resolved = endpoint
        .join(location.trim())
        .map_err(|e| WhipError::BadLocation {
            location: location.trim().to_string(),
            why: e.to_string(),
        })?;
    if !matches!(resolved.scheme(), "http" | "https") {
        return Err(WhipError::LocationNotHttp {
            scheme: resolved.scheme().to_string(),
        });
    }
    Ok(resolved)
}

/// The bearer token goes to the endpoint; the resource (PATCH, DELETE) gets
/// it too, so a Location may not take it to a weaker scheme or another
/// origin.
pub fn resource_may_carry_token(endpoint: &Url, resource: &Url) -> Result<(), WhipError> {
    policy::may_follow(endpoint, resource).map_err(|e| WhipError::ResourceNotForTheToken {
        host: endpoint.host_str().unwrap_or("the server").to_string(),
        why: e.to_string(),
    })
}

/// The endpoint may receive the bearer token: TLS, or this computer.
pub fn endpoint_may_carry_token(endpoint: &Url) -> Result<(), WhipError> {
    policy::secret_may_go_to(endpoint.as_str()).map_err(|e| WhipError::NotForTheToken {
        shown: redact_url(endpoint.as_str()),
        why: e.to_string(),
    })
}

/// The ICE servers in one Link header value (RFC 8288: comma-separated
/// links, each `<uri>; param="value"; ...`), only those with
/// rel="ice-server".
pub fn ice_servers(value: &str) -> Vec<IceServer> {
    split_outside_quotes(value, ',')
        .into_iter()
        .filter_map(|link| {
            let link = link.trim();
            let uri = link.strip_prefix('<')?;
            let (uri, params) = uri.split_once('>')?;
            let mut rel_ice = false;
            let mut username = None;
            let mut credential = None;
            for param in split_outside_quotes(params, ';') {
                let Some((name, value)) = param.split_once('=') else {
                    continue;
                };
                let value = unquote(value.trim());
                match name.trim().to_ascii_lowercase().as_str() {
                    "rel" => {
                        rel_ice = value
                            .split_whitespace()
                            .any(|r| r.eq_ignore_ascii_case("ice-server"))
                    }
                    "username" => username = Some(value),
                    "credential" => credential = Some(value),
                    _ => {}
                }
            }
            let uri = uri.trim();
            let scheme_ok = ["stun:", "stuns:", "turn:", "turns:"]
                .iter()
                .any(|s| uri.to_ascii_lowercase().starts_with(s));
            (rel_ice && scheme_ok).then(|| IceServer {
                url: uri.to_string(),
                username,
                credential,
            })
        })
        .collect()
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut bracketed, mut escaped) = (0, false, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if !bracketed => quoted = !quoted,
            '<' if !quoted => bracketed = true,
            '>' if !quoted => bracketed = false,
            c if c == separator && !quoted && !bracketed => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_string(),
    }
}

/// The ICE username fragment and password of an SDP (session level or the
/// first media section: with BUNDLE they are the same).
pub fn ice_credentials(sdp: &str) -> Option<(String, String)> {
    let find = |key: &str| {
        sdp.lines()
            .find_map(|l| l.trim_end().strip_prefix(key).map(str::to_string))
    };
    Some((find("a=ice-ufrag:")?, find("a=ice-pwd:")?))
}

/// The first media section's mid: the BUNDLE tag candidates belong to.
pub fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:").map(str::to_string))
}

/// A local candidate from the peer connection's JSON init object, as the
/// `candidate:...` attribute value; None for the end-of-candidates marker.
pub fn candidate_attribute(json: &str) -> Option<String> {
    let init: serde_json::Value = serde_json::from_str(json).ok()?;
    let candidate = init.get("candidate")?.as_str()?.trim();
    let candidate = candidate.strip_prefix("a=").unwrap_or(candidate);
    candidate
        .starts_with("candidate:")
        .then(|| candidate.to_string())
}

/// A trickle-ice-sdpfrag (RFC 8840) body: the credentials that say which
/// ICE generation the candidates belong to, one media section for the
/// BUNDLE tag, its candidates, and whether gathering has ended.
pub fn sdpfrag(ufrag: &str, pwd: &str, mid: &str, candidates: &[String], end: bool) -> String {
    let mut out = format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n");
    out.push_str(&format!("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:{mid}\r\n"));
    for candidate in candidates {
        out.push_str(&format!("a={candidate}\r\n"));
    }
    if end {
        out.push_str("a=end-of-candidates\r\n");
    }
    out
}

/// The candidate attributes in an SDP (or a fragment).
pub fn candidates_in(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.trim_end().strip_prefix("a="))
        .filter(|a| a.starts_with("candidate:"))
        .map(str::to_string)
        .collect()
}

/// The server's side after an ICE restart: its previous answer with the new
/// credentials (from the PATCH reply's fragment) and, when the fragment
/// lists candidates, those instead of the old ones. Servers that keep their
/// ports (Janus) send credentials only, so the old candidates stay.
pub fn restarted_answer(previous: &str, fragment: &str) -> Result<String, WhipError> {
    let (ufrag, pwd) =
        ice_credentials(fragment).ok_or_else(|| WhipError::RestartWithoutCredentials {
            said: words(fragment),
        })?;
    let fresh = candidates_in(fragment);
    let mut out = String::with_capacity(previous.len());
    let mut in_media = false;
    let mut media_seen = 0;
    for line in previous.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            in_media = true;
            media_seen += 1;
        }
        if line.starts_with("a=ice-ufrag:") {
            out.push_str(&format!("a=ice-ufrag:{ufrag}\r\n"));
        } else if line.starts_with("a=ice-pwd:") {
            out.push_str(&format!("a=ice-pwd:{pwd}\r\n"));
        } else if !fresh.is_empty()
            && (line.starts_with("a=candidate:") || line == "a=end-of-candidates")
        {
            // Replaced by the fragment's, added to the first media section below.
        } else {
            out.push_str(line);
            out.push_str("\r\n");
            if in_media && media_seen == 1 && line.starts_with("a=mid:") {
                for candidate in &fresh {
                    out.push_str(&format!("a={candidate}\r\n"));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn url() -> Url {
        endpoint("http://10.77.0.1:7080/whip/endpoint/onair").unwrap()
    }

    fn created(body: &str) -> Reply {
        Reply {
            status: 201,
            reason: "Created".into(),
            location: Some("/whip/resource/onair".into()),
            content_type: Some(SDP.into()),
            accept_patch: Some(SDPFRAG.into()),
            etag: Some("\"abc\"".into()),
            links: vec![],
            body: body.into(),
        }
    }

    #[test]
    fn endpoint_must_be_http() {
        assert!(endpoint("https://x.example/whip").is_ok());
        for bad in ["ftp://x/whip", "http//x", "not a url"] {
            assert_eq!(
                endpoint(bad).unwrap_err().to_onair().code,
                ErrorCode::InvalidDestination
            );
        }
    }

    #[test]
    fn offers_get_crlf_line_ends() {
        assert_eq!(
            crlf("v=0\no=- 1 1 IN IP4 0.0.0.0\n"),
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"
        );
        assert_eq!(crlf("v=0\r\ns=-\r\n"), "v=0\r\ns=-\r\n");
        assert_eq!(crlf("v=0\ns=-"), "v=0\r\ns=-\r\n");
    }

    #[test]
    fn created_with_relative_location_resolves_against_the_endpoint() {
        let accepted = accept_post(&url(), &created("v=0\r\ns=-\r\n")).unwrap();
        assert_eq!(
            accepted.resource.as_str(),
            "http://10.77.0.1:7080/whip/resource/onair"
        );
        assert!(accepted.patch);
        assert_eq!(accepted.etag.as_deref(), Some("\"abc\""));
        assert!(accepted.ice_servers.is_empty());
    }

    #[test]
    fn locations_resolve_like_links_do() {
        let base = url();
        assert_eq!(
            resolve(&base, "res/1").unwrap().as_str(),
            "http://10.77.0.1:7080/whip/endpoint/res/1"
        );
        assert_eq!(
            resolve(&base, "https://cdn.example/r/9").unwrap().as_str(),
            "https://cdn.example/r/9"
        );
        assert_eq!(
            resolve(&base, "//other:1/r").unwrap().as_str(),
            "http://other:1/r"
        );
        assert_eq!(
            resolve(&base, "mailto:x@y").unwrap_err().to_onair().code,
            ErrorCode::PlatformError
        );
    }

    #[test]
    fn a_location_may_not_move_the_token() {
        let https = endpoint("https://whip.example/whip/ep").unwrap();
        let same = resolve(&https, "/whip/resource/1").unwrap();
        resource_may_carry_token(&https, &same).unwrap();
        for moved in [
            "http://whip.example/whip/resource/1",
            "https://cdn.example/r/9",
            "//other:1/r",
        ] {
            let resource = resolve(&https, moved).unwrap();
            let e = resource_may_carry_token(&https, &resource)
                .unwrap_err()
                .to_onair();
            assert_eq!(e.code, ErrorCode::PlatformError, "{moved}");
            assert!(e.message.contains("whip.example"), "{e}");
        }
        let e =
            resource_may_carry_token(&https, &resolve(&https, "http://whip.example/r").unwrap())
                .unwrap_err()
                .to_onair();
        assert!(e.message.contains("drops the encryption"), "{e}");
    }

    #[test]
    fn a_cleartext_endpoint_does_not_get_the_token() {
        endpoint_may_carry_token(&endpoint("https://whip.example/whip").unwrap()).unwrap();
        endpoint_may_carry_token(&endpoint("http://127.0.0.1:7080/whip").unwrap()).unwrap();
        let e = endpoint_may_carry_token(&url()).unwrap_err().to_onair();
        assert_eq!(e.code, ErrorCode::InvalidDestination);
        assert!(
            e.message
                .contains("http://10.77.0.1:7080/whip/endpoint/onair")
                && e.message.contains("use https://"),
            "{e}"
        );
    }

    #[test]
    fn a_redirect_is_refused_and_names_its_target() {
        let reply = Reply {
            status: 307,
            location: Some("http://127.0.0.2:9/whip?token=abc".into()),
            ..Default::default()
        };
        let e = accept_post(&url(), &reply).unwrap_err().to_onair();
        assert_eq!(e.code, ErrorCode::PlatformError);
        assert!(
            e.message.contains("http://127.0.0.2:9/whip?token=••••"),
            "{e}"
        );
        assert!(!e.message.contains("abc"), "{e}");
    }

    #[test]
    fn a_key_in_the_endpoint_path_is_not_echoed_by_a_404() {
        let keyed =
            endpoint("https://whip.example/3f9a1c0b7e2d4a6f8b1c2d3e4f5a6b7c/webRTC/publish")
                .unwrap();
        let e = refusal(
            &keyed,
            &Reply {
                status: 404,
                ..Default::default()
            },
            "publishing",
        )
        .to_onair();
        assert_eq!(e.code, ErrorCode::InvalidDestination);
        assert!(!e.message.contains("3f9a1c0b7e2d"), "{e}");
        assert!(e.message.contains("/••••/webRTC/publish"), "{e}");
    }

    #[test]
    fn no_accept_patch_means_no_trickle() {
        let mut reply = created("v=0\r\n");
        reply.accept_patch = None;
        assert!(!accept_post(&url(), &reply).unwrap().patch);
        reply.accept_patch = Some("application/json, Application/Trickle-ICE-SDPFRAG".into());
        assert!(accept_post(&url(), &reply).unwrap().patch);
    }

    #[test]
    fn created_without_location_is_a_platform_error_with_the_servers_words() {
        let mut reply = created("v=0\r\n");
        reply.location = None;
        let e = accept_post(&url(), &reply).unwrap_err().to_onair();
        assert_eq!(e.code, ErrorCode::PlatformError);
        assert!(e.message.contains("Location"), "{e}");
    }

    #[test]
    fn an_answer_that_is_not_sdp_is_a_platform_error_quoting_it() {
        let e = accept_post(&url(), &created("<html>Oops\n upstream\tdown</html>"))
            .unwrap_err()
            .to_onair();
        assert_eq!(e.code, ErrorCode::PlatformError);
        assert!(e.message.contains("<html>Oops upstream down</html>"), "{e}");
        let e = accept_post(&url(), &created("")).unwrap_err().to_onair();
        assert!(e.message.contains("empty"), "{e}");
    }

    #[test]
    fn statuses_map_to_stable_codes() {
        let reply = |status: u16, body: &str| Reply {
            status,
            body: body.into(),
            ..Default::default()
        };
        for (status, code) in [
            (401, ErrorCode::AuthFailed),
            (403, ErrorCode::AuthFailed),
            (404, ErrorCode::InvalidDestination),
            (406, ErrorCode::PlatformError),
            (500, ErrorCode::PlatformError),
            (503, ErrorCode::PlatformError),
            (200, ErrorCode::PlatformError),
        ] {
            let e = accept_post(&url(), &reply(status, "Unauthorized"))
                .unwrap_err()
                .to_onair();
            assert_eq!(e.code, code, "{status}");
            assert!(
                e.message.contains(&format!("{status}: Unauthorized")),
                "{e}"
            );
        }
        let e = refusal(&url(), &reply(404, ""), "publishing").to_onair();
        assert!(
            e.message.contains("/whip/endpoint/onair") && e.message.contains("(404)"),
            "{e}"
        );
    }

    #[test]
    fn long_server_words_are_cut() {
        let e = accept_post(
            &url(),
            &Reply {
                status: 500,
                body: "x".repeat(5000),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_onair();
        assert!(
            e.message.len() < 400 && e.message.contains('…'),
            "{}",
            e.message.len()
        );
    }

    #[test]
    fn link_headers_give_ice_servers() {
        let value = r#"<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; rel="ice-server"; username="user"; credential="pa;ss,word"; credential-type="password", <https://example.net/docs>; rel="help""#;
        assert_eq!(
            ice_servers(value),
            vec![
                IceServer {
                    url: "stun:stun.example.net".into(),
                    username: None,
                    credential: None
                },
                IceServer {
                    url: "turn:turn.example.net?transport=udp".into(),
                    username: Some("user".into()),
                    credential: Some("pa;ss,word".into()),
                },
            ]
        );
        assert_eq!(ice_servers("<turns:t.example:443>;rel=ice-server").len(), 1);
        assert!(ice_servers("garbage, <stun:x>; rel=\"next\"").is_empty());
        let mut reply = created("v=0\r\n");
        reply.links = vec![
            "<stun:a>; rel=\"ice-server\"".into(),
            "<stun:b>; rel=\"ice-server\"".into(),
        ];
        assert_eq!(accept_post(&url(), &reply).unwrap().ice_servers.len(), 2);
    }

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\na=group:BUNDLE 0 1\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretpwd\r\na=candidate:1 1 udp 2130706431 10.77.0.2 5000 typ host\r\na=end-of-candidates\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretpwd\r\n";

    #[test]
    fn credentials_mid_and_candidates_come_from_the_sdp() {
        assert_eq!(
            ice_credentials(OFFER),
            Some(("abcd".into(), "secretpwd".into()))
        );
        assert_eq!(first_mid(OFFER).as_deref(), Some("0"));
        assert_eq!(
            candidates_in(OFFER),
            vec!["candidate:1 1 udp 2130706431 10.77.0.2 5000 typ host"]
        );
        assert_eq!(ice_credentials("v=0\r\n"), None);
    }

    #[test]
    fn candidates_come_from_the_json_init() {
        let json = r#"{"candidate":"candidate:1 1 udp 2130706431 10.77.0.2 5000 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
        assert_eq!(
            candidate_attribute(json).as_deref(),
            Some("candidate:1 1 udp 2130706431 10.77.0.2 5000 typ host")
        );
        assert_eq!(candidate_attribute(r#"{"candidate":""}"#), None);
        assert_eq!(candidate_attribute("not json"), None);
    }

    #[test]
    fn sdpfrag_has_credentials_one_media_section_and_candidates() {
        let frag = sdpfrag(
            "u1",
            "p1",
            "0",
            &["candidate:1 1 udp 1 10.0.0.1 9 typ host".into()],
            true,
        );
        assert_eq!(
            frag,
            "a=ice-ufrag:u1\r\na=ice-pwd:p1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 1 10.0.0.1 9 typ host\r\na=end-of-candidates\r\n"
        );
        assert!(!sdpfrag("u", "p", "0", &[], false).contains("end-of-candidates"));
    }

    #[test]
    fn an_ice_restart_swaps_the_servers_credentials() {
        let answer = OFFER;
        let restarted =
            restarted_answer(answer, "a=ice-ufrag:NEW\r\na=ice-pwd:NEWPWD\r\n").unwrap();
        assert_eq!(
            ice_credentials(&restarted),
            Some(("NEW".into(), "NEWPWD".into()))
        );
        assert!(!restarted.contains("abcd") && !restarted.contains("secretpwd"));
        // No candidates in the fragment: the old ones stay.
        assert_eq!(candidates_in(&restarted), candidates_in(answer));
        let with = restarted_answer(
            answer,
            "a=ice-ufrag:N\r\na=ice-pwd:P\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:9 1 udp 5 10.77.0.1 6000 typ host\r\n",
        )
        .unwrap();
        assert_eq!(
            candidates_in(&with),
            vec!["candidate:9 1 udp 5 10.77.0.1 6000 typ host"]
        );
        assert!(with.find("a=candidate:9").unwrap() > with.find("a=mid:0").unwrap());
        assert!(with.find("a=candidate:9").unwrap() < with.find("m=audio").unwrap());
        assert_eq!(
            restarted_answer(answer, "Restart error")
                .unwrap_err()
                .to_onair()
                .code,
            ErrorCode::PlatformError
        );
    }
}
