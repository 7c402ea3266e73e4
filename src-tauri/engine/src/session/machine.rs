//! The session's states and transitions, with no I/O: the runner feeds it what
//! happened and performs the actions it returns, so every path (Go Live twice,
//! Stop in any state, a failure at any step) is tested without threads.

use crate::error::OnairError;
use crate::events::SessionState;

#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    GoLive,
    Prepared,
    Connected,
    /// Preflight, connect or the live sink failed.
    Failed(OnairError),
    /// The creator pressed Stop.
    Stop,
    /// The requested duration is over.
    MediaEnded,
    /// Everything that was started has been stopped.
    Unwound,
    /// A live sink lost its connection and is trying again.
    Reconnecting,
    /// The sink is publishing again.
    Restored,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Enter(SessionState),
    /// Open devices and encoders, check the destination.
    Prepare,
    /// Open the sinks (connect, publish).
    Connect,
    StartMedia,
    /// Stop whatever was started, in reverse order. Safe to run in any state.
    Unwind,
    Fail(OnairError),
}

#[derive(Debug, Default)]
pub struct Machine {
    state: Option<SessionState>,
    failure: Option<OnairError>,
}

impl Machine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn state(&self) -> SessionState {
        self.state.unwrap_or(SessionState::Idle)
    }

    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        use Action::*;
        use SessionState as S;
        let state = self.state();
        let actions = match (state, input) {
            (S::Idle, Input::GoLive) => vec![Enter(S::Preparing), Prepare],
            (S::Preparing, Input::Prepared) => vec![Enter(S::Connecting), Connect],
            (S::Connecting, Input::Connected) => vec![StartMedia, Enter(S::Live)],
            (S::Live, Input::Reconnecting) => vec![Enter(S::Reconnecting)],
            (S::Reconnecting, Input::Restored) => vec![Enter(S::Live)],
            (S::Preparing | S::Connecting | S::Live | S::Reconnecting, Input::Failed(e)) => {
                self.failure = Some(e);
                vec![Enter(S::Stopping), Unwind]
            }
            (
                S::Preparing | S::Connecting | S::Live | S::Reconnecting,
                Input::Stop | Input::MediaEnded,
            ) => {
                vec![Enter(S::Stopping), Unwind]
            }
            // A failure while unwinding is still reported, and unwinding finishes.
            (S::Stopping, Input::Failed(e)) => {
                self.failure.get_or_insert(e);
                vec![]
            }
            (S::Stopping, Input::Unwound) => match self.failure.clone() {
                Some(e) => vec![Enter(S::Failed), Fail(e)],
                None => vec![Enter(S::Ended)],
            },
            // Go Live while a session runs, Stop twice, late reports: nothing to do.
            _ => vec![],
        };
        for action in &actions {
            if let Enter(next) = action {
                self.state = Some(*next);
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use Action::*;
    use SessionState as S;

    fn err() -> OnairError {
        OnairError::new(ErrorCode::Unreachable, "down")
    }

    fn run(inputs: Vec<Input>) -> (Machine, Vec<Action>) {
        let mut m = Machine::new();
        let actions = inputs.into_iter().flat_map(|i| m.handle(i)).collect();
        (m, actions)
    }

    #[test]
    fn the_happy_path_runs_every_step_once() {
        let (m, actions) = run(vec![
            Input::GoLive,
            Input::Prepared,
            Input::Connected,
            Input::Stop,
            Input::Unwound,
        ]);
        assert_eq!(
            actions,
            vec![
                Enter(S::Preparing),
                Prepare,
                Enter(S::Connecting),
                Connect,
                StartMedia,
                Enter(S::Live),
                Enter(S::Stopping),
                Unwind,
                Enter(S::Ended),
            ]
        );
        assert!(m.state().is_terminal());
    }

    #[test]
    fn go_live_twice_starts_once() {
        let (m, actions) = run(vec![
            Input::GoLive,
            Input::GoLive,
            Input::Prepared,
            Input::GoLive,
        ]);
        assert_eq!(actions.iter().filter(|a| **a == Prepare).count(), 1);
        assert_eq!(m.state(), S::Connecting);
    }

    #[test]
    fn stop_in_every_running_state_unwinds_and_ends() {
        let prefixes = [
            vec![Input::GoLive],
            vec![Input::GoLive, Input::Prepared],
            vec![Input::GoLive, Input::Prepared, Input::Connected],
        ];
        for prefix in prefixes {
            let mut inputs = prefix.clone();
            inputs.extend([Input::Stop, Input::Stop, Input::Unwound, Input::Stop]);
            let (m, actions) = run(inputs);
            assert_eq!(
                actions.iter().filter(|a| **a == Unwind).count(),
                1,
                "{prefix:?}"
            );
            assert_eq!(m.state(), S::Ended, "{prefix:?}");
        }
    }

    #[test]
    fn a_failure_at_each_step_unwinds_then_fails_with_its_error() {
        let prefixes = [
            vec![Input::GoLive],
            vec![Input::GoLive, Input::Prepared],
            vec![Input::GoLive, Input::Prepared, Input::Connected],
        ];
        for prefix in prefixes {
            let mut inputs = prefix.clone();
            inputs.extend([Input::Failed(err()), Input::Unwound]);
            let (m, actions) = run(inputs);
            assert_eq!(m.state(), S::Failed, "{prefix:?}");
            assert_eq!(
                actions[actions.len() - 3..],
                [Unwind, Enter(S::Failed), Fail(err())]
            );
        }
    }

    #[test]
    fn the_first_failure_wins_over_one_during_unwind() {
        let other = OnairError::new(ErrorCode::Internal, "close failed");
        let (m, actions) = run(vec![
            Input::GoLive,
            Input::Failed(err()),
            Input::Failed(other),
            Input::Unwound,
        ]);
        assert_eq!(m.state(), S::Failed);
        assert_eq!(actions.last(), Some(&Fail(err())));
    }

    #[test]
    fn a_lost_connection_goes_reconnecting_and_back_to_live_once() {
        let (m, actions) = run(vec![
            Input::GoLive,
            Input::Prepared,
            Input::Connected,
            Input::Reconnecting,
            Input::Reconnecting, // a second failed attempt changes nothing
            Input::Restored,
            Input::Restored,
        ]);
        assert_eq!(
            actions[actions.len() - 2..],
            [Enter(S::Reconnecting), Enter(S::Live)]
        );
        assert_eq!(m.state(), S::Live);
        assert_eq!(
            actions.iter().filter(|a| **a == StartMedia).count(),
            1,
            "media keeps running through a reconnect"
        );
    }

    #[test]
    fn reconnect_reports_outside_live_are_ignored() {
        let (m, actions) = run(vec![Input::GoLive, Input::Reconnecting, Input::Restored]);
        assert_eq!(actions, vec![Enter(S::Preparing), Prepare]);
        assert_eq!(m.state(), S::Preparing);
    }

    #[test]
    fn stop_or_giving_up_while_reconnecting_unwinds() {
        let live = || {
            vec![
                Input::GoLive,
                Input::Prepared,
                Input::Connected,
                Input::Reconnecting,
            ]
        };
        let mut stop = live();
        stop.extend([Input::Stop, Input::Restored, Input::Unwound]);
        let (m, _) = run(stop);
        assert_eq!(m.state(), S::Ended);
        let mut fail = live();
        fail.extend([Input::Failed(err()), Input::Unwound]);
        let (m, actions) = run(fail);
        assert_eq!(m.state(), S::Failed);
        assert_eq!(actions.last(), Some(&Fail(err())));
    }

    #[test]
    fn duration_end_stops_like_the_stop_button() {
        let (m, _) = run(vec![
            Input::GoLive,
            Input::Prepared,
            Input::Connected,
            Input::MediaEnded,
            Input::Unwound,
        ]);
        assert_eq!(m.state(), S::Ended);
    }
}
