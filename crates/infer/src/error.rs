//! Errors of `mnist-infer` and the process exit codes they map to.

use std::path::PathBuf;

use crate::command::artifact_dir_setting;
use crate::prepare::PrepareError;

/// Exit code when at least one input is not a readable image.
pub const EXIT_BAD_IMAGE: i32 = 5;
/// Exit code when every input was read but at least one contains no digit.
pub const EXIT_NO_DIGIT: i32 = 6;
/// Exit code for a saved model or configuration that is missing or cannot be read.
pub const EXIT_MODEL: i32 = 4;
/// Exit code for an unexpected failure.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code when an output file, such as a `--save-input` image, cannot be written.
pub const EXIT_WRITE: i32 = 8;

/// Failure of inference, for the whole run or for one input.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(
        "{path}: no trained model here; run `{command}` first, or pass the folder of your \
         runs with --artifact-dir",
        command = train_command(path)
    )]
    ModelMissing { path: PathBuf },

    #[error(
        "{path}: cannot load the trained model: {reason}; train it again with `{command}`",
        command = train_command(path)
    )]
    ModelInvalid { path: PathBuf, reason: String },

    #[error("{file}: cannot read the file: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{file}: {source}")]
    Image {
        file: String,
        #[source]
        source: PrepareError,
    },

    #[error(
        "{path}: cannot write the prepared input: {source}; check that the folder is \
             writable"
    )]
    SaveInput {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{dir}: --save-input needs a folder, and this is a file; pass a folder, which is \
         created if missing"
    )]
    SaveInputNotFolder { dir: PathBuf },

    #[error("-: standard input is read once, for the first `-`; give `-` only once")]
    StdinTwice,

    #[error("{dir}: the folder contains no image files (png, jpg, jpeg, bmp, webp, gif)")]
    EmptyFolder { dir: String },

    #[error("prediction failed: {0}")]
    Prediction(String),
}

/// Returns the `make train` command that writes the run file at `path`. `mnist-train`
/// lays runs out in `<artifact-dir>/<model>/`, so the file's folder names the model and
/// the folder above it the artifact folder, given as `ARTIFACT_DIR` unless it is the
/// Makefile's default.
fn train_command(path: &std::path::Path) -> String {
    let run_dir = path.parent();
    let model = run_dir
        .and_then(|dir| dir.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mlp".to_string());
    let setting = run_dir
        .and_then(|dir| dir.parent())
        .map_or(String::new(), artifact_dir_setting);
    format!("make train MODEL={model}{setting}")
}

impl InferError {
    /// Returns the input this error is about, as named on the command line, if any.
    pub fn input_name(&self) -> Option<String> {
        match self {
            InferError::Read { file, .. } | InferError::Image { file, .. } => Some(file.clone()),
            InferError::EmptyFolder { dir } => Some(dir.clone()),
            InferError::StdinTwice => Some("-".to_string()),
            InferError::SaveInput { path, .. } => Some(path.display().to_string()),
            _ => None,
        }
    }

    /// Returns the documented process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            InferError::ModelMissing { .. } | InferError::ModelInvalid { .. } => EXIT_MODEL,
            InferError::Read { .. } | InferError::EmptyFolder { .. } | InferError::StdinTwice => {
                EXIT_BAD_IMAGE
            }
            InferError::SaveInput { .. } | InferError::SaveInputNotFolder { .. } => EXIT_WRITE,
            InferError::Image {
                source: PrepareError::NoDigit { .. },
                ..
            } => EXIT_NO_DIGIT,
            InferError::Image { .. } => EXIT_BAD_IMAGE,
            InferError::Prediction(_) => EXIT_FAILURE,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::train_command;

    #[test]
    fn train_command_names_custom_artifact_folder() {
        assert_eq!(
            train_command(Path::new("artifacts/cnn/model.bpk")),
            "make train MODEL=cnn"
        );
        assert_eq!(
            train_command(Path::new("/tmp/runs/mlp/model.bpk")),
            "make train MODEL=mlp ARTIFACT_DIR=/tmp/runs"
        );
        assert_eq!(
            train_command(Path::new("cnn/config.json")),
            "make train MODEL=cnn ARTIFACT_DIR=."
        );
        assert_eq!(
            train_command(Path::new("/tmp/sp ace/mlp/model.bpk")),
            "make train MODEL=mlp ARTIFACT_DIR='/tmp/sp ace'"
        );
    }
}
