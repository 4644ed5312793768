//! Burn's view of MNIST: a seeded split of the training set into training and validation
//! indices, and a batcher that turns indices into normalised image tensors.
//!
//! Items are indices into one shared [`MnistSplit`], so a batch is assembled from the
//! contiguous pixel buffer in one pass, with no per-image tensor.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::tensor::{Device, Int, Tensor, TensorData};
use mnist_model::{MnistBatch, normalize_pixel};

use crate::augment::Augmentation;
use crate::{IMAGE_PIXELS, IMAGE_SIDE, MnistSplit};

/// Indices of the training set chosen for training and for validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainValidSplit {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
}

/// Splits `0..total` into training and validation indices.
///
/// The indices are shuffled with `seed`; the first `limit` of them (all when `None`) form
/// the pool, and `valid_fraction` of the pool, rounded, is held out for validation. Both
/// parts keep at least one image. The permutation comes from SplitMix64 and a
/// Fisher-Yates shuffle written here, so a seed gives the same split on every platform and
/// with every version of the `rand` crate.
pub fn split_train_valid(
    total: usize,
    valid_fraction: f64,
    seed: u64,
    limit: Option<usize>,
) -> TrainValidSplit {
    let mut indices: Vec<usize> = (0..total).collect();
    shuffle_indices(&mut indices, seed);
    indices.truncate(limit.unwrap_or(total).min(total));

    let pool = indices.len();
    let valid_len = ((pool as f64 * valid_fraction).round() as usize).clamp(1, pool.max(2) - 1);
    let valid = indices.split_off(pool - valid_len.min(pool));
    TrainValidSplit {
        train: indices,
        valid,
    }
}

/// Shuffles `indices` in place with a Fisher-Yates shuffle driven by SplitMix64 from `seed`.
pub(crate) fn shuffle_indices(indices: &mut [usize], seed: u64) {
    let mut state = seed;
    for i in (1..indices.len()).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        indices.swap(i, j);
    }
}

/// Advances a SplitMix64 state and returns the next value (Steele, Lea and Flood, 2014).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Wraps indices into a Burn dataset.
pub fn index_dataset(indices: Vec<usize>) -> InMemDataset<usize> {
    InMemDataset::new(indices)
}

/// Builds [`MnistBatch`]es from indices into one split.
#[derive(Clone)]
pub struct MnistBatcher {
    split: Arc<MnistSplit>,
    /// Normalised value of each of the 256 pixel intensities.
    lookup: Arc<[f32; 256]>,
}

impl MnistBatcher {
    /// Creates a batcher over `split`.
    pub fn new(split: Arc<MnistSplit>) -> Self {
        let mut lookup = [0.0; 256];
        for (byte, value) in lookup.iter_mut().enumerate() {
            *value = normalize_pixel(byte as f32 / 255.0);
        }
        Self {
            split,
            lookup: Arc::new(lookup),
        }
    }

    /// Assembles the batch of the given image indices on `device`.
    pub fn batch_indices(&self, indices: &[usize], device: &Device) -> MnistBatch {
        let mut pixels = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
        let mut labels = Vec::with_capacity(indices.len());
        for &index in indices {
            pixels.extend(
                self.split
                    .image(index)
                    .iter()
                    .map(|&p| self.lookup[p as usize]),
            );
            labels.push(i64::from(self.split.label(index)));
        }
        let shape = [indices.len(), 1, IMAGE_SIDE, IMAGE_SIDE];
        let images = Tensor::<4>::from_data(TensorData::new(pixels, shape), device);
        let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [indices.len()]), device);
        MnistBatch { images, targets }
    }
}

impl MnistBatcher {
    /// Assembles the batch of the given image indices, each distorted by `augmentation`
    /// with a seed drawn from `seed` and the image's index.
    pub fn batch_distorted(
        &self,
        indices: &[usize],
        augmentation: &Augmentation,
        seed: u64,
        device: &Device,
    ) -> MnistBatch {
        self.distorted_pixels(indices, augmentation, seed)
            .into_batch(device)
    }

    /// Computes the normalised pixels and labels of [`MnistBatcher::batch_distorted`]
    /// without building tensors, so that another thread can prepare them.
    pub fn distorted_pixels(
        &self,
        indices: &[usize],
        augmentation: &Augmentation,
        seed: u64,
    ) -> PreparedBatch {
        let mut pixels = vec![0.0f32; indices.len() * IMAGE_PIXELS];
        let mut labels = Vec::with_capacity(indices.len());
        for (&index, output) in indices.iter().zip(pixels.chunks_exact_mut(IMAGE_PIXELS)) {
            let mut state = seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            augmentation.distort(self.split.image(index), splitmix64(&mut state), output);
            for value in output.iter_mut() {
                *value = normalize_pixel(*value / 255.0);
            }
            labels.push(i64::from(self.split.label(index)));
        }
        PreparedBatch { pixels, labels }
    }
}

/// Normalised pixels and labels of a batch, ready to become tensors.
pub struct PreparedBatch {
    pixels: Vec<f32>,
    labels: Vec<i64>,
}

impl PreparedBatch {
    /// Moves the batch onto `device` as `[images, 1, 28, 28]` pixels and `[images]` labels.
    pub fn into_batch(self, device: &Device) -> MnistBatch {
        let images = self.labels.len();
        let shape = [images, 1, IMAGE_SIDE, IMAGE_SIDE];
        MnistBatch {
            images: Tensor::<4>::from_data(TensorData::new(self.pixels, shape), device),
            targets: Tensor::<1, Int>::from_data(TensorData::new(self.labels, [images]), device),
        }
    }
}

impl Batcher<usize, MnistBatch> for MnistBatcher {
    fn batch(&self, items: Vec<usize>, device: &Device) -> MnistBatch {
        self.batch_indices(&items, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_disjoint_and_complete() {
        let split = split_train_valid(1000, 0.1, 7, None);
        assert_eq!(split.train.len(), 900);
        assert_eq!(split.valid.len(), 100);
        let mut all: Vec<usize> = split.train.iter().chain(&split.valid).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn split_depends_only_on_seed() {
        assert_eq!(
            split_train_valid(500, 0.2, 3, None),
            split_train_valid(500, 0.2, 3, None)
        );
        assert_ne!(
            split_train_valid(500, 0.2, 3, None),
            split_train_valid(500, 0.2, 4, None)
        );
    }

    #[test]
    fn split_limit_shrinks_both_parts() {
        let split = split_train_valid(60_000, 0.1, 42, Some(2000));
        assert_eq!(split.train.len(), 1800);
        assert_eq!(split.valid.len(), 200);
    }

    #[test]
    fn split_keeps_one_image_on_each_side() {
        let split = split_train_valid(10, 0.001, 1, None);
        assert_eq!(split.valid.len(), 1);
        let split = split_train_valid(10, 0.999, 1, None);
        assert_eq!(split.train.len(), 1);
    }

    #[test]
    fn splitmix64_matches_reference_output() {
        // First output for seed 0 from the reference C implementation by Sebastiano Vigna
        // (prng.di.unimi.it/splitmix64.c).
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn batcher_normalises_and_shapes() {
        let mut images = vec![0u8; 2 * IMAGE_PIXELS];
        images[IMAGE_PIXELS] = 255;
        let split = Arc::new(MnistSplit {
            images,
            labels: vec![3, 9],
        });
        let batch = MnistBatcher::new(split).batch_indices(&[1, 0], &Device::flex());
        assert_eq!(batch.images.dims(), [2, 1, 28, 28]);
        let pixels = batch
            .images
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("f32 data");
        // (1.0 - 0.1307) / 0.3081 and (0.0 - 0.1307) / 0.3081.
        assert!((pixels[0] - 2.821_486).abs() < 1e-5);
        assert!((pixels[1] + 0.424_213).abs() < 1e-5);
        assert_eq!(
            batch
                .targets
                .into_data()
                .try_into_vec_as::<i64>()
                .expect("i64 data"),
            vec![9, 3]
        );
    }
}
