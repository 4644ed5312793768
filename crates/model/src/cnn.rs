use burn::config::Config;
use burn::module::{Module, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::tensor::module::unfold4d;
use burn::tensor::ops::UnfoldOptions;
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
    ///
    /// The network is conv → batch norm → ReLU → 2×2 max pooling, twice, then the two
    /// linear layers. Three layers are computed in equivalent forms that flex runs faster;
    /// the weights and the record are those of Burn's modules:
    /// - the first convolution as a matrix product with the unfolded image (see
    ///   [`Cnn::first_convolution`]),
    /// - batch normalisation in training out of per-channel sums (see [`batch_norm`]),
    /// - ReLU after the pooling instead of before: the maximum of rectified values is
    ///   the rectified maximum, and pooling leaves a quarter of the values to rectify.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = batch_norm(&self.norm_1, self.first_convolution(images)); // [batch, 32, 28, 28]
        let x = self.activation.forward(self.pool.forward(x)); // [batch, 32, 14, 14]
        let x = batch_norm(&self.norm_2, self.conv_2.forward(x)); // [batch, 64, 14, 14]
        let x = self.activation.forward(self.pool.forward(x)); // [batch, 64, 7, 7]
        let x = x.flatten(1, 3); // [batch, 3136]
        let x = self
            .dropout
            .forward(self.activation.forward(self.hidden.forward(x))); // [batch, 128]
        self.output.forward(x) // [batch, 10]
    }

    /// Applies `conv_1` (3×3, padding 1, one input channel) in training as one matrix
    /// product of its weights with the 3×3 neighbourhoods of every pixel.
    ///
    /// The images never need a gradient, so the backward pass is the weight gradient
    /// alone: a product of the output gradient with the same neighbourhoods. Burn's
    /// general convolution computes it as a convolution over swapped batch and channel
    /// axes, which copies both tensors first. Without autodiff, Burn's convolution is the
    /// faster one and is used.
    fn first_convolution(&self, images: Tensor<4>) -> Tensor<4> {
        if !images.device().is_autodiff() {
            return self.conv_1.forward(images);
        }
        let [batch, _, height, width] = images.dims();
        let [channels, inputs, kernel_h, kernel_w] = self.conv_1.weight.dims();
        let neighbourhoods = unfold4d(
            images,
            [kernel_h, kernel_w],
            UnfoldOptions::new([1, 1], [kernel_h / 2, kernel_w / 2], [1, 1]),
        ); // [batch, 9, 784]
        let weights = self
            .conv_1
            .weight
            .val()
            .reshape([1, channels, inputs * kernel_h * kernel_w]); // [1, 32, 9]
        let mut output = weights.matmul(neighbourhoods); // [batch, 32, 784]
        if let Some(bias) = &self.conv_1.bias {
            output = output + bias.val().reshape([1, channels, 1]);
        }
        output.reshape([batch, channels, height, width])
    }
}

/// Batch normalisation by `norm`, computed in training out of per-channel sums over
/// contiguous rows.
///
/// Burn's own training path (`batch_norm_train` in burn-backend 0.22.1) gathers each
/// channel by swapping the batch and channel axes, which copies the activations twice
/// forward and twice backward. Summing each `[channel, pixels]` row and then over the
/// batch gives the same mean and biased variance without a copy: 3.8 ms instead of
/// 7.3 ms forward and backward for the first layer (`make bench` on flex). Outside
/// training, Burn's path with the running statistics is used. The running statistics are
/// updated as Burn does, with the biased variance.
fn batch_norm(norm: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
    if !(input.device().is_autodiff() && norm.training.is_enabled()) {
        return norm.forward(input);
    }
    let [batch, channels, height, width] = input.dims();
    let count = (batch * height * width) as f64;
    let rows = input.reshape([batch, channels, height * width]);
    let mean = rows.clone().sum_dim(2).sum_dim(0).div_scalar(count); // [1, channels, 1]
    let centred = rows - mean.clone();
    let variance = centred
        .clone()
        .square()
        .sum_dim(2)
        .sum_dim(0)
        .div_scalar(count); // [1, channels, 1]
    let scale = variance.clone().add_scalar(norm.epsilon).sqrt().recip()
        * norm.gamma.val().reshape([1, channels, 1]);
    let output = centred * scale + norm.beta.val().reshape([1, channels, 1]);

    let momentum = norm.momentum;
    let update = |state: &RunningState<Tensor<1>>, batch_value: Tensor<3>| {
        let device = batch_value.device();
        let running = state.value_sync().to_device(&device);
        let batch_value = batch_value.detach().reshape([channels]);
        state.update(
            running
                .mul_scalar(1.0 - momentum)
                .add(batch_value.mul_scalar(momentum))
                .detach(),
        );
    };
    update(&norm.running_mean, mean);
    update(&norm.running_var, variance);
    output.reshape([batch, channels, height, width])
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    /// The network as Burn's modules compute it, in the textbook order.
    fn reference_forward(cnn: &Cnn, images: Tensor<4>) -> Tensor<2> {
        let x = cnn.norm_1.forward(cnn.conv_1.forward(images));
        let x = cnn.pool.forward(cnn.activation.forward(x));
        let x = cnn.norm_2.forward(cnn.conv_2.forward(x));
        let x = cnn.pool.forward(cnn.activation.forward(x));
        let x = cnn.activation.forward(cnn.hidden.forward(x.flatten(1, 3)));
        cnn.output.forward(x)
    }

    /// Largest absolute difference between two tensors, relative to the larger of 1 and
    /// the reference's largest magnitude.
    fn relative_gap<const D: usize>(actual: Tensor<D>, expected: Tensor<D>) -> f32 {
        let scale = expected.clone().abs().max().into_scalar::<f32>().max(1.0);
        (actual - expected).abs().max().into_scalar::<f32>() / scale
    }

    /// Two copies of one freshly initialised network without dropout, whose
    /// running statistics are separate.
    fn twin_networks(device: &Device) -> (Cnn, Cnn) {
        let config = CnnConfig::new().with_dropout(0.0);
        let first = config.init(device);
        let second = config.init(device).load_record(first.clone().into_record());
        (first, second)
    }

    #[test]
    fn training_forms_match_burns_modules() {
        let device = Device::flex().autodiff();
        let (fast, reference) = twin_networks(&device);
        device.seed(11);
        let images = Tensor::<4>::random([6, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        let weights = Tensor::<2>::random([6, 10], Distribution::Normal(0.0, 1.0), &device);

        let logits = fast.forward(images.clone());
        let expected = reference_forward(&reference, images);
        assert!(relative_gap(logits.clone(), expected.clone()) < 1e-5);

        let grads = (logits * weights.clone()).sum().backward();
        let expected_grads = (expected * weights).sum().backward();
        let gap = |name: &str, actual: Option<Tensor<1>>, expected: Option<Tensor<1>>| {
            let (actual, expected) = (actual.expect(name), expected.expect(name));
            let gap = relative_gap(actual, expected);
            assert!(gap < 1e-4, "{name}: gradients differ by {gap}");
        };
        let flat = |t: Option<Tensor<4>>| t.map(|t| t.flatten::<1>(0, 3));
        gap(
            "conv_1 weight",
            flat(fast.conv_1.weight.grad(&grads)),
            flat(reference.conv_1.weight.grad(&expected_grads)),
        );
        for (name, actual, expected) in [
            ("conv_1 bias", &fast.conv_1.bias, &reference.conv_1.bias),
            ("conv_2 bias", &fast.conv_2.bias, &reference.conv_2.bias),
        ] {
            gap(
                name,
                actual.as_ref().and_then(|b| b.grad(&grads)),
                expected.as_ref().and_then(|b| b.grad(&expected_grads)),
            );
        }
        for (name, actual, expected) in [
            ("norm_1", &fast.norm_1, &reference.norm_1),
            ("norm_2", &fast.norm_2, &reference.norm_2),
        ] {
            gap(name, actual.gamma.grad(&grads), expected.gamma.grad(&expected_grads));
            gap(name, actual.beta.grad(&grads), expected.beta.grad(&expected_grads));
            // Both took one batch, so the running statistics moved alike.
            let mean = relative_gap(actual.running_mean.value(), expected.running_mean.value());
            let var = relative_gap(actual.running_var.value(), expected.running_var.value());
            assert!(mean < 1e-5 && var < 1e-5, "{name}: running statistics differ");
        }
    }

    #[test]
    fn inference_uses_burns_modules() {
        let device = Device::flex();
        let (fast, reference) = twin_networks(&device);
        let images = Tensor::<4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        let gap = relative_gap(
            fast.forward(images.clone()),
            reference_forward(&reference, images),
        );
        assert!(gap < 1e-6, "inference differs by {gap}");
    }
}
