//! The Wayland screen: the desktop portal (org.freedesktop.portal.ScreenCast)
//! asks the creator which screen to share, once, and opens a PipeWire stream
//! of it; its restore token is kept (share_token.rs), so later starts share
//! the same screen without asking. Sharing stopped from the desktop ends the
//! picture (the screen source sends the slate) and is not asked for again
//! while live. The kept choice stays: the portal's persist mode 2 lasts
//! until the creator revokes the permission itself, and pressing Go Live
//! again is asking to share again.
//!
//! Two threads of their own: the portal's (its D-Bus session must stay open
//! while the screen is shared, and its Closed signal says the desktop
//! stopped sharing) and PipeWire's (a main loop that copies each picture the
//! compositor sends). The grabber hands out the newest picture whenever the
//! stream's clock asks, since compositors send pictures only when the screen
//! changes.

use std::os::fd::OwnedFd;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ashpd::desktop::screencast::{CursorMode, Screencast, SelectSourcesOptions, SourceType};
use ashpd::desktop::{PersistMode, ResponseError};
use futures::StreamExt;
use pipewire as pw;
use pw::spa;

use super::picture::{Bgrx, Cursor};
use super::share_token::ShareTokens;
use super::{Grabber, ScreenError};

/// How long the desktop's "share your screen" dialog may wait for the
/// creator.
const CHOICE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long PipeWire may take to agree a picture format once sharing began.
const FORMAT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the first picture may take once the format is agreed.
const FIRST_PICTURE_WAIT: Duration = Duration::from_secs(2);

/// How far the PipeWire stream has come while opening.
enum Ready {
    Format,
    Picture,
}

/// What the portal gave: the stream to read, and where.
struct Shared {
    node_id: u32,
    remote: OwnedFd,
    size: Option<(u32, u32)>,
}

/// The newest picture, and why the stream ended if it did.
#[derive(Default)]
struct Mailbox {
    fresh: Option<Picture>,
    /// A buffer to copy the next picture into (the one `grab` gave up).
    spare: Vec<u8>,
    ended: Option<ScreenError>,
}

struct Picture {
    width: u32,
    height: u32,
    stride: u32,
    data: Vec<u8>,
}

type Latest = Arc<Mutex<Mailbox>>;

fn end(latest: &Latest, why: ScreenError) {
    let mut mailbox = latest.lock().unwrap();
    mailbox.ended.get_or_insert(why);
}

pub struct PortalGrabber {
    latest: Latest,
    current: Picture,
    portal: Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<()>)>,
    pipewire: Option<(pw::channel::Sender<()>, JoinHandle<()>)>,
}

impl PortalGrabber {
    /// Asks the desktop for the screen (silently, with a kept token) and
    /// waits until PipeWire delivers its format.
    pub fn open(tokens: Option<ShareTokens>) -> Result<PortalGrabber, ScreenError> {
        let latest: Latest = Arc::default();
        let (shared_tx, shared_rx) = mpsc::channel();
        let (stop_portal, stopped) = tokio::sync::oneshot::channel();
        let portal = {
            let latest = latest.clone();
            std::thread::Builder::new()
                .name("onair-portal".into())
                .spawn(move || portal_thread(tokens, shared_tx, stopped, latest))
                .map_err(|e| ScreenError::Portal(e.to_string()))?
        };
        let mut grabber = PortalGrabber {
            latest: latest.clone(),
            current: Picture {
                width: 0,
                height: 0,
                stride: 0,
                data: Vec::new(),
            },
            portal: Some((stop_portal, portal)),
            pipewire: None,
        };
        let shared = shared_rx
            .recv()
            .map_err(|_| ScreenError::Portal("the portal thread ended".into()))??;
        let (w, h) = shared.size.unwrap_or((16, 16));
        grabber.current = black(w, h);
        let (format_tx, format_rx) = mpsc::channel();
        let (stop_pipewire, stop_rx) = pw::channel::channel();
        let thread = std::thread::Builder::new()
            .name("onair-pipewire".into())
            .spawn(move || {
                if let Err(e) = pipewire_thread(shared, latest.clone(), format_tx.clone(), stop_rx)
                {
                    let _ = format_tx.send(Err(e));
                }
            })
            .map_err(|e| ScreenError::Portal(e.to_string()))?;
        grabber.pipewire = Some((stop_pipewire, thread));
        match format_rx.recv_timeout(FORMAT_TIMEOUT) {
            Ok(Ok(Ready::Format)) => {}
            Ok(Ok(Ready::Picture)) => return Ok(grabber),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ScreenError::Unsupported(
                "the desktop shared the screen, but PipeWire agreed no picture format with Onair (it reads 32-bit BGRx or BGRA)".into(),
            )),
        }
        // The stream begins with the screen, not black, when the compositor
        // sends its first picture soon (they do as a cast starts).
        match format_rx.recv_timeout(FIRST_PICTURE_WAIT) {
            Ok(Err(e)) => Err(e),
            _ => Ok(grabber),
        }
    }
}

fn black(width: u32, height: u32) -> Picture {
    let mut data = vec![0u8; width as usize * height as usize * 4];
    // Opaque black: B, G, R 0 and X 255.
    data.iter_mut().skip(3).step_by(4).for_each(|x| *x = 255);
    Picture {
        width,
        height,
        stride: width * 4,
        data,
    }
}

impl Grabber for PortalGrabber {
    fn describe(&self) -> String {
        format!(
            "screen (Wayland, {}x{} through the desktop portal)",
            self.current.width, self.current.height
        )
    }

    fn grab(&mut self) -> Result<(Bgrx<'_>, Option<Cursor>), ScreenError> {
        {
            let mut mailbox = self.latest.lock().unwrap();
            if let Some(why) = &mailbox.ended {
                return Err(why.clone());
            }
            if let Some(fresh) = mailbox.fresh.take() {
                let old = std::mem::replace(&mut self.current, fresh);
                mailbox.spare = old.data;
            }
        }
        // The portal draws the pointer in (cursor mode "embedded").
        Ok((
            Bgrx {
                width: self.current.width,
                height: self.current.height,
                stride: self.current.stride,
                data: &mut self.current.data,
            },
            None,
        ))
    }
}

impl Drop for PortalGrabber {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.pipewire.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
        if let Some((stop, thread)) = self.portal.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

/// Opens the portal session, hands over the stream, then keeps the session
/// until told to stop (closing it) or until the desktop closes it.
fn portal_thread(
    tokens: Option<ShareTokens>,
    shared: mpsc::Sender<Result<Shared, ScreenError>>,
    stop: tokio::sync::oneshot::Receiver<()>,
    latest: Latest,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = shared.send(Err(ScreenError::Portal(e.to_string())));
            return;
        }
    };
    runtime.block_on(async move {
        // A connection of this session's own: ashpd's shared one would
        // outlive this thread's runtime, which drives it.
        let connection = match ashpd::zbus::Connection::session().await {
            Ok(c) => c,
            Err(e) => {
                let _ = shared.send(Err(ScreenError::Portal(format!(
                    "the session bus could not be reached ({e})"
                ))));
                return;
            }
        };
        let token = tokens.as_ref().and_then(ShareTokens::read);
        let choose = async {
            match start(&connection, token.as_deref()).await {
                // A token this desktop does not take (another desktop's, or
                // damaged) is dropped, and the creator is asked instead.
                Err(ashpd::Error::Portal(ashpd::PortalError::InvalidArgument(why)))
                    if token.is_some() =>
                {
                    tracing::info!(
                        "the kept screen-sharing choice was refused ({why}); asking again"
                    );
                    start(&connection, None).await
                }
                other => other,
            }
        };
        let started = match tokio::time::timeout(CHOICE_TIMEOUT, choose).await {
            Ok(started) => started.map_err(portal_error),
            Err(_) => Err(ScreenError::Refused(
                "no screen was chosen in the desktop's sharing dialog within 2 minutes".into(),
            )),
        };
        let Started {
            proxy,
            session,
            node_id,
            size,
            new_token,
        } = match started {
            Ok(started) => started,
            Err(e) => {
                let _ = shared.send(Err(e));
                return;
            }
        };
        if let (Some(tokens), Some(new_token)) = (&tokens, &new_token) {
            if let Err(e) = tokens.write(new_token) {
                tracing::warn!("the screen-sharing choice could not be kept: {e}");
            }
        }
        let remote = match proxy
            .open_pipe_wire_remote(&session, Default::default())
            .await
        {
            Ok(fd) => fd,
            Err(e) => {
                let _ = shared.send(Err(portal_error(e)));
                return;
            }
        };
        let closed = session.receive_closed().await;
        let stream = Shared {
            node_id,
            remote,
            size,
        };
        if shared.send(Ok(stream)).is_err() {
            let _ = session.close().await;
            return;
        }
        match closed {
            Ok(mut closed) => {
                tokio::select! {
                    _ = closed.next() => end(&latest, ScreenError::SharingStopped),
                    _ = stop => { let _ = session.close().await; }
                }
            }
            Err(_) => {
                let _ = stop.await;
                let _ = session.close().await;
            }
        }
    });
}

/// A started screencast: the session to keep open, the screen chosen (its
/// PipeWire node and size), and the token that chooses it again.
struct Started {
    proxy: Screencast,
    session: ashpd::desktop::Session<Screencast>,
    node_id: u32,
    size: Option<(u32, u32)>,
    new_token: Option<String>,
}

async fn start(
    connection: &ashpd::zbus::Connection,
    token: Option<&str>,
) -> Result<Started, ashpd::Error> {
    let proxy = Screencast::with_connection(connection.clone()).await?;
    let cursor = match proxy.available_cursor_modes().await {
        Ok(modes) if modes.contains(CursorMode::Embedded) => CursorMode::Embedded,
        _ => CursorMode::Hidden,
    };
    let session = proxy.create_session(Default::default()).await?;
    proxy
        .select_sources(
            &session,
            SelectSourcesOptions::default()
                .set_cursor_mode(cursor)
                .set_sources(ashpd::enumflags2::BitFlags::from(SourceType::Monitor))
                .set_multiple(false)
                .set_restore_token(token)
                .set_persist_mode(PersistMode::ExplicitlyRevoked),
        )
        .await?
        .response()?;
    let streams = proxy
        .start(&session, None, Default::default())
        .await?
        .response()?;
    // A start that shares nothing is a refusal too.
    let stream = streams
        .streams()
        .first()
        .ok_or(ashpd::Error::Response(ResponseError::Other))?;
    Ok(Started {
        node_id: stream.pipe_wire_node_id(),
        size: stream
            .size()
            .filter(|(w, h)| *w > 0 && *h > 0)
            .map(|(w, h)| (w as u32, h as u32)),
        new_token: streams.restore_token().map(str::to_string),
        proxy,
        session,
    })
}

fn portal_error(e: ashpd::Error) -> ScreenError {
    match e {
        ashpd::Error::Response(ResponseError::Cancelled) => {
            ScreenError::Refused("screen sharing was cancelled in the desktop's dialog".into())
        }
        ashpd::Error::Response(ResponseError::Other) => {
            ScreenError::Refused("the desktop refused to share the screen".into())
        }
        ashpd::Error::PortalNotFound(_) => ScreenError::Portal(
            "this desktop has no screen-sharing portal; install xdg-desktop-portal and your desktop's own (for example xdg-desktop-portal-gnome or -kde)".into(),
        ),
        other => ScreenError::Portal(format!("its portal failed ({other})")),
    }
}

/// The formats asked of the compositor: 32-bit pixels in the order the rest
/// of the screen path reads, any size, any rate up to the compositor's.
fn format_params() -> Vec<u8> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    use spa::param::video::VideoFormat;
    use spa::pod::{self, serialize::PodSerializer, Value};
    use spa::utils::{Fraction, Rectangle, SpaTypes};
    let object = pod::object!(
        SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA
        ),
        pod::property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            Rectangle {
                width: 1920,
                height: 1080
            },
            Rectangle {
                width: 1,
                height: 1
            },
            Rectangle {
                width: 8192,
                height: 8192
            }
        ),
        pod::property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            Fraction { num: 60, denom: 1 },
            Fraction { num: 0, denom: 1 },
            Fraction {
                num: 1000,
                denom: 1
            }
        ),
    );
    PodSerializer::serialize(std::io::Cursor::new(Vec::new()), &Value::Object(object))
        .expect("a fixed format serialises")
        .0
        .into_inner()
}

/// PipeWire's main loop for one stream, until told to stop.
fn pipewire_thread(
    shared: Shared,
    latest: Latest,
    format_tx: mpsc::Sender<Result<Ready, ScreenError>>,
    stop: pw::channel::Receiver<()>,
) -> Result<(), ScreenError> {
    let failed = |what: &str, e: pw::Error| ScreenError::Unsupported(format!("{what} ({e})"));
    pw::init();
    let main_loop = pw::main_loop::MainLoopRc::new(None)
        .map_err(|e| failed("PipeWire could not be started", e))?;
    let context = pw::context::ContextRc::new(&main_loop, None)
        .map_err(|e| failed("PipeWire could not be started", e))?;
    let core = context
        .connect_fd_rc(shared.remote, None)
        .map_err(|e| failed("the screen's PipeWire stream could not be reached", e))?;
    let stream = pw::stream::StreamRc::new(
        core.clone(),
        "onair-screen",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )
    .map_err(|e| failed("the screen's PipeWire stream could not be made", e))?;

    // The share ends with the screen's node: the stream itself only pauses.
    // This is how a stop shows when the portal does not say Closed.
    let registry = core
        .get_registry_rc()
        .map_err(|e| failed("PipeWire's registry could not be read", e))?;
    let _removed = registry
        .add_listener_local()
        .global_remove({
            let latest = latest.clone();
            let node_id = shared.node_id;
            move |id| {
                if id == node_id {
                    end(&latest, ScreenError::SharingStopped);
                }
            }
        })
        .register();
    let format = std::rc::Rc::new(std::cell::Cell::new(None::<(u32, u32)>));
    let _listener = stream
        .add_local_listener_with_user_data(())
        .state_changed({
            let latest = latest.clone();
            let format_tx = format_tx.clone();
            move |_, _, _, state| {
                if let pw::stream::StreamState::Error(why) = state {
                    let why = ScreenError::Unsupported(format!(
                        "the screen's PipeWire stream failed ({why})"
                    ));
                    let _ = format_tx.send(Err(why.clone()));
                    end(&latest, why);
                }
            }
        })
        .param_changed({
            let format = format.clone();
            let latest = latest.clone();
            let format_tx = format_tx.clone();
            move |_, _, id, param| {
                let Some(param) = param else { return };
                if id != spa::param::ParamType::Format.as_raw() {
                    return;
                }
                let mut info = spa::param::video::VideoInfoRaw::default();
                if info.parse(param).is_err() {
                    return;
                }
                use spa::param::video::VideoFormat;
                if !matches!(info.format(), VideoFormat::BGRx | VideoFormat::BGRA) {
                    let why = ScreenError::Unsupported(format!(
                        "the compositor sends pictures as {:?}, which Onair does not read",
                        info.format()
                    ));
                    let _ = format_tx.send(Err(why.clone()));
                    end(&latest, why);
                    return;
                }
                format.set(Some((info.size().width, info.size().height)));
                let _ = format_tx.send(Ok(Ready::Format));
            }
        })
        .process({
            let latest = latest.clone();
            let mut first = Some(format_tx);
            move |stream, _| {
                // Only the newest picture matters: older queued ones go back.
                let mut newest = None;
                while let Some(buffer) = stream.dequeue_buffer() {
                    newest = Some(buffer);
                }
                let (Some(mut buffer), Some((width, height))) = (newest, format.get()) else {
                    return;
                };
                let Some(data) = buffer.datas_mut().first_mut() else {
                    return;
                };
                let chunk = data.chunk();
                let (offset, size, stride) = (
                    chunk.offset() as usize,
                    chunk.size() as usize,
                    chunk.stride(),
                );
                let corrupted = chunk.flags().contains(spa::buffer::ChunkFlags::CORRUPTED);
                let stride = if stride > 0 { stride as u32 } else { width * 4 };
                let needed = stride as usize * (height as usize - 1) + width as usize * 4;
                // An empty chunk carries only a pointer move (metadata).
                if corrupted || size < needed {
                    return;
                }
                let Some(bytes) = data.data() else { return };
                let Some(bytes) = bytes.get(offset..offset + needed) else {
                    return;
                };
                let mut copy = std::mem::take(&mut latest.lock().unwrap().spare);
                copy.clear();
                copy.extend_from_slice(bytes);
                copy.resize(stride as usize * height as usize, 0);
                let picture = Picture {
                    width,
                    height,
                    stride,
                    data: copy,
                };
                let mut mailbox = latest.lock().unwrap();
                if let Some(old) = mailbox.fresh.replace(picture) {
                    mailbox.spare = old.data;
                }
                if let Some(ready) = first.take() {
                    let _ = ready.send(Ok(Ready::Picture));
                }
            }
        })
        .register()
        .map_err(|e| failed("the screen's PipeWire stream could not be watched", e))?;

    let params = format_params();
    let mut params = [spa::pod::Pod::from_bytes(&params).expect("a serialised pod")];
    stream
        .connect(
            spa::utils::Direction::Input,
            Some(shared.node_id),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut params,
        )
        .map_err(|e| failed("the screen's PipeWire stream could not be connected", e))?;

    let _stop = stop.attach(main_loop.loop_(), {
        let main_loop = main_loop.clone();
        move |()| main_loop.quit()
    });
    main_loop.run();
    let _ = stream.disconnect();
    Ok(())
}
