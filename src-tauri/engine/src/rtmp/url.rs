//! RTMP URLs as creators paste them: `rtmp(s)://host[:port]/app[/more][?query]`,
//! sometimes with the stream key as the last path segment.

use crate::destination::{DestinationKind, Scheme};
use crate::secret::Secret;

/// Where to publish, split the way the RTMP `connect` command wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The application: the path (without the key) plus any query, as ingest
    /// servers expect it in `connect`.
    pub app: String,
    /// The URL without the key: `connect`'s tcUrl.
    pub tc_url: String,
    /// The key, when it came inside the URL rather than from the keychain.
    pub key_in_url: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is not rtmp:// or rtmps://")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the port is not a number between 1 and 65535")]
    Port,
    #[error("the URL has no application path (rtmp://host/app)")]
    NoApp,
}

impl RtmpUrl {
    /// Parses `url`. With `key_given` false, a key pasted into the URL is
    /// split off by `split_pasted_key`; with a key from elsewhere every path
    /// segment is the application.
    pub fn parse(url: &str, key_given: bool) -> Result<RtmpUrl, UrlError> {
        let url = url.trim();
        let (name, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
        let scheme = Scheme::named(name)
            .filter(|s| s.kind == DestinationKind::Rtmp)
            .ok_or(UrlError::Scheme)?;
        let parts = split_pasted_key(rest);
        let authority = parts
            .authority
            .rsplit_once('@')
            .map_or(parts.authority, |(_, h)| h);
        let default_port = scheme.default_port.unwrap_or(1935);
        let (host, port) = split_host_port(authority, default_port)?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let (app, key_in_url) = match key_given {
            false => (parts.app, parts.key.map(Secret::new)),
            true => (parts.whole_path, None),
        };
        if app.is_empty() || app.starts_with('?') {
            return Err(UrlError::NoApp);
        }
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let tc_url = format!("{name}://{shown_host}:{port}/{app}");
        Ok(RtmpUrl {
            tls: scheme.tls,
            host,
            port,
            app,
            tc_url,
            key_in_url,
        })
    }
}

/// An RTMP URL's text after `scheme://`, read the one way Onair reads a key
/// pasted into it (the keys store when it saves, the client when it sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastedKey<'a> {
    /// Up to the first `/` or `?`.
    pub authority: &'a str,
    /// The application, with the query when no key took it: `app`, `app?x=1`.
    pub app: String,
    /// Everything after the application, with the query: `KEY`, `a/KEY?x=1`.
    pub key: Option<String>,
    /// Every path segment and the query, for when the key came from elsewhere.
    pub whole_path: String,
}

/// The rule for a key pasted into an RTMP URL. Empty path segments (a
/// doubled or trailing slash) are typos and dropped. The first segment is
/// the application; all the others, with the query after them, are the key,
/// because that is how platforms hand it out: `live2/abcd-efgh`, and
/// Facebook's `rtmp/FB-...?s_bl=1&a=...` whose query is part of the key.
/// Without a second segment there is no key and the query stays with the
/// application. `redact_url` masks exactly what this calls the key.
pub fn split_pasted_key(after_scheme: &str) -> PastedKey<'_> {
    let end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query).filter(|q| !q.is_empty())),
        None => (rest, None),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let with_query = |text: String| match query {
        Some(query) => format!("{text}?{query}"),
        None => text,
    };
    let whole_path = with_query(segments.join("/"));
    match segments.split_first() {
        Some((app, key)) if !key.is_empty() => PastedKey {
            authority,
            app: app.to_string(),
            key: Some(with_query(key.join("/"))),
            whole_path,
        },
        _ => PastedKey {
            authority,
            app: whole_path.clone(),
            key: None,
            whole_path,
        },
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), UrlError> {
    // [v6]:port, host:port, or host alone.
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::NoHost)?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None => default_port,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_string(), parse_port(port)?)),
        None => Ok((authority.to_string(), default_port)),
    }
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or(UrlError::Port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_and_plain_app() {
        let u = RtmpUrl::parse("rtmp://live.example.com/app", false).unwrap();
        assert_eq!((u.tls, u.port, u.app.as_str()), (false, 1935, "app"));
        assert_eq!(u.tc_url, "rtmp://live.example.com:1935/app");
        assert_eq!(u.key_in_url, None);
        let u = RtmpUrl::parse("rtmps://live.example.com/app", true).unwrap();
        assert_eq!((u.tls, u.port), (true, 443));
    }

    #[test]
    fn a_key_in_the_url_is_split_off_when_none_was_given() {
        let u = RtmpUrl::parse("rtmp://127.0.0.1:1940/live/sk_abc", false).unwrap();
        assert_eq!(u.app, "live");
        assert_eq!(u.tc_url, "rtmp://127.0.0.1:1940/live");
        assert_eq!(u.key_in_url.unwrap().expose(), "sk_abc");
        // With a key from the keychain, every segment is the application.
        let u = RtmpUrl::parse("rtmp://h/live/sub", true).unwrap();
        assert_eq!((u.app.as_str(), u.key_in_url), ("live/sub", None));
    }

    #[test]
    fn the_query_stays_with_the_application() {
        let u = RtmpUrl::parse("rtmps://h:4443/app/inst?token=x&a=1", true).unwrap();
        assert_eq!(u.app, "app/inst?token=x&a=1");
        assert_eq!(u.tc_url, "rtmps://h:4443/app/inst?token=x&a=1");
        let u = RtmpUrl::parse("rtmp://[::1]:1935/live?x=1", false).unwrap();
        assert_eq!((u.host.as_str(), u.app.as_str()), ("::1", "live?x=1"));
        assert_eq!(u.tc_url, "rtmp://[::1]:1935/live?x=1");
        // After a pasted key, the query is the key's (Facebook's keys have one).
        let u = RtmpUrl::parse("rtmp://[::1]:1935/live/KEY?x=1", false).unwrap();
        assert_eq!((u.host.as_str(), u.app.as_str()), ("::1", "live"));
        assert_eq!(u.key_in_url.unwrap().expose(), "KEY?x=1");
    }

    #[test]
    fn malformed_urls_say_what_is_wrong() {
        assert_eq!(RtmpUrl::parse("http://h/app", true), Err(UrlError::Scheme));
        assert_eq!(RtmpUrl::parse("rtmp:///app", true), Err(UrlError::NoHost));
        assert_eq!(
            RtmpUrl::parse("rtmp://h:99999/app", true),
            Err(UrlError::Port)
        );
        assert_eq!(RtmpUrl::parse("rtmp://h", true), Err(UrlError::NoApp));
        assert_eq!(RtmpUrl::parse("rtmp://h/", false), Err(UrlError::NoApp));
    }
}

/// The keys module (what is saved) and the RTMP client (what is sent) must
/// split a key pasted into a URL the same way. These are the URLs on which
/// they used to disagree.
#[cfg(test)]
mod one_key_rule {
    use super::RtmpUrl;
    use crate::keys::url::split_key;

    /// (pasted URL, URL without the key, the key)
    const CASES: &[(&str, &str, Option<&str>)] = &[
        // Facebook's keys carry a query: it belongs to the key.
        (
            "rtmps://live-api-s.facebook.com:443/rtmp/FB-1-0-Ab?s_bl=1&a=Xy",
            "rtmps://live-api-s.facebook.com:443/rtmp",
            Some("FB-1-0-Ab?s_bl=1&a=Xy"),
        ),
        // Everything after the application is the key.
        ("rtmp://h/app/inst/KEY", "rtmp://h/app", Some("inst/KEY")),
        // Doubled or trailing slashes are typos, not part of the key.
        ("rtmp://h/app//KEY/", "rtmp://h/app", Some("KEY")),
        ("rtmp://h//app/KEY", "rtmp://h/app", Some("KEY")),
        // No key segment: the query stays with the application.
        ("rtmp://h/app/?x=1", "rtmp://h/app?x=1", None),
        ("rtmp://h/app?x=1", "rtmp://h/app?x=1", None),
    ];

    #[test]
    fn the_keys_module_and_the_client_split_alike() {
        let mut wrong = Vec::new();
        for (url, without, key) in CASES {
            let saved = split_key(url);
            let saved_key = saved.key.as_ref().map(|k| k.expose());
            if (saved.url.as_str(), saved_key) != (*without, *key) {
                wrong.push(format!("keys: {url} -> {} + {saved_key:?}", saved.url));
            }
            let sent = RtmpUrl::parse(url, false).unwrap();
            let sent_key = sent.key_in_url.as_ref().map(|k| k.expose());
            // The client connects to what the keys module saves.
            let saved_app = RtmpUrl::parse(without, true).unwrap().app;
            if (sent.app.as_str(), sent_key) != (saved_app.as_str(), *key) {
                wrong.push(format!("rtmp: {url} -> app {} + {sent_key:?}", sent.app));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn what_the_rule_calls_the_key_is_what_redaction_masks() {
        for (url, _, key) in CASES {
            let shown = crate::redact::redact_url(url);
            let path = key.map_or("", |k| k.split('?').next().unwrap_or(k));
            for piece in path.split('/').filter(|p| !p.is_empty()) {
                assert!(!shown.contains(piece), "{url} -> {shown}");
            }
        }
    }
}
