//! Runs `mnist-train` into artifact folders that fill up or turn read-only, on small tmpfs
//! mounts: each failure must name the folder and the fix, exit with code 8, and leave the
//! record of an earlier run loadable and unchanged.
//!
//! Mounting needs root. Elsewhere these tests print why they did not run and pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mnist_e2e::{binary, dataset_dir, describe, run};

/// Exit code of artifacts that cannot be written.
const EXIT_ARTIFACTS: i32 = 8;

/// A tmpfs mounted on a temporary folder, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `kilobytes`, or returns `None` where this process may not mount.
    fn mount(kilobytes: usize) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary folder");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kilobytes}k"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(status) if status.success() => Some(Self { dir }),
            _ => {
                eprintln!("not run: mounting a tmpfs needs root (or CAP_SYS_ADMIN)");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remounting read-only failed");
    }

    /// Fills the file system until `kilobytes` remain free.
    fn fill_leaving(&self, kilobytes: u64) {
        let output = Command::new("df")
            .args(["--output=avail", "-k"])
            .arg(self.path())
            .output()
            .expect("run df");
        let available: u64 = String::from_utf8_lossy(&output.stdout)
            .lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .expect("df prints the free kilobytes");
        let filler = vec![0u8; (available.saturating_sub(kilobytes) * 1024) as usize];
        std::fs::write(self.path().join("filler"), filler).expect("write filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn train(artifacts: &Path, extra: &[&str]) -> Output {
    run(Command::new(binary("mnist-train"))
        .args(["--model", "mlp", "--limit", "1000", "--progress", "plain"])
        .args(extra)
        .args(["--data-dir", dataset_dir().to_str().expect("UTF-8 path")])
        .arg("--artifact-dir")
        .arg(artifacts))
}

/// Trains one epoch into `artifacts` and returns the bytes of the record and summary.
fn earlier_run(artifacts: &Path) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let output = train(artifacts, &["--epochs", "1"]);
    assert!(output.status.success(), "{}", describe(&output));
    let run_dir = artifacts.join("mlp");
    let record = std::fs::read(run_dir.join("model.bpk")).expect("earlier record");
    let summary = std::fs::read(run_dir.join("summary.json")).expect("earlier summary");
    (run_dir, record, summary)
}

fn assert_earlier_run_intact(run_dir: &Path, record: &[u8], summary: &[u8]) {
    assert!(
        std::fs::read(run_dir.join("model.bpk")).expect("record still there") == record,
        "the earlier record changed"
    );
    assert_eq!(
        std::fs::read(run_dir.join("summary.json")).expect("summary still there"),
        summary
    );
}

#[test]
fn full_disk_during_checkpoint_keeps_earlier_record() {
    // An MLP checkpoint takes about 1.3 MB (model 0.44 MB, Adam state 0.88 MB) and the
    // record 0.44 MB. After the earlier run, the new run deletes its 1.3 MB checkpoint,
    // writes epoch 1's into that space and then finds 200 kB for epoch 2's.
    let Some(disk) = Tmpfs::mount(4096) else {
        return;
    };
    let (run_dir, record, summary) = earlier_run(disk.path());
    disk.fill_leaving(200);

    let output = train(disk.path(), &["--epochs", "3"]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_ARTIFACTS),
        "{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write a checkpoint"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_earlier_run_intact(&run_dir, &record, &summary);
}

#[test]
fn full_disk_during_record_keeps_earlier_record() {
    // The new run's one checkpoint fits in the space its deleted predecessor freed; the
    // record then finds 200 kB for its 0.44 MB.
    let Some(disk) = Tmpfs::mount(4096) else {
        return;
    };
    let (run_dir, record, summary) = earlier_run(disk.path());
    disk.fill_leaving(200);

    let output = train(disk.path(), &["--epochs", "1", "--seed", "3"]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_ARTIFACTS),
        "{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot save the model record"), "{stderr}");
    assert!(stderr.contains("disk has space"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_earlier_run_intact(&run_dir, &record, &summary);
}

#[test]
fn read_only_artifact_folder_is_reported() {
    let Some(disk) = Tmpfs::mount(4096) else {
        return;
    };
    let (run_dir, record, summary) = earlier_run(disk.path());
    disk.remount_read_only();

    let output = train(disk.path(), &["--epochs", "1"]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_ARTIFACTS),
        "{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(run_dir.to_str().expect("UTF-8")),
        "{stderr}"
    );
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    assert!(stderr.contains("writable"), "{stderr}");
    assert_earlier_run_intact(&run_dir, &record, &summary);
}
