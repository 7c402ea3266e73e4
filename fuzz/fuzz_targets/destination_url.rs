//! Destination URLs as a creator pastes them (RTMP/RTMPS with or without the
//! key, WHIP, LiveKit, files). Nothing panics, and a key found in an RTMP
//! URL never survives its redaction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onair_engine::destination::Destination;
use onair_engine::keys::url::{check_no_credentials, infer_kind, split_key};
use onair_engine::redact::redact_url;
use onair_engine::rtmp::url::RtmpUrl;
use onair_engine::whip::protocol;

/// What redaction writes in place of a secret.
const MASK: char = '•';

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Destination::parse(text);
    let _ = RtmpUrl::parse(text, true);
    let _ = RtmpUrl::parse(text, false);
    let _ = infer_kind(text);
    let _ = check_no_credentials(text);
    let _ = protocol::endpoint(text);
    let redacted = redact_url(text);
    let split = split_key(text);
    // (A query or fragment before the path makes no sense in an RTMP URL;
    // the key splitter and the redactor read such text differently.)
    let authority = text
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    if authority.contains(['?', '#']) {
        return;
    }
    if let Some(key) = split.key {
        // Every path piece of the key is masked (query values are masked too,
        // but their names are shown on purpose). A piece that also spells out
        // part of the URL's visible rest, or is too short to mean anything,
        // is no leak.
        let key = key.expose();
        let (path, after) = key.split_once(['?', '#']).unwrap_or((key, ""));
        for piece in path.split('/') {
            let visible_anyway = split.url.contains(piece)
                || after.contains(piece)
                || text[..text.find("://").map_or(0, |at| at + 3)].contains(piece);
            if piece.len() >= 4 && !visible_anyway && !piece.contains(MASK) {
                assert!(!redacted.contains(piece), "{text:?} -> {redacted:?}");
            }
        }
    }
});
