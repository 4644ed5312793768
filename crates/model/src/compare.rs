//! Comparisons of this crate's layer forms with Burn's modules, for the unit tests.

use burn::tensor::Tensor;

/// Returns the largest absolute difference between two tensors, relative to the
/// reference's largest magnitude, or to 1e-3 where that is smaller.
pub(crate) fn relative_gap<const D: usize>(actual: Tensor<D>, expected: Tensor<D>) -> f32 {
    let scale = expected.clone().abs().max().into_scalar::<f32>().max(1e-3);
    (actual - expected).abs().max().into_scalar::<f32>() / scale
}

/// Asserts that two optional gradients exist and agree within `tolerance`, relative as in
/// [`relative_gap`].
pub(crate) fn assert_same_gradient<const D: usize>(
    name: &str,
    actual: Option<Tensor<D>>,
    expected: Option<Tensor<D>>,
    tolerance: f32,
) {
    let actual = actual.unwrap_or_else(|| panic!("{name}: no gradient"));
    let expected = expected.unwrap_or_else(|| panic!("{name}: no reference gradient"));
    let gap = relative_gap(actual, expected);
    assert!(gap < tolerance, "{name}: gradients differ by {gap}");
}
