//! Plain, line-per-epoch progress for runs whose output is not a terminal.
//!
//! Burn's own fallback prints a debug dump of every progress snapshot. This renderer
//! prints one line per finished split with the epoch means of its metrics, and a progress
//! line at most every [`PROGRESS_INTERVAL`] during long splits. It never writes escape
//! sequences, so logs from CI or `| tee` stay readable.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use burn::train::Interrupter;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

/// Minimum time between two progress lines within one split.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(15);

/// Running mean of one metric over the current split.
#[derive(Default)]
struct MetricMean {
    weighted_sum: f64,
    count: usize,
}

/// Prints training progress as plain lines on standard output.
pub struct PlainRenderer {
    names: HashMap<MetricId, String>,
    means: Vec<(String, MetricMean)>,
    total_epochs: usize,
    epoch: usize,
    split: String,
    split_items: usize,
    items_done: usize,
    split_started: Instant,
    last_line: Instant,
}

impl PlainRenderer {
    /// Creates a renderer that has printed nothing yet.
    pub fn new() -> Self {
        Self {
            names: HashMap::new(),
            means: Vec::new(),
            total_epochs: 0,
            epoch: 1,
            split: String::new(),
            split_items: 0,
            items_done: 0,
            split_started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn record(&mut self, state: MetricState) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let Some(name) = self.names.get(&entry.metric_id).cloned() else {
            return;
        };
        let (value, count) = match value {
            NumericEntry::Value(value) => (value, 1),
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => (aggregated_value, count),
            NumericEntry::Final(value) => (value, 1),
        };
        let position = match self.means.iter().position(|(n, _)| *n == name) {
            Some(position) => position,
            None => {
                self.means.push((name, MetricMean::default()));
                self.means.len() - 1
            }
        };
        let mean = &mut self.means[position].1;
        mean.weighted_sum += value * count as f64;
        mean.count += count;
    }

    fn metrics_text(&self) -> String {
        self.means
            .iter()
            .filter(|(_, mean)| mean.count > 0)
            .map(|(name, mean)| {
                let value = mean.weighted_sum / mean.count as f64;
                format_metric(name, value)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Default for PlainRenderer {
    fn default() -> Self {
        Self::new()
    }
}

/// Formats a metric the way Burn names it: accuracy as a percentage, the learning rate in
/// scientific notation, anything else with four decimals.
fn format_metric(name: &str, value: f64) -> String {
    let lowercase = name.to_ascii_lowercase();
    if lowercase.contains("accuracy") {
        format!("{lowercase} {value:.2} %")
    } else if lowercase.contains("learning rate") || lowercase == "lr" {
        format!("{lowercase} {value:.2e}")
    } else {
        format!("{lowercase} {value:.4}")
    }
}

fn print_line(line: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) must not stop training, so write errors are ignored.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

impl MetricsRendererTraining for PlainRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for PlainRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
    }

    fn update_epoch(&mut self, _epoch: usize) {}

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.split_items = total_items;
        self.items_done = 0;
        self.means.clear();
        self.split_started = Instant::now();
        self.last_line = Instant::now();
    }

    fn update_split(&mut self, items_processed: usize) {
        self.items_done = items_processed;
        if self.last_line.elapsed() < PROGRESS_INTERVAL {
            return;
        }
        self.last_line = Instant::now();
        let percent = 100.0 * items_processed as f64 / self.split_items.max(1) as f64;
        print_line(&format!(
            "epoch {}/{} {}: {items_processed}/{} images ({percent:.0} %), {}",
            self.epoch,
            self.total_epochs,
            self.split,
            self.split_items,
            self.metrics_text()
        ));
    }

    fn end_split(&mut self) {
        let seconds = self.split_started.elapsed().as_secs_f64();
        let rate = self.items_done as f64 / seconds.max(1e-9);
        // A stopped run ends its split early; its means cover only the images seen.
        let stopped = if self.items_done < self.split_items {
            format!(
                ", stopped after {} of {} images",
                self.items_done, self.split_items
            )
        } else {
            String::new()
        };
        print_line(&format!(
            "epoch {}/{} {:<5} {} ({seconds:.1} s, {rate:.0} images/s{stopped})",
            self.epoch,
            self.total_epochs,
            self.split,
            self.metrics_text()
        ));
        if self.split == "valid" {
            self.epoch += 1;
        }
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for PlainRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}

    fn start_test(&mut self, _name: &str, _total_items: usize) {}

    fn update_test_progress(&mut self, _items_processed: usize) {}

    fn end_test(&mut self) {}

    fn end_global_progress(&mut self) {}

    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for PlainRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}

    fn on_test_end(
        &mut self,
        _summary: Option<burn::train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRenderer for PlainRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}

/// Environment variable that stops a run as its training split of the given epoch starts.
///
/// Tests set it to interrupt a run at a known point, after the checkpoint of the epoch
/// before was written, which a signal sent from outside cannot do reliably.
pub const STOP_IN_EPOCH_ENV: &str = "MNIST_TRAIN_STOP_IN_EPOCH";

/// Counts the epochs whose validation split finished, whatever the renderer.
///
/// Burn's dashboard resets the learner's interrupter when training ends, so a run stopped
/// with `q` comes back without an interruption flag. Fewer finished epochs than requested
/// is how such a stop is recognised.
pub struct EpochCounter {
    split: String,
    finished: Arc<AtomicUsize>,
    interrupter: Interrupter,
    stop_in_epoch: Option<usize>,
}

impl EpochCounter {
    /// Creates a counter and the handle that reads it. `interrupter` is the learner's,
    /// used only when [`STOP_IN_EPOCH_ENV`] is set.
    pub fn new(interrupter: Interrupter) -> (Self, Arc<AtomicUsize>) {
        let finished = Arc::new(AtomicUsize::new(0));
        let counter = Self {
            split: String::new(),
            finished: finished.clone(),
            interrupter,
            stop_in_epoch: std::env::var(STOP_IN_EPOCH_ENV)
                .ok()
                .and_then(|epoch| epoch.parse().ok()),
        };
        (counter, finished)
    }
}

impl TrainingProgressLogger for EpochCounter {
    fn start(
        &mut self,
        _total: usize,
        starting_epoch: usize,
        _items: Option<usize>,
        _: Option<&str>,
    ) {
        self.finished
            .store(starting_epoch.saturating_sub(1), Ordering::SeqCst);
    }

    fn update_epoch(&mut self, _epoch: usize) {}

    fn start_split(&mut self, split: &str, _total_items: usize) {
        self.split = split.to_string();
        let epoch = self.finished.load(Ordering::SeqCst) + 1;
        if split == "train" && self.stop_in_epoch == Some(epoch) {
            self.interrupter.stop(Some(&format!(
                "stopped in epoch {epoch} by {STOP_IN_EPOCH_ENV}"
            )));
        }
    }

    fn update_split(&mut self, _items_processed: usize) {}

    fn end_split(&mut self) {
        if self.split == "valid" {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

#[cfg(test)]
mod tests {
    use super::format_metric;

    #[test]
    fn metric_formats_follow_their_kind() {
        assert_eq!(format_metric("Accuracy", 97.123), "accuracy 97.12 %");
        assert_eq!(format_metric("Loss", 0.123_456), "loss 0.1235");
        assert_eq!(
            format_metric("Learning Rate", 0.001),
            "learning rate 1.00e-3"
        );
    }
}
