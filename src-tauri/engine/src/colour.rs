//! Which YUV colour space the pictures are in, decided once per session from
//! its picture size: BT.709 for HD, BT.601 (SMPTE 170M) for SD, both limited
//! range, as broadcast players assume when a stream says nothing. Every RGB
//! conversion the engine makes (camera RGB and MJPEG, the test pattern's bars,
//! the preview) uses it, and the encoder signals it in the SPS's VUI, so a
//! player converts back with the matrix the picture was made with.

use openh264::encoder::VuiConfig;
use yuvutils_rs::YuvStandardMatrix;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// SMPTE 170M (BT.601 525-line): SD.
    Bt601,
    Bt709,
}

impl Colour {
    /// HD is 1280 wide or 720 high and up (what ffmpeg and browsers assume
    /// for an untagged stream of that size).
    pub fn for_size(width: u32, height: u32) -> Colour {
        if width >= 1280 || height >= 720 {
            Colour::Bt709
        } else {
            Colour::Bt601
        }
    }

    /// (Kr, Kb): the luma weights of red and blue.
    fn weights(self) -> (f64, f64) {
        match self {
            Colour::Bt601 => (0.299, 0.114),
            Colour::Bt709 => (0.2126, 0.0722),
        }
    }

    pub fn matrix(self) -> YuvStandardMatrix {
        match self {
            Colour::Bt601 => YuvStandardMatrix::Bt601,
            Colour::Bt709 => YuvStandardMatrix::Bt709,
        }
    }

    /// The H.264 VUI code (Rec. ITU-T H.264 table E-3 to E-5) of its
    /// primaries, transfer and matrix: the three are the same number here.
    pub fn vui_code(self) -> u8 {
        match self {
            Colour::Bt601 => 6,
            Colour::Bt709 => 1,
        }
    }

    pub fn vui(self) -> VuiConfig {
        match self {
            Colour::Bt601 => VuiConfig::bt601(),
            Colour::Bt709 => VuiConfig::bt709(),
        }
    }

    /// R'G'B' (0 to 1) to limited-range Y'CbCr.
    pub fn rgb_to_yuv(self, [r, g, b]: [f64; 3]) -> (u8, u8, u8) {
        let (kr, kb) = self.weights();
        let y = kr * r + (1.0 - kr - kb) * g + kb * b;
        let cb = (b - y) / (2.0 * (1.0 - kb));
        let cr = (r - y) / (2.0 * (1.0 - kr));
        let q = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        (
            q(16.0 + 219.0 * y),
            q(128.0 + 224.0 * cb),
            q(128.0 + 224.0 * cr),
        )
    }

    /// Fixed-point (x256) coefficients for limited-range Y'CbCr to RGB:
    /// (Y gain, V->R, U->G, V->G, U->B), as a per-pixel loop wants them.
    pub fn to_rgb_coefficients(self) -> [i32; 5] {
        let (kr, kb) = self.weights();
        let kg = 1.0 - kr - kb;
        let chroma = 255.0 / 224.0;
        let fixed = |v: f64| (v * 256.0).round() as i32;
        [
            fixed(255.0 / 219.0),
            fixed(2.0 * (1.0 - kr) * chroma),
            fixed(2.0 * (1.0 - kb) * kb / kg * chroma),
            fixed(2.0 * (1.0 - kr) * kr / kg * chroma),
            fixed(2.0 * (1.0 - kb) * chroma),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hd_is_bt709_and_sd_bt601() {
        assert_eq!(Colour::for_size(1280, 720), Colour::Bt709);
        assert_eq!(Colour::for_size(1920, 1080), Colour::Bt709);
        assert_eq!(Colour::for_size(640, 360), Colour::Bt601);
        assert_eq!(Colour::for_size(854, 480), Colour::Bt601);
    }

    #[test]
    fn conversions_match_the_standards_tables() {
        // 75 % bars: BT.601 and BT.709 values from ITU-R BT.801 and SMPTE RP 219.
        let yellow = [0.75, 0.75, 0.0];
        assert_eq!(Colour::Bt601.rgb_to_yuv(yellow), (162, 44, 142));
        assert_eq!(Colour::Bt709.rgb_to_yuv(yellow), (168, 44, 136));
        assert_eq!(Colour::Bt709.rgb_to_yuv([0.75; 3]), (180, 128, 128));
        assert_eq!(Colour::Bt601.rgb_to_yuv([0.0; 3]), (16, 128, 128));
        // The classic BT.601 fixed-point decoder (298, 409, 100, 208, 516).
        assert_eq!(
            Colour::Bt601.to_rgb_coefficients(),
            [298, 409, 100, 208, 516]
        );
        assert_eq!(
            Colour::Bt709.to_rgb_coefficients(),
            [298, 459, 55, 136, 541]
        );
    }
}
