//! Continuing an interrupted run from its last complete checkpoint.
//!
//! A run writes `checkpoint/run.json` before its first step: the full configuration and
//! whether the run finished. Burn's checkpointer then writes three burnpack files per
//! epoch (model, optimizer, learning-rate schedule), each by an atomic rename but
//! independently of each other, so a process killed at the wrong moment can leave an epoch
//! with only some of them. An epoch counts as complete when all three exist and load.

use std::fs;
use std::path::{Path, PathBuf};

use burn::lr_scheduler::LrSchedulerRecord;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use crate::artifacts::{self, CHECKPOINT_DIR};
use crate::{TrainError, TrainingConfig};

/// Name of the run description inside the checkpoint folder.
pub const MANIFEST_FILE: &str = "run.json";

/// The three files Burn's default checkpointers write for each epoch.
const CHECKPOINT_PARTS: [&str; 3] = ["model", "optim", "scheduler"];

/// Burn's per-epoch metric logs, one `epoch-<n>` folder per epoch in each.
const METRIC_LOG_DIRS: [&str; 2] = ["train", "valid"];

/// Contents of `checkpoint/run.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunManifest {
    /// The configuration as JSON, in the format of `config.json`.
    pub config: serde_json::Value,
    /// Whether the run trained all its epochs and saved its record.
    pub finished: bool,
}

/// Starting point of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// From freshly initialised weights, at epoch 1.
    Fresh,
    /// From the checkpoint of the given epoch; training continues with the next one.
    Resume(usize),
}

impl Start {
    /// Returns the number of the first epoch this process trains.
    pub fn first_epoch(self) -> usize {
        match self {
            Start::Fresh => 1,
            Start::Resume(epoch) => epoch + 1,
        }
    }
}

/// Prepares `run_dir` for a run and returns where it starts.
///
/// A fresh run clears the checkpoints and metric logs of any earlier run, but rejects
/// discarding an interrupted run that has a complete checkpoint unless `restart` is set.
/// A resumed run checks that `config` matches the interrupted one, removes whatever the
/// interrupted run wrote after its last complete checkpoint, and returns that epoch.
/// Either way, the record, configuration and summary of an earlier finished run stay
/// until this run replaces them.
pub fn prepare(
    run_dir: &Path,
    config: &TrainingConfig,
    resume: bool,
    restart: bool,
) -> Result<Start, TrainError> {
    artifacts::create_dir(run_dir)?;
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    let start = if resume {
        let manifest = read_manifest(&checkpoint_dir)?;
        let epoch = resumable_epoch(&checkpoint_dir, manifest.as_ref(), config)?;
        remove_after(run_dir, epoch)?;
        Start::Resume(epoch)
    } else {
        // An unreadable description counts as an interrupted run: its checkpoints may
        // still be worth resuming by hand.
        let interrupted = read_manifest(&checkpoint_dir).map_or(true, |manifest| {
            manifest.is_some_and(|manifest| !manifest.finished)
        });
        if !restart
            && interrupted
            && let Some(epoch) = last_complete_checkpoint(&checkpoint_dir)
        {
            return Err(TrainError::Resume(format!(
                "{} holds an interrupted run with a complete checkpoint of epoch {epoch}; \
                 continue it with --resume (RESUME=1), or pass --restart (RESTART=1) to \
                 delete its checkpoints and train from the start",
                checkpoint_dir.display()
            )));
        }
        for stale in [CHECKPOINT_DIR, METRIC_LOG_DIRS[0], METRIC_LOG_DIRS[1]] {
            remove_dir(&run_dir.join(stale))?;
        }
        Start::Fresh
    };
    artifacts::create_dir(&checkpoint_dir)?;
    write_manifest(&checkpoint_dir, config, false)?;
    Ok(start)
}

/// Marks the run in `run_dir` as finished, so that a later fresh run may replace its
/// checkpoints and `--resume` reports that nothing is left to do.
pub fn mark_finished(run_dir: &Path, config: &TrainingConfig) -> Result<(), TrainError> {
    write_manifest(&run_dir.join(CHECKPOINT_DIR), config, true)
}

/// Removes the run description of a run that diverged, so that a new run with a lower
/// learning rate starts without `--restart`. Its checkpoints stay until that run starts.
pub fn forget(run_dir: &Path) -> Result<(), TrainError> {
    let path = run_dir.join(CHECKPOINT_DIR).join(MANIFEST_FILE);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(TrainError::Artifact { path, source }),
    }
}

/// Returns the last epoch whose model, optimizer and schedule checkpoints all load.
pub fn last_complete_checkpoint(checkpoint_dir: &Path) -> Option<usize> {
    checkpoint_epochs(checkpoint_dir)
        .into_iter()
        .rev()
        .find(|&epoch| checkpoint_loads(checkpoint_dir, epoch))
}

fn resumable_epoch(
    checkpoint_dir: &Path,
    manifest: Option<&RunManifest>,
    config: &TrainingConfig,
) -> Result<usize, TrainError> {
    let dir = checkpoint_dir.display();
    let Some(manifest) = manifest else {
        return Err(TrainError::Resume(format!(
            "cannot resume: {dir} holds no interrupted run ({MANIFEST_FILE} is missing); train without \
             --resume to start one"
        )));
    };
    if manifest.finished {
        return Err(TrainError::Resume(format!(
            "cannot resume: the run in {dir} already finished all its epochs; train without --resume to \
             start a new one"
        )));
    }
    let saved = serde_json::from_value::<TrainingConfig>(manifest.config.clone())
        .map_err(|error| {
            TrainError::Resume(format!(
                "cannot resume: {}: invalid run description ({error}); pass --restart (RESTART=1) to \
                 train from the start",
                checkpoint_dir.join(MANIFEST_FILE).display()
            ))
        })?;
    let differences = incompatible_settings(&saved, config);
    if !differences.is_empty() {
        return Err(TrainError::Resume(format!(
            "cannot resume: the interrupted run in {dir} used different settings: {}; resume with the \
             same flags, or pass --restart (RESTART=1) to train from the start",
            differences.join(", ")
        )));
    }
    // A checkpoint of the last epoch resumes too: the run then only evaluates and saves.
    match last_complete_checkpoint(checkpoint_dir) {
        Some(epoch) => {
            let skipped: Vec<String> = checkpoint_epochs(checkpoint_dir)
                .into_iter()
                .filter(|&later| later > epoch)
                .map(|later| later.to_string())
                .collect();
            if !skipped.is_empty() {
                crate::errln!(
                    "warning: skipping incomplete or unreadable checkpoint files of epoch {} in \
                     {dir}, as a process killed while writing them leaves; training resumes \
                     after epoch {epoch}",
                    skipped.join(", ")
                );
            }
            Ok(epoch)
        }
        None => {
            let found = checkpoint_epochs(checkpoint_dir);
            Err(TrainError::Resume(if found.is_empty() {
                format!(
                    "cannot resume: {dir} holds no checkpoint, because the interrupted run \
                     stopped before it finished its first epoch or its checkpoints were \
                     removed; pass --restart (RESTART=1) to train from the start"
                )
            } else {
                let epochs: Vec<String> = found.iter().map(|epoch| epoch.to_string()).collect();
                format!(
                    "cannot resume: no checkpoint in {dir} can be read: the files of epoch {} \
                     are damaged or incomplete; pass --restart (RESTART=1) to train from the \
                     start",
                    epochs.join(", ")
                )
            }))
        }
    }
}

/// Lists the settings that must match between an interrupted run and its continuation,
/// as `name saved → requested`. The backend may change: its result differs only by
/// floating-point rounding.
fn incompatible_settings(saved: &TrainingConfig, requested: &TrainingConfig) -> Vec<String> {
    let mut differences = Vec::new();
    let mut compare = |name: &str, saved: String, requested: String| {
        if saved != requested {
            differences.push(format!("{name} {saved} → {requested}"));
        }
    };

    compare(
        "model",
        saved.model.kind.to_string(),
        requested.model.kind.to_string(),
    );
    // Each CNN setting with a flag gets its own line. The rest of the model configuration
    // changes only when config.json is edited, so it is compared as a whole.
    let (saved_cnn, requested_cnn) = (&saved.model.cnn, &requested.model.cnn);
    compare(
        "channels",
        saved_cnn.channels_text(),
        requested_cnn.channels_text(),
    );
    compare(
        "hidden units",
        saved_cnn.hidden.to_string(),
        requested_cnn.hidden.to_string(),
    );
    compare(
        "dropout",
        saved_cnn.dropout.to_string(),
        requested_cnn.dropout.to_string(),
    );
    let mut rest = requested.model.clone();
    rest.cnn = saved_cnn.clone();
    compare(
        "model configuration",
        format!("{:?}", saved.model),
        format!("{rest:?}"),
    );
    compare(
        "epochs",
        saved.epochs.to_string(),
        requested.epochs.to_string(),
    );
    compare(
        "batch size",
        saved.batch_size.to_string(),
        requested.batch_size.to_string(),
    );
    compare(
        "learning rate",
        saved.learning_rate.to_string(),
        requested.learning_rate.to_string(),
    );
    compare(
        "learning-rate schedule",
        saved.lr_schedule.to_string(),
        requested.lr_schedule.to_string(),
    );
    compare(
        "weight decay",
        saved.applied_weight_decay().unwrap_or(0.0).to_string(),
        requested.applied_weight_decay().unwrap_or(0.0).to_string(),
    );
    compare(
        "augmentation",
        saved.augment.to_string(),
        requested.augment.to_string(),
    );
    compare(
        "unaugmented epochs",
        saved.unaugmented_epochs.unwrap_or(0).to_string(),
        requested.unaugmented_epochs.unwrap_or(0).to_string(),
    );
    compare("seed", saved.seed.to_string(), requested.seed.to_string());
    compare(
        "validation fraction",
        saved.valid_fraction.to_string(),
        requested.valid_fraction.to_string(),
    );
    let limit = |limit: Option<usize>| limit.map_or("none".to_string(), |n| n.to_string());
    compare("limit", limit(saved.limit), limit(requested.limit));

    // The model kind is reported once; its configuration only when the kinds agree.
    if saved.model.kind != requested.model.kind {
        differences.retain(|difference| !difference.starts_with("model configuration"));
    }
    differences
}

/// Removes the checkpoints and metric logs of epochs after `epoch`, and the temporary
/// files of checkpoint writes that a killed process left behind.
fn remove_after(run_dir: &Path, epoch: usize) -> Result<(), TrainError> {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    for entry in fs::read_dir(&checkpoint_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|extension| extension == "tmp") {
            fs::remove_file(&path).map_err(|source| TrainError::Artifact { path, source })?;
        }
    }
    for later in checkpoint_epochs(&checkpoint_dir)
        .into_iter()
        .filter(|&e| e > epoch)
    {
        for part in CHECKPOINT_PARTS {
            let path = checkpoint_path(&checkpoint_dir, part, later);
            if path.exists() {
                fs::remove_file(&path).map_err(|source| TrainError::Artifact { path, source })?;
            }
        }
    }
    for logs in METRIC_LOG_DIRS {
        let Ok(entries) = fs::read_dir(run_dir.join(logs)) else {
            continue;
        };
        for entry in entries.flatten() {
            let later = entry
                .file_name()
                .to_str()
                .and_then(|name| name.strip_prefix("epoch-"))
                .and_then(|number| number.parse::<usize>().ok())
                .is_some_and(|number| number > epoch);
            if later {
                remove_dir(&entry.path())?;
            }
        }
    }
    Ok(())
}

/// Returns the epochs that have at least one checkpoint file, in ascending order.
fn checkpoint_epochs(checkpoint_dir: &Path) -> Vec<usize> {
    let mut epochs: Vec<usize> = fs::read_dir(checkpoint_dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".bpk")?;
            let (part, epoch) = stem.rsplit_once('-')?;
            if !CHECKPOINT_PARTS.contains(&part) {
                return None;
            }
            epoch.parse().ok()
        })
        .collect();
    epochs.sort_unstable();
    epochs.dedup();
    epochs
}

fn checkpoint_path(checkpoint_dir: &Path, part: &str, epoch: usize) -> PathBuf {
    checkpoint_dir.join(format!("{part}-{epoch}.bpk"))
}

/// Reads the three checkpoint files of `epoch`; Burn's learner panics on one that does
/// not load, so every file is read here first.
fn checkpoint_loads(checkpoint_dir: &Path, epoch: usize) -> bool {
    let path = |part| checkpoint_path(checkpoint_dir, part, epoch);
    ModuleRecord::load(path("model")).is_ok()
        && OptimizerRecord::load(path("optim")).is_ok()
        && LrSchedulerRecord::load(path("scheduler")).is_ok()
}

fn read_manifest(checkpoint_dir: &Path) -> Result<Option<RunManifest>, TrainError> {
    let path = checkpoint_dir.join(MANIFEST_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(TrainError::Artifact { path, source }),
    };
    serde_json::from_str(&text).map(Some).map_err(|error| {
        TrainError::Resume(format!(
            "{}: invalid run description ({error}); pass --restart (RESTART=1) to delete \
             the checkpoints and train from the start",
            path.display()
        ))
    })
}

fn write_manifest(
    checkpoint_dir: &Path,
    config: &TrainingConfig,
    finished: bool,
) -> Result<(), TrainError> {
    let manifest = RunManifest {
        config: serde_json::to_value(config).map_err(|error| TrainError::Artifact {
            path: checkpoint_dir.join(MANIFEST_FILE),
            source: std::io::Error::other(error),
        })?,
        finished,
    };
    artifacts::write_json(&checkpoint_dir.join(MANIFEST_FILE), &manifest)
}

fn remove_dir(path: &Path) -> Result<(), TrainError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(TrainError::Artifact {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use mnist_model::{ModelConfig, ModelKind};

    use super::*;
    use crate::BackendKind;

    fn config(kind: ModelKind) -> TrainingConfig {
        TrainingConfig::new(ModelConfig::new(kind), BackendKind::Flex, 3)
    }

    #[test]
    fn same_settings_are_compatible() {
        let saved = config(ModelKind::Mlp);
        let mut requested = config(ModelKind::Mlp);
        requested.backend = BackendKind::Ndarray;
        assert!(incompatible_settings(&saved, &requested).is_empty());
    }

    #[test]
    fn changed_settings_are_each_named() {
        let saved = config(ModelKind::Mlp);
        let mut requested = config(ModelKind::Cnn);
        requested.epochs = 5;
        requested.seed = 1;
        assert_eq!(
            incompatible_settings(&saved, &requested),
            vec!["model mlp → cnn", "epochs 3 → 5", "seed 42 → 1"]
        );
    }

    #[test]
    fn newer_flag_changes_are_each_named() {
        let saved = config(ModelKind::Cnn);
        let mut requested = config(ModelKind::Cnn);
        requested.model.cnn.channels_3 = Some(64);
        requested.model.cnn.dropout = 0.1;
        requested.weight_decay = Some(1e-4);
        requested.unaugmented_epochs = Some(1);
        assert_eq!(
            incompatible_settings(&saved, &requested),
            vec![
                "channels 32,64 → 32,64,64",
                "dropout 0.25 → 0.1",
                "weight decay 0 → 0.0001",
                "unaugmented epochs 0 → 1"
            ]
        );
    }

    #[test]
    fn checkpoint_epochs_ignore_other_files() {
        let dir = tempfile::tempdir().expect("temporary folder");
        for name in [
            "model-1.bpk",
            "optim-1.bpk",
            "model-12.bpk",
            "run.json",
            "model-x.bpk",
            ".model-3.bpk.tmp",
            "other-4.bpk",
        ] {
            fs::write(dir.path().join(name), b"").expect("write file");
        }
        assert_eq!(checkpoint_epochs(dir.path()), vec![1, 12]);
    }

    #[test]
    fn empty_checkpoint_files_are_not_complete() {
        let dir = tempfile::tempdir().expect("temporary folder");
        for part in CHECKPOINT_PARTS {
            fs::write(checkpoint_path(dir.path(), part, 1), b"").expect("write file");
        }
        assert_eq!(last_complete_checkpoint(dir.path()), None);
    }
}
