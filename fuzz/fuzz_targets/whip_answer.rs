//! A WHIP server's answers: the POST reply (status, Location, Link headers,
//! SDP), a PATCH answer to an ICE restart, and error bodies. Nothing panics.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use onair_engine::whip::protocol::{self, Reply};

#[derive(Arbitrary, Debug)]
struct Answer {
    status: u16,
    reason: String,
    location: Option<String>,
    content_type: Option<String>,
    accept_patch: Option<String>,
    etag: Option<String>,
    links: Vec<String>,
    body: String,
    restart_fragment: String,
}

fuzz_target!(|answer: Answer| {
    let endpoint = protocol::endpoint("https://whip.example/v1/whip/endpoint").unwrap();
    let reply = Reply {
        status: answer.status,
        reason: answer.reason,
        location: answer.location,
        content_type: answer.content_type,
        accept_patch: answer.accept_patch,
        etag: answer.etag,
        links: answer.links,
        body: answer.body,
    };
    if let Ok(accepted) = protocol::accept_post(&endpoint, &reply) {
        let _ = protocol::restarted_answer(&accepted.answer, &answer.restart_fragment);
        let _ = protocol::ice_credentials(&accepted.answer);
        let _ = protocol::first_mid(&accepted.answer);
        let _ = protocol::candidates_in(&accepted.answer);
    }
    let _ = protocol::refusal(&endpoint, &reply, "publishing");
    for link in &reply.links {
        let _ = protocol::ice_servers(link);
    }
    let _ = protocol::candidate_attribute(&reply.body);
});
