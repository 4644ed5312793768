//! IDX, the file format of MNIST: reading raw or gzip-compressed files with strict
//! validation, writing IDX bytes for conversions, and loading a verified split from disk.
//!
//! An IDX file is a big-endian `u32` magic number, one big-endian `u32` per dimension,
//! then one unsigned byte per value. The magic number's third byte gives the value type
//! (0x08 = unsigned byte) and its fourth the number of dimensions. MNIST images are
//! 28 × 28 pixels, row-major, 0 = background, 255 = ink.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::checksum;
use crate::error::DataError;
use crate::{IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};

/// Magic number of an IDX image file: 0x08 (unsigned byte values) and 3 dimensions.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX label file: 0x08 (unsigned byte values) and 1 dimension.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Header size of an image file: magic, count, rows and columns, four bytes each.
pub const IMAGES_HEADER_BYTES: usize = 16;
/// Header size of a label file: magic and count, four bytes each.
pub const LABELS_HEADER_BYTES: usize = 8;
/// First two bytes of every gzip member (RFC 1952, section 2.3.1).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Number of leading bytes searched for an HTML tag.
const HTML_SNIFF_BYTES: usize = 1024;

/// One of the two MNIST splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The 60,000 training images.
    Train,
    /// The 10,000 test images.
    Test,
}

impl Split {
    /// Both splits, training set first.
    pub const ALL: [Split; 2] = [Split::Train, Split::Test];

    /// Returns the decompressed image file name, for example `train-images-idx3-ubyte`.
    pub fn images_file(self) -> &'static str {
        match self {
            Split::Train => "train-images-idx3-ubyte",
            Split::Test => "t10k-images-idx3-ubyte",
        }
    }

    /// Returns the decompressed label file name, for example `train-labels-idx1-ubyte`.
    pub fn labels_file(self) -> &'static str {
        match self {
            Split::Train => "train-labels-idx1-ubyte",
            Split::Test => "t10k-labels-idx1-ubyte",
        }
    }

    /// Returns the split's short name, `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Kind of IDX file, which fixes the magic number and the header size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdxKind {
    /// Three dimensions: count, rows, columns.
    Images,
    /// One dimension: count.
    Labels,
}

impl IdxKind {
    /// Returns the kind of a canonical MNIST file name (with or without `.gz`).
    pub fn of_file_name(file_name: &str) -> IdxKind {
        if file_name.contains("-images-") {
            IdxKind::Images
        } else {
            IdxKind::Labels
        }
    }

    fn magic(self) -> u32 {
        match self {
            IdxKind::Images => IMAGES_MAGIC,
            IdxKind::Labels => LABELS_MAGIC,
        }
    }

    fn header_bytes(self) -> usize {
        match self {
            IdxKind::Images => IMAGES_HEADER_BYTES,
            IdxKind::Labels => LABELS_HEADER_BYTES,
        }
    }

    fn description(self) -> &'static str {
        match self {
            IdxKind::Images => "images, idx3-ubyte",
            IdxKind::Labels => "labels, idx1-ubyte",
        }
    }
}

/// Images and labels of one split, decoded and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistSplit {
    /// Pixels of every image, row-major, [`IMAGE_PIXELS`] bytes per image.
    pub images: Vec<u8>,
    /// Digit of each image, 0 to 9.
    pub labels: Vec<u8>,
}

impl MnistSplit {
    /// Returns the number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Returns whether the split has no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Returns the [`IMAGE_PIXELS`] pixels of image `index`, row-major.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.len()`.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.images[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// Returns the digit of image `index`.
    ///
    /// # Panics
    ///
    /// Panics if `index >= self.len()`.
    pub fn label(&self, index: usize) -> u8 {
        self.labels[index]
    }
}

/// Returns the path of `name` in `dir`, preferring the raw file over `name.gz`, or `None`
/// when neither is a file.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Some(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

/// Loads one split from `dir`, verifying both files against the canonical checksums
/// before parsing them.
///
/// Each file may be raw or gzip-compressed, under its name or its name plus `.gz`. Data
/// that does not match the canonical digests is never returned.
pub fn load_split(dir: &Path, split: Split) -> Result<MnistSplit, DataError> {
    let images_name = split.images_file();
    let labels_name = split.labels_file();
    let images_path = find_file(dir, images_name).ok_or_else(|| not_found(dir, images_name))?;
    let labels_path = find_file(dir, labels_name).ok_or_else(|| not_found(dir, labels_name))?;

    let images_bytes = read_verified(&images_path, images_name)?;
    let labels_bytes = read_verified(&labels_path, labels_name)?;
    parse_split(
        &images_path.display().to_string(),
        images_bytes,
        &labels_path.display().to_string(),
        labels_bytes,
    )
}

/// Parses decompressed IDX image and label bytes into a split, checking that their counts
/// agree. Verifies no checksum, so use [`load_split`] for the real dataset.
pub fn parse_split(
    images_file: &str,
    images_bytes: Vec<u8>,
    labels_file: &str,
    labels_bytes: Vec<u8>,
) -> Result<MnistSplit, DataError> {
    let images = parse_images(images_file, images_bytes)?;
    let labels = parse_labels(labels_file, labels_bytes)?;

    let image_count = images.len() / IMAGE_PIXELS;
    if image_count != labels.len() {
        return Err(DataError::CountMismatch {
            images_file: images_file.to_string(),
            images: image_count,
            labels_file: labels_file.to_string(),
            labels: labels.len(),
        });
    }
    Ok(MnistSplit { images, labels })
}

fn not_found(dir: &Path, name: &str) -> DataError {
    DataError::NotFound {
        dir: dir.display().to_string(),
        name: name.to_string(),
    }
}

/// Reads `path`, decompresses it if it is gzip, and verifies the result against the
/// canonical digests of `file_name`.
///
/// On a mismatch the content is parsed as IDX, so that a structural fault (an HTML page,
/// a truncated body, a wrong magic number) is reported in place of the bare mismatch.
pub fn read_verified(path: &Path, file_name: &str) -> Result<Vec<u8>, DataError> {
    let expected = checksum::canonical(file_name)?;
    let bytes = read_decompressed(path)?;
    let file = path.display().to_string();
    match checksum::verify(&file, expected, &bytes) {
        Ok(()) => Ok(bytes),
        Err(mismatch) => Err(diagnose_mismatch(&file, file_name, bytes, mismatch)),
    }
}

/// Returns the IDX parse error of `bytes` if there is one, otherwise `mismatch`.
pub(crate) fn diagnose_mismatch(
    file: &str,
    file_name: &str,
    bytes: Vec<u8>,
    mismatch: DataError,
) -> DataError {
    let parsed = match IdxKind::of_file_name(file_name) {
        IdxKind::Images => parse_images(file, bytes).map(drop),
        IdxKind::Labels => parse_labels(file, bytes).map(drop),
    };
    match parsed {
        Ok(()) => mismatch,
        Err(structural) => structural,
    }
}

/// Reads `path` and returns its content, decompressed if it starts with the gzip magic.
///
/// The file extension is ignored. Rejects an empty file and a gzip stream that is cut
/// short or corrupt.
pub fn read_decompressed(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::read(path, source))?;
    decompress_if_gzip(&path.display().to_string(), bytes)
}

/// Decompresses `bytes` if they start with the gzip magic and returns them unchanged
/// otherwise. `file` names the origin in errors.
pub fn decompress_if_gzip(file: &str, bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty {
            file: file.to_string(),
        });
    }
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let mut decompressed = Vec::new();
    MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut decompressed)
        .map_err(|source| DataError::Gzip {
            file: file.to_string(),
            source,
        })?;
    if decompressed.is_empty() {
        return Err(DataError::Empty {
            file: file.to_string(),
        });
    }
    Ok(decompressed)
}

/// Returns whether `bytes` start with the gzip magic.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Returns whether the first bytes of `bytes` look like an HTML document: after optional
/// whitespace and a UTF-8 byte-order mark they start with `<` and contain `<html`,
/// `<!doctype html`, `<head` or `<body`, in any letter case.
pub fn looks_like_html(bytes: &[u8]) -> bool {
    let start = &bytes[..bytes.len().min(HTML_SNIFF_BYTES)];
    let start = start.strip_prefix(b"\xef\xbb\xbf").unwrap_or(start);
    let trimmed = match start.iter().position(|byte| !byte.is_ascii_whitespace()) {
        Some(offset) => &start[offset..],
        None => return false,
    };
    if !trimmed.starts_with(b"<") {
        return false;
    }
    let lower = trimmed.to_ascii_lowercase();
    [b"<html".as_slice(), b"<!doctype html", b"<head", b"<body"]
        .iter()
        .any(|tag| lower.windows(tag.len()).any(|window| window == *tag))
}

/// Parses the decompressed bytes of an IDX image file of 28 × 28 images and returns the
/// pixels without the header. `file` names the origin in errors.
pub fn parse_images(file: &str, bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    let count = check_header(file, &bytes, IdxKind::Images)?;
    let rows = read_u32(&bytes, 8);
    let cols = read_u32(&bytes, 12);
    if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
        return Err(DataError::WrongImageSize {
            file: file.to_string(),
            rows,
            cols,
        });
    }
    check_body_length(file, &bytes, IMAGES_HEADER_BYTES, count, IMAGE_PIXELS)?;

    let mut pixels = bytes;
    pixels.drain(..IMAGES_HEADER_BYTES);
    Ok(pixels)
}

/// Parses the decompressed bytes of an IDX label file and returns the labels without the
/// header. Rejects any label above 9. `file` names the origin in errors.
pub fn parse_labels(file: &str, bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    let count = check_header(file, &bytes, IdxKind::Labels)?;
    check_body_length(file, &bytes, LABELS_HEADER_BYTES, count, 1)?;

    let mut labels = bytes;
    labels.drain(..LABELS_HEADER_BYTES);
    if let Some(index) = labels
        .iter()
        .position(|&label| usize::from(label) >= NUM_CLASSES)
    {
        return Err(DataError::LabelOutOfRange {
            file: file.to_string(),
            index,
            label: labels[index],
        });
    }
    Ok(labels)
}

/// Checks emptiness, HTML content, header length and magic number, and returns the item
/// count from the header.
fn check_header(file: &str, bytes: &[u8], kind: IdxKind) -> Result<u32, DataError> {
    if bytes.is_empty() {
        return Err(DataError::Empty {
            file: file.to_string(),
        });
    }
    if looks_like_html(bytes) {
        return Err(DataError::HtmlPage {
            file: file.to_string(),
        });
    }
    let header_bytes = kind.header_bytes();
    if bytes.len() < header_bytes {
        return Err(DataError::TruncatedHeader {
            file: file.to_string(),
            found: bytes.len(),
            expected: header_bytes,
        });
    }
    let magic = read_u32(bytes, 0);
    if magic != kind.magic() {
        return Err(DataError::WrongMagic {
            file: file.to_string(),
            found: magic,
            expected: kind.magic(),
            kind: kind.description(),
        });
    }
    Ok(read_u32(bytes, 4))
}

fn check_body_length(
    file: &str,
    bytes: &[u8],
    header_bytes: usize,
    count: u32,
    item_bytes: usize,
) -> Result<(), DataError> {
    let found = bytes.len() - header_bytes;
    // A u32 count times 784 fits in u64 but may not fit in a 32-bit usize.
    let expected = u64::from(count) * item_bytes as u64;
    if found as u64 != expected {
        return Err(DataError::BodyLength {
            file: file.to_string(),
            found,
            expected: usize::try_from(expected).unwrap_or(usize::MAX),
            count,
            item_bytes,
        });
    }
    Ok(())
}

/// Reads the big-endian `u32` at `offset`. The caller has checked the length.
fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_be_bytes(word)
}

/// Encodes 28 × 28 images as an IDX image file.
///
/// # Panics
///
/// Panics if `pixels.len()` is not a multiple of [`IMAGE_PIXELS`] or the image count
/// exceeds `u32::MAX`.
pub fn encode_images(pixels: &[u8]) -> Vec<u8> {
    assert!(
        pixels.len() % IMAGE_PIXELS == 0,
        "encode_images: {} bytes is not a whole number of 784-byte images",
        pixels.len()
    );
    let count = u32::try_from(pixels.len() / IMAGE_PIXELS)
        .expect("encode_images: more than u32::MAX images");
    let side = IMAGE_SIDE as u32;

    let mut bytes = Vec::with_capacity(IMAGES_HEADER_BYTES + pixels.len());
    for word in [IMAGES_MAGIC, count, side, side] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

/// Encodes labels as an IDX label file.
///
/// # Panics
///
/// Panics if there are more than `u32::MAX` labels.
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let count = u32::try_from(labels.len()).expect("encode_labels: more than u32::MAX labels");

    let mut bytes = Vec::with_capacity(LABELS_HEADER_BYTES + labels.len());
    for word in [LABELS_MAGIC, count] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(labels);
    bytes
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    /// Returns `count` images whose pixel values encode their index and position.
    fn pixels(count: usize) -> Vec<u8> {
        (0..count * IMAGE_PIXELS).map(|i| (i % 251) as u8).collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn images_header(magic: u32, count: u32, rows: u32, cols: u32) -> Vec<u8> {
        [magic, count, rows, cols]
            .iter()
            .flat_map(|word| word.to_be_bytes())
            .collect()
    }

    #[test]
    fn parse_images_reads_hand_made_file() {
        let mut bytes = images_header(0x0000_0803, 2, 28, 28);
        bytes.extend_from_slice(&pixels(2));
        let parsed = parse_images("f", bytes).unwrap();
        assert_eq!(parsed, pixels(2));
    }

    #[test]
    fn parse_labels_reads_hand_made_file() {
        let bytes = vec![0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9];
        assert_eq!(parse_labels("f", bytes).unwrap(), vec![7, 0, 9]);
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let images = pixels(3);
        let labels = vec![1, 2, 3];
        assert_eq!(parse_images("f", encode_images(&images)).unwrap(), images);
        assert_eq!(parse_labels("f", encode_labels(&labels)).unwrap(), labels);
    }

    #[test]
    fn encode_images_writes_big_endian_header() {
        let bytes = encode_images(&pixels(1));
        assert_eq!(
            &bytes[..16],
            &[0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28]
        );
    }

    #[test]
    fn parse_accepts_zero_items() {
        assert!(parse_labels("f", encode_labels(&[])).unwrap().is_empty());
        assert!(parse_images("f", encode_images(&[])).unwrap().is_empty());
    }

    #[test]
    fn parse_rejects_empty_file() {
        let error = parse_labels("f", Vec::new()).unwrap_err();
        assert!(matches!(error, DataError::Empty { .. }), "{error}");
        let error = decompress_if_gzip("f", Vec::new()).unwrap_err();
        assert!(matches!(error, DataError::Empty { .. }), "{error}");
    }

    #[test]
    fn parse_rejects_truncated_header() {
        let error = parse_images("f", images_header(0x803, 1, 28, 28)[..10].to_vec()).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::TruncatedHeader {
                    found: 10,
                    expected: 16,
                    ..
                }
            ),
            "{error}"
        );
        let error = parse_labels("f", vec![0, 0, 8, 1, 0]).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::TruncatedHeader {
                    found: 5,
                    expected: 8,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn parse_rejects_wrong_magic() {
        // A label file given to the image parser, and the reverse.
        let error = parse_images("images", encode_labels(&[1; 20])).unwrap_err();
        assert!(
            matches!(error, DataError::WrongMagic { found: 0x801, .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with("images: wrong magic number 0x00000801"),
            "{message}"
        );

        let error = parse_labels("labels", encode_images(&pixels(1))).unwrap_err();
        assert!(
            matches!(error, DataError::WrongMagic { found: 0x803, .. }),
            "{error}"
        );
    }

    #[test]
    fn parse_rejects_wrong_image_size() {
        let mut bytes = images_header(0x803, 1, 32, 32);
        bytes.extend_from_slice(&[0; 32 * 32]);
        let error = parse_images("f", bytes).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::WrongImageSize {
                    rows: 32,
                    cols: 32,
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn parse_rejects_truncated_body() {
        let mut bytes = encode_images(&pixels(2));
        bytes.pop();
        let message = parse_images("f", bytes).unwrap_err().to_string();
        assert!(message.contains("body is 1567 bytes"), "{message}");
        assert!(message.contains("truncated"), "{message}");

        let message = parse_labels("f", vec![0, 0, 8, 1, 0, 0, 0, 3, 1])
            .unwrap_err()
            .to_string();
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn parse_rejects_trailing_bytes() {
        let mut bytes = encode_labels(&[1, 2]);
        bytes.push(0);
        let error = parse_labels("f", bytes).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::BodyLength {
                    found: 3,
                    expected: 2,
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("trailing bytes"), "{error}");
    }

    #[test]
    fn parse_rejects_label_ten() {
        let error = parse_labels("labels", encode_labels(&[3, 9, 10, 2])).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::LabelOutOfRange {
                    index: 2,
                    label: 10,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().starts_with("labels: label 10 at index 2"),
            "{error}"
        );
    }

    #[test]
    fn parse_rejects_html_page() {
        let page = b"\n<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n";
        let error = parse_images("train-images-idx3-ubyte", page.to_vec()).unwrap_err();
        assert!(matches!(error, DataError::HtmlPage { .. }), "{error}");
        assert!(error.to_string().contains("HTML page"), "{error}");
    }

    #[test]
    fn looks_like_html_ignores_idx_and_text() {
        assert!(looks_like_html(b"\xef\xbb\xbf <HTML lang=\"en\">"));
        assert!(!looks_like_html(&encode_labels(&[1, 2, 3])));
        assert!(!looks_like_html(b"<not a page>"));
        assert!(!looks_like_html(b"   "));
    }

    #[test]
    fn decompress_detects_gzip_by_magic() {
        let raw = encode_labels(&[4, 5]);
        assert_eq!(decompress_if_gzip("f", gzip(&raw)).unwrap(), raw);
        assert_eq!(decompress_if_gzip("f", raw.clone()).unwrap(), raw);
    }

    #[test]
    fn decompress_rejects_cut_gzip() {
        let compressed = gzip(&encode_images(&pixels(4)));
        let cut = compressed[..compressed.len() / 2].to_vec();
        let error = decompress_if_gzip("t.gz", cut).unwrap_err();
        assert!(matches!(error, DataError::Gzip { .. }), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("t.gz: gzip stream is cut short"),
            "{error}"
        );
    }

    #[test]
    fn decompress_rejects_gzip_without_trailer() {
        // The 8-byte trailer (CRC-32 and size, RFC 1952 section 2.3.1) is missing.
        let compressed = gzip(&encode_labels(&[1, 2, 3]));
        let cut = compressed[..compressed.len() - 8].to_vec();
        let error = decompress_if_gzip("t.gz", cut).unwrap_err();
        assert!(matches!(error, DataError::Gzip { .. }), "{error}");
    }

    #[test]
    fn parse_split_rejects_count_mismatch() {
        let error =
            parse_split("i", encode_images(&pixels(3)), "l", encode_labels(&[1, 2])).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::CountMismatch {
                    images: 3,
                    labels: 2,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("i has 3 images but l has 2 labels"),
            "{error}"
        );
    }

    #[test]
    fn parse_split_builds_split() {
        let split =
            parse_split("i", encode_images(&pixels(2)), "l", encode_labels(&[4, 8])).unwrap();
        assert_eq!(split.len(), 2);
        assert_eq!(split.label(0), 4);
        assert_eq!(split.image(0), &pixels(1)[..]);
    }

    #[test]
    fn split_accessors_return_items() {
        let split = MnistSplit {
            images: pixels(2),
            labels: vec![5, 6],
        };
        assert_eq!(split.len(), 2);
        assert!(!split.is_empty());
        assert_eq!(split.image(1), &pixels(2)[IMAGE_PIXELS..]);
        assert_eq!(split.label(1), 6);
    }

    #[test]
    fn split_file_names_are_canonical() {
        for split in Split::ALL {
            assert!(checksum::canonical(split.images_file()).is_ok());
            assert!(checksum::canonical(split.labels_file()).is_ok());
            assert_eq!(IdxKind::of_file_name(split.images_file()), IdxKind::Images);
            assert_eq!(IdxKind::of_file_name(split.labels_file()), IdxKind::Labels);
        }
    }

    #[test]
    fn load_split_reports_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let error = load_split(dir.path(), Split::Test).unwrap_err();
        assert!(matches!(error, DataError::NotFound { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("t10k-images-idx3-ubyte.gz"), "{message}");
        assert!(message.contains("make data"), "{message}");
    }

    #[test]
    fn load_split_rejects_unverified_valid_idx() {
        // Structurally valid files that are not MNIST: the checksum must reject them.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            encode_images(&pixels(2)),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte.gz"),
            gzip(&encode_labels(&[1, 2])),
        )
        .unwrap();
        let error = load_split(dir.path(), Split::Test).unwrap_err();
        assert!(
            matches!(error, DataError::ChecksumMismatch { .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("t10k-images-idx3-ubyte: checksum mismatch"),
            "{error}"
        );
    }

    #[test]
    fn load_split_names_structural_fault() {
        // A mismatching file that is also broken reports the break, not only the mismatch.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("train-images-idx3-ubyte"),
            b"<html><body>Sign in</body>",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            encode_labels(&[1]),
        )
        .unwrap();
        let error = load_split(dir.path(), Split::Train).unwrap_err();
        assert!(matches!(error, DataError::HtmlPage { .. }), "{error}");

        std::fs::write(dir.path().join("train-images-idx3-ubyte"), []).unwrap();
        let error = load_split(dir.path(), Split::Train).unwrap_err();
        assert!(matches!(error, DataError::Empty { .. }), "{error}");
    }

    #[test]
    fn load_split_prefers_raw_over_gz() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), b"x").unwrap();
        assert_eq!(
            find_file(dir.path(), "t10k-labels-idx1-ubyte"),
            Some(dir.path().join("t10k-labels-idx1-ubyte.gz"))
        );
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte"), b"x").unwrap();
        assert_eq!(
            find_file(dir.path(), "t10k-labels-idx1-ubyte"),
            Some(dir.path().join("t10k-labels-idx1-ubyte"))
        );
    }
}
