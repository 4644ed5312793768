use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::cnn::{Cnn, CnnConfig};
use crate::mlp::{Mlp, MlpConfig};

/// Which of the two architectures to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Mlp,
    Cnn,
}

impl ModelKind {
    /// Returns the lowercase name used on the command line and in artifact paths.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything needed to rebuild a classifier before its weights are loaded.
#[derive(Config, Debug)]
pub struct ModelConfig {
    pub kind: ModelKind,
    #[config(default = "MlpConfig::new()")]
    pub mlp: MlpConfig,
    #[config(default = "CnnConfig::new()")]
    pub cnn: CnnConfig,
}

/// Either architecture behind one type, so the learner, the checkpoints and inference
/// handle both alike. A record of one variant does not load into the other.
#[derive(Module, Debug)]
pub enum Classifier {
    Mlp(Mlp),
    Cnn(Cnn),
}

impl ModelConfig {
    /// Builds the configured architecture with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Classifier {
        match self.kind {
            ModelKind::Mlp => Classifier::Mlp(self.mlp.init(device)),
            ModelKind::Cnn => Classifier::Cnn(self.cnn.init(device)),
        }
    }
}

impl Classifier {
    /// Computes logits `[batch, 10]` for normalised images of `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Classifier::Mlp(mlp) => mlp.forward(images),
            Classifier::Cnn(cnn) => cnn.forward(images),
        }
    }

    /// Returns which architecture this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Classifier::Mlp(_) => ModelKind::Mlp,
            Classifier::Cnn(_) => ModelKind::Cnn,
        }
    }
}
