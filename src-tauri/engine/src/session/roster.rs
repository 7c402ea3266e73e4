//! Where each destination of a session stands, and what that means for the
//! session as a whole: live while any destination is live, reconnecting only
//! when none is live and some are trying again, failed only when every
//! destination has failed. Pure: the runner feeds it reports and performs
//! what it returns.

use crate::error::OnairError;
use crate::events::DestinationState;

use super::machine::Input;

/// What a member reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// Connected and publishing (the first time).
    Opened,
    Reconnecting,
    Restored,
    /// Done: media ended or Stop (Ok), or gave up (Err).
    Finished(Result<(), OnairError>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A destination's new state, to show.
    Destination {
        index: usize,
        state: DestinationState,
        error: Option<OnairError>,
    },
    /// The local recording stopped with an error; the stream goes on.
    RecordingFailed(OnairError),
    /// What it means for the session's machine.
    Session(Input),
}

#[derive(Debug, Clone)]
struct Member {
    state: DestinationState,
    /// A file on this computer (a `file:` destination or the recording):
    /// it must be open before media starts, so it misses nothing.
    local: bool,
    /// The local recording beside the destinations.
    recording: bool,
    opened: bool,
}

#[derive(Debug)]
pub struct Roster {
    members: Vec<Member>,
    media_started: bool,
    session_reconnecting: bool,
    last_error: Option<OnairError>,
}

impl Roster {
    /// `members`: per member, (local, recording).
    pub fn new(members: impl IntoIterator<Item = (bool, bool)>) -> Self {
        Roster {
            members: members
                .into_iter()
                .map(|(local, recording)| Member {
                    state: DestinationState::Connecting,
                    local,
                    recording,
                    opened: false,
                })
                .collect(),
            media_started: false,
            session_reconnecting: false,
            last_error: None,
        }
    }

    pub fn state(&self, index: usize) -> DestinationState {
        self.members[index].state
    }

    pub fn on(&mut self, index: usize, report: Report) -> Vec<Outcome> {
        let member = &mut self.members[index];
        if member.state.is_terminal() {
            return vec![];
        }
        let next = match report {
            Report::Opened => {
                member.opened = true;
                DestinationState::Live
            }
            Report::Reconnecting => DestinationState::Reconnecting,
            Report::Restored => DestinationState::Live,
            Report::Finished(Ok(())) => DestinationState::Ended,
            Report::Finished(Err(ref e)) => {
                self.last_error = Some(e.clone());
                DestinationState::Failed
            }
        };
        let mut out = Vec::new();
        if member.state != next {
            member.state = next;
            let error = match report {
                Report::Finished(Err(e)) => Some(e),
                _ => None,
            };
            match (member.recording, error) {
                (true, Some(e)) => out.push(Outcome::RecordingFailed(e)),
                (true, None) => {}
                (false, error) => out.push(Outcome::Destination {
                    index,
                    state: next,
                    error,
                }),
            }
        }
        self.session_changes(out)
    }

    fn destinations(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| !m.recording)
    }

    fn session_changes(&mut self, mut out: Vec<Outcome>) -> Vec<Outcome> {
        let any_live = self
            .destinations()
            .any(|m| m.state == DestinationState::Live);
        let any_trying = self
            .destinations()
            .any(|m| m.state == DestinationState::Reconnecting);
        let all_failed = self
            .destinations()
            .all(|m| m.state == DestinationState::Failed);
        let every_member_done = self.members.iter().all(|m| m.state.is_terminal());
        let locals_ready = self
            .members
            .iter()
            .filter(|m| m.local)
            .all(|m| m.opened || m.state.is_terminal());
        if all_failed {
            let error = self.last_error.clone().expect("a failure was reported");
            out.push(Outcome::Session(Input::Failed(error)));
        } else if every_member_done {
            out.push(Outcome::Session(Input::MediaEnded));
        } else if !self.media_started {
            if any_live && locals_ready {
                self.media_started = true;
                out.push(Outcome::Session(Input::Connected));
            }
        } else if !any_live && any_trying && !self.session_reconnecting {
            self.session_reconnecting = true;
            out.push(Outcome::Session(Input::Reconnecting));
        } else if any_live && self.session_reconnecting {
            self.session_reconnecting = false;
            out.push(Outcome::Session(Input::Restored));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use DestinationState as D;

    fn rejected() -> OnairError {
        OnairError::new(ErrorCode::KeyRejected, "wrong key")
    }

    fn sessions(out: &[Outcome]) -> Vec<Input> {
        out.iter()
            .filter_map(|o| match o {
                Outcome::Session(i) => Some(i.clone()),
                _ => None,
            })
            .collect()
    }

    fn three_streams_and_a_recording() -> Roster {
        Roster::new([(false, false), (false, false), (false, false), (true, true)])
    }

    #[test]
    fn media_starts_once_a_destination_is_live_and_the_recording_is_open() {
        let mut roster = three_streams_and_a_recording();
        assert!(
            sessions(&roster.on(1, Report::Opened)).is_empty(),
            "recording not open yet"
        );
        assert_eq!(
            sessions(&roster.on(3, Report::Opened)),
            vec![Input::Connected]
        );
        assert!(
            sessions(&roster.on(0, Report::Opened)).is_empty(),
            "joins the running session"
        );
        assert_eq!(roster.state(0), D::Live);
    }

    #[test]
    fn one_wrong_key_fails_that_destination_only() {
        let mut roster = three_streams_and_a_recording();
        roster.on(3, Report::Opened);
        roster.on(0, Report::Opened);
        let out = roster.on(2, Report::Finished(Err(rejected())));
        assert_eq!(
            out,
            vec![Outcome::Destination {
                index: 2,
                state: D::Failed,
                error: Some(rejected())
            }]
        );
        roster.on(1, Report::Opened);
        assert!(
            sessions(&roster.on(1, Report::Reconnecting)).is_empty(),
            "others are live"
        );
    }

    #[test]
    fn the_session_fails_only_when_every_destination_has() {
        let mut roster = three_streams_and_a_recording();
        roster.on(3, Report::Opened);
        for i in 0..2 {
            assert!(sessions(&roster.on(i, Report::Finished(Err(rejected())))).is_empty());
        }
        assert_eq!(
            sessions(&roster.on(2, Report::Finished(Err(rejected())))),
            vec![Input::Failed(rejected())]
        );
    }

    #[test]
    fn the_session_reconnects_only_when_no_destination_is_live() {
        let mut roster = Roster::new([(false, false), (false, false)]);
        roster.on(0, Report::Opened);
        roster.on(1, Report::Opened);
        assert!(sessions(&roster.on(0, Report::Reconnecting)).is_empty());
        assert_eq!(
            sessions(&roster.on(1, Report::Reconnecting)),
            vec![Input::Reconnecting]
        );
        assert_eq!(
            sessions(&roster.on(1, Report::Restored)),
            vec![Input::Restored]
        );
        assert!(sessions(&roster.on(0, Report::Restored)).is_empty());
    }

    #[test]
    fn a_failed_recording_is_reported_and_the_stream_goes_on() {
        let mut roster = Roster::new([(false, false), (true, true)]);
        roster.on(1, Report::Opened);
        roster.on(0, Report::Opened);
        let disk_full = OnairError::new(ErrorCode::Internal, "disk full");
        assert_eq!(
            roster.on(1, Report::Finished(Err(disk_full.clone()))),
            vec![Outcome::RecordingFailed(disk_full)]
        );
        assert_eq!(
            sessions(&roster.on(0, Report::Finished(Ok(())))),
            vec![Input::MediaEnded]
        );
    }

    #[test]
    fn late_reports_change_nothing() {
        let mut roster = Roster::new([(false, false)]);
        roster.on(0, Report::Opened);
        roster.on(0, Report::Finished(Ok(())));
        assert!(roster.on(0, Report::Restored).is_empty());
        assert_eq!(roster.state(0), D::Ended);
    }
}
