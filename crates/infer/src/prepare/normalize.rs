//! Stroke-width, size and position normalisation of a cut-out digit into MNIST's 28×28
//! layout.

use super::plane::{Plane, quantile};
use super::{MNIST_BOX_SIDE, MNIST_CENTRE_OF_MASS, MNIST_SIDE};

// Stroke widths below are in pixels of the 20 px box, as `stroke_width` measures them. On
// the 10 000 MNIST test digits that measure gives: 1st percentile 1.65, median 2.64, 95th
// percentile 4.17, 99th percentile 5.13 (`mnist_statistics_match_constants` checks them).

/// Stroke width that thin strokes are thickened to: MNIST's median.
pub(super) const TARGET_STROKE_WIDTH: f32 = 2.6;

/// Narrowest stroke width left as drawn, under MNIST's 1st percentile.
pub(super) const MIN_STROKE_WIDTH: f32 = 1.5;

/// Widest stroke width left as drawn, over MNIST's 99th percentile.
pub(super) const MAX_STROKE_WIDTH: f32 = 5.5;

/// Stroke width that strokes wider than [`MAX_STROKE_WIDTH`] are thinned to: MNIST's 95th
/// percentile, so a marker digit stays bold without being an outlier.
pub(super) const THINNED_STROKE_WIDTH: f32 = 4.2;

/// Longer side, in pixels, of the intermediate image on which strokes are thickened or
/// thinned: fine enough that integer radii adjust the width in steps of 0.3 px at 20 px.
const MORPHOLOGY_SIDE: usize = 128;

/// Longer side, in pixels, below which a digit is enlarged before its stroke width is
/// measured: 64 px makes one pixel of the measure 0.3 px at the 20 px box.
const MEASURE_MIN_SIDE: usize = 64;

/// Share of the stroke peak at which the stroke's edge is taken (full width at half maximum).
const STROKE_EDGE_SHARE: f32 = 0.5;

/// Quantile of the ink values taken as the stroke peak, robust to a few hot pixels.
const STROKE_PEAK_QUANTILE: f32 = 0.9;

/// Ink value (of a maximum of 1.0) above which a pixel counts as ink for the stroke peak.
const INK_PRESENT: f32 = 0.05;

/// Ink value (of a maximum of 1.0) above which a resampled pixel still counts for the digit's
/// bounding box; lower values are interpolation tails.
const BOUNDS_LEVEL: f32 = 0.02;

/// Places the cut-out digit (ink in 0.0..=1.0, maximum 1.0) into MNIST's layout: strokes
/// brought to MNIST's width range, longer side scaled to 20 px, centre of mass at
/// [`MNIST_CENTRE_OF_MASS`], maximum 1.0. Returns the 784 row-major values, or `None` when
/// the digit contains no ink.
pub(super) fn to_mnist_field(digit: &Plane) -> Option<Vec<f32>> {
    let longer = digit.width.max(digit.height) as f32;
    let box_width = measure_stroke_width(digit)? * MNIST_BOX_SIDE as f32 / longer;
    let adjusted = if box_width < MIN_STROKE_WIDTH {
        thicken(digit)
    } else if box_width > MAX_STROKE_WIDTH {
        thin(digit)
    } else {
        digit.clone()
    };
    let (x, y, width, height) = adjusted.bounds_above(BOUNDS_LEVEL)?;
    let adjusted = adjusted.crop(x, y, width, height);
    place_by_centre_of_mass(&scale_into_box(&adjusted))
}

/// Measures the stroke width like [`stroke_width`], on a copy enlarged to
/// [`MEASURE_MIN_SIDE`] when the digit is smaller, since the measure moves in steps of whole
/// pixels.
pub(super) fn measure_stroke_width(digit: &Plane) -> Option<f32> {
    let longer = digit.width.max(digit.height);
    if longer >= MEASURE_MIN_SIDE {
        return stroke_width(digit);
    }
    let scale = MEASURE_MIN_SIDE as f32 / longer as f32;
    let width = ((digit.width as f32 * scale).round() as usize).max(1);
    let height = ((digit.height as f32 * scale).round() as usize).max(1);
    Some(stroke_width(&digit.resized(width, height))? / scale)
}

/// Measures the typical stroke width in pixels from the mean distance of stroke pixels to
/// the stroke's edge.
///
/// The stroke is the set of pixels at or above half the stroke peak (full width at half
/// maximum). Across a band `w` px wide the distance to the edge runs evenly from 0 to `w/2`,
/// so its mean is `w/4`. The chamfer distance, measured between pixel centres, adds half a
/// pixel, so `w = 4·(mean − 0.5)`: exact for bars 2, 4 and 8 px wide, 3.33 for 3 and 2.0
/// for 1. Averaging over every stroke pixel makes the measure insensitive to the staircase
/// edges of slanted or blocky strokes. Returns `None` for a plane without ink.
pub(super) fn stroke_width(ink: &Plane) -> Option<f32> {
    let mut strong: Vec<f32> = ink
        .data
        .iter()
        .copied()
        .filter(|&v| v > INK_PRESENT)
        .collect();
    if strong.is_empty() {
        return None;
    }
    let edge = STROKE_EDGE_SHARE * quantile(&mut strong, STROKE_PEAK_QUANTILE);
    let distance = chamfer_distance(ink, edge);
    let (sum, count) = distance
        .iter()
        .filter(|&&d| d > 0.0)
        .fold((0.0_f64, 0_usize), |(sum, count), &d| {
            (sum + f64::from(d), count + 1)
        });
    if count == 0 {
        return None;
    }
    let mean = (sum / count as f64) as f32;
    Some(4.0 * (mean - 0.5))
}

/// Returns, for every pixel at or above `edge`, its chamfer distance to the nearest pixel
/// below it (outside the plane counts as below); 0.0 elsewhere.
fn chamfer_distance(ink: &Plane, edge: f32) -> Vec<f32> {
    const DIAGONAL: f32 = std::f32::consts::SQRT_2;
    let (width, height) = (ink.width as isize, ink.height as isize);
    let mut distance: Vec<f32> = ink
        .data
        .iter()
        .map(|&value| if value >= edge { f32::INFINITY } else { 0.0 })
        .collect();
    let at = |distance: &[f32], x: isize, y: isize| {
        if x < 0 || y < 0 || x >= width || y >= height {
            0.0
        } else {
            distance[(y * width + x) as usize]
        }
    };
    for y in 0..height {
        for x in 0..width {
            let index = (y * width + x) as usize;
            if distance[index] > 0.0 {
                let nearest = (at(&distance, x - 1, y) + 1.0)
                    .min(at(&distance, x, y - 1) + 1.0)
                    .min(at(&distance, x - 1, y - 1) + DIAGONAL)
                    .min(at(&distance, x + 1, y - 1) + DIAGONAL);
                distance[index] = distance[index].min(nearest);
            }
        }
    }
    for y in (0..height).rev() {
        for x in (0..width).rev() {
            let index = (y * width + x) as usize;
            if distance[index] > 0.0 {
                let nearest = (at(&distance, x + 1, y) + 1.0)
                    .min(at(&distance, x, y + 1) + 1.0)
                    .min(at(&distance, x + 1, y + 1) + DIAGONAL)
                    .min(at(&distance, x - 1, y + 1) + DIAGONAL);
                distance[index] = distance[index].min(nearest);
            }
        }
    }
    distance
}

/// Thickens thin strokes so that, once scaled to the 20 px box, they are
/// [`TARGET_STROKE_WIDTH`] px wide.
///
/// The digit is first brought to [`MORPHOLOGY_SIDE`] px. A large digit is reduced by taking
/// the maximum of each block, not the mean, because the mean fades a one-pixel line to a
/// fraction of its intensity. The dilation then rebuilds a solid stroke from the line.
fn thicken(digit: &Plane) -> Plane {
    let (width, height) = morphology_size(digit);
    let resampled = if width < digit.width || height < digit.height {
        digit.max_pooled(width, height)
    } else {
        digit.resized(width, height)
    };
    let Some(stroke) = stroke_width(&resampled) else {
        return resampled;
    };
    let radius = morphology_radius(stroke, width.max(height), TARGET_STROKE_WIDTH);
    if radius < 0.5 {
        return resampled;
    }
    let radius = radius.round() as usize;
    dilate(&resampled.padded(radius), radius)
}

/// Thins strokes to [`THINNED_STROKE_WIDTH`] at the 20 px box, removing at most half of
/// their width.
fn thin(digit: &Plane) -> Plane {
    let (width, height) = morphology_size(digit);
    let resampled = digit.resized(width, height);
    let Some(stroke) = stroke_width(&resampled) else {
        return resampled;
    };
    let radius = -morphology_radius(stroke, width.max(height), THINNED_STROKE_WIDTH);
    let radius = radius.round().min((stroke / 4.0).floor());
    if radius < 1.0 {
        return resampled;
    }
    erode(&resampled, radius as usize)
}

/// Returns the size of the digit scaled so its longer side is [`MORPHOLOGY_SIDE`].
fn morphology_size(digit: &Plane) -> (usize, usize) {
    let scale = MORPHOLOGY_SIDE as f32 / digit.width.max(digit.height) as f32;
    let width = ((digit.width as f32 * scale).round() as usize).max(1);
    let height = ((digit.height as f32 * scale).round() as usize).max(1);
    (width, height)
}

/// Returns the dilation radius (negative: erosion) that makes strokes `stroke` px wide, in a
/// digit whose longer side is `longer` px, `target` px wide once the digit is scaled to the
/// 20 px box.
///
/// Dilating by `r` widens both the strokes and the box by `2r`, so `r` solves
/// `(stroke + 2r) · 20 / (longer + 2r) = target`.
fn morphology_radius(stroke: f32, longer: usize, target: f32) -> f32 {
    let box_side = MNIST_BOX_SIDE as f32;
    (target * longer as f32 - box_side * stroke) / (2.0 * box_side - 2.0 * target)
}

/// Returns the offsets of a digital disk of the given radius (diameter `2·radius + 1`).
fn disk_offsets(radius: usize) -> Vec<(isize, isize)> {
    let radius = radius as isize;
    let limit = (radius * radius + radius) as f32 + 0.25; // (radius + 0.5)²
    let mut offsets = Vec::new();
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            if ((dx * dx + dy * dy) as f32) <= limit {
                offsets.push((dx, dy));
            }
        }
    }
    offsets
}

/// Replaces each pixel by the maximum over a disk around it (grey-level dilation). Pixels
/// outside the plane count as 0.0.
fn dilate(plane: &Plane, radius: usize) -> Plane {
    disk_filter(plane, radius, 0.0, f32::max)
}

/// Replaces each pixel by the minimum over a disk around it (grey-level erosion). Pixels
/// outside the plane count as 0.0, so strokes that touch the plane's edge thin from it too.
fn erode(plane: &Plane, radius: usize) -> Plane {
    disk_filter(plane, radius, f32::INFINITY, f32::min)
}

fn disk_filter(plane: &Plane, radius: usize, start: f32, combine: fn(f32, f32) -> f32) -> Plane {
    let offsets = disk_offsets(radius);
    let (width, height) = (plane.width as isize, plane.height as isize);
    let mut filtered = Plane::new(plane.width, plane.height);
    for y in 0..height {
        for x in 0..width {
            let mut value = start;
            for &(dx, dy) in &offsets {
                let (sx, sy) = (x + dx, y + dy);
                let sample = if sx < 0 || sy < 0 || sx >= width || sy >= height {
                    0.0
                } else {
                    plane.data[(sy * width + sx) as usize]
                };
                value = combine(value, sample);
            }
            filtered.data[(y * width + x) as usize] = value;
        }
    }
    filtered
}

/// Resamples the digit so its longer side is [`MNIST_BOX_SIDE`] px, keeping the aspect
/// ratio up to rounding of the shorter side (at least 1 px).
fn scale_into_box(digit: &Plane) -> Plane {
    let scale = MNIST_BOX_SIDE as f32 / digit.width.max(digit.height) as f32;
    let width = ((digit.width as f32 * scale).round() as usize).clamp(1, MNIST_BOX_SIDE);
    let height = ((digit.height as f32 * scale).round() as usize).clamp(1, MNIST_BOX_SIDE);
    digit.resized(width, height)
}

/// Pastes the digit into a black 28×28 field and scales it to a maximum of 1.0.
///
/// The shift is in whole pixels and brings the intensity-weighted centre of mass as close to
/// [`MNIST_CENTRE_OF_MASS`] as the field allows. Returns `None` when the digit contains no
/// ink.
fn place_by_centre_of_mass(digit: &Plane) -> Option<Vec<f32>> {
    let peak = digit.max();
    if peak <= 0.0 {
        return None;
    }
    let (mut mass, mut moment_x, mut moment_y) = (0.0_f64, 0.0_f64, 0.0_f64);
    for y in 0..digit.height {
        for x in 0..digit.width {
            let value = f64::from(digit.get(x, y));
            mass += value;
            moment_x += value * x as f64;
            moment_y += value * y as f64;
        }
    }
    let offset = |moment: f64, side: usize| {
        let shift = (f64::from(MNIST_CENTRE_OF_MASS) - moment / mass).round();
        shift.clamp(0.0, (MNIST_SIDE - side) as f64) as usize
    };
    let offset_x = offset(moment_x, digit.width);
    let offset_y = offset(moment_y, digit.height);

    let mut field = vec![0.0; MNIST_SIDE * MNIST_SIDE]; // [28 × 28], row-major
    for y in 0..digit.height {
        for x in 0..digit.width {
            field[(offset_y + y) * MNIST_SIDE + offset_x + x] = digit.get(x, y) / peak;
        }
    }
    Some(field)
}
