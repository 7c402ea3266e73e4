//! LiveKit's signal protocol as a state machine: server messages and clock
//! ticks in, requests to send and facts for the publisher out. No sockets,
//! so tests drive every exchange (join, pings, publish, presence, leave).

use std::time::{Duration, Instant};

use livekit_protocol::{
    leave_request, signal_request, signal_response, AddTrackRequest, IceServer, LeaveRequest, Ping,
    SessionDescription, SignalRequest, SignalResponse, SignalTarget, SubscribedQuality,
    TrackPublishedResponse, TrickleRequest,
};

use super::presence::Presence;
use crate::secret::Secret;

/// What the machine asks of its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send(Box<SignalRequest>),
    /// Joined (or resumed): use these ICE servers (TURN included).
    Joined {
        participant_sid: String,
        ice_servers: Vec<IceServer>,
    },
    Resumed {
        ice_servers: Vec<IceServer>,
    },
    TrackPublished {
        cid: String,
        sid: String,
    },
    PublisherAnswer(String),
    /// The server offers the subscriber connection (tokens that may subscribe).
    SubscriberOffer(String),
    RemoteCandidate {
        candidate_init: String,
        subscriber: bool,
    },
    Viewers(u32),
    /// Which simulcast qualities (LOW, MEDIUM, HIGH) anyone watches.
    Qualities {
        track_sid: String,
        wanted: Vec<SubscribedQuality>,
    },
    RefreshToken(Secret),
    /// The server asked us to go: resume, full reconnect, or stop for good.
    Leave {
        action: LeaveAction,
        reason: String,
    },
    /// No pong for longer than the server's ping timeout.
    Silent,
    /// The answer to a ping.
    Pong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveAction {
    Disconnect,
    Resume,
    Reconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingJoin,
    Joined,
}

pub struct SignalMachine {
    phase: Phase,
    ping_interval: Duration,
    ping_timeout: Duration,
    next_ping: Instant,
    last_heard: Instant,
    rtt_ms: i64,
    presence: Presence,
    reported_viewers: Option<u32>,
    we_publish: bool,
    /// The clock the ping timestamps count from.
    epoch: Instant,
}

impl SignalMachine {
    /// A fresh socket, before `join` (or `reconnect` when resuming).
    pub fn new(now: Instant) -> Self {
        SignalMachine {
            phase: Phase::AwaitingJoin,
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(15),
            next_ping: now + Duration::from_secs(5),
            last_heard: now,
            rtt_ms: 0,
            presence: Presence::default(),
            reported_viewers: None,
            we_publish: false,
            epoch: now,
        }
    }

    pub fn joined(&self) -> bool {
        self.phase == Phase::Joined
    }

    pub fn on_response(&mut self, response: SignalResponse, now: Instant) -> Vec<Output> {
        use signal_response::Message as M;
        self.last_heard = now;
        let mut out = Vec::new();
        let Some(message) = response.message else {
            return out;
        };
        match message {
            M::Join(join) => {
                self.phase = Phase::Joined;
                // The server's numbers, held to what keeps a dead link
                // noticed within minutes whatever it says.
                if join.ping_interval > 0 {
                    self.ping_interval = Duration::from_secs(join.ping_interval.min(60) as u64);
                    self.next_ping = now + self.ping_interval;
                }
                if join.ping_timeout > 0 {
                    self.ping_timeout = Duration::from_secs(join.ping_timeout.min(120) as u64);
                }
                let sid = join.participant.map(|p| p.sid).unwrap_or_default();
                self.presence = Presence::new(&sid, &join.other_participants);
                out.push(Output::Joined {
                    participant_sid: sid,
                    ice_servers: join.ice_servers,
                });
            }
            M::Reconnect(reconnect) => {
                self.phase = Phase::Joined;
                out.push(Output::Resumed {
                    ice_servers: reconnect.ice_servers,
                });
            }
            M::Answer(answer) => out.push(Output::PublisherAnswer(answer.sdp)),
            M::Offer(offer) => out.push(Output::SubscriberOffer(offer.sdp)),
            M::Trickle(trickle) => out.push(Output::RemoteCandidate {
                candidate_init: trickle.candidate_init,
                subscriber: trickle.target == SignalTarget::Subscriber as i32,
            }),
            M::TrackPublished(TrackPublishedResponse { cid, track }) => {
                self.we_publish = true;
                out.push(Output::TrackPublished {
                    cid,
                    sid: track.map(|t| t.sid).unwrap_or_default(),
                });
            }
            M::Update(update) => self.presence.apply_participants(&update.participants),
            M::RoomUpdate(update) => {
                if let Some(room) = update.room {
                    self.presence.apply_room(&room, self.we_publish);
                }
            }
            M::SubscribedQualityUpdate(update) => {
                // Newer servers list qualities per codec (we publish one);
                // older ones only fill the deprecated flat list.
                #[allow(deprecated)]
                let flat = update.subscribed_qualities;
                let wanted = update
                    .subscribed_codecs
                    .into_iter()
                    .next()
                    .map(|codec| codec.qualities)
                    .unwrap_or(flat);
                out.push(Output::Qualities {
                    track_sid: update.track_sid,
                    wanted,
                });
            }
            M::RefreshToken(token) => out.push(Output::RefreshToken(Secret::new(token))),
            M::Leave(leave) => out.push(Output::Leave {
                action: match leave_request::Action::try_from(leave.action) {
                    Ok(leave_request::Action::Resume) => LeaveAction::Resume,
                    Ok(leave_request::Action::Reconnect) => LeaveAction::Reconnect,
                    // Old servers only say whether a reconnect may work.
                    _ if leave.can_reconnect => LeaveAction::Reconnect,
                    _ => LeaveAction::Disconnect,
                },
                reason: livekit_protocol::DisconnectReason::try_from(leave.reason)
                    .map(|r| r.as_str_name().to_ascii_lowercase())
                    .unwrap_or_else(|_| "unknown".into()),
            }),
            M::PongResp(pong) => {
                let sent_ms = pong.last_ping_timestamp;
                self.rtt_ms = (self.millis(now) - sent_ms).max(0);
                out.push(Output::Pong);
            }
            _ => {}
        }
        if let Some(count) = self.presence.take_change(&mut self.reported_viewers) {
            out.push(Output::Viewers(count));
        }
        out
    }

    /// Pings on schedule; reports a silent server past its ping timeout.
    pub fn on_tick(&mut self, now: Instant) -> Vec<Output> {
        if self.phase != Phase::Joined {
            return Vec::new();
        }
        if now.duration_since(self.last_heard) > self.ping_timeout {
            return vec![Output::Silent];
        }
        if now < self.next_ping {
            return Vec::new();
        }
        self.next_ping = now + self.ping_interval;
        vec![Output::Send(self.ping(now))]
    }

    /// A ping to send now; its pong comes back as `Output::Pong`.
    pub fn ping(&self, now: Instant) -> Box<SignalRequest> {
        request(signal_request::Message::PingReq(Ping {
            timestamp: self.millis(now),
            rtt: self.rtt_ms,
        }))
    }

    /// When the next tick is due.
    pub fn next_deadline(&self) -> Instant {
        self.next_ping.min(self.last_heard + self.ping_timeout)
    }

    /// The viewer count as last reported (it is reported once per change).
    pub fn viewers(&self) -> Option<u32> {
        self.reported_viewers
    }

    pub fn rtt_ms(&self) -> i64 {
        self.rtt_ms
    }

    fn millis(&self, now: Instant) -> i64 {
        now.duration_since(self.epoch).as_millis() as i64
    }
}

fn request(message: signal_request::Message) -> Box<SignalRequest> {
    Box::new(SignalRequest {
        message: Some(message),
    })
}

pub fn add_track(track: AddTrackRequest) -> Box<SignalRequest> {
    request(signal_request::Message::AddTrack(track))
}

pub fn publisher_offer(sdp: String) -> Box<SignalRequest> {
    request(signal_request::Message::Offer(SessionDescription {
        r#type: "offer".into(),
        sdp,
        ..Default::default()
    }))
}

pub fn subscriber_answer(sdp: String) -> Box<SignalRequest> {
    request(signal_request::Message::Answer(SessionDescription {
        r#type: "answer".into(),
        sdp,
        ..Default::default()
    }))
}

pub fn trickle(candidate_init: String, subscriber: bool) -> Box<SignalRequest> {
    let target = if subscriber {
        SignalTarget::Subscriber
    } else {
        SignalTarget::Publisher
    };
    request(signal_request::Message::Trickle(TrickleRequest {
        candidate_init,
        target: target as i32,
        ..Default::default()
    }))
}

pub fn leave() -> Box<SignalRequest> {
    request(signal_request::Message::Leave(LeaveRequest {
        reason: livekit_protocol::DisconnectReason::ClientInitiated as i32,
        action: leave_request::Action::Disconnect as i32,
        ..Default::default()
    }))
}

/// After a resume: the tracks we still publish, so the server keeps them.
pub fn sync_state(published: Vec<TrackPublishedResponse>) -> Box<SignalRequest> {
    request(signal_request::Message::SyncState(
        livekit_protocol::SyncState {
            publish_tracks: published,
            ..Default::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_protocol::{
        participant_info, JoinResponse, ParticipantInfo, ParticipantUpdate, Pong, Room, RoomUpdate,
        SubscribedQualityUpdate, TrackInfo, VideoQuality,
    };

    fn response(message: signal_response::Message) -> SignalResponse {
        SignalResponse {
            message: Some(message),
        }
    }

    fn join(own: &str, others: Vec<ParticipantInfo>) -> SignalResponse {
        response(signal_response::Message::Join(JoinResponse {
            participant: Some(ParticipantInfo {
                sid: own.into(),
                ..Default::default()
            }),
            other_participants: others,
            ice_servers: vec![IceServer {
                urls: vec!["turn:turn.example:3478".into()],
                username: "u".into(),
                credential: "c".into(),
            }],
            ping_interval: 2,
            ping_timeout: 6,
            ..Default::default()
        }))
    }

    fn viewer(sid: &str, state: participant_info::State) -> ParticipantInfo {
        ParticipantInfo {
            sid: sid.into(),
            state: state as i32,
            ..Default::default()
        }
    }

    #[test]
    fn join_hands_over_ice_servers_and_the_first_viewer_count() {
        let t0 = Instant::now();
        let mut machine = SignalMachine::new(t0);
        assert!(!machine.joined());
        let out = machine.on_response(
            join(
                "PA_me",
                vec![viewer("PA_v", participant_info::State::Active)],
            ),
            t0,
        );
        assert!(machine.joined());
        assert!(matches!(
            &out[0],
            Output::Joined { participant_sid, ice_servers }
                if participant_sid == "PA_me" && ice_servers[0].urls[0].starts_with("turn:")
        ));
        assert_eq!(out[1], Output::Viewers(1));
    }

    #[test]
    fn pings_follow_the_servers_interval_and_silence_is_reported() {
        let t0 = Instant::now();
        let mut machine = SignalMachine::new(t0);
        assert!(
            machine.on_tick(t0 + Duration::from_secs(30)).is_empty(),
            "no pings before join"
        );
        machine.on_response(join("PA_me", vec![]), t0);
        assert!(machine.on_tick(t0 + Duration::from_secs(1)).is_empty());
        let out = machine.on_tick(t0 + Duration::from_secs(2));
        let Output::Send(req) = &out[0] else {
            panic!("{out:?}")
        };
        let Some(signal_request::Message::PingReq(ping)) = &req.message else {
            panic!("{req:?}")
        };
        assert_eq!(ping.timestamp, 2000);
        let answered = machine.on_response(
            response(signal_response::Message::PongResp(Pong {
                last_ping_timestamp: 2000,
                timestamp: 0,
            })),
            t0 + Duration::from_millis(2040),
        );
        assert_eq!(answered, vec![Output::Pong]);
        assert_eq!(machine.rtt_ms(), 40);
        assert_eq!(machine.next_deadline(), t0 + Duration::from_secs(4));
        assert_eq!(
            machine.on_tick(t0 + Duration::from_millis(2040 + 6001)),
            vec![Output::Silent]
        );
    }

    #[test]
    fn publishing_and_presence() {
        let t0 = Instant::now();
        let mut machine = SignalMachine::new(t0);
        machine.on_response(join("PA_me", vec![]), t0);
        let out = machine.on_response(
            response(signal_response::Message::TrackPublished(
                TrackPublishedResponse {
                    cid: "video-cid".into(),
                    track: Some(TrackInfo {
                        sid: "TR_v".into(),
                        ..Default::default()
                    }),
                },
            )),
            t0,
        );
        assert_eq!(
            out,
            vec![Output::TrackPublished {
                cid: "video-cid".into(),
                sid: "TR_v".into()
            }]
        );
        let update = |participants| {
            response(signal_response::Message::Update(ParticipantUpdate {
                participants,
            }))
        };
        use participant_info::State::*;
        let out = machine.on_response(update(vec![viewer("a", Joined), viewer("b", Active)]), t0);
        assert_eq!(out, vec![Output::Viewers(2)]);
        // The room total (us publishing, two others) says the same: no event.
        let room = response(signal_response::Message::RoomUpdate(RoomUpdate {
            room: Some(Room {
                num_participants: 3,
                num_publishers: 1,
                ..Default::default()
            }),
        }));
        assert!(machine.on_response(room, t0).is_empty());
        let out = machine.on_response(
            update(vec![viewer("a", Disconnected), viewer("b", Disconnected)]),
            t0,
        );
        assert_eq!(out, vec![Output::Viewers(0)]);
    }

    #[test]
    #[allow(deprecated)] // the flat list older servers fill
    fn quality_updates_prefer_the_per_codec_list() {
        let t0 = Instant::now();
        let mut machine = SignalMachine::new(t0);
        let quality = |q: VideoQuality, enabled| SubscribedQuality {
            quality: q as i32,
            enabled,
        };
        let out = machine.on_response(
            response(signal_response::Message::SubscribedQualityUpdate(
                SubscribedQualityUpdate {
                    track_sid: "TR_v".into(),
                    subscribed_qualities: vec![quality(VideoQuality::High, true)],
                    subscribed_codecs: vec![livekit_protocol::SubscribedCodec {
                        codec: "h264".into(),
                        qualities: vec![
                            quality(VideoQuality::Low, true),
                            quality(VideoQuality::High, false),
                        ],
                    }],
                },
            )),
            t0,
        );
        let Output::Qualities { wanted, .. } = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(wanted.len(), 2);
        assert!(wanted[0].enabled && !wanted[1].enabled);
    }

    #[test]
    fn leave_actions_map_old_and_new_servers() {
        let t0 = Instant::now();
        let mut machine = SignalMachine::new(t0);
        let leave = |action: leave_request::Action, can_reconnect| {
            response(signal_response::Message::Leave(LeaveRequest {
                action: action as i32,
                can_reconnect,
                reason: livekit_protocol::DisconnectReason::ServerShutdown as i32,
                ..Default::default()
            }))
        };
        let out = machine.on_response(leave(leave_request::Action::Resume, true), t0);
        assert_eq!(
            out,
            vec![Output::Leave {
                action: LeaveAction::Resume,
                reason: "server_shutdown".into()
            }]
        );
        let out = machine.on_response(leave(leave_request::Action::Disconnect, true), t0);
        assert!(matches!(
            out[0],
            Output::Leave {
                action: LeaveAction::Reconnect,
                ..
            }
        ));
        let out = machine.on_response(leave(leave_request::Action::Disconnect, false), t0);
        assert!(matches!(
            out[0],
            Output::Leave {
                action: LeaveAction::Disconnect,
                ..
            }
        ));
    }

    #[test]
    fn requests_carry_their_targets() {
        let req = trickle("{}".into(), false);
        let Some(signal_request::Message::Trickle(t)) = &req.message else {
            panic!()
        };
        assert_eq!(t.target, SignalTarget::Publisher as i32);
        let req = leave();
        let Some(signal_request::Message::Leave(l)) = &req.message else {
            panic!()
        };
        assert_eq!(
            l.reason,
            livekit_protocol::DisconnectReason::ClientInitiated as i32
        );
    }
}
