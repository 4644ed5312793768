//! `mnist-infer`: classifies digit images with a model trained by `mnist-train`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use burn::tensor::Device;
use clap::Parser;
use mnist_infer::error::{EXIT_BAD_IMAGE, EXIT_NO_DIGIT, EXIT_WRITE};
use mnist_infer::model::run_dir;
use mnist_infer::{
    InferError, LoadedModel, Prediction, expand_inputs, load_model, prepare_input, save_prepared,
};
use serde_json::json;

/// Classify images of handwritten digits with a model trained by `mnist-train`.
///
/// Exit codes: 0 all inputs classified; 2 invalid arguments; 4 no usable trained model; 5 an
/// input could not be read as an image; 6 an input contains no digit; 8 a `--save-input`
/// image could not be written. With several inputs, every one is tried and the most
/// serious failure sets the code.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Image files (PNG, JPEG, BMP, WebP, GIF), folders of them, or `-` for standard input.
    #[arg(required = true)]
    images: Vec<String>,
    /// Trained model to use: `mlp` or `cnn`, read from `<artifact-dir>/<model>/`.
    #[arg(long, default_value = "mlp", value_parser = ["mlp", "cnn"])]
    model: String,
    /// Parent folder of the trained runs.
    #[arg(long, default_value = "artifacts")]
    artifact_dir: PathBuf,
    /// Print one JSON object per image instead of text.
    #[arg(long)]
    json: bool,
    /// Candidates to show per image, the prediction included (1 to 10).
    #[arg(long, default_value = "3", value_parser = clap::value_parser!(u8).range(1..=10))]
    top: u8,
    /// Write the 28×28 image the model saw for each input into this folder, as
    /// `<file name>.input.png`.
    #[arg(long, value_name = "DIR")]
    save_input: Option<PathBuf>,
}

fn main() -> ExitCode {
    mnist_model::process::reuse_freed_memory();
    mnist_model::process::quit_on_closed_pipe();
    let args = Args::parse();
    let device = Device::flex();
    let model = match load_model(&run_dir(&args.artifact_dir, &args.model), &device) {
        Ok(model) => model,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(error.exit_code() as u8);
        }
    };

    if let Some(dir) = args
        .save_input
        .as_deref()
        .filter(|dir| dir.exists() && !dir.is_dir())
    {
        let error = InferError::SaveInputNotFolder {
            dir: dir.to_path_buf(),
        };
        eprintln!("error: {error}");
        return ExitCode::from(error.exit_code() as u8);
    }
    let mut worst = 0;
    let mut saved = HashSet::new();
    for input in expand_inputs(&args.images) {
        let outcome = input.and_then(|name| {
            let save = args.save_input.as_deref().map(|dir| (dir, &mut saved));
            let prediction = classify(&model, &name, save)?;
            Ok((name, prediction))
        });
        match outcome {
            Ok((name, prediction)) => print_prediction(&name, &prediction, &args),
            Err(error) => {
                report_failure(&error, args.json);
                worst = worst.max(severity(error.exit_code()));
            }
        }
    }
    ExitCode::from(exit_code_of(worst) as u8)
}

/// Prepares and classifies one input, and saves what the model saw when `save` names a
/// folder, beside the paths saved before in this run.
fn classify(
    model: &LoadedModel,
    name: &str,
    save: Option<(&std::path::Path, &mut HashSet<PathBuf>)>,
) -> Result<Prediction, InferError> {
    let prepared = prepare_input(name)?;
    if let Some((dir, saved_paths)) = save {
        save_prepared(dir, name, &prepared, saved_paths)?;
    }
    let probabilities = model.predict(&[&prepared.pixels])?;
    Ok(Prediction::from_probabilities(probabilities[0]))
}

/// Orders failures so the run exits with the most serious one: a bad image outranks a
/// missing digit.
fn severity(code: i32) -> u8 {
    match code {
        EXIT_NO_DIGIT => 1,
        EXIT_BAD_IMAGE => 2,
        EXIT_WRITE => 3,
        _ => 4,
    }
}

fn exit_code_of(severity: u8) -> i32 {
    match severity {
        0 => 0,
        1 => EXIT_NO_DIGIT,
        2 => EXIT_BAD_IMAGE,
        3 => EXIT_WRITE,
        _ => mnist_infer::error::EXIT_FAILURE,
    }
}

fn print_prediction(name: &str, prediction: &Prediction, args: &Args) {
    let ranking = prediction.ranking();
    if args.json {
        let object = json!({
            "file": name,
            "digit": prediction.digit,
            "probabilities": prediction.probabilities,
            "uncertain": prediction.is_uncertain(),
        });
        println!("{object}");
        return;
    }
    let candidates: Vec<String> = ranking[1..usize::from(args.top)]
        .iter()
        .map(|&digit| format!("{digit} ({:.1} %)", 100.0 * prediction.probabilities[digit]))
        .collect();
    let mut line = format!(
        "{name}: {} ({:.1} %)",
        prediction.digit,
        100.0 * prediction.probabilities[prediction.digit]
    );
    if !candidates.is_empty() {
        line.push_str(&format!("; next {}", candidates.join(", ")));
    }
    if prediction.is_uncertain() {
        line.push_str("; low confidence, the image may not show a clear digit");
    }
    println!("{line}");
}

fn report_failure(error: &InferError, json: bool) {
    if json {
        let kind = if error.exit_code() == EXIT_NO_DIGIT {
            "no_digit"
        } else {
            "error"
        };
        println!(
            "{}",
            json!({ "file": error.input_name(), "digit": null, kind: error.to_string() })
        );
    }
    eprintln!("error: {error}");
}
