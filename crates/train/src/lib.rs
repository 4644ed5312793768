//! Training of the MNIST classifiers with Burn's learner: backend choice, the run's
//! configuration, progress display, test-set evaluation and the artifacts a run leaves,
//! and `mnist-eval`'s report and pictures of a saved run.
//!
//! Data comes verified from `mnist-data`; the networks come from `mnist-model`. A saved
//! run is loaded back through `mnist-infer`.

/// Prints a line on standard output and ignores a failed write: a reader that went away
/// (`mnist-train | head`) must not stop a training run or turn its end into a panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Prints a line on standard error and ignores a failed write, like [`outln!`].
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod artifacts;
pub mod backend;
pub mod bench;
pub mod cli;
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
