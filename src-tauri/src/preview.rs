//! The preview: `preview://localhost/frame.jpg` answers with the newest
//! captured frame, downscaled to 640 wide, as a JPEG the webview decodes natively.

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

/// I420 to RGB at a whole-number downscale (nearest sample), then JPEG.
fn jpeg(frame: &VideoFrame) -> Vec<u8> {
    let step = (frame.width / PREVIEW_WIDTH).max(1) as usize;
    let (w, h) = (frame.width as usize / step, frame.height as usize / step);
    let (y_plane, u_plane, v_plane) = frame.planes();
    let (fw, cw) = (frame.width as usize, (frame.width as usize).div_ceil(2));
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        let (sy, cy) = (row * step, row * step / 2);
        for col in 0..w {
            let (sx, cx) = (col * step, col * step / 2);
            let y = (y_plane[sy * fw + sx] as f32 - 16.0) * 1.164;
            let u = u_plane[cy * cw + cx] as f32 - 128.0;
            let v = v_plane[cy * cw + cx] as f32 - 128.0;
            rgb.push((y + 1.596 * v).clamp(0.0, 255.0) as u8);
            rgb.push((y - 0.392 * u - 0.813 * v).clamp(0.0, 255.0) as u8);
            rgb.push((y + 2.017 * u).clamp(0.0, 255.0) as u8);
        }
    }
    let mut out = Vec::new();
    Encoder::new(&mut out, QUALITY)
        .encode(&rgb, w as u16, h as u16, ColorType::Rgb)
        .expect("encoding into memory cannot fail");
    out
}
