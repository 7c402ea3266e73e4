//! The one kind of value Onair must never print: stream keys, bearer tokens,
//! API secrets. Debug and Display show a mask; only `expose` gives the text,
//! so every place that needs the real value is easy to find and review.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The real value. Call it only where the secret leaves for its server
    /// or the keychain, never to build a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A mask that says a secret is there without saying anything about it
    /// beyond its last two characters once it is long enough to spare them.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() < 12 {
            return "••••••••".to_string();
        }
        let tail: String = chars[chars.len() - 2..].iter().collect();
        format!("••••••••{tail}")
    }

    /// `text` with every occurrence of the secret replaced by its mask: for
    /// words that come from outside (a server's refusal, a platform's
    /// error), which may echo the secret back.
    pub fn mask_in(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_string();
        }
        text.replace(&self.0, &self.masked())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let key = Secret::new("live_123456789_abcdefXYZ");
        for shown in [format!("{key}"), format!("{key:?}"), format!("{key:#?}")] {
            assert!(!shown.contains("live_123456789"), "{shown}");
            assert!(!shown.contains("abcdef"), "{shown}");
        }
        assert_eq!(key.expose(), "live_123456789_abcdefXYZ");
    }

    #[test]
    fn short_secrets_show_no_tail() {
        assert_eq!(Secret::new("abc").masked(), "••••••••");
    }
}
