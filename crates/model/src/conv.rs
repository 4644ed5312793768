//! The CNN's second convolution in training on flex, with a weight gradient of this crate.
//!
//! Burn 0.22.1 computes a convolution's weight gradient as a convolution over the input
//! and the output gradient with their batch and channel axes swapped, which copies both
//! first. The bias gradient swaps axes again before summing. For the CNN's 3×3
//! convolution of 32 channels into 64 at 14×14, that backward pass took 7.8 to 10.3 ms in
//! runs of `make bench` (docs/benchmarks.md). Here the weight gradient is one matrix
//! product of the input planes, shifted by each kernel tap, with the output gradient, and
//! the bias gradient one sum per channel. The forward pass and the input gradient stay
//! flex's.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, FloatDType, Shape, Tensor};
use rayon::prelude::*;

use crate::flex::{dims4, flex_tensor, is_flex, lane_sum, with_values};

/// Applies `conv` to `input` in training on flex through this module's backward pass,
/// where `conv` has a bias, stride 1, no dilation or grouping, and an odd kernel padded
/// by half on every side, as the CNN's convolutions are. Elsewhere `conv.forward` runs.
pub fn same_convolution(conv: &Conv2d, input: Tensor<4>) -> Tensor<4> {
    let device = input.device();
    let on_flex = is_flex(&device);
    let [_, _, kernel_h, kernel_w] = conv.weight.dims();
    let padded_by_half = matches!(conv.padding, PaddingConfig2d::Explicit(t, l, b, r)
        if t == kernel_h / 2 && b == kernel_h / 2 && l == kernel_w / 2 && r == kernel_w / 2);
    let supported = conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && kernel_h % 2 == 1
        && kernel_w % 2 == 1
        && padded_by_half;
    let all_f32 = |bias: &Param<Tensor<1>>| {
        [input.dtype(), conv.weight.dtype(), bias.dtype()] == [DType::F32; 3]
    };
    match &conv.bias {
        Some(bias) if on_flex && device.is_autodiff() && supported && all_f32(bias) => {
            Tensor::from_dispatch(<Dispatch as SameConvolution>::convolve_same(
                input.into_dispatch(),
                conv.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
            ))
        }
        _ => conv.forward(input),
    }
}

#[backend_extension(Flex, Autodiff)]
trait SameConvolution: Backend {
    /// Convolves `[batch, inputs, height, width]` at stride 1 by `weight` of
    /// `[outputs, inputs, kernel_h, kernel_w]`, adds `bias`, and pads to keep the size.
    fn convolve_same(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Returns flex's options for a stride-1 convolution by `weight`, padded by half its kernel.
fn options(weight: &FloatTensor<Flex>) -> ConvOptions<2> {
    let shape = weight.layout().shape();
    ConvOptions::new([1, 1], [shape[2] / 2, shape[3] / 2], [1, 1], 1)
}

impl SameConvolution for Flex {
    fn convolve_same(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let options = options(&weight);
        Flex::conv2d(input, weight, Some(bias), options)
    }
}

impl<C: CheckpointStrategy> SameConvolution for Autodiff<Flex, C> {
    fn convolve_same(
        input: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let forward = || {
            Flex::convolve_same(
                input.primitive().clone(),
                weight.primitive().clone(),
                bias.primitive().clone(),
            )
        };
        match ConvBackward
            .prepare::<C>([input.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let saved = (input.primitive().clone(), weight.primitive().clone());
                prep.finish(saved, forward())
            }
            OpsKind::UnTracked(prep) => prep.finish(forward()),
        }
    }
}

#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    /// The input and the weight.
    type State = (FloatTensor<Flex>, FloatTensor<Flex>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [input_node, weight_node, bias_node] = ops.parents;
        let output_grad = grads.consume::<Flex>(&ops.node);
        let (input, weight) = ops.state;
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, bias_gradient(&output_grad));
        }
        if let Some(node) = weight_node {
            let shape = weight.layout().shape().clone();
            grads.register::<Flex>(node.id, weight_gradient(&input, &output_grad, shape));
        }
        if let Some(node) = input_node {
            let options = options(&weight);
            grads.register::<Flex>(
                node.id,
                Flex::conv2d_x_backward(input, weight, output_grad, options),
            );
        }
    }
}

/// Sums the output gradient over the batch and the pixels of each channel.
fn bias_gradient(output_grad: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    let [batch, channels, height, width] = dims4(output_grad);
    let pixels = height * width;
    let sums: Vec<f32> = with_values(output_grad, |grads| {
        (0..channels)
            .into_par_iter()
            .map(|channel| {
                let sum: f64 = (0..batch)
                    .map(|item| {
                        let start = (item * channels + channel) * pixels;
                        lane_sum(&grads[start..start + pixels], |value| value)
                    })
                    .sum();
                sum as f32
            })
            .collect()
    });
    flex_tensor(sums, [channels])
}

/// Computes `∂weight[o, i, ky, kx] = Σ ∂output[o, p] · input[i, p shifted by (ky, kx)]`
/// over images and pixels `p`, as each input plane shifted by each kernel tap, a
/// `[taps, batch · pixels]` matrix, times the output gradient as `[batch · pixels, outputs]`.
///
/// A shifted plane is a copy of whole rows, so building the matrix runs at copy speed.
fn weight_gradient(
    input: &FloatTensor<Flex>,
    output_grad: &FloatTensor<Flex>,
    weight_shape: Shape,
) -> FloatTensor<Flex> {
    let [batch, inputs, height, width] = dims4(input);
    let [outputs, _, kernel_h, kernel_w] = [
        weight_shape[0],
        weight_shape[1],
        weight_shape[2],
        weight_shape[3],
    ];
    let pixels = height * width;
    let taps = inputs * kernel_h * kernel_w;
    if taps * batch * pixels == 0 {
        // An empty batch or image: no product to compute, and no rows to split.
        return Flex::float_zeros(weight_shape, &Default::default(), FloatDType::F32);
    }

    let mut shifted = vec![0.0f32; taps * batch * pixels];
    with_values(input, |values| {
        shifted
            .par_chunks_mut(batch * pixels)
            .enumerate()
            .for_each(|(tap, row)| {
                let channel = tap / (kernel_h * kernel_w);
                let (ky, kx) = ((tap / kernel_w) % kernel_h, tap % kernel_w);
                for (item, out) in row.chunks_exact_mut(pixels).enumerate() {
                    let plane = &values[(item * inputs + channel) * pixels..][..pixels];
                    for (y, out_line) in out.chunks_exact_mut(width).enumerate() {
                        // Rows and columns shifted in from outside the image stay zero.
                        let Some(source_y) = (y + ky)
                            .checked_sub(kernel_h / 2)
                            .filter(|&source_y| source_y < height)
                        else {
                            continue;
                        };
                        let line = &plane[source_y * width..][..width];
                        if kx >= kernel_w / 2 {
                            let shift = (kx - kernel_w / 2).min(width);
                            out_line[..width - shift].copy_from_slice(&line[shift..]);
                        } else {
                            let shift = (kernel_w / 2 - kx).min(width);
                            out_line[shift..].copy_from_slice(&line[..width - shift]);
                        }
                    }
                }
            });
    });
    let shifted = flex_tensor(shifted, [taps, batch * pixels]);

    // [batch, outputs, pixels] → [batch, pixels, outputs] → [batch · pixels, outputs]
    let grads = Flex::float_reshape(output_grad.clone(), Shape::new([batch, outputs, pixels]));
    let grads = Flex::float_swap_dims(grads, 1, 2);
    let grads = Flex::float_reshape(grads, Shape::new([batch * pixels, outputs]));
    let gradient = Flex::float_matmul(shifted, grads); // [taps, outputs]
    let gradient = Flex::float_swap_dims(gradient, 0, 1);
    Flex::float_reshape(gradient, weight_shape)
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::compare::{assert_same_gradient, relative_gap};

    /// Compares output and gradients with Burn's `Conv2d` for a `kernel` padded by half.
    fn assert_matches_burn(input_shape: [usize; 4], outputs: usize, kernel: [usize; 2]) {
        let device = Device::flex().autodiff();
        device.seed(9);
        let conv = Conv2dConfig::new([input_shape[1], outputs], kernel)
            .with_padding(PaddingConfig2d::Explicit(
                kernel[0] / 2,
                kernel[1] / 2,
                kernel[0] / 2,
                kernel[1] / 2,
            ))
            .init(&device);
        let input = Tensor::<4>::random(input_shape, Distribution::Normal(0.0, 1.0), &device);
        let ours_input = input.clone().require_grad();
        let burns_input = input.require_grad();
        let ours = same_convolution(&conv, ours_input.clone());
        let burns = conv.forward(burns_input.clone());
        let gap = relative_gap(ours.clone(), burns.clone());
        assert!(gap < 1e-6, "outputs differ by {gap}");

        let weights = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
        let ours_grads = (ours * weights.clone()).sum().backward();
        let burns_grads = (burns * weights).sum().backward();
        let flat = |tensor: Option<Tensor<4>>| tensor.map(|t| t.flatten::<1>(0, 3));
        let bias = conv.bias.as_ref().expect("a bias");
        let pairs = [
            (
                "input",
                flat(ours_input.grad(&ours_grads)),
                flat(burns_input.grad(&burns_grads)),
            ),
            (
                "weight",
                flat(conv.weight.grad(&ours_grads)),
                flat(conv.weight.grad(&burns_grads)),
            ),
            ("bias", bias.grad(&ours_grads), bias.grad(&burns_grads)),
        ];
        for (name, ours, burns) in pairs {
            assert_same_gradient(name, ours, burns, 1e-5);
        }
    }

    #[test]
    fn matches_burn_for_the_cnns_shape() {
        assert_matches_burn([3, 32, 14, 14], 64, [3, 3]);
    }

    #[test]
    fn matches_burn_for_other_kernels_and_sides() {
        assert_matches_burn([2, 3, 7, 5], 4, [3, 5]);
        assert_matches_burn([2, 2, 6, 9], 3, [1, 1]);
    }
}
