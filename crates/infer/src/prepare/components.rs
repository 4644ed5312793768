//! Finding the digit among the marks of an ink plane: hysteresis thresholding, connected
//! components, and rejection of specks and distant marks.

use super::PrepareError;
use super::background::otsu_threshold;
use super::plane::Plane;

/// Ink, in levels of 255 above the noise floor, that joins a pixel to a mark (the low
/// threshold of the hysteresis). Anti-aliased stroke edges above it stay part of the stroke.
const LOW_INK_LEVEL: f32 = 4.0;

/// Ink, in levels of 255 above the noise floor, that the strongest pixel of a mark needs in
/// any image, so that JPEG ringing and faint smudges on clean paper never count as a digit.
const MIN_INK_CONTRAST: f32 = 24.0;

/// Noise standard deviations, on top of the floor already subtracted, that the strongest
/// pixel of a mark needs. With the floor that makes 6σ, which Gaussian noise alone exceeds
/// in about one pixel in 10⁹.
const SEED_NOISE_SIGMAS: f32 = 3.0;
/// Background noise, as a standard deviation in levels of 255, above which an image without
/// marks is reported as noise rather than as blank. The phone-photo fixtures carry up to
/// 8 levels, so 12 stays clear of ordinary photos.
const NOISE_ONLY_SIGMA: f32 = 12.0;

/// Share of Otsu's threshold that the strongest pixel of a mark needs. Half keeps lighter
/// strokes of the digit but rejects shadows and stains much fainter than the ink.
const OTSU_SEED_FRACTION: f32 = 0.5;

/// Ink mass, as a share of the largest mark's, under which a mark is dropped as a speck.
const MIN_PART_MASS_FRACTION: f64 = 0.05;

/// Largest gap between a mark and the digit, as a share of the digit's longer side, for the
/// mark to join the digit (the separate bar of a 5, the second stroke of a 4).
const MAX_PART_GAP_FRACTION: f32 = 0.5;

/// Share of the digit's peak ink that a pixel needs to count for the digit's bounding box.
/// JPEG ringing around strokes stays under it at qualities from 40 to 95. Anti-aliased edge
/// pixels under it shrink the box by at most one pixel per side.
const CORE_SHARE: f32 = 0.2;

/// Share of an image edge that a mark must cover to count as part of the frame (a table,
/// a shadow, the page's edge) rather than ink on the page.
const FRAME_EDGE_SHARE: f32 = 0.5;

/// Ink mass, as a share of a frame mark's, that the largest inner mark needs to be chosen
/// over the frame mark. Lighter inner marks are specks, and the frame mark is then taken as
/// a digit cropped at the image's edge.
const MIN_INNER_MASS_FRACTION: f64 = 0.05;

/// Shortest longer side, in working pixels, of the largest mark for it to count as a digit.
const MIN_DIGIT_SIDE: usize = 4;

/// The digit found in an ink plane.
pub(super) struct Digit {
    /// Position and size of the digit in the ink plane: x, y, width, height.
    pub bounds: (usize, usize, usize, usize),
    /// The digit's ink inside `bounds`, other marks removed, scaled so its maximum is 1.0.
    pub ink: Plane,
}

/// One 8-connected mark: its bounding box (inclusive) and ink statistics.
#[derive(Clone, Debug)]
struct Mark {
    x_min: usize,
    y_min: usize,
    x_max: usize,
    y_max: usize,
    mass: f64,
    peak: f32,
    /// Pixels on the image's left, right, top and bottom edge.
    edge_pixels: [usize; 4],
}

impl Mark {
    fn width(&self) -> usize {
        self.x_max - self.x_min + 1
    }

    fn height(&self) -> usize {
        self.y_max - self.y_min + 1
    }

    /// Returns whether the mark covers at least [`FRAME_EDGE_SHARE`] of one edge of a
    /// `width`×`height` image.
    fn is_frame(&self, width: usize, height: usize) -> bool {
        let [left, right, top, bottom] = self.edge_pixels.map(|count| count as f32);
        let (width, height) = (width as f32, height as f32);
        left.max(right) >= FRAME_EDGE_SHARE * height || top.max(bottom) >= FRAME_EDGE_SHARE * width
    }
}

/// Finds the digit: the mark with the most ink, with the other substantial marks near it.
///
/// Marks grow from every pixel above [`LOW_INK_LEVEL`], but only marks whose strongest
/// pixel passes the seed level (the largest of [`MIN_INK_CONTRAST`], a noise multiple and
/// a share of Otsu's threshold) count. A mark covering half an image edge gives way to the
/// largest inner mark if that one has at least [`MIN_INNER_MASS_FRACTION`] of its ink.
/// Returns `NoDigit` for a blank plane, for marks that do not stand out from the noise and
/// for a main mark smaller than a digit.
pub(super) fn find_digit(ink: &Plane, noise: f32) -> Result<Digit, PrepareError> {
    let (labels, marks) = label_marks(ink);
    if marks.is_empty() && noise >= NOISE_ONLY_SIGMA {
        return Err(no_digit(
            "the image shows only noise and no mark that stands out from it".to_string(),
        ));
    }
    if marks.is_empty() {
        return Err(no_digit(
            "the image is blank: it shows one uniform background and no marks".to_string(),
        ));
    }

    let seed_level = (OTSU_SEED_FRACTION * otsu_threshold(&ink.data))
        .max(SEED_NOISE_SIGMAS * noise)
        .max(MIN_INK_CONTRAST);
    let mut candidates: Vec<usize> = (0..marks.len())
        .filter(|&index| marks[index].peak >= seed_level)
        .collect();
    candidates.sort_by(|&a, &b| marks[b].mass.total_cmp(&marks[a].mass));
    let Some(&largest) = candidates.first() else {
        let strongest = marks.iter().map(|mark| mark.peak).fold(0.0, f32::max);
        return Err(no_digit(format!(
            "no mark stands out from the background: the strongest rises {strongest:.0} \
             levels (of 255) above the noise, and this image needs {seed_level:.0}"
        )));
    };

    // A mark running along an image edge is usually a table, a shadow or the page's edge.
    // It yields to the largest inner mark unless that one is a mere speck next to it.
    let is_frame = |index: usize| marks[index].is_frame(ink.width, ink.height);
    let largest_inner = candidates.iter().copied().find(|&index| !is_frame(index));
    let main = match largest_inner {
        Some(inner)
            if is_frame(largest)
                && marks[inner].mass >= MIN_INNER_MASS_FRACTION * marks[largest].mass =>
        {
            candidates.retain(|&index| !is_frame(index));
            inner
        }
        _ => largest,
    };

    let main_mark = &marks[main];
    if main_mark.width().max(main_mark.height()) < MIN_DIGIT_SIDE {
        return Err(no_digit(format!(
            "the largest mark is only {}×{} pixels, too small for a digit",
            main_mark.width(),
            main_mark.height()
        )));
    }

    // NOTE: lines of ruled or squared paper, and several digits side by side, join into one
    // digit here; nothing splits them.
    let parts = gather_parts(&marks, &candidates, main);
    Ok(cut_out(ink, &labels, &marks, &parts))
}

fn no_digit(reason: String) -> PrepareError {
    PrepareError::NoDigit { reason }
}

/// Labels the 8-connected marks of pixels above [`LOW_INK_LEVEL`]. Returns one label per
/// pixel (0 = background, `k` = `marks[k - 1]`) and the marks.
fn label_marks(ink: &Plane) -> (Vec<u32>, Vec<Mark>) {
    let (width, height) = (ink.width, ink.height);
    let mut labels = vec![0u32; ink.data.len()];
    let mut marks = Vec::new();
    let mut stack = Vec::new();
    for start in 0..ink.data.len() {
        if labels[start] != 0 || ink.data[start] <= LOW_INK_LEVEL {
            continue;
        }
        let label = marks.len() as u32 + 1;
        let (start_x, start_y) = (start % width, start / width);
        let mut mark = Mark {
            x_min: start_x,
            y_min: start_y,
            x_max: start_x,
            y_max: start_y,
            mass: 0.0,
            peak: 0.0,
            edge_pixels: [0; 4],
        };
        labels[start] = label;
        stack.push(start);
        while let Some(index) = stack.pop() {
            let (x, y) = (index % width, index / width);
            let value = ink.data[index];
            mark.x_min = mark.x_min.min(x);
            mark.x_max = mark.x_max.max(x);
            mark.y_min = mark.y_min.min(y);
            mark.y_max = mark.y_max.max(y);
            mark.mass += f64::from(value);
            mark.peak = mark.peak.max(value);
            let edges = [x == 0, x + 1 == width, y == 0, y + 1 == height];
            for (count, on_edge) in mark.edge_pixels.iter_mut().zip(edges) {
                *count += usize::from(on_edge);
            }
            for neighbour_y in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for neighbour_x in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let neighbour = neighbour_y * width + neighbour_x;
                    if labels[neighbour] == 0 && ink.data[neighbour] > LOW_INK_LEVEL {
                        labels[neighbour] = label;
                        stack.push(neighbour);
                    }
                }
            }
        }
        marks.push(mark);
    }
    (labels, marks)
}

/// Starts from the main mark and adds every candidate of enough mass within reach of the
/// growing digit box, largest first, until nothing more joins. Returns the indices of the
/// digit's marks.
fn gather_parts(marks: &[Mark], candidates: &[usize], main: usize) -> Vec<usize> {
    let min_mass = MIN_PART_MASS_FRACTION * marks[main].mass;
    let mut parts = vec![main];
    let mut digit = marks[main].clone();
    loop {
        let mut grew = false;
        for &index in candidates {
            let mark = &marks[index];
            if parts.contains(&index) || mark.mass < min_mass {
                continue;
            }
            let reach = MAX_PART_GAP_FRACTION * digit.width().max(digit.height()) as f32;
            if box_gap(&digit, mark) <= reach {
                parts.push(index);
                digit.x_min = digit.x_min.min(mark.x_min);
                digit.y_min = digit.y_min.min(mark.y_min);
                digit.x_max = digit.x_max.max(mark.x_max);
                digit.y_max = digit.y_max.max(mark.y_max);
                grew = true;
            }
        }
        if !grew {
            return parts;
        }
    }
}

/// Returns the Euclidean gap in pixels between two bounding boxes, 0.0 when they touch or
/// overlap.
fn box_gap(a: &Mark, b: &Mark) -> f32 {
    let gap = |a_min: usize, a_max: usize, b_min: usize, b_max: usize| {
        if b_min > a_max {
            (b_min - a_max - 1) as f32
        } else if a_min > b_max {
            (a_min - b_max - 1) as f32
        } else {
            0.0
        }
    };
    let dx = gap(a.x_min, a.x_max, b.x_min, b.x_max);
    let dy = gap(a.y_min, a.y_max, b.y_min, b.y_max);
    (dx * dx + dy * dy).sqrt()
}

/// Copies the ink of the digit's marks inside their core box, scaled to a maximum of 1.0.
///
/// The core box contains the digit's pixels with at least [`CORE_SHARE`] of the peak, so
/// that the faint halo JPEG ringing leaves around strokes does not enlarge the digit.
fn cut_out(ink: &Plane, labels: &[u32], marks: &[Mark], parts: &[usize]) -> Digit {
    let mut keep_label = vec![false; marks.len() + 1];
    for &index in parts {
        keep_label[index + 1] = true;
    }
    let x_min = parts.iter().map(|&i| marks[i].x_min).min().unwrap_or(0);
    let y_min = parts.iter().map(|&i| marks[i].y_min).min().unwrap_or(0);
    let x_max = parts.iter().map(|&i| marks[i].x_max).max().unwrap_or(0);
    let y_max = parts.iter().map(|&i| marks[i].y_max).max().unwrap_or(0);
    let (width, height) = (x_max - x_min + 1, y_max - y_min + 1);

    let mut digit = Plane::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let index = (y_min + y) * ink.width + x_min + x;
            if keep_label[labels[index] as usize] {
                digit.data[y * width + x] = ink.data[index];
            }
        }
    }
    let peak = digit.max();
    if peak > 0.0 {
        for value in &mut digit.data {
            *value /= peak;
        }
    }
    let (core_x, core_y, core_width, core_height) = digit
        .bounds_above(CORE_SHARE)
        .unwrap_or((0, 0, width, height));
    Digit {
        bounds: (x_min + core_x, y_min + core_y, core_width, core_height),
        ink: digit.crop(core_x, core_y, core_width, core_height),
    }
}
