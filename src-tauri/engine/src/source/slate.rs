//! The slate: what goes out while a picture source is lost (a camera
//! unplugged, screen sharing stopped), so viewers see a held card instead of
//! a frozen or private picture, and the stream stays up.

use crate::colour::Colour;
use crate::source::convert::{self, ConvertError};

const SLATE_JPEG: &[u8] = include_bytes!("../../../../assets/slate.jpg");

/// The slate as an I420 picture of the stream's size.
pub fn slate(width: u32, height: u32) -> Result<Vec<u8>, ConvertError> {
    let picture = convert::mjpeg_to_i420(SLATE_JPEG, Colour::for_size(width, height))?;
    Ok(convert::scale(picture, width, height)?.data)
}
