//! PNG pictures of a run, drawn with `plotters`: the loss and accuracy curves per epoch,
//! the confusion matrix as a heat map, and a grid of the most confidently wrong digits.
//!
//! Text needs a TrueType font, which is read from the system at run time (see
//! [`load_font`]) rather than built into the binary.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use mnist_data::MnistSplit;
use mnist_model::{IMAGE_SIDE, NUM_CLASSES};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::epoch_log::EpochMetrics;
use crate::report::{EvalReport, Mistake, mistake_label};

/// Name of the loss and accuracy curves inside a run's folder.
pub const CURVES_FILE: &str = "curves.png";
/// Name of the confusion-matrix heat map inside a run's folder.
pub const CONFUSION_FILE: &str = "confusion.png";
/// Name of the grid of misclassified digits inside a run's folder.
pub const MISTAKES_FILE: &str = "misclassified.png";

/// Width and height of [`CURVES_FILE`] in pixels: two panels side by side.
pub const CURVES_SIZE: (u32, u32) = (1200, 480);
/// Width and height of [`CONFUSION_FILE`] in pixels.
pub const CONFUSION_SIZE: (u32, u32) = (
    CONFUSION_LEFT + NUM_CLASSES as u32 * CONFUSION_CELL + CONFUSION_RIGHT,
    CONFUSION_TOP + NUM_CLASSES as u32 * CONFUSION_CELL + CONFUSION_BOTTOM,
);
/// Digits per row of [`MISTAKES_FILE`].
pub const MISTAKE_COLUMNS: usize = 5;

/// Environment variable naming a TrueType font file to use instead of the system's.
pub const FONT_ENV: &str = "MNIST_PLOT_FONT";
/// Install paths of DejaVu Sans, tried in order. The Debian and Ubuntu path (package
/// `fonts-dejavu-core`) was checked. The Fedora (`dejavu-sans-fonts`) and Arch
/// (`ttf-dejavu`) paths are taken from those packages' file lists, unchecked.
const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
/// Family name under which the font is registered with plotters.
const FAMILY: &str = "sans-serif";

const CONFUSION_CELL: u32 = 60;
const CONFUSION_LEFT: u32 = 100;
const CONFUSION_RIGHT: u32 = 40;
const CONFUSION_TOP: u32 = 80;
const CONFUSION_BOTTOM: u32 = 110;

/// Pixels per MNIST pixel in [`MISTAKES_FILE`].
const MISTAKE_SCALE: u32 = 4;
const MISTAKE_TILE_WIDTH: u32 = 200;
const MISTAKE_TILE_HEIGHT: u32 = 170;
const MISTAKE_MARGIN: u32 = 20;
const MISTAKE_HEADER: u32 = 60;

/// Colours of the training and validation curves and of the heat map.
const TRAIN_COLOUR: RGBColor = RGBColor(31, 119, 180);
const VALID_COLOUR: RGBColor = RGBColor(255, 127, 14);
const CORRECT_COLOUR: RGBColor = RGBColor(31, 119, 180);
const MISTAKE_COLOUR: RGBColor = RGBColor(214, 39, 40);

/// Failure to draw or encode a picture.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error(
        "no font for the plots' text: none of {searched} exists; install DejaVu Sans \
         (`apt-get install fonts-dejavu-core` on Debian and Ubuntu), set {FONT_ENV} to a \
         .ttf file, or pass --no-plots",
        searched = searched.join(", ")
    )]
    FontMissing { searched: Vec<String> },

    #[error(
        "{path}: cannot use the font: {reason}; set {FONT_ENV} to another .ttf file, or \
         pass --no-plots"
    )]
    FontInvalid { path: PathBuf, reason: String },

    #[error("{file}: cannot draw the picture: {reason}")]
    Draw { file: String, reason: String },
}

/// Loads the plots' font once per process: the file named by [`FONT_ENV`], or the first
/// of the usual DejaVu Sans paths that exists.
pub fn load_font() -> Result<(), PlotError> {
    static LOADED: OnceLock<Result<(), (Option<PathBuf>, String)>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let path = match std::env::var_os(FONT_ENV) {
            Some(path) => PathBuf::from(path),
            None => match FONT_PATHS.iter().map(Path::new).find(|path| path.is_file()) {
                Some(path) => path.to_path_buf(),
                None => return Err((None, String::new())),
            },
        };
        let bytes =
            std::fs::read(&path).map_err(|error| (Some(path.clone()), error.to_string()))?;
        // plotters keeps fonts for the life of the process and takes only static bytes.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| (Some(path), "not a TrueType or OpenType font".to_string()))
    });
    match loaded {
        Ok(()) => Ok(()),
        Err((Some(path), reason)) => Err(PlotError::FontInvalid {
            path: path.clone(),
            reason: reason.clone(),
        }),
        Err((None, _)) => Err(PlotError::FontMissing {
            searched: FONT_PATHS.iter().map(|path| path.to_string()).collect(),
        }),
    }
}

/// Draws the loss and accuracy of every recorded epoch, training and validation, as a PNG.
pub fn draw_curves(rows: &[EpochMetrics], model: &str) -> Result<Vec<u8>, PlotError> {
    load_font()?;
    let draw_error = |reason: String| PlotError::Draw {
        file: CURVES_FILE.to_string(),
        reason,
    };
    if rows.is_empty() {
        return Err(draw_error("no finished epoch is recorded".to_string()));
    }
    let (width, height) = CURVES_SIZE;
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, CURVES_SIZE).into_drawing_area();
        let (left, right) = root.split_horizontally(width / 2);
        let loss = |row: &EpochMetrics| (row.train_loss, row.valid_loss);
        let accuracy =
            |row: &EpochMetrics| (100.0 * row.train_accuracy, 100.0 * row.valid_accuracy);
        // Loss falls and accuracy rises, so each legend goes where its curves usually
        // are not.
        let panels = [
            (
                &left,
                "loss",
                "cross-entropy loss",
                SeriesLabelPosition::UpperRight,
            ),
            (
                &right,
                "accuracy",
                "accuracy (%)",
                SeriesLabelPosition::LowerRight,
            ),
        ];
        for (area, name, y_label, legend) in panels {
            let title = format!("{model}: {name} per epoch");
            let result = if name == "loss" {
                draw_panel(area, rows, &title, y_label, legend, loss)
            } else {
                draw_panel(area, rows, &title, y_label, legend, accuracy)
            };
            result.map_err(|error| draw_error(error.to_string()))?;
        }
        root.present()
            .map_err(|error| draw_error(error.to_string()))?;
    }
    encode_png(pixels, CURVES_SIZE, CURVES_FILE)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Draws one panel of [`draw_curves`]: the training and validation values that `values`
/// picks from each row, against the epoch.
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    rows: &[EpochMetrics],
    title: &str,
    y_label: &str,
    legend: SeriesLabelPosition,
    values: impl Fn(&EpochMetrics) -> (f64, f64),
) -> DrawResult {
    area.fill(&WHITE)?;
    let points: Vec<(f64, f64, f64)> = rows
        .iter()
        .map(|row| {
            let (train, valid) = values(row);
            (row.epoch as f64, train, valid)
        })
        .collect();
    let finite = points
        .iter()
        .flat_map(|&(_, train, valid)| [train, valid])
        .filter(|value| value.is_finite());
    let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    let (low, high) = if low.is_finite() {
        (low, high)
    } else {
        (0.0, 1.0)
    };
    let padding = ((high - low) * 0.08).max(1e-3);
    let first = rows[0].epoch as f64;
    let last = rows[rows.len() - 1].epoch as f64;

    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(first - 0.5..last + 0.5, low - padding..high + padding)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .x_labels(rows.len().min(12) + 2)
        // Only whole epochs get a label.
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .axis_desc_style((FAMILY, 18))
        .label_style((FAMILY, 15))
        .light_line_style(WHITE)
        .draw()?;

    for (name, colour, pick) in [
        ("training", TRAIN_COLOUR, 1usize),
        ("validation", VALID_COLOUR, 2usize),
    ] {
        let series: Vec<(f64, f64)> = points
            .iter()
            .map(|&(epoch, train, valid)| (epoch, if pick == 1 { train } else { valid }))
            .filter(|(_, value)| value.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(series.clone(), colour.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
            });
        chart.draw_series(
            series
                .iter()
                .map(|&point| Circle::new(point, 4, colour.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(legend)
        .draw()?;
    Ok(())
}

/// Draws the confusion matrix of `report` as a heat map with the count in each cell.
///
/// Correct cells are blue, shaded by their share of the row. Mistake cells are red,
/// shaded relative to the largest mistake cell, so that confusions of a few images stay
/// visible beside diagonal counts near a thousand.
pub fn draw_confusion(report: &EvalReport) -> Result<Vec<u8>, PlotError> {
    load_font()?;
    let draw_error = |error: Box<dyn std::error::Error>| PlotError::Draw {
        file: CONFUSION_FILE.to_string(),
        reason: error.to_string(),
    };
    let (width, height) = CONFUSION_SIZE;
    let mut pixels = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, CONFUSION_SIZE).into_drawing_area();
        draw_confusion_on(&root, report).map_err(draw_error)?;
        root.present().map_err(|error| draw_error(error.into()))?;
    }
    encode_png(pixels, CONFUSION_SIZE, CONFUSION_FILE)
}

fn draw_confusion_on(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    report: &EvalReport,
) -> DrawResult {
    root.fill(&WHITE)?;
    let matrix = &report.confusion_matrix;
    let largest_mistake = (0..NUM_CLASSES)
        .flat_map(|row| (0..NUM_CLASSES).map(move |column| (row, column)))
        .filter(|(row, column)| row != column)
        .map(|(row, column)| matrix[row][column])
        .max()
        .unwrap_or(0);
    let (width, _) = CONFUSION_SIZE;
    let grid_side = NUM_CLASSES as i32 * CONFUSION_CELL as i32;
    let (left, top) = (CONFUSION_LEFT as i32, CONFUSION_TOP as i32);
    let cell = CONFUSION_CELL as i32;

    let title = format!(
        "{}: confusion matrix, {} test images, accuracy {:.2} %",
        report.model,
        thousands(report.images),
        100.0 * report.accuracy
    );
    let centred = |size: u32| {
        TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
    };
    root.draw(&Text::new(
        title,
        (width as i32 / 2, top / 2 - 4),
        centred(21),
    ))?;

    for (row, counts) in matrix.iter().enumerate() {
        let images: usize = counts.iter().sum();
        for (column, &count) in counts.iter().enumerate() {
            let background = if row == column {
                let share = count as f64 / images.max(1) as f64;
                blend(WHITE, CORRECT_COLOUR, 0.25 + 0.75 * share)
            } else if count == 0 {
                WHITE
            } else {
                // The square root lifts single mistakes above the white of empty cells.
                let share = count as f64 / largest_mistake.max(1) as f64;
                blend(WHITE, MISTAKE_COLOUR, 0.15 + 0.85 * share.sqrt())
            };
            let x = left + column as i32 * cell;
            let y = top + row as i32 * cell;
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                background.filled(),
            ))?;
            let ink = if luma(background) < 140.0 {
                WHITE
            } else if count == 0 {
                RGBColor(170, 170, 170)
            } else {
                BLACK
            };
            root.draw(&Text::new(
                count.to_string(),
                (x + cell / 2, y + cell / 2),
                centred(17).color(&ink),
            ))?;
        }
    }
    // Grid lines, then the frame.
    for step in 0..=NUM_CLASSES as i32 {
        let offset = step * cell;
        let style = RGBColor(200, 200, 200).stroke_width(1);
        root.draw(&PathElement::new(
            vec![(left + offset, top), (left + offset, top + grid_side)],
            style,
        ))?;
        root.draw(&PathElement::new(
            vec![(left, top + offset), (left + grid_side, top + offset)],
            style,
        ))?;
    }
    root.draw(&Rectangle::new(
        [(left, top), (left + grid_side, top + grid_side)],
        BLACK.stroke_width(1),
    ))?;

    for digit in 0..NUM_CLASSES as i32 {
        let centre = digit * cell + cell / 2;
        root.draw(&Text::new(
            digit.to_string(),
            (left + centre, top + grid_side + 16),
            centred(17),
        ))?;
        root.draw(&Text::new(
            digit.to_string(),
            (left - 18, top + centre),
            centred(17),
        ))?;
    }
    root.draw(&Text::new(
        "predicted digit",
        (left + grid_side / 2, top + grid_side + 44),
        centred(19),
    ))?;
    let vertical = TextStyle::from((FAMILY, 19).into_font().transform(FontTransform::Rotate270))
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(
        "true digit",
        (left - 62, top + grid_side / 2),
        vertical,
    ))?;
    root.draw(&Text::new(
        format!(
            "blue: correct, shaded by share of the row; red: mistakes, darker = more \
             (most: {largest_mistake})"
        ),
        (width as i32 / 2, top + grid_side + 84),
        centred(15),
    ))?;
    Ok(())
}

/// Returns the width and height of [`MISTAKES_FILE`] for `count` digits.
pub fn mistakes_size(count: usize) -> (u32, u32) {
    let rows = count.div_ceil(MISTAKE_COLUMNS).max(1) as u32;
    (
        2 * MISTAKE_MARGIN + MISTAKE_COLUMNS as u32 * MISTAKE_TILE_WIDTH,
        MISTAKE_HEADER + rows * MISTAKE_TILE_HEIGHT + MISTAKE_MARGIN,
    )
}

/// Draws the mistakes of `report` as a grid of the digits, each captioned with its true
/// and predicted digit, the prediction's probability and its index in the test set.
pub fn draw_mistakes(report: &EvalReport, split: &MnistSplit) -> Result<Vec<u8>, PlotError> {
    load_font()?;
    let draw_error = |error: Box<dyn std::error::Error>| PlotError::Draw {
        file: MISTAKES_FILE.to_string(),
        reason: error.to_string(),
    };
    let size = mistakes_size(report.most_confident_mistakes.len());
    let mut pixels = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw_mistakes_on(&root, report, split).map_err(draw_error)?;
        root.present().map_err(|error| draw_error(error.into()))?;
    }
    encode_png(pixels, size, MISTAKES_FILE)
}

fn draw_mistakes_on(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    report: &EvalReport,
    split: &MnistSplit,
) -> DrawResult {
    root.fill(&WHITE)?;
    let mistakes = &report.most_confident_mistakes;
    let (width, _) = mistakes_size(mistakes.len());
    let centred = |size: u32| {
        TextStyle::from((FAMILY, size).into_font()).pos(Pos::new(HPos::Center, VPos::Top))
    };
    let title = if report.misclassified == 0 {
        format!("{}: no misclassified test images", report.model)
    } else if mistakes.is_empty() {
        format!(
            "{}: {} misclassified test images, none listed (--mistakes 0)",
            report.model, report.misclassified
        )
    } else {
        format!(
            "{}: the {} most confidently wrong of {} misclassified test images",
            report.model,
            mistakes.len(),
            thousands(report.misclassified)
        )
    };
    root.draw(&Text::new(title, (width as i32 / 2, 20), centred(21)))?;

    for (position, mistake) in mistakes.iter().enumerate() {
        let column = (position % MISTAKE_COLUMNS) as i32;
        let row = (position / MISTAKE_COLUMNS) as i32;
        let tile_x = (MISTAKE_MARGIN + column as u32 * MISTAKE_TILE_WIDTH) as i32;
        let tile_y = (MISTAKE_HEADER + row as u32 * MISTAKE_TILE_HEIGHT) as i32;
        let side = (IMAGE_SIDE as u32 * MISTAKE_SCALE) as i32;
        let image_x = tile_x + (MISTAKE_TILE_WIDTH as i32 - side) / 2;
        draw_digit(root, split.image(mistake.index), (image_x, tile_y))?;
        draw_caption(
            root,
            mistake,
            (tile_x + MISTAKE_TILE_WIDTH as i32 / 2, tile_y + side + 6),
        )?;
    }
    Ok(())
}

/// Draws a 28×28 MNIST digit as stored, white ink on black, scaled up.
fn draw_digit(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    image: &[u8],
    (x, y): (i32, i32),
) -> DrawResult {
    let scale = MISTAKE_SCALE as i32;
    for (index, &value) in image.iter().enumerate() {
        let column = (index % IMAGE_SIDE) as i32;
        let row = (index / IMAGE_SIDE) as i32;
        let left = x + column * scale;
        let top = y + row * scale;
        root.draw(&Rectangle::new(
            [(left, top), (left + scale, top + scale)],
            RGBColor(value, value, value).filled(),
        ))?;
    }
    Ok(())
}

fn draw_caption(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    mistake: &Mistake,
    (x, y): (i32, i32),
) -> DrawResult {
    let style = TextStyle::from((FAMILY, 16).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(mistake_label(mistake), (x, y), style))?;
    let small = TextStyle::from((FAMILY, 13).into_font())
        .color(&RGBColor(90, 90, 90))
        .pos(Pos::new(HPos::Center, VPos::Top));
    // NOTE: not "test image N": plotters 0.3.7 with ab_glyph draws "t" and a following
    // space at 13 px with no visible gap, so the caption read "testimage".
    root.draw(&Text::new(
        format!("index {}", mistake.index),
        (x, y + 21),
        small,
    ))?;
    Ok(())
}

/// Formats a count with a comma between thousands, as in "10,000".
fn thousands(count: usize) -> String {
    let digits = count.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// Returns the colour `amount` of the way from `from` to `to`, `amount` in [0, 1].
fn blend(from: RGBColor, to: RGBColor, amount: f64) -> RGBColor {
    let amount = amount.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * amount).round() as u8;
    RGBColor(mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
}

/// Returns the perceived brightness of a colour, 0 to 255 (ITU-R BT.601 weights).
fn luma(colour: RGBColor) -> f64 {
    0.299 * f64::from(colour.0) + 0.587 * f64::from(colour.1) + 0.114 * f64::from(colour.2)
}

fn encode_png(
    pixels: Vec<u8>,
    (width, height): (u32, u32),
    file: &str,
) -> Result<Vec<u8>, PlotError> {
    let encode_error = |reason: String| PlotError::Draw {
        file: file.to_string(),
        reason,
    };
    let image = image::RgbImage::from_raw(width, height, pixels)
        .ok_or_else(|| encode_error("the pixel buffer does not match the size".to_string()))?;
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|error| encode_error(error.to_string()))?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_get_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
