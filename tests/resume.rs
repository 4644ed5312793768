//! Interrupts `mnist-train` runs on real MNIST and resumes them. A resumed run must end with
//! the weights and test metrics of a run that was never stopped. `kill -9` must never leave
//! an unloadable file, and resuming with other settings must be rejected.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mnist_e2e::{binary, configured_logits_of, dataset_dir, describe, logits_of, read_json, run};
use mnist_model::{ModelConfig, ModelKind};
use tempfile::TempDir;

/// Exit code of a run that cannot be resumed, or that would discard an interrupted one.
const EXIT_RESUME: i32 = 10;
/// Exit code of a run stopped before it finished.
const EXIT_INTERRUPTED: i32 = 130;
/// Test hook of `mnist-train` that stops a run as the training split of an epoch starts.
const STOP_IN_EPOCH: &str = "MNIST_TRAIN_STOP_IN_EPOCH";

/// Three quick MLP epochs on 2,700 training and 300 validation images, not augmented,
/// so the resumed run also covers the plain batch path.
const MLP_RUN: [&str; 7] = [
    "--model",
    "mlp",
    "--limit",
    "3000",
    "--epochs",
    "3",
    "--no-augment",
];
/// Three CNN epochs on 720 images, so dropout, batch-norm statistics and the distortions
/// of augmentation must all continue where the stopped run left them.
const CNN_RUN: [&str; 6] = ["--model", "cnn", "--limit", "800", "--epochs", "3"];

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Builds an `mnist-train` command with plain progress, the verified data and `artifacts`.
fn train_command(flags: &[&str], artifacts: &Path) -> Command {
    let mut command = Command::new(binary("mnist-train"));
    command
        .args(flags)
        .args(["--progress", "plain"])
        .args(["--data-dir", path_text(&dataset_dir())])
        .args(["--artifact-dir", path_text(artifacts)]);
    command
}

fn train(flags: &[&str], artifacts: &Path) -> Output {
    run(&mut train_command(flags, artifacts))
}

fn train_stopped_in_epoch(flags: &[&str], artifacts: &Path, epoch: usize) -> Output {
    run(train_command(flags, artifacts).env(STOP_IN_EPOCH, epoch.to_string()))
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Trains `flags` without a stop and returns the artifact folder.
fn uninterrupted(flags: &[&str]) -> TempDir {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let output = train(flags, artifacts.path());
    assert!(output.status.success(), "{}", describe(&output));
    artifacts
}

/// Asserts that two finished runs of `kind` saved the same weights and test metrics.
fn assert_same_result(kind: ModelKind, expected: &Path, actual: &Path) {
    let run_dir = |artifacts: &Path| artifacts.join(kind.name());
    let expected_summary = read_json(&run_dir(expected).join("summary.json"));
    let actual_summary = read_json(&run_dir(actual).join("summary.json"));
    assert_eq!(
        expected_summary["test_accuracy"],
        actual_summary["test_accuracy"]
    );
    assert_eq!(expected_summary["test_loss"], actual_summary["test_loss"]);
    // Both runs share one configuration, which may give the CNN other layer sizes.
    let config: ModelConfig =
        serde_json::from_value(read_json(&run_dir(expected).join("config.json"))["model"].clone())
            .expect("model configuration");
    assert!(
        configured_logits_of(&config, &run_dir(expected).join("model.bpk"))
            == configured_logits_of(&config, &run_dir(actual).join("model.bpk")),
        "the resumed run saved other weights than the uninterrupted one"
    );
}

fn resume_matches_uninterrupted(kind: ModelKind, flags: &[&str], stop_in_epoch: usize) {
    let expected = uninterrupted(flags);
    let artifacts = tempfile::tempdir().expect("temporary folder");

    let stopped = train_stopped_in_epoch(flags, artifacts.path(), stop_in_epoch);
    assert_eq!(
        stopped.status.code(),
        Some(EXIT_INTERRUPTED),
        "{}",
        describe(&stopped)
    );
    let stderr = stderr_of(&stopped);
    let checkpoint_line = format!("checkpoint of epoch {}", stop_in_epoch - 1);
    assert!(stderr.contains(&checkpoint_line), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stopped_stdout = String::from_utf8_lossy(&stopped.stdout);
    assert!(
        stopped_stdout.contains(&format!("epoch {stop_in_epoch}/3 train"))
            && stopped_stdout.contains("stopped after"),
        "the partial epoch's line does not say it stopped: {stopped_stdout}"
    );

    let resumed = train(&[flags, &["--resume"]].concat(), artifacts.path());
    assert!(resumed.status.success(), "{}", describe(&resumed));
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    let resume_line = format!(
        "resuming from the checkpoint of epoch {}",
        stop_in_epoch - 1
    );
    assert!(stdout.contains(&resume_line), "{stdout}");
    let first_epoch = format!("epoch {stop_in_epoch}/3 train");
    assert!(
        stdout
            .lines()
            .find(|line| line.starts_with("epoch "))
            .is_some_and(|line| line.starts_with(&first_epoch)),
        "the resumed run did not start at epoch {stop_in_epoch}: {stdout}"
    );
    assert_same_result(kind, expected.path(), artifacts.path());
    assert_eq!(
        metric_columns(&expected.path().join(kind.name())),
        metric_columns(&artifacts.path().join(kind.name())),
        "metrics.csv of the resumed run differs from the uninterrupted one"
    );
}

/// Returns the rows of a run's `metrics.csv` without the two timing columns, which differ
/// between any two runs.
fn metric_columns(run_dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run_dir.join("metrics.csv")).expect("metrics.csv");
    let header: Vec<&str> = text.lines().next().expect("header").split(',').collect();
    let timing = |name: &str| name == "seconds" || name == "images_per_second";
    text.lines()
        .map(|line| {
            line.split(',')
                .zip(&header)
                .filter(|(_, name)| !timing(name))
                .map(|(value, _)| value)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn resumed_mlp_matches_uninterrupted() {
    resume_matches_uninterrupted(ModelKind::Mlp, &MLP_RUN, 2);
}

#[test]
fn resumed_cnn_matches_uninterrupted() {
    resume_matches_uninterrupted(ModelKind::Cnn, &CNN_RUN, 3);
}

/// The run stops in its undistorted last epoch, after an augmented one, and with a
/// third convolution, so the switch and the extra layer both survive the resume.
#[test]
fn resumed_cnn_with_unaugmented_end_matches() {
    let flags = [
        &CNN_RUN[..],
        &["--unaugmented-epochs", "1", "--channels", "8,16,16"],
    ]
    .concat();
    resume_matches_uninterrupted(ModelKind::Cnn, &flags, 3);
}

#[test]
fn fresh_run_keeps_interrupted_checkpoints() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let stopped = train_stopped_in_epoch(&MLP_RUN, artifacts.path(), 2);
    assert_eq!(stopped.status.code(), Some(EXIT_INTERRUPTED));
    let checkpoint = artifacts.path().join("mlp/checkpoint/model-1.bpk");
    let before = std::fs::read(&checkpoint).expect("checkpoint of epoch 1");

    let fresh = train(&MLP_RUN, artifacts.path());
    assert_eq!(
        fresh.status.code(),
        Some(EXIT_RESUME),
        "{}",
        describe(&fresh)
    );
    let stderr = stderr_of(&fresh);
    assert!(
        stderr.contains("interrupted run with a complete checkpoint of epoch 1"),
        "{stderr}"
    );
    assert!(stderr.contains("--restart"), "{stderr}");
    assert_eq!(std::fs::read(&checkpoint).expect("checkpoint kept"), before);

    let restarted = train(&[&MLP_RUN[..], &["--restart"]].concat(), artifacts.path());
    assert!(restarted.status.success(), "{}", describe(&restarted));
    assert!(artifacts.path().join("mlp/model.bpk").is_file());
}

#[test]
fn resume_with_other_settings_is_rejected() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let stopped = train_stopped_in_epoch(&MLP_RUN, artifacts.path(), 2);
    assert_eq!(stopped.status.code(), Some(EXIT_INTERRUPTED));

    let changed = [
        "--model", "mlp", "--limit", "2000", "--epochs", "4", "--seed", "1", "--resume",
    ];
    let output = train(&changed, artifacts.path());
    assert_eq!(
        output.status.code(),
        Some(EXIT_RESUME),
        "{}",
        describe(&output)
    );
    let stderr = stderr_of(&output);
    assert!(stderr.contains("epochs 3 → 4"), "{stderr}");
    assert!(stderr.contains("seed 42 → 1"), "{stderr}");
    assert!(stderr.contains("augmentation false → true"), "{stderr}");
    assert!(stderr.contains("limit 3000 → 2000"), "{stderr}");
    assert!(!stderr.contains("batch size"), "{stderr}");

    // The CNN's folder contains no interrupted run, whatever the MLP's contains.
    let other_model = train(&[&CNN_RUN[..], &["--resume"]].concat(), artifacts.path());
    assert_eq!(other_model.status.code(), Some(EXIT_RESUME));
    assert!(
        stderr_of(&other_model).contains("holds no interrupted run"),
        "{}",
        describe(&other_model)
    );

    // The rejected attempts left the checkpoint in place: the right flags still resume.
    let resumed = train(&[&MLP_RUN[..], &["--resume"]].concat(), artifacts.path());
    assert!(resumed.status.success(), "{}", describe(&resumed));
}

#[test]
fn resume_of_finished_run_is_rejected() {
    let artifacts = uninterrupted(&MLP_RUN);
    let output = train(&[&MLP_RUN[..], &["--resume"]].concat(), artifacts.path());
    assert_eq!(
        output.status.code(),
        Some(EXIT_RESUME),
        "{}",
        describe(&output)
    );
    assert!(
        stderr_of(&output).contains("already finished"),
        "{}",
        describe(&output)
    );
    // A finished run's checkpoints do not block a new run.
    let again = train(&MLP_RUN, artifacts.path());
    assert!(again.status.success(), "{}", describe(&again));
}

/// A process killed between Burn's three checkpoint writes of an epoch leaves that epoch
/// incomplete. Resuming falls back to the epoch before and still ends where an
/// uninterrupted run ends.
#[test]
fn resume_skips_incomplete_checkpoint() {
    let expected = uninterrupted(&MLP_RUN);
    for damage in ["truncate optim", "remove scheduler"] {
        let artifacts = tempfile::tempdir().expect("temporary folder");
        let stopped = train_stopped_in_epoch(&MLP_RUN, artifacts.path(), 3);
        assert_eq!(stopped.status.code(), Some(EXIT_INTERRUPTED), "{damage}");
        let checkpoint_dir = artifacts.path().join("mlp/checkpoint");
        match damage {
            "truncate optim" => {
                let path = checkpoint_dir.join("optim-2.bpk");
                let bytes = std::fs::read(&path).expect("optimizer checkpoint of epoch 2");
                std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
            }
            _ => std::fs::remove_file(checkpoint_dir.join("scheduler-2.bpk"))
                .expect("schedule checkpoint of epoch 2"),
        }

        let resumed = train(&[&MLP_RUN[..], &["--resume"]].concat(), artifacts.path());
        assert!(resumed.status.success(), "{damage}: {}", describe(&resumed));
        let stdout = String::from_utf8_lossy(&resumed.stdout);
        assert!(
            stdout.contains("resuming from the checkpoint of epoch 1"),
            "{damage}: {stdout}"
        );
        let stderr = stderr_of(&resumed);
        assert!(
            stderr.contains("skipping incomplete or unreadable checkpoint files of epoch 2"),
            "{damage}: {stderr}"
        );
        assert_same_result(ModelKind::Mlp, expected.path(), artifacts.path());
    }
}

/// A loss that turns NaN right after resuming may come from a damaged checkpoint, for
/// which a lower learning rate is no cure, so the message also offers --restart.
#[test]
fn divergence_after_resume_offers_restart() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let stopped = train_stopped_in_epoch(&MLP_RUN, artifacts.path(), 2);
    assert_eq!(
        stopped.status.code(),
        Some(EXIT_INTERRUPTED),
        "{}",
        describe(&stopped)
    );

    let mut resume = train_command(&[&MLP_RUN[..], &["--resume"]].concat(), artifacts.path());
    let resumed = run(resume.env("MNIST_TRAIN_INJECT_NAN_AT_STEP", "3"));
    let stderr = stderr_of(&resumed);
    assert_eq!(resumed.status.code(), Some(9), "{}", describe(&resumed));
    assert!(stderr.contains("lower --learning-rate"), "{stderr}");
    assert!(
        stderr.contains("resumed from the checkpoint of epoch 1"),
        "{stderr}"
    );
    assert!(stderr.contains("--restart"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A run killed after its last checkpoint but before saving resumes into evaluation and
/// saving alone, and prints that instead of a training time of zero. Marking a finished
/// run's description as unfinished simulates the kill.
#[test]
fn resume_after_last_epoch_only_evaluates() {
    let artifacts = uninterrupted(&MLP_RUN);
    let manifest = artifacts.path().join("mlp/checkpoint/run.json");
    let text = std::fs::read_to_string(&manifest).expect("run description");
    assert!(text.contains("\"finished\": true"), "{text}");
    std::fs::write(
        &manifest,
        text.replace("\"finished\": true", "\"finished\": false"),
    )
    .expect("rewrite run description");

    let resumed = train(&[&MLP_RUN[..], &["--resume"]].concat(), artifacts.path());
    assert!(resumed.status.success(), "{}", describe(&resumed));
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    assert!(stdout.contains("no epoch was left to train"), "{stdout}");
    assert!(!stdout.contains("trained in"), "{stdout}");
}

/// When no checkpoint of an interrupted run loads, resuming names the damaged epochs
/// instead of claiming that none finished.
#[test]
fn resume_with_every_checkpoint_damaged_names_them() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let stopped = train_stopped_in_epoch(&MLP_RUN, artifacts.path(), 3);
    assert_eq!(
        stopped.status.code(),
        Some(EXIT_INTERRUPTED),
        "{}",
        describe(&stopped)
    );
    let checkpoint_dir = artifacts.path().join("mlp/checkpoint");
    for epoch in [1, 2] {
        std::fs::write(
            checkpoint_dir.join(format!("model-{epoch}.bpk")),
            b"damaged",
        )
        .expect("overwrite model checkpoint");
    }

    let resumed = train(&[&MLP_RUN[..], &["--resume"]].concat(), artifacts.path());
    let stderr = stderr_of(&resumed);
    assert_eq!(
        resumed.status.code(),
        Some(EXIT_RESUME),
        "{}",
        describe(&resumed)
    );
    assert!(stderr.contains("the files of epoch 1, 2"), "{stderr}");
    assert!(stderr.contains("--restart"), "{stderr}");
    assert!(!stderr.contains("first epoch"), "{stderr}");
}

/// Starts a run, reads its progress until `line_prefix` appears, waits `delay_ms` and then
/// sends SIGKILL. Returns whether the run had already finished on its own.
fn kill_after_line(flags: &[&str], artifacts: &Path, line_prefix: &str, delay_ms: u64) -> bool {
    let mut child = train_command(flags, artifacts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mnist-train");
    let stdout = child.stdout.take().expect("piped stdout");
    for line in BufReader::new(stdout).lines() {
        if line.expect("UTF-8 progress").starts_with(line_prefix) {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(delay_ms));
    let _ = child.kill();
    let status = child.wait().expect("wait for mnist-train");
    status.success()
}

/// Asserts that every checkpoint file left in `checkpoint_dir` loads as an MLP record.
fn assert_model_checkpoints_load(checkpoint_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(checkpoint_dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("checkpoint entry").path();
        let name = path.file_name().expect("file name").to_string_lossy();
        if name.starts_with("model-") && name.ends_with(".bpk") {
            logits_of(ModelKind::Mlp, &path);
        }
    }
}

/// Sends SIGKILL at points around checkpoint and record writes. The record of an earlier
/// run must stay loadable and unchanged until a new one replaces it whole, and every
/// checkpoint left behind must load. Resuming after all the kills must end where an
/// uninterrupted run ends.
#[test]
fn kill_9_never_leaves_a_partial_file() {
    let flags = ["--model", "mlp", "--limit", "3000", "--epochs", "8"];
    let expected = uninterrupted(&flags);
    let artifacts = tempfile::tempdir().expect("temporary folder");
    // An earlier finished run in the same folder, whose record must survive every kill.
    let earlier = train(
        &["--model", "mlp", "--limit", "1000", "--epochs", "1"],
        artifacts.path(),
    );
    assert!(earlier.status.success(), "{}", describe(&earlier));
    let record = artifacts.path().join("mlp/model.bpk");
    let earlier_logits = logits_of(ModelKind::Mlp, &record);
    let expected_logits = logits_of(ModelKind::Mlp, &expected.path().join("mlp/model.bpk"));

    // Kill right after an epoch's validation line, while Burn writes its checkpoint, and a
    // few milliseconds later. The last kills land while the final record is written.
    let kill_points = [
        ("epoch 2/8 valid", 0),
        ("epoch 3/8 valid", 3),
        ("epoch 5/8 valid", 0),
        ("epoch 6/8 valid", 6),
        ("epoch 8/8 valid", 2),
        ("epoch 8/8 valid", 15),
    ];
    let mut started = false;
    for (line, delay_ms) in kill_points {
        // The first attempt starts the run and later ones resume it.
        let mode = if started { "--resume" } else { "--restart" };
        let finished = kill_after_line(
            &[&flags[..], &[mode]].concat(),
            artifacts.path(),
            line,
            delay_ms,
        );
        started = true;
        assert_model_checkpoints_load(&artifacts.path().join("mlp/checkpoint"));
        if finished {
            break;
        }
        let logits = logits_of(ModelKind::Mlp, &record);
        assert!(
            logits == earlier_logits || logits == expected_logits,
            "model.bpk is neither the earlier record nor the finished one after a kill at \
             {line:?} + {delay_ms} ms"
        );
    }

    let output = train(&[&flags[..], &["--resume"]].concat(), artifacts.path());
    let finished_already = output.status.code() == Some(EXIT_RESUME)
        && stderr_of(&output).contains("already finished");
    assert!(
        output.status.success() || finished_already,
        "{}",
        describe(&output)
    );
    assert_same_result(ModelKind::Mlp, expected.path(), artifacts.path());
}
