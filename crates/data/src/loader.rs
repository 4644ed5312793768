//! A data loader whose batch order depends only on the seed and the epoch number.
//!
//! Burn's `BatchDataLoader` draws each epoch's shuffle from one random generator that
//! advances as epochs go by, so a run resumed at epoch 4 would see the order of epoch 1
//! again. [`EpochLoader`] derives the permutation of epoch `e` from `(seed, e)` alone, which
//! gives a resumed run exactly the batches of an uninterrupted run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::tensor::Device;
use mnist_model::MnistBatch;

use crate::augment::Augmentation;
use crate::dataset::{MnistBatcher, PreparedBatch, shuffle_indices, splitmix64};

/// Distorted batches that the background thread may prepare ahead of training.
const BATCHES_AHEAD: usize = 4;

/// Batches a fixed list of image indices, shuffled per epoch when a seed is set.
///
/// Every call to [`DataLoader::iter`] starts the next epoch. Burn's learner calls it once
/// per epoch, on the training thread, so the epoch count stays in step with the learner's.
/// Clones made by `to_device` and `slice` share that count.
#[derive(Clone)]
pub struct EpochLoader {
    batcher: MnistBatcher,
    indices: Arc<Vec<usize>>,
    batch_size: usize,
    /// Seed of the per-epoch shuffle; `None` keeps the indices in their given order.
    shuffle_seed: Option<u64>,
    /// Random distortion of every image, drawn per epoch from the shuffle seed.
    augmentation: Option<Augmentation>,
    /// Last epoch whose images are distorted; later ones serve the images as they are.
    last_augmented_epoch: usize,
    device: Device,
    /// Number of the epoch that the next `iter` call serves, starting at 1.
    next_epoch: Arc<AtomicUsize>,
}

impl EpochLoader {
    /// Creates a loader whose first `iter` call serves epoch `first_epoch`.
    ///
    /// With `shuffle_seed`, each epoch visits the indices in the order that
    /// [`epoch_order`] gives for that epoch, and the backend's random generator (dropout)
    /// is reseeded from the same pair, so training randomness never depends on how many
    /// epochs this process has run. Batches hold `batch_size` images, the last one fewer.
    pub fn new(
        batcher: MnistBatcher,
        indices: Vec<usize>,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        device: Device,
        first_epoch: usize,
    ) -> Self {
        assert!(batch_size > 0, "batch size must be positive");
        Self {
            batcher,
            indices: Arc::new(indices),
            batch_size,
            shuffle_seed,
            augmentation: None,
            last_augmented_epoch: usize::MAX,
            device,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch.max(1))),
        }
    }
}

impl EpochLoader {
    /// Distorts every image by `augmentation`, differently in each epoch. Needs a shuffle
    /// seed, from which the distortions are drawn.
    pub fn with_augmentation(mut self, augmentation: Augmentation) -> Self {
        assert!(
            self.shuffle_seed.is_some(),
            "augmentation draws from the shuffle seed"
        );
        self.augmentation = Some(augmentation);
        self
    }

    /// Stops distorting images after epoch `epoch`, so that the last epochs train on the
    /// images as they are, like the test images.
    pub fn augment_until(mut self, epoch: usize) -> Self {
        self.last_augmented_epoch = epoch;
        self
    }
}

/// Returns the order in which epoch `epoch` (counted from 1) of a run seeded with `seed`
/// visits `indices`.
pub fn epoch_order(indices: &[usize], seed: u64, epoch: usize) -> Vec<usize> {
    let mut order = indices.to_vec();
    shuffle_indices(&mut order, epoch_seed(seed, epoch));
    order
}

/// Mixes the run seed with an epoch number into an independent seed for that epoch.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut state = seed ^ (epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    splitmix64(&mut state)
}

impl DataLoader<MnistBatch> for EpochLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<MnistBatch> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        let order = match self.shuffle_seed {
            Some(seed) => {
                self.device.seed(epoch_seed(seed.wrapping_add(1), epoch));
                Arc::new(epoch_order(&self.indices, seed, epoch))
            }
            None => self.indices.clone(),
        };
        let distortion_seed = self
            .shuffle_seed
            .filter(|_| epoch <= self.last_augmented_epoch)
            .map(|seed| epoch_seed(seed.wrapping_add(2), epoch));
        let distorted = match (&self.augmentation, distortion_seed) {
            (Some(augmentation), Some(seed)) => distort_ahead(
                self.batcher.clone(),
                order.clone(),
                self.batch_size,
                *augmentation,
                seed,
            ),
            _ => None,
        };
        Box::new(EpochIterator {
            loader: self,
            order,
            position: 0,
            distortion_seed,
            distorted,
        })
    }

    fn num_items(&self) -> usize {
        self.indices.len()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<MnistBatch>> {
        let mut loader = self.clone();
        loader.device = device.clone();
        Arc::new(loader)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<MnistBatch>> {
        let end = end.min(self.indices.len());
        let mut loader = self.clone();
        loader.indices = Arc::new(self.indices[start.min(end)..end].to_vec());
        Arc::new(loader)
    }
}

/// Starts a thread that distorts the batches of one epoch in `order`, and returns the
/// channel that delivers them in that order, with the thread's handle.
///
/// The distortions take about 0.7 ms per batch of 64 on one core. The training step
/// would otherwise wait for them, while the backend's threads leave the cores partly
/// idle. Each image's distortion depends only on `seed` and its index, so the batches
/// are the same as when computed on the training thread. The thread ends when the epoch
/// is done or when the receiver is dropped, as when training stops early. Returns `None`
/// when no thread can be started, and the caller then distorts on its own thread.
fn distort_ahead(
    batcher: MnistBatcher,
    order: Arc<Vec<usize>>,
    batch_size: usize,
    augmentation: Augmentation,
    seed: u64,
) -> Option<Prefetch> {
    let (sender, receiver) = sync_channel(BATCHES_AHEAD);
    let thread = std::thread::Builder::new()
        .name("distort".to_string())
        .spawn(move || {
            for indices in order.chunks(batch_size) {
                let batch = batcher.distorted_pixels(indices, &augmentation, seed);
                if sender.send(batch).is_err() {
                    return;
                }
            }
        })
        .ok()?;
    Some(Prefetch {
        receiver,
        thread: Some(thread),
    })
}

/// Receiver of the batches that [`distort_ahead`] prepares, with its thread's handle.
struct Prefetch {
    receiver: Receiver<PreparedBatch>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Returns the next batch, or the reason why the thread stopped sending.
    fn next(&mut self) -> Result<PreparedBatch, String> {
        if let Ok(batch) = self.receiver.recv() {
            return Ok(batch);
        }
        // The sender is gone before the epoch's end: the thread returned or panicked.
        let panic = self.thread.take().and_then(|thread| thread.join().err());
        let detail = panic
            .as_ref()
            .and_then(|payload| {
                payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
            })
            .unwrap_or("no message");
        Err(format!(
            "the thread distorting training images stopped early: {detail}"
        ))
    }
}

struct EpochIterator<'a> {
    loader: &'a EpochLoader,
    order: Arc<Vec<usize>>,
    position: usize,
    /// Seed of this epoch's distortions, used when the loader augments.
    distortion_seed: Option<u64>,
    /// This epoch's distorted batches, when the loader augments and a thread prepares
    /// them.
    distorted: Option<Prefetch>,
}

impl Iterator for EpochIterator<'_> {
    type Item = Result<MnistBatch, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.order.len() {
            return None;
        }
        let end = (self.position + self.loader.batch_size).min(self.order.len());
        let device = &self.loader.device;
        let indices = &self.order[self.position..end];
        let batcher = &self.loader.batcher;
        let batch = match (
            &mut self.distorted,
            &self.loader.augmentation,
            self.distortion_seed,
        ) {
            (Some(prefetch), _, _) => match prefetch.next() {
                Ok(prepared) => prepared.into_batch(device),
                Err(reason) => {
                    return Some(Err(DatasetError::new(std::io::Error::other(reason))));
                }
            },
            (None, Some(augmentation), Some(seed)) => {
                batcher.batch_distorted(indices, augmentation, seed, device)
            }
            _ => batcher.batch_indices(indices, device),
        };
        self.position = end;
        Some(Ok(batch))
    }
}

impl DataLoaderIterator<MnistBatch> for EpochIterator<'_> {
    fn progress(&self) -> Progress {
        Progress::new(self.position, self.order.len(), Some("images".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IMAGE_PIXELS;
    use crate::MnistSplit;

    /// Builds a split whose image `i` has label `i % 10`, so labels identify the images.
    fn labelled_split(images: usize) -> Arc<MnistSplit> {
        Arc::new(MnistSplit {
            images: vec![0; images * IMAGE_PIXELS],
            labels: (0..images).map(|i| (i % 10) as u8).collect(),
        })
    }

    fn epoch_labels(loader: &EpochLoader) -> Vec<i64> {
        loader
            .iter()
            .flat_map(|batch| {
                batch
                    .expect("in-memory batches cannot fail")
                    .targets
                    .into_data()
                    .try_into_vec_as::<i64>()
                    .expect("i64 labels")
            })
            .collect()
    }

    #[test]
    fn epoch_order_depends_on_seed_and_epoch() {
        let indices: Vec<usize> = (0..100).collect();
        assert_eq!(epoch_order(&indices, 5, 3), epoch_order(&indices, 5, 3));
        assert_ne!(epoch_order(&indices, 5, 3), epoch_order(&indices, 5, 4));
        assert_ne!(epoch_order(&indices, 5, 3), epoch_order(&indices, 6, 3));
        let mut sorted = epoch_order(&indices, 5, 3);
        sorted.sort_unstable();
        assert_eq!(sorted, indices);
    }

    #[test]
    fn distorted_batches_prepared_ahead_match_direct_distortion() {
        // Pixels from a fixed pattern, so that each distortion changes them.
        let images = 40;
        let split = Arc::new(MnistSplit {
            images: (0..images * IMAGE_PIXELS)
                .map(|i| ((i * 37) % 251) as u8)
                .collect(),
            labels: (0..images).map(|i| (i % 10) as u8).collect(),
        });
        let batcher = MnistBatcher::new(split);
        let indices: Vec<usize> = (0..images).collect();
        let augmentation = Augmentation::default();
        let loader = EpochLoader::new(
            batcher.clone(),
            indices.clone(),
            16,
            Some(9),
            Device::flex(),
            2,
        )
        .with_augmentation(augmentation);
        let order = epoch_order(&indices, 9, 2);
        let seed = epoch_seed(9u64.wrapping_add(2), 2);
        let batches: Vec<MnistBatch> = loader.iter().map(|b| b.expect("batch")).collect();
        assert_eq!(batches.len(), 3);
        for (batch, chunk) in batches.into_iter().zip(order.chunks(16)) {
            let direct = batcher.batch_distorted(chunk, &augmentation, seed, &Device::flex());
            assert_eq!(batch.images.into_data(), direct.images.into_data());
            assert_eq!(batch.targets.into_data(), direct.targets.into_data());
        }
    }

    #[test]
    fn distorting_thread_ends_when_epoch_is_dropped() {
        let split = labelled_split(640);
        let batcher = MnistBatcher::new(split.clone());
        let loader = EpochLoader::new(batcher, (0..640).collect(), 8, Some(3), Device::flex(), 1)
            .with_augmentation(Augmentation::default());
        // The test and the loader's batcher hold the split.
        assert_eq!(Arc::strong_count(&split), 2);
        let mut epoch = loader.iter();
        assert!(epoch.next().expect("first batch").is_ok());
        drop(epoch);
        // The thread's batcher lets go of the split once the thread has returned.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&split) > 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(Arc::strong_count(&split), 2);
    }

    #[test]
    fn loader_started_later_matches_uninterrupted() {
        let batcher = MnistBatcher::new(labelled_split(50));
        let indices: Vec<usize> = (0..50).collect();
        let make = |first_epoch| {
            EpochLoader::new(
                batcher.clone(),
                indices.clone(),
                8,
                Some(42),
                Device::flex(),
                first_epoch,
            )
        };
        let uninterrupted = make(1);
        let epochs: Vec<Vec<i64>> = (0..3).map(|_| epoch_labels(&uninterrupted)).collect();
        assert_ne!(epochs[0], epochs[1]);
        let resumed = make(3);
        assert_eq!(epoch_labels(&resumed), epochs[2]);
    }

    fn epoch_pixels(loader: &EpochLoader) -> Vec<f32> {
        loader
            .iter()
            .flat_map(|batch| {
                batch
                    .expect("in-memory batches cannot fail")
                    .images
                    .into_data()
                    .try_into_vec_as::<f32>()
                    .expect("f32 pixels")
            })
            .collect()
    }

    #[test]
    fn augmented_loader_started_later_matches_uninterrupted() {
        // Image i is a horizontal bar in row 10 + i % 5, so distortions show in the pixels.
        let mut images = vec![0u8; 30 * IMAGE_PIXELS];
        for (i, image) in images.chunks_exact_mut(IMAGE_PIXELS).enumerate() {
            let row = 10 + i % 5;
            image[row * 28 + 8..row * 28 + 20].fill(255);
        }
        let split = Arc::new(MnistSplit {
            images,
            labels: vec![1; 30],
        });
        let make = |first_epoch| {
            EpochLoader::new(
                MnistBatcher::new(split.clone()),
                (0..30).collect(),
                8,
                Some(7),
                Device::flex(),
                first_epoch,
            )
            .with_augmentation(Augmentation::default())
        };
        let uninterrupted = make(1);
        let epochs: Vec<Vec<f32>> = (0..2).map(|_| epoch_pixels(&uninterrupted)).collect();
        assert_ne!(epochs[0], epochs[1]);
        assert_eq!(epoch_pixels(&make(2)), epochs[1]);

        let plain = EpochLoader::new(
            MnistBatcher::new(split.clone()),
            (0..30).collect(),
            8,
            Some(7),
            Device::flex(),
            1,
        );
        assert_ne!(
            epoch_pixels(&plain),
            epochs[0],
            "augmentation changed nothing"
        );
    }

    #[test]
    fn epochs_after_augment_until_are_undistorted() {
        let split = Arc::new(MnistSplit {
            images: (0..24 * IMAGE_PIXELS)
                .map(|i| ((i * 37) % 251) as u8)
                .collect(),
            labels: vec![3; 24],
        });
        let make = |augment: bool| {
            let loader = EpochLoader::new(
                MnistBatcher::new(split.clone()),
                (0..24).collect(),
                8,
                Some(5),
                Device::flex(),
                1,
            );
            if augment {
                loader
                    .with_augmentation(Augmentation::default())
                    .augment_until(2)
            } else {
                loader
            }
        };
        let (switched, plain) = (make(true), make(false));
        for epoch in 1..=3 {
            let (switched_pixels, plain_pixels) = (epoch_pixels(&switched), epoch_pixels(&plain));
            if epoch <= 2 {
                assert_ne!(switched_pixels, plain_pixels, "epoch {epoch} undistorted");
            } else {
                // Same order and pixels: only the distortion stops.
                assert_eq!(switched_pixels, plain_pixels, "epoch {epoch} distorted");
            }
        }
    }

    #[test]
    fn loader_without_seed_keeps_order_and_batch_sizes() {
        let loader = EpochLoader::new(
            MnistBatcher::new(labelled_split(20)),
            (0..20).collect(),
            8,
            None,
            Device::flex(),
            1,
        );
        let sizes: Vec<usize> = loader
            .iter()
            .map(|batch| batch.expect("in-memory batch").images.dims()[0])
            .collect();
        assert_eq!(sizes, vec![8, 8, 4]);
        let labels = epoch_labels(&loader);
        let expected: Vec<i64> = (0..20).map(|i| i % 10).collect();
        assert_eq!(labels, expected);
    }
}
