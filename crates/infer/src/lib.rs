//! Classification of people's own digit images with a model that `mnist-train` saved.
//!
//! [`prepare`] turns an ordinary image into the 28×28 input MNIST models expect;
//! [`model`] rebuilds the trained classifier from its folder and predicts.

pub mod command;
pub mod error;
pub mod model;
pub mod prepare;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use error::InferError;
pub use model::{LoadedModel, load_model};

use mnist_model::NUM_CLASSES;
use prepare::{MAX_INPUT_BYTES, PreparedImage};

/// Top probability under which a prediction is reported as uncertain.
pub const LOW_CONFIDENCE: f32 = 0.5;

/// The prediction for one input.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub digit: usize,
    pub probabilities: [f32; NUM_CLASSES],
}

impl Prediction {
    /// Creates a prediction from class probabilities.
    pub fn from_probabilities(probabilities: [f32; NUM_CLASSES]) -> Self {
        Self {
            digit: ranked(&probabilities)[0],
            probabilities,
        }
    }

    /// Returns the digits ordered from the most to the least probable.
    pub fn ranking(&self) -> [usize; NUM_CLASSES] {
        ranked(&self.probabilities)
    }

    /// Returns whether the top probability is under [`LOW_CONFIDENCE`].
    pub fn is_uncertain(&self) -> bool {
        self.probabilities[self.digit] < LOW_CONFIDENCE
    }
}

fn ranked(probabilities: &[f32; NUM_CLASSES]) -> [usize; NUM_CLASSES] {
    let mut order: [usize; NUM_CLASSES] = std::array::from_fn(|digit| digit);
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    order
}

/// Reads an input named on the command line: a file path, or `-` for standard input.
///
/// Files over [`MAX_INPUT_BYTES`] are rejected before they are read whole.
pub fn read_input(name: &str) -> Result<Vec<u8>, InferError> {
    let read_error = |source| InferError::Read {
        file: name.to_string(),
        source,
    };
    let mut bytes = Vec::new();
    if name == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    } else {
        let file = std::fs::File::open(Path::new(name)).map_err(read_error)?;
        file.take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(InferError::Image {
            file: name.to_string(),
            source: prepare::PrepareError::FileTooLarge {
                bytes: bytes.len() as u64,
                limit: MAX_INPUT_BYTES,
            },
        });
    }
    Ok(bytes)
}

/// File extensions that [`expand_inputs`] takes from a folder, compared case-insensitively.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "webp", "gif"];

/// Expands the inputs named on the command line: a folder becomes its image files, sorted
/// by name (not recursively); files and `-` pass through unchanged.
///
/// A folder without image files yields an error in its place, so the other inputs still run.
pub fn expand_inputs(names: &[String]) -> Vec<Result<String, InferError>> {
    let mut inputs = Vec::new();
    let mut stdin_taken = false;
    for name in names {
        let path = Path::new(name);
        if name == "-" {
            // Standard input ends after its first image, so a second `-` has nothing to read.
            inputs.push(match stdin_taken {
                false => Ok(name.clone()),
                true => Err(InferError::StdinTwice),
            });
            stdin_taken = true;
            continue;
        }
        if !path.is_dir() {
            inputs.push(Ok(name.clone()));
            continue;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(source) => {
                inputs.push(Err(InferError::Read {
                    file: name.clone(),
                    source,
                }));
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file() && has_image_extension(path))
            .collect();
        files.sort();
        if files.is_empty() {
            inputs.push(Err(InferError::EmptyFolder { dir: name.clone() }));
        }
        inputs.extend(
            files
                .into_iter()
                .map(|file| Ok(file.to_string_lossy().into_owned())),
        );
    }
    inputs
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| extension.eq_ignore_ascii_case(known))
        })
}

/// Writes the 28×28 image the model saw for input `name` into `dir`, as
/// `<file name>.input.png` (`stdin.input.png` for `-`), and returns its path.
///
/// `saved_paths` contains the paths written before in the same run. An input whose file name
/// repeats one of theirs, from another folder, gets `<file name>.2.input.png` and so on,
/// so that no image of the run replaces another. The file is written to a temporary name
/// and renamed, so a failed write leaves no partial image.
pub fn save_prepared(
    dir: &Path,
    name: &str,
    prepared: &PreparedImage,
    saved_paths: &mut HashSet<PathBuf>,
) -> Result<PathBuf, InferError> {
    let base = match name {
        "-" => "stdin".to_string(),
        _ => Path::new(name)
            .file_name()
            .map(|file| file.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".to_string()),
    };
    if dir.exists() && !dir.is_dir() {
        return Err(InferError::SaveInputNotFolder {
            dir: dir.to_path_buf(),
        });
    }
    let stem = (1..)
        .map(|copy| match copy {
            1 => base.clone(),
            _ => format!("{base}.{copy}"),
        })
        .find(|stem| !saved_paths.contains(&dir.join(format!("{stem}.input.png"))))
        .expect("an unbounded range has a free name");
    let path = dir.join(format!("{stem}.input.png"));
    saved_paths.insert(path.clone());
    let bytes = prepare::prepared_to_png_bytes(prepared).map_err(|source| InferError::Image {
        file: name.to_string(),
        source,
    })?;
    let temporary = dir.join(format!(".{stem}.input.png.{}.tmp", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::File::create(&temporary))
        .and_then(|mut file| file.write_all(&bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(InferError::SaveInput { path, source });
    }
    Ok(path)
}

/// Reads, decodes and prepares one input.
pub fn prepare_input(name: &str) -> Result<PreparedImage, InferError> {
    let bytes = read_input(name)?;
    let image_error = |source| InferError::Image {
        file: name.to_string(),
        source,
    };
    let image = prepare::decode_image(&bytes).map_err(image_error)?;
    prepare::prepare(&image).map_err(image_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_stdin_input_is_an_error() {
        let inputs = expand_inputs(&["-".to_string(), "-".to_string()]);
        assert_eq!(inputs.len(), 2);
        assert!(matches!(&inputs[0], Ok(name) if name == "-"));
        assert!(matches!(inputs[1], Err(InferError::StdinTwice)));
    }
}
