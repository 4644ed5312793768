//! Training of the MNIST classifiers with Burn's learner: backend choice, the run's
//! configuration, progress display, test-set evaluation and the artifacts a run leaves,
//! and `mnist-eval`'s report and pictures of a saved run.
//!
//! Data comes verified from `mnist-data`; the networks come from `mnist-model`. A saved
//! run is loaded back through `mnist-infer`.

pub mod artifacts;
pub mod backend;
pub mod bench;
pub mod config;
pub mod epoch_log;
pub mod error;
pub mod eval;
pub mod evaluate;
pub mod finish;
pub mod guard;
pub mod plot;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod resume;
pub mod run;

pub use backend::BackendKind;
pub use config::TrainingConfig;
pub use error::TrainError;
pub use run::{RunPaths, RunSummary, train};
