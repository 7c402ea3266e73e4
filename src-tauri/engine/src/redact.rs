//! URLs as they may be shown: an RTMP stream key path segment, credentials
//! (userinfo) and secret-bearing query parameters are masked. Every URL that
//! reaches a log line, an error or `--json` goes through `redact_url`.
//! WHIP messages also mask path segments that look like keys
//! (`redact_key_segments`): some services put the stream key in the path.

const MASK: &str = "••••";

/// Query parameters whose values are secrets.
const SECRET_QUERY_KEYS: &[&str] = &[
    "access_token",
    "token",
    "key",
    "streamkey",
    "stream_key",
    "secret",
    "password",
    "auth",
    "sig",
    "signature",
];

/// Masks the secret parts of `url`. For rtmp(s) every path segment after the
/// application name is treated as a key, because that is where creators'
/// pasted URLs carry it (`rtmp://host/app/KEY`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (before_fragment, fragment) = match rest.split_once('#') {
        Some((a, _)) => (a, Some(MASK)),
        None => (rest, None),
    };
    let (before_query, query) = match before_fragment.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (before_fragment, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{MASK}@{host}"),
        None => authority.to_string(),
    };
    // A pasted URL may start with a stray newline or space: it is still RTMP
    // (split_key trims it), so its key must still be masked.
    let is_rtmp = matches!(
        scheme.trim().to_ascii_lowercase().as_str(),
        "rtmp" | "rtmps"
    );
    let path = if is_rtmp {
        redact_rtmp_path(path)
    } else {
        path.to_string()
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query, is_rtmp));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

fn redact_rtmp_path(path: &str) -> String {
    // "/app/KEY/more" → "/app/••••/••••"; "/app" and "/app/" stay as they are.
    let mut segments = path.split('/').skip(1);
    let mut out = String::new();
    if let Some(app) = segments.next() {
        out.push('/');
        out.push_str(app);
    }
    for segment in segments {
        out.push('/');
        if !segment.is_empty() {
            out.push_str(MASK);
        }
    }
    out
}

/// A path with every segment that looks like a key masked; the rest (the
/// service's own words: `/whip`, `/v1/publish`) stays readable.
pub fn redact_key_segments(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if looks_like_key(segment) {
                MASK
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Long, in URL-safe characters, letters mixed with digits: generated
/// (a stream key, a token), not a word someone chose for a path. Ids of
/// that shape are masked too; they say little to a creator anyway.
fn looks_like_key(segment: &str) -> bool {
    segment.len() >= 20
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~%=+".contains(c))
        && segment.chars().any(|c| c.is_ascii_digit())
        && segment.chars().any(|c| c.is_ascii_alphabetic())
}

fn redact_query(query: &str, mask_all: bool) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if mask_all || is_secret_query_key(name) => format!("{name}={MASK}"),
            Some(_) => pair.to_string(),
            None if mask_all => MASK.to_string(),
            None => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_query_key(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_QUERY_KEYS.contains(&name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_key_segments_are_masked() {
        assert_eq!(
            redact_url("rtmp://live.example.com/app/sk_live_abc123"),
            "rtmp://live.example.com/app/••••"
        );
        assert_eq!(
            redact_url("rtmps://host:443/live2/a/b?x=1"),
            "rtmps://host:443/live2/••••/••••?x=••••"
        );
        assert_eq!(redact_url("rtmp://host/app"), "rtmp://host/app");
        assert_eq!(redact_url("rtmp://host/app/"), "rtmp://host/app/");
    }

    #[test]
    fn tokens_and_userinfo_are_masked() {
        assert_eq!(
            redact_url("wss://lk.example/rtc?access_token=eyJhbGc&auto_subscribe=1"),
            "wss://lk.example/rtc?access_token=••••&auto_subscribe=1"
        );
        assert_eq!(
            redact_url("https://user:pa55@api.example/status?id=7"),
            "https://••••@api.example/status?id=7"
        );
    }

    #[test]
    fn text_that_is_not_a_url_is_left_alone() {
        assert_eq!(redact_url("file:out.flv"), "file:out.flv");
    }

    #[test]
    fn a_key_after_a_stray_newline_is_still_masked() {
        // Found by the destination_url fuzz target.
        let shown = redact_url("\r\nrtmp://ingest.example/live/sk_live_0123");
        assert!(!shown.contains("sk_live_0123"), "{shown}");
    }

    #[test]
    fn key_shaped_path_segments_are_masked() {
        // Cloudflare-style: the key is a path segment before the endpoint's words.
        assert_eq!(
            redact_key_segments("/3f9a1c0b7e2d4a6f8b1c2d3e4f5a6b7c/webRTC/publish"),
            "/••••/webRTC/publish"
        );
        assert_eq!(
            redact_key_segments("/webrtc/sk_live_0123456789abcdef"),
            "/webrtc/••••"
        );
        // Words and short ids stay readable.
        for path in [
            "/whip/endpoint/onair",
            "/v1/sessions/ses_1/end",
            "/api/whip/my-show-endpoint-name",
            "",
            "/",
        ] {
            assert_eq!(redact_key_segments(path), path);
        }
    }
}
