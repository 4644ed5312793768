//! Polarity, background and noise: turns a luminance plane into an ink plane, where the
//! background is 0 and ink rises above it.

use super::plane::{Plane, median, quantile, robust_sigma};

/// Full scale of the luminance plane.
const LEVELS: f32 = 255.0;

/// Border luminance at or above which the paper counts as light, so the image is inverted.
/// Chosen well above mid-grey (128), so that only clearly light paper skips the vote.
const LIGHT_PAPER_LEVEL: f32 = 160.0;

/// Border luminance at or below which the paper counts as dark, so the image is kept as is.
/// Between this and [`LIGHT_PAPER_LEVEL`], [`is_paper_light`] compares ink on both sides.
const DARK_PAPER_LEVEL: f32 = 96.0;

/// Minimum paper level, in levels of 255, that flat-field correction divides by. Darker
/// paper counts as this level, so a failed fit cannot amplify noise without bound.
const MIN_PAPER_LEVEL: f32 = 32.0;

/// Share of the border that each of two levels must cover for the border to count as split
/// between ink and paper.
const SPLIT_BORDER_SHARE: f32 = 0.3;

/// Difference, in levels of 255, between the two levels of a split border.
const SPLIT_BORDER_CONTRAST: f32 = 64.0;

/// Rows sampled for the noise estimate; 512 rows give hundreds of thousands of differences.
const MAX_NOISE_ROWS: usize = 512;

/// Maximum multiple of the neighbour-difference noise estimate that the border's spread may
/// reach. Correlated noise in denoised photos makes neighbour differences about half as
/// large as the noise itself (an estimate, not a measurement).
const NOISE_DIFFERENCE_CAP: f32 = 2.0;

/// Deviation from a mid-grey paper, in noise standard deviations plus
/// [`POLARITY_MARGIN_LEVELS`], that a pixel needs to count towards the polarity vote.
const POLARITY_MARGIN_SIGMAS: f32 = 3.0;

/// Fixed part of the polarity margin, in levels of 255; it covers JPEG ringing on clean paper.
const POLARITY_MARGIN_LEVELS: f32 = 8.0;

/// Cells per side of the grid whose low quantiles sample the paper for the background fit.
const BACKGROUND_GRID: usize = 8;

/// Quantile of each grid cell taken as its paper level: ink must cover 90 % of a cell before
/// it lifts that cell's sample, and the robust fit then rejects the sample as an outlier.
const CELL_PAPER_QUANTILE: f32 = 0.1;

/// Largest difference, in levels of 255, between a grid cell's sample and the border's paper
/// for the cell to start the background fit as paper. Lighting that varies more is reached
/// by the fit's later rounds.
const INITIAL_PAPER_TOLERANCE: f32 = 48.0;

/// Minimum number of grid cells for a quadratic background fit. Images too small for it get
/// a flat background.
const MIN_FIT_CELLS: usize = 16;

/// Maximum number of pixels sampled for the refined background fit. By estimate, 65 536
/// samples fix six coefficients to well under one level of 255 at common noise levels.
const MAX_PIXEL_SAMPLES: usize = 65_536;

/// Rounds of outlier rejection in the robust background fit.
const FIT_ROUNDS: usize = 8;

/// Positive residual, in robust standard deviations of the residuals, above which a cell
/// counts as ink and leaves the background fit.
const FIT_OUTLIER_SIGMAS: f32 = 3.0;

/// Smallest outlier limit of the background fit, in levels of 255, so that a noise-free
/// synthetic image (residual spread 0) keeps its background cells.
const FIT_MIN_TOLERANCE: f32 = 4.0;

/// Multiple of the noise standard deviation subtracted from the ink, so that background
/// noise becomes 0 while stroke gradations above it survive.
const NOISE_FLOOR_SIGMAS: f32 = 3.0;

/// The result of background removal.
pub(super) struct InkPlane {
    /// Ink in levels of 255 above the background, noise floor subtracted; 0 is background.
    pub ink: Plane,
    /// Whether the paper was light, so the luminance was inverted.
    pub inverted: bool,
    /// Standard deviation of the background noise, in levels of 255.
    pub noise: f32,
}

/// Inverts light paper, removes a smooth background surface and subtracts the noise floor.
pub(super) fn extract_ink(mut plane: Plane) -> InkPlane {
    let border = plane.border_values();
    let noise = estimate_noise(&plane, &border);
    let paper_level = paper_level(&border);
    let inverted = is_paper_light(&plane, paper_level, noise);
    if inverted {
        for value in &mut plane.data {
            *value = LEVELS - *value;
        }
    }

    // On light paper, ink darkens the light falling on it by a factor, so dividing by the
    // local paper brightness (flat-field correction) gives strokes in shadow and in full
    // light the same contrast. Dark backgrounds get plain subtraction: their level is
    // mostly sensor offset, and dividing by it would amplify noise.
    let paper_in_plane = if inverted {
        LEVELS - paper_level
    } else {
        paper_level
    };
    let surface = fit_background(&plane, paper_in_plane);
    for y in 0..plane.height {
        for x in 0..plane.width {
            let background = surface.evaluate(x, y);
            let gain = if inverted {
                LEVELS / (LEVELS - background).clamp(MIN_PAPER_LEVEL, LEVELS)
            } else {
                1.0
            };
            let value = &mut plane.data[y * plane.width + x];
            *value = (*value - background) * gain;
        }
    }

    let noise = estimate_noise(&plane, &plane.border_values());
    let floor = NOISE_FLOOR_SIGMAS * noise;
    for value in &mut plane.data {
        *value = (*value - floor).max(0.0);
    }

    InkPlane {
        ink: plane,
        inverted,
        noise,
    }
}

/// Estimates the standard deviation of the pixel noise, in levels of 255.
///
/// The spread of the border is the direct measure, but ink crossing the border inflates it.
/// Differences between horizontal neighbours ignore both ink (edges are few) and smooth
/// lighting, yet underestimate noise that is correlated between neighbours, as in
/// denoised phone photos. The border's spread therefore counts up to
/// [`NOISE_DIFFERENCE_CAP`] times the neighbours' estimate.
fn estimate_noise(plane: &Plane, border: &[f32]) -> f32 {
    let rows = plane.height.min(MAX_NOISE_ROWS);
    let mut differences = Vec::with_capacity(rows * plane.width.saturating_sub(1));
    for row in 0..rows {
        let y = row * plane.height / rows;
        let line = &plane.data[y * plane.width..(y + 1) * plane.width];
        differences.extend(line.windows(2).map(|pair| pair[1] - pair[0]));
    }
    // The difference of two independent noisy pixels has √2 times their deviation.
    let neighbour_sigma = robust_sigma(&differences) / std::f32::consts::SQRT_2;
    robust_sigma(border).min(NOISE_DIFFERENCE_CAP * neighbour_sigma)
}

/// Returns the paper's luminance: the median of the border, unless the border is split
/// between two clearly different levels, each covering at least [`SPLIT_BORDER_SHARE`] of
/// it. Then the digit most likely fills a tight crop, and the lighter level is taken as
/// the paper.
fn paper_level(border: &[f32]) -> f32 {
    let threshold = otsu_threshold(border);
    let (mut dark_sum, mut dark_count, mut light_sum, mut light_count) = (0.0, 0, 0.0, 0);
    for &value in border {
        if value >= threshold {
            light_sum += f64::from(value);
            light_count += 1;
        } else {
            dark_sum += f64::from(value);
            dark_count += 1;
        }
    }
    let total = border.len() as f32;
    let split = dark_count as f32 >= SPLIT_BORDER_SHARE * total
        && light_count as f32 >= SPLIT_BORDER_SHARE * total;
    // NOTE: this favours dark ink, so a tight crop of a light digit on dark ground that
    // covers a third of the border or more comes out with its polarity reversed.
    if split {
        let dark_mean = (dark_sum / dark_count as f64) as f32;
        let light_mean = (light_sum / light_count as f64) as f32;
        if light_mean - dark_mean >= SPLIT_BORDER_CONTRAST {
            return light_mean;
        }
    }
    median(&mut border.to_vec())
}

/// Decides whether the paper is lighter than the ink.
///
/// Clearly light or dark paper decides alone. For mid-grey paper (an under-exposed photo,
/// coloured card) the side with the larger sum of squared deviations beyond the noise wins,
/// since ink departs further from the paper than lighting does. Deviations are taken from
/// the local paper level, not the border's: in a photo with dark corners the well-lit
/// middle of the page would otherwise count as light ink.
fn is_paper_light(plane: &Plane, paper_level: f32, noise: f32) -> bool {
    if paper_level >= LIGHT_PAPER_LEVEL {
        return true;
    }
    if paper_level <= DARK_PAPER_LEVEL {
        return false;
    }
    let local = LocalLevel::new(plane);
    let margin = POLARITY_MARGIN_SIGMAS * noise + POLARITY_MARGIN_LEVELS;
    let mut darker = 0.0_f64;
    let mut lighter = 0.0_f64;
    for (index, &value) in plane.data.iter().enumerate() {
        let (x, y) = (index % plane.width, index / plane.width);
        let deviation = value - local.at(x, y);
        if deviation < -margin {
            darker += f64::from(deviation * deviation);
        } else if deviation > margin {
            lighter += f64::from(deviation * deviation);
        }
    }
    darker > lighter
}

/// Cells per side of the grid whose medians estimate the local paper level.
const LOCAL_LEVEL_GRID: usize = 8;
/// Pixels sampled per side of a cell at most when taking its median.
const LOCAL_LEVEL_SAMPLES: usize = 32;

/// The median level of each cell of a coarse grid, interpolated bilinearly between cell
/// centres. Ink covers a minority of most cells, so the median follows the paper and its
/// lighting.
struct LocalLevel {
    medians: Vec<f32>,
    columns: usize,
    rows: usize,
    cell_width: f32,
    cell_height: f32,
}

impl LocalLevel {
    fn new(plane: &Plane) -> Self {
        let columns = LOCAL_LEVEL_GRID.min(plane.width).max(1);
        let rows = LOCAL_LEVEL_GRID.min(plane.height).max(1);
        let cell_width = plane.width as f32 / columns as f32;
        let cell_height = plane.height as f32 / rows as f32;
        let mut medians = Vec::with_capacity(columns * rows);
        let mut values = Vec::new();
        for row in 0..rows {
            let (top, bottom) = (row * plane.height / rows, (row + 1) * plane.height / rows);
            for column in 0..columns {
                let (left, right) = (
                    column * plane.width / columns,
                    (column + 1) * plane.width / columns,
                );
                let step_x = ((right - left) / LOCAL_LEVEL_SAMPLES).max(1);
                let step_y = ((bottom - top) / LOCAL_LEVEL_SAMPLES).max(1);
                values.clear();
                for y in (top..bottom).step_by(step_y) {
                    for x in (left..right).step_by(step_x) {
                        values.push(plane.data[y * plane.width + x]);
                    }
                }
                medians.push(median(&mut values));
            }
        }
        Self {
            medians,
            columns,
            rows,
            cell_width,
            cell_height,
        }
    }

    /// Returns the interpolated paper level at pixel (`x`, `y`).
    fn at(&self, x: usize, y: usize) -> f32 {
        let u = ((x as f32 + 0.5) / self.cell_width - 0.5).clamp(0.0, (self.columns - 1) as f32);
        let v = ((y as f32 + 0.5) / self.cell_height - 0.5).clamp(0.0, (self.rows - 1) as f32);
        let (column, row) = (u.floor() as usize, v.floor() as usize);
        let (next_column, next_row) = (
            (column + 1).min(self.columns - 1),
            (row + 1).min(self.rows - 1),
        );
        let (fx, fy) = (u - column as f32, v - row as f32);
        let cell = |c: usize, r: usize| self.medians[r * self.columns + c];
        let top = cell(column, row) * (1.0 - fx) + cell(next_column, row) * fx;
        let bottom = cell(column, next_row) * (1.0 - fx) + cell(next_column, next_row) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

/// A quadratic surface `c0 + c1·u + c2·v + c3·u² + c4·u·v + c5·v²` over coordinates scaled
/// to -1.0..=1.0 across the plane.
pub(super) struct Surface {
    coefficients: [f64; 6],
    width: usize,
    height: usize,
}

impl Surface {
    fn flat(level: f64, width: usize, height: usize) -> Self {
        Self {
            coefficients: [level, 0.0, 0.0, 0.0, 0.0, 0.0],
            width,
            height,
        }
    }

    /// Returns the surface at the centre of pixel (`x`, `y`).
    pub(super) fn evaluate(&self, x: usize, y: usize) -> f32 {
        let (u, v) = unit_coordinates(x as f64 + 0.5, y as f64 + 0.5, self.width, self.height);
        self.evaluate_unit(u, v) as f32
    }

    fn evaluate_unit(&self, u: f64, v: f64) -> f64 {
        let terms = quadratic_terms(u, v);
        terms
            .iter()
            .zip(&self.coefficients)
            .map(|(t, c)| t * c)
            .sum()
    }
}

fn unit_coordinates(x: f64, y: f64, width: usize, height: usize) -> (f64, f64) {
    (2.0 * x / width as f64 - 1.0, 2.0 * y / height as f64 - 1.0)
}

fn quadratic_terms(u: f64, v: f64) -> [f64; 6] {
    [1.0, u, v, u * u, u * v, v * v]
}

/// Fits a smooth background (uneven lighting, vignetting) to the paper of an ink-bright
/// plane whose border shows the paper at `paper_level`.
///
/// A first fit uses one sample per cell of a [`BACKGROUND_GRID`]² grid, a low quantile of
/// the cell's pixels, so that a thick stroke rarely lifts a sample. It starts from the cells
/// within [`INITIAL_PAPER_TOLERANCE`] of the border's paper, so that ink covering most cells
/// cannot pass for paper. Its surface lies a few levels low where the lighting slopes,
/// because a low quantile of a sloping cell sits under the cell's mean, so a second fit
/// refines it on individual pixels that the first one classified as paper. Without enough
/// paper cells the background is flat at `paper_level`.
pub(super) fn fit_background(plane: &Plane, paper_level: f32) -> Surface {
    let flat = Surface::flat(f64::from(paper_level), plane.width, plane.height);
    let cells = cell_samples(plane);
    if cells.len() < MIN_FIT_CELLS {
        return flat;
    }
    let near_paper = f64::from(paper_level + INITIAL_PAPER_TOLERANCE);
    let paper_cells: Vec<bool> = cells
        .iter()
        .map(|&(_, _, level)| level <= near_paper)
        .collect();
    let coarse = robust_fit(&cells, paper_cells, flat);

    let pixels = pixel_samples(plane);
    let residuals: Vec<f32> = pixels
        .iter()
        .map(|&(u, v, level)| (level - coarse.evaluate_unit(u, v)) as f32)
        .collect();
    let tolerance = (FIT_OUTLIER_SIGMAS * robust_sigma(&residuals)).max(FIT_MIN_TOLERANCE);
    let paper: Vec<bool> = residuals.iter().map(|&r| r <= tolerance).collect();
    robust_fit(&pixels, paper, coarse)
}

/// Returns one sample (u, v, level) per grid cell: the cell's centre in unit coordinates and
/// its [`CELL_PAPER_QUANTILE`].
fn cell_samples(plane: &Plane) -> Vec<(f64, f64, f64)> {
    let columns = BACKGROUND_GRID.min(plane.width);
    let rows = BACKGROUND_GRID.min(plane.height);
    let mut samples = Vec::with_capacity(columns * rows);
    for row in 0..rows {
        let (y0, y1) = (row * plane.height / rows, (row + 1) * plane.height / rows);
        for column in 0..columns {
            let (x0, x1) = (
                column * plane.width / columns,
                (column + 1) * plane.width / columns,
            );
            let mut cell = Vec::with_capacity((x1 - x0) * (y1 - y0));
            for y in y0..y1 {
                cell.extend_from_slice(&plane.data[y * plane.width + x0..y * plane.width + x1]);
            }
            let centre_x = (x0 + x1) as f64 / 2.0;
            let centre_y = (y0 + y1) as f64 / 2.0;
            let (u, v) = unit_coordinates(centre_x, centre_y, plane.width, plane.height);
            let level = f64::from(quantile(&mut cell, CELL_PAPER_QUANTILE));
            samples.push((u, v, level));
        }
    }
    samples
}

/// Returns pixel samples (u, v, level) on a regular lattice of at most about
/// [`MAX_PIXEL_SAMPLES`] points.
fn pixel_samples(plane: &Plane) -> Vec<(f64, f64, f64)> {
    let area = plane.width * plane.height;
    let stride = ((area as f64 / MAX_PIXEL_SAMPLES as f64).sqrt().ceil() as usize).max(1);
    let mut samples = Vec::new();
    for y in (0..plane.height).step_by(stride) {
        for x in (0..plane.width).step_by(stride) {
            let (u, v) =
                unit_coordinates(x as f64 + 0.5, y as f64 + 0.5, plane.width, plane.height);
            samples.push((u, v, f64::from(plane.get(x, y))));
        }
    }
    samples
}

/// Refits the surface to the inlier samples until the inliers stop changing: each round
/// drops the samples more than [`FIT_OUTLIER_SIGMAS`] robust standard deviations above the
/// surface (ink) and readmits the others. Keeps `surface` when the inliers do not determine a
/// quadratic.
fn robust_fit(
    samples: &[(f64, f64, f64)],
    mut inliers: Vec<bool>,
    mut surface: Surface,
) -> Surface {
    for _ in 0..FIT_ROUNDS {
        let Some(coefficients) = least_squares(samples, &inliers) else {
            break;
        };
        surface.coefficients = coefficients;
        let residuals: Vec<f32> = samples
            .iter()
            .map(|&(u, v, level)| (level - surface.evaluate_unit(u, v)) as f32)
            .collect();
        let inlier_residuals: Vec<f32> = residuals
            .iter()
            .zip(&inliers)
            .filter(|&(_, &inlier)| inlier)
            .map(|(&residual, _)| residual)
            .collect();
        let tolerance =
            (FIT_OUTLIER_SIGMAS * robust_sigma(&inlier_residuals)).max(FIT_MIN_TOLERANCE);
        let next: Vec<bool> = residuals.iter().map(|&r| r <= tolerance).collect();
        if next == inliers {
            break;
        }
        inliers = next;
    }
    surface
}

/// Solves the least-squares quadratic through the inlier samples, or returns `None` when
/// they do not determine one (too few or collinear cells).
fn least_squares(samples: &[(f64, f64, f64)], inliers: &[bool]) -> Option<[f64; 6]> {
    let mut normal = [[0.0_f64; 7]; 6]; // augmented normal equations [AᵀA | Aᵀb]
    let mut count = 0;
    for (&(u, v, level), _) in samples.iter().zip(inliers).filter(|&(_, &inlier)| inlier) {
        let terms = quadratic_terms(u, v);
        for (i, row) in normal.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().take(6).enumerate() {
                *cell += terms[i] * terms[j];
            }
            row[6] += terms[i] * level;
        }
        count += 1;
    }
    if count < 6 {
        return None;
    }
    solve_6x6(normal)
}

/// Solves an augmented 6×6 linear system by Gaussian elimination with partial pivoting.
fn solve_6x6(mut system: [[f64; 7]; 6]) -> Option<[f64; 6]> {
    /// Pivot magnitude under which the system counts as singular.
    const SINGULAR_PIVOT: f64 = 1e-9;
    for column in 0..6 {
        let pivot_row = (column..6)
            .max_by(|&a, &b| system[a][column].abs().total_cmp(&system[b][column].abs()))?;
        if system[pivot_row][column].abs() < SINGULAR_PIVOT {
            return None;
        }
        system.swap(column, pivot_row);
        let (upper, lower) = system.split_at_mut(column + 1);
        let pivot = &upper[column];
        for row in lower {
            let factor = row[column] / pivot[column];
            for (cell, &above) in row[column..].iter_mut().zip(&pivot[column..]) {
                *cell -= factor * above;
            }
        }
    }
    let mut solution = [0.0; 6];
    for row in (0..6).rev() {
        let known: f64 = (row + 1..6).map(|k| system[row][k] * solution[k]).sum();
        solution[row] = (system[row][6] - known) / system[row][row];
    }
    Some(solution)
}

/// Returns the threshold that maximises the between-class variance of `values` (Otsu, 1979,
/// "A threshold selection method from gray-level histograms"), on a histogram of 256 bins
/// over 0.0..=255.0; values at or above the threshold are the bright class.
pub(super) fn otsu_threshold(values: &[f32]) -> f32 {
    let mut histogram = [0u64; 256];
    for &value in values {
        histogram[value.clamp(0.0, LEVELS) as usize] += 1;
    }
    let total = values.len() as f64;
    let weighted_total: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();

    let mut best_threshold = 0;
    let mut best_variance = 0.0;
    let mut dark_count = 0.0;
    let mut dark_weighted = 0.0;
    for (level, &count) in histogram.iter().enumerate() {
        dark_count += count as f64;
        dark_weighted += level as f64 * count as f64;
        let light_count = total - dark_count;
        if dark_count == 0.0 || light_count == 0.0 {
            continue;
        }
        let dark_mean = dark_weighted / dark_count;
        let light_mean = (weighted_total - dark_weighted) / light_count;
        let variance = dark_count * light_count * (dark_mean - light_mean).powi(2);
        if variance > best_variance {
            best_variance = variance;
            best_threshold = level;
        }
    }
    best_threshold as f32 + 1.0
}
