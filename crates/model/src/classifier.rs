use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::cnn::{Cnn, CnnConfig};
use crate::mlp::{Mlp, MlpConfig};

/// Architecture of a classifier.
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

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::{Device, Tensor};

    use super::*;

    fn logits_shape(kind: ModelKind) -> [usize; 2] {
        let device = Device::flex();
        let model = ModelConfig::new(kind).init(&device);
        model
            .forward(Tensor::<4>::zeros([3, 1, 28, 28], &device))
            .dims()
    }

    #[test]
    fn mlp_gives_ten_logits_per_image() {
        assert_eq!(logits_shape(ModelKind::Mlp), [3, 10]);
    }

    #[test]
    fn cnn_gives_ten_logits_per_image() {
        assert_eq!(logits_shape(ModelKind::Cnn), [3, 10]);
    }

    #[test]
    fn parameter_counts_match_architectures() {
        let device = Device::flex();
        // 784·128 + 128 + 128·64 + 64 + 64·10 + 10.
        let mlp = ModelConfig::new(ModelKind::Mlp).init(&device);
        assert_eq!(mlp.num_params(), 109_386);
        // Convolutions 1·32·9 + 32 and 32·64·9 + 64, batch norms 4·32 and 4·64 (scale,
        // shift and the running mean and variance, which Burn counts too), linear layers
        // 3136·128 + 128 and 128·10 + 10. PyTorch counts 421,834 trainable parameters.
        let cnn = ModelConfig::new(ModelKind::Cnn).init(&device);
        assert_eq!(cnn.num_params(), 422_026);
    }

    #[test]
    fn config_without_third_convolution_reads() {
        // config.json as written before the optional third convolution existed.
        let json = r#"{"kind":"cnn","mlp":{"hidden_1":128,"hidden_2":64},
            "cnn":{"channels_1":32,"channels_2":64,"hidden":128,"dropout":0.25}}"#;
        let config: ModelConfig = serde_json::from_str(json).expect("older config");
        assert_eq!(config.cnn.channels_3, None);
    }

    #[test]
    fn third_convolution_adds_its_parameters() {
        // 64·96·9 + 96 for the convolution and 4·96 for its batch norm. The hidden layer
        // takes 96·49 inputs instead of 64·49, so it has 32·49·128 more weights.
        let mut config = ModelConfig::new(ModelKind::Cnn);
        config.cnn.channels_3 = Some(96);
        let added = config.init(&Device::flex()).num_params() - 422_026;
        assert_eq!(added, 64 * 96 * 9 + 96 + 4 * 96 + 32 * 49 * 128);
    }

    #[test]
    fn kind_names_round_trip_through_json() {
        let config = ModelConfig::new(ModelKind::Cnn);
        let json = serde_json::to_string(&config).expect("serialise");
        assert!(json.contains("\"kind\":\"cnn\""), "{json}");
        let back: ModelConfig = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back.kind, ModelKind::Cnn);
    }
}
