//! Batch normalisation in training, computed on flex by a kernel of this crate.
//!
//! Composed of Burn's tensor operations, a training batch norm makes about ten passes
//! over its activations forward and backward, each allocating a tensor: at 32 channels of
//! 28×28 it took 0.9 ms forward and 2.8 ms backward (docs/benchmarks.md). Here each
//! direction makes two passes per channel. Forward, they compute the statistics and then
//! the normalised output. Backward, they compute the two sums the gradient needs and then
//! the input gradient. It is a Burn backend extension for flex, with its own backward step
//! under autodiff.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

use crate::flex::{flex_tensor, is_flex, lane_sum, lane_sum_pairs, with_values};

/// The normalised activations and the batch statistics they were normalised with.
pub struct Normalized {
    /// `[batch, channels, pixels]`, like the input.
    pub output: Tensor<3>,
    /// Mean of each channel over the batch and pixels, `[channels]`, without gradient.
    pub mean: Tensor<1>,
    /// Biased variance of each channel, `[channels]`, without gradient.
    pub variance: Tensor<1>,
}

/// Normalises `input` of `[batch, channels, pixels]` per channel with the batch's mean and
/// biased variance, then scales by `gamma` and shifts by `beta` (both `[channels]`), on
/// flex under autodiff. Elsewhere, for values other than f32, or where `gamma` and `beta`
/// do not hold one value per channel, it hands `input` back as the error, for the caller
/// to compute the same function with tensor operations.
pub fn batch_norm_flex(
    input: Tensor<3>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> Result<Normalized, Tensor<3>> {
    let device = input.device();
    let [_, channels, _] = input.dims();
    let all_f32 = [input.dtype(), gamma.dtype(), beta.dtype()] == [DType::F32; 3];
    let per_channel = gamma.dims() == [channels] && beta.dims() == [channels];
    if !(is_flex(&device) && device.is_autodiff() && all_f32 && per_channel) {
        return Err(input);
    }
    let (output, mean, variance) = <Dispatch as ChannelNormalization>::normalize_channels(
        input.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    );
    Ok(Normalized {
        output: Tensor::from_dispatch(output),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(variance),
    })
}

#[backend_extension(Flex, Autodiff)]
trait ChannelNormalization: Backend {
    /// Normalises `[batch, channels, pixels]` per channel with the batch statistics, and
    /// returns the output, the mean and the biased variance of each channel.
    fn normalize_channels(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl ChannelNormalization for Flex {
    fn normalize_channels(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (output, saved) = norm_forward(&input, &gamma, &beta, epsilon);
        (output, saved.mean_tensor(), saved.variance_tensor())
    }
}

impl<C: CheckpointStrategy> ChannelNormalization for Autodiff<Flex, C> {
    fn normalize_channels(
        input: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (output, saved) = norm_forward(
            input.primitive(),
            gamma.primitive(),
            beta.primitive(),
            epsilon,
        );
        // The statistics leave the graph: they only update the running averages.
        let statistics = (
            <FloatTensor<Self>>::new(saved.mean_tensor()),
            <FloatTensor<Self>>::new(saved.variance_tensor()),
        );
        let output = match NormBackward
            .prepare::<C>([input.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(saved, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        };
        (output, statistics.0, statistics.1)
    }
}

/// State that the backward pass keeps from the forward pass.
#[derive(Clone, Debug)]
struct Saved {
    /// `[batch, channels, pixels]`.
    shape: [usize; 3],
    input: FloatTensor<Flex>,
    gamma: Arc<Vec<f32>>,
    mean: Arc<Vec<f32>>,
    variance: Arc<Vec<f32>>,
    /// `1 / sqrt(variance + epsilon)` of each channel.
    inverse_std: Arc<Vec<f32>>,
}

impl Saved {
    fn mean_tensor(&self) -> FloatTensor<Flex> {
        flex_tensor(self.mean.to_vec(), [self.shape[1]])
    }

    fn variance_tensor(&self) -> FloatTensor<Flex> {
        flex_tensor(self.variance.to_vec(), [self.shape[1]])
    }
}

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input_node, gamma_node, beta_node] = ops.parents;
        let output_grad = grads.consume::<Flex>(&ops.node);
        let (input_grad, gamma_grad, beta_grad) = norm_backward(&output_grad, &ops.state);
        let channels = [ops.state.shape[1]];
        if let Some(node) = input_node {
            grads.register::<Flex>(node.id, input_grad);
        }
        if let Some(node) = gamma_node {
            grads.register::<Flex>(node.id, flex_tensor(gamma_grad, channels));
        }
        if let Some(node) = beta_node {
            grads.register::<Flex>(node.id, flex_tensor(beta_grad, channels));
        }
    }
}

/// Per-channel sums of `term` over every batch item's `[pixels]` row of that channel.
fn channel_sums(
    values: &[f32],
    shape: [usize; 3],
    term: impl Fn(usize, &[f32]) -> f64 + Sync,
) -> Vec<f64> {
    let [batch, channels, pixels] = shape;
    (0..channels)
        .into_par_iter()
        .map(|channel| {
            (0..batch)
                .map(|item| {
                    let start = (item * channels + channel) * pixels;
                    term(channel, &values[start..start + pixels])
                })
                .sum()
        })
        .collect()
}

fn norm_forward(
    input: &FloatTensor<Flex>,
    gamma: &FloatTensor<Flex>,
    beta: &FloatTensor<Flex>,
    epsilon: f64,
) -> (FloatTensor<Flex>, Saved) {
    let dims = input.layout().shape();
    assert_eq!(
        dims.num_dims(),
        3,
        "normalize_channels takes [batch, channels, pixels]"
    );
    let shape = [dims[0], dims[1], dims[2]];
    let [batch, channels, pixels] = shape;
    let count = (batch * pixels) as f64;
    let gamma: Vec<f32> = with_values(gamma, <[f32]>::to_vec);
    let beta: Vec<f32> = with_values(beta, <[f32]>::to_vec);

    // The variance is the mean squared distance from the mean, in a second pass, as
    // Burn computes it. A one-pass sum of squares loses digits when the mean is large.
    // The input is read once for the statistics and the output together, so that a view
    // that is not contiguous is copied once.
    let (output, mean, variance, inverse_std) = with_values(input, |values| {
        let mean: Vec<f32> = channel_sums(values, shape, |_, row| lane_sum(row, |x| x))
            .into_iter()
            .map(|sum| (sum / count) as f32)
            .collect();
        let variance: Vec<f32> = channel_sums(values, shape, |channel, row| {
            let centre = mean[channel];
            lane_sum(row, |x| (x - centre) * (x - centre))
        })
        .into_iter()
        .map(|sum| (sum / count) as f32)
        .collect();
        let inverse_std: Vec<f32> = variance
            .iter()
            .map(|&var| (1.0 / (f64::from(var) + epsilon).sqrt()) as f32)
            .collect();

        let mut output = vec![0.0f32; batch * channels * pixels];
        output
            .par_chunks_mut(pixels.max(1))
            .zip(values.par_chunks(pixels.max(1)))
            .enumerate()
            .for_each(|(row, (out, x))| {
                let channel = row % channels;
                let (centre, shift) = (mean[channel], beta[channel]);
                let scale = gamma[channel] * inverse_std[channel];
                // Centring first keeps the digits that x · scale - mean · scale would
                // cancel away when the mean is large against the spread.
                for (out, &x) in out.iter_mut().zip(x) {
                    *out = (x - centre) * scale + shift;
                }
            });
        (output, mean, variance, inverse_std)
    });

    let saved = Saved {
        shape,
        input: input.clone(),
        gamma: Arc::new(gamma),
        mean: Arc::new(mean),
        variance: Arc::new(variance),
        inverse_std: Arc::new(inverse_std),
    };
    (flex_tensor(output, shape), saved)
}

/// Gradients of the input, gamma and beta.
///
/// With `x̂ = (x - mean) · inverse_std` and `m` values per channel, `∂beta = Σ dy`,
/// `∂gamma = Σ dy · x̂`, and `∂x = gamma · inverse_std · (dy - ∂beta / m - x̂ · ∂gamma / m)`.
fn norm_backward(
    output_grad: &FloatTensor<Flex>,
    saved: &Saved,
) -> (FloatTensor<Flex>, Vec<f32>, Vec<f32>) {
    let shape = saved.shape;
    let [batch, channels, pixels] = shape;
    let count = (batch * pixels) as f32;
    let (mean, inverse_std, gamma) = (&saved.mean, &saved.inverse_std, &saved.gamma);
    let mut input_grad = vec![0.0f32; batch * channels * pixels];
    let (gamma_grad, beta_grad) = with_values(output_grad, |dy| {
        with_values(&saved.input, |x| {
            let beta_grad: Vec<f32> = channel_sums(dy, shape, |_, row| lane_sum(row, |g| g))
                .into_iter()
                .map(|sum| sum as f32)
                .collect();
            // Σ dy · x̂ per channel, over rows of dy and x taken together.
            let gamma_grad: Vec<f32> = (0..channels)
                .into_par_iter()
                .map(|channel| {
                    let centre = mean[channel];
                    let sum: f64 = (0..batch)
                        .map(|item| {
                            let start = (item * channels + channel) * pixels;
                            let range = start..start + pixels;
                            lane_sum_pairs(&dy[range.clone()], &x[range], |g, x| g * (x - centre))
                        })
                        .sum();
                    (sum * f64::from(inverse_std[channel])) as f32
                })
                .collect();
            input_grad
                .par_chunks_mut(pixels.max(1))
                .zip(dy.par_chunks(pixels.max(1)))
                .zip(x.par_chunks(pixels.max(1)))
                .enumerate()
                .for_each(|(row, ((out, dy), x))| {
                    let channel = row % channels;
                    let scale = gamma[channel] * inverse_std[channel];
                    let mean_grad = beta_grad[channel] / count;
                    // x̂ · ∂gamma / m, written as a slope on x - mean.
                    let slope = gamma_grad[channel] * inverse_std[channel] / count;
                    for ((out, &dy), &x) in out.iter_mut().zip(dy).zip(x) {
                        *out = scale * (dy - mean_grad - (x - mean[channel]) * slope);
                    }
                });
            (gamma_grad, beta_grad)
        })
    });
    (flex_tensor(input_grad, shape), gamma_grad, beta_grad)
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::compare::{assert_same_gradient, relative_gap};

    /// Compares the kernel with Burn's `BatchNorm` in training on `input` of
    /// `[batch, channels, height, width]`: output, statistics and all three gradients.
    fn assert_matches_burn(input: Tensor<4>) {
        let device = input.device();
        let [batch, channels, height, width] = input.dims();
        let norm = BatchNormConfig::new(channels).init(&device);
        // Gamma and beta away from 1 and 0, so that a swapped gradient shows.
        let norm = BatchNorm {
            gamma: Param::from_tensor(Tensor::random(
                [channels],
                Distribution::Uniform(0.5, 1.5),
                &device,
            )),
            beta: Param::from_tensor(Tensor::random(
                [channels],
                Distribution::Uniform(-0.5, 0.5),
                &device,
            )),
            ..norm
        };
        let ours_input = input.clone().require_grad();
        let burns_input = input.require_grad();
        let ours = batch_norm_flex(
            ours_input
                .clone()
                .reshape([batch, channels, height * width]),
            norm.gamma.val(),
            norm.beta.val(),
            norm.epsilon,
        )
        .unwrap_or_else(|_| panic!("flex under autodiff takes the kernel"));
        let burns = norm.forward(burns_input.clone());

        let output = ours.output.reshape([batch, channels, height, width]);
        // Burn sums in f32 and this kernel in f64, so at a mean of 500 their means differ
        // by a few f32 steps: 9e-6 of the output's range.
        let gap = relative_gap(output.clone(), burns.clone());
        assert!(gap < 2e-5, "outputs differ by {gap}");
        // Burn's running mean after one batch from zero is momentum × batch mean.
        let momentum = norm.momentum as f32;
        let expected_mean = norm.running_mean.value_sync().div_scalar(momentum);
        let gap = relative_gap(ours.mean, expected_mean);
        assert!(gap < 1e-5, "means differ by {gap}");
        let expected_variance = norm
            .running_var
            .value_sync()
            .sub_scalar(1.0 - momentum)
            .div_scalar(momentum);
        let gap = relative_gap(ours.variance, expected_variance);
        assert!(gap < 1e-4, "variances differ by {gap}");

        let weights = Tensor::<4>::random(output.dims(), Distribution::Normal(0.0, 1.0), &device);
        let ours_grads = (output * weights.clone()).sum().backward();
        let burns_grads = (burns * weights).sum().backward();
        let pairs = [
            (
                "input",
                ours_input.grad(&ours_grads).map(|g| g.flatten::<1>(0, 3)),
                burns_input.grad(&burns_grads).map(|g| g.flatten::<1>(0, 3)),
            ),
            (
                "gamma",
                norm.gamma.grad(&ours_grads),
                norm.gamma.grad(&burns_grads),
            ),
            (
                "beta",
                norm.beta.grad(&ours_grads),
                norm.beta.grad(&burns_grads),
            ),
        ];
        for (name, ours, burns) in pairs {
            assert_same_gradient(name, ours, burns, 1e-4);
        }
    }

    #[test]
    fn matches_burn_in_training() {
        let device = Device::flex().autodiff();
        device.seed(3);
        assert_matches_burn(Tensor::random(
            [5, 4, 9, 7],
            Distribution::Normal(0.3, 2.0),
            &device,
        ));
    }

    #[test]
    fn keeps_its_digits_when_the_mean_is_large() {
        // A mean 500 standard deviations from zero: a one-pass sum of squares in f32
        // would lose the variance.
        let device = Device::flex().autodiff();
        device.seed(4);
        assert_matches_burn(Tensor::random(
            [4, 3, 6, 6],
            Distribution::Normal(500.0, 1.0),
            &device,
        ));
    }

    #[test]
    fn hands_other_backends_back() {
        let device = Device::flex();
        let input = Tensor::<3>::zeros([2, 3, 4], &device);
        let gamma = Tensor::<1>::ones([3], &device);
        let beta = Tensor::<1>::zeros([3], &device);
        assert!(batch_norm_flex(input, gamma, beta, 1e-5).is_err());
    }
}
