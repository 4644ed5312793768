//! Evaluation of a trained classifier on a whole split, batch by batch.

use std::sync::Arc;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::Device;
use burn::tensor::activation::softmax;
use mnist_data::MnistSplit;
use mnist_data::dataset::MnistBatcher;
use mnist_model::{Classifier, NUM_CLASSES};

use crate::TrainError;

/// Results of evaluating a classifier on every image of a split.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub images: usize,
    pub correct: usize,
    /// Mean cross-entropy loss over all images.
    pub mean_loss: f64,
    /// Predicted digit of each image, in split order.
    pub predictions: Vec<u8>,
    /// Softmax probabilities of each image, in split order.
    pub probabilities: Vec<[f32; NUM_CLASSES]>,
}

impl Evaluation {
    /// Returns the fraction of images classified correctly, in [0, 1].
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.images.max(1) as f64
    }
}

/// Evaluates `model` in inference mode on every image of `split`, `batch_size` at a time.
pub fn evaluate(
    model: &Classifier,
    split: &Arc<MnistSplit>,
    device: &Device,
    batch_size: usize,
) -> Result<Evaluation, TrainError> {
    evaluate_with_progress(model, split, device, batch_size, &mut |_| {})
}

/// Evaluates like [`evaluate`], calling `progress` with the number of images done after
/// each batch.
pub fn evaluate_with_progress(
    model: &Classifier,
    split: &Arc<MnistSplit>,
    device: &Device,
    batch_size: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Evaluation, TrainError> {
    let model = model.valid();
    let batcher = MnistBatcher::new(split.clone());
    let loss_function = CrossEntropyLossConfig::new().init(device);
    let indices: Vec<usize> = (0..split.len()).collect();

    let mut predictions = Vec::with_capacity(split.len());
    let mut probabilities = Vec::with_capacity(split.len());
    let mut loss_sum = 0.0;
    for chunk in indices.chunks(batch_size.max(1)) {
        let batch = batcher.batch_indices(chunk, device);
        let logits = model.forward(batch.images); // [chunk, 10]
        let loss = loss_function.forward(logits.clone(), batch.targets);
        let loss = loss.into_scalar::<f64>();
        loss_sum += loss * chunk.len() as f64;

        let predicted = logits.clone().argmax(1).flatten::<1>(0, 1).into_data(); // [chunk]
        let predicted = predicted
            .try_into_vec_as::<i64>()
            .map_err(|error| TrainError::Training(format!("reading predictions: {error:?}")))?;
        predictions.extend(predicted.into_iter().map(|digit| digit as u8));

        let batch_probabilities = softmax(logits, 1).into_data(); // [chunk, 10]
        let batch_probabilities = batch_probabilities
            .try_into_vec_as::<f32>()
            .map_err(|error| TrainError::Training(format!("reading probabilities: {error:?}")))?;
        probabilities.extend(batch_probabilities.chunks_exact(NUM_CLASSES).map(|row| {
            let mut image = [0.0; NUM_CLASSES];
            image.copy_from_slice(row);
            image
        }));
        progress(predictions.len());
    }

    let correct = predictions
        .iter()
        .enumerate()
        .filter(|&(index, &digit)| split.label(index) == digit)
        .count();
    Ok(Evaluation {
        images: split.len(),
        correct,
        mean_loss: loss_sum / split.len().max(1) as f64,
        predictions,
        probabilities,
    })
}
