//! Who is watching: everyone in the room who does not publish, never
//! counting ourselves. Participant updates arrive at once and name people;
//! room updates come every few seconds as totals and also count hidden
//! participants. Whichever arrived last is the truth.

use std::collections::HashMap;

use livekit_protocol::{participant_info, ParticipantInfo, Room};

#[derive(Debug, Default)]
pub struct Presence {
    own_sid: String,
    /// Everyone else, by sid: whether they publish.
    others: HashMap<String, bool>,
    viewers: Option<u32>,
}

impl Presence {
    pub fn new(own_sid: &str, others: &[ParticipantInfo]) -> Self {
        let mut presence = Presence {
            own_sid: own_sid.to_string(),
            ..Default::default()
        };
        presence.apply_participants(others);
        presence
    }

    /// The current count; `Some` only when it changed since the last call.
    pub fn take_change(&mut self, previous: &mut Option<u32>) -> Option<u32> {
        let now = self.viewers;
        if now != *previous {
            *previous = now;
            return now;
        }
        None
    }

    pub fn viewers(&self) -> Option<u32> {
        self.viewers
    }

    pub fn apply_participants(&mut self, participants: &[ParticipantInfo]) {
        for p in participants {
            if p.sid == self.own_sid {
                continue;
            }
            if p.state == participant_info::State::Disconnected as i32 {
                self.others.remove(&p.sid);
            } else {
                self.others.insert(p.sid.clone(), p.is_publisher);
            }
        }
        self.viewers = Some(
            self.others
                .values()
                .filter(|publishes| !**publishes)
                .count() as u32,
        );
    }

    /// Room totals include us: as a participant always, as a publisher once
    /// our tracks are up.
    pub fn apply_room(&mut self, room: &Room, we_publish: bool) {
        let others = room.num_participants.saturating_sub(1);
        let other_publishers = room.num_publishers.saturating_sub(u32::from(we_publish));
        self.viewers = Some(others.saturating_sub(other_publishers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(sid: &str, publisher: bool, state: participant_info::State) -> ParticipantInfo {
        ParticipantInfo {
            sid: sid.into(),
            identity: sid.into(),
            is_publisher: publisher,
            state: state as i32,
            ..Default::default()
        }
    }

    #[test]
    fn viewers_are_the_others_who_do_not_publish() {
        use participant_info::State::*;
        let mut p = Presence::new("me", &[participant("guest", true, Active)]);
        assert_eq!(p.viewers(), Some(0));
        let mut last = None;
        assert_eq!(p.take_change(&mut last), Some(0));
        assert_eq!(p.take_change(&mut last), None);
        p.apply_participants(&[
            participant("v1", false, Joined),
            participant("v2", false, Active),
            participant("me", true, Active),
        ]);
        assert_eq!(p.take_change(&mut last), Some(2));
        p.apply_participants(&[participant("v1", false, Disconnected)]);
        assert_eq!(p.take_change(&mut last), Some(1));
    }

    #[test]
    fn room_totals_exclude_us_before_and_after_we_publish() {
        let mut p = Presence::new("me", &[]);
        let room = |participants, publishers| Room {
            num_participants: participants,
            num_publishers: publishers,
            ..Default::default()
        };
        p.apply_room(&room(4, 0), false);
        assert_eq!(p.viewers(), Some(3));
        p.apply_room(&room(4, 1), true);
        assert_eq!(p.viewers(), Some(3));
        p.apply_room(&room(4, 2), true);
        assert_eq!(p.viewers(), Some(2));
        p.apply_room(&room(1, 1), true);
        assert_eq!(p.viewers(), Some(0));
    }
}
