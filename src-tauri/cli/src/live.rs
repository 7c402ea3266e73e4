//! `onair live DEST...`: one Go Live to one or more destinations, one Stop
//! (Ctrl-C or --duration).

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use onair_engine::clock::MediaClock;
use onair_engine::compose::{Layout, DEFAULT_PIP_PERCENT};
use onair_engine::destination::Destination;
use onair_engine::events::{Event, SessionState};
use onair_engine::keys;
use onair_engine::keys::config::ConfigStore;
use onair_engine::pipeline::capture::{Capture, CaptureSpec};
use onair_engine::secret::Secret;
use onair_engine::session::plan::MAX_DESTINATIONS;
use onair_engine::session::runner::url_name;
use onair_engine::session::{self, prepare, NamedDestination, SessionRequest};
use onair_engine::sink::file::check_new_recording;
use onair_engine::source::{AudioChoice, VideoChoice};
use onair_engine::voice::VoiceMode;
use onair_engine::{ErrorCode, OnairError};

#[derive(Args)]
pub struct LiveArgs {
    /// Where to go live: saved destinations' names, or file:PATH, rtmp(s)://...,
    /// ws(s)://... or http(s)://... (up to 8, encoded once for all).
    #[arg(required = true, num_args = 1..)]
    dest: Vec<String>,
    /// Read the stream key (or token) for an ad-hoc URL from stdin (one DEST only).
    #[arg(long)]
    key_stdin: bool,
    /// test, test:busy (with grain that costs a camera's bitrate), camera[:N], or
    /// screen[:MONITOR] (the whole screen, or one monitor by index or name;
    /// on Wayland the desktop asks which screen, once, and remembers it),
    /// y4m:PATH (a raw YUV4MPEG2 4:2:0 clip, looped at its own frame rate and
    /// sent at --size and --fps)
    #[arg(long, default_value = "test", value_parser = parse_video)]
    video: VideoChoice,
    /// A second picture over or beside the video: camera[:N] or test.
    #[arg(long, value_parser = parse_overlay)]
    overlay: Option<VideoChoice>,
    /// With --overlay: camera, screen, pip-br, pip-bl, pip-tr, pip-tl or side (default pip-br).
    #[arg(long, value_parser = parse_layout)]
    layout: Option<Layout>,
    /// The corner picture's width in percent of the stream's.
    #[arg(long, default_value_t = DEFAULT_PIP_PERCENT, value_parser = clap::value_parser!(u32).range(10..=50))]
    pip_size: u32,
    /// Read commands from stdin while live, one a line: `layout NAME` switches the layout.
    #[arg(long)]
    control_stdin: bool,
    /// test, mic[:NAME] or none
    #[arg(long, default_value = "test", value_parser = parse_audio)]
    audio: AudioChoice,
    /// The voice chain: off, light (level and limiter) or clean (noise suppression too).
    /// Default: clean for a microphone, off for the test tone.
    #[arg(long, value_parser = parse_voice)]
    voice: Option<VoiceMode>,
    #[command(flatten)]
    picture: PictureArgs,
    /// Stop by itself after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Print one JSON event per line instead of a status line.
    #[arg(long)]
    json: bool,
    /// Also print the audio meter (about 20 events a second).
    #[arg(long)]
    levels: bool,
    /// Reconnect attempts after a lost connection before giving up.
    #[arg(long, default_value_t = 10)]
    reconnect_attempts: u32,
    /// Send three sizes (full, half, quarter) so each viewer gets what fits (LiveKit, WHIP).
    #[arg(long)]
    simulcast: bool,
    /// The LiveKit room this stream must go to; a token for another room is refused before connecting (one DEST only).
    #[arg(long)]
    room: Option<String>,
    /// LiveKit: fetch the token from this platform endpoint (POST, bearer from --key-stdin; one DEST only).
    #[arg(long)]
    token_url: Option<String>,
    /// Also record the full-size picture with AAC sound to this FLV file while live.
    #[arg(long, value_name = "FILE")]
    record: Option<std::path::PathBuf>,
}

/// The picture a stream sends: `live` sends it, `check` sizes a link for it.
#[derive(Args)]
pub struct PictureArgs {
    /// Picture size as WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub fps: u32,
    /// Video bitrate in kbit/s.
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u32).range(100..=50_000))]
    pub bitrate: u32,
}

fn parse_video(s: &str) -> Result<VideoChoice, String> {
    match s.split_once(':') {
        None if s == "test" => Ok(VideoChoice::TestPattern),
        Some(("test", "busy")) => Ok(VideoChoice::BusyTestPattern),
        None if s == "camera" => Ok(VideoChoice::Camera(None)),
        Some(("camera", n)) => n
            .parse()
            .map(|n| VideoChoice::Camera(Some(n)))
            .map_err(|_| format!("camera index must be a number, not {n:?}")),
        None if s == "screen" => Ok(VideoChoice::Screen(None)),
        Some(("screen", m)) if !m.is_empty() => Ok(VideoChoice::Screen(Some(m.to_string()))),
        Some(("y4m", path)) if !path.is_empty() => Ok(VideoChoice::Y4mFile(path.into())),
        _ => {
            Err("use test, test:busy, camera, camera:N, screen, screen:MONITOR or y4m:PATH".into())
        }
    }
}

fn parse_overlay(s: &str) -> Result<VideoChoice, String> {
    match parse_video(s) {
        Ok(choice @ (VideoChoice::Camera(_) | VideoChoice::TestPattern)) => Ok(choice),
        _ => Err("use camera, camera:N or test".into()),
    }
}

fn parse_layout(s: &str) -> Result<Layout, String> {
    Layout::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Layout::ALL.iter().map(|l| l.as_str()).collect();
        format!("use {}", names.join(", "))
    })
}

fn parse_audio(s: &str) -> Result<AudioChoice, String> {
    match s.split_once(':') {
        None if s == "test" => Ok(AudioChoice::TestTone),
        None if s == "none" => Ok(AudioChoice::None),
        None if s == "mic" => Ok(AudioChoice::Microphone(None)),
        Some(("mic", name)) => Ok(AudioChoice::Microphone(Some(name.to_string()))),
        _ => Err("use test, mic, mic:NAME or none".into()),
    }
}

fn parse_voice(s: &str) -> Result<VoiceMode, String> {
    VoiceMode::parse(s).ok_or_else(|| "use off, light or clean".into())
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("size must look like 1280x720, not {s:?}");
    let (w, h) = s.split_once('x').ok_or_else(bad)?;
    let (w, h): (u32, u32) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    if !(16..=3840).contains(&w) || !(16..=2160).contains(&h) {
        return Err("size must be between 16x16 and 3840x2160".into());
    }
    Ok((w, h))
}

pub fn run(args: LiveArgs) -> ExitCode {
    let json = args.json;
    let levels = args.levels;
    let print = Arc::new(move |event: Event| {
        if matches!(event, Event::Levels { .. }) && !levels {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = if json {
            writeln!(out, "{}", event.to_json_line())
        } else {
            writeln!(out, "{}", human(&event))
        };
        let _ = out.flush();
    });
    let fail = |error: OnairError| {
        print(Event::State {
            state: SessionState::Failed,
            at_ms: 0,
            error: Some(error),
        });
        ExitCode::from(1)
    };

    if args.dest.len() > 1 {
        let single_only = [
            (args.key_stdin, "--key-stdin"),
            (args.room.is_some(), "--room"),
            (args.token_url.is_some(), "--token-url"),
        ];
        if let Some((_, flag)) = single_only.iter().find(|(given, _)| *given) {
            return usage(&format!(
                "{flag} is for one destination; save each destination once (onair keys add NAME ...) to go live to several."
            ));
        }
        if let Some(twice) = args
            .dest
            .iter()
            .enumerate()
            .find(|(i, d)| args.dest[..*i].contains(d))
        {
            return usage(&format!(
                "{:?} is named twice; each destination goes live once.",
                twice.1
            ));
        }
        if args.dest.len() > MAX_DESTINATIONS {
            return usage(&format!(
                "at most {MAX_DESTINATIONS} destinations go live at once."
            ));
        }
    }
    if args.layout.is_some() && args.overlay.is_none() {
        return usage("--layout places two pictures: add --overlay camera[:N] or --overlay test.");
    }
    if args.control_stdin && args.key_stdin {
        return usage("--control-stdin and --key-stdin both read stdin; save the destination (onair keys add) to use both.");
    }
    if let Some(path) = &args.record {
        // Refused before anything starts: a recording never writes over a file.
        if let Err(e) = check_new_recording(path) {
            return fail(e);
        }
    }
    let stores = match ConfigStore::default_location() {
        Ok(store) => prepare::Stores::os(store.dir()),
        Err(e) => {
            return fail(OnairError::new(
                ErrorCode::InvalidDestination,
                e.to_string(),
            ))
        }
    };
    let mut destinations = Vec::new();
    for dest in &args.dest {
        let overrides = prepare::Overrides {
            room: args.room.clone(),
            token_url: args.token_url.clone(),
            status_url: None,
        };
        match destination(dest, args.key_stdin, overrides, &stores) {
            Ok(Ok(mut named)) => {
                named.config.reconnect_attempts = args.reconnect_attempts;
                destinations.push(named);
            }
            Ok(Err(code)) => return code,
            Err(e) => return fail(e),
        }
    }
    let spec = CaptureSpec {
        video: args.video,
        overlay: args.overlay,
        layout: args.layout.unwrap_or_default(),
        pip_percent: args.pip_size,
        voice: args
            .voice
            .unwrap_or_else(|| VoiceMode::default_for(&args.audio)),
        audio: args.audio,
        width: args.picture.size.0,
        height: args.picture.size.1,
        fps: args.picture.fps,
    };
    let capture = match Capture::open(spec, MediaClock::start(), print.clone()) {
        Ok(c) => Arc::new(c),
        Err(e) => return fail(e),
    };
    let mut config = SessionRequest::new(destinations);
    config.video_kbps = args.picture.bitrate;
    config.duration = args.duration.map(Duration::from_secs_f64);
    config.simulcast = args.simulcast;
    config.record = args.record;

    if args.control_stdin {
        spawn_control(capture.clone());
    }
    let handle = session::start(config, capture, print);
    let stopper = handle.stopper();
    // Ctrl-C is Stop: the recording is finished properly, the exit status is 0.
    let _ = ctrlc::set_handler(move || stopper.stop());
    match handle.join() {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1), // already reported as a failed state event
    }
}

/// One DEST as a named destination: a saved name with its keychain entry,
/// or a URL (with a key typed in it, or piped with --key-stdin). A usage
/// mistake is the exit code to return.
fn destination(
    dest: &str,
    key_stdin: bool,
    overrides: prepare::Overrides,
    stores: &prepare::Stores,
) -> Result<Result<NamedDestination, ExitCode>, OnairError> {
    let resolved = keys::resolve(dest)?;
    let mut secret = resolved.secret;
    // A key as the RTMP URL's last segment, or a password or token in any URL.
    let typed_in_url = resolved.saved.is_none()
        && (secret.is_some() || keys::url::check_no_credentials(dest).is_err());
    if typed_in_url {
        crate::keys::warn_key_on_command_line(
            "a key was typed into the URL on the command line.",
            "pipe it with --key-stdin instead, or save the destination once (onair keys add NAME --url URL) and go live by its name.",
        );
    }
    if let Destination::File(path) = &resolved.destination {
        check_new_recording(path)?;
    }
    if key_stdin {
        if resolved.saved.is_some() {
            return Ok(Err(usage(&format!(
                "--key-stdin is for URLs; {dest:?} is a saved destination whose key is in the keychain."
            ))));
        }
        if secret.is_some() {
            return Ok(Err(usage("the URL already carries a key; pass it either in the URL or with --key-stdin, not both.")));
        }
        match read_stdin_secret() {
            Some(s) => secret = Some(s),
            None => return Ok(Err(usage("--key-stdin was given but stdin held no key."))),
        }
    }
    let name = match &resolved.saved {
        Some(saved) => saved.name.clone(),
        None => url_name(&resolved.destination),
    };
    let overrides = prepare::Overrides {
        token_url: overrides.token_url.filter(|_| resolved.saved.is_none()),
        ..overrides
    };
    let resolved = keys::Resolved { secret, ..resolved };
    let config = prepare::live_config(resolved, overrides, stores)?;
    Ok(Ok(NamedDestination { name, config }))
}

/// `--control-stdin`: commands a line at a time while live. A bad line is
/// reported on stderr and ignored; the stream goes on.
fn spawn_control(capture: Arc<Capture>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            let words: Vec<&str> = line.split_whitespace().collect();
            let result = match words.as_slice() {
                [] => continue,
                ["layout", name] => match Layout::parse(name) {
                    Some(layout) => capture.set_layout(layout).map_err(|e| e.message),
                    None => Err(parse_layout(name).unwrap_err()),
                },
                _ => Err("commands: layout NAME".to_string()),
            };
            match result {
                Ok(()) => eprintln!("control: {}", line.trim()),
                Err(why) => eprintln!("control: {:?} ignored: {why}", line.trim()),
            }
        }
    });
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message} [invalid_destination]");
    ExitCode::from(2)
}

/// The whole of stdin less its final newline, or a no-echo prompt at a
/// terminal; None when empty.
fn read_stdin_secret() -> Option<Secret> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if stdin.is_terminal() {
        text = rpassword::prompt_password("Stream key: ").ok()?;
    } else {
        stdin.lock().read_to_string(&mut text).ok()?;
    }
    let text = text.trim_end_matches(['\r', '\n']);
    (!text.trim().is_empty()).then(|| Secret::new(text))
}

pub fn human(event: &Event) -> String {
    match event {
        Event::State { state, error: Some(e), .. } => format!("{state:?}: {} [{}]", e.message, e.code.as_str()),
        Event::State { state, at_ms, .. } => format!("{:>6.1}s  {}", *at_ms as f64 / 1000.0, format!("{state:?}").to_uppercase()),
        Event::Stats { at_ms, video, audio, sink_queue, .. } => format!(
            "{:>6.1}s  LIVE  {:.0} fps  {:.0} kbps video  {:.0} kbps audio  encode {:.1} ms  dropped {}  queued {}/{} frames, {}/{} packets",
            *at_ms as f64 / 1000.0,
            video.fps,
            video.kbps,
            audio.as_ref().map_or(0.0, |a| a.kbps),
            video.encode_ms,
            video.dropped,
            video.capture_queue.peak,
            video.capture_queue.capacity,
            sink_queue.peak,
            sink_queue.capacity,
        ),
        Event::Viewers { count, destination: Some(name), total: Some(total) } => format!("{name}: viewers: {count} ({total} in all)"),
        Event::Viewers { count, .. } => format!("viewers: {count}"),
        Event::DestinationHealth { destination, grade, message, at_ms } => format!("{:>6.1}s  {destination}: {}: {message}", *at_ms as f64 / 1000.0, format!("{grade:?}").to_uppercase()),
        Event::Destination { destination, state, error: Some(e), .. } => format!("{destination}: {state:?}: {} [{}]", e.message, e.code.as_str()),
        Event::Destination { destination, state, at_ms, .. } => format!("{:>6.1}s  {destination}: {}", *at_ms as f64 / 1000.0, format!("{state:?}").to_uppercase()),
        Event::Recording { path } => format!("recording to {path}"),
        Event::Health { message, destination, .. } => format!("{}note: {message}", label(destination)),
        Event::Levels { peak_dbfs, rms_dbfs, limiter_db } => {
            let limiting = if *limiter_db > 0.0 { format!(", limiter -{limiter_db:.1} dB") } else { String::new() };
            format!("audio {peak_dbfs:.1} dBFS peak, {rms_dbfs:.1} dBFS RMS{limiting}")
        }
        Event::Reconnect { at_ms, attempt, retry_in_ms, reason, destination } => format!(
            "{:>6.1}s  {}RECONNECTING  attempt {attempt}, next try in {:.1} s ({reason})",
            *at_ms as f64 / 1000.0,
            label(destination),
            *retry_in_ms as f64 / 1000.0
        ),
        Event::Platform { stale: true, detail, destination, .. } => {
            format!("{}platform status unavailable: {}", label(destination), detail.as_deref().unwrap_or("no answer"))
        }
        Event::Platform { live, viewers, destination, .. } => format!(
            "{}platform: {}{}",
            label(destination),
            match live {
                Some(true) => "live",
                Some(false) => "not live",
                None => "status unknown",
            },
            viewers.map(|n| format!(", {n} viewers")).unwrap_or_default()
        ),
        Event::Bitrate { at_ms, kbps, backlog_ms, congested, destination } => format!(
            "{:>6.1}s  {}BITRATE  {kbps} kbps ({}, backlog {backlog_ms} ms)",
            *at_ms as f64 / 1000.0,
            label(destination),
            if *congested { "link congested" } else { "link recovered" }
        ),
    }
}

/// "NAME: " before a line about one destination.
fn label(destination: &Option<String>) -> String {
    destination
        .as_ref()
        .map(|name| format!("{name}: "))
        .unwrap_or_default()
}
