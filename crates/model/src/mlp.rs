use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};

use crate::{IMAGE_SIDE, NUM_CLASSES};

/// Layer sizes of the multilayer perceptron: 784 → 128 → 64 → 10.
#[derive(Config, Debug)]
pub struct MlpConfig {
    #[config(default = 128)]
    pub hidden_1: usize,
    #[config(default = 64)]
    pub hidden_2: usize,
}

/// A multilayer perceptron over the flattened image, with ReLU between layers.
#[derive(Module, Debug)]
pub struct Mlp {
    input: Linear,
    hidden: Linear,
    output: Linear,
    activation: Relu,
}

impl MlpConfig {
    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Mlp {
        Mlp {
            input: LinearConfig::new(IMAGE_SIDE * IMAGE_SIDE, self.hidden_1).init(device),
            hidden: LinearConfig::new(self.hidden_1, self.hidden_2).init(device),
            output: LinearConfig::new(self.hidden_2, NUM_CLASSES).init(device),
            activation: Relu::new(),
        }
    }
}

impl Mlp {
    /// Computes logits for normalised images of `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let [batch, _, _, _] = images.dims();
        let x = images.reshape([batch, IMAGE_SIDE * IMAGE_SIDE]); // [batch, 784]
        let x = self.activation.forward(self.input.forward(x)); // [batch, 128]
        let x = self.activation.forward(self.hidden.forward(x)); // [batch, 64]
        self.output.forward(x) // [batch, 10]
    }
}
