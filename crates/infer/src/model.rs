//! Loading a trained classifier from the folder `mnist-train` wrote, and predicting.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use mnist_model::{Classifier, IMAGE_SIDE, ModelConfig, NUM_CLASSES, normalize_pixel};

use crate::InferError;

pub use mnist_model::{CONFIG_FILE, RECORD_FILE};

/// A classifier rebuilt from its saved configuration, with its trained weights.
pub struct LoadedModel {
    pub model: Classifier,
    pub config: ModelConfig,
    pub device: Device,
}

/// Rebuilds the classifier saved in `run_dir` on `device`.
///
/// The architecture comes from the `model` field of `config.json`, never from defaults
/// here. The record must match it exactly. A missing or extra parameter, a wrong shape or a
/// record of the other architecture is an error, not a partial load.
pub fn load_model(run_dir: &Path, device: &Device) -> Result<LoadedModel, InferError> {
    let config_path = run_dir.join(CONFIG_FILE);
    let record_path = run_dir.join(RECORD_FILE);
    let config = read_model_config(&config_path)?;
    let folder = run_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    if let Some(folder) = folder.filter(|folder| ["mlp", "cnn"].contains(&folder.as_str()))
        && folder != config.kind.name()
    {
        return Err(InferError::ModelInvalid {
            path: config_path,
            reason: format!(
                "it describes a {} model, but the folder is for {folder}",
                config.kind
            ),
        });
    }
    if !record_path.is_file() {
        return Err(InferError::ModelMissing { path: record_path });
    }
    let model = config
        .init(device)
        .try_load_file(&record_path)
        .map_err(|error| {
            let text = error.to_string();
            // Burn names each tensor whose shape differs from the configured model's.
            let reason = if text.contains("shape mismatch") {
                format!(
                    "its weights do not fit the model that {CONFIG_FILE} describes, so one of \
                     the two files was changed or they come from different runs ({})",
                    shorten(&text)
                )
            } else {
                shorten(&text)
            };
            InferError::ModelInvalid {
                path: record_path.clone(),
                reason,
            }
        })?
        .valid();
    let non_finite = count_non_finite(&model);
    if non_finite > 0 {
        return Err(InferError::ModelInvalid {
            path: record_path,
            reason: format!(
                "{non_finite} weights are NaN or infinite, so the file is damaged or comes \
                 from a diverged run"
            ),
        });
    }
    Ok(LoadedModel {
        model,
        config,
        device: device.clone(),
    })
}

/// Counts the float parameters and buffers of `model` that are NaN or infinite. Burnpack
/// files carry no checksum, so a damaged record can load and then predict NaN.
fn count_non_finite(model: &Classifier) -> usize {
    struct FiniteCheck {
        non_finite: usize,
    }
    impl ModuleVisitor for FiniteCheck {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().convert::<f32>();
            self.non_finite += values.as_slice::<f32>().map_or(0, |values| {
                values.iter().filter(|value| !value.is_finite()).count()
            });
        }
    }
    let mut check = FiniteCheck { non_finite: 0 };
    model.visit(&mut check);
    check.non_finite
}

/// Maximum length of Burn error text quoted in a message, because a record of the other
/// architecture lists every missing tensor.
const MAX_REASON_CHARS: usize = 240;

fn shorten(reason: &str) -> String {
    match reason.char_indices().nth(MAX_REASON_CHARS) {
        Some((end, _)) => format!("{} …", &reason[..end]),
        None => reason.to_string(),
    }
}

fn read_model_config(path: &Path) -> Result<ModelConfig, InferError> {
    let invalid = |reason: String| InferError::ModelInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => InferError::ModelMissing {
            path: path.to_path_buf(),
        },
        _ => invalid(error.to_string()),
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| invalid(format!("not valid JSON: {error}")))?;
    let model = value
        .get("model")
        .ok_or_else(|| invalid("no \"model\" field".to_string()))?;
    serde_json::from_value(model.clone())
        .map_err(|error| invalid(format!("invalid \"model\" field: {error}")))
}

impl LoadedModel {
    /// Returns the class probabilities of each image.
    ///
    /// Each image is 784 pixels in [0, 1], white digit on black, as
    /// [`prepare`](crate::prepare::prepare) returns them.
    pub fn predict(&self, images: &[&[f32]]) -> Result<Vec<[f32; NUM_CLASSES]>, InferError> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let pixels: Vec<f32> = images
            .iter()
            .flat_map(|image| image.iter().map(|&value| normalize_pixel(value)))
            .collect();
        let shape = [images.len(), 1, IMAGE_SIDE, IMAGE_SIDE];
        let input = Tensor::<4>::from_data(TensorData::new(pixels, shape), &self.device);
        let probabilities = softmax(self.model.forward(input), 1); // [images, 10]
        let values = probabilities
            .into_data()
            .try_into_vec_as::<f32>()
            .map_err(|error| InferError::Prediction(format!("{error:?}")))?;
        Ok(values
            .chunks_exact(NUM_CLASSES)
            .map(|row| {
                let mut probabilities = [0.0; NUM_CLASSES];
                probabilities.copy_from_slice(row);
                probabilities
            })
            .collect())
    }
}

/// Returns the run folder of `model` under `artifact_dir`, as `mnist-train` lays it out.
pub fn run_dir(artifact_dir: &Path, model: &str) -> PathBuf {
    artifact_dir.join(model)
}
