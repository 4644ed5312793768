//! Classification of people's own digit images with a model that `mnist-train` saved.
//!
//! [`prepare`] turns an ordinary image into the 28×28 input MNIST models expect;
//! [`model`] rebuilds the trained classifier from its folder and predicts.

pub mod error;
pub mod model;
pub mod prepare;

use std::io::Read;
use std::path::Path;

pub use error::InferError;
pub use model::{LoadedModel, load_model};

use mnist_model::NUM_CLASSES;
use prepare::{MAX_INPUT_BYTES, PreparedImage};

/// Top probability under which a prediction is reported as uncertain.
pub const LOW_CONFIDENCE: f32 = 0.5;

/// The prediction for one input.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub digit: usize,
    pub probabilities: [f32; NUM_CLASSES],
}

impl Prediction {
    /// Creates a prediction from class probabilities.
    pub fn from_probabilities(probabilities: [f32; NUM_CLASSES]) -> Self {
        Self {
            digit: ranked(&probabilities)[0],
            probabilities,
        }
    }

    /// Returns the digits ordered from the most to the least probable.
    pub fn ranking(&self) -> [usize; NUM_CLASSES] {
        ranked(&self.probabilities)
    }

    /// Returns whether the top probability is under [`LOW_CONFIDENCE`].
    pub fn is_uncertain(&self) -> bool {
        self.probabilities[self.digit] < LOW_CONFIDENCE
    }
}

fn ranked(probabilities: &[f32; NUM_CLASSES]) -> [usize; NUM_CLASSES] {
    let mut order: [usize; NUM_CLASSES] = std::array::from_fn(|digit| digit);
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    order
}

/// Reads an input named on the command line: a file path, or `-` for standard input.
///
/// Files over [`MAX_INPUT_BYTES`] are rejected before they are read whole.
pub fn read_input(name: &str) -> Result<Vec<u8>, InferError> {
    let read_error = |source| InferError::Read {
        file: name.to_string(),
        source,
    };
    let mut bytes = Vec::new();
    if name == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    } else {
        let file = std::fs::File::open(Path::new(name)).map_err(read_error)?;
        file.take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InferError::Image {
            file: name.to_string(),
            source: prepare::PrepareError::FileTooLarge {
                bytes: bytes.len() as u64,
                limit: MAX_INPUT_BYTES,
            },
        });
    }
    Ok(bytes)
}

/// Reads, decodes and prepares one input.
pub fn prepare_input(name: &str) -> Result<PreparedImage, InferError> {
    let bytes = read_input(name)?;
    let image_error = |source| InferError::Image {
        file: name.to_string(),
        source,
    };
    let image = prepare::decode_image(&bytes).map_err(image_error)?;
    prepare::prepare(&image).map_err(image_error)
}
