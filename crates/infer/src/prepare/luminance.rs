//! Conversion of any decoded image to one luminance plane, transparency composited onto paper.

use image::DynamicImage;

use super::plane::{Plane, median};

/// Maximum side, in pixels, of the plane that the later steps work on. Larger images are
/// reduced by averaging square blocks of an integer side. A phone photo of 4032×3024 is
/// thus processed at 2016×1512, where a 2 px pen stroke is still at least one pixel wide,
/// and each working plane stays under 16 MiB.
pub(super) const WORK_MAX_SIDE: u32 = 2048;

/// BT.601 luma weights for gamma-encoded R, G and B (ITU-R BT.601, also used by JPEG/JFIF).
const LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

/// Full-intensity sample of 8-bit images.
const U8_MAX: f32 = 255.0;

/// Full-intensity sample of 16-bit images.
const U16_MAX: f32 = 65535.0;

/// Full-intensity sample of floating-point images.
const F32_MAX: f32 = 1.0;

/// Full scale of the luminance plane. Every input depth is scaled to 0.0..=255.0, the levels
/// of 8-bit images.
const LEVELS: f32 = 255.0;

/// Median border opacity under which the image counts as drawn on a transparent background.
const TRANSPARENT_BORDER_ALPHA: f32 = 0.5;

/// The luminance of an image, reduced to at most [`WORK_MAX_SIDE`] pixels per side.
pub(super) struct WorkingImage {
    /// Luminance in 0.0..=255.0, composited onto paper.
    pub plane: Plane,
    /// Side of the square block of source pixels that one plane pixel averages (1 = none).
    pub block: u32,
}

/// Sample layout of one `DynamicImage` variant.
#[derive(Clone, Copy)]
struct Layout {
    /// Samples per pixel: 1 gray, 2 gray and alpha, 3 RGB, 4 RGBA.
    channels: usize,
    /// Sample value of full intensity: 255 for 8-bit, 65535 for 16-bit, 1.0 for float.
    full_scale: f32,
}

impl Layout {
    fn new(channels: usize, full_scale: f32) -> Self {
        Self {
            channels,
            full_scale,
        }
    }

    fn is_color(self) -> bool {
        self.channels >= 3
    }

    fn has_alpha(self) -> bool {
        matches!(self.channels, 2 | 4)
    }
}

/// Converts `image` to luminance, composites transparency onto paper and reduces the result
/// to at most [`WORK_MAX_SIDE`] pixels per side.
///
/// The paper is white unless the image has a transparent border and its visible content is
/// light on average: then the paper is black, so that light strokes drawn on transparency
/// (common in dark-mode drawing apps) stay visible. Either way the strokes differ from the
/// paper, and the polarity step that follows decides which side is ink.
pub(super) fn paper_luminance(image: &DynamicImage) -> WorkingImage {
    let width = image.width() as usize;
    let height = image.height() as usize;
    let block = image
        .width()
        .max(image.height())
        .div_ceil(WORK_MAX_SIDE)
        .max(1);
    let sums = match image {
        DynamicImage::ImageLuma8(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(1, U8_MAX), block)
        }
        DynamicImage::ImageLumaA8(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(2, U8_MAX), block)
        }
        DynamicImage::ImageRgb8(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(3, U8_MAX), block)
        }
        DynamicImage::ImageRgba8(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(4, U8_MAX), block)
        }
        DynamicImage::ImageLuma16(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(1, U16_MAX), block)
        }
        DynamicImage::ImageLumaA16(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(2, U16_MAX), block)
        }
        DynamicImage::ImageRgb16(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(3, U16_MAX), block)
        }
        DynamicImage::ImageRgba16(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(4, U16_MAX), block)
        }
        DynamicImage::ImageRgb32F(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(3, F32_MAX), block)
        }
        DynamicImage::ImageRgba32F(b) => {
            accumulate(b.as_raw(), width, height, Layout::new(4, F32_MAX), block)
        }
        // `DynamicImage` is non-exhaustive; a future variant goes through a float copy.
        other => {
            let converted = other.to_rgba32f();
            accumulate(
                converted.as_raw(),
                width,
                height,
                Layout::new(4, F32_MAX),
                block,
            )
        }
    };

    WorkingImage {
        plane: composite_on_paper(sums),
        block,
    }
}

/// Block averages of one image: alpha-weighted luminance and alpha, both in 0.0..=1.0.
struct BlockSums {
    premultiplied: Plane,
    alpha: Plane,
    has_alpha: bool,
}

/// Averages premultiplied luminance and alpha over `block`×`block` squares of `samples`
/// (row-major, `layout.channels` samples per pixel). Edge blocks average the pixels they
/// contain.
fn accumulate<T>(
    samples: &[T],
    width: usize,
    height: usize,
    layout: Layout,
    block: u32,
) -> BlockSums
where
    T: Copy + Into<f32>,
{
    let block = block as usize;
    let out_width = width.div_ceil(block);
    let out_height = height.div_ceil(block);
    let mut premultiplied = Plane::new(out_width, out_height);
    let mut alpha = Plane::new(out_width, out_height);
    let level = |sample: T| {
        let value = sample.into() / layout.full_scale;
        if value.is_nan() {
            0.0
        } else {
            value.clamp(0.0, 1.0)
        }
    };

    let row_len = width * layout.channels;
    for (y, row) in samples.chunks_exact(row_len).take(height).enumerate() {
        let out_row = (y / block) * out_width;
        for (x, pixel) in row.chunks_exact(layout.channels).enumerate() {
            let luma = if layout.is_color() {
                LUMA_WEIGHTS[0] * level(pixel[0])
                    + LUMA_WEIGHTS[1] * level(pixel[1])
                    + LUMA_WEIGHTS[2] * level(pixel[2])
            } else {
                level(pixel[0])
            };
            let opacity = if layout.has_alpha() {
                level(pixel[layout.channels - 1])
            } else {
                1.0
            };
            let index = out_row + x / block;
            premultiplied.data[index] += opacity * luma;
            alpha.data[index] += opacity;
        }
    }

    for out_y in 0..out_height {
        let rows = block.min(height - out_y * block);
        for out_x in 0..out_width {
            let columns = block.min(width - out_x * block);
            let count = (rows * columns) as f32;
            let index = out_y * out_width + out_x;
            premultiplied.data[index] /= count;
            alpha.data[index] /= count;
        }
    }

    BlockSums {
        premultiplied,
        alpha,
        has_alpha: layout.has_alpha(),
    }
}

/// Composites the block averages onto paper and scales them to 0.0..=255.0.
fn composite_on_paper(sums: BlockSums) -> Plane {
    let BlockSums {
        premultiplied,
        alpha,
        has_alpha,
    } = sums;
    let paper = if has_alpha && median(&mut alpha.border_values()) < TRANSPARENT_BORDER_ALPHA {
        let total_alpha: f64 = alpha.data.iter().map(|&value| f64::from(value)).sum();
        let total_luma: f64 = premultiplied
            .data
            .iter()
            .map(|&value| f64::from(value))
            .sum();
        let light_content = total_alpha > 0.0 && total_luma / total_alpha > 0.5;
        if light_content { 0.0 } else { 1.0 }
    } else {
        1.0
    };

    let mut plane = premultiplied;
    for (value, &opacity) in plane.data.iter_mut().zip(&alpha.data) {
        *value = LEVELS * (*value + (1.0 - opacity) * paper);
    }
    plane
}
