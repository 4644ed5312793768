//! The results of a benchmark run: medians over repetitions, the printed table and
//! `bench.json`.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::layers::LayerTime;
use super::{BenchError, BenchSettings, MachineInfo};

/// The quantity a [`Measurement`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Training images per second: batch assembly, forward, backward, Adam step and
    /// reading the loss and accuracy, as the learner does every step.
    TrainThroughput,
    /// Inference images per second: batch assembly, forward and reading the predictions.
    InferThroughput,
    /// Milliseconds of one single-image forward pass and its readout, in-process.
    Latency,
    /// Milliseconds from spawning `mnist-infer` on one PNG to its exit.
    ProcessLatency,
}

impl Metric {
    pub fn unit(self) -> &'static str {
        match self {
            Metric::TrainThroughput | Metric::InferThroughput => "images/s",
            Metric::Latency | Metric::ProcessLatency => "ms",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Metric::TrainThroughput => "train",
            Metric::InferThroughput => "infer",
            Metric::Latency => "latency",
            Metric::ProcessLatency => "process",
        }
    }
}

/// Median, minimum and maximum of repeated samples.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// Summarises `samples`; the median of an even count is the mean of the middle two.
    /// Returns `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 0 {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        } else {
            sorted[middle]
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Median milliseconds per training step spent in one stage.
#[derive(Clone, Debug, Serialize)]
pub struct StageTime {
    pub stage: &'static str,
    pub wall_ms_per_step: f64,
}

/// One measured quantity for one model on one backend.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub model: String,
    pub backend: String,
    pub metric: Metric,
    pub unit: &'static str,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Steps, batches or runs that make up one sample.
    pub iterations_per_sample: usize,
    pub wall: Summary,
    /// Every sample, in the order measured.
    pub samples: Vec<f64>,
    /// The same quantity computed from process CPU time instead of wall-clock time; for a
    /// throughput this is images per CPU-second, which contention on a shared machine
    /// changes far less than wall-clock time. For latency it is the mean CPU milliseconds
    /// per image over all iterations. Absent for process latency and for samples shorter
    /// than `MIN_CPU_SECONDS` of CPU time.
    pub cpu: Option<Summary>,
    /// Median CPU seconds per wall-clock second: about the number of busy cores.
    pub cpu_utilisation: Option<f64>,
    /// Where a training step's time goes, measured with a device sync after each stage.
    pub stages: Vec<StageTime>,
}

/// Everything a benchmark run writes to `bench.json`.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub machine: MachineInfo,
    pub settings: BenchSettings,
    /// Seconds since the Unix epoch when the run started.
    pub started_at_unix: u64,
    pub measurements: Vec<Measurement>,
    /// Median milliseconds of each CNN layer alone, at the training batch size.
    pub cnn_layers: Vec<LayerTime>,
}

impl BenchReport {
    /// Writes the report as pretty-printed JSON to `path`, creating its folder.
    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        let write_error = |source| BenchError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::from);
        std::fs::write(path, json.map_err(write_error)?).map_err(write_error)
    }

    /// Prints the machine line and one table row per measurement.
    pub fn print_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let machine = &self.machine;
        writeln!(
            out,
            "{} ({} logical CPUs, {}), RAYON_NUM_THREADS={}, Burn {}, commit {}",
            machine.cpu_model,
            machine.available_parallelism,
            machine.simd_flags.join(" "),
            machine.rayon_num_threads.as_deref().unwrap_or("unset"),
            machine.burn_version,
            machine.git_commit.as_deref().unwrap_or("unknown"),
        )?;
        writeln!(
            out,
            "load average at start {}, at end {}",
            format_load(machine.load_average_start),
            format_load(machine.load_average_end),
        )?;
        writeln!(
            out,
            "{:<5} {:<8} {:<8} {:>6} {:>11} {:>11} {:>11} {:>12} {:>5}  unit",
            "model", "backend", "metric", "batch", "median", "min", "max", "cpu median", "cores",
        )?;
        for m in &self.measurements {
            writeln!(
                out,
                "{:<5} {:<8} {:<8} {:>6} {:>11.1} {:>11.1} {:>11.1} {:>12} {:>5}  {}",
                m.model,
                m.backend,
                m.metric.label(),
                m.batch_size,
                m.wall.median,
                m.wall.min,
                m.wall.max,
                m.cpu
                    .map_or("-".to_string(), |cpu| format!("{:.1}", cpu.median)),
                m.cpu_utilisation
                    .map_or("-".to_string(), |cores| format!("{cores:.2}")),
                m.unit,
            )?;
        }
        for m in self.measurements.iter().filter(|m| !m.stages.is_empty()) {
            let stages: Vec<String> = m
                .stages
                .iter()
                .map(|stage| format!("{} {:.1}", stage.stage, stage.wall_ms_per_step))
                .collect();
            writeln!(
                out,
                "{} on {}, ms per training step: {}",
                m.model,
                m.backend,
                stages.join(", ")
            )?;
        }
        // The layer column is as wide as its longest name.
        let width = self
            .cnn_layers
            .iter()
            .map(|layer| layer.layer.chars().count())
            .max()
            .unwrap_or(0);
        if !self.cnn_layers.is_empty() {
            writeln!(
                out,
                "cnn layers alone, median ms (backward from the sum of the output):"
            )?;
            writeln!(
                out,
                "{:<8} {:<width$} {:>9} {:>9}",
                "backend", "layer", "forward", "backward"
            )?;
        }
        for layer in &self.cnn_layers {
            writeln!(
                out,
                "{:<8} {:<width$} {:>9.2} {:>9}",
                layer.backend,
                layer.layer,
                layer.forward_ms,
                layer
                    .backward_ms
                    .map_or("-".to_string(), |ms| format!("{ms:.2}")),
            )?;
        }
        Ok(())
    }
}

fn format_load(load: Option<[f64; 3]>) -> String {
    load.map_or("unknown".to_string(), |[one, five, fifteen]| {
        format!("{one:.2} {five:.2} {fifteen:.2}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_odd_count_takes_middle() {
        let summary = Summary::of(&[3.0, 1.0, 2.0]).expect("samples");
        assert_eq!(summary.median, 2.0);
        assert_eq!(summary.min, 1.0);
        assert_eq!(summary.max, 3.0);
    }

    #[test]
    fn summary_of_even_count_averages_middle() {
        let summary = Summary::of(&[4.0, 1.0, 2.0, 3.0]).expect("samples");
        assert_eq!(summary.median, 2.5);
    }

    #[test]
    fn summary_of_nothing_is_none() {
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
    }
}
