//! x264 (Debian's libx264, GPL) as the second H.264 encoder, compiled in only
//! with the `x264` feature: the picture a creator gets from OBS, for the
//! licence that comes with it. It takes the same [`Params`] as openh264 and
//! answers with the same [`Picture`]s, each with its own times (B-frames
//! reorder them).
//!
//! Set for live from `veryfast` (OBS's default), with no look-ahead and (for
//! HD) two slice threads, so nothing waits for pictures to come:
//! - for RTMP and files (High profile), three B-frames in a fixed pattern:
//!   the picture comes out three frames (100 ms) late, in decode order with
//!   its own decode time. B-frames are most of x264's lead on a noisy
//!   picture (docs/BENCHMARKS.md: without them 0.850 SSIM against 0.876,
//!   with them 0.873); a finer motion search makes up what the look-ahead
//!   would give (0.875), for about a fifth more CPU instead of 333 ms;
//! - for WebRTC (Constrained Baseline), no B-frames: one picture out for
//!   each picture in.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::ptr::{null, null_mut};

use x264_sys::x264 as ffi;

use super::openh264_raw::{Entropy, Params, Picture};
use super::EncodeError;
use crate::media::VideoFrame;

/// One picture out of x264, with its own times (B-frames reorder them).
pub struct Timed {
    pub picture: Picture,
    pub pts_us: i64,
    pub dts_us: i64,
}

pub struct X264Encoder {
    params: Params,
    encoder: *mut ffi::x264_t,
    /// The parameter set the running encoder was opened with (reconfigured
    /// in place for a new bitrate).
    running: Option<Box<ffi::x264_param_t>>,
    size: Option<(c_int, c_int)>,
    keyframe_requested: bool,
}

// SAFETY: the encoder instance is owned by this value alone; libx264 keeps
// no thread-affine state between calls, so it may move between threads.
unsafe impl Send for X264Encoder {}

fn fail(what: &str) -> EncodeError {
    EncodeError::H264(format!("x264 {what} failed"))
}

impl X264Encoder {
    /// Opened at the first picture, at its size.
    pub fn new(params: Params) -> Self {
        X264Encoder {
            params,
            encoder: null_mut(),
            running: None,
            size: None,
            keyframe_requested: false,
        }
    }

    /// x264's parameters for pictures of `width`x`height`.
    fn param_set(
        &self,
        width: c_int,
        height: c_int,
    ) -> Result<Box<ffi::x264_param_t>, EncodeError> {
        let mut p = Box::new(MaybeUninit::<ffi::x264_param_t>::zeroed());
        // SAFETY: x264 fills every field of the (zeroed) struct it is given.
        if unsafe { ffi::x264_param_default_preset(p.as_mut_ptr(), c"veryfast".as_ptr(), null()) }
            < 0
        {
            return Err(fail("choosing its preset"));
        }
        // SAFETY: initialised by x264_param_default_preset above.
        let mut p: Box<ffi::x264_param_t> = unsafe { Box::from_raw(Box::into_raw(p).cast()) };
        let kbps = self.params.bitrate_kbps.max(1) as c_int;
        p.i_width = width;
        p.i_height = height;
        p.i_csp = ffi::X264_CSP_I420 as c_int;
        p.i_fps_num = self.params.fps.max(1);
        p.i_fps_den = 1;
        // Times in and out are the session's microseconds.
        p.i_timebase_num = 1;
        p.i_timebase_den = 1_000_000;
        p.b_vfr_input = 0;
        // No look-ahead (and so no macroblock tree), and for HD two threads
        // that share a picture rather than each take one: no picture waits
        // for more. Below HD one thread is quick enough, and slices cost
        // small pictures of text (360p screen: 0.985 SSIM, 0.993 without).
        p.rc.i_lookahead = 0;
        p.rc.b_mb_tree = 0;
        p.i_sync_lookahead = 0;
        let hd = height >= 720;
        p.i_threads = if hd { 2 } else { 1 };
        p.b_sliced_threads = c_int::from(hd);
        // B-frames (veryfast's three) in a fixed pattern, which needs no
        // look-ahead to decide; the baseline profile below removes them.
        p.i_bframe_adaptive = ffi::X264_B_ADAPT_NONE as c_int;
        // Finer motion search than veryfast's (subme 3 for 2): what the
        // look-ahead would have bought, for CPU instead of delay.
        p.analyse.i_subpel_refine = 3;
        // Keyframes on the fixed cadence ingest servers and packagers expect.
        p.i_keyint_max = self.params.keyframe_interval_frames.max(1) as c_int;
        p.i_keyint_min = p.i_keyint_max;
        p.i_scenecut_threshold = 0;
        // Parameter sets before every keyframe, Annex B, as openh264 writes.
        p.b_repeat_headers = 1;
        p.b_annexb = 1;
        p.i_log_level = ffi::X264_LOG_ERROR as c_int;
        // CBR-style, as OBS sets it: the average and a one-second buffer at
        // the target.
        p.rc.i_rc_method = ffi::X264_RC_ABR as c_int;
        p.rc.i_bitrate = kbps;
        p.rc.i_vbv_max_bitrate = kbps;
        p.rc.i_vbv_buffer_size = kbps;
        // Say which matrix the pictures were made with, limited range.
        let code = c_int::from(self.params.colour.vui_code());
        p.vui.b_fullrange = 0;
        p.vui.i_colorprim = code;
        p.vui.i_transfer = code;
        p.vui.i_colmatrix = code;
        let profile: &CStr = match self.params.entropy {
            Entropy::Cavlc => c"baseline",
            Entropy::Cabac => c"high",
        };
        // SAFETY: `p` is a complete parameter set; the name is a C string.
        if unsafe { ffi::x264_param_apply_profile(&raw mut *p, profile.as_ptr()) } < 0 {
            return Err(fail("applying its profile"));
        }
        Ok(p)
    }

    /// Opens for pictures of `width`x`height`; what the encoder it replaces
    /// still held comes back.
    fn open(&mut self, width: c_int, height: c_int) -> Result<Vec<Timed>, EncodeError> {
        let held = self.flush()?;
        self.close();
        let mut p = self.param_set(width, height)?;
        // SAFETY: `p` is a complete parameter set, read during the call.
        let encoder = unsafe { ffi::x264_encoder_open(&raw mut *p) };
        if encoder.is_null() {
            return Err(fail("opening the encoder"));
        }
        self.encoder = encoder;
        self.running = Some(p);
        self.size = Some((width, height));
        // A new size starts with a keyframe anyway; the first picture is one.
        self.keyframe_requested = false;
        Ok(held)
    }

    fn close(&mut self) {
        if !self.encoder.is_null() {
            // SAFETY: opened by x264_encoder_open, closed once.
            unsafe { ffi::x264_encoder_close(self.encoder) };
            self.encoder = null_mut();
        }
    }

    pub fn force_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// A new target, at once if running (and kept for a re-opening).
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncodeError> {
        self.params.bitrate_kbps = kbps;
        let Some(p) = self.running.as_mut() else {
            return Ok(());
        };
        let kbps = kbps.max(1) as c_int;
        p.rc.i_bitrate = kbps;
        p.rc.i_vbv_max_bitrate = kbps;
        p.rc.i_vbv_buffer_size = kbps;
        // SAFETY: the encoder is open; x264 copies what it may change.
        if unsafe { ffi::x264_encoder_reconfig(self.encoder, &raw mut **p) } < 0 {
            return Err(fail("changing the bitrate"));
        }
        Ok(())
    }

    /// Pictures taken in and not yet out.
    pub fn held(&self) -> usize {
        if self.encoder.is_null() {
            return 0;
        }
        // SAFETY: the encoder is open.
        unsafe { ffi::x264_encoder_delayed_frames(self.encoder) }.max(0) as usize
    }

    pub fn encode(&mut self, frame: &VideoFrame, pts_us: i64) -> Result<Vec<Timed>, EncodeError> {
        let (width, height) = (frame.width as c_int, frame.height as c_int);
        let mut out = if self.size != Some((width, height)) {
            self.open(width, height)?
        } else {
            Vec::new()
        };
        let mut input = MaybeUninit::<ffi::x264_picture_t>::zeroed();
        // SAFETY: x264_picture_init sets every field of the picture.
        unsafe { ffi::x264_picture_init(input.as_mut_ptr()) };
        // SAFETY: initialised just above.
        let mut input = unsafe { input.assume_init() };
        let (y, u, v) = frame.planes();
        let chroma_stride = frame.width.div_ceil(2) as c_int;
        input.img.i_csp = ffi::X264_CSP_I420 as c_int;
        input.img.i_plane = 3;
        input.img.i_stride = [width, chroma_stride, chroma_stride, 0];
        // x264 only reads the planes.
        input.img.plane = [
            y.as_ptr().cast_mut(),
            u.as_ptr().cast_mut(),
            v.as_ptr().cast_mut(),
            null_mut(),
        ];
        input.i_pts = pts_us;
        if std::mem::take(&mut self.keyframe_requested) {
            input.i_type = ffi::X264_TYPE_IDR as c_int;
        }
        out.extend(self.step(&raw mut input)?);
        Ok(out)
    }

    /// Everything still held, at the end (or before a new size).
    pub fn flush(&mut self) -> Result<Vec<Timed>, EncodeError> {
        let mut out = Vec::new();
        while self.held() > 0 {
            match self.step(null_mut())? {
                Some(timed) => out.push(timed),
                None => break,
            }
        }
        Ok(out)
    }

    /// One call into x264: `input` (or none, to drain) in, a picture out
    /// when one is ready. The planes `input` points at live for the call.
    fn step(&mut self, input: *mut ffi::x264_picture_t) -> Result<Option<Timed>, EncodeError> {
        let mut nals: *mut ffi::x264_nal_t = null_mut();
        let mut count: c_int = 0;
        let mut output = MaybeUninit::<ffi::x264_picture_t>::zeroed();
        // SAFETY: the encoder is open; `input` is null or a picture whose
        // planes are as large as I420 at the encoder's size (the frame's own
        // invariant); x264 points `nals` at its own buffers, valid until the
        // next call.
        let bytes = unsafe {
            ffi::x264_encoder_encode(
                self.encoder,
                &raw mut nals,
                &raw mut count,
                input,
                output.as_mut_ptr(),
            )
        };
        if bytes < 0 {
            return Err(fail("encoding"));
        }
        if bytes == 0 || nals.is_null() {
            return Ok(None);
        }
        // SAFETY: a positive size means x264 wrote the output picture and
        // NAL units whose payloads lie one after another in one buffer of
        // `bytes` bytes, starting at the first.
        let (output, data) = unsafe {
            (
                output.assume_init(),
                std::slice::from_raw_parts((*nals).p_payload, bytes as usize).to_vec(),
            )
        };
        Ok(Some(Timed {
            picture: Picture {
                data,
                keyframe: output.b_keyframe != 0,
            },
            pts_us: output.i_pts,
            dts_us: output.i_dts,
        }))
    }
}

impl Drop for X264Encoder {
    fn drop(&mut self) {
        self.close();
    }
}
