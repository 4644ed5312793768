//! Seeded random distortions of training images: small rotations, scalings and shifts,
//! and thicker or thinner strokes.
//!
//! Each image's distortion comes from a seed alone, so a run draws the same distortions on
//! every machine and a resumed run draws those of the run it continues.

use crate::IMAGE_SIDE;
use crate::dataset::splitmix64;

/// Ranges of the random distortion, each drawn uniformly and independently per image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Largest rotation either way, in degrees.
    pub max_rotation_degrees: f32,
    /// Largest change of size either way, as a fraction: 0.1 scales between 0.9 and 1.1.
    pub max_scale_change: f32,
    /// Largest shift along each axis either way, in pixels.
    pub max_shift_pixels: f32,
    /// Largest change of stroke width either way, as the weight in [0, 1] of a blend
    /// towards the image's 3 × 3 maximum (thicker) or minimum (thinner).
    pub max_stroke_change: f32,
}

impl Default for Augmentation {
    /// Rotations up to 10°, scalings between 0.9 and 1.1, shifts up to 2 pixels and
    /// strokes up to about one pixel wider or narrower. A person still reads each
    /// distorted digit as the same digit, and the wider strokes resemble a marker's.
    fn default() -> Self {
        Self {
            max_rotation_degrees: 10.0,
            max_scale_change: 0.1,
            max_shift_pixels: 2.0,
            max_stroke_change: 1.0,
        }
    }
}

impl Augmentation {
    /// Writes the intensities of `image` (28 × 28, row-major, 0 to 255) distorted by the
    /// transform that `seed` draws into `output`, as values between 0 and 255.
    ///
    /// Every output pixel is read back through the inverse transform with bilinear
    /// interpolation, and pixels that fall outside the source are background (0).
    pub fn distort(&self, image: &[u8], seed: u64, output: &mut [f32]) {
        let side = IMAGE_SIDE;
        assert_eq!(image.len(), side * side, "an MNIST image has 784 pixels");
        assert_eq!(output.len(), side * side, "the output holds 784 pixels");

        let mut state = seed;
        let mut uniform = || {
            // 53 random bits as a float in [-1, 1).
            let unit = (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            (2.0 * unit - 1.0) as f32
        };
        let angle = (self.max_rotation_degrees * uniform()).to_radians();
        let scale = 1.0 + self.max_scale_change * uniform();
        let shift_x = self.max_shift_pixels * uniform();
        let shift_y = self.max_shift_pixels * uniform();
        let stroke_change = self.max_stroke_change * uniform();
        let source = change_stroke_width(image, stroke_change);

        // Output pixel p comes from source point R(-angle) (p - centre - shift) / scale +
        // centre, the inverse of scaling, rotating and then shifting about the centre.
        let centre = (side as f32 - 1.0) / 2.0;
        let (sin, cos) = angle.sin_cos();
        for y in 0..side {
            for x in 0..side {
                let dx = (x as f32 - centre - shift_x) / scale;
                let dy = (y as f32 - centre - shift_y) / scale;
                let source_x = cos * dx + sin * dy + centre;
                let source_y = -sin * dx + cos * dy + centre;
                output[y * side + x] = bilinear(&source, source_x, source_y);
            }
        }
    }
}

/// Returns `image` as floats with its strokes widened (`change` > 0) or narrowed
/// (`change` < 0): a blend, weighted by `|change|`, towards the maximum or minimum of each
/// pixel's 3 × 3 neighbourhood, which moves every stroke edge by up to one pixel.
fn change_stroke_width(image: &[u8], change: f32) -> Vec<f32> {
    let side = IMAGE_SIDE;
    let original: Vec<f32> = image.iter().map(|&p| f32::from(p)).collect();
    if change == 0.0 {
        return original;
    }
    let weight = change.abs().min(1.0);
    let mut changed = original.clone();
    for y in 0..side {
        for x in 0..side {
            let mut extreme = original[y * side + x];
            for ny in y.saturating_sub(1)..(y + 2).min(side) {
                for nx in x.saturating_sub(1)..(x + 2).min(side) {
                    let value = original[ny * side + nx];
                    extreme = if change > 0.0 {
                        extreme.max(value)
                    } else {
                        extreme.min(value)
                    };
                }
            }
            let value = original[y * side + x];
            changed[y * side + x] = value + weight * (extreme - value);
        }
    }
    changed
}

/// Samples `image` at a fractional position, with background (0) outside it.
fn bilinear(image: &[f32], x: f32, y: f32) -> f32 {
    let side = IMAGE_SIDE as isize;
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let pixel = |px: isize, py: isize| -> f32 {
        if px < 0 || py < 0 || px >= side || py >= side {
            0.0
        } else {
            image[(py * side + px) as usize]
        }
    };
    let top = pixel(x0, y0) * (1.0 - fx) + pixel(x0 + 1, y0) * fx;
    let bottom = pixel(x0, y0 + 1) * (1.0 - fx) + pixel(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IMAGE_PIXELS;

    /// Builds a 28 × 28 image with a filled 6 × 10 bar off the centre.
    fn bar() -> Vec<u8> {
        let mut image = vec![0u8; IMAGE_PIXELS];
        for y in 6..16 {
            for x in 10..16 {
                image[y * IMAGE_SIDE + x] = 255;
            }
        }
        image
    }

    fn distorted(augmentation: Augmentation, seed: u64) -> Vec<f32> {
        let mut output = vec![0.0; IMAGE_PIXELS];
        augmentation.distort(&bar(), seed, &mut output);
        output
    }

    #[test]
    fn zero_ranges_copy_the_image() {
        let identity = Augmentation {
            max_rotation_degrees: 0.0,
            max_scale_change: 0.0,
            max_shift_pixels: 0.0,
            max_stroke_change: 0.0,
        };
        let expected: Vec<f32> = bar().iter().map(|&p| f32::from(p)).collect();
        assert_eq!(distorted(identity, 9), expected);
    }

    #[test]
    fn distortion_depends_only_on_seed() {
        let augmentation = Augmentation::default();
        assert_eq!(distorted(augmentation, 1), distorted(augmentation, 1));
        assert_ne!(distorted(augmentation, 1), distorted(augmentation, 2));
    }

    #[test]
    fn pure_shift_moves_the_bar() {
        let shift_only = Augmentation {
            max_rotation_degrees: 0.0,
            max_scale_change: 0.0,
            max_shift_pixels: 2.0,
            max_stroke_change: 0.0,
        };
        // A shift of up to 2 pixels keeps the bar's ink and moves its centre of mass by as
        // much as the shift.
        for seed in 0..20 {
            let output = distorted(shift_only, seed);
            let ink: f32 = output.iter().sum();
            assert!((ink - 60.0 * 255.0).abs() < 1.0, "seed {seed}: ink {ink}");
            let mean_x: f32 = output
                .iter()
                .enumerate()
                .map(|(i, &v)| (i % IMAGE_SIDE) as f32 * v)
                .sum::<f32>()
                / ink;
            assert!(
                (mean_x - 12.5).abs() <= 2.0 + 1e-3,
                "seed {seed}: x {mean_x}"
            );
        }
    }

    #[test]
    fn geometric_distortion_keeps_most_ink() {
        let geometric = Augmentation {
            max_stroke_change: 0.0,
            ..Augmentation::default()
        };
        for seed in 0..50 {
            let ink: f32 = distorted(geometric, seed).iter().sum();
            let ratio = ink / (60.0 * 255.0);
            // Scaling by s changes the area, and so the ink, by s²: 0.81 to 1.21.
            assert!((0.8..=1.22).contains(&ratio), "seed {seed}: ratio {ratio}");
        }
    }

    #[test]
    fn full_stroke_change_moves_edges_one_pixel() {
        // The 6 × 10 bar becomes 8 × 12 when widened fully and 4 × 8 when narrowed fully.
        let ink = |change: f32| -> f32 { change_stroke_width(&bar(), change).iter().sum() };
        assert_eq!(ink(1.0), 8.0 * 12.0 * 255.0);
        assert_eq!(ink(-1.0), 4.0 * 8.0 * 255.0);
        assert_eq!(ink(0.5), (60.0 + 0.5 * 36.0) * 255.0);
    }
}
