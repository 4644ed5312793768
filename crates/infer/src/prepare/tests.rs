//! Tests of image preparation on digits drawn in code and, when present, on real MNIST digits.

use std::io::Cursor;
use std::path::PathBuf;

use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::{
    DynamicImage, Frame, GenericImageView, GrayAlphaImage, GrayImage, ImageBuffer, ImageFormat,
    Luma, LumaA, Rgb, RgbImage, Rgba, RgbaImage,
};

use super::plane::Plane;
use super::*;

// ---------------------------------------------------------------------------------------------
// Drawing helpers
// ---------------------------------------------------------------------------------------------

/// Sub-samples per pixel side when rendering coverage (4×4 = 16 per pixel).
const SUPERSAMPLING: usize = 4;

/// A glyph as line segments in a unit box: x to the right, y down, both 0.0..=1.0.
type Glyph = &'static [((f32, f32), (f32, f32))];

/// A seven: top bar and a long diagonal.
const SEVEN: Glyph = &[((0.1, 0.05), (0.9, 0.05)), ((0.9, 0.05), (0.35, 0.95))];

/// An L: a vertical stroke and a foot.
const ELL: Glyph = &[((0.2, 0.05), (0.2, 0.95)), ((0.2, 0.95), (0.8, 0.95))];

/// A one: a vertical stroke with a short flag.
const ONE: Glyph = &[((0.5, 0.05), (0.5, 0.95)), ((0.5, 0.05), (0.3, 0.25))];

/// Renders `glyph` scaled to a `size`×`size` box with top-left corner (`left`, `top`) on a
/// `width`×`height` canvas, strokes `thickness` px wide. Returns coverage in 0.0..=1.0 per
/// pixel, row-major, anti-aliased by supersampling.
fn render(
    width: usize,
    height: usize,
    glyph: Glyph,
    (left, top, size): (f32, f32, f32),
    thickness: f32,
) -> Vec<f32> {
    let segments: Vec<((f32, f32), (f32, f32))> = glyph
        .iter()
        .map(|&((x0, y0), (x1, y1))| {
            (
                (left + x0 * size, top + y0 * size),
                (left + x1 * size, top + y1 * size),
            )
        })
        .collect();
    let radius = thickness / 2.0;
    let mut coverage = vec![0.0; width * height];
    let x_range =
        (left - thickness).max(0.0) as usize..((left + size + thickness) as usize).min(width);
    let y_range =
        (top - thickness).max(0.0) as usize..((top + size + thickness) as usize).min(height);
    for y in y_range {
        for x in x_range.clone() {
            let mut hits = 0;
            for sy in 0..SUPERSAMPLING {
                for sx in 0..SUPERSAMPLING {
                    let px = x as f32 + (sx as f32 + 0.5) / SUPERSAMPLING as f32;
                    let py = y as f32 + (sy as f32 + 0.5) / SUPERSAMPLING as f32;
                    if segments
                        .iter()
                        .any(|&(a, b)| segment_distance((px, py), a, b) <= radius)
                    {
                        hits += 1;
                    }
                }
            }
            coverage[y * width + x] = hits as f32 / (SUPERSAMPLING * SUPERSAMPLING) as f32;
        }
    }
    coverage
}

fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length_squared = dx * dx + dy * dy;
    let t = if length_squared == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / length_squared).clamp(0.0, 1.0)
    };
    let (cx, cy) = (a.0 + t * dx, a.1 + t * dy);
    ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt()
}

/// Converts coverage to 8-bit ink levels, 0 = no ink, 255 = full ink.
fn ink_levels(coverage: &[f32]) -> Vec<u8> {
    coverage
        .iter()
        .map(|&c| (c * 255.0).round() as u8)
        .collect()
}

fn light_on_dark(width: usize, height: usize, coverage: &[f32]) -> GrayImage {
    GrayImage::from_raw(width as u32, height as u32, ink_levels(coverage))
        .expect("coverage has width × height values")
}

fn dark_on_light(width: usize, height: usize, coverage: &[f32]) -> GrayImage {
    let levels = ink_levels(coverage).into_iter().map(|v| 255 - v).collect();
    GrayImage::from_raw(width as u32, height as u32, levels)
        .expect("coverage has width × height values")
}

/// A small deterministic generator (xorshift64*) for noise in tests.
struct Noise(u64);

impl Noise {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Returns a uniform value in 0.0..1.0.
    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Returns a standard normal value (Box–Muller).
    fn gaussian(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encoding a test image succeeds");
    bytes
}

/// Prepares `coverage` drawn as black ink on white paper.
fn prepared_drawing(width: usize, height: usize, coverage: &[f32]) -> PreparedImage {
    prepared(&DynamicImage::ImageLuma8(dark_on_light(
        width, height, coverage,
    )))
}

fn prepared(image: &DynamicImage) -> PreparedImage {
    match prepare(image) {
        Ok(prepared) => prepared,
        Err(error) => panic!("prepare failed: {error}"),
    }
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f64;
    let mean_a = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let mean_b = b.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut covariance, mut variance_a, mut variance_b) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (f64::from(x) - mean_a, f64::from(y) - mean_b);
        covariance += dx * dy;
        variance_a += dx * dx;
        variance_b += dy * dy;
    }
    (covariance / (variance_a * variance_b).sqrt()) as f32
}

/// Returns the best Pearson correlation of `a` with `b` shifted by up to one pixel along
/// each axis: centring by whole pixels may round a nearly identical digit the other way.
fn aligned_correlation(a: &[f32], b: &[f32]) -> f32 {
    let mut best = f32::MIN;
    for dy in -1isize..=1 {
        for dx in -1isize..=1 {
            let shifted: Vec<f32> = (0..MNIST_SIDE * MNIST_SIDE)
                .map(|index| {
                    let x = (index % MNIST_SIDE) as isize - dx;
                    let y = (index / MNIST_SIDE) as isize - dy;
                    let inside = (0..MNIST_SIDE as isize).contains(&x)
                        && (0..MNIST_SIDE as isize).contains(&y);
                    if inside {
                        b[y as usize * MNIST_SIDE + x as usize]
                    } else {
                        0.0
                    }
                })
                .collect();
            best = best.max(pearson(a, &shifted));
        }
    }
    best
}

/// Returns the intensity-weighted centre of mass (column, row) of a 28×28 field.
fn centre_of_mass(pixels: &[f32]) -> (f32, f32) {
    let (mut mass, mut x_sum, mut y_sum) = (0.0, 0.0, 0.0);
    for (index, &value) in pixels.iter().enumerate() {
        mass += value;
        x_sum += value * (index % MNIST_SIDE) as f32;
        y_sum += value * (index / MNIST_SIDE) as f32;
    }
    (x_sum / mass, y_sum / mass)
}

/// Returns the bounding box (x, y, width, height) of the nonzero pixels of a 28×28 field.
fn field_bounds(pixels: &[f32]) -> (usize, usize, usize, usize) {
    let plane = Plane {
        width: MNIST_SIDE,
        height: MNIST_SIDE,
        data: pixels.to_vec(),
    };
    plane.bounds_above(0.0).expect("the field holds ink")
}

fn assert_no_digit(result: Result<PreparedImage, PrepareError>, case: &str) {
    match result {
        Err(PrepareError::NoDigit { reason }) => assert!(!reason.is_empty(), "{case}"),
        Err(other) => panic!("{case}: expected NoDigit, got {other}"),
        Ok(prepared) => panic!(
            "{case}: expected NoDigit, got a digit at {:?}",
            prepared.digit_box
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

#[test]
fn mnist_style_input_is_nearly_unchanged() {
    // An L whose 2.5 px strokes fill a 20×20 box at (4, 4) of a 28×28 field, white on black.
    let coverage = render(28, 28, ELL, (4.28, 4.28, 19.44), 2.5);
    let input = light_on_dark(28, 28, &coverage);
    let input_pixels: Vec<f32> = input
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect();
    let (in_x, in_y, in_width, in_height) = field_bounds(&input_pixels);
    assert!(
        in_width.max(in_height) <= MNIST_BOX_SIDE,
        "input {in_width}×{in_height}"
    );
    let result = prepared(&DynamicImage::ImageLuma8(input));

    assert!(!result.inverted);
    let (out_x, out_y, out_width, out_height) = field_bounds(&result.pixels);
    assert!(out_width <= MNIST_BOX_SIDE, "width {out_width}");
    assert!(out_height <= MNIST_BOX_SIDE, "height {out_height}");
    let (x, y) = centre_of_mass(&result.pixels);
    assert!(
        (x - MNIST_CENTRE_OF_MASS).abs() <= 0.5,
        "centre of mass x {x}"
    );
    assert!(
        (y - MNIST_CENTRE_OF_MASS).abs() <= 0.5,
        "centre of mass y {y}"
    );

    // Only a whole-pixel shift separates input and output; pixels under the ink threshold
    // (4 levels) may vanish.
    assert_eq!((in_width, in_height), (out_width, out_height));
    for row in 0..in_height {
        for column in 0..in_width {
            let before = input_pixels[(in_y + row) * MNIST_SIDE + in_x + column];
            let after = result.pixels[(out_y + row) * MNIST_SIDE + out_x + column];
            assert!(
                (before - after).abs() <= 4.5 / 255.0,
                "({column}, {row}): {before} {after}"
            );
        }
    }
}

#[test]
fn output_has_784_pixels_in_unit_range() {
    let coverage = render(300, 200, SEVEN, (100.0, 30.0, 140.0), 9.0);
    let result = prepared_drawing(300, 200, &coverage);
    assert_eq!(result.pixels.len(), MNIST_SIDE * MNIST_SIDE);
    assert!(result.pixels.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let peak = result.pixels.iter().copied().fold(0.0, f32::max);
    assert_eq!(peak, 1.0);
    let (_, _, width, height) = field_bounds(&result.pixels);
    assert!(width.max(height) <= MNIST_BOX_SIDE + 1, "{width}×{height}");
    assert!(width.max(height) >= MNIST_BOX_SIDE - 1, "{width}×{height}");
}

#[test]
fn centre_of_mass_lands_on_target() {
    for (glyph, name) in [(SEVEN, "seven"), (ELL, "ell"), (ONE, "one")] {
        let coverage = render(240, 240, glyph, (40.0, 50.0, 150.0), 12.0);
        let result = prepared_drawing(240, 240, &coverage);
        let (x, y) = centre_of_mass(&result.pixels);
        assert!((x - MNIST_CENTRE_OF_MASS).abs() <= 0.5, "{name}: x {x}");
        assert!((y - MNIST_CENTRE_OF_MASS).abs() <= 0.5, "{name}: y {y}");
    }
}

#[test]
fn digit_box_matches_drawing() {
    // A seven in a 140 px box at (100, 30); strokes 9 px wide reach 4.5 px past the segments.
    let coverage = render(300, 200, SEVEN, (100.0, 30.0, 140.0), 9.0);
    let result = prepared_drawing(300, 200, &coverage);
    let (x, y, width, height) = result.digit_box;
    let expected_x = 100.0 + 0.1 * 140.0 - 4.5;
    let expected_y = 30.0 + 0.05 * 140.0 - 4.5;
    assert!((x as f32 - expected_x).abs() <= 1.0, "x {x}");
    assert!((y as f32 - expected_y).abs() <= 1.0, "y {y}");
    assert!(
        (width as f32 - (0.8 * 140.0 + 9.0)).abs() <= 2.0,
        "width {width}"
    );
    assert!(
        (height as f32 - (0.9 * 140.0 + 9.0)).abs() <= 2.0,
        "height {height}"
    );
}

// ---------------------------------------------------------------------------------------------
// Polarity and pixel formats
// ---------------------------------------------------------------------------------------------

#[test]
fn dark_on_light_matches_light_on_dark() {
    let coverage = render(200, 150, SEVEN, (40.0, 20.0, 110.0), 8.0);
    let light = prepared(&DynamicImage::ImageLuma8(light_on_dark(
        200, 150, &coverage,
    )));
    let dark = prepared_drawing(200, 150, &coverage);
    assert!(!light.inverted);
    assert!(dark.inverted);
    assert_eq!(light.digit_box, dark.digit_box);
    let difference = max_difference(&light.pixels, &dark.pixels);
    assert!(difference <= 1e-4, "max difference {difference}");
}

#[test]
fn pixel_formats_give_same_output() {
    let (width, height) = (160, 120);
    let coverage = render(width, height, ELL, (50.0, 15.0, 90.0), 7.0);
    let paper = dark_on_light(width, height, &coverage);
    let reference = prepared(&DynamicImage::ImageLuma8(paper.clone()));
    let levels = paper.as_raw().clone();
    let (w, h) = (width as u32, height as u32);

    let gray16 = ImageBuffer::<Luma<u16>, _>::from_fn(w, h, |x, y| {
        Luma([u16::from(paper.get_pixel(x, y)[0]) * 257])
    });
    let gray_alpha = GrayAlphaImage::from_fn(w, h, |x, y| LumaA([paper.get_pixel(x, y)[0], 255]));
    let gray_alpha16 = ImageBuffer::<LumaA<u16>, _>::from_fn(w, h, |x, y| {
        LumaA([u16::from(paper.get_pixel(x, y)[0]) * 257, 65535])
    });
    let rgb = RgbImage::from_fn(w, h, |x, y| {
        let v = paper.get_pixel(x, y)[0];
        Rgb([v, v, v])
    });
    let rgba = RgbaImage::from_fn(w, h, |x, y| {
        let v = paper.get_pixel(x, y)[0];
        Rgba([v, v, v, 255])
    });
    let rgb16 = ImageBuffer::<Rgb<u16>, _>::from_fn(w, h, |x, y| {
        let v = u16::from(paper.get_pixel(x, y)[0]) * 257;
        Rgb([v, v, v])
    });
    let cases = [
        (
            "gray 16-bit",
            DynamicImage::ImageLuma16(gray16),
            image::ColorType::L16,
        ),
        (
            "gray+alpha",
            DynamicImage::ImageLumaA8(gray_alpha),
            image::ColorType::La8,
        ),
        (
            "gray+alpha 16-bit",
            DynamicImage::ImageLumaA16(gray_alpha16),
            image::ColorType::La16,
        ),
        ("RGB", DynamicImage::ImageRgb8(rgb), image::ColorType::Rgb8),
        (
            "RGBA",
            DynamicImage::ImageRgba8(rgba),
            image::ColorType::Rgba8,
        ),
        (
            "RGB 16-bit",
            DynamicImage::ImageRgb16(rgb16),
            image::ColorType::Rgb16,
        ),
    ];
    for (name, image, color) in cases {
        // Through a PNG file, so decoding keeps the layout.
        let decoded = decode_image(&encode(&image, ImageFormat::Png)).expect("PNG decodes");
        assert_eq!(decoded.color(), color, "{name}");
        let result = prepared(&decoded);
        assert!(result.inverted, "{name}");
        assert_eq!(result.digit_box, reference.digit_box, "{name}");
        let difference = max_difference(&result.pixels, &reference.pixels);
        assert!(difference <= 2e-3, "{name}: max difference {difference}");
    }

    let palette = decode_image(&indexed_png(w, h, &levels, false)).expect("indexed PNG decodes");
    let result = prepared(&palette);
    assert!(result.inverted, "palette");
    assert_eq!(result.digit_box, reference.digit_box, "palette");
    let difference = max_difference(&result.pixels, &reference.pixels);
    assert!(difference <= 2e-3, "palette: max difference {difference}");
}

/// Encodes 8-bit gray `levels` as an indexed-colour PNG whose palette is stored in reverse
/// (index `i` is gray `255 - i`), so a decoder that ignored the palette would invert the
/// image. With `transparent_paper`, white (index 0) is fully transparent through tRNS.
fn indexed_png(width: u32, height: u32, levels: &[u8], transparent_paper: bool) -> Vec<u8> {
    let palette: Vec<u8> = (0..=255u8)
        .rev()
        .flat_map(|gray| [gray, gray, gray])
        .collect();
    let indices: Vec<u8> = levels.iter().map(|&gray| 255 - gray).collect();
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette);
        if transparent_paper {
            encoder.set_trns(vec![0u8]);
        }
        let mut writer = encoder.write_header().expect("PNG header");
        writer.write_image_data(&indices).expect("PNG data");
    }
    bytes
}

#[test]
fn transparent_strokes_match_opaque() {
    let (width, height) = (160, 120);
    let coverage = render(width, height, SEVEN, (30.0, 10.0, 100.0), 7.0);
    let reference = prepared_drawing(width, height, &coverage);
    let alpha = ink_levels(&coverage);
    let (w, h) = (width as u32, height as u32);
    let alpha_at = |x: u32, y: u32| alpha[(y * w + x) as usize];

    let cases = [
        (
            "black strokes in gray+alpha",
            DynamicImage::ImageLumaA8(GrayAlphaImage::from_fn(w, h, |x, y| {
                LumaA([0, alpha_at(x, y)])
            })),
        ),
        (
            "black strokes in RGBA",
            DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
                Rgba([0, 0, 0, alpha_at(x, y)])
            })),
        ),
        (
            "red strokes in RGBA",
            DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
                Rgba([200, 30, 30, alpha_at(x, y)])
            })),
        ),
        (
            "white strokes in RGBA",
            DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
                Rgba([255, 255, 255, alpha_at(x, y)])
            })),
        ),
        (
            "yellow strokes on transparent black",
            DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
                let a = alpha_at(x, y);
                if a == 0 {
                    Rgba([0, 0, 0, 0])
                } else {
                    Rgba([250, 220, 40, a])
                }
            })),
        ),
    ];
    for (name, image) in cases {
        let decoded = decode_image(&encode(&image, ImageFormat::Png)).expect("PNG decodes");
        let result = prepared(&decoded);
        assert_eq!(result.digit_box, reference.digit_box, "{name}");
        let difference = max_difference(&result.pixels, &reference.pixels);
        assert!(difference <= 0.03, "{name}: max difference {difference}");
    }

    let levels = dark_on_light(width, height, &coverage).into_raw();
    let palette = decode_image(&indexed_png(w, h, &levels, true)).expect("indexed PNG decodes");
    assert_eq!(palette.color(), image::ColorType::Rgba8);
    let result = prepared(&palette);
    assert_eq!(result.digit_box, reference.digit_box, "palette with tRNS");
    let difference = max_difference(&result.pixels, &reference.pixels);
    assert!(
        difference <= 2e-3,
        "palette with tRNS: max difference {difference}"
    );
}

#[test]
fn jpeg_matches_png() {
    let coverage = render(400, 300, ONE, (150.0, 40.0, 200.0), 14.0);
    let image = DynamicImage::ImageLuma8(dark_on_light(400, 300, &coverage));
    let reference = prepared(&image);
    let (x, y, width, height) = reference.digit_box;
    for quality in [95, 85, 60, 40] {
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, quality)
            .encode_image(&image)
            .expect("JPEG encodes");
        let result = prepared(&decode_image(&jpeg).expect("JPEG decodes"));
        let correlation = aligned_correlation(&result.pixels, &reference.pixels);
        assert!(
            correlation > 0.97,
            "quality {quality}: correlation {correlation}"
        );
        // Ringing around the strokes must not widen the digit's box.
        let (jx, jy, jw, jh) = result.digit_box;
        assert!(jx.abs_diff(x) <= 1, "quality {quality}: x {jx} vs {x}");
        assert!(jy.abs_diff(y) <= 1, "quality {quality}: y {jy} vs {y}");
        assert!(
            jw.abs_diff(width) <= 2,
            "quality {quality}: width {jw} vs {width}"
        );
        assert!(
            jh.abs_diff(height) <= 2,
            "quality {quality}: height {jh} vs {height}"
        );
    }
}

#[test]
fn exif_orientation_is_applied() {
    let (width, height) = (160, 120);
    let coverage = render(width, height, SEVEN, (40.0, 15.0, 90.0), 8.0);
    let upright = DynamicImage::ImageLuma8(dark_on_light(width, height, &coverage));
    let reference = prepared(&upright);

    // Stored turned a quarter counter-clockwise, tagged "rotate 90° clockwise to view"
    // (EXIF orientation 6), as a phone held upright writes it.
    let stored = upright.rotate270();
    let exif = [
        b'M', b'M', 0, 42, 0, 0, 0, 8, // big-endian TIFF header, first IFD at offset 8
        0, 1, // one entry
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation, SHORT, count 1, value 6
        0, 0, 0, 0, // no next IFD
    ];
    let mut jpeg = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut jpeg, 95);
    image::ImageEncoder::set_exif_metadata(&mut encoder, exif.to_vec()).expect("EXIF accepted");
    encoder.encode_image(&stored).expect("JPEG encodes");

    let decoded = decode_image(&jpeg).expect("JPEG decodes");
    assert_eq!(decoded.dimensions(), (width as u32, height as u32));
    let result = prepared(&decoded);
    let correlation = aligned_correlation(&result.pixels, &reference.pixels);
    assert!(correlation > 0.97, "correlation {correlation}");
}

#[test]
fn gif_yields_first_frame() {
    let (width, height) = (120, 120);
    let frame_image = |glyph: Glyph| {
        let coverage = render(width, height, glyph, (20.0, 15.0, 90.0), 8.0);
        DynamicImage::ImageLuma8(dark_on_light(width, height, &coverage))
    };
    let first = frame_image(SEVEN);
    let second = frame_image(ONE);
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        encoder.set_repeat(Repeat::Infinite).expect("GIF repeat");
        encoder
            .encode_frames([Frame::new(first.to_rgba8()), Frame::new(second.to_rgba8())])
            .expect("GIF encodes");
    }
    let result = prepared(&decode_image(&gif).expect("GIF decodes"));
    let with_first = aligned_correlation(&result.pixels, &prepared(&first).pixels);
    let with_second = aligned_correlation(&result.pixels, &prepared(&second).pixels);
    assert!(
        with_first > 0.97,
        "correlation with the first frame {with_first}"
    );
    assert!(
        with_second < 0.7,
        "correlation with the second frame {with_second}"
    );
}

#[test]
fn webp_and_bmp_decode() {
    let coverage = render(100, 80, ELL, (20.0, 10.0, 60.0), 6.0);
    let image = DynamicImage::ImageRgb8(
        DynamicImage::ImageLuma8(dark_on_light(100, 80, &coverage)).to_rgb8(),
    );
    let reference = prepared(&image);
    for format in [ImageFormat::WebP, ImageFormat::Bmp] {
        let decoded = decode_image(&encode(&image, format)).expect("decodes");
        let result = prepared(&decoded);
        let difference = max_difference(&result.pixels, &reference.pixels);
        assert!(
            difference <= 2e-3,
            "{format:?}: max difference {difference}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Position, specks, lighting, stroke width
// ---------------------------------------------------------------------------------------------

#[test]
fn corner_digit_matches_centred() {
    let (width, height) = (1000, 600);
    let centred = render(width, height, SEVEN, (460.0, 260.0, 80.0), 8.0);
    let corner = render(width, height, SEVEN, (12.0, 515.0, 80.0), 8.0);
    let centred_result = prepared_drawing(width, height, &centred);
    let corner_result = prepared_drawing(width, height, &corner);
    let difference = max_difference(&centred_result.pixels, &corner_result.pixels);
    assert!(difference <= 1e-3, "max difference {difference}");
    let (cx, cy, cw, ch) = centred_result.digit_box;
    assert_eq!(corner_result.digit_box, (cx - 448, cy + 255, cw, ch));
}

#[test]
fn specks_do_not_move_crop() {
    let (width, height) = (400, 400);
    let coverage = render(width, height, SEVEN, (120.0, 100.0, 160.0), 10.0);
    let clean = dark_on_light(width, height, &coverage);
    let mut specked = clean.clone();
    // Dust: 2×2 and 3×3 black dots, near the digit and far from it.
    for &(x, y, side) in &[
        (10, 10, 3),
        (380, 30, 2),
        (30, 370, 3),
        (300, 350, 2),
        (100, 110, 2),
        (295, 280, 3),
    ] {
        for dy in 0..side {
            for dx in 0..side {
                specked.put_pixel(x + dx, y + dy, Luma([0]));
            }
        }
    }
    let clean_result = prepared(&DynamicImage::ImageLuma8(clean));
    let specked_result = prepared(&DynamicImage::ImageLuma8(specked));
    assert_eq!(specked_result.digit_box, clean_result.digit_box);
    let difference = max_difference(&specked_result.pixels, &clean_result.pixels);
    assert!(difference <= 1e-3, "max difference {difference}");
}

#[test]
fn table_edge_is_not_the_digit() {
    let (width, height) = (300, 240);
    let coverage = render(width, height, SEVEN, (110.0, 50.0, 130.0), 10.0);
    let clean = prepared_drawing(width, height, &coverage);
    // A dark table shows along the left edge of the photo, 40 px wide.
    let mut photo = dark_on_light(width, height, &coverage);
    for y in 0..height as u32 {
        for x in 0..40 {
            photo.put_pixel(x, y, Luma([35]));
        }
    }
    let result = prepared(&DynamicImage::ImageLuma8(photo));
    assert_eq!(result.digit_box, clean.digit_box);
    let difference = max_difference(&result.pixels, &clean.pixels);
    assert!(difference <= 1e-3, "max difference {difference}");
}

#[test]
fn digit_touching_edge_is_found() {
    // A tight crop: the seven's top bar runs along the top edge, and a speck sits inside.
    let (width, height) = (100, 110);
    let coverage = render(width, height, SEVEN, (-5.0, -1.0, 110.0), 12.0);
    let mut image = dark_on_light(width, height, &coverage);
    for (x, y) in [(10, 90), (11, 90), (10, 91), (11, 91)] {
        image.put_pixel(x, y, Luma([0]));
    }
    let result = prepared(&DynamicImage::ImageLuma8(image));
    let (x, y, w, h) = result.digit_box;
    assert_eq!(y, 0, "top");
    assert!(x <= 7, "left {x}");
    assert!(x + w >= 93, "right {}", x + w);
    assert!(h >= 100, "height {h}");
}

#[test]
fn large_photo_is_analysed_reduced() {
    // 6000×4000 pixels are analysed in 3×3 blocks; the box is still in source pixels.
    let (width, height) = (6000, 4000);
    let coverage = render(width, height, SEVEN, (2500.0, 1200.0, 1500.0), 120.0);
    let large = DynamicImage::ImageLuma8(dark_on_light(width, height, &coverage));
    let started = std::time::Instant::now();
    let result = prepared(&large);
    println!("6000×4000 prepared in {:?}", started.elapsed());
    let small_coverage = render(600, 400, SEVEN, (250.0, 120.0, 150.0), 12.0);
    let small = prepared_drawing(600, 400, &small_coverage);
    let correlation = aligned_correlation(&result.pixels, &small.pixels);
    assert!(correlation > 0.97, "correlation {correlation}");

    let (x, y, w, h) = result.digit_box;
    let expected = (2500.0 + 0.1 * 1500.0 - 60.0, 1200.0 + 0.05 * 1500.0 - 60.0);
    assert!((x as f32 - expected.0).abs() <= 6.0, "x {x}");
    assert!((y as f32 - expected.1).abs() <= 6.0, "y {y}");
    assert!(
        (w as f32 - (0.8 * 1500.0 + 120.0)).abs() <= 12.0,
        "width {w}"
    );
    assert!(
        (h as f32 - (0.9 * 1500.0 + 120.0)).abs() <= 12.0,
        "height {h}"
    );
}

#[test]
fn tight_crop_of_bold_digit_keeps_ink() {
    // An L of strokes `thickness` px wide in a 100 px box, cropped to its ink or with a
    // 100 px margin. With 40 px strokes ink fills 58 % of the tight crop, with 60 px 70 %,
    // and then ink covers about half of the border, where the paper is sought.
    for thickness in [40.0, 60.0] {
        let bold = |margin: usize| {
            let width = 60 + thickness as usize + 2 * margin;
            let height = 90 + thickness as usize + 2 * margin;
            let left = margin as f32 + thickness / 2.0 - 20.0;
            let top = margin as f32 + thickness / 2.0 - 5.0;
            let coverage = render(width, height, ELL, (left, top, 100.0), thickness);
            prepared_drawing(width, height, &coverage)
        };
        let tight = bold(0);
        let roomy = bold(100);
        assert!(tight.inverted, "{thickness} px strokes");
        let correlation = aligned_correlation(&tight.pixels, &roomy.pixels);
        assert!(
            correlation > 0.95,
            "{thickness} px strokes: correlation {correlation}"
        );
    }
}

/// Photographs `coverage` as ink of the given reflectance (paper = 1.0) on paper lit unevenly:
/// `paper_left` levels on the left edge to `paper_right` on the right, darker towards the top
/// and bottom edges by up to 10 levels, with Gaussian noise of `sigma` levels.
fn photo(
    width: usize,
    height: usize,
    coverage: &[f32],
    levels: (f32, f32, f32),
    sigma: f32,
) -> GrayImage {
    let (paper_left, paper_right, reflectance) = levels;
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut values = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let t = x as f32 / (width - 1) as f32;
            let bend = ((y as f32 / height as f32) - 0.5).powi(2);
            let light = paper_left + (paper_right - paper_left) * t - 40.0 * bend;
            let c = coverage[y * width + x];
            let value = light * (1.0 - c + reflectance * c) + sigma * noise.gaussian();
            values.push(value.round().clamp(0.0, 255.0) as u8);
        }
    }
    GrayImage::from_raw(width as u32, height as u32, values).expect("width × height values")
}

#[test]
fn uneven_lighting_and_noise_are_removed() {
    let (width, height) = (320, 240);
    let coverage = render(width, height, SEVEN, (90.0, 40.0, 150.0), 10.0);
    let clean = prepared_drawing(width, height, &coverage);
    let (cx, cy, cw, ch) = clean.digit_box;
    // Paper lit from 150 to 235 levels across the image, then from 90 to 245.
    for (left, right) in [(150.0, 235.0), (90.0, 245.0)] {
        let photo = photo(width, height, &coverage, (left, right, 0.25), 4.0);
        let result = prepared(&DynamicImage::ImageLuma8(photo));
        let case = format!("paper {left} to {right}");
        assert!(result.inverted, "{case}");
        let (x, y, w, h) = result.digit_box;
        assert!(x.abs_diff(cx) <= 2, "{case}: x {x} vs {cx}");
        assert!(y.abs_diff(cy) <= 2, "{case}: y {y} vs {cy}");
        assert!(w.abs_diff(cw) <= 4, "{case}: width {w} vs {cw}");
        assert!(h.abs_diff(ch) <= 4, "{case}: height {h} vs {ch}");
        let correlation = aligned_correlation(&result.pixels, &clean.pixels);
        assert!(correlation > 0.95, "{case}: correlation {correlation}");
    }
}

#[test]
fn mid_grey_paper_polarity() {
    // Under-exposed photo: paper at 110, ink at 30; paper darker than mid-grey yet lighter
    // than the ink.
    let (width, height) = (200, 200);
    let coverage = render(width, height, ONE, (50.0, 30.0, 140.0), 10.0);
    let clean = prepared_drawing(width, height, &coverage);
    let dim = photo(width, height, &coverage, (110.0, 110.0, 0.27), 2.0);
    let result = prepared(&DynamicImage::ImageLuma8(dim));
    assert!(result.inverted);
    let correlation = aligned_correlation(&result.pixels, &clean.pixels);
    assert!(correlation > 0.95, "correlation {correlation}");
}

#[test]
fn thin_strokes_are_thickened() {
    // A 2 px pen line on a 1000 px canvas would be 0.05 px wide at MNIST's scale.
    let (width, height) = (1000, 1000);
    let coverage = render(width, height, ELL, (100.0, 100.0, 800.0), 2.0);
    let result = prepared_drawing(width, height, &coverage);

    let field = Plane {
        width: MNIST_SIDE,
        height: MNIST_SIDE,
        data: result.pixels.clone(),
    };
    let stroke = normalize::measure_stroke_width(&field).expect("ink present");
    println!("thickened stroke width {stroke}");
    assert!(
        stroke >= normalize::MIN_STROKE_WIDTH,
        "stroke width {stroke}"
    );
    assert!(
        stroke <= normalize::TARGET_STROKE_WIDTH + 1.0,
        "stroke width {stroke}"
    );
    let (_, _, w, h) = field_bounds(&result.pixels);
    assert!(w.max(h) <= MNIST_BOX_SIDE + 1, "{w}×{h}");

    // The strokes are solid, not a faint line brightened only where the two lines meet.
    let mut ink: Vec<f32> = result
        .pixels
        .iter()
        .copied()
        .filter(|&v| v > 0.05)
        .collect();
    let median_ink = plane::median(&mut ink);
    assert!(median_ink >= 0.6, "median ink {median_ink}");
}

#[test]
fn thick_strokes_are_thinned() {
    // 75 px marker strokes on a 150 px glyph: about 7 px wide at MNIST's scale.
    let (width, height) = (320, 320);
    let coverage = render(width, height, ELL, (70.0, 60.0, 150.0), 75.0);
    let result = prepared_drawing(width, height, &coverage);
    let field = Plane {
        width: MNIST_SIDE,
        height: MNIST_SIDE,
        data: result.pixels.clone(),
    };
    // The measure on 28×28 pixels reads the L's corner as extra width, about 0.8 px here.
    // Left as drawn, the strokes would measure about 6.7 px.
    let stroke = normalize::measure_stroke_width(&field).expect("ink present");
    println!("thinned stroke width {stroke}");
    assert!(
        stroke <= normalize::THINNED_STROKE_WIDTH + 1.0,
        "stroke width {stroke}"
    );
    assert!(
        stroke >= normalize::THINNED_STROKE_WIDTH - 0.6,
        "stroke width {stroke}"
    );
}

#[test]
fn blank_and_uniform_images_have_no_digit() {
    let white = DynamicImage::ImageLuma8(GrayImage::from_pixel(200, 100, Luma([255])));
    assert_no_digit(prepare(&white), "blank white");
    let grey = DynamicImage::ImageRgb8(RgbImage::from_pixel(64, 64, Rgb([128, 128, 128])));
    assert_no_digit(prepare(&grey), "uniform grey");
    let black = DynamicImage::ImageLuma8(GrayImage::from_pixel(28, 28, Luma([0])));
    assert_no_digit(prepare(&black), "uniform black");
    let single = DynamicImage::ImageLuma8(GrayImage::from_pixel(1, 1, Luma([0])));
    assert_no_digit(prepare(&single), "1×1");
    let clear = DynamicImage::ImageRgba8(RgbaImage::from_pixel(50, 50, Rgba([0, 0, 0, 0])));
    assert_no_digit(prepare(&clear), "fully transparent");
    let empty = DynamicImage::ImageLuma8(GrayImage::new(0, 0));
    assert_no_digit(prepare(&empty), "0×0");
}

#[test]
fn faint_ink_and_noise_have_no_digit() {
    let (width, height) = (200, 200);
    let coverage = render(width, height, SEVEN, (40.0, 40.0, 120.0), 10.0);
    // Ink 10 levels under the paper, noise of 6 levels.
    let faint = photo(width, height, &coverage, (200.0, 200.0, 0.95), 6.0);
    assert_no_digit(
        prepare(&DynamicImage::ImageLuma8(faint)),
        "faint ink in noise",
    );
    let blank = vec![0.0; width * height];
    let noise_only = photo(width, height, &blank, (180.0, 180.0, 1.0), 8.0);
    assert_no_digit(prepare(&DynamicImage::ImageLuma8(noise_only)), "noise only");
    // Salt and pepper: isolated black pixels on white.
    let mut noise = Noise(7);
    let salt = GrayImage::from_fn(200, 200, |_, _| {
        Luma([if noise.uniform() < 0.002 { 0 } else { 255 }])
    });
    assert_no_digit(
        prepare(&DynamicImage::ImageLuma8(salt)),
        "isolated black pixels",
    );
    // Uniform random levels over the whole range: reported as noise, not as blank.
    let random = GrayImage::from_fn(200, 200, |_, _| Luma([(noise.uniform() * 255.0) as u8]));
    match prepare(&DynamicImage::ImageLuma8(random)) {
        Err(PrepareError::NoDigit { reason }) => {
            assert!(reason.contains("only noise"), "{reason}")
        }
        Err(other) => panic!("random levels: expected NoDigit, got {other}"),
        Ok(prepared) => panic!("random levels: found a digit at {:?}", prepared.digit_box),
    }
}

#[test]
fn clear_ink_in_noise_is_found() {
    let (width, height) = (200, 200);
    let coverage = render(width, height, SEVEN, (40.0, 40.0, 120.0), 10.0);
    let clean = prepared_drawing(width, height, &coverage);
    let noisy = photo(width, height, &coverage, (200.0, 200.0, 0.6), 6.0);
    let result = prepared(&DynamicImage::ImageLuma8(noisy));
    let correlation = aligned_correlation(&result.pixels, &clean.pixels);
    assert!(correlation > 0.95, "correlation {correlation}");
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_input_is_empty() {
    assert!(matches!(decode_image(&[]), Err(PrepareError::Empty)));
}

#[test]
fn truncated_and_random_bytes_fail_to_decode() {
    let coverage = render(64, 64, ONE, (10.0, 10.0, 44.0), 5.0);
    let png = encode(
        &DynamicImage::ImageLuma8(dark_on_light(64, 64, &coverage)),
        ImageFormat::Png,
    );
    let truncated = &png[..png.len() / 2];
    assert!(
        matches!(decode_image(truncated), Err(PrepareError::Decode { .. })),
        "truncated PNG"
    );

    let mut noise = Noise(42);
    let random: Vec<u8> = (0..4096).map(|_| noise.next_u64() as u8).collect();
    assert!(
        matches!(decode_image(&random), Err(PrepareError::Decode { .. })),
        "random bytes"
    );

    let text = b"this is not an image\n";
    assert!(
        matches!(decode_image(text), Err(PrepareError::Decode { .. })),
        "text"
    );
}

/// Returns the CRC-32 (ISO-HDLC, as PNG uses) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Returns a PNG signature and IHDR chunk for an 8-bit gray image of the given size, with no
/// pixel data: a decoder that allocated the image before checking would need
/// `width × height` bytes.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&width.to_be_bytes());
    chunk.extend_from_slice(&height.to_be_bytes());
    chunk.extend_from_slice(&[8, 0, 0, 0, 0]); // depth 8, gray, deflate, adaptive, no interlace
    append_chunk(&mut bytes, &chunk);
    // A short IDAT, so that a decoder reading the header reaches the image data.
    let mut data = b"IDAT".to_vec();
    data.extend_from_slice(&[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]);
    append_chunk(&mut bytes, &data);
    append_chunk(&mut bytes, b"IEND");
    bytes
}

/// Appends a PNG chunk: `chunk` is the type followed by the data.
fn append_chunk(bytes: &mut Vec<u8>, chunk: &[u8]) {
    bytes.extend_from_slice(&(chunk.len() as u32 - 4).to_be_bytes());
    bytes.extend_from_slice(chunk);
    bytes.extend_from_slice(&crc32(chunk).to_be_bytes());
}

/// Returns a BMP file header and info header for a 24-bit image of the given size, with no
/// pixel data.
fn bmp_header_only(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"BM".to_vec();
    bytes.extend_from_slice(&54u32.to_le_bytes()); // file size: headers only
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    bytes.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER size
    bytes.extend_from_slice(&(width as i32).to_le_bytes());
    bytes.extend_from_slice(&(height as i32).to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes()); // planes
    bytes.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    bytes.extend_from_slice(&[0; 24]); // no compression, sizes, resolution, palette counts
    bytes
}

#[test]
fn oversized_dimensions_are_too_large() {
    // 100 000 × 100 000 pixels would need 10 GB; the header alone must be enough to refuse.
    match decode_image(&png_header_only(100_000, 100_000)) {
        Err(PrepareError::TooLarge {
            width,
            height,
            limit,
        }) => {
            assert_eq!((width, height), (100_000, 100_000));
            assert_eq!(limit, MAX_INPUT_PIXELS);
        }
        other => panic!("PNG: expected TooLarge, got {other:?}"),
    }
    match decode_image(&bmp_header_only(10_000, 6_000)) {
        Err(PrepareError::TooLarge { width, height, .. }) => {
            assert_eq!((width, height), (10_000, 6_000));
        }
        other => panic!("BMP: expected TooLarge, got {other:?}"),
    }
    // Just under the limit, the header passes and the missing pixel data fails to decode.
    assert!(matches!(
        decode_image(&png_header_only(5_000, 5_000)),
        Err(PrepareError::Decode { .. })
    ));
}

#[test]
fn oversized_file_is_file_too_large() {
    let bytes = vec![0u8; MAX_INPUT_BYTES as usize + 1];
    match decode_image(&bytes) {
        Err(PrepareError::FileTooLarge { bytes, limit }) => {
            assert_eq!(bytes, MAX_INPUT_BYTES + 1);
            assert_eq!(limit, MAX_INPUT_BYTES);
        }
        other => panic!("expected FileTooLarge, got {other:?}"),
    }
}

#[test]
fn prepared_png_round_trips() {
    let coverage = render(120, 120, SEVEN, (20.0, 20.0, 80.0), 7.0);
    let result = prepared_drawing(120, 120, &coverage);
    let bytes = prepared_to_png_bytes(&result).expect("PNG encodes");
    let decoded = decode_image(&bytes).expect("PNG decodes");
    assert_eq!(decoded.color(), image::ColorType::L8);
    let gray = decoded.to_luma8();
    assert_eq!(gray.dimensions(), (MNIST_SIDE as u32, MNIST_SIDE as u32));
    for (index, &level) in gray.as_raw().iter().enumerate() {
        let expected = (result.pixels[index] * 255.0).round() as u8;
        assert_eq!(level, expected, "pixel {index}");
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

#[test]
fn stroke_width_of_bars() {
    // A bar w px wide measures 4·(mean chamfer distance − 0.5) (see `stroke_width`), less a
    // little because the distance falls towards the bar's two ends.
    let cases = [(1, 2.0), (2, 2.0), (3, 3.333), (4, 4.0), (5, 5.2), (8, 8.0)];
    for (bar, across) in cases {
        let mut horizontal = Plane::new(260, 30);
        let mut vertical = Plane::new(30, 260);
        for along in 5..255 {
            for offset in 10..10 + bar {
                horizontal.data[offset * 260 + along] = 1.0;
                vertical.data[along * 30 + offset] = 1.0;
            }
        }
        for plane in [horizontal, vertical] {
            let width = normalize::stroke_width(&plane).expect("the bar is ink");
            assert!(width <= across + 1e-3, "bar {bar}: width {width}");
            assert!(width >= across - 0.1, "bar {bar}: width {width}");
        }
    }
    assert_eq!(normalize::stroke_width(&Plane::new(10, 10)), None);
}

#[test]
fn stroke_width_of_slanted_bar() {
    // A 45° band whose width across is 6 px.
    let mut plane = Plane::new(200, 200);
    for y in 0..200 {
        for x in 0..200 {
            let across = (x as f32 - y as f32).abs() / std::f32::consts::SQRT_2;
            if across <= 3.0 && (20..180).contains(&x) {
                plane.data[y * 200 + x] = 1.0;
            }
        }
    }
    let width = normalize::stroke_width(&plane).expect("the band is ink");
    assert!((width - 6.0).abs() <= 0.6, "width {width}");
}

#[test]
fn otsu_splits_two_levels() {
    let mut values = vec![10.0; 900];
    values.extend(std::iter::repeat_n(200.0, 100));
    assert_eq!(background::otsu_threshold(&values), 11.0);
}

#[test]
fn background_fit_recovers_quadratic() {
    let (width, height) = (120, 90);
    let mut plane = Plane::new(width, height);
    let lighting = |x: usize, y: usize| {
        let u = 2.0 * (x as f32 + 0.5) / width as f32 - 1.0;
        let v = 2.0 * (y as f32 + 0.5) / height as f32 - 1.0;
        40.0 + 15.0 * u - 10.0 * v + 12.0 * u * u + 5.0 * u * v
    };
    for y in 0..height {
        for x in 0..width {
            plane.data[y * width + x] = lighting(x, y);
        }
    }
    // Ink: a thick bar that fills several grid cells completely.
    for y in 20..70 {
        for x in 40..60 {
            plane.data[y * width + x] += 150.0;
        }
    }
    let surface = background::fit_background(&plane, lighting(0, 0));
    for (x, y) in [(0, 0), (119, 0), (0, 89), (119, 89), (50, 45), (10, 60)] {
        let error = (surface.evaluate(x, y) - lighting(x, y)).abs();
        assert!(error < 0.01, "({x}, {y}): error {error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Real MNIST digits
// ---------------------------------------------------------------------------------------------

/// Magic number of an IDX file of unsigned bytes with three dimensions.
const IDX_IMAGES_MAGIC: u32 = 2051;

/// Returns up to `count` 28×28 digits from the MNIST test images, or `None` when neither
/// `t10k-images-idx3-ubyte` nor its `.gz` is in `datasets/mnist/` of the workspace.
fn mnist_test_digits(count: usize) -> Option<Vec<Vec<u8>>> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let raw = directory.join("t10k-images-idx3-ubyte");
    let compressed = directory.join("t10k-images-idx3-ubyte.gz");
    let (path, bytes) = if let Ok(bytes) = std::fs::read(&raw) {
        (raw, bytes)
    } else if let Ok(file) = std::fs::File::open(&compressed) {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(file), &mut bytes)
            .expect("the MNIST test images decompress");
        (compressed, bytes)
    } else {
        println!("skipped: no MNIST test images in {}", directory.display());
        return None;
    };

    let field = |index: usize| {
        let start = 4 * index;
        u32::from_be_bytes([
            bytes[start],
            bytes[start + 1],
            bytes[start + 2],
            bytes[start + 3],
        ])
    };
    assert!(
        bytes.len() >= 16,
        "{} is shorter than an IDX header",
        path.display()
    );
    assert_eq!(
        field(0),
        IDX_IMAGES_MAGIC,
        "{} is not an IDX image file",
        path.display()
    );
    let (stored, rows, columns) = (field(1) as usize, field(2) as usize, field(3) as usize);
    assert_eq!((rows, columns), (MNIST_SIDE, MNIST_SIDE));
    let side = rows * columns;
    assert!(
        bytes.len() >= 16 + stored * side,
        "{} is truncated",
        path.display()
    );
    let digits = (0..count.min(stored))
        .map(|i| bytes[16 + i * side..16 + (i + 1) * side].to_vec())
        .collect();
    Some(digits)
}

#[test]
fn mnist_statistics_match_constants() {
    // Measured on the 10 000 test digits with this module's own measures. Mean centre of
    // mass: (14.008, 13.993). Stroke widths at the 20 px box: 1st percentile 1.65, median
    // 2.64, 95th percentile 4.17, 99th percentile 5.13.
    let Some(digits) = mnist_test_digits(10_000) else {
        return;
    };
    let mut centre_x = 0.0;
    let mut centre_y = 0.0;
    let mut widths = Vec::new();
    for digit in &digits {
        let pixels: Vec<f32> = digit.iter().map(|&v| f32::from(v) / 255.0).collect();
        let (x, y) = centre_of_mass(&pixels);
        centre_x += x;
        centre_y += y;

        let (bx, by, bw, bh) = field_bounds(&pixels);
        let field = Plane {
            width: MNIST_SIDE,
            height: MNIST_SIDE,
            data: pixels,
        };
        let content = field.crop(bx, by, bw, bh);
        if let Some(width) = normalize::measure_stroke_width(&content) {
            widths.push(width * MNIST_BOX_SIDE as f32 / bw.max(bh) as f32);
        }
    }

    let count = digits.len() as f32;
    let (centre_x, centre_y) = (centre_x / count, centre_y / count);
    let range = normalize::MIN_STROKE_WIDTH..=normalize::MAX_STROKE_WIDTH;
    let in_range = widths.iter().filter(|w| range.contains(w)).count() as f32 / count;
    let median_width = plane::median(&mut widths);
    let wide_width = plane::quantile(&mut widths, 0.95);
    println!(
        "MNIST test set: mean centre of mass ({centre_x:.3}, {centre_y:.3}); stroke width \
         median {median_width:.2}, 95th percentile {wide_width:.2}, in range {in_range:.3}"
    );
    assert!(
        (centre_x - MNIST_CENTRE_OF_MASS).abs() < 0.1,
        "mean centre x {centre_x}"
    );
    assert!(
        (centre_y - MNIST_CENTRE_OF_MASS).abs() < 0.1,
        "mean centre y {centre_y}"
    );
    assert!(in_range >= 0.98, "share of widths left as drawn {in_range}");
    assert!(
        (median_width - normalize::TARGET_STROKE_WIDTH).abs() < 0.2,
        "median width {median_width}"
    );
    assert!(
        (wide_width - normalize::THINNED_STROKE_WIDTH).abs() < 0.2,
        "95th percentile width {wide_width}"
    );
}

#[test]
fn real_mnist_digits_survive_round_trip() {
    /// Upscaling factor of each digit before preparation.
    const UPSCALE: usize = 4;
    let Some(digits) = mnist_test_digits(100) else {
        return;
    };
    let side = MNIST_SIDE * UPSCALE;
    let mut correlations = Vec::new();
    for (index, digit) in digits.iter().enumerate() {
        // Dark on light, each pixel a 4×4 block.
        let upscaled = GrayImage::from_fn(side as u32, side as u32, |x, y| {
            let source = (y as usize / UPSCALE) * MNIST_SIDE + x as usize / UPSCALE;
            Luma([255 - digit[source]])
        });
        let result = match prepare(&DynamicImage::ImageLuma8(upscaled)) {
            Ok(result) => result,
            Err(error) => panic!("MNIST test digit {index}: {error}"),
        };
        assert!(result.inverted, "digit {index}");
        let original: Vec<f32> = digit.iter().map(|&v| f32::from(v) / 255.0).collect();
        correlations.push(pearson(&result.pixels, &original));
    }
    let mean = correlations.iter().sum::<f32>() / correlations.len() as f32;
    let worst = correlations.iter().copied().fold(1.0, f32::min);
    // Measured: mean 0.98, worst 0.71. The worst digits have strokes thin enough to be
    // thickened, or a centre of mass that rounds to the neighbouring pixel.
    println!("MNIST round trip: mean correlation {mean:.4}, worst {worst:.4}");
    assert!(mean > 0.95, "mean correlation {mean}");
    assert!(worst > 0.65, "worst correlation {worst}");
}
