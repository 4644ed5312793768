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
}

/// Returns the default number of epochs for a model.
///
/// With the other defaults and seed 42 on flex, the MLP reached 98.15 % test accuracy
/// after 20 epochs (16 s on two cores) and the CNN 99.32 % after 5 (323 s).
pub fn default_epochs(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Mlp => 20,
        ModelKind::Cnn => 5,
    }
}
