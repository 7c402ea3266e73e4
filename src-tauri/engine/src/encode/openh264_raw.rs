//! openh264 through its own parameter struct (`SEncParamExt`), in a small
//! safe wrapper: the `openh264` crate sets its parameters itself and has no
//! way to ask for CABAC (and so the Main/High profile), the number of
//! reference frames or the entropy coder. Everything else behaves as the
//! crate's encoder does: initialised lazily at the first frame's size,
//! re-initialised (with a keyframe) when the size changes.

use std::os::raw::{c_int, c_void};
use std::ptr::null_mut;

use openh264::OpenH264API;
use openh264_sys2::{
    videoFormatI420, videoFrameTypeI, videoFrameTypeIDR, videoFrameTypeIPMixed, videoFrameTypeP,
    ISVCEncoder, ISVCEncoderVtbl, SBitrateInfo, SEncParamExt, SFrameBSInfo, SSourcePicture, API,
    CAMERA_VIDEO_REAL_TIME, CONSTANT_ID, DEBLOCKING_IDC_0, ENCODER_OPTION, ENCODER_OPTION_BITRATE,
    ENCODER_OPTION_DATAFORMAT, ENCODER_OPTION_SVC_ENCODE_PARAM_EXT, ENCODER_OPTION_TRACE_LEVEL,
    HIGH_COMPLEXITY, LOW_COMPLEXITY, MEDIUM_COMPLEXITY, PRO_BASELINE, PRO_HIGH, RC_BITRATE_MODE,
    SM_SINGLE_SLICE, SPATIAL_LAYER_ALL, WELS_LOG_ERROR,
};

use super::EncodeError;
use crate::colour::Colour;
use crate::media::VideoFrame;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complexity {
    Low,
    Medium,
    High,
}

/// How the encoder writes its syntax: CAVLC (Constrained Baseline, every
/// decoder) or CABAC (High profile: about a tenth fewer bits for the same
/// picture, and decoders must support it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entropy {
    Cavlc,
    Cabac,
}

/// Everything Onair sets; the rest stays at openh264's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub colour: Colour,
    pub keyframe_interval_frames: u32,
    pub complexity: Complexity,
    pub entropy: Entropy,
    /// Reference frames kept for prediction (openh264 clamps them to 1..=6);
    /// None leaves openh264's own choice (1, plus the long-term ones).
    pub ref_frames: Option<u32>,
    pub adaptive_quant: bool,
    pub background_detection: bool,
    pub long_term_reference: bool,
}

impl Params {
    /// The entropy coder, with the complexity that goes with it: CABAC costs
    /// about 15 % more CPU, and openh264's low complexity gives that back at
    /// the same SSIM (make bench-quality: 10 to 20 % fewer bits for x264's
    /// SSIM with the two together, CPU as before). openh264's high
    /// complexity encodes the very same stream as medium here.
    /// A keyframe every `seconds` instead of the engine's two.
    pub fn with_keyframe_seconds(self, seconds: u32) -> Params {
        Params {
            keyframe_interval_frames: self.fps * seconds.max(1),
            ..self
        }
    }

    pub fn with_entropy(self, entropy: Entropy) -> Params {
        Params {
            entropy,
            complexity: match entropy {
                Entropy::Cavlc => self.complexity,
                Entropy::Cabac => Complexity::Low,
            },
            ..self
        }
    }

    /// The full parameter set for a picture of `width`x`height`, on top of
    /// openh264's defaults.
    fn apply(&self, p: &mut SEncParamExt, width: c_int, height: c_int) {
        let bps = (self.bitrate_kbps as c_int).saturating_mul(1000);
        p.iUsageType = CAMERA_VIDEO_REAL_TIME;
        p.iPicWidth = width;
        p.iPicHeight = height;
        p.iTargetBitrate = bps;
        p.iRCMode = RC_BITRATE_MODE;
        p.fMaxFrameRate = self.fps as f32;
        // Never skip: a skipped frame is a lost frame for the viewer.
        p.bEnableFrameSkip = false;
        // Keyframes on the fixed cadence ingest servers and packagers expect.
        p.bEnableSceneChangeDetect = false;
        p.uiIntraPeriod = self.keyframe_interval_frames;
        p.eSpsPpsIdStrategy = CONSTANT_ID;
        p.iMultipleThreadIdc = 0;
        p.bEnableDenoise = false;
        p.bEnableAdaptiveQuant = self.adaptive_quant;
        p.bEnableBackgroundDetection = self.background_detection;
        p.bEnableLongTermReference = self.long_term_reference;
        p.iLtrMarkPeriod = 30;
        p.iComplexityMode = match self.complexity {
            Complexity::Low => LOW_COMPLEXITY,
            Complexity::Medium => MEDIUM_COMPLEXITY,
            Complexity::High => HIGH_COMPLEXITY,
        };
        if let Some(n) = self.ref_frames {
            p.iNumRefFrame = n as c_int;
        }
        p.iEntropyCodingModeFlag = (self.entropy == Entropy::Cabac) as c_int;
        p.iLoopFilterDisableIdc = DEBLOCKING_IDC_0 as c_int;
        p.iMinQp = 0;
        p.iMaxQp = 51;
        p.iSpatialLayerNum = 1;
        p.iTemporalLayerNum = 1;
        let layer = &mut p.sSpatialLayers[0];
        layer.uiProfileIdc = match self.entropy {
            Entropy::Cavlc => PRO_BASELINE,
            Entropy::Cabac => PRO_HIGH,
        };
        layer.iVideoWidth = width;
        layer.iVideoHeight = height;
        layer.fFrameRate = self.fps as f32;
        layer.iSpatialBitrate = bps;
        layer.iMaxSpatialBitrate = bps;
        layer.sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
        layer.sSliceArgument.uiSliceNum = 1;
        // Players guess the matrix of an untagged stream (and guess
        // differently): say which one the pictures are in, limited range.
        let code = self.colour.vui_code();
        layer.bVideoSignalTypePresent = true;
        layer.bColorDescriptionPresent = true;
        layer.bFullRange = false;
        layer.uiColorPrimaries = code;
        layer.uiTransferCharacteristics = code;
        layer.uiColorMatrix = code;
    }
}

/// One encoded picture: Annex B NAL units, parameter sets first on keyframes.
pub struct Picture {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

pub struct RawEncoder {
    api: OpenH264API,
    encoder: *mut ISVCEncoder,
    params: Params,
    size: Option<(c_int, c_int)>,
    info: Box<SFrameBSInfo>,
}

// SAFETY: the encoder instance is owned by this value alone and openh264
// keeps no thread-local state: moving it to another thread is fine (the
// openh264 crate's encoder is Send for the same reason).
unsafe impl Send for RawEncoder {}

fn check(what: &str, status: c_int) -> Result<(), EncodeError> {
    if status == 0 {
        Ok(())
    } else {
        Err(EncodeError::H264(format!(
            "openh264 {what} failed ({status})"
        )))
    }
}

impl RawEncoder {
    pub fn new(params: Params) -> Result<Self, EncodeError> {
        let api = OpenH264API::from_source();
        let mut encoder: *mut ISVCEncoder = null_mut();
        // SAFETY: WelsCreateSVCEncoder writes a new instance pointer into
        // `encoder`; it is destroyed exactly once, in Drop.
        check("creating the encoder", unsafe {
            api.WelsCreateSVCEncoder(&raw mut encoder)
        })?;
        if encoder.is_null() {
            return Err(EncodeError::H264("openh264 made no encoder".into()));
        }
        let mut made = RawEncoder {
            api,
            encoder,
            params,
            size: None,
            info: Box::default(),
        };
        // Errors only, and before it initialises: its start-up note on frame
        // skipping reached the creator's terminal on every run.
        let mut level: c_int = WELS_LOG_ERROR as c_int;
        made.set_option(ENCODER_OPTION_TRACE_LEVEL, (&raw mut level).cast())?;
        Ok(made)
    }

    fn vtable(&self) -> &ISVCEncoderVtbl {
        // SAFETY: `encoder` points at a live instance (checked non-null at
        // creation, destroyed only in Drop), whose first field is its vtable.
        unsafe { &**self.encoder }
    }

    fn set_option(
        &mut self,
        option: ENCODER_OPTION,
        value: *mut c_void,
    ) -> Result<(), EncodeError> {
        let set = self.vtable().SetOption.expect("openh264 has SetOption");
        // SAFETY: callers pass the value type openh264 documents for `option`.
        check("setting an option", unsafe {
            set(self.encoder, option, value)
        })
    }

    /// (Re)initialises for pictures of `width`x`height`.
    fn configure(&mut self, width: c_int, height: c_int) -> Result<(), EncodeError> {
        let mut p = SEncParamExt::default();
        let defaults = self
            .vtable()
            .GetDefaultParams
            .expect("openh264 has GetDefaultParams");
        // SAFETY: `p` is a valid SEncParamExt for openh264 to fill.
        check("reading its defaults", unsafe {
            defaults(self.encoder, &raw mut p)
        })?;
        self.params.apply(&mut p, width, height);
        if self.size.is_none() {
            let init = self
                .vtable()
                .InitializeExt
                .expect("openh264 has InitializeExt");
            // SAFETY: `p` is a complete parameter set that outlives the call.
            check("initialising", unsafe { init(self.encoder, &raw const p) })?;
            let mut format: c_int = videoFormatI420 as c_int;
            self.set_option(ENCODER_OPTION_DATAFORMAT, (&raw mut format).cast())?;
        } else {
            self.set_option(ENCODER_OPTION_SVC_ENCODE_PARAM_EXT, (&raw mut p).cast())?;
            self.force_keyframe();
        }
        self.size = Some((width, height));
        Ok(())
    }

    pub fn force_keyframe(&mut self) {
        if self.size.is_some() {
            let force = self
                .vtable()
                .ForceIntraFrame
                .expect("openh264 has ForceIntraFrame");
            // SAFETY: the encoder is initialised (a size is set).
            unsafe { force(self.encoder, true) };
        }
    }

    /// A new target, at once if running (and kept for a re-initialisation).
    pub fn set_bitrate(&mut self, kbps: u32) -> Result<(), EncodeError> {
        self.params.bitrate_kbps = kbps;
        if self.size.is_none() {
            return Ok(());
        }
        let mut info = SBitrateInfo {
            iLayer: SPATIAL_LAYER_ALL,
            iBitrate: (kbps as c_int).saturating_mul(1000),
        };
        self.set_option(ENCODER_OPTION_BITRATE, (&raw mut info).cast())
    }

    pub fn encode(&mut self, frame: &VideoFrame) -> Result<Option<Picture>, EncodeError> {
        let (width, height) = (frame.width as c_int, frame.height as c_int);
        if self.size != Some((width, height)) {
            self.configure(width, height)?;
        }
        let (y, u, v) = frame.planes();
        let chroma_stride = frame.width.div_ceil(2) as c_int;
        let source = SSourcePicture {
            iColorFormat: videoFormatI420 as c_int,
            iStride: [width, chroma_stride, chroma_stride, 0],
            // openh264 only reads the planes.
            pData: [
                y.as_ptr().cast_mut(),
                u.as_ptr().cast_mut(),
                v.as_ptr().cast_mut(),
                null_mut(),
            ],
            iPicWidth: width,
            iPicHeight: height,
            uiTimeStamp: (frame.capture_us / 1000) as i64,
            bPsnrY: false,
            bPsnrU: false,
            bPsnrV: false,
        };
        let encode = self.vtable().EncodeFrame.expect("openh264 has EncodeFrame");
        // SAFETY: the planes are as large as I420 at the frame's size (the
        // frame's own invariant) and live for the call; `info` is ours.
        check("encoding", unsafe {
            encode(self.encoder, &raw const source, &raw mut *self.info)
        })?;
        let keyframe = match self.info.eFrameType {
            t if t == videoFrameTypeIDR || t == videoFrameTypeI => true,
            t if t == videoFrameTypeP || t == videoFrameTypeIPMixed => false,
            _ => return Ok(None),
        };
        let mut data = Vec::with_capacity(self.info.iFrameSizeInBytes.max(0) as usize);
        for layer in &self.info.sLayerInfo[..self.info.iLayerNum.max(0) as usize] {
            let nals = layer.iNalCount.max(0) as usize;
            // SAFETY: openh264 fills `iNalCount` lengths and a buffer holding
            // their sum, valid until the next EncodeFrame.
            let lengths = unsafe { std::slice::from_raw_parts(layer.pNalLengthInByte, nals) };
            let total: usize = lengths.iter().map(|&n| n.max(0) as usize).sum();
            data.extend_from_slice(unsafe { std::slice::from_raw_parts(layer.pBsBuf, total) });
        }
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(Picture { data, keyframe }))
    }
}

impl Drop for RawEncoder {
    fn drop(&mut self) {
        if self.size.is_some() {
            if let Some(uninit) = self.vtable().Uninitialize {
                // SAFETY: initialised, and never used again.
                unsafe { uninit(self.encoder) };
            }
        }
        // SAFETY: created by WelsCreateSVCEncoder, destroyed once.
        unsafe { self.api.WelsDestroySVCEncoder(self.encoder) };
    }
}
