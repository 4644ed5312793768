//! Errors of a training run and of `mnist-eval`, and the process exit codes they map to.

use std::path::PathBuf;

use mnist_data::DataError;
use mnist_infer::InferError;

use crate::BackendKind;
use crate::epoch_log::EpochLogError;
use crate::plot::PlotError;

/// Exit code for an unexpected failure inside Burn or this program.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for invalid command-line arguments, as clap uses for the ones it checks.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for MNIST files that are missing or fail verification.
pub const EXIT_DATA: i32 = 3;
/// Exit code for a saved model or configuration that cannot be read.
pub const EXIT_MODEL: i32 = 4;
/// Exit code for a backend that cannot start, such as wgpu without an adapter.
pub const EXIT_BACKEND: i32 = 7;
/// Exit code for artifacts that cannot be written.
pub const EXIT_ARTIFACTS: i32 = 8;
/// Exit code for a run stopped because its loss became NaN or infinite.
pub const EXIT_DIVERGED: i32 = 9;
/// Exit code for a run that cannot be resumed, or a fresh run that would discard an
/// interrupted one.
pub const EXIT_RESUME: i32 = 10;
/// Exit code for a run stopped by the user before it finished.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Failure of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),

    #[error(
        "backend {backend} is unavailable: {reason}; use --backend flex (or BACKEND=flex) \
         to train on the CPU"
    )]
    BackendUnavailable {
        backend: BackendKind,
        reason: String,
    },

    #[error(
        "{path}: cannot write the artifact: {source}; check that the folder is writable \
             and the disk has space, or pass another --artifact-dir"
    )]
    Artifact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{dir}: cannot write a checkpoint: {reason}. Check that the folder is writable and \
         the disk has space, then continue with --resume (RESUME=1)"
    )]
    Checkpoint { dir: PathBuf, reason: String },

    #[error(
        "{path}: cannot save the model record: {reason}. The previous record, if any, is \
         unchanged; check that the folder is writable and the disk has space"
    )]
    Record { path: PathBuf, reason: String },

    #[error("training failed: {0}")]
    Training(String),

    #[error("invalid setting: {0}")]
    InvalidSetting(String),

    #[error("training stopped before it finished: {0}")]
    Interrupted(String),

    #[error("training diverged: {0}")]
    Diverged(String),

    #[error("{0}")]
    Resume(String),
}

impl TrainError {
    /// Returns the documented process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            TrainError::Data(error) => error.exit_code(),
            TrainError::BackendUnavailable { .. } => EXIT_BACKEND,
            TrainError::Artifact { .. }
            | TrainError::Checkpoint { .. }
            | TrainError::Record { .. } => EXIT_ARTIFACTS,
            TrainError::Training(_) => EXIT_FAILURE,
            TrainError::InvalidSetting(_) => EXIT_USAGE,
            TrainError::Interrupted(_) => EXIT_INTERRUPTED,
            TrainError::Diverged(_) => EXIT_DIVERGED,
            TrainError::Resume(_) => EXIT_RESUME,
        }
    }
}

/// Failure of `mnist-eval`.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Train(#[from] TrainError),

    #[error(transparent)]
    Model(#[from] InferError),

    #[error(transparent)]
    EpochLog(#[from] EpochLogError),

    #[error(transparent)]
    Plot(#[from] PlotError),
}

impl EvalError {
    /// Returns the documented process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            EvalError::Train(error) => error.exit_code(),
            EvalError::Model(error) => error.exit_code(),
            // The metrics file belongs to the trained run, like the record.
            EvalError::EpochLog(_) => EXIT_MODEL,
            EvalError::Plot(_) => EXIT_ARTIFACTS,
        }
    }
}
