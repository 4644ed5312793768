//! A single-channel `f32` image, the working format of every preparation step, and the
//! statistics the steps share.

/// Share of the shorter side that the border ring spans; 2 % keeps the ring inside the margin
/// people leave around a digit while giving a photo enough pixels for a stable median.
const BORDER_RING_FRACTION: f64 = 0.02;

/// Scale from the median absolute deviation to the standard deviation of Gaussian noise.
const MAD_TO_SIGMA: f32 = 1.4826;

/// A row-major single-channel image; `data.len() == width * height`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    /// Creates a black plane.
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    /// Returns the value at column `x`, row `y`.
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Copies the `width`×`height` rectangle whose top-left corner is (`x`, `y`).
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Plane {
        let mut cropped = Plane::new(width, height);
        for row in 0..height {
            let start = (y + row) * self.width + x;
            cropped.data[row * width..(row + 1) * width]
                .copy_from_slice(&self.data[start..start + width]);
        }
        cropped
    }

    /// Surrounds the plane with `margin` black pixels on every side.
    pub fn padded(&self, margin: usize) -> Plane {
        let mut padded = Plane::new(self.width + 2 * margin, self.height + 2 * margin);
        for row in 0..self.height {
            let start = (row + margin) * padded.width + margin;
            padded.data[start..start + self.width]
                .copy_from_slice(&self.data[row * self.width..(row + 1) * self.width]);
        }
        padded
    }

    /// Resamples to `width`×`height`, each axis on its own: a reduction averages the exact
    /// area that each target pixel covers (as anti-aliasing a bilevel image onto a coarser
    /// grid does), an enlargement interpolates linearly between pixel centres.
    pub fn resized(&self, width: usize, height: usize) -> Plane {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let column_taps = axis_taps(self.width, width);
        let row_taps = axis_taps(self.height, height);

        let mut rows_resized = Plane::new(width, self.height);
        for y in 0..self.height {
            let row = &self.data[y * self.width..(y + 1) * self.width];
            for (x, taps) in column_taps.iter().enumerate() {
                rows_resized.data[y * width + x] = taps.apply(|i| row[i]);
            }
        }
        let mut resized = Plane::new(width, height);
        for (y, taps) in row_taps.iter().enumerate() {
            for x in 0..width {
                resized.data[y * width + x] = taps.apply(|i| rows_resized.get(x, i));
            }
        }
        resized
    }

    /// Reduces to `width`×`height` (each at most the current size) by taking the maximum of
    /// the source pixels that each target pixel covers.
    pub fn max_pooled(&self, width: usize, height: usize) -> Plane {
        let spans = |target: usize, source: usize| -> Vec<(usize, usize)> {
            let ratio = source as f64 / target as f64;
            (0..target)
                .map(|i| {
                    let start = ((i as f64 * ratio).floor() as usize).min(source - 1);
                    let end = (((i + 1) as f64 * ratio).ceil() as usize).clamp(start + 1, source);
                    (start, end)
                })
                .collect()
        };
        let column_spans = spans(width, self.width);
        let row_spans = spans(height, self.height);

        let mut rows_pooled = Plane::new(width, self.height);
        for y in 0..self.height {
            let row = &self.data[y * self.width..(y + 1) * self.width];
            for (x, &(start, end)) in column_spans.iter().enumerate() {
                rows_pooled.data[y * width + x] =
                    row[start..end].iter().copied().fold(0.0, f32::max);
            }
        }
        let mut pooled = Plane::new(width, height);
        for (y, &(start, end)) in row_spans.iter().enumerate() {
            for x in 0..width {
                pooled.data[y * width + x] = (start..end)
                    .map(|row| rows_pooled.get(x, row))
                    .fold(0.0, f32::max);
            }
        }
        pooled
    }

    /// Returns the smallest rectangle (x, y, width, height) holding every value above
    /// `level`, or `None` when no value is above it.
    pub fn bounds_above(&self, level: f32) -> Option<(usize, usize, usize, usize)> {
        let mut x_min = usize::MAX;
        let mut y_min = usize::MAX;
        let mut x_max = 0;
        let mut y_max = 0;
        for y in 0..self.height {
            for x in 0..self.width {
                if self.get(x, y) > level {
                    x_min = x_min.min(x);
                    x_max = x_max.max(x);
                    y_min = y_min.min(y);
                    y_max = y_max.max(y);
                }
            }
        }
        (x_min != usize::MAX).then(|| (x_min, y_min, x_max - x_min + 1, y_max - y_min + 1))
    }

    /// Returns the largest value, or 0.0 for an empty plane.
    pub fn max(&self) -> f32 {
        self.data.iter().copied().fold(0.0, f32::max)
    }

    /// Collects the values of the outer ring, [`BORDER_RING_FRACTION`] of the shorter side
    /// thick and at least one pixel. A plane too thin for an inner part returns every value.
    pub fn border_values(&self) -> Vec<f32> {
        let shorter = self.width.min(self.height);
        let thickness = ((shorter as f64 * BORDER_RING_FRACTION).round() as usize).max(1);
        if shorter <= 2 * thickness {
            return self.data.clone();
        }
        let mut values = Vec::with_capacity(2 * thickness * (self.width + self.height));
        for y in 0..self.height {
            let inner_row = y >= thickness && y < self.height - thickness;
            for x in 0..self.width {
                let inner_column = x >= thickness && x < self.width - thickness;
                if !(inner_row && inner_column) {
                    values.push(self.get(x, y));
                }
            }
        }
        values
    }
}

/// The source samples that make up one resampled sample: consecutive indices from `start`,
/// one weight each, the weights summing to 1.
struct Taps {
    start: usize,
    weights: Vec<f32>,
}

impl Taps {
    fn apply(&self, sample: impl Fn(usize) -> f32) -> f32 {
        let indices = self.start..self.start + self.weights.len();
        indices
            .zip(&self.weights)
            .map(|(i, &weight)| weight * sample(i))
            .sum()
    }
}

/// Returns the taps of each of `target` samples resampled from `source` samples (both at
/// least 1): area averaging when reducing, linear interpolation when enlarging.
fn axis_taps(source: usize, target: usize) -> Vec<Taps> {
    let ratio = source as f64 / target as f64;
    (0..target)
        .map(|i| {
            if ratio >= 1.0 {
                // Target pixel i covers source interval [i·ratio, (i + 1)·ratio).
                let (begin, end) = (i as f64 * ratio, (i + 1) as f64 * ratio);
                let start = (begin.floor() as usize).min(source - 1);
                let stop = (end.ceil() as usize).clamp(start + 1, source);
                let weights = (start..stop)
                    .map(|j| {
                        let overlap = end.min(j as f64 + 1.0) - begin.max(j as f64);
                        (overlap.max(0.0) / ratio) as f32
                    })
                    .collect();
                Taps { start, weights }
            } else {
                // Pixel centres: target i sits at source coordinate (i + 0.5)·ratio − 0.5.
                let centre = ((i as f64 + 0.5) * ratio - 0.5).clamp(0.0, (source - 1) as f64);
                let start = centre.floor() as usize;
                let fraction = (centre - start as f64) as f32;
                let weights = if start + 1 < source {
                    vec![1.0 - fraction, fraction]
                } else {
                    vec![1.0]
                };
                Taps { start, weights }
            }
        })
        .collect()
}

/// Returns the `fraction` quantile (0.0 = minimum, 1.0 = maximum) of `values`, reordering
/// them; 0.0 for no values.
pub(crate) fn quantile(values: &mut [f32], fraction: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((values.len() - 1) as f32 * fraction.clamp(0.0, 1.0)).round() as usize;
    let (_, value, _) = values.select_nth_unstable_by(rank, f32::total_cmp);
    *value
}

/// Returns the median of `values`, reordering them; 0.0 for no values.
pub(crate) fn median(values: &mut [f32]) -> f32 {
    quantile(values, 0.5)
}

/// Estimates the standard deviation of the noise in `values` from their median absolute
/// deviation, which a minority of ink pixels among them barely moves.
pub(crate) fn robust_sigma(values: &[f32]) -> f32 {
    let mut values = values.to_vec();
    let centre = median(&mut values);
    for value in &mut values {
        *value = (*value - centre).abs();
    }
    MAD_TO_SIGMA * median(&mut values)
}
