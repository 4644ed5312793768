//! Sample digit images as 8-bit grayscale PNGs, for trying the classifiers on real files.
//!
//! Plain samples keep MNIST's polarity (white digit on black, 28 × 28). "Paper-style"
//! samples invert it to dark ink on white and scale to 112 × 112, like a photographed or
//! scanned digit, so users can check that inference handles real-world images.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat};

use crate::error::DataError;
use crate::fetch::write_atomic;
use crate::{IMAGE_SIDE, MnistSplit, NUM_CLASSES};

/// Side in pixels of the paper-style samples: four times the MNIST side.
pub const PAPER_SIDE: u32 = 4 * IMAGE_SIDE as u32;

/// Writes up to `per_digit` images of each digit from `split` into `out_dir`, plus one
/// paper-style version of the first image of each digit, and returns the written paths.
///
/// Images are taken in index order. Plain files are named `digit-<label>-index-<i>.png`
/// and paper-style files `paper-digit-<label>-index-<i>.png`, where `i` is the index in
/// `split`. A digit with fewer images than `per_digit` gets all it has. `per_digit = 0`
/// writes nothing. Creates `out_dir` if needed and writes each file atomically.
pub fn write_samples(
    split: &MnistSplit,
    out_dir: &Path,
    per_digit: usize,
) -> Result<Vec<PathBuf>, DataError> {
    if per_digit == 0 {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(out_dir).map_err(|source| DataError::write(out_dir, source))?;

    let mut written = Vec::new();
    for digit in 0..NUM_CLASSES as u8 {
        let indices: Vec<usize> = (0..split.len())
            .filter(|&index| split.label(index) == digit)
            .take(per_digit)
            .collect();
        for (rank, &index) in indices.iter().enumerate() {
            let plain = mnist_image(split, index);
            let path = out_dir.join(format!("digit-{digit}-index-{index}.png"));
            write_png(&plain, &path)?;
            written.push(path);

            if rank == 0 {
                let path = out_dir.join(format!("paper-digit-{digit}-index-{index}.png"));
                write_png(&paper_style(&plain), &path)?;
                written.push(path);
            }
        }
    }
    Ok(written)
}

/// Returns image `index` of `split` as a 28 × 28 grayscale image.
fn mnist_image(split: &MnistSplit, index: usize) -> GrayImage {
    let side = IMAGE_SIDE as u32;
    // `MnistSplit::image` always returns IMAGE_SIDE² bytes, so the buffer size matches.
    GrayImage::from_raw(side, side, split.image(index).to_vec())
        .unwrap_or_else(|| GrayImage::new(side, side))
}

/// Inverts `image` to dark ink on white and scales it to [`PAPER_SIDE`] with bilinear
/// filtering, which softens the edges as a scan would.
fn paper_style(image: &GrayImage) -> GrayImage {
    let mut inverted = image.clone();
    imageops::invert(&mut inverted);
    imageops::resize(&inverted, PAPER_SIDE, PAPER_SIDE, FilterType::Triangle)
}

fn write_png(image: &GrayImage, path: &Path) -> Result<(), DataError> {
    let mut png = Cursor::new(Vec::new());
    image
        .write_to(&mut png, ImageFormat::Png)
        .map_err(|source| DataError::Encode {
            file: path.display().to_string(),
            source,
        })?;
    write_atomic(path, png.get_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IMAGE_PIXELS;

    /// Returns a split of five images with labels 3, 7, 3, 3, 0, each filled with its index.
    fn small_split() -> MnistSplit {
        let labels = vec![3, 7, 3, 3, 0];
        let images = (0..labels.len())
            .flat_map(|index| vec![index as u8 * 10; IMAGE_PIXELS])
            .collect();
        MnistSplit { images, labels }
    }

    fn file_names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn write_samples_names_label_and_index() {
        let out = tempfile::tempdir().unwrap();
        let written = write_samples(&small_split(), out.path(), 2).unwrap();
        assert_eq!(
            file_names(&written),
            [
                "digit-0-index-4.png",
                "paper-digit-0-index-4.png",
                "digit-3-index-0.png",
                "paper-digit-3-index-0.png",
                "digit-3-index-2.png",
                "digit-7-index-1.png",
                "paper-digit-7-index-1.png",
            ]
        );
        for path in &written {
            assert!(path.is_file(), "{} missing", path.display());
        }
    }

    #[test]
    fn write_samples_keeps_pixels_and_polarity() {
        let out = tempfile::tempdir().unwrap();
        let mut split = small_split();
        // Image 1 (label 7): white stroke in row 14 on black.
        split.images[IMAGE_PIXELS..2 * IMAGE_PIXELS].fill(0);
        split.images[IMAGE_PIXELS + 14 * 28..IMAGE_PIXELS + 15 * 28].fill(255);
        write_samples(&split, out.path(), 1).unwrap();

        let plain = image::open(out.path().join("digit-7-index-1.png")).unwrap();
        assert_eq!(plain.color(), image::ColorType::L8);
        assert_eq!(plain.to_luma8().as_raw().as_slice(), split.image(1));

        let paper = image::open(out.path().join("paper-digit-7-index-1.png"))
            .unwrap()
            .to_luma8();
        assert_eq!(paper.dimensions(), (PAPER_SIDE, PAPER_SIDE));
        assert_eq!(paper.get_pixel(0, 0).0[0], 255, "background must be white");
        assert!(paper.get_pixel(56, 58).0[0] < 64, "stroke must be dark");
    }

    #[test]
    fn write_samples_zero_per_digit_writes_nothing() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("none");
        assert!(
            write_samples(&small_split(), &target, 0)
                .unwrap()
                .is_empty()
        );
        assert!(!target.exists());
    }

    #[test]
    fn write_samples_leaves_no_temporary_files() {
        let out = tempfile::tempdir().unwrap();
        let written = write_samples(&small_split(), out.path(), 3).unwrap();
        let on_disk = std::fs::read_dir(out.path()).unwrap().count();
        assert_eq!(on_disk, written.len());
    }
}
