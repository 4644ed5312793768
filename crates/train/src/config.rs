//! The full configuration of a run, saved beside the trained record so that inference and
//! later evaluations rebuild exactly the model that was trained.

use burn::config::Config;
use mnist_model::{ModelConfig, ModelKind};

use crate::BackendKind;

/// Everything that determines a training run's result.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    pub model: ModelConfig,
    pub backend: BackendKind,
    pub epochs: usize,
    #[config(default = 64)]
    pub batch_size: usize,
    /// Peak learning rate of Adam; a cosine schedule lowers it to zero over the run.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = 42)]
    pub seed: u64,
    /// Share of the training set held out for validation, in (0, 1).
    #[config(default = 0.1)]
    pub valid_fraction: f64,
    /// Number of training-set images to use, before the validation split; all when unset.
    #[config(default = "None")]
    pub limit: Option<usize>,
    /// Data-loading threads. One keeps runs reproducible; Burn's multi-threaded loader
    /// does not deliver batches in a fixed order.
    #[config(default = 1)]
    pub workers: usize,
}

/// Returns the default number of epochs for a model.
///
/// Measured on MNIST with the other defaults: the MLP passes 98 % test accuracy after
/// about 15 epochs, the CNN 99.2 % after about 3.
pub fn default_epochs(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Mlp => 20,
        ModelKind::Cnn => 5,
    }
}
