//! MNIST for the workspace: fetching the four canonical files, verifying them against
//! their published checksums, reading IDX, and turning images into Burn batches.
//!
//! Nothing here trains or predicts; `mnist-train` and `mnist-infer` do that.

pub mod augment;
pub mod checksum;
pub mod dataset;
pub mod error;
pub mod fetch;
pub mod idx;
pub mod loader;
pub mod samples;

pub use error::DataError;
pub use idx::{MnistSplit, Split, load_split};

/// Side of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one MNIST image (28 × 28).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Digit classes, 0 to 9.
pub const NUM_CLASSES: usize = 10;
