//! The two MNIST classifiers as Burn modules, their configuration, and the batch they
//! consume.
//!
//! Both take images of `[batch, 1, 28, 28]` already scaled and normalised by
//! [`normalize_pixel`], and return `[batch, 10]` logits. Reading data and files is left
//! to the `mnist-data`, `mnist-train` and `mnist-infer` crates.

mod classifier;
mod cnn;
#[cfg(test)]
mod compare;
mod conv;
mod flex;
mod mlp;
mod norm;
mod pool;
pub mod process;
mod step;

pub use classifier::{Classifier, ModelConfig, ModelKind};
pub use cnn::{Cnn, CnnConfig, batch_norm, input_convolution};
pub use conv::same_convolution;
pub use mlp::{Mlp, MlpConfig};
pub use norm::{Normalized, batch_norm_flex};
pub use pool::max_pool;
pub use step::MnistBatch;

/// Side of an MNIST image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Digit classes, 0 to 9.
pub const NUM_CLASSES: usize = 10;
/// Mean pixel value of the MNIST training set after scaling to [0, 1].
///
/// The value that PyTorch's and Keras' MNIST examples use as well, so that results
/// compare across frameworks.
pub const MNIST_MEAN: f32 = 0.1307;
/// Standard deviation of the MNIST training pixels after scaling to [0, 1].
pub const MNIST_STD: f32 = 0.3081;

/// Name of the trained record inside a run's folder (Burn's burnpack format), shared by
/// `mnist-train`, which writes it, and `mnist-infer`, which reads it.
pub const RECORD_FILE: &str = "model.bpk";
/// Name of the training configuration beside the record; its `model` field is a
/// [`ModelConfig`].
pub const CONFIG_FILE: &str = "config.json";

/// Normalises one pixel given in [0, 1] the way the models were trained.
pub fn normalize_pixel(value: f32) -> f32 {
    (value - MNIST_MEAN) / MNIST_STD
}
