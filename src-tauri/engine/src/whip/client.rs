//! A WHIP publish: POST the offer, apply the answer, stay live, restart ICE
//! (or publish anew) after a loss, DELETE on Stop. One task owns the peer
//! connection; the sink thread only hands it media.

use std::time::{Duration, Instant};

use reqwest::Url;
use rtc::peer_connection::transport::RTCIceServer;
use tokio::sync::{mpsc, oneshot};
use webrtc::peer_connection::RTCPeerConnectionState;

use super::error::WhipError;
use super::http::Http;
use super::protocol::{self, Accepted, IceServer};
use crate::error::OnairError;
use crate::net::reconnect::{Input, Mode};
use crate::peer::link::{self, sleep_until_held, Media, Next, Steering, FEEDBACK_TICK};
use crate::peer::publisher::{LayerDesc, PcEvent, Publisher, PublisherConfig};
use crate::peer::PeerError;
use crate::secret::Secret;
use crate::sink::SinkLinks;

/// POST, answer and ICE must all be done within this.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// An ICE restart on a live resource is quick or not happening.
const RESTART_TIMEOUT: Duration = Duration::from_secs(8);
/// Host candidates come at once; STUN and TURN get this long before the
/// offer leaves with what there is (later ones trickle where allowed).
const GATHER_BUDGET: Duration = Duration::from_secs(2);
/// Stop waits this long for the server to take the DELETE.
const DELETE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct WhipOptions {
    pub url: String,
    /// None for servers that need no token.
    pub token: Option<Secret>,
    /// Layers top first; one unless simulcasting.
    pub layers: Vec<LayerDesc>,
    pub audio: bool,
    pub reconnect_attempts: u32,
}

/// One publish: a resource on the server and the peer connection behind it.
struct Connection {
    publisher: Publisher,
    pc_events: mpsc::UnboundedReceiver<PcEvent>,
    accepted: Accepted,
    /// Our ICE credentials and the BUNDLE mid, which trickle fragments name.
    ufrag: String,
    pwd: String,
    mid: String,
    /// Candidates the offer already carried, so they are not trickled twice.
    sent: Vec<String>,
    /// The server answered our DELETE: the resource no longer holds the endpoint.
    deleted: bool,
}

enum Served {
    Stopped,
    Lost(WhipError),
}

pub async fn run(
    options: WhipOptions,
    links: SinkLinks,
    mut media: mpsc::Receiver<Media>,
    mut stop: oneshot::Receiver<()>,
    ready: oneshot::Sender<Result<(), OnairError>>,
) -> Result<(), OnairError> {
    let setup = async {
        let endpoint = protocol::endpoint(&options.url)?;
        // Before any connection: a token only goes over TLS (or to this computer).
        if options.token.is_some() {
            protocol::endpoint_may_carry_token(&endpoint)?;
        }
        let http = Http::new(options.token.clone())?;
        let connection = establish(&options, &http, &endpoint, &[]).await?;
        Ok::<_, WhipError>((endpoint, http, connection))
    };
    let (endpoint, http, mut connection) = match setup.await {
        Ok(ok) => ok,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return Ok(());
        }
    };
    let _ = ready.send(Ok(()));
    // Pictures wait for a keyframe (see `Publisher::restart_at_keyframes`).
    links.control.request_keyframe();
    let mut policy = link::reconnect_policy(options.reconnect_attempts);
    // Servers' ICE servers (Link headers) are kept for later publishes.
    let mut ice_servers = connection.accepted.ice_servers.clone();
    loop {
        let lost = match serve(&mut connection, &http, &links, &mut media, &mut stop).await {
            Served::Stopped => {
                hang_up(&http, &mut connection).await;
                return Ok(());
            }
            Served::Lost(e) => e,
        };
        let mut outputs = policy.handle(Input::Lost(lost), Instant::now());
        loop {
            let next =
                link::next_step("WHIP", &mut policy, outputs, &mut media, &mut stop, &links).await;
            let mode = match next {
                Next::Attempt(mode) => mode,
                Next::Stopped => {
                    hang_up(&http, &mut connection).await;
                    return Ok(());
                }
                Next::GaveUp(e) => {
                    hang_up(&http, &mut connection).await;
                    return Err(e);
                }
            };
            // Same resource, new ICE generation, where the server takes it;
            // otherwise (or when the resource is gone) a new publish.
            let failed = match mode {
                Mode::Resume if connection.accepted.patch && !connection.deleted => {
                    match restart_ice(&mut connection, &http, &endpoint).await {
                        Ok(()) => break,
                        Err(e) => Input::AttemptFailed(e),
                    }
                }
                Mode::Resume => Input::CannotResume,
                // No answer to the DELETE: the old resource may still hold the
                // endpoint (a second POST would be refused), so ask again next time.
                Mode::Fresh if !hang_up(&http, &mut connection).await => {
                    Input::AttemptFailed(WhipError::NoAnswer)
                }
                Mode::Fresh => match establish(&options, &http, &endpoint, &ice_servers).await {
                    Ok(fresh) => {
                        connection = fresh;
                        if !connection.accepted.ice_servers.is_empty() {
                            ice_servers = connection.accepted.ice_servers.clone();
                        }
                        break;
                    }
                    Err(e) => Input::AttemptFailed(e),
                },
            };
            outputs = policy.handle(failed, Instant::now());
        }
        let restored = policy.handle(Input::<WhipError>::Connected, Instant::now());
        connection.publisher.restart_at_keyframes();
        links.control.request_keyframe();
        link::tell(restored, &links);
    }
}

fn publisher_config(options: &WhipOptions, servers: &[IceServer]) -> PublisherConfig {
    PublisherConfig {
        ice_servers: servers
            .iter()
            .map(|s| RTCIceServer {
                urls: vec![s.url.clone()],
                username: s.username.clone().unwrap_or_default(),
                credential: s.credential.clone().unwrap_or_default(),
            })
            .collect(),
        audio: options.audio,
        layers: options.layers.clone(),
        data_channels: false,
    }
}

/// A new publish. If ICE fails and the server named ICE servers we did not
/// use yet, once more with them.
async fn establish(
    options: &WhipOptions,
    http: &Http,
    endpoint: &Url,
    ice_servers: &[IceServer],
) -> Result<Connection, WhipError> {
    match publish(options, http, endpoint, ice_servers).await {
        Err((e, learnt))
            if matches!(e, WhipError::IceFailed)
                && !learnt.is_empty()
                && ice_servers.is_empty() =>
        {
            publish(options, http, endpoint, &learnt)
                .await
                .map_err(|(e, _)| e)
        }
        other => other.map_err(|(e, _)| e),
    }
}

/// POST an offer with our candidates, apply the answer, wait for media to
/// flow. On failure, the ICE servers the server offered (if it got that far).
async fn publish(
    options: &WhipOptions,
    http: &Http,
    endpoint: &Url,
    ice_servers: &[IceServer],
) -> Result<Connection, (WhipError, Vec<IceServer>)> {
    let (pc_tx, pc_events) = mpsc::unbounded_channel();
    let publisher = Publisher::new(&publisher_config(options, ice_servers), pc_tx)
        .await
        .map_err(|e| (e.into(), vec![]))?;
    let offered = async {
        publisher.create_offer(false).await?;
        publisher.gathered_offer(GATHER_BUDGET).await
    }
    .await;
    let offer = match offered {
        Ok(offer) => offer,
        Err(e) => {
            publisher.close().await;
            return Err((e.into(), vec![]));
        }
    };
    let (ufrag, pwd) = protocol::ice_credentials(&offer).unwrap_or_default();
    let reply = match http.post_offer(endpoint, &offer).await {
        Ok(reply) => reply,
        Err(e) => {
            publisher.close().await;
            return Err((e, vec![]));
        }
    };
    let carries_token = options.token.is_some();
    let accepted = protocol::accept_post(endpoint, &reply).and_then(|accepted| {
        if carries_token {
            protocol::resource_may_carry_token(endpoint, &accepted.resource)?;
        }
        Ok(accepted)
    });
    let accepted = match accepted {
        Ok(accepted) => accepted,
        Err(e) => {
            // A 201 we cannot use still made a resource: free it, where the
            // token may go.
            if reply.status == 201 {
                if let Some(resource) = reply
                    .location
                    .as_deref()
                    .and_then(|l| protocol::resolve(endpoint, l).ok())
                    .filter(|r| {
                        !carries_token || protocol::resource_may_carry_token(endpoint, r).is_ok()
                    })
                {
                    let _ = http.delete(&resource).await;
                }
            }
            publisher.close().await;
            return Err((e, vec![]));
        }
    };
    let mut connection = Connection {
        publisher,
        pc_events,
        ufrag,
        pwd,
        mid: protocol::first_mid(&offer).unwrap_or_else(|| "0".into()),
        sent: protocol::candidates_in(&offer),
        accepted,
        deleted: false,
    };
    let learnt = connection.accepted.ice_servers.clone();
    let answered = connection
        .publisher
        .accept_answer(connection.accepted.answer.clone())
        .await
        .map_err(|e| WhipError::AnswerUnusable(e.to_string()));
    let connected = match answered {
        Ok(()) => tokio::time::timeout(ESTABLISH_TIMEOUT, connect(&mut connection, http))
            .await
            .unwrap_or_else(|_| Err(ice_failed())),
        Err(e) => Err(e),
    };
    match connected {
        Ok(()) => Ok(connection),
        Err(e) => {
            hang_up(http, &mut connection).await;
            Err((e, learnt))
        }
    }
}

fn ice_failed() -> WhipError {
    WhipError::IceFailed
}

/// Until the peer connection is up, trickling late candidates.
async fn connect(connection: &mut Connection, http: &Http) -> Result<(), WhipError> {
    while let Some(event) = connection.pc_events.recv().await {
        match event {
            PcEvent::Candidate(json) => trickle(connection, http, &json).await,
            PcEvent::State(RTCPeerConnectionState::Connected) => return Ok(()),
            PcEvent::State(RTCPeerConnectionState::Failed) => return Err(ice_failed()),
            PcEvent::State(_) | PcEvent::Ice(_) => {}
        }
    }
    Err(ice_failed())
}

/// A candidate found after the offer left goes by PATCH, where the server
/// takes it; a server without PATCH has what the offer carried.
async fn trickle(connection: &mut Connection, http: &Http, json: &str) {
    if !connection.accepted.patch {
        return;
    }
    let candidate = protocol::candidate_attribute(json);
    if let Some(c) = &candidate {
        if connection.sent.contains(c) {
            return;
        }
        connection.sent.push(c.clone());
    }
    let fragment = protocol::sdpfrag(
        &connection.ufrag,
        &connection.pwd,
        &connection.mid,
        candidate.as_slice(),
        candidate.is_none(),
    );
    let _ = http
        .patch(
            &connection.accepted.resource,
            fragment,
            connection.accepted.etag.as_deref(),
        )
        .await;
}

/// A new ICE generation on the same resource (RFC 9725 §4.4.2).
async fn restart_ice(
    connection: &mut Connection,
    http: &Http,
    endpoint: &Url,
) -> Result<(), WhipError> {
    let attempt = async {
        connection.publisher.create_offer(true).await?;
        let offer = connection.publisher.gathered_offer(GATHER_BUDGET).await?;
        let (ufrag, pwd) = protocol::ice_credentials(&offer).ok_or_else(|| {
            PeerError::Protocol("the restart offer has no ICE credentials".into())
        })?;
        let candidates = protocol::candidates_in(&offer);
        let fragment = protocol::sdpfrag(&ufrag, &pwd, &connection.mid, &candidates, true);
        let reply = http
            .patch(&connection.accepted.resource, fragment, Some("\"*\""))
            .await?;
        if reply.status != 200 {
            return Err(protocol::refusal(endpoint, &reply, "restarting ICE"));
        }
        let answer = protocol::restarted_answer(&connection.accepted.answer, &reply.body)?;
        connection
            .publisher
            .accept_answer(answer.clone())
            .await
            .map_err(|e| WhipError::RestartAnswerUnusable(e.to_string()))?;
        connection.accepted.answer = answer;
        if reply.etag.is_some() {
            connection.accepted.etag = reply.etag;
        }
        connection.ufrag = ufrag;
        connection.pwd = pwd;
        connection.sent = candidates;
        connect(connection, http).await
    };
    tokio::time::timeout(RESTART_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(WhipError::RestartTimedOut))
}

/// Ends the publish: DELETE the resource (briefly), close the peer
/// connection. True once the server has answered the DELETE, whatever it
/// said (404: it had already forgotten the resource).
async fn hang_up(http: &Http, connection: &mut Connection) -> bool {
    if !connection.deleted {
        let answered =
            tokio::time::timeout(DELETE_TIMEOUT, http.delete(&connection.accepted.resource)).await;
        connection.deleted = matches!(answered, Ok(Ok(_)));
    }
    connection.publisher.close().await;
    connection.deleted
}

async fn serve(
    connection: &mut Connection,
    http: &Http,
    links: &SinkLinks,
    media: &mut mpsc::Receiver<Media>,
    stop: &mut oneshot::Receiver<()>,
) -> Served {
    let mut feedback_tick = tokio::time::interval(FEEDBACK_TICK);
    let mut steering = Steering::new(links);
    loop {
        let held = connection.publisher.next_release();
        tokio::select! {
            _ = &mut *stop => return Served::Stopped,
            Some(m) = media.recv() => {
                if let Err(e) = connection.publisher.send(m, Instant::now()).await {
                    return Served::Lost(WhipError::Interrupted(format!("sending media failed: {e}")));
                }
            }
            _ = sleep_until_held(held) => {
                if let Err(e) = connection.publisher.send_due(Instant::now()).await {
                    return Served::Lost(WhipError::Interrupted(format!("sending media failed: {e}")));
                }
            }
            Some(event) = connection.pc_events.recv() => match event {
                PcEvent::Candidate(json) => trickle(connection, http, &json).await,
                PcEvent::State(RTCPeerConnectionState::Failed | RTCPeerConnectionState::Disconnected) => {
                    return Served::Lost(WhipError::Interrupted("media stopped reaching the WHIP server".into()));
                }
                PcEvent::State(_) | PcEvent::Ice(_) => {}
            },
            _ = feedback_tick.tick() => {
                steering.on_tick(&connection.publisher.feedback(), links);
            }
        }
    }
}
