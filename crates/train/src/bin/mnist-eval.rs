//! `mnist-eval`: evaluates a model saved by `mnist-train` on the MNIST test set and writes
//! the report and pictures into its run folder.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mnist_train::BackendKind;
use mnist_train::eval::{EvalOptions, evaluate_run};

/// Evaluate a model trained by `mnist-train` on the 10,000 MNIST test images.
///
/// Prints accuracy, loss, per-class precision, recall and F1, the confusion matrix and the
/// most confidently wrong images, and writes them to `eval.json` in the run folder with
/// `confusion.png`, `misclassified.png` and `curves.png`.
///
/// Exit codes: 0 success, 2 invalid arguments, 3 MNIST files missing or failing
/// verification, 4 no usable trained model or an invalid `metrics.csv`, 7 the backend
/// cannot start, 8 an output file cannot be written or no font for the pictures.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Trained model to evaluate: `mlp` or `cnn`, read from `<artifact-dir>/<model>/`.
    #[arg(long, default_value = "mlp", value_parser = ["mlp", "cnn"])]
    model: String,
    /// Parent folder of the trained runs.
    #[arg(long, default_value = "artifacts")]
    artifact_dir: PathBuf,
    /// Folder with the four verified MNIST files (`make data` fills it).
    #[arg(long, default_value = "datasets/mnist")]
    data_dir: PathBuf,
    /// Backend to evaluate on [default: the one the model was trained on].
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Most confidently wrong test images to list and draw (0 to 100).
    #[arg(long, default_value = "25", value_parser = clap::value_parser!(u8).range(0..=100))]
    mistakes: u8,
    /// Write `eval.json` only, without the PNG pictures.
    #[arg(long)]
    no_plots: bool,
}

fn main() -> ExitCode {
    mnist_model::process::reuse_freed_memory();
    mnist_model::process::quit_on_closed_pipe();
    let args = Args::parse();
    let options = EvalOptions {
        run_dir: args.artifact_dir.join(&args.model),
        data_dir: args.data_dir,
        backend: args.backend,
        mistakes: usize::from(args.mistakes),
        plots: !args.no_plots,
    };

    let terminal = std::io::stderr().is_terminal();
    let outcome = evaluate_run(&options, &mut |done, total| {
        if terminal {
            draw_progress(done, total);
        }
    });
    if terminal {
        // Erase the progress line, so the report starts on a clean line.
        eprint!("\r\x1b[2K");
    }

    match outcome {
        Ok(outcome) => {
            print!("{}", outcome.report.to_text());
            for warning in &outcome.warnings {
                eprintln!("warning: {warning}");
            }
            for path in &outcome.written {
                eprintln!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code() as u8)
        }
    }
}

/// Width of the progress bar in characters.
const BAR_WIDTH: usize = 40;

/// Redraws the progress bar in place on standard error, which must be a terminal.
///
/// NOTE: drawn by hand rather than with `indicatif`, because `indicatif` 0.18 turns on
/// default features of `portable-atomic`, which Burn and CubeCL depend on too, so adding
/// it recompiles all of Burn (63 minutes on the 2-core build machine).
fn draw_progress(done: usize, total: usize) {
    let filled = BAR_WIDTH * done / total.max(1);
    let bar = format!("{}{}", "=".repeat(filled), " ".repeat(BAR_WIDTH - filled));
    let mut stderr = std::io::stderr().lock();
    // A failed write only loses the bar, so the error is ignored.
    let _ = write!(stderr, "\revaluating [{bar}] {done}/{total} test images");
    let _ = stderr.flush();
}
