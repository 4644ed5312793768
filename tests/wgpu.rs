//! The wgpu path on a real adapter: a software Vulkan driver (Mesa's lavapipe) where the
//! machine has no GPU. Kept small, because lavapipe runs kernels on the CPU.

use std::process::Command;
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::Device;
use mnist_data::dataset::MnistBatcher;
use mnist_data::{Split, load_split};
use mnist_e2e::{binary, dataset_dir, describe, read_json, run};
use mnist_model::{ModelConfig, ModelKind};
use mnist_train::BackendKind;

/// Opens wgpu, failing with the install step when no adapter is present.
fn wgpu_device() -> Device {
    match BackendKind::Wgpu.open() {
        Ok(opened) => opened.device,
        Err(error) => panic!(
            "{error}\nthe wgpu tests need a Vulkan driver; `make setup-wgpu` installs Mesa's \
             software driver"
        ),
    }
}

/// Largest difference between logits of the same weights on flex and on wgpu. Both
/// compute in f32, but in different orders, so results agree to rounding only.
const LOGIT_TOLERANCE: f32 = 1e-3;

fn forward_agrees(kind: ModelKind) {
    let cpu = Device::flex();
    cpu.seed(3);
    let model = ModelConfig::new(kind).init(&cpu);
    let record = tempfile::tempdir().expect("temporary folder");
    let path = record.path().join("model.bpk");
    model.clone().save_file(&path).expect("save record");

    let gpu = wgpu_device();
    let gpu_model = ModelConfig::new(kind)
        .init(&gpu)
        .try_load_file(&path)
        .expect("the record loads on wgpu")
        .valid();
    let cpu_model = model.valid();

    let test = Arc::new(load_split(&dataset_dir(), Split::Test).expect("verified test set"));
    let batcher = MnistBatcher::new(test);
    let indices: Vec<usize> = (0..16).collect();
    let cpu_logits = cpu_model.forward(batcher.batch_indices(&indices, &cpu).images);
    let gpu_logits = gpu_model.forward(batcher.batch_indices(&indices, &gpu).images);

    let cpu_values = cpu_logits
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 logits");
    let gpu_values = gpu_logits
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 logits");
    assert_eq!(cpu_values.len(), 16 * 10);
    assert_eq!(gpu_values.len(), 16 * 10);
    let largest = cpu_values
        .iter()
        .zip(&gpu_values)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        largest < LOGIT_TOLERANCE,
        "{kind}: logits differ by up to {largest}"
    );
}

#[test]
fn wgpu_mlp_forward_matches_flex() {
    forward_agrees(ModelKind::Mlp);
}

#[test]
fn wgpu_cnn_forward_matches_flex() {
    forward_agrees(ModelKind::Cnn);
}

#[test]
fn wgpu_trains_a_few_steps_through_the_binary() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    // 320 images less 10 % for validation: five steps of 64 images including a last
    // partial one.
    let output = run(Command::new(binary("mnist-train")).args([
        "--backend",
        "wgpu",
        "--limit",
        "320",
        "--epochs",
        "1",
        "--data-dir",
        dataset_dir().to_str().expect("UTF-8 path"),
        "--artifact-dir",
        artifacts.path().to_str().expect("UTF-8 path"),
    ]));
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("wgpu runs on"),
        "adapter not reported: {stderr}"
    );

    let summary = read_json(&artifacts.path().join("mlp/summary.json"));
    assert_eq!(summary["backend"], "wgpu");
    assert_eq!(summary["train_images"], 288);
    assert!(summary["adapter"].is_string(), "{summary}");
    let accuracy = summary["test_accuracy"].as_f64().expect("test_accuracy");
    // Five steps lift a 10-class model above chance (10 %) but not far.
    assert!(accuracy > 0.1, "test accuracy {accuracy} after five steps");
}

/// A wgpu adapter that is not there is an error naming the CPU backend, with exit code 7
/// and no panic. `CUBECL_WGPU_DEFAULT_DEVICE` (documented with Burn's `DeviceKind`) requests
/// a fourth discrete GPU, which the machines running these tests do not have.
#[test]
fn wgpu_without_adapter_suggests_cpu() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let output = run(Command::new(binary("mnist-train"))
        .env("CUBECL_WGPU_DEFAULT_DEVICE", "DiscreteGpu(3)")
        .args(["--backend", "wgpu", "--limit", "200", "--epochs", "1"])
        .args(["--data-dir", dataset_dir().to_str().expect("UTF-8 path")])
        .args([
            "--artifact-dir",
            artifacts.path().to_str().expect("UTF-8 path"),
        ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{}", describe(&output));
    assert!(stderr.contains("backend wgpu is unavailable"), "{stderr}");
    assert!(stderr.contains("--backend flex"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!artifacts.path().join("mlp/model.bpk").exists());
}
