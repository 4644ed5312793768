//! 2×2 max pooling with stride 2, computed on flex by a kernel of this crate.
//!
//! burn-flex 0.22.1 pools through one general 3-D kernel that works out the bounds of
//! every window with integer divisions. At 32 channels of 28×28 that took 9.2 ms of a
//! 31 ms CNN training step (docs/benchmarks.md). For the window the CNN uses, each output
//! is the largest of four neighbours, and the backward pass sends each output's gradient
//! to the neighbour that won. Both are written here as a Burn backend extension for flex,
//! with its own backward step under autodiff; other backends keep Burn's `MaxPool2d`.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

use crate::flex::{dims4, flex_tensor, is_flex, with_values};

/// Applies `pool` to `input`, through this module's kernel where it computes the same
/// function: on flex, for f32 values, with 2×2 windows at stride 2 and no padding.
/// Elsewhere Burn's `MaxPool2d` runs.
///
/// Ties go to the first of the window's values in row order, and the last NaN in a window
/// wins over numbers, as in burn-flex, so values and gradients are Burn's own.
pub fn max_pool(pool: &MaxPool2d, input: Tensor<4>) -> Tensor<4> {
    let on_flex = is_flex(&input.device());
    let two_by_two = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && matches!(
            pool.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        );
    if on_flex && two_by_two && input.dtype() == DType::F32 {
        Tensor::from_dispatch(<Dispatch as WindowPooling>::max_pool_2x2(
            input.into_dispatch(),
        ))
    } else {
        pool.forward(input)
    }
}

#[backend_extension(Flex, Autodiff)]
trait WindowPooling: Backend {
    /// Takes the largest value of each 2×2 window of `[batch, channels, height, width]` at
    /// stride 2. An odd last row or column is left out.
    fn max_pool_2x2(input: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl WindowPooling for Flex {
    fn max_pool_2x2(input: FloatTensor<Self>) -> FloatTensor<Self> {
        pool_forward(&input).0
    }
}

impl<C: CheckpointStrategy> WindowPooling for Autodiff<Flex, C> {
    fn max_pool_2x2(input: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([input.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, winners) = pool_forward(input.primitive());
                prep.finish(winners, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(pool_forward(input.primitive()).0),
        }
    }
}

/// Corners that won the forward pass, one byte per output, kept for the backward pass:
/// 0 and 1 in a window's top row, 2 and 3 in its bottom row.
#[derive(Clone, Debug)]
struct Winners {
    input_shape: [usize; 4],
    corners: Arc<Vec<u8>>,
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = Winners;

    fn backward(self, ops: Ops<Winners, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let output_grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            grads.register::<Flex>(parent.id, pool_backward(&output_grad, &ops.state));
        }
    }
}

fn pool_forward(input: &FloatTensor<Flex>) -> (FloatTensor<Flex>, Winners) {
    let input_shape = dims4(input);
    let [batch, channels, height, width] = input_shape;
    let (out_height, out_width) = (height / 2, width / 2);
    let outputs = batch * channels * out_height * out_width;
    let mut output = vec![0.0f32; outputs];
    let mut corners = vec![0u8; outputs];
    if outputs > 0 {
        with_values(input, |values| {
            output
                .par_chunks_mut(out_height * out_width)
                .zip(corners.par_chunks_mut(out_height * out_width))
                .zip(values.par_chunks(height * width))
                .for_each(|((maxima, won), plane)| pool_plane(plane, width, maxima, won));
        });
    }
    let winners = Winners {
        input_shape,
        corners: Arc::new(corners),
    };
    (
        flex_tensor(output, [batch, channels, out_height, out_width]),
        winners,
    )
}

/// Pools one `[height, width]` plane into `maxima` and records the winning corners.
///
/// Without NaNs, the first maximum of a window is found as a small tournament: the first
/// of the top pair, the first of the bottom pair, then the top winner unless the bottom
/// one is strictly larger. The selects compile to vector blends. A plane holding a NaN
/// is scanned in order instead, so that the last NaN wins as in burn-flex.
fn pool_plane(plane: &[f32], width: usize, maxima: &mut [f32], won: &mut [u8]) {
    let out_width = width / 2;
    let row_pairs = plane
        .chunks_exact(2 * width)
        .zip(maxima.chunks_exact_mut(out_width))
        .zip(won.chunks_exact_mut(out_width));
    if plane.iter().any(|value| value.is_nan()) {
        for ((rows, maxima), won) in row_pairs {
            let (top, bottom) = rows.split_at(width);
            for (column, (maximum, corner)) in maxima.iter_mut().zip(won).enumerate() {
                let window = [
                    top[2 * column],
                    top[2 * column + 1],
                    bottom[2 * column],
                    bottom[2 * column + 1],
                ];
                (*maximum, *corner) = (window[0], 0);
                for (index, &value) in (1u8..).zip(&window[1..]) {
                    if value > *maximum || value.is_nan() {
                        (*maximum, *corner) = (value, index);
                    }
                }
            }
        }
        return;
    }
    for ((rows, maxima), won) in row_pairs {
        let (top, bottom) = rows.split_at(width);
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for ((maximum, corner), (top, bottom)) in maxima.iter_mut().zip(won).zip(windows) {
            let top_right = top[1] > top[0];
            let upper = if top_right { top[1] } else { top[0] };
            let bottom_right = bottom[1] > bottom[0];
            let lower = if bottom_right { bottom[1] } else { bottom[0] };
            let below = lower > upper;
            *maximum = if below { lower } else { upper };
            *corner = if below {
                2 + u8::from(bottom_right)
            } else {
                u8::from(top_right)
            };
        }
    }
}

fn pool_backward(output_grad: &FloatTensor<Flex>, winners: &Winners) -> FloatTensor<Flex> {
    let [batch, channels, height, width] = winners.input_shape;
    let (out_height, out_width) = (height / 2, width / 2);
    let mut input_grad = vec![0.0f32; batch * channels * height * width];
    if out_height * out_width > 0 {
        with_values(output_grad, |grads| {
            input_grad
                .par_chunks_mut(height * width)
                .zip(grads.par_chunks(out_height * out_width))
                .zip(winners.corners.par_chunks(out_height * out_width))
                .for_each(|((plane, grads), won)| {
                    let row_pairs = plane
                        .chunks_exact_mut(2 * width)
                        .zip(grads.chunks_exact(out_width))
                        .zip(won.chunks_exact(out_width));
                    for ((rows, grads), won) in row_pairs {
                        for (column, (&grad, &corner)) in grads.iter().zip(won).enumerate() {
                            let corner = usize::from(corner);
                            rows[(corner / 2) * width + 2 * column + corner % 2] = grad;
                        }
                    }
                });
        });
    }
    flex_tensor(input_grad, winners.input_shape)
}

#[cfg(test)]
mod tests {
    use burn::nn::pool::MaxPool2dConfig;
    use burn::tensor::{Device, Distribution, TensorData};

    use super::*;

    /// This module's kernel, called directly so that no fallback can stand in for it.
    fn kernel(input: Tensor<4>) -> Tensor<4> {
        Tensor::from_dispatch(<Dispatch as WindowPooling>::max_pool_2x2(
            input.into_dispatch(),
        ))
    }

    /// Checks values and input gradients against Burn's `MaxPool2d` on flex.
    fn assert_matches_burn(input: Tensor<4>) {
        let pool = MaxPool2dConfig::new([2, 2]).init();
        let device = input.device();
        let ours_input = input.clone().require_grad();
        let burns_input = input.require_grad();
        let ours = kernel(ours_input.clone());
        let burns = pool.forward(burns_input.clone());
        assert_eq!(ours.dims(), burns.dims());
        ours.to_data().assert_eq(&burns.to_data(), true);

        // Weighting each output differently makes a misplaced gradient show.
        let weights = Tensor::<4>::random(ours.dims(), Distribution::Normal(0.0, 1.0), &device);
        let ours_grads = (ours * weights.clone()).sum().backward();
        let burns_grads = (burns * weights).sum().backward();
        let ours_grad = ours_input.grad(&ours_grads).expect("our input gradient");
        let burns_grad = burns_input
            .grad(&burns_grads)
            .expect("Burn's input gradient");
        ours_grad.to_data().assert_eq(&burns_grad.to_data(), true);
    }

    #[test]
    fn matches_burn_on_random_values() {
        let device = Device::flex().autodiff();
        device.seed(5);
        assert_matches_burn(Tensor::random(
            [3, 4, 28, 28],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
    }

    #[test]
    fn matches_burn_on_odd_sides() {
        let device = Device::flex().autodiff();
        device.seed(6);
        assert_matches_burn(Tensor::random(
            [2, 3, 7, 5],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
    }

    #[test]
    fn pool_ties_pick_first_value() {
        // Values drawn from {0, 1, 2} tie often, as a constant background does after the
        // first convolution.
        let device = Device::flex().autodiff();
        device.seed(7);
        let input =
            Tensor::<4>::random([2, 2, 8, 8], Distribution::Uniform(0.0, 3.0), &device).floor();
        assert_matches_burn(input);
    }

    #[test]
    fn pool_nan_wins_window() {
        // Windows with one NaN, two NaNs, and none; the gradient shows which position won.
        let device = Device::flex().autodiff();
        let input = Tensor::<4>::from_floats(
            [[[
                [1.0, f32::NAN, 2.0, f32::NAN],
                [3.0, 4.0, f32::NAN, 0.0],
                [5.0, 6.0, 7.0, 8.0],
                [9.0, -1.0, 2.0, 3.0],
            ]]],
            &device,
        );
        let pool = MaxPool2dConfig::new([2, 2]).init();
        let ours_input = input.clone().require_grad();
        let burns_input = input.require_grad();
        let ours = kernel(ours_input.clone());
        let burns = pool.forward(burns_input.clone());

        let nan_mask = |tensor: &Tensor<4>| tensor.clone().is_nan().into_data();
        assert_eq!(nan_mask(&ours), nan_mask(&burns));
        assert_eq!(
            ours.clone().slice([0..1, 0..1, 1..2, 0..2]).into_data(),
            TensorData::from([[[[9.0f32, 8.0]]]])
        );

        let weights = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &device);
        let ours_grads = (ours * weights.clone()).sum().backward();
        let burns_grads = (burns * weights).sum().backward();
        ours_input
            .grad(&ours_grads)
            .expect("our input gradient")
            .to_data()
            .assert_eq(
                &burns_input
                    .grad(&burns_grads)
                    .expect("Burn's input gradient")
                    .to_data(),
                true,
            );
    }

    #[test]
    fn picks_the_window_maximum_without_autodiff() {
        let device = Device::flex();
        let input = Tensor::<4>::from_floats(
            [[[
                [1.0, 5.0, 2.0, 2.0],
                [3.0, 4.0, 2.0, 2.0],
                [-1.0, -2.0, 0.0, 9.0],
                [-3.0, -0.5, 8.0, 7.0],
            ]]],
            &device,
        );
        let pooled = max_pool(&MaxPool2dConfig::new([2, 2]).init(), input);
        pooled
            .to_data()
            .assert_eq(&TensorData::from([[[[5.0f32, 2.0], [-0.5, 9.0]]]]), true);
    }
}
