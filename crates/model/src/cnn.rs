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
use crate::conv::same_convolution;
use crate::norm::{Normalized, batch_norm_flex};
use crate::pool::max_pool;

/// Channel and layer sizes of the convolutional network.
#[derive(Config, Debug)]
pub struct CnnConfig {
    #[config(default = 32)]
    pub channels_1: usize,
    #[config(default = 64)]
    pub channels_2: usize,
    /// Output channels of an optional third 3×3 convolution on the 7×7 maps after the
    /// second pooling, followed by batch norm and ReLU. The default network has none.
    #[config(default = "None")]
    pub channels_3: Option<usize>,
    #[config(default = 128)]
    pub hidden: usize,
    /// Probability of zeroing a hidden unit during training.
    #[config(default = 0.25)]
    pub dropout: f64,
}

/// Two 3×3 convolution blocks (batch norm, ReLU, 2×2 max pooling), an optional third
/// convolution without pooling, then two linear layers.
#[derive(Module, Debug)]
pub struct Cnn {
    conv_1: Conv2d,
    norm_1: BatchNorm,
    conv_2: Conv2d,
    norm_2: BatchNorm,
    conv_3: Option<Conv2d>,
    norm_3: Option<BatchNorm>,
    pool: MaxPool2d,
    hidden: Linear,
    output: Linear,
    dropout: Dropout,
    activation: Relu,
}

/// Side of the feature map after two 2×2 poolings of a 28×28 image.
const POOLED_SIDE: usize = 7;

impl CnnConfig {
    /// Returns the output channels of the convolutions, such as `32,64` or `32,64,64`.
    pub fn channels_text(&self) -> String {
        match self.channels_3 {
            Some(third) => format!("{},{},{third}", self.channels_1, self.channels_2),
            None => format!("{},{}", self.channels_1, self.channels_2),
        }
    }

    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Cnn {
        let conv = |input, output| {
            Conv2dConfig::new([input, output], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        let last_channels = self.channels_3.unwrap_or(self.channels_2);
        Cnn {
            conv_1: conv(1, self.channels_1),
            norm_1: BatchNormConfig::new(self.channels_1).init(device),
            conv_2: conv(self.channels_1, self.channels_2),
            norm_2: BatchNormConfig::new(self.channels_2).init(device),
            conv_3: self
                .channels_3
                .map(|channels| conv(self.channels_2, channels)),
            norm_3: self
                .channels_3
                .map(|channels| BatchNormConfig::new(channels).init(device)),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            hidden: LinearConfig::new(last_channels * POOLED_SIDE * POOLED_SIDE, self.hidden)
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
    /// linear layers. Five layers are computed in equivalent forms that flex runs faster;
    /// the weights and the record are those of Burn's modules:
    /// - the first convolution as a matrix product with the unfolded image (see
    ///   [`input_convolution`]),
    /// - batch normalisation in training out of per-channel sums (see [`batch_norm`]),
    /// - the second convolution's weight and bias gradients on flex by this crate's
    ///   kernels (see [`same_convolution`]),
    /// - max pooling on flex by this crate's kernel (see [`max_pool`]),
    /// - ReLU after the pooling instead of before: the maximum of rectified values is
    ///   the rectified maximum, and pooling leaves a quarter of the values to rectify.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let x = batch_norm(&self.norm_1, input_convolution(&self.conv_1, images)); // [batch, 32, 28, 28]
        let x = self.activation.forward(max_pool(&self.pool, x)); // [batch, 32, 14, 14]
        let x = batch_norm(&self.norm_2, same_convolution(&self.conv_2, x)); // [batch, 64, 14, 14]
        let mut x = self.activation.forward(max_pool(&self.pool, x)); // [batch, 64, 7, 7]
        if let (Some(conv), Some(norm)) = (&self.conv_3, &self.norm_3) {
            x = self
                .activation
                .forward(batch_norm(norm, same_convolution(conv, x))); // [batch, channels_3, 7, 7]
        }
        let x = x.flatten(1, 3); // [batch, 3136] without the third convolution
        let x = self
            .dropout
            .forward(self.activation.forward(self.hidden.forward(x))); // [batch, 128]
        self.output.forward(x) // [batch, 10]
    }
}

/// Applies `conv`, a stride-1 convolution padded by half its kernel as the CNN's are, to
/// `images` that need no gradient. In training it is one matrix product of the weights
/// with the neighbourhoods of every pixel.
///
/// Without an input gradient, the backward pass is the weight gradient alone: a product
/// of the output gradient with the same neighbourhoods. Burn's general convolution
/// computes it as a convolution over swapped batch and channel axes, which copies both
/// tensors first. Without autodiff, Burn's convolution is the faster one and is used.
///
/// # Panics
///
/// Panics if `conv` has another stride, dilation, grouping or padding, for which this form
/// would compute a different function than the convolution used outside training.
pub fn input_convolution(conv: &Conv2d, images: Tensor<4>) -> Tensor<4> {
    let [channels, inputs, kernel_h, kernel_w] = conv.weight.dims();
    let (pad_h, pad_w) = (kernel_h / 2, kernel_w / 2);
    assert!(
        conv.stride == [1, 1]
            && conv.dilation == [1, 1]
            && conv.groups == 1
            && kernel_h % 2 == 1
            && kernel_w % 2 == 1
            && matches!(conv.padding, PaddingConfig2d::Explicit(t, l, b, r)
                if t == pad_h && b == pad_h && l == pad_w && r == pad_w),
        "input_convolution needs a stride-1 convolution with an odd kernel, padded by half"
    );
    if !images.device().is_autodiff() {
        return conv.forward(images);
    }
    let [batch, _, height, width] = images.dims();
    let neighbourhoods = unfold4d(
        images,
        [kernel_h, kernel_w],
        UnfoldOptions::new([1, 1], [pad_h, pad_w], [1, 1]),
    ); // [batch, 9, 784] for the first layer
    let weights = conv
        .weight
        .val()
        .reshape([1, channels, inputs * kernel_h * kernel_w]); // [1, 32, 9]
    let mut output = weights.matmul(neighbourhoods); // [batch, 32, 784]
    if let Some(bias) = &conv.bias {
        output = output + bias.val().reshape([1, channels, 1]);
    }
    output.reshape([batch, channels, height, width])
}

/// Batch normalisation by `norm`, computed in training without Burn's copies.
///
/// Burn's own training path (`batch_norm_train` in burn-backend 0.22.1) gathers each
/// channel by swapping the batch and channel axes, which copies the activations twice
/// forward and twice backward. On flex this crate's kernel ([`batch_norm_flex`]) runs
/// instead; on other backends the same function is computed from per-channel sums over
/// contiguous rows, without a copy. `make bench` with `--layer-iterations` times the
/// forms. Outside training, Burn's path with the running statistics is used. The running
/// statistics are updated as Burn does, with the biased variance.
pub fn batch_norm(norm: &BatchNorm, input: Tensor<4>) -> Tensor<4> {
    if !(input.device().is_autodiff() && norm.training.is_enabled()) {
        return norm.forward(input);
    }
    let [batch, channels, height, width] = input.dims();
    let rows = input.reshape([batch, channels, height * width]);
    let normalized = match batch_norm_flex(rows, norm.gamma.val(), norm.beta.val(), norm.epsilon) {
        Ok(normalized) => normalized,
        Err(rows) => batch_norm_by_sums(norm, rows),
    };

    let momentum = norm.momentum;
    let update = |state: &RunningState<Tensor<1>>, batch_value: Tensor<1>| {
        let device = batch_value.device();
        let running = state.value_sync().to_device(&device);
        state.update(
            running
                .mul_scalar(1.0 - momentum)
                .add(batch_value.detach().mul_scalar(momentum))
                .detach(),
        );
    };
    update(&norm.running_mean, normalized.mean);
    update(&norm.running_var, normalized.variance);
    normalized.output.reshape([batch, channels, height, width])
}

/// Batch normalisation of `rows` of `[batch, channels, pixels]` from per-channel sums,
/// in Burn's tensor operations.
fn batch_norm_by_sums(norm: &BatchNorm, rows: Tensor<3>) -> Normalized {
    let [batch, channels, pixels] = rows.dims();
    let count = (batch * pixels) as f64;
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
    Normalized {
        output: centred * scale + norm.beta.val().reshape([1, channels, 1]),
        mean: mean.detach().reshape([channels]),
        variance: variance.detach().reshape([channels]),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor};

    use super::*;
    use crate::compare::{assert_same_gradient, relative_gap};

    /// Computes the network with Burn's modules alone, in the textbook order.
    fn reference_forward(cnn: &Cnn, images: Tensor<4>) -> Tensor<2> {
        let x = cnn.norm_1.forward(cnn.conv_1.forward(images));
        let x = cnn.pool.forward(cnn.activation.forward(x));
        let x = cnn.norm_2.forward(cnn.conv_2.forward(x));
        let mut x = cnn.pool.forward(cnn.activation.forward(x));
        if let (Some(conv), Some(norm)) = (&cnn.conv_3, &cnn.norm_3) {
            x = cnn.activation.forward(norm.forward(conv.forward(x)));
        }
        let x = cnn.activation.forward(cnn.hidden.forward(x.flatten(1, 3)));
        cnn.output.forward(x)
    }

    /// Two copies of one freshly initialised network without dropout, whose
    /// running statistics are separate.
    fn twin_networks(config: &CnnConfig, device: &Device) -> (Cnn, Cnn) {
        let config = config.clone().with_dropout(0.0);
        let first = config.init(device);
        let second = config.init(device).load_record(first.clone().into_record());
        (first, second)
    }

    #[test]
    fn training_forms_match_burns_modules() {
        // Flex runs this crate's pooling and batch-norm kernels.
        assert_training_forms_match(&CnnConfig::new(), Device::flex().autodiff());
    }

    #[test]
    fn third_convolution_matches_burns_modules() {
        let config = CnnConfig::new().with_channels_3(Some(16));
        assert_training_forms_match(&config, Device::flex().autodiff());
    }

    #[test]
    #[allow(deprecated)]
    fn training_forms_match_burns_modules_off_flex() {
        // Other backends compute the batch norm from tensor operations and pool with
        // Burn's module; ndarray represents them, as wgpu needs a Vulkan driver. The
        // optional third convolution takes Burn's convolution there.
        let config = CnnConfig::new().with_channels_3(Some(16));
        assert_training_forms_match(&config, Device::ndarray().autodiff());
    }

    fn assert_training_forms_match(config: &CnnConfig, device: Device) {
        let (fast, reference) = twin_networks(config, &device);
        device.seed(11);
        let images = Tensor::<4>::random([6, 1, 28, 28], Distribution::Normal(0.5, 1.0), &device);
        let weights = Tensor::<2>::random([6, 10], Distribution::Normal(0.0, 1.0), &device);

        let logits = fast.forward(images.clone());
        let expected = reference_forward(&reference, images);
        let gap = relative_gap(logits.clone(), expected.clone());
        assert!(gap < 1e-5, "logits differ by {gap}");

        let grads = (logits * weights.clone()).sum().backward();
        let expected_grads = (expected * weights).sum().backward();
        // The convolution biases are left out: the batch norm after each convolution
        // subtracts the batch mean, so their gradients are zero in both forms.
        assert_same_gradient(
            "conv_1 weight",
            fast.conv_1.weight.grad(&grads),
            reference.conv_1.weight.grad(&expected_grads),
            1e-4,
        );
        assert_same_gradient(
            "conv_2 weight",
            fast.conv_2.weight.grad(&grads),
            reference.conv_2.weight.grad(&expected_grads),
            1e-4,
        );
        if let (Some(actual), Some(expected)) = (&fast.conv_3, &reference.conv_3) {
            assert_same_gradient(
                "conv_3 weight",
                actual.weight.grad(&grads),
                expected.weight.grad(&expected_grads),
                1e-4,
            );
        }
        assert_same_gradient(
            "hidden weight",
            fast.hidden.weight.grad(&grads),
            reference.hidden.weight.grad(&expected_grads),
            1e-4,
        );
        assert_same_gradient(
            "output weight",
            fast.output.weight.grad(&grads),
            reference.output.weight.grad(&expected_grads),
            1e-4,
        );
        let mut norms = vec![
            ("norm_1", &fast.norm_1, &reference.norm_1),
            ("norm_2", &fast.norm_2, &reference.norm_2),
        ];
        if let (Some(actual), Some(expected)) = (&fast.norm_3, &reference.norm_3) {
            norms.push(("norm_3", actual, expected));
        }
        for (name, actual, expected) in norms {
            assert_same_gradient(
                &format!("{name} gamma"),
                actual.gamma.grad(&grads),
                expected.gamma.grad(&expected_grads),
                1e-4,
            );
            assert_same_gradient(
                &format!("{name} beta"),
                actual.beta.grad(&grads),
                expected.beta.grad(&expected_grads),
                1e-4,
            );
            // Both took one batch, so the running statistics moved alike, and away from
            // their initial zeros and ones. `value_sync` reads the updated values.
            let mean = actual.running_mean.value_sync();
            let var = actual.running_var.value_sync();
            let mean_gap = relative_gap(mean.clone(), expected.running_mean.value_sync());
            let var_gap = relative_gap(var.clone(), expected.running_var.value_sync());
            assert!(
                mean_gap < 1e-5,
                "{name}: running means differ by {mean_gap}"
            );
            assert!(
                var_gap < 1e-5,
                "{name}: running variances differ by {var_gap}"
            );
            let moved_mean = mean.abs().max().into_scalar::<f32>();
            let moved_var = (var - 1.0).abs().max().into_scalar::<f32>();
            assert!(moved_mean > 1e-4, "{name}: running mean did not move");
            assert!(moved_var > 1e-4, "{name}: running variance did not move");
        }
    }

    #[test]
    fn inference_uses_burns_modules() {
        let device = Device::flex();
        let (fast, reference) = twin_networks(&CnnConfig::new(), &device);
        let images = Tensor::<4>::random([3, 1, 28, 28], Distribution::Normal(0.0, 1.0), &device);
        let gap = relative_gap(
            fast.forward(images.clone()),
            reference_forward(&reference, images),
        );
        assert!(gap < 1e-6, "inference differs by {gap}");
    }
}
