//! The subscriber connection LiveKit opens for tokens that may subscribe.
//! We receive nothing (auto-subscribe is off), but the server expects the
//! connection to come up, so we answer its offer and trickle for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{RTCIceCandidateInit, RTCIceServer};
use tokio::sync::{mpsc, watch};
use webrtc::peer_connection::{PeerConnection, PeerConnectionBuilder, RTCIceGatheringState};

use super::publisher::{Handler, PcEvent};
use super::PeerError;

pub struct SubscriberPc {
    pc: Arc<dyn PeerConnection>,
    closed: AtomicBool,
}

impl SubscriberPc {
    /// Answers the server's offer; the answer's SDP goes back over signalling.
    pub async fn answer(
        offer: String,
        ice_servers: Vec<RTCIceServer>,
        events: mpsc::UnboundedSender<PcEvent>,
    ) -> Result<(SubscriberPc, String), PeerError> {
        let mut media = MediaEngine::default();
        media.register_default_codecs()?;
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(
                    RTCConfigurationBuilder::new()
                        .with_ice_servers(ice_servers)
                        .build(),
                )
                .with_media_engine(media)
                .with_handler(Arc::new(Handler::new(
                    events,
                    Arc::new(watch::Sender::new(RTCIceGatheringState::New)),
                )))
                .with_udp_addrs(vec!["0.0.0.0:0"])
                .build()
                .await?,
        );
        pc.set_remote_description(RTCSessionDescription::offer(offer)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer.clone()).await?;
        let subscriber = SubscriberPc {
            pc,
            closed: AtomicBool::new(false),
        };
        Ok((subscriber, answer.sdp))
    }

    /// A later offer (the server renegotiates as the room changes).
    pub async fn renegotiate(&self, offer: String) -> Result<String, PeerError> {
        self.pc
            .set_remote_description(RTCSessionDescription::offer(offer)?)
            .await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer.clone()).await?;
        Ok(answer.sdp)
    }

    pub async fn add_remote_candidate(&self, json: &str) -> Result<(), PeerError> {
        let init: RTCIceCandidateInit = serde_json::from_str(json)
            .map_err(|e| PeerError::Protocol(format!("a remote ICE candidate: {e}")))?;
        self.pc.add_ice_candidate(init).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let _ = self.pc.close().await;
    }
}

impl Drop for SubscriberPc {
    fn drop(&mut self) {
        super::close_when_dropped(&self.pc, self.closed.load(Ordering::Relaxed));
    }
}
