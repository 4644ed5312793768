//! Shared helpers of the end-to-end tests: where the binaries and the data are, and how to
//! run a binary and read what it printed.

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Returns the workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package sits inside the workspace")
        .to_path_buf()
}

/// Returns the path of a workspace binary built in the same profile as this test.
///
/// Cargo puts test executables in `<profile>/deps/` and binaries in `<profile>/`, and
/// builds every binary of the workspace before running `cargo test --workspace`.
pub fn binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("path of the running test");
    let profile_dir = test_exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in <profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing; build it with `cargo build --release --workspace --bins`",
        path.display()
    );
    path
}

/// Returns the folder of the verified MNIST files, failing the test when it is empty.
pub fn dataset_dir() -> PathBuf {
    let dir = workspace_root().join("datasets").join("mnist");
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        assert!(
            dir.join(name).is_file(),
            "{} is missing; run `make data` before the tests",
            dir.join(name).display()
        );
    }
    dir
}

/// Runs `command` with no terminal and returns its output.
pub fn run(command: &mut Command) -> Output {
    command
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"))
}

/// Returns standard output and standard error as text, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
}

/// Loads a saved record of `kind` on flex and returns its logits for the first 64 test
/// images, so that tests can compare weights through what the model computes. Record files
/// of equal weights differ: Burn gives each parameter a random id.
pub fn logits_of(kind: mnist_model::ModelKind, record: &Path) -> Vec<f32> {
    configured_logits_of(&mnist_model::ModelConfig::new(kind), record)
}

/// Loads `record` into the model that `config` describes and returns its logits for the
/// first 64 test images.
pub fn configured_logits_of(config: &mnist_model::ModelConfig, record: &Path) -> Vec<f32> {
    use burn::module::Module;
    use burn::tensor::Device;
    use mnist_data::dataset::MnistBatcher;
    use mnist_data::{Split, load_split};

    let device = Device::flex();
    let model = config
        .init(&device)
        .try_load_file(record)
        .unwrap_or_else(|error| panic!("{}: {error}", record.display()))
        .valid();
    let test =
        std::sync::Arc::new(load_split(&dataset_dir(), Split::Test).expect("verified test set"));
    let indices: Vec<usize> = (0..64).collect();
    let batch = MnistBatcher::new(test).batch_indices(&indices, &device);
    model
        .forward(batch.images)
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 logits")
}
