//! A metrics renderer that wraps the one on screen and writes each finished epoch's means
//! to the run's [`EpochLog`].
//!
//! Burn hands metric values only to the renderer, not to progress loggers, so recording
//! them here works the same under the dashboard and the plain renderer.

use std::collections::HashMap;
use std::time::Instant;

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

use crate::epoch_log::{EpochLog, EpochMetrics};

/// Names Burn 0.22 gives the metrics that `run` registers.
const LOSS: &str = "Loss";
const ACCURACY: &str = "Accuracy";
const LEARNING_RATE: &str = "Learning Rate";

/// Epoch means of the metrics of one split, and how long it took.
#[derive(Default)]
struct SplitMeans {
    /// Per metric name: the sum of values weighted by their image counts, and the count.
    running: HashMap<String, (f64, usize)>,
    /// Per metric name: the epoch value Burn computes when the split ends.
    finals: HashMap<String, f64>,
    items: usize,
    seconds: f64,
}

impl SplitMeans {
    fn add(&mut self, name: &str, entry: NumericEntry) {
        match entry {
            NumericEntry::Final(value) => {
                self.finals.insert(name.to_string(), value);
            }
            NumericEntry::Value(value) => self.add_weighted(name, value, 1),
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => self.add_weighted(name, aggregated_value, count),
        }
    }

    fn add_weighted(&mut self, name: &str, value: f64, count: usize) {
        let (sum, total) = self.running.entry(name.to_string()).or_default();
        *sum += value * count as f64;
        *total += count;
    }

    /// Returns Burn's epoch value of a metric, or the weighted mean of its updates when
    /// Burn sent none, or NaN when the metric never reported.
    fn mean(&self, name: &str) -> f64 {
        if let Some(&value) = self.finals.get(name) {
            return value;
        }
        match self.running.get(name) {
            Some(&(sum, count)) if count > 0 => sum / count as f64,
            _ => f64::NAN,
        }
    }
}

/// Forwards everything to the renderer it wraps, and appends a row to the epoch log each
/// time Burn reports an epoch finished.
pub struct EpochRecorder {
    inner: Box<dyn MetricsRenderer>,
    log: EpochLog,
    names: HashMap<MetricId, String>,
    train: SplitMeans,
    valid: SplitMeans,
    split: String,
    split_started: Instant,
    epoch_started: Instant,
    /// Whether a failed write was already reported, so it is reported once.
    write_failed: bool,
}

impl EpochRecorder {
    /// Wraps `inner`, writing finished epochs to `log`.
    pub fn wrap(inner: Box<dyn MetricsRenderer>, log: EpochLog) -> Box<dyn MetricsRenderer> {
        Box::new(Self {
            inner,
            log,
            names: HashMap::new(),
            train: SplitMeans::default(),
            valid: SplitMeans::default(),
            split: String::new(),
            split_started: Instant::now(),
            epoch_started: Instant::now(),
            write_failed: false,
        })
    }

    fn record(&mut self, valid: bool, state: &MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id) else {
            return;
        };
        let means = if valid {
            &mut self.valid
        } else {
            &mut self.train
        };
        means.add(name, value.clone());
    }

    fn finish_epoch(&mut self, epoch: usize) {
        let train = std::mem::take(&mut self.train);
        let valid = std::mem::take(&mut self.valid);
        // Burn's accuracy metric is a percentage, but the file stores fractions, as
        // summary.json does.
        let row = EpochMetrics {
            epoch,
            train_loss: train.mean(LOSS),
            train_accuracy: train.mean(ACCURACY) / 100.0,
            valid_loss: valid.mean(LOSS),
            valid_accuracy: valid.mean(ACCURACY) / 100.0,
            learning_rate: train.mean(LEARNING_RATE),
            seconds: self.epoch_started.elapsed().as_secs_f64(),
            images_per_second: train.items as f64 / train.seconds.max(1e-9),
        };
        if let Err(error) = self.log.append(row)
            && !self.write_failed
        {
            // Training goes on without the file: a full disk shows in the checkpoints
            // too, and the record is what the run is for.
            self.write_failed = true;
            crate::errln!("warning: the per-epoch metrics are no longer recorded: {error}");
        }
    }
}

impl MetricsRendererTraining for EpochRecorder {
    fn update_train(&mut self, state: MetricState) {
        self.record(false, &state);
        self.inner.update_train(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(true, &state);
        self.inner.update_valid(state);
    }

    fn on_train_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        self.inner.on_train_end(summary)
    }
}

impl TrainingProgressLogger for EpochRecorder {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        total_items: Option<usize>,
        label: Option<&str>,
    ) {
        self.epoch_started = Instant::now();
        self.inner
            .start(total_epochs, starting_epoch, total_items, label);
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.finish_epoch(epoch);
        self.inner.update_epoch(epoch);
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.split_started = Instant::now();
        if split == "train" {
            self.epoch_started = Instant::now();
        }
        self.inner.start_split(split, total_items);
    }

    fn update_split(&mut self, items_processed: usize) {
        let means = if self.split == "valid" {
            &mut self.valid
        } else {
            &mut self.train
        };
        means.items = items_processed;
        self.inner.update_split(items_processed);
    }

    fn end_split(&mut self) {
        let seconds = self.split_started.elapsed().as_secs_f64();
        if self.split == "valid" {
            self.valid.seconds = seconds;
        } else {
            self.train.seconds = seconds;
        }
        self.inner.end_split();
    }

    fn end(&mut self) {
        self.inner.end();
    }

    fn log_event_training(&mut self, event: String) {
        self.inner.log_event_training(event);
    }
}

impl EvaluationProgressLogger for EpochRecorder {
    fn start_global_progress(&mut self, total_tests: usize) {
        self.inner.start_global_progress(total_tests);
    }

    fn start_test(&mut self, name: &str, total_items: usize) {
        self.inner.start_test(name, total_items);
    }

    fn update_test_progress(&mut self, items_processed: usize) {
        self.inner.update_test_progress(items_processed);
    }

    fn end_test(&mut self) {
        self.inner.end_test();
    }

    fn end_global_progress(&mut self) {
        self.inner.end_global_progress();
    }

    fn log_event_evaluation(&mut self, event: String) {
        self.inner.log_event_evaluation(event);
    }
}

impl MetricsRendererEvaluation for EpochRecorder {
    fn update_test(&mut self, name: EvaluationName, state: MetricState) {
        self.inner.update_test(name, state);
    }

    fn on_test_end(
        &mut self,
        summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        self.inner.on_test_end(summary)
    }
}

impl MetricsRenderer for EpochRecorder {
    fn manual_close(&mut self) {
        self.inner.manual_close();
    }

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
        self.inner.register_metric(definition);
    }
}
