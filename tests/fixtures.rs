//! Renderers that turn a 28×28 MNIST digit into an image file made the way people make one.
//! The kinds are a scan, a phone photo, a drawing app's export, chalk on a board, a felt
//! marker, a fine pen, and the same pixels in each file format that `mnist-infer` reads.
//!
//! The end-to-end tests and `mnist-fixtures` render MNIST test digits, whose labels are
//! known, so that the accuracy on each [`Kind`] can be compared with the raw digits. The
//! images are generated from the dataset on demand and never committed. Every renderer is
//! deterministic in its seed and uses only this file's code and the `image` and `png`
//! encoders.
//!
//! The ranges below (canvas sizes, colours, blur, noise, JPEG quality) are chosen to look
//! like ordinary scans, photos and drawings. They are judgement, not measurements of a
//! camera or scanner.

use std::io::Cursor;

use image::codecs::bmp::BmpEncoder;
use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{
    DynamicImage, ExtendedColorType, GrayImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb,
    RgbImage, Rgba, RgbaImage, imageops,
};

/// Side of an MNIST image, in pixels.
const MNIST_SIDE: usize = 28;

/// Pixels of one MNIST image, the length of the `digit` argument of [`render`].
pub const DIGIT_PIXELS: usize = MNIST_SIDE * MNIST_SIDE;

/// Side of the box that MNIST scaled each digit to fit. Renderers size a digit by the
/// height on the canvas that this box gets.
const MNIST_BOX_SIDE: f32 = 20.0;

/// Seed mixed into every fixture's seed, so that all fixtures change together if it does.
const FIXTURE_BASE_SEED: u64 = 0x6d6e_6973_745f_7277;

/// A way people make an image of a handwritten digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The 28×28 MNIST image as an 8-bit grayscale PNG, white digit on black.
    Raw,
    /// A flatbed scan: dark ink on off-white paper, 200-400 px per side, slightly blurred,
    /// JPEG.
    Scan,
    /// A drawing app's export: the strokes only in the alpha channel of an RGBA PNG, in a
    /// colour that varies from black to white, on fully transparent pixels of colour 0.
    Transparent,
    /// A photo of chalk on a dark green, black or slate board, with chalk grain and faint
    /// smudges of wiped chalk, JPEG.
    LightOnDark,
    /// Blue or red ballpoint on cream or yellow paper, JPEG.
    ColouredPen,
    /// A phone photo of a page under a lamp: a brightness gradient, a vignette and Gaussian
    /// sensor noise, JPEG.
    UnevenLighting,
    /// A felt marker: strokes dilated by 1 to 1.75 MNIST pixels on each side, PNG.
    ThickMarker,
    /// A fine pen or a thin brush on a large canvas: the digit's skeleton drawn 2.5-6 px
    /// wide on 600-1000 px, sharp edged, grayscale PNG.
    ThinPen,
    /// A digit 40-60 px tall off the centre of a scanned 1200×900 page, JPEG.
    SmallOnLarge,
    /// A tall or wide canvas, 2 to 3.5 times as long as it is wide, PNG.
    NonSquare,
    /// A portrait phone photo stored sideways, with an EXIF Orientation tag (6 or 8, either
    /// byte order) that turns it upright, JPEG.
    RotatedExif,
    /// The digit as dark ink on white in one of [`Format::VARIANTS`], chosen by the seed.
    Formats,
}

impl Kind {
    /// Every kind, [`Kind::Raw`] first.
    pub const ALL: [Kind; 12] = [
        Kind::Raw,
        Kind::Scan,
        Kind::Transparent,
        Kind::LightOnDark,
        Kind::ColouredPen,
        Kind::UnevenLighting,
        Kind::ThickMarker,
        Kind::ThinPen,
        Kind::SmallOnLarge,
        Kind::NonSquare,
        Kind::RotatedExif,
        Kind::Formats,
    ];

    /// Returns the kind's name as used in file names, for example `light-on-dark`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Scan => "scan",
            Kind::Transparent => "transparent",
            Kind::LightOnDark => "light-on-dark",
            Kind::ColouredPen => "coloured-pen",
            Kind::UnevenLighting => "uneven-lighting",
            Kind::ThickMarker => "thick-marker",
            Kind::ThinPen => "thin-pen",
            Kind::SmallOnLarge => "small-on-large",
            Kind::NonSquare => "non-square",
            Kind::RotatedExif => "rotated-exif",
            Kind::Formats => "formats",
        }
    }

    /// Returns the kind with this [`name`](Kind::name), if there is one.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// A file layout of the same gray pixels, for checking that every accepted format gives the
/// same prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// 8-bit RGB PNG, the reference the others are compared with.
    Rgb8Png,
    /// 16-bit grayscale PNG, each 8-bit level `v` stored as `v × 257`.
    Gray16Png,
    /// 8-bit gray and alpha PNG, fully opaque.
    GrayAlphaPng,
    /// Indexed-colour PNG whose palette lists the gray levels in a shuffled order.
    PalettePng,
    /// 8-bit RGBA PNG, fully opaque.
    RgbaPng,
    /// 24-bit BMP.
    Bmp,
    /// Lossless WebP (VP8L).
    WebP,
    /// GIF with an exact palette (the image has at most 256 gray levels).
    Gif,
}

impl Format {
    /// Every format other than the reference [`Format::Rgb8Png`].
    pub const VARIANTS: [Format; 7] = [
        Format::Gray16Png,
        Format::GrayAlphaPng,
        Format::PalettePng,
        Format::RgbaPng,
        Format::Bmp,
        Format::WebP,
        Format::Gif,
    ];

    /// Returns a short name for file names and messages, for example `gray16-png`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Rgb8Png => "rgb8-png",
            Format::Gray16Png => "gray16-png",
            Format::GrayAlphaPng => "gray-alpha-png",
            Format::PalettePng => "palette-png",
            Format::RgbaPng => "rgba-png",
            Format::Bmp => "bmp",
            Format::WebP => "webp",
            Format::Gif => "gif",
        }
    }

    /// Returns the file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Bmp => "bmp",
            Format::WebP => "webp",
            Format::Gif => "gif",
            _ => "png",
        }
    }
}

/// Returns the seed of the fixture of `kind` made from test image `index`, the same in the
/// tests and in `mnist-fixtures`.
pub fn fixture_seed(kind: Kind, index: usize) -> u64 {
    let kind_number = Kind::ALL
        .iter()
        .position(|&other| other == kind)
        .unwrap_or(0) as u64;
    Rng::new(FIXTURE_BASE_SEED ^ (kind_number << 40) ^ index as u64).next_u64()
}

/// Returns `count` indices spread evenly over `0..len`: `k × len / count` for each `k`.
pub fn sample_indices(len: usize, count: usize) -> Vec<usize> {
    let count = count.min(len);
    (0..count).map(|k| k * len / count).collect()
}

/// Returns the file name of a fixture: `<kind>-digit-<label>-index-<index>.<extension>`.
pub fn file_name(kind: Kind, label: u8, index: usize, extension: &str) -> String {
    format!("{}-digit-{label}-index-{index}.{extension}", kind.name())
}

/// Renders `digit` (784 bytes, row-major, white on black as in MNIST) as `kind`, and
/// returns the encoded file and its extension.
///
/// # Panics
///
/// Panics if `digit` is not [`DIGIT_PIXELS`] bytes long.
pub fn render(kind: Kind, digit: &[u8], seed: u64) -> (Vec<u8>, &'static str) {
    assert_eq!(
        digit.len(),
        DIGIT_PIXELS,
        "a digit is 28×28 = 784 bytes, got {}",
        digit.len()
    );
    let mut rng = Rng::new(seed);
    match kind {
        Kind::Raw => (raw_png(digit), "png"),
        Kind::Scan => (scan(digit, &mut rng), "jpg"),
        Kind::Transparent => (transparent(digit, &mut rng), "png"),
        Kind::LightOnDark => (chalkboard(digit, &mut rng), "jpg"),
        Kind::ColouredPen => (coloured_pen(digit, &mut rng), "jpg"),
        Kind::UnevenLighting => (uneven_lighting(digit, &mut rng), "jpg"),
        Kind::ThickMarker => (thick_marker(digit, &mut rng), "png"),
        Kind::ThinPen => (thin_pen(digit, &mut rng), "png"),
        Kind::SmallOnLarge => (small_on_large(digit, &mut rng), "jpg"),
        Kind::NonSquare => (non_square(digit, &mut rng), "png"),
        Kind::RotatedExif => (rotated_exif(digit, &mut rng), "jpg"),
        Kind::Formats => {
            let format =
                Format::VARIANTS[(rng.next_u64() % Format::VARIANTS.len() as u64) as usize];
            render_format(format, digit, seed)
        }
    }
}

/// Renders `digit` as dark ink on white, 84×84 px, and encodes it as `format`.
///
/// Every format contains the same 8-bit gray levels, so decoding any of them gives the same
/// luminance. Only the palette order of [`Format::PalettePng`] depends on `seed`.
///
/// # Panics
///
/// Panics if `digit` is not [`DIGIT_PIXELS`] bytes long.
pub fn render_format(format: Format, digit: &[u8], seed: u64) -> (Vec<u8>, &'static str) {
    /// Canvas pixels per MNIST pixel.
    const SCALE: f32 = 3.0;
    /// Gray level of the paper.
    const PAPER: f32 = 250.0;
    /// Gray level of full ink.
    const INK: f32 = 20.0;

    assert_eq!(digit.len(), DIGIT_PIXELS, "a digit is 784 bytes");
    let side = (MNIST_SIDE as f32 * SCALE) as usize;
    let placement = Placement {
        scale: SCALE,
        left: 0.0,
        top: 0.0,
    };
    let coverage = digit_coverage(digit, side, side, placement);
    let gray = GrayImage::from_fn(side as u32, side as u32, |x, y| {
        let c = coverage.get(x as usize, y as usize);
        Luma([quantize(PAPER + (INK - PAPER) * c)])
    });
    let bytes = match format {
        Format::Rgb8Png => png_bytes(&DynamicImage::ImageRgb8(
            DynamicImage::ImageLuma8(gray).to_rgb8(),
        )),
        Format::Gray16Png => {
            let wide: ImageBuffer<Luma<u16>, Vec<u16>> =
                ImageBuffer::from_fn(gray.width(), gray.height(), |x, y| {
                    Luma([u16::from(gray.get_pixel(x, y).0[0]) * 257])
                });
            png_bytes(&DynamicImage::ImageLuma16(wide))
        }
        Format::GrayAlphaPng => {
            let with_alpha: ImageBuffer<LumaA<u8>, Vec<u8>> =
                ImageBuffer::from_fn(gray.width(), gray.height(), |x, y| {
                    LumaA([gray.get_pixel(x, y).0[0], u8::MAX])
                });
            png_bytes(&DynamicImage::ImageLumaA8(with_alpha))
        }
        Format::PalettePng => palette_png_bytes(&gray, &mut Rng::new(seed)),
        Format::RgbaPng => png_bytes(&DynamicImage::ImageRgba8(
            DynamicImage::ImageLuma8(gray).to_rgba8(),
        )),
        Format::Bmp => bmp_bytes(&DynamicImage::ImageLuma8(gray).to_rgb8()),
        Format::WebP => webp_lossless_bytes(&DynamicImage::ImageLuma8(gray).to_rgb8()),
        Format::Gif => gif_bytes(&DynamicImage::ImageLuma8(gray).to_rgb8()),
    };
    (bytes, format.extension())
}

// ---------------------------------------------------------------------------------------
// The kinds
// ---------------------------------------------------------------------------------------

fn raw_png(digit: &[u8]) -> Vec<u8> {
    let side = MNIST_SIDE as u32;
    let image = GrayImage::from_raw(side, side, digit.to_vec())
        .expect("a 784-byte digit fills a 28×28 image");
    png_bytes(&DynamicImage::ImageLuma8(image))
}

/// Sharpens interpolated MNIST gray levels into a pen stroke's profile: coverage under
/// `low` becomes paper and over `high` full ink.
#[derive(Clone, Copy)]
struct InkEdge {
    low: f32,
    high: f32,
}

/// A ballpoint or fountain pen: a narrow soft edge.
const PEN_EDGE: InkEdge = InkEdge {
    low: 0.2,
    high: 0.8,
};

/// A soft drawing-app brush, or chalk, whose faint edge reaches further out.
const SOFT_EDGE: InkEdge = InkEdge {
    low: 0.1,
    high: 0.65,
};

fn scan(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let width = rng.uniform(200.0, 400.0).round() as usize;
    let height = rng.uniform(200.0, 400.0).round() as usize;
    let box_side = rng.uniform(0.45, 0.7) * width.min(height) as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let coverage = sharpened(digit_coverage(digit, width, height, placement), PEN_EDGE);
    let coverage = gaussian_blur(&coverage, rng.uniform(0.6, 1.2));

    let paper = jitter(rng, [246.0, 244.0, 238.0], 6.0);
    let ink = jitter(rng, [40.0, 40.0, 55.0], 15.0);
    let mut canvas =
        ColourCanvas::from_fn(width, height, |x, y| mix(paper, ink, coverage.get(x, y)));
    canvas.add_noise(rng, 1.5, 0.5);
    jpeg_bytes(&canvas.to_rgb(), rng.quality(80, 92))
}

/// Stroke colours of drawing apps, light and dark, so that both the white and the black
/// paper of transparency compositing get used.
const STROKE_COLOURS: [[u8; 3]; 8] = [
    [0, 0, 0],
    [255, 255, 255],
    [220, 30, 30],
    [30, 80, 220],
    [20, 140, 60],
    [250, 140, 20],
    [120, 40, 160],
    [250, 220, 40],
];

fn transparent(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let side = rng.uniform(256.0, 512.0).round() as usize;
    let box_side = rng.uniform(0.5, 0.7) * side as f32;
    let placement = Placement::random(rng, side, side, box_side);
    let coverage = sharpened(digit_coverage(digit, side, side, placement), SOFT_EDGE);
    let colour = rng.pick(&STROKE_COLOURS);
    let image = RgbaImage::from_fn(side as u32, side as u32, |x, y| {
        let alpha = quantize(255.0 * coverage.get(x as usize, y as usize));
        if alpha == 0 {
            // Fully transparent pixels get colour 0, as premultiplied-alpha exports store
            // them, so that only the alpha channel shows the strokes.
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([colour[0], colour[1], colour[2], alpha])
        }
    });
    png_bytes(&DynamicImage::ImageRgba8(image))
}

/// Board colours: green, black and slate chalkboards.
const BOARD_COLOURS: [[f32; 3]; 3] = [[38.0, 62.0, 50.0], [30.0, 32.0, 34.0], [46.0, 52.0, 62.0]];

/// Chalk colours: white and pale yellow.
const CHALK_COLOURS: [[f32; 3]; 2] = [[236.0, 236.0, 230.0], [240.0, 232.0, 170.0]];

fn chalkboard(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let width = rng.uniform(400.0, 640.0).round() as usize;
    let height = width * 3 / 4;
    let box_side = rng.uniform(0.45, 0.7) * height as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let mut chalk = sharpened(digit_coverage(digit, width, height, placement), SOFT_EDGE);
    // Chalk leaves powder unevenly: each pixel keeps 50-100 % of the stroke.
    for value in &mut chalk.data {
        *value *= rng.uniform(0.5, 1.0);
    }
    let chalk = gaussian_blur(&chalk, 0.7);

    // Faint clouds of wiped chalk, each up to 7 % of a stroke's whiteness.
    let mut haze = Plane::new(width, height);
    for _ in 0..rng.below(4) + 2 {
        let centre_x = rng.uniform(0.0, width as f32);
        let centre_y = rng.uniform(0.0, height as f32);
        let sigma = rng.uniform(0.08, 0.2) * width as f32;
        let strength = rng.uniform(0.03, 0.07);
        haze.add_gaussian_blob(centre_x, centre_y, sigma, strength);
    }

    let board_colour = rng.pick(&BOARD_COLOURS);
    let board = jitter(rng, board_colour, 6.0);
    let chalk_colour = rng.pick(&CHALK_COLOURS);
    let mut canvas = ColourCanvas::from_fn(width, height, |x, y| {
        let cover = (chalk.get(x, y) + haze.get(x, y)).min(1.0);
        mix(board, chalk_colour, cover)
    });
    canvas.add_noise(rng, 3.0, 1.0);
    jpeg_bytes(&canvas.to_rgb(), rng.quality(80, 90))
}

/// Papers: cream, a yellow legal pad and pale yellow.
const COLOURED_PAPERS: [[f32; 3]; 3] = [
    [250.0, 243.0, 222.0],
    [252.0, 241.0, 160.0],
    [250.0, 235.0, 185.0],
];

/// Inks: blue ballpoint, dark blue fountain pen and red ballpoint.
const COLOURED_INKS: [[f32; 3]; 3] = [
    [30.0, 55.0, 160.0],
    [20.0, 30.0, 110.0],
    [200.0, 35.0, 45.0],
];

fn coloured_pen(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let width = rng.uniform(240.0, 420.0).round() as usize;
    let height = rng.uniform(240.0, 420.0).round() as usize;
    let box_side = rng.uniform(0.45, 0.7) * width.min(height) as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let coverage = sharpened(digit_coverage(digit, width, height, placement), PEN_EDGE);
    let coverage = gaussian_blur(&coverage, 0.6);

    let paper_colour = rng.pick(&COLOURED_PAPERS);
    let paper = jitter(rng, paper_colour, 3.0);
    let ink_colour = rng.pick(&COLOURED_INKS);
    let ink = jitter(rng, ink_colour, 10.0);
    let mut canvas =
        ColourCanvas::from_fn(width, height, |x, y| mix(paper, ink, coverage.get(x, y)));
    canvas.add_noise(rng, 2.0, 0.7);
    jpeg_bytes(&canvas.to_rgb(), rng.quality(85, 95))
}

fn uneven_lighting(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let width = rng.uniform(480.0, 720.0).round() as usize;
    let height = width * 3 / 4;
    let box_side = rng.uniform(0.35, 0.6) * height as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let coverage = sharpened(digit_coverage(digit, width, height, placement), PEN_EDGE);
    let coverage = gaussian_blur(&coverage, 0.8);

    // A warm lamp's colour, and the reflectances of paper and of pencil or pen.
    let white_balance = [1.0, 0.97, 0.9];
    let paper_reflectance = rng.uniform(0.85, 0.92);
    let ink_reflectance = rng.uniform(0.08, 0.18);
    let light = Lighting {
        exposure: rng.uniform(0.85, 1.0),
        gradient: rng.uniform(0.3, 0.5),
        angle: rng.uniform(0.0, std::f32::consts::TAU),
        vignette: rng.uniform(0.2, 0.35),
        width,
        height,
    };
    let mut canvas = ColourCanvas::from_fn(width, height, |x, y| {
        let c = coverage.get(x, y);
        let reflectance = paper_reflectance + (ink_reflectance - paper_reflectance) * c;
        let level = 255.0 * reflectance * light.at(x, y);
        white_balance.map(|gain| level * gain)
    });
    let sigma = rng.uniform(3.0, 8.0);
    canvas.add_noise(rng, sigma, sigma / 3.0);
    jpeg_bytes(&canvas.to_rgb(), rng.quality(75, 90))
}

/// Marker colours: black, dark blue and red.
const MARKER_COLOURS: [[f32; 3]; 3] = [[22.0, 22.0, 26.0], [25.0, 35.0, 95.0], [190.0, 25.0, 35.0]];

fn thick_marker(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let width = rng.uniform(240.0, 400.0).round() as usize;
    let height = rng.uniform(240.0, 400.0).round() as usize;
    let box_side = rng.uniform(0.5, 0.65) * width.min(height) as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let coverage = digit_coverage(digit, width, height, placement);

    // Dilate the stroke's core (coverage of half or more) by a disc, anti-aliased by the
    // distance to the core.
    let core: Vec<bool> = coverage.data.iter().map(|&c| c >= 0.5).collect();
    let distance = distance_to_nearest(&core, width, height);
    let radius = rng.uniform(1.0, 1.75) * placement.scale;
    let marker: Vec<f32> = distance
        .iter()
        .map(|&d| (radius + 0.5 - d).clamp(0.0, 1.0))
        .collect();

    let paper = jitter(rng, [248.0, 248.0, 246.0], 4.0);
    let ink = rng.pick(&MARKER_COLOURS);
    let mut canvas =
        ColourCanvas::from_fn(width, height, |x, y| mix(paper, ink, marker[y * width + x]));
    canvas.add_noise(rng, 1.5, 0.5);
    png_bytes(&DynamicImage::ImageRgb8(canvas.to_rgb()))
}

/// Pixels per MNIST pixel of the grid on which [`thin_pen`] finds the skeleton: fine enough
/// that the skeleton follows the stroke's centre to a quarter of an MNIST pixel.
const SKELETON_SCALE: f32 = 4.0;

fn thin_pen(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let width = rng.uniform(600.0, 1000.0).round() as usize;
    let height = rng.uniform(600.0, 1000.0).round() as usize;
    let box_side = rng.uniform(0.55, 0.7) * width.min(height) as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let pen_radius = rng.uniform(2.5, 6.0) / 2.0;

    // Skeleton of the stroke's core on a 112×112 grid over the digit's field.
    let grid = (MNIST_SIDE as f32 * SKELETON_SCALE) as usize;
    let fine = Placement {
        scale: SKELETON_SCALE,
        left: 0.0,
        top: 0.0,
    };
    let mut skeleton: Vec<bool> = digit_coverage(digit, grid, grid, fine)
        .data
        .iter()
        .map(|&c| c >= 0.5)
        .collect();
    thin_to_skeleton(&mut skeleton, grid, grid);

    // Draw each link between 8-connected skeleton pixels as a round-capped segment.
    let to_canvas = |column: usize, row: usize| {
        let field_x = (column as f32 + 0.5) / SKELETON_SCALE;
        let field_y = (row as f32 + 0.5) / SKELETON_SCALE;
        (
            placement.left + field_x * placement.scale,
            placement.top + field_y * placement.scale,
        )
    };
    let mut ink = Plane::new(width, height);
    let links = [(1, 0), (1, 1), (0, 1), (-1, 1)];
    for row in 0..grid {
        for column in 0..grid {
            if !skeleton[row * grid + column] {
                continue;
            }
            let start = to_canvas(column, row);
            ink.draw_segment(start, start, pen_radius);
            for (dx, dy) in links {
                let (Some(next_column), Some(next_row)) =
                    (column.checked_add_signed(dx), row.checked_add_signed(dy))
                else {
                    continue;
                };
                if next_column < grid && next_row < grid && skeleton[next_row * grid + next_column]
                {
                    ink.draw_segment(start, to_canvas(next_column, next_row), pen_radius);
                }
            }
        }
    }

    let image = GrayImage::from_fn(width as u32, height as u32, |x, y| {
        Luma([quantize(255.0 * (1.0 - ink.get(x as usize, y as usize)))])
    });
    png_bytes(&DynamicImage::ImageLuma8(image))
}

/// Page size of [`Kind::SmallOnLarge`], in pixels: a page scanned at low resolution (A4 at
/// 100 dpi is 1169×827 px).
const PAGE_SIZE: (usize, usize) = (1200, 900);

fn small_on_large(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let (width, height) = PAGE_SIZE;
    let box_side = rng.uniform(40.0, 60.0);
    // Anywhere on the page outside its central 40 %, whole field inside the page.
    let scale = box_side / MNIST_BOX_SIDE;
    let half_field = scale * MNIST_SIDE as f32 / 2.0;
    let (centre_x, centre_y) = loop {
        let x = rng.uniform(half_field, width as f32 - half_field);
        let y = rng.uniform(half_field, height as f32 - half_field);
        let off_x = (x / width as f32 - 0.5).abs() > 0.2;
        let off_y = (y / height as f32 - 0.5).abs() > 0.2;
        if off_x || off_y {
            break (x, y);
        }
    };
    let placement = Placement::centred(box_side, centre_x, centre_y);
    let coverage = sharpened(digit_coverage(digit, width, height, placement), PEN_EDGE);
    let coverage = gaussian_blur(&coverage, 0.6);

    let paper = jitter(rng, [244.0, 243.0, 238.0], 6.0);
    let ink = jitter(rng, [35.0, 35.0, 45.0], 12.0);
    let mut canvas =
        ColourCanvas::from_fn(width, height, |x, y| mix(paper, ink, coverage.get(x, y)));
    canvas.add_noise(rng, 2.0, 0.7);
    jpeg_bytes(&canvas.to_rgb(), rng.quality(80, 92))
}

fn non_square(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    let short = rng.uniform(140.0, 260.0).round() as usize;
    let long = (short as f32 * rng.uniform(2.0, 3.5)).round() as usize;
    let (width, height) = if rng.below(2) == 0 {
        (short, long)
    } else {
        (long, short)
    };
    let box_side = rng.uniform(0.5, 0.7) * short as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let coverage = sharpened(digit_coverage(digit, width, height, placement), PEN_EDGE);
    let coverage = gaussian_blur(&coverage, 0.6);

    let paper = jitter(rng, [246.0, 245.0, 240.0], 5.0);
    let ink = jitter(rng, [35.0, 35.0, 50.0], 12.0);
    let mut canvas =
        ColourCanvas::from_fn(width, height, |x, y| mix(paper, ink, coverage.get(x, y)));
    canvas.add_noise(rng, 1.5, 0.5);
    png_bytes(&DynamicImage::ImageRgb8(canvas.to_rgb()))
}

/// EXIF Orientation 6: the stored pixels turn 90° clockwise to be upright.
pub const EXIF_ROTATE_CLOCKWISE: u16 = 6;

/// EXIF Orientation 8: the stored pixels turn 90° anticlockwise to be upright.
pub const EXIF_ROTATE_ANTICLOCKWISE: u16 = 8;

fn rotated_exif(digit: &[u8], rng: &mut Rng) -> Vec<u8> {
    // A portrait photo, 3:4, as phones take it.
    let width = rng.uniform(300.0, 480.0).round() as usize;
    let height = width * 4 / 3;
    let box_side = rng.uniform(0.35, 0.6) * width as f32;
    let placement = Placement::random(rng, width, height, box_side);
    let coverage = sharpened(digit_coverage(digit, width, height, placement), PEN_EDGE);
    let coverage = gaussian_blur(&coverage, 0.8);

    let light = Lighting {
        exposure: rng.uniform(0.9, 1.0),
        gradient: rng.uniform(0.1, 0.25),
        angle: rng.uniform(0.0, std::f32::consts::TAU),
        vignette: rng.uniform(0.05, 0.15),
        width,
        height,
    };
    let paper = jitter(rng, [235.0, 232.0, 224.0], 6.0);
    let ink = jitter(rng, [35.0, 38.0, 55.0], 12.0);
    let mut canvas = ColourCanvas::from_fn(width, height, |x, y| {
        mix(paper, ink, coverage.get(x, y)).map(|level| level * light.at(x, y))
    });
    let sigma = rng.uniform(2.0, 4.0);
    canvas.add_noise(rng, sigma, sigma / 3.0);

    let orientation = rng.pick(&[EXIF_ROTATE_CLOCKWISE, EXIF_ROTATE_ANTICLOCKWISE]);
    let little_endian = rng.below(2) == 0;
    let stored = store_sideways(&canvas.to_rgb(), orientation);
    let jpeg = jpeg_bytes(&stored, rng.quality(85, 92));
    jpeg_with_orientation(&jpeg, orientation, little_endian)
}

/// Rotates an upright image the way a camera stores it when it writes `orientation`
/// ([`EXIF_ROTATE_CLOCKWISE`] or [`EXIF_ROTATE_ANTICLOCKWISE`]): applying the orientation
/// to the result gives `upright` back.
///
/// # Panics
///
/// Panics for any other orientation.
pub fn store_sideways(upright: &RgbImage, orientation: u16) -> RgbImage {
    match orientation {
        EXIF_ROTATE_CLOCKWISE => imageops::rotate270(upright),
        EXIF_ROTATE_ANTICLOCKWISE => imageops::rotate90(upright),
        other => panic!("store_sideways handles orientations 6 and 8, not {other}"),
    }
}

/// Inserts an EXIF APP1 segment whose only entry is the Orientation tag right after the
/// JPEG's start-of-image marker, where cameras put it.
///
/// The segment is `Exif\0\0` and a TIFF header: byte order `II` or `MM`, the number 42 and
/// the first IFD's offset, 8. The IFD has one entry: tag 0x0112, type SHORT, count 1.
///
/// # Panics
///
/// Panics if `jpeg` does not start with the start-of-image marker FF D8.
pub fn jpeg_with_orientation(jpeg: &[u8], orientation: u16, little_endian: bool) -> Vec<u8> {
    /// JPEG start-of-image marker.
    const SOI: [u8; 2] = [0xFF, 0xD8];
    /// JPEG APP1 marker, which carries EXIF.
    const APP1: [u8; 2] = [0xFF, 0xE1];
    const ORIENTATION_TAG: u16 = 0x0112;
    const TYPE_SHORT: u16 = 3;
    const FIRST_IFD_OFFSET: u32 = 8;
    assert!(
        jpeg.starts_with(&SOI),
        "not a JPEG: no start-of-image marker"
    );

    let u16_bytes = |value: u16| {
        if little_endian {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        }
    };
    let u32_bytes = |value: u32| {
        if little_endian {
            value.to_le_bytes()
        } else {
            value.to_be_bytes()
        }
    };
    let mut tiff = Vec::new();
    tiff.extend_from_slice(if little_endian { b"II" } else { b"MM" });
    tiff.extend_from_slice(&u16_bytes(42));
    tiff.extend_from_slice(&u32_bytes(FIRST_IFD_OFFSET));
    tiff.extend_from_slice(&u16_bytes(1)); // entries in the IFD
    tiff.extend_from_slice(&u16_bytes(ORIENTATION_TAG));
    tiff.extend_from_slice(&u16_bytes(TYPE_SHORT));
    tiff.extend_from_slice(&u32_bytes(1)); // count
    tiff.extend_from_slice(&u16_bytes(orientation)); // a SHORT sits left-aligned in 4 bytes
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&u32_bytes(0)); // no next IFD

    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    // The segment length counts its own two bytes but not the marker.
    let length = u16::try_from(payload.len() + 2).expect("the EXIF segment is 34 bytes");

    let mut file = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    file.extend_from_slice(&SOI);
    file.extend_from_slice(&APP1);
    file.extend_from_slice(&length.to_be_bytes());
    file.extend_from_slice(&payload);
    file.extend_from_slice(&jpeg[SOI.len()..]);
    file
}

// ---------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------

/// A SplitMix64 pseudorandom generator: small and fast, and enough for image noise.
struct Rng {
    state: u64,
    /// The second sample of the last pair of normal samples, not yet returned.
    spare_gaussian: Option<f32>,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare_gaussian: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Returns a value in 0.0..1.0 with 24 random bits.
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// Returns a value in 0..n.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Returns a JPEG quality in `low..=high`.
    fn quality(&mut self, low: u8, high: u8) -> u8 {
        low + self.below(usize::from(high - low) + 1) as u8
    }

    /// Returns a standard normal sample (Marsaglia's polar method, which makes two at a
    /// time).
    fn gaussian(&mut self) -> f32 {
        if let Some(spare) = self.spare_gaussian.take() {
            return spare;
        }
        loop {
            let u = 2.0 * self.unit() - 1.0;
            let v = 2.0 * self.unit() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let factor = (-2.0 * s.ln() / s).sqrt();
                self.spare_gaussian = Some(v * factor);
                return u * factor;
            }
        }
    }
}

/// A row-major plane of `f32`, used for ink coverage in 0.0..=1.0.
#[derive(Clone)]
struct Plane {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Plane {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Returns the inclusive bounds (x0, y0, x1, y1) of the non-zero pixels, if any.
    fn nonzero_bounds(&self) -> Option<(usize, usize, usize, usize)> {
        let mut bounds: Option<(usize, usize, usize, usize)> = None;
        for (y, row) in self.data.chunks_exact(self.width).enumerate() {
            let Some(first) = row.iter().position(|&value| value != 0.0) else {
                continue;
            };
            let last = row.iter().rposition(|&value| value != 0.0).unwrap_or(first);
            bounds = Some(match bounds {
                None => (first, y, last, y),
                Some((x0, y0, x1, _)) => (x0.min(first), y0, x1.max(last), y),
            });
        }
        bounds
    }

    /// Adds a Gaussian blob of peak `strength` centred at (`centre_x`, `centre_y`).
    fn add_gaussian_blob(&mut self, centre_x: f32, centre_y: f32, sigma: f32, strength: f32) {
        let reach = 3.0 * sigma;
        let x0 = (centre_x - reach).max(0.0) as usize;
        let x1 = ((centre_x + reach).max(0.0) as usize).min(self.width);
        let y0 = (centre_y - reach).max(0.0) as usize;
        let y1 = ((centre_y + reach).max(0.0) as usize).min(self.height);
        for y in y0..y1 {
            for x in x0..x1 {
                let dx = x as f32 + 0.5 - centre_x;
                let dy = y as f32 + 0.5 - centre_y;
                let weight = (-(dx * dx + dy * dy) / (2.0 * sigma * sigma)).exp();
                self.data[y * self.width + x] += strength * weight;
            }
        }
    }

    /// Draws an anti-aliased segment with round caps and radius `radius`, keeping the
    /// larger coverage where it overlaps earlier ink.
    fn draw_segment(&mut self, start: (f32, f32), end: (f32, f32), radius: f32) {
        let reach = radius + 1.0;
        let x0 = (start.0.min(end.0) - reach).max(0.0) as usize;
        let x1 = ((start.0.max(end.0) + reach).max(0.0) as usize + 1).min(self.width);
        let y0 = (start.1.min(end.1) - reach).max(0.0) as usize;
        let y1 = ((start.1.max(end.1) + reach).max(0.0) as usize + 1).min(self.height);
        let (dx, dy) = (end.0 - start.0, end.1 - start.1);
        let length_squared = dx * dx + dy * dy;
        for y in y0..y1 {
            for x in x0..x1 {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = if length_squared > 0.0 {
                    (((px - start.0) * dx + (py - start.1) * dy) / length_squared).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let distance = (px - start.0 - t * dx).hypot(py - start.1 - t * dy);
                let cover = (radius + 0.5 - distance).clamp(0.0, 1.0);
                let value = &mut self.data[y * self.width + x];
                *value = value.max(cover);
            }
        }
    }
}

/// Where a digit's 28×28 field lies on a canvas: `scale` canvas pixels per MNIST pixel, and
/// the field's top-left corner at (`left`, `top`).
#[derive(Clone, Copy)]
struct Placement {
    scale: f32,
    left: f32,
    top: f32,
}

impl Placement {
    /// Gives MNIST's 20 px box a side of `box_side` canvas pixels and puts the field's
    /// centre at (`centre_x`, `centre_y`).
    fn centred(box_side: f32, centre_x: f32, centre_y: f32) -> Self {
        let scale = box_side / MNIST_BOX_SIDE;
        let half_field = scale * MNIST_SIDE as f32 / 2.0;
        Self {
            scale,
            left: centre_x - half_field,
            top: centre_y - half_field,
        }
    }

    /// Gives the box a side of `box_side` and puts the field anywhere inside the canvas,
    /// or centred along a side the field does not fit in.
    fn random(rng: &mut Rng, width: usize, height: usize, box_side: f32) -> Self {
        let half_field = box_side / MNIST_BOX_SIDE * MNIST_SIDE as f32 / 2.0;
        let mut centre = |side: usize| {
            let side = side as f32;
            if side > 2.0 * half_field {
                rng.uniform(half_field, side - half_field)
            } else {
                side / 2.0
            }
        };
        let centre_x = centre(width);
        let centre_y = centre(height);
        Self::centred(box_side, centre_x, centre_y)
    }
}

/// Samples the digit's ink (MNIST level / 255) onto a `width`×`height` canvas by
/// Catmull-Rom interpolation, clamped to 0.0..=1.0; the canvas outside the field is 0.
fn digit_coverage(digit: &[u8], width: usize, height: usize, placement: Placement) -> Plane {
    /// Source pixels read on each side of a sample (Catmull-Rom has four taps).
    const TAPS: usize = 4;

    // Source position of a canvas pixel's centre, in pixel indices of the 28×28 field.
    let taps = |canvas: usize, origin: f32| -> Option<(isize, [f32; TAPS])> {
        let source = (canvas as f32 + 0.5 - origin) / placement.scale - 0.5;
        if source < -2.0 || source > MNIST_SIDE as f32 + 1.0 {
            return None;
        }
        let first = source.floor();
        Some((first as isize - 1, catmull_rom_weights(source - first)))
    };
    let columns: Vec<_> = (0..width).map(|x| taps(x, placement.left)).collect();
    let rows: Vec<_> = (0..height).map(|y| taps(y, placement.top)).collect();
    let pixel = |column: isize, row: isize| -> f32 {
        let inside =
            (0..MNIST_SIDE as isize).contains(&column) && (0..MNIST_SIDE as isize).contains(&row);
        if inside {
            f32::from(digit[row as usize * MNIST_SIDE + column as usize]) / 255.0
        } else {
            0.0
        }
    };

    let mut plane = Plane::new(width, height);
    for (y, row) in rows.iter().enumerate() {
        let Some((first_row, row_weights)) = row else {
            continue;
        };
        for (x, column) in columns.iter().enumerate() {
            let Some((first_column, column_weights)) = column else {
                continue;
            };
            let mut value = 0.0;
            for (j, row_weight) in row_weights.iter().enumerate() {
                let mut line = 0.0;
                for (i, column_weight) in column_weights.iter().enumerate() {
                    line +=
                        column_weight * pixel(first_column + i as isize, first_row + j as isize);
                }
                value += row_weight * line;
            }
            plane.data[y * width + x] = value.clamp(0.0, 1.0);
        }
    }
    plane
}

/// Returns the Catmull-Rom weights of the four taps around a sample at fraction `t` past
/// the second tap.
fn catmull_rom_weights(t: f32) -> [f32; 4] {
    let t2 = t * t;
    let t3 = t2 * t;
    [
        (-t3 + 2.0 * t2 - t) / 2.0,
        (3.0 * t3 - 5.0 * t2 + 2.0) / 2.0,
        (-3.0 * t3 + 4.0 * t2 + t) / 2.0,
        (t3 - t2) / 2.0,
    ]
}

/// Maps coverage through a smoothstep from `edge.low` to `edge.high`.
fn sharpened(mut plane: Plane, edge: InkEdge) -> Plane {
    for value in &mut plane.data {
        let t = ((*value - edge.low) / (edge.high - edge.low)).clamp(0.0, 1.0);
        *value = t * t * (3.0 - 2.0 * t);
    }
    plane
}

/// Blurs with a Gaussian of standard deviation `sigma` pixels, repeating edge pixels. Only
/// the window around the non-zero pixels is computed, since the blur of zeros is zero.
fn gaussian_blur(plane: &Plane, sigma: f32) -> Plane {
    let radius = (3.0 * sigma).ceil() as usize;
    let mut kernel: Vec<f32> = (0..=2 * radius)
        .map(|k| {
            let offset = k as f32 - radius as f32;
            (-(offset * offset) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|weight| *weight /= total);

    let (width, height) = (plane.width, plane.height);
    let Some((x0, y0, x1, y1)) = plane.nonzero_bounds() else {
        return plane.clone();
    };
    let (x0, y0) = (x0.saturating_sub(radius), y0.saturating_sub(radius));
    let (x1, y1) = ((x1 + radius + 1).min(width), (y1 + radius + 1).min(height));
    let pass = |source: &Plane, horizontal: bool| {
        let mut out = Plane::new(width, height);
        for y in y0..y1 {
            for x in x0..x1 {
                let mut value = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    // Tap position x + k - radius (or y), clamped to the plane.
                    let (sx, sy) = if horizontal {
                        ((x + k).saturating_sub(radius).min(width - 1), y)
                    } else {
                        (x, (y + k).saturating_sub(radius).min(height - 1))
                    };
                    value += weight * source.data[sy * width + sx];
                }
                out.data[y * width + x] = value;
            }
        }
        out
    };
    pass(&pass(plane, true), false)
}

/// Returns each pixel's Euclidean distance, in pixels, to the nearest `true` pixel of
/// `mask`, by Felzenszwalb and Huttenlocher's exact transform: one pass over the columns, one
/// over the rows. Without any `true` pixel every distance is very large.
fn distance_to_nearest(mask: &[bool], width: usize, height: usize) -> Vec<f32> {
    /// Squared distance that stands for "no ink on this line", far beyond any image.
    const FAR: f64 = 1.0e20;
    let mut squared: Vec<f64> = mask
        .iter()
        .map(|&ink| if ink { 0.0 } else { FAR })
        .collect();

    let mut column = Vec::with_capacity(height);
    for x in 0..width {
        column.clear();
        column.extend((0..height).map(|y| squared[y * width + x]));
        for (y, value) in squared_distance_1d(&column).into_iter().enumerate() {
            squared[y * width + x] = value;
        }
    }
    for row in squared.chunks_exact_mut(width) {
        let transformed = squared_distance_1d(row);
        row.copy_from_slice(&transformed);
    }
    squared
        .into_iter()
        .map(|value| value.sqrt() as f32)
        .collect()
}

/// One-dimensional squared distance transform of `f`: at each sample, the lowest of the
/// parabolas `(q - r)² + f[r]` rooted at every sample `r`.
fn squared_distance_1d(f: &[f64]) -> Vec<f64> {
    let n = f.len();
    if n == 0 {
        return Vec::new();
    }
    // Where the parabolas rooted at `q` and `r` cross.
    let crossing = |q: usize, r: usize| {
        let (qf, rf) = (q as f64, r as f64);
        ((f[q] + qf * qf) - (f[r] + rf * rf)) / (2.0 * (qf - rf))
    };
    // The lower envelope: its parabolas' roots, and where each one starts to be lowest.
    let mut roots = vec![0usize; n];
    let mut starts = vec![0.0f64; n + 1];
    let mut last = 0;
    starts[0] = f64::NEG_INFINITY;
    starts[1] = f64::INFINITY;
    for q in 1..n {
        let mut s = crossing(q, roots[last]);
        while s <= starts[last] {
            last -= 1;
            s = crossing(q, roots[last]);
        }
        last += 1;
        roots[last] = q;
        starts[last] = s;
        starts[last + 1] = f64::INFINITY;
    }

    let mut k = 0;
    (0..n)
        .map(|q| {
            while starts[k + 1] < q as f64 {
                k += 1;
            }
            let offset = q as f64 - roots[k] as f64;
            offset * offset + f[roots[k]]
        })
        .collect()
}

/// Thins a binary shape in place to a one-pixel-wide 8-connected skeleton by Zhang-Suen
/// thinning. Pixels outside the grid count as background.
fn thin_to_skeleton(mask: &mut [bool], width: usize, height: usize) {
    let at = |mask: &[bool], x: isize, y: isize| -> bool {
        x >= 0
            && y >= 0
            && (x as usize) < width
            && (y as usize) < height
            && mask[y as usize * width + x as usize]
    };
    loop {
        let mut changed = false;
        for step in 0..2 {
            let mut remove = Vec::new();
            for y in 0..height as isize {
                for x in 0..width as isize {
                    if !at(mask, x, y) {
                        continue;
                    }
                    // Neighbours P2..P9, clockwise from north.
                    let p = [
                        at(mask, x, y - 1),
                        at(mask, x + 1, y - 1),
                        at(mask, x + 1, y),
                        at(mask, x + 1, y + 1),
                        at(mask, x, y + 1),
                        at(mask, x - 1, y + 1),
                        at(mask, x - 1, y),
                        at(mask, x - 1, y - 1),
                    ];
                    let neighbours = p.iter().filter(|&&set| set).count();
                    let transitions = (0..8).filter(|&i| !p[i] && p[(i + 1) % 8]).count();
                    let (north, east, south, west) = (p[0], p[2], p[4], p[6]);
                    let open = if step == 0 {
                        !(north && east && south) && !(east && south && west)
                    } else {
                        !(north && east && west) && !(north && south && west)
                    };
                    if (2..=6).contains(&neighbours) && transitions == 1 && open {
                        remove.push(y as usize * width + x as usize);
                    }
                }
            }
            changed |= !remove.is_empty();
            for index in remove {
                mask[index] = false;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Illumination of a photographed page: a linear gradient along `angle` that darkens by
/// `gradient` across the page, times a radial vignette that darkens the corners by
/// `vignette`, times `exposure`.
struct Lighting {
    exposure: f32,
    gradient: f32,
    angle: f32,
    vignette: f32,
    width: usize,
    height: usize,
}

impl Lighting {
    /// Returns the illumination (1.0 = full) at pixel (`x`, `y`).
    fn at(&self, x: usize, y: usize) -> f32 {
        // Coordinates in -1.0..=1.0 across the page.
        let u = 2.0 * (x as f32 + 0.5) / self.width as f32 - 1.0;
        let v = 2.0 * (y as f32 + 0.5) / self.height as f32 - 1.0;
        // Position along the gradient's direction, 0.0 at the bright edge, 1.0 at the dark.
        let (sin, cos) = self.angle.sin_cos();
        let reach = cos.abs() + sin.abs();
        let along = ((u * cos + v * sin) / reach + 1.0) / 2.0;
        let radius_squared = (u * u + v * v) / 2.0;
        self.exposure * (1.0 - self.gradient * along) * (1.0 - self.vignette * radius_squared)
    }
}

/// An RGB canvas with levels in 0.0..=255.0 before quantisation.
struct ColourCanvas {
    width: usize,
    height: usize,
    pixels: Vec<[f32; 3]>,
}

impl ColourCanvas {
    fn from_fn(width: usize, height: usize, colour: impl Fn(usize, usize) -> [f32; 3]) -> Self {
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                pixels.push(colour(x, y));
            }
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    /// Adds Gaussian sensor noise: `luma_sigma` levels shared by the three channels and
    /// `chroma_sigma` levels drawn for each channel.
    fn add_noise(&mut self, rng: &mut Rng, luma_sigma: f32, chroma_sigma: f32) {
        for pixel in &mut self.pixels {
            let shared = luma_sigma * rng.gaussian();
            for level in pixel.iter_mut() {
                *level += shared + chroma_sigma * rng.gaussian();
            }
        }
    }

    fn to_rgb(&self) -> RgbImage {
        RgbImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let pixel = self.pixels[y as usize * self.width + x as usize];
            Rgb(pixel.map(quantize))
        })
    }
}

/// Returns the colour of paper covered by ink to the share `cover`.
fn mix(paper: [f32; 3], ink: [f32; 3], cover: f32) -> [f32; 3] {
    [0, 1, 2].map(|channel| paper[channel] + (ink[channel] - paper[channel]) * cover)
}

/// Moves each channel of `colour` by up to `spread` levels.
fn jitter(rng: &mut Rng, colour: [f32; 3], spread: f32) -> [f32; 3] {
    colour.map(|level| (level + rng.uniform(-spread, spread)).clamp(0.0, 255.0))
}

/// Rounds a level to the nearest 8-bit value, saturating outside 0..=255.
fn quantize(level: f32) -> u8 {
    (level.clamp(0.0, 255.0) + 0.5) as u8
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

// Encoding into a Vec cannot fail for the layouts below, so failures are bugs and panic.

fn png_bytes(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .expect("PNG encoding into memory");
    bytes.into_inner()
}

fn jpeg_bytes(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(image)
        .expect("JPEG encoding into memory");
    bytes
}

fn bmp_bytes(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    BmpEncoder::new(&mut bytes)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("BMP encoding into memory");
    bytes
}

fn webp_lossless_bytes(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    WebPEncoder::new_lossless(&mut bytes)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("WebP encoding into memory");
    bytes
}

/// Encodes a GIF. An image of at most 256 colours gets an exact palette (gif 0.14
/// quantises only above 256).
fn gif_bytes(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder
            .encode(
                image.as_raw(),
                image.width(),
                image.height(),
                ExtendedColorType::Rgb8,
            )
            .expect("GIF encoding into memory");
    }
    bytes
}

/// Encodes a grayscale image as an 8-bit indexed PNG whose palette lists the 256 gray levels
/// in a shuffled order, so that decoding must look each index up.
fn palette_png_bytes(gray: &GrayImage, rng: &mut Rng) -> Vec<u8> {
    let mut levels: Vec<u8> = (0..=u8::MAX).collect();
    for i in (1..levels.len()).rev() {
        levels.swap(i, rng.below(i + 1));
    }
    let mut index_of = [0u8; 256];
    for (index, &level) in levels.iter().enumerate() {
        index_of[usize::from(level)] = index as u8;
    }
    let palette: Vec<u8> = levels.iter().flat_map(|&level| [level; 3]).collect();
    let indices: Vec<u8> = gray
        .as_raw()
        .iter()
        .map(|&level| index_of[usize::from(level)])
        .collect();

    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, gray.width(), gray.height());
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette);
        let mut writer = encoder.write_header().expect("PNG header into memory");
        writer
            .write_image_data(&indices)
            .expect("PNG data into memory");
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns a digit with a plus sign: a vertical and a horizontal bar of full ink.
    fn plus_digit() -> Vec<u8> {
        let mut digit = vec![0u8; DIGIT_PIXELS];
        for i in 6..22 {
            digit[i * MNIST_SIDE + 13] = 255;
            digit[i * MNIST_SIDE + 14] = 255;
            digit[13 * MNIST_SIDE + i] = 255;
            digit[14 * MNIST_SIDE + i] = 255;
        }
        digit
    }

    #[test]
    fn render_is_deterministic_in_seed() {
        let digit = plus_digit();
        for kind in Kind::ALL {
            let first = render(kind, &digit, 7);
            let second = render(kind, &digit, 7);
            assert!(first == second, "{} differs between runs", kind.name());
        }
    }

    #[test]
    fn every_kind_decodes_with_image() {
        let digit = plus_digit();
        for kind in Kind::ALL {
            for seed in 0..4 {
                let (bytes, extension) = render(kind, &digit, seed);
                let decoded = image::load_from_memory(&bytes);
                assert!(
                    decoded.is_ok(),
                    "{} seed {seed} ({extension}) does not decode: {:?}",
                    kind.name(),
                    decoded.err()
                );
            }
        }
    }

    #[test]
    fn formats_decode_to_same_luminance() {
        let digit = plus_digit();
        let reference = image::load_from_memory(&render_format(Format::Rgb8Png, &digit, 1).0)
            .expect("reference decodes")
            .to_luma8();
        for format in Format::VARIANTS {
            let decoded = image::load_from_memory(&render_format(format, &digit, 1).0)
                .expect("variant decodes")
                .to_luma8();
            assert!(decoded == reference, "{} changes the pixels", format.name());
        }
    }

    #[test]
    fn distance_transform_matches_brute_force() {
        let (width, height) = (13, 9);
        let mut mask = vec![false; width * height];
        for &(x, y) in &[(2, 3), (10, 1), (7, 7)] {
            mask[y * width + x] = true;
        }
        let distances = distance_to_nearest(&mask, width, height);
        for y in 0..height {
            for x in 0..width {
                let expected = [(2.0f32, 3.0f32), (10.0, 1.0), (7.0, 7.0)]
                    .iter()
                    .map(|&(ix, iy)| (x as f32 - ix).hypot(y as f32 - iy))
                    .fold(f32::INFINITY, f32::min);
                let found = distances[y * width + x];
                assert!(
                    (found - expected).abs() < 1e-4,
                    "({x}, {y}): {found} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn skeleton_of_bar_is_one_pixel_wide() {
        let (width, height) = (20, 9);
        let mut mask = vec![false; width * height];
        for y in 2..7 {
            for x in 2..18 {
                mask[y * width + x] = true;
            }
        }
        thin_to_skeleton(&mut mask, width, height);
        for x in 5..15 {
            let column: usize = (0..height).filter(|&y| mask[y * width + x]).count();
            assert_eq!(column, 1, "column {x} of the thinned bar");
        }
    }

    #[test]
    fn sample_indices_spread_evenly() {
        assert_eq!(sample_indices(10_000, 4), [0, 2500, 5000, 7500]);
        assert_eq!(sample_indices(3, 5), [0, 1, 2]);
    }
}
