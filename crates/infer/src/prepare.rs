//! Preparation of people's own digit images for an MNIST classifier.
//!
//! This module owns every step between the bytes of an image file and the 784 pixels a model
//! reads: decoding under size limits, luminance and transparency, polarity, background and
//! noise removal, finding the digit among other marks, stroke-width adjustment, and the size
//! and position normalisation of MNIST. The model, and the dataset's mean and standard
//! deviation, belong to the caller.
//!
//! LeCun, Cortes and Burges describe MNIST's normalisation in the dataset's documentation.
//! Each NIST digit was scaled to fit a 20×20 box, keeping its aspect ratio, and anti-aliasing
//! added grey levels. The digit was then placed in a 28×28 field with its centre of mass at
//! the field's centre.
//!
//! [`decode_image`] turns bytes into an image, [`prepare`] turns an image into a
//! [`PreparedImage`], and [`prepared_to_png_bytes`] encodes the result for inspection.

mod background;
mod components;
mod luminance;
mod normalize;
mod plane;
#[cfg(test)]
mod tests;

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

/// Largest accepted input file, in bytes (32 MiB): a phone photo is a few MiB, and a larger
/// file is more likely a mistake than a digit.
pub const MAX_INPUT_BYTES: u64 = 32 * 1024 * 1024;

/// Largest accepted image, in pixels (50 megapixels, above the 48 MP of current phone
/// cameras). Decoding checks the dimensions in the header before it allocates pixels.
pub const MAX_INPUT_PIXELS: u64 = 50_000_000;

/// Largest number of bytes a decoder may allocate: the pixel limit at 8 bytes per pixel
/// (16-bit RGBA, the widest layout of the accepted formats), plus 64 MiB of decoder state.
const MAX_DECODER_ALLOC: u64 = MAX_INPUT_PIXELS * 8 + 64 * 1024 * 1024;

/// Side of an MNIST image, in pixels.
pub const MNIST_SIDE: usize = 28;

/// Side of the box that MNIST scales each digit to fit, keeping its aspect ratio.
pub const MNIST_BOX_SIDE: usize = 20;

/// Column and row, in pixel indices 0..=27, where [`prepare`] puts the digit's centre of mass,
/// to within half a pixel because it shifts by whole pixels as MNIST did.
///
/// MNIST's documentation says "the center of the 28x28 field", which in pixel indices is
/// 13.5. The MNIST test digits, however, average (14.01, 13.99): MNIST moved each digit by
/// whole pixels so that its centre of mass came nearest to pixel 14, and this module does the
/// same (the test `mnist_statistics_match_constants` checks the mean).
pub const MNIST_CENTRE_OF_MASS: f32 = 14.0;

/// A digit laid out like an MNIST image.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedImage {
    /// 784 values in 0.0..=1.0, row-major 28×28, white digit on black like MNIST; the
    /// strongest stroke pixel is 1.0. Not yet normalised by the dataset's mean and standard
    /// deviation.
    pub pixels: Vec<f32>,
    /// Whether the input was dark on light and was inverted.
    pub inverted: bool,
    /// The digit's bounding box in the source image: x, y, width, height in pixels. Images
    /// over 2048 px per side are analysed in blocks of 2×2 pixels or more, so for them the
    /// box is accurate to one block.
    pub digit_box: (u32, u32, u32, u32),
}

impl PreparedImage {
    /// Converts the pixels to an 8-bit 28×28 grayscale image, white digit on black.
    pub fn to_gray_image(&self) -> GrayImage {
        GrayImage::from_fn(MNIST_SIDE as u32, MNIST_SIDE as u32, |x, y| {
            let index = y as usize * MNIST_SIDE + x as usize;
            let value = self.pixels.get(index).copied().unwrap_or(0.0);
            image::Luma([(value.clamp(0.0, 1.0) * 255.0).round() as u8])
        })
    }
}

/// Reasons why an input cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Input of zero bytes.
    #[error("the file is empty (0 bytes)")]
    Empty,

    /// Input over [`MAX_INPUT_BYTES`].
    #[error(
        "the file is {bytes} bytes, over the limit of {limit} bytes; \
         save the image at a lower resolution or with more compression"
    )]
    FileTooLarge { bytes: u64, limit: u64 },

    /// An image over [`MAX_INPUT_PIXELS`], or one whose decoder needs more memory than the
    /// pixel limit allows.
    #[error(
        "the image is {width}×{height} pixels, over the limit of {limit} pixels; \
         scale it down first"
    )]
    TooLarge { width: u32, height: u32, limit: u64 },

    /// Bytes in no supported format, or a damaged or truncated file.
    #[error(
        "failed to decode the image: {source}; supported formats are PNG, JPEG, BMP, WebP and GIF"
    )]
    Decode {
        #[source]
        source: ImageError,
    },

    /// An image without a mark that could be a digit; `reason` describes what was found instead.
    #[error("no digit found: {reason}")]
    NoDigit { reason: String },

    /// A failure to write the prepared image as PNG.
    #[error("failed to encode the prepared image as PNG: {source}")]
    Encode {
        #[source]
        source: ImageError,
    },
}

/// Decodes an image file held in memory, guessing the format from its content.
///
/// Rejects empty input, input over [`MAX_INPUT_BYTES`], and images over
/// [`MAX_INPUT_PIXELS`], reading only the header before the last check. Applies the EXIF
/// orientation (phone cameras store portrait photos sideways with an orientation tag). An
/// animated GIF or WebP yields its first frame.
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage, PrepareError> {
    if bytes.is_empty() {
        return Err(PrepareError::Empty);
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(PrepareError::FileTooLarge {
            bytes: bytes.len() as u64,
            limit: MAX_INPUT_BYTES,
        });
    }

    let decode_error = |source| PrepareError::Decode { source };
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| decode_error(ImageError::IoError(error)))?;
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(decode_error)?;

    let (width, height) = decoder.dimensions();
    let too_large = PrepareError::TooLarge {
        width,
        height,
        limit: MAX_INPUT_PIXELS,
    };
    if u64::from(width) * u64::from(height) > MAX_INPUT_PIXELS {
        return Err(too_large);
    }
    if limits.reserve(decoder.total_bytes()).is_err() {
        return Err(too_large);
    }

    // A damaged EXIF block should not cost the pixels, so it counts as no rotation.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(|source| match source {
        ImageError::Limits(_) => PrepareError::TooLarge {
            width,
            height,
            limit: MAX_INPUT_PIXELS,
        },
        source => decode_error(source),
    })?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Turns an image of one handwritten digit into MNIST's layout.
///
/// 1. Convert to luminance, compositing transparency onto paper.
/// 2. Invert when the paper (the median of the image border) is light.
/// 3. Remove a smooth background surface (uneven lighting) and the noise floor.
/// 4. Find the marks by hysteresis thresholding, and keep the mark with the most ink with
///    the substantial marks near it, so that specks and shadows along the edge are dropped.
/// 5. Thicken or thin strokes that lie outside MNIST's range of widths.
/// 6. Scale the digit so its longer side is 20 px, place it by its centre of mass and scale
///    the intensities so the strongest pixel is 1.0.
///
/// Grey levels of the strokes are kept, not binarised. Returns `NoDigit` for blank, uniform
/// or tiny images and for marks that do not stand out from the noise.
pub fn prepare(image: &DynamicImage) -> Result<PreparedImage, PrepareError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(PrepareError::NoDigit {
            reason: format!("the image is {}×{} pixels", image.width(), image.height()),
        });
    }
    let working = luminance::paper_luminance(image);
    let ink = background::extract_ink(working.plane);
    let digit = components::find_digit(&ink.ink, ink.noise)?;
    let pixels = normalize::to_mnist_field(&digit.ink).ok_or_else(|| PrepareError::NoDigit {
        reason: "the digit vanished when scaled to 20×20 pixels".to_string(),
    })?;

    let block = working.block;
    let (x, y, width, height) = digit.bounds;
    let source_x = x as u32 * block;
    let source_y = y as u32 * block;
    let digit_box = (
        source_x,
        source_y,
        (width as u32 * block).min(image.width() - source_x),
        (height as u32 * block).min(image.height() - source_y),
    );
    Ok(PreparedImage {
        pixels,
        inverted: ink.inverted,
        digit_box,
    })
}

/// Encodes the prepared pixels as an 8-bit grayscale 28×28 PNG, white digit on black.
pub fn prepared_to_png_bytes(prepared: &PreparedImage) -> Result<Vec<u8>, PrepareError> {
    let mut bytes = Vec::new();
    prepared
        .to_gray_image()
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|source| PrepareError::Encode { source })?;
    Ok(bytes)
}
