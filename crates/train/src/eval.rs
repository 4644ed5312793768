//! Evaluation of a saved run, as `mnist-eval` does it: load the record, evaluate it on the
//! test set with the code that gave the run its test accuracy, and write `eval.json` and
//! the pictures into the run's folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mnist_data::{MnistSplit, Split, load_split};
use mnist_infer::{InferError, load_model};

use crate::artifacts::{self, CONFIG_FILE};
use crate::epoch_log::{EpochLogError, EpochMetrics, METRICS_FILE, read_epoch_log};
use crate::error::EvalError;
use crate::evaluate::evaluate_with_progress;
use crate::plot::{self, CONFUSION_FILE, CURVES_FILE, MISTAKES_FILE};
use crate::report::{EVAL_FILE, EvalReport};
use crate::{BackendKind, TrainError};

/// Inputs and outputs of an evaluation.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Folder of the run: `<artifact-dir>/<model>/`.
    pub run_dir: PathBuf,
    /// Folder with the four verified MNIST files.
    pub data_dir: PathBuf,
    /// Backend to evaluate on; the one the run was trained on when unset.
    pub backend: Option<BackendKind>,
    /// Most confident mistakes to list and draw.
    pub mistakes: usize,
    /// Whether to draw the PNG pictures.
    pub plots: bool,
}

/// The report of an evaluation and the files written.
pub struct EvalOutcome {
    pub report: EvalReport,
    pub written: Vec<PathBuf>,
    /// Problems that left a picture out without failing the evaluation.
    pub warnings: Vec<String>,
}

/// Evaluates the run in `options.run_dir` and writes its report and pictures.
///
/// `progress` is called with the images done and the total after each batch. Inputs are
/// checked before the evaluation starts: the font, `metrics.csv`, the data and the record.
pub fn evaluate_run(
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalOutcome, EvalError> {
    // A run folder that is missing, or under an artifact path that is a file, has no
    // model, which is reported before the metrics or the test set are read.
    if !options.run_dir.is_dir() {
        return Err(EvalError::Model(InferError::ModelMissing {
            path: options.run_dir.join(CONFIG_FILE),
        }));
    }
    let mut warnings = Vec::new();
    let epochs = if options.plots {
        plot::load_font()?;
        read_epochs(&options.run_dir, &mut warnings)?
    } else {
        None
    };

    let test_split =
        Arc::new(load_split(&options.data_dir, Split::Test).map_err(TrainError::from)?);
    let backend = options
        .backend
        .or_else(|| recorded_backend(&options.run_dir))
        .unwrap_or(BackendKind::Flex);
    let device = backend.open()?.device;
    let loaded = load_model(&options.run_dir, &device)?;

    let total = test_split.len();
    let evaluation = evaluate_with_progress(
        &loaded.model,
        &test_split,
        &device,
        backend.eval_batch_size(),
        &mut |done| progress(done, total),
    )?;
    let report = EvalReport::new(
        loaded.config.kind.name(),
        backend.name(),
        options.run_dir.clone(),
        &evaluation,
        &test_split,
        options.mistakes,
    );

    let mut written = Vec::new();
    let eval_path = options.run_dir.join(EVAL_FILE);
    artifacts::write_json(&eval_path, &report)?;
    written.push(eval_path);
    if options.plots {
        written.extend(write_pictures(
            &options.run_dir,
            &report,
            &test_split,
            epochs.as_deref(),
        )?);
    }
    Ok(EvalOutcome {
        report,
        written,
        warnings,
    })
}

/// Reads the run's epoch rows for the curves. A missing file becomes a warning, because
/// runs trained before the file existed are still worth evaluating.
fn read_epochs(
    run_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<Vec<EpochMetrics>>, EvalError> {
    match read_epoch_log(&run_dir.join(METRICS_FILE)) {
        Ok(rows) if rows.is_empty() => {
            warnings.push(format!(
                "{}: no finished epoch is recorded, so {CURVES_FILE} is not drawn",
                run_dir.join(METRICS_FILE).display()
            ));
            Ok(None)
        }
        Ok(rows) => Ok(Some(rows)),
        Err(error @ EpochLogError::Missing { .. }) => {
            warnings.push(format!("{error}; {CURVES_FILE} is not drawn"));
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

fn write_pictures(
    run_dir: &Path,
    report: &EvalReport,
    split: &MnistSplit,
    epochs: Option<&[EpochMetrics]>,
) -> Result<Vec<PathBuf>, EvalError> {
    let mut pictures = vec![
        (CONFUSION_FILE, plot::draw_confusion(report)?),
        (MISTAKES_FILE, plot::draw_mistakes(report, split)?),
    ];
    if let Some(rows) = epochs {
        pictures.push((CURVES_FILE, plot::draw_curves(rows, &report.model)?));
    }
    let mut written = Vec::new();
    for (name, bytes) in pictures {
        let path = run_dir.join(name);
        artifacts::write_atomically(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Returns the backend recorded in the run's `config.json`, if it can be read.
///
/// Errors in the file are left to [`load_model`], which reads it strictly and names what
/// is wrong with it. Only the backend is read here, and an unknown one gets a warning,
/// because evaluation then falls back to flex.
fn recorded_backend(run_dir: &Path) -> Option<BackendKind> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let recorded = config.get("backend")?;
    let backend = serde_json::from_value(recorded.clone()).ok();
    if backend.is_none() {
        eprintln!(
            "warning: {}: unknown backend {recorded}; evaluating on flex. Pass --backend to \
             choose another",
            path.display()
        );
    }
    backend
}
