//! Helpers shared by this crate's flex kernels: recognising a flex device, reading the
//! values of a flex tensor, making one from a vector, and summing in vector lanes.

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{DispatchDevice, Flex};
use burn::tensor::{Device, TensorData};

/// Tells whether `device` is flex's, with or without autodiff.
pub(crate) fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// Calls `read` with the f32 values of `tensor` in row-major order. A view that is not
/// contiguous, starts at an offset or shares a larger buffer is copied first.
pub(crate) fn with_values<T>(tensor: &FloatTensor<Flex>, read: impl FnOnce(&[f32]) -> T) -> T {
    let tensor = tensor.to_contiguous();
    let (start, end) = tensor
        .layout()
        .contiguous_offsets()
        .expect("to_contiguous returns a contiguous tensor");
    read(&tensor.storage::<f32>()[start..end])
}

/// Makes a flex tensor of `shape` from `values` in row-major order, without a copy.
pub(crate) fn flex_tensor<const D: usize>(
    values: Vec<f32>,
    shape: [usize; D],
) -> FloatTensor<Flex> {
    Flex::float_from_data(TensorData::new(values, shape), &Default::default())
}

/// Returns the four dimensions of a 4-D flex tensor.
pub(crate) fn dims4(tensor: &FloatTensor<Flex>) -> [usize; 4] {
    let shape = tensor.layout().shape();
    assert_eq!(shape.num_dims(), 4, "expected a 4-D tensor, got {shape:?}");
    [shape[0], shape[1], shape[2], shape[3]]
}

/// Sums `term` of each value in eight f32 lanes, so that the compiler can keep them in one
/// vector register, and adds the lanes up in f64. Each lane sums in f32, so a long slice
/// keeps f32 precision; callers sum rows of at most a few thousand values.
pub(crate) fn lane_sum(values: &[f32], term: impl Fn(f32) -> f32) -> f64 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane += term(value);
        }
    }
    let tail: f64 = rest.iter().map(|&value| f64::from(term(value))).sum();
    lanes.iter().map(|&lane| f64::from(lane)).sum::<f64>() + tail
}

/// Sums `term` of each pair of values from `first` and `second`, as [`lane_sum`] does.
pub(crate) fn lane_sum_pairs(first: &[f32], second: &[f32], term: impl Fn(f32, f32) -> f32) -> f64 {
    assert_eq!(
        first.len(),
        second.len(),
        "lane_sum_pairs takes slices of one length"
    );
    let mut lanes = [0.0f32; 8];
    let split = first.len() - first.len() % 8;
    for (a, b) in first.chunks_exact(8).zip(second.chunks_exact(8)) {
        for ((lane, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
            *lane += term(a, b);
        }
    }
    let tail: f64 = first[split..]
        .iter()
        .zip(&second[split..])
        .map(|(&a, &b)| f64::from(term(a, b)))
        .sum();
    lanes.iter().map(|&lane| f64::from(lane)).sum::<f64>() + tail
}
