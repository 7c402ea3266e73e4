//! The platform's part of one Go Live, as a machine with no I/O: which hook
//! to call next, what an answer means, and the promise that a platform
//! session Onair opened is ended exactly once. The session runner performs
//! the calls; tests drive every path by hand.

use std::collections::BTreeMap;

use serde_json::Value;

use super::hooks::{as_text, READ_KEY, READ_LIVE, READ_TOKEN, READ_URL, READ_VIEWERS};
use crate::error::{ErrorCode, OnairError};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// End a session a crash left open (from the journal).
    EndStale,
    Start,
    /// Start answered 409: end the stuck session, then start once more.
    ClearConflict,
    Token,
    Ingress,
    End,
    /// The status hook (read by the poller, not by the flow).
    Status,
}

impl Step {
    fn purpose(self) -> &'static str {
        match self {
            Step::Start => "start the session",
            Step::Token => "give a LiveKit token",
            Step::Ingress => "give an ingest URL and stream key",
            Step::Status => "say whether the stream is live",
            Step::EndStale | Step::ClearConflict | Step::End => "end the session",
        }
    }
}

/// How a call ended once the HTTP layer gave up retrying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// None when the platform never answered.
    pub status: Option<u16>,
    /// What went wrong, secret-free: the platform's own error text or the
    /// network's.
    pub detail: String,
}

pub type Answer = Result<BTreeMap<String, Value>, CallFailure>;

#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Call(Step),
    /// Everything the connection needs is known.
    Ready,
    Failed(OnairError),
}

/// Which hooks the destination declares, and which the sink needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Declared {
    pub start: bool,
    pub end: bool,
    pub token: bool,
    /// Ask for an ingest URL and key: declared, and no key kept yet.
    pub ingress: bool,
}

pub struct Flow {
    declared: Declared,
    stale: Option<BTreeMap<String, String>>,
    values: BTreeMap<String, Value>,
    conflict_cleared: bool,
    /// A platform session exists that Onair opened: end is owed.
    end_owed: bool,
    notes: Vec<String>,
}

/// What the connection takes from the platform.
#[derive(Debug, Clone, Default)]
pub struct Obtained {
    pub token: Option<Secret>,
    pub url: Option<String>,
    pub key: Option<Secret>,
}

/// Names only: the values hold the platform's token and ingest key.
impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("declared", &self.declared)
            .field(
                "stale",
                &self.stale.as_ref().map(|s| s.keys().collect::<Vec<_>>()),
            )
            .field("values", &self.values.keys().collect::<Vec<_>>())
            .field("conflict_cleared", &self.conflict_cleared)
            .field("end_owed", &self.end_owed)
            .finish()
    }
}

impl Flow {
    /// `stale`: what the journal kept of a session a crash left open.
    pub fn new(declared: Declared, stale: Option<BTreeMap<String, String>>) -> Self {
        Flow {
            declared,
            stale,
            values: BTreeMap::new(),
            conflict_cleared: false,
            end_owed: false,
            notes: Vec::new(),
        }
    }

    pub fn begin(&mut self) -> Next {
        if self.stale.is_some() && self.declared.end {
            return Next::Call(Step::EndStale);
        }
        self.stale = None;
        self.first_call()
    }

    fn first_call(&mut self) -> Next {
        if self.declared.start {
            Next::Call(Step::Start)
        } else {
            self.after_start()
        }
    }

    fn after_start(&mut self) -> Next {
        if self.declared.token {
            Next::Call(Step::Token)
        } else if self.declared.ingress {
            Next::Call(Step::Ingress)
        } else {
            self.ready()
        }
    }

    fn ready(&mut self) -> Next {
        // Without a start hook the platform's session is the stream itself:
        // once we go on, the end hook is owed all the same.
        if !self.declared.start {
            self.end_owed = self.declared.end;
        }
        Next::Ready
    }

    pub fn on_answer(&mut self, step: Step, answer: Answer) -> Next {
        match (step, answer) {
            (Step::EndStale, result) => {
                self.notes.push(match result {
                    Ok(_) => "Ended the platform session that an earlier crash left open.".into(),
                    Err(f) => format!(
                        "Could not end the platform session an earlier crash left open ({}); going on.",
                        describe(&f)
                    ),
                });
                self.stale = None;
                self.first_call()
            }
            (Step::Start, Ok(values)) => {
                self.end_owed = self.declared.end;
                self.values.extend(values);
                self.after_start()
            }
            (Step::Start, Err(f))
                if f.status == Some(409) && self.declared.end && !self.conflict_cleared =>
            {
                self.conflict_cleared = true;
                Next::Call(Step::ClearConflict)
            }
            (Step::ClearConflict, Ok(_)) => {
                self.notes.push(
                    "The platform still had an earlier session open (409); Onair ended it and started a new one.".into(),
                );
                Next::Call(Step::Start)
            }
            (Step::Token, Ok(values)) => {
                if !values.contains_key(READ_TOKEN) {
                    return Next::Failed(missing(step, READ_TOKEN));
                }
                self.values.extend(values);
                self.ready()
            }
            (Step::Ingress, Ok(values)) => {
                for needed in [READ_URL, READ_KEY] {
                    if !values.contains_key(needed) {
                        return Next::Failed(missing(step, needed));
                    }
                }
                self.values.extend(values);
                self.ready()
            }
            (Step::End | Step::Status, _) => Next::Ready,
            (step, Err(f)) => Next::Failed(failure(step, &f)),
        }
    }

    /// Stop interrupted `step` before its answer came. A start may have
    /// opened the session on the platform's side all the same, so the end
    /// hook is owed; any later step already owes it (or never will).
    pub fn on_cancelled(&mut self, step: Step) {
        if step == Step::Start {
            self.end_owed = self.declared.end;
        }
    }

    /// The end hook, at most once, and only when a session is owed one.
    pub fn teardown(&mut self) -> Option<Step> {
        std::mem::take(&mut self.end_owed).then_some(Step::End)
    }

    /// Whether a platform session is open that the journal must remember.
    pub fn end_owed(&self) -> bool {
        self.end_owed
    }

    /// Notes for the creator (a stale session ended, a conflict cleared).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// Values later templates and the end hook may use: never the token,
    /// the key or a status reading.
    pub fn captures(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter(|(name, _)| {
                ![READ_TOKEN, READ_KEY, READ_URL, READ_LIVE, READ_VIEWERS].contains(&name.as_str())
            })
            .map(|(name, value)| (name.clone(), as_text(value)))
            .collect()
    }

    /// The stale session's values, for the end hook that closes it.
    pub fn stale_captures(&self) -> Option<&BTreeMap<String, String>> {
        self.stale.as_ref()
    }

    pub fn obtained(&self) -> Obtained {
        let text = |name: &str| self.values.get(name).map(as_text);
        Obtained {
            token: text(READ_TOKEN).map(Secret::new),
            url: text(READ_URL),
            key: text(READ_KEY).map(Secret::new),
        }
    }
}

fn describe(f: &CallFailure) -> String {
    match f.status {
        Some(status) => format!("HTTP {status}: {}", f.detail),
        None => f.detail.clone(),
    }
}

/// A failed step as the creator reads it.
pub fn failure(step: Step, f: &CallFailure) -> OnairError {
    let purpose = step.purpose();
    match f.status {
        None => OnairError::new(
            ErrorCode::PlatformError,
            format!(
                "Onair could not reach your platform to {purpose} ({}). Check that the platform is up, then go live again.",
                f.detail
            ),
        ),
        Some(401 | 403) => OnairError::new(
            ErrorCode::AuthFailed,
            format!(
                "Your platform refused Onair's credentials when asked to {purpose} (HTTP {}). Check the platform token saved for this destination.",
                f.status.unwrap_or_default()
            ),
        ),
        Some(409) => OnairError::new(
            ErrorCode::PlatformError,
            format!(
                "Your platform says a session is already running (HTTP 409: {}), and Onair could not end it. End it on the platform, then go live again.",
                f.detail
            ),
        ),
        Some(status) => OnairError::new(
            ErrorCode::PlatformError,
            format!(
                "Your platform could not {purpose} (HTTP {status}: {}). Try again; if it keeps failing, the platform needs a look.",
                f.detail
            ),
        ),
    }
}

fn missing(step: Step, name: &str) -> OnairError {
    OnairError::new(
        ErrorCode::PlatformError,
        format!(
            "Your platform's answer when asked to {} had no {name}. The destination's hooks may not match the platform any more.",
            step.purpose()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL: Declared = Declared {
        start: true,
        end: true,
        token: true,
        ingress: false,
    };

    fn ok(pairs: &[(&str, Value)]) -> Answer {
        Ok(pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect())
    }

    fn status(code: u16) -> Answer {
        Err(CallFailure {
            status: Some(code),
            detail: "nope".into(),
        })
    }

    fn down() -> Answer {
        Err(CallFailure {
            status: None,
            detail: "connection refused".into(),
        })
    }

    #[test]
    fn start_then_token_then_ready_and_end_once() {
        let mut flow = Flow::new(ALL, None);
        assert_eq!(flow.begin(), Next::Call(Step::Start));
        assert_eq!(
            flow.on_answer(Step::Start, ok(&[("session_id", json!("ses_1"))])),
            Next::Call(Step::Token)
        );
        assert_eq!(
            flow.on_answer(
                Step::Token,
                ok(&[("token", json!("jwt")), ("url", json!("ws://lk"))])
            ),
            Next::Ready
        );
        let got = flow.obtained();
        assert_eq!(got.token.unwrap().expose(), "jwt");
        assert_eq!(got.url.as_deref(), Some("ws://lk"));
        assert_eq!(
            flow.captures(),
            BTreeMap::from([("session_id".to_string(), "ses_1".to_string())]),
            "the token never becomes a capture"
        );
        assert_eq!(flow.teardown(), Some(Step::End));
        assert_eq!(flow.teardown(), None, "end exactly once");
    }

    #[test]
    fn debug_shows_names_not_tokens() {
        let mut flow = Flow::new(ALL, None);
        flow.begin();
        flow.on_answer(Step::Start, ok(&[("session_id", json!("ses_1"))]));
        flow.on_answer(
            Step::Token,
            ok(&[
                ("token", json!("eyJ-secret-jwt")),
                ("url", json!("wss://lk")),
            ]),
        );
        let shown = format!("{flow:?} {flow:#?}");
        assert!(!shown.contains("eyJ-secret-jwt"), "{shown}");
        assert!(!shown.contains("ses_1"), "{shown}");
        assert!(shown.contains("token"), "{shown}");
    }

    #[test]
    fn stop_during_start_still_owes_the_end_hook() {
        // The platform may have opened the session before the answer was
        // lost to Stop: end it once, as if start had answered.
        let mut flow = Flow::new(ALL, None);
        assert_eq!(flow.begin(), Next::Call(Step::Start));
        flow.on_cancelled(Step::Start);
        assert!(flow.end_owed());
        assert_eq!(flow.teardown(), Some(Step::End));
        assert_eq!(flow.teardown(), None);
    }

    #[test]
    fn stop_before_anything_was_started_owes_nothing() {
        let mut flow = Flow::new(ALL, Some(BTreeMap::new()));
        assert_eq!(flow.begin(), Next::Call(Step::EndStale));
        flow.on_cancelled(Step::EndStale);
        assert_eq!(flow.teardown(), None);
    }

    #[test]
    fn a_409_ends_the_stuck_session_and_starts_once_more() {
        let mut flow = Flow::new(ALL, None);
        flow.begin();
        assert_eq!(
            flow.on_answer(Step::Start, status(409)),
            Next::Call(Step::ClearConflict)
        );
        assert_eq!(
            flow.on_answer(Step::ClearConflict, ok(&[])),
            Next::Call(Step::Start)
        );
        assert_eq!(flow.take_notes().len(), 1, "the creator is told");
        // A second 409 is not cleared again.
        let Next::Failed(e) = flow.on_answer(Step::Start, status(409)) else {
            panic!("a second conflict must fail");
        };
        assert_eq!(e.code, ErrorCode::PlatformError);
        assert!(e.message.contains("409"), "{}", e.message);
        assert_eq!(flow.teardown(), None, "no session was opened");
    }

    #[test]
    fn a_failure_after_start_still_owes_the_end() {
        let mut flow = Flow::new(ALL, None);
        flow.begin();
        flow.on_answer(Step::Start, ok(&[]));
        let Next::Failed(e) = flow.on_answer(Step::Token, status(500)) else {
            panic!("token failure must fail");
        };
        assert!(e.message.contains("HTTP 500"), "{}", e.message);
        assert_eq!(flow.teardown(), Some(Step::End));
        assert_eq!(flow.teardown(), None);
    }

    #[test]
    fn a_platform_that_is_down_fails_before_anything_is_owed() {
        let mut flow = Flow::new(ALL, None);
        flow.begin();
        let Next::Failed(e) = flow.on_answer(Step::Start, down()) else {
            panic!("must fail");
        };
        assert_eq!(e.code, ErrorCode::PlatformError);
        assert!(e.message.contains("connection refused"));
        assert_eq!(flow.teardown(), None);
    }

    #[test]
    fn refused_credentials_are_auth_failed_and_other_4xx_are_not_retried() {
        for (code, expected) in [
            (401, ErrorCode::AuthFailed),
            (403, ErrorCode::AuthFailed),
            (400, ErrorCode::PlatformError),
        ] {
            let mut flow = Flow::new(ALL, None);
            flow.begin();
            let Next::Failed(e) = flow.on_answer(Step::Start, status(code)) else {
                panic!("{code} must fail");
            };
            assert_eq!(e.code, expected, "{code}");
        }
    }

    #[test]
    fn a_stale_session_from_the_journal_is_ended_first() {
        let stale = BTreeMap::from([("session_id".to_string(), "old".to_string())]);
        let mut flow = Flow::new(ALL, Some(stale));
        assert_eq!(flow.begin(), Next::Call(Step::EndStale));
        assert_eq!(
            flow.stale_captures().unwrap()["session_id"],
            "old".to_string()
        );
        assert_eq!(
            flow.on_answer(Step::EndStale, ok(&[])),
            Next::Call(Step::Start)
        );
        assert!(flow.take_notes()[0].contains("crash"));
    }

    #[test]
    fn an_ingress_platform_needs_both_url_and_key() {
        let declared = Declared {
            ingress: true,
            ..Declared::default()
        };
        let mut flow = Flow::new(declared, None);
        assert_eq!(flow.begin(), Next::Call(Step::Ingress));
        let Next::Failed(e) = flow.on_answer(Step::Ingress, ok(&[("url", json!("rtmp://x"))]))
        else {
            panic!("a missing key must fail");
        };
        assert!(e.message.contains("key"));
        let mut flow = Flow::new(declared, None);
        flow.begin();
        assert_eq!(
            flow.on_answer(
                Step::Ingress,
                ok(&[("url", json!("rtmp://x/live")), ("key", json!("sk_1"))])
            ),
            Next::Ready
        );
        assert_eq!(flow.obtained().key.unwrap().expose(), "sk_1");
        assert_eq!(flow.teardown(), None, "no end hook declared");
    }

    #[test]
    fn without_a_start_hook_the_end_hook_is_owed_once_ready() {
        let declared = Declared {
            end: true,
            ..Declared::default()
        };
        let mut flow = Flow::new(declared, None);
        assert_eq!(flow.begin(), Next::Ready);
        assert!(flow.end_owed());
        assert_eq!(flow.teardown(), Some(Step::End));
    }
}
