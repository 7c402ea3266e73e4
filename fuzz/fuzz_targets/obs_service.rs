//! OBS's `service.json`, as the import reads it. Nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onair_engine::keys::obs::parse_service;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(service) = parse_service(text) {
        let _ = service.suggested_name();
    }
});
