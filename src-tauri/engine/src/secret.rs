//! The one kind of value Onair must never print: stream keys, bearer tokens,
//! API secrets. Debug and Display show a mask; only `expose` gives the text,
//! so every place that needs the real value is easy to find and review.
//!
//! Copies share one allocation that is wiped when the last copy is dropped,
//! and every secret is known to the process-wide masking registry from the
//! moment it exists, so a layer that prints words from outside (a server's
//! refusal, a platform's error) can mask it without being told about it.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use zeroize::Zeroizing;

#[derive(Clone)]
pub struct Secret(Arc<Zeroizing<String>>);

/// Every live secret of this process, held weakly: a dropped secret is wiped
/// and leaves the registry with it.
static REGISTRY: Mutex<Vec<Weak<Zeroizing<String>>>> = Mutex::new(Vec::new());
const MIN_REGISTERED: usize = 6;

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let secret = Secret(Arc::new(Zeroizing::new(value.into())));
        // A very short value would mask ordinary words; the session's own
        // masking layer still knows those it was given.
        if secret.0.len() >= MIN_REGISTERED {
            let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
            registry.retain(|w| w.strong_count() > 0);
            registry.push(Arc::downgrade(&secret.0));
        }
        secret
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
        text.replace(self.0.as_str(), &self.masked())
    }
}

/// `text` with every secret this process holds masked: the last guard
/// before words leave for an event, a log line or a panic message.
pub fn mask_known(text: &str) -> String {
    let live: Vec<Secret> = {
        let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry
            .iter()
            .filter_map(|w| w.upgrade().map(Secret))
            .collect()
    };
    // Longest first, so a secret that contains another is masked whole.
    let mut live = live;
    live.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
    live.iter()
        .fold(text.to_string(), |text, s| s.mask_in(&text))
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Secret {}

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
        Secret::new(value)
    }
}

/// Keeps secrets out of crash dumps: no core file, and the process is not
/// dumpable (nor attachable by another process of the same user). The C
/// media code (openh264, fdk-aac, libopus) runs in this process with keys in
/// memory; a crash must not write them to disk. Both binaries call this first.
pub fn harden_process() {
    #[cfg(unix)]
    unsafe {
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &none);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    // A panic's words pass the same mask as every other output.
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::capture();
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        eprintln!(
            "thread '{name}' {}\n{backtrace}",
            mask_known(&info.to_string())
        );
    }));
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

    #[test]
    fn copies_share_one_value() {
        let a = Secret::new("shared-value-0001");
        let b = a.clone();
        assert!(std::ptr::eq(a.expose(), b.expose()));
    }

    #[test]
    fn every_live_secret_is_masked_without_being_registered_by_hand() {
        let token = Secret::new("refreshed-token-abcdef-4711");
        let said = "server said: refreshed-token-abcdef-4711 is old";
        assert!(!mask_known(said).contains("abcdef-4711"));
        drop(token);
        // Gone and wiped: nothing left to match (and nothing kept alive).
        assert!(mask_known(said).contains("abcdef-4711"));
    }

    #[test]
    fn a_dropped_secret_is_wiped() {
        let secret = Secret::new("wipe-me-please-0123");
        let weak = Arc::downgrade(&secret.0);
        drop(secret);
        assert!(weak.upgrade().is_none());
    }
}
