//! RTMP URLs as creators paste them: `rtmp(s)://host[:port]/app[/more][?query]`,
//! sometimes with the stream key as the last path segment.

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
    /// Parses `url`. With `key_given` false, a path of two or more segments
    /// carries the key in its last one, which is split off.
    pub fn parse(url: &str, key_given: bool) -> Result<RtmpUrl, UrlError> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or(UrlError::Scheme)?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "rtmp" => false,
            "rtmps" => true,
            _ => return Err(UrlError::Scheme),
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, ""),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(authority, if tls { 443 } else { 1935 })?;
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut key_in_url = None;
        if !key_given && segments.len() >= 2 {
            key_in_url = segments.pop().map(Secret::new);
        }
        if segments.is_empty() {
            return Err(UrlError::NoApp);
        }
        let mut app = segments.join("/");
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            app = format!("{app}?{query}");
        }
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let tc_url = format!("{scheme}://{shown_host}:{port}/{app}");
        Ok(RtmpUrl {
            tls,
            host,
            port,
            app,
            tc_url,
            key_in_url,
        })
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
        let u = RtmpUrl::parse("rtmp://[::1]:1935/live/KEY?x=1", false).unwrap();
        assert_eq!((u.host.as_str(), u.app.as_str()), ("::1", "live?x=1"));
        assert_eq!(u.tc_url, "rtmp://[::1]:1935/live?x=1");
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
