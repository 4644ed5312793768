//! One training run: data, model, Burn's learner, test-set evaluation and artifacts.

use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::AdamConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::renderer::{MetricsRenderer, default_renderer};
use burn::train::{Interrupter, Learner, SupervisedTraining};
use mnist_data::augment::Augmentation;
use mnist_data::dataset::{MnistBatcher, split_train_valid};
use mnist_data::loader::EpochLoader;
use mnist_data::{Split, load_split};
use mnist_model::{Classifier, CnnConfig, ModelKind};
use serde::Serialize;

use crate::artifacts::{self, CHECKPOINT_DIR, CONFIG_FILE, RECORD_FILE, SUMMARY_FILE};
use crate::backend::is_software_adapter;
use crate::epoch_log::{EpochLog, METRICS_FILE};
use crate::evaluate::evaluate;
use crate::guard::FiniteLossGuard;
use crate::progress::{EpochCounter, PlainRenderer};
use crate::recorder::EpochRecorder;
use crate::resume::{self, Start};
use crate::{TrainError, TrainingConfig};

/// Folders a run reads its data from and writes its artifacts to.
#[derive(Clone, Debug)]
pub struct RunPaths {
    /// Folder with the four verified MNIST files.
    pub data_dir: PathBuf,
    /// Parent folder of the runs; a run writes into `<artifact_dir>/<model>/`.
    pub artifact_dir: PathBuf,
}

/// Display mode of a run's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// The dashboard when standard output is a terminal, plain lines otherwise.
    Auto,
    /// Burn's terminal dashboard; needs a terminal.
    Dashboard,
    /// One line per epoch and split, with no escape sequences.
    Plain,
}

/// Start and progress-display options of a run.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub progress: ProgressMode,
    /// Continue the interrupted run in the artifact folder from its last complete checkpoint.
    pub resume: bool,
    /// Delete the checkpoints of an interrupted run in the artifact folder and start over.
    pub restart: bool,
    /// Checkpoints of the most recent epochs to keep on disk, or 0 to keep every epoch's.
    pub keep_checkpoints: usize,
}

/// Checkpoints kept by default: the last epoch's, and the one before for when the last is
/// incomplete.
pub const DEFAULT_KEEP_CHECKPOINTS: usize = 2;

/// Measurements of a finished run, written as `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub model: String,
    pub backend: String,
    /// The wgpu adapter, when the backend is wgpu.
    pub adapter: Option<String>,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub train_images: usize,
    pub valid_images: usize,
    pub test_images: usize,
    /// Fraction of the 10,000 test images classified correctly, in [0, 1].
    pub test_accuracy: f64,
    pub test_loss: f64,
    /// Wall-clock seconds of the learner's fit: training and validation of every epoch
    /// this process trained, which excludes the epochs before a resumed checkpoint.
    pub train_seconds: f64,
    /// Training images processed per second of `train_seconds`.
    pub train_images_per_second: f64,
    /// Folder holding the record, configuration, checkpoints and metrics.
    pub artifact_dir: PathBuf,
}

/// Trains the model `config` describes and writes its artifacts.
///
/// The data is verified before any work starts, and the record, configuration and summary
/// are written only after the test-set evaluation, each by an atomic rename.
pub fn train(
    config: &TrainingConfig,
    paths: &RunPaths,
    options: RunOptions,
) -> Result<RunSummary, TrainError> {
    let train_split = Arc::new(load_split(&paths.data_dir, Split::Train)?);
    let test_split = Arc::new(load_split(&paths.data_dir, Split::Test)?);

    if let Some(limit) = config.limit.filter(|&limit| limit > train_split.len()) {
        crate::errln!(
            "warning: --limit {limit} is more than the {} training images, so all of them \
             are used",
            train_split.len()
        );
    }
    let split = split_train_valid(
        train_split.len(),
        config.valid_fraction,
        config.seed,
        config.limit,
    );
    let (train_images, valid_images) = (split.train.len(), split.valid.len());
    if config.batch_size > train_images {
        let (source, remedy) = match config.limit {
            Some(limit) => (
                format!(" that --limit {limit} leaves"),
                " or a larger --limit",
            ),
            None => (String::new(), ""),
        };
        return Err(TrainError::InvalidSetting(format!(
            "--batch-size {} is larger than the {train_images} training images{source}, so \
             every epoch would be a single step; use at most {train_images}{remedy}",
            config.batch_size
        )));
    }

    let opened = config.backend.open()?;
    if let Some(adapter) = &opened.adapter {
        let kind = if is_software_adapter(adapter) {
            "a software adapter: expect CPU speed at best"
        } else {
            "a hardware adapter"
        };
        crate::errln!("wgpu runs on {adapter}, {kind}");
    }
    let device = opened.device;
    device.seed(config.seed);

    let run_dir = paths.artifact_dir.join(config.model.kind.name());
    let start = resume::prepare(&run_dir, config, options.resume, options.restart)?;
    print_header(config);
    if let Start::Resume(epoch) = start {
        crate::outln!(
            "resuming from the checkpoint of epoch {epoch} in {}",
            run_dir.join(CHECKPOINT_DIR).display()
        );
    }

    let batcher = MnistBatcher::new(train_split.clone());
    let mut train_loader = EpochLoader::new(
        batcher.clone(),
        split.train,
        config.batch_size,
        Some(config.seed),
        device.clone(),
        start.first_epoch(),
    );
    if let Some(last_epoch) = config.last_augmented_epoch() {
        train_loader = train_loader
            .with_augmentation(Augmentation::default())
            .augment_until(last_epoch);
    }
    let train_loader = Arc::new(train_loader);
    let valid_loader = Arc::new(EpochLoader::new(
        batcher,
        split.valid,
        config.batch_size,
        None,
        device.clone(),
        start.first_epoch(),
    ));

    let steps_per_epoch = train_images.div_ceil(config.batch_size);
    let scheduler = config
        .lr_schedule
        .init(
            config.learning_rate,
            config.epochs * steps_per_epoch,
            steps_per_epoch,
        )
        .map_err(|reason| TrainError::Training(format!("learning-rate schedule: {reason}")))?;
    let model = config.model.init(&device.clone().autodiff());
    let optimizer = AdamConfig::new()
        .with_weight_decay(
            config
                .applied_weight_decay()
                .map(|decay| WeightDecayConfig::new(decay as f32)),
        )
        .init();
    let learner = Learner::new(model, optimizer, scheduler);

    let interrupter = Interrupter::new();
    stop_on_signals(&interrupter);
    let (epoch_counter, finished_epochs) = EpochCounter::new(interrupter.clone());
    let (loss_guard, divergence) = FiniteLossGuard::new(interrupter.clone());
    let log_path = progress_log_path(&run_dir);
    let epoch_log = match start {
        Start::Fresh => EpochLog::create(&log_path)?,
        Start::Resume(epoch) => {
            let earlier_path = run_dir.join(METRICS_FILE);
            if !log_path.exists() && earlier_path.exists() {
                // Runs interrupted under earlier versions of mnist-train logged into the run
                // folder itself.
                fs::copy(&earlier_path, &log_path).map_err(|source| TrainError::Artifact {
                    path: log_path.clone(),
                    source,
                })?;
            }
            EpochLog::resume(&log_path, epoch)?
        }
    };
    let recorder = EpochRecorder::wrap(
        renderer(options.progress, interrupter.clone(), start),
        epoch_log,
    );
    let mut training = SupervisedTraining::new(&run_dir, train_loader, valid_loader)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(LearningRateMetric::new())
        .metric_train(loss_guard)
        .with_default_checkpointers()
        // One checkpoint per epoch: model, optimizer and schedule take 1.3 MB an epoch for
        // the MLP and 5 MB for the CNN. Burn deletes epoch e - n after saving epoch e.
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(match options.keep_checkpoints {
            0 => config.epochs,
            n => n,
        }))
        .with_interrupter(interrupter.clone())
        .renderer(recorder)
        .with_progress_logger(epoch_counter)
        .num_epochs(config.epochs);
    if let Start::Resume(epoch) = start {
        training = training.checkpoint(epoch);
    }

    let started = Instant::now();
    let result = training.launch(learner);
    let train_seconds = started.elapsed().as_secs_f64();
    if let Some(error) = result.error {
        drop(result.renderer);
        return Err(match error.as_ref() {
            burn::train::TrainingError::Checkpoint(reason) => TrainError::Checkpoint {
                dir: run_dir.join(CHECKPOINT_DIR),
                reason: describe_stop(&run_dir, &reason.to_string()),
            },
            _ => TrainError::Training(error.to_string()),
        });
    }
    // The dashboard leaves the alternate screen when its renderer is dropped, so messages
    // printed after this point stay visible.
    drop(result.renderer);
    let diverged = divergence.lock().ok().and_then(|report| report.clone());
    if let Some(report) = diverged {
        resume::forget(&run_dir)?;
        let mut message = describe_stop(&run_dir, &report);
        // A checkpoint with damaged optimizer state also makes the loss NaN at once,
        // and no learning rate cures that.
        if let Start::Resume(epoch) = start {
            message.push_str(&format!(
                ". This run resumed from the checkpoint of epoch {epoch}: if that checkpoint \
                 is damaged, a lower rate does not help, and --restart (RESTART=1) trains \
                 from the start"
            ));
        }
        return Err(TrainError::Diverged(message));
    }
    let finished_epochs = finished_epochs.load(std::sync::atomic::Ordering::SeqCst);
    if result.interrupted.is_some() || finished_epochs < config.epochs {
        let reason = result
            .interrupted
            .and_then(|interruption| interruption.reason)
            .unwrap_or_else(|| {
                format!(
                    "stopped after {finished_epochs} of {} epochs",
                    config.epochs
                )
            });
        let mut message = describe_stop(&run_dir, &reason);
        message.push_str(
            ". Continue with the same command and --resume (RESUME=1 with make), or pass \
             --restart (RESTART=1) to start over",
        );
        return Err(TrainError::Interrupted(message));
    }

    // Every epoch has trained: a first signal from here on lets the run finish.
    TRAINING_DONE.store(true, std::sync::atomic::Ordering::SeqCst);
    let model = result.model;
    let evaluation = evaluate(
        &model,
        &test_split,
        &device,
        config.backend.eval_batch_size(),
    )?;
    let summary = RunSummary {
        model: config.model.kind.name().to_string(),
        backend: config.backend.name().to_string(),
        adapter: opened.adapter,
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        seed: config.seed,
        train_images,
        valid_images,
        test_images: evaluation.images,
        test_accuracy: evaluation.accuracy(),
        test_loss: evaluation.mean_loss,
        train_seconds,
        train_images_per_second: (train_images * (config.epochs + 1 - start.first_epoch())) as f64
            / train_seconds,
        artifact_dir: run_dir.clone(),
    };
    save_artifacts(&run_dir, config, model, &summary)?;
    resume::mark_finished(&run_dir, config)?;
    Ok(summary)
}

/// Returns the path of the metrics log of a run in progress. It stays beside the
/// checkpoints, so that `metrics.csv` keeps describing the record it sits beside until the
/// run replaces that record.
fn progress_log_path(run_dir: &Path) -> PathBuf {
    run_dir.join(CHECKPOINT_DIR).join(METRICS_FILE)
}

/// Prints what the run is about to train, once its data, backend and folder are ready.
fn print_header(config: &TrainingConfig) {
    let mut model_settings = String::new();
    if config.model.kind == ModelKind::Cnn {
        let (cnn, default) = (&config.model.cnn, CnnConfig::new());
        if cnn.channels_text() != default.channels_text() {
            model_settings.push_str(&format!(", channels {}", cnn.channels_text()));
        }
        if cnn.hidden != default.hidden {
            let units = if cnn.hidden == 1 { "unit" } else { "units" };
            model_settings.push_str(&format!(", {} hidden {units}", cnn.hidden));
        }
        model_settings.push_str(&format!(", dropout {}", cnn.dropout));
    }
    if let Some(decay) = config.applied_weight_decay() {
        model_settings.push_str(&format!(", weight decay {decay}"));
    }
    crate::outln!(
        "training {} on {} for {} epoch{} (batch {}, learning rate {} with {} schedule, \
         seed {}{}{})",
        config.model.kind,
        config.backend,
        config.epochs,
        if config.epochs == 1 { "" } else { "s" },
        config.batch_size,
        config.learning_rate,
        config.lr_schedule,
        config.seed,
        model_settings,
        match config.last_augmented_epoch() {
            None => ", not augmented".to_string(),
            Some(last) if last == config.epochs => ", augmented".to_string(),
            Some(last) => format!(", augmented through epoch {last}"),
        }
    );
}

/// Set once every epoch has trained, when only the test evaluation and the saving remain.
static TRAINING_DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks the learner to stop at its next step on the first SIGINT (Ctrl-C) or SIGTERM, and
/// ends the process with exit code 130 on a second one. Once every epoch has trained, the
/// first signal only prints that the run is finishing, because there is no step left to
/// stop after and the trained model is about to be saved.
///
/// Stopping between steps lets Burn finish writing any checkpoint it started. The
/// dashboard puts the terminal in raw mode, where Ctrl-C is a key press rather than a
/// signal, so there `q` stops the run instead.
fn stop_on_signals(interrupter: &Interrupter) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        Ok(signals) => signals,
        Err(error) => {
            crate::errln!("warning: Ctrl-C will end training at once: {error}");
            return;
        }
    };
    let interrupter = interrupter.clone();
    std::thread::spawn(move || {
        let mut received = 0;
        for signal in signals.forever() {
            received += 1;
            if received > 1 {
                crate::errln!("second interrupt: quitting now");
                std::process::exit(crate::error::EXIT_INTERRUPTED);
            }
            let name = if signal == SIGINT {
                "Ctrl-C (SIGINT)"
            } else {
                "SIGTERM"
            };
            if TRAINING_DONE.load(std::sync::atomic::Ordering::SeqCst) {
                crate::errln!(
                    "{name}: every epoch has trained, so the run finishes its test evaluation \
                     and saves the model; press Ctrl-C again to quit without saving"
                );
                continue;
            }
            crate::errln!(
                "{name}: stopping after the current step; press Ctrl-C again to quit now"
            );
            interrupter.stop(Some(&format!("stopped by {name}")));
        }
    });
}

/// Describes where an interrupted run stopped and what it left behind.
fn describe_stop(run_dir: &Path, reason: &str) -> String {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    let last_epoch = resume::last_complete_checkpoint(&checkpoint_dir);
    let saved = match last_epoch {
        Some(epoch) => format!(
            "the checkpoint of epoch {epoch} is in {}",
            checkpoint_dir.display()
        ),
        None => "no epoch finished, so no checkpoint was written".to_string(),
    };
    let earlier = if run_dir.join(RECORD_FILE).is_file() {
        format!(
            ", and those of an earlier run in {} are unchanged",
            run_dir.display()
        )
    } else {
        String::new()
    };
    format!(
        "{reason}. {saved_capitalised}. No new {RECORD_FILE}, {CONFIG_FILE} or {SUMMARY_FILE} \
         was written{earlier}",
        saved_capitalised = capitalise(&saved),
    )
}

fn capitalise(text: &str) -> String {
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_uppercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// Picks the dashboard or the plain renderer.
///
/// The dashboard needs a terminal: Burn's renderer panics in its drawing thread without
/// one, so `Dashboard` falls back to plain lines, with a warning, when standard output is
/// not a terminal.
fn renderer(
    progress: ProgressMode,
    interrupter: Interrupter,
    start: Start,
) -> Box<dyn MetricsRenderer> {
    let terminal = std::io::stdout().is_terminal()
        && std::env::var("TERM").map_or(true, |term| term != "dumb");
    match progress {
        ProgressMode::Auto | ProgressMode::Dashboard if terminal => {
            let checkpoint = match start {
                Start::Fresh => None,
                Start::Resume(epoch) => Some(epoch),
            };
            default_renderer(interrupter, checkpoint)
        }
        ProgressMode::Dashboard => {
            crate::errln!(
                "warning: --progress dashboard needs a terminal on standard output (and TERM \
                 other than dumb); printing plain progress lines instead"
            );
            Box::new(PlainRenderer::new())
        }
        _ => Box::new(PlainRenderer::new()),
    }
}

fn save_artifacts(
    run_dir: &Path,
    config: &TrainingConfig,
    model: Classifier,
    summary: &RunSummary,
) -> Result<(), TrainError> {
    let record_path = run_dir.join(RECORD_FILE);
    model
        .save_file(&record_path)
        .map_err(|error| TrainError::Record {
            path: record_path.clone(),
            reason: error.to_string(),
        })?;
    artifacts::write_json(&run_dir.join(CONFIG_FILE), config)?;
    artifacts::write_json(&run_dir.join(SUMMARY_FILE), summary)?;
    let metrics_path = run_dir.join(METRICS_FILE);
    fs::rename(progress_log_path(run_dir), &metrics_path).map_err(|source| {
        TrainError::Artifact {
            path: metrics_path,
            source,
        }
    })?;
    Ok(())
}
