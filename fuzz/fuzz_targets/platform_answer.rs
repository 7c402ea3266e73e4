//! A creator's platform answering Onair's hooks and token endpoint: any
//! status, any body, and LiveKit tokens that are not JWTs. Nothing panics,
//! and an answer that echoes the bearer back never gets it into a sentence.
//! A 0x01 byte in the body stands for the bearer, so the fuzzer can place it.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use onair_engine::livekit::{credentials, token};
use onair_engine::platform::client::interpret_answer;
use onair_engine::platform::hooks::{Context, Hook};
use onair_engine::platform::status;
use onair_engine::secret::Secret;

const BEARER: &str = "plat_b3arer_Q9x7Lm2";

#[derive(Arbitrary, Debug)]
struct Answer {
    status: u16,
    body: String,
    now_s: u32,
}

fuzz_target!(|answer: Answer| {
    let body = answer.body.replace('\u{1}', BEARER);
    let bearer = Secret::new(BEARER);
    let ctx = Context {
        secret: Some(bearer.clone()),
        ..Context::default()
    };
    let hook: Hook = serde_json::from_value(serde_json::json!({
        "url": "https://platform.example/status",
        "read": {"live": "/stream/state", "viewers": "/stream/viewers"},
        "live_when": "LIVE"
    }))
    .unwrap();
    match interpret_answer(
        answer.status,
        &body,
        "https://platform.example/status",
        &ctx,
    ) {
        Ok(value) => {
            if let Ok(values) = hook.read(&value) {
                let _ = status::interpret(&hook, &values);
            }
        }
        Err(failure) => assert!(!failure.detail.contains(BEARER), "{}", failure.detail),
    }

    match credentials::interpret(
        "https://platform.example/token",
        answer.status,
        &body,
        &bearer,
        "/token",
        Some("/url"),
    ) {
        Ok(got) => {
            let now = UNIX_EPOCH + Duration::from_secs(answer.now_s as u64);
            if let Err(e) = token::check(&got.token, Some("room"), true, now) {
                assert!(!e.message.contains(BEARER), "{}", e.message);
            }
        }
        Err(e) => assert!(!e.message.contains(BEARER), "{}", e.message),
    }
});
