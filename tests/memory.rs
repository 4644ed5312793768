//! Checks that a CNN training run on flex keeps its resident memory flat: growth from epoch
//! to epoch would mean tensors, autodiff graphs or metric history piling up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use mnist_e2e::{binary, dataset_dir};

/// Returns a memory figure of process `pid` in kibibytes from `/proc/<pid>/status`:
/// `VmRSS` (resident now) or `VmHWM` (the peak resident so far).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} line in /proc/{pid}/status"))
}

/// Resident memory after epoch 5 must not exceed that after epoch 2 by more than 10 %, nor
/// may the peak resident memory. Epoch 1 is left out: allocator pools and kernel caches
/// fill during it. The current figure is read while checkpoints are written, so it may
/// also drop; only growth counts as a leak.
#[test]
fn cnn_memory_stays_flat_over_epochs() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let mut child = Command::new(binary("mnist-train"))
        .args(["--model", "cnn", "--limit", "6000", "--epochs", "5"])
        .args(["--progress", "plain"])
        .arg("--data-dir")
        .arg(dataset_dir())
        .arg("--artifact-dir")
        .arg(artifacts.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mnist-train");
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped stdout");
    let mut resident = Vec::new();
    let mut peak = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("UTF-8 progress");
        if line.starts_with("epoch ") && line.contains(" valid ") {
            resident.push(status_kib(pid, "VmRSS"));
            peak.push(status_kib(pid, "VmHWM"));
        }
    }
    let status = child.wait().expect("wait for mnist-train");
    assert!(status.success(), "training failed with {status}");
    assert_eq!(resident.len(), 5, "one reading per epoch: {resident:?}");

    eprintln!("resident memory after each epoch, KiB: {resident:?}; peak: {peak:?}");
    let (second, fifth) = (resident[1] as f64, resident[4] as f64);
    assert!(
        fifth <= second * 1.10,
        "resident memory went from {second} KiB after epoch 2 to {fifth} KiB after epoch 5"
    );
    let (second_peak, fifth_peak) = (peak[1] as f64, peak[4] as f64);
    assert!(
        fifth_peak <= second_peak * 1.10,
        "peak resident memory went from {second_peak} KiB after epoch 2 to {fifth_peak} KiB \
         after epoch 5"
    );
}
