//! Benchmarks of training and inference speed, run by `mnist-bench` (`make bench`).
//!
//! Every number is a median over repetitions on real MNIST images, with wall-clock and
//! process CPU time, so that a run on a shared machine still shows how much work a step
//! took. The printed table and `bench.json` come from [`report`].

pub mod layers;
pub mod machine;
pub mod report;
mod run;

use std::path::PathBuf;

use mnist_model::ModelKind;
use serde::Serialize;

use crate::{BackendKind, TrainError};

pub use machine::MachineInfo;
pub use run::run_benchmarks;

/// Seed of weight initialisation, dropout and the order of the training images.
pub const BENCH_SEED: u64 = 42;

/// Models, backends, repetitions and sizes of a benchmark run.
#[derive(Clone, Debug, Serialize)]
pub struct BenchSettings {
    pub models: Vec<ModelKind>,
    pub backends: Vec<BackendKind>,
    /// Timed repetitions of each training and inference measurement.
    pub repetitions: usize,
    /// Untimed training steps before the first repetition, so that allocations, thread
    /// pools and autotuning are settled.
    pub warmup_steps: usize,
    /// Images per training step.
    pub train_batch_size: usize,
    /// Training steps per repetition; `None` takes [`default_train_steps`].
    pub train_steps: Option<usize>,
    /// Divides the default training steps, for a quicker run; 1 keeps them.
    pub train_steps_divisor: usize,
    /// Images per forward pass when measuring inference throughput.
    pub infer_batch_size: usize,
    /// Timed single-image forward passes.
    pub latency_iterations: usize,
    /// Timed passes of each CNN layer alone; 0 skips the layer profile.
    pub layer_iterations: usize,
    /// Timed `mnist-infer` processes per model.
    pub process_runs: usize,
    /// The `mnist-infer` binary to time; `None` skips the process latency.
    pub infer_binary: Option<PathBuf>,
    /// Folder with the four verified MNIST files.
    pub data_dir: PathBuf,
    /// Folder for `bench.json`, the sample image and the models `mnist-infer` loads.
    pub out_dir: PathBuf,
}

/// Returns the training steps of one repetition, sized so that a repetition takes about a
/// second or more on two cores. An MLP step takes under 1 ms on flex and ndarray, and a CNN
/// step about 100 ms on flex and over a second on ndarray.
pub fn default_train_steps(model: ModelKind, backend: BackendKind) -> usize {
    match (model, backend) {
        (ModelKind::Mlp, BackendKind::Flex | BackendKind::Ndarray) => 1000,
        (ModelKind::Mlp, BackendKind::Wgpu) => 50,
        (ModelKind::Cnn, BackendKind::Flex) => 20,
        (ModelKind::Cnn, BackendKind::Ndarray | BackendKind::Wgpu) => 3,
    }
}

/// Failure of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Train(#[from] TrainError),

    #[error(transparent)]
    Data(#[from] mnist_data::DataError),

    #[error("{binary}: {reason}; build it with `make build` or pass --infer-binary")]
    InferProcess { binary: PathBuf, reason: String },

    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
