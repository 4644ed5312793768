//! The end of a `mnist-train` run after its record is saved: the curves are drawn, the
//! evaluation files of the previous record removed, and the run summarised in a few lines.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mnist_infer::command::{artifact_dir_setting, shell_quoted};

use crate::artifacts;
use crate::epoch_log::{METRICS_FILE, best_epoch, read_epoch_log};
use crate::plot::{self, CONFUSION_FILE, CURVES_FILE, MISTAKES_FILE};
use crate::report::EVAL_FILE;
use crate::run::RunSummary;

/// Test accuracy below which a run is reported as not having learned. Guessing one of the
/// ten digits scores about 0.1, and one MLP epoch over `--limit 1000` scored 0.57.
const NEAR_CHANCE: f64 = 0.2;

/// Returns a warning when the run's test accuracy is close to chance, for standard error
/// after the summary that states the accuracy.
pub fn chance_warning(summary: &RunSummary) -> Option<String> {
    (summary.test_accuracy < NEAR_CHANCE).then(|| {
        format!(
            "warning: test accuracy {:.2} % is close to chance (10 %), so the model did not \
             learn; {} now contains it. Train again with a lower --learning-rate (LR=), more \
             images and epochs, or a larger network",
            100.0 * summary.test_accuracy,
            summary.artifact_dir.join(artifacts::RECORD_FILE).display()
        )
    })
}

/// Finishes a saved run and returns its summary for standard output. `data_dir` is the
/// MNIST folder the run read, named in the evaluation command it suggests.
///
/// Failures here do not undo the run: each one is printed on standard error as a warning
/// and leaves its file out.
pub fn finish_run(summary: &RunSummary, data_dir: &Path) -> String {
    let run_dir = &summary.artifact_dir;
    remove_stale_evaluation(run_dir);
    let rows = match read_epoch_log(&run_dir.join(METRICS_FILE)) {
        Ok(rows) => rows,
        Err(error) => {
            crate::errln!("warning: {error}");
            Vec::new()
        }
    };
    if !rows.is_empty() {
        let written = plot::draw_curves(&rows, &summary.model)
            .map_err(|error| error.to_string())
            .and_then(|bytes| {
                artifacts::write_atomically(&run_dir.join(CURVES_FILE), &bytes)
                    .map_err(|error| error.to_string())
            });
        if let Err(error) = written {
            crate::errln!("warning: {CURVES_FILE} not drawn: {error}");
        }
    }

    let mut text = String::new();
    // Writing to a String cannot fail, so the results of writeln! are ignored.
    let _ = writeln!(
        text,
        "test accuracy {:.2} % on {} images, test loss {:.4}",
        100.0 * summary.test_accuracy,
        summary.test_images,
        summary.test_loss
    );
    if let Some(best) = best_epoch(&rows) {
        let _ = writeln!(
            text,
            "best epoch {} of {} by validation accuracy: {:.2} %, validation loss {:.4}",
            best.epoch,
            summary.epochs,
            100.0 * best.valid_accuracy,
            best.valid_loss
        );
    }
    if summary.train_images_per_second > 0.0 {
        let _ = writeln!(
            text,
            "trained in {:.1} s ({:.0} images/s); artifacts in {}",
            summary.train_seconds,
            summary.train_images_per_second,
            run_dir.display()
        );
    } else {
        // A run resumed from the checkpoint of its last epoch only evaluates and saves.
        let _ = writeln!(
            text,
            "no epoch was left to train, so the checkpoint of the last one was evaluated and \
             saved; artifacts in {}",
            run_dir.display()
        );
    }
    let artifact_dir = run_dir.parent().unwrap_or(Path::new("."));
    let make_dir = artifact_dir_setting(artifact_dir);
    // The direct command uses absolute paths, so that it works from any folder.
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let _ = writeln!(
        text,
        "per-class scores, confusion matrix and mistakes: make eval MODEL={}{make_dir}, or {} \
         --model {} --artifact-dir {} --data-dir {}",
        summary.model,
        shell_quoted(&eval_command()),
        summary.model,
        shell_quoted(&absolute(artifact_dir)),
        shell_quoted(&absolute(data_dir))
    );
    text
}

/// Returns the path of the `mnist-eval` beside the running binary, which is not on `PATH`
/// after a build, or its bare name where there is none.
fn eval_command() -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("mnist-eval"))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("mnist-eval"))
}

/// Removes the evaluation files that described the record this run replaced.
fn remove_stale_evaluation(run_dir: &Path) {
    for name in [EVAL_FILE, CONFUSION_FILE, MISTAKES_FILE] {
        let path = run_dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => crate::errln!(
                "warning: {}: cannot remove the evaluation of the previous model: {error}",
                path.display()
            ),
        }
    }
}
