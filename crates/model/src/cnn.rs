use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor};

use crate::NUM_CLASSES;

/// Channel and layer sizes of the convolutional network.
#[derive(Config, Debug)]
pub struct CnnConfig {
    #[config(default = 32)]
    pub channels_1: usize,
    #[config(default = 64)]
    pub channels_2: usize,
    #[config(default = 128)]
    pub hidden: usize,
    /// Probability of zeroing a hidden unit during training.
    #[config(default = 0.25)]
    pub dropout: f64,
}

/// Two 3×3 convolution blocks (batch norm, ReLU, 2×2 max pooling), then two linear layers.
#[derive(Module, Debug)]
pub struct Cnn {
    conv_1: Conv2d,
    norm_1: BatchNorm,
    conv_2: Conv2d,
    norm_2: BatchNorm,
    pool: MaxPool2d,
    hidden: Linear,
    output: Linear,
    dropout: Dropout,
    activation: Relu,
}

/// Side of the feature map after two 2×2 poolings of a 28×28 image.
const POOLED_SIDE: usize = 7;

impl CnnConfig {
    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Cnn {
        let conv = |input, output| {
            Conv2dConfig::new([input, output], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Cnn {
            conv_1: conv(1, self.channels_1),
            norm_1: BatchNormConfig::new(self.channels_1).init(device),
            conv_2: conv(self.channels_1, self.channels_2),
            norm_2: BatchNormConfig::new(self.channels_2).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            hidden: LinearConfig::new(self.channels_2 * POOLED_SIDE * POOLED_SIDE, self.hidden)
                .init(device),
            output: LinearConfig::new(self.hidden, NUM_CLASSES).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            activation: Relu::new(),
        }
    }
}

impl Cnn {
    /// Computes logits for normalised images of `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.norm_1.forward(self.conv_1.forward(images)); // [batch, 32, 28, 28]
        let x = self.pool.forward(self.activation.forward(x)); // [batch, 32, 14, 14]
        let x = self.norm_2.forward(self.conv_2.forward(x)); // [batch, 64, 14, 14]
        let x = self.pool.forward(self.activation.forward(x)); // [batch, 64, 7, 7]
        let x = x.flatten(1, 3); // [batch, 3136]
        let x = self
            .dropout
            .forward(self.activation.forward(self.hidden.forward(x))); // [batch, 128]
        self.output.forward(x) // [batch, 10]
    }
}
