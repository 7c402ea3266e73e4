//! The preview: `preview://localhost/frame.jpg` answers with the newest
//! captured frame, downscaled to at most 640 wide, as a JPEG the webview
//! decodes natively.

use std::borrow::Cow;

use jpeg_encoder::{ColorType, Encoder};
use onair_engine::media::VideoFrame;
use onair_engine::pipeline::capture::Capture;
use tauri::http::{Response, StatusCode};

pub const SCHEME: &str = "preview";
const PREVIEW_WIDTH: u32 = 640;
const QUALITY: u8 = 70;

pub fn respond(capture: &Capture, path: &str) -> Response<Cow<'static, [u8]>> {
    let frame = capture.latest_frame();
    match (path, frame) {
        ("/frame.jpg", Some(frame)) => Response::builder()
            .header("Content-Type", "image/jpeg")
            .header("Cache-Control", "no-store")
            .header("Access-Control-Allow-Origin", "*")
            .body(Cow::Owned(jpeg(&frame)))
            .expect("valid response"),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Cow::Borrowed(&[][..]))
            .expect("valid response"),
    }
}

fn jpeg(frame: &VideoFrame) -> Vec<u8> {
    let (w, h, rgb) = frame.preview_rgb(PREVIEW_WIDTH);
    let mut out = Vec::new();
    Encoder::new(&mut out, QUALITY)
        .encode(&rgb, w as u16, h as u16, ColorType::Rgb)
        .expect("encoding into memory cannot fail");
    out
}
