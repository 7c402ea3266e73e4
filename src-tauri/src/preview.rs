//! The preview: `preview://localhost/frame.jpg` answers with the newest
//! captured frame, downscaled to at most 640 wide, as a JPEG the webview
//! decodes natively. The protocol answers asynchronously: each frame is
//! encoded on a blocking thread, never on the main thread that runs the
//! window. Only the window's own <img> loads it, so it sends no CORS header:
//! no other origin may read the camera's picture.

use std::borrow::Cow;
use std::sync::Arc;

use jpeg_encoder::{ColorType, Encoder};
use onair_engine::media::VideoFrame;
use onair_engine::pipeline::capture::Capture;
use tauri::http::{Request, Response, StatusCode};
use tauri::{Manager, Runtime, UriSchemeContext, UriSchemeResponder};

use crate::studio::Studio;

pub const SCHEME: &str = "preview";
const PREVIEW_WIDTH: u32 = 640;
const QUALITY: u8 = 70;

/// The protocol's handler: called on the main thread, answers from the
/// async runtime's blocking pool.
pub fn handle<R: Runtime>(
    ctx: UriSchemeContext<'_, R>,
    request: Request<Vec<u8>>,
    responder: UriSchemeResponder,
) {
    let studio = ctx.app_handle().state::<Arc<Studio>>().inner().clone();
    let path = request.uri().path().to_string();
    tauri::async_runtime::spawn_blocking(move || {
        responder.respond(respond(&studio.capture(), &path));
    });
}

pub fn respond(capture: &Capture, path: &str) -> Response<Cow<'static, [u8]>> {
    match (path, capture.latest_frame()) {
        ("/frame.jpg", Some(frame)) => frame_response(jpeg(&frame)),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Cow::Borrowed(&[][..]))
            .expect("valid response"),
    }
}

fn frame_response(jpeg: Vec<u8>) -> Response<Cow<'static, [u8]>> {
    Response::builder()
        .header("Content-Type", "image/jpeg")
        .header("Cache-Control", "no-store")
        .body(Cow::Owned(jpeg))
        .expect("valid response")
}

fn jpeg(frame: &VideoFrame) -> Vec<u8> {
    let (w, h, rgb) = frame.preview_rgb(PREVIEW_WIDTH);
    let mut out = Vec::new();
    Encoder::new(&mut out, QUALITY)
        .encode(&rgb, w as u16, h as u16, ColorType::Rgb)
        .expect("encoding into memory cannot fail");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_frame_is_not_readable_from_other_origins() {
        let response = super::frame_response(vec![0xff, 0xd8]);
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        let cors: Vec<_> = response
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "CORS headers: {cors:?}");
    }
}
