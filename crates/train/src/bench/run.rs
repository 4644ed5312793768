//! The measurements themselves: training steps, batched inference, single-image latency
//! and the `mnist-infer` process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;
use mnist_data::dataset::{MnistBatcher, split_train_valid};
use mnist_data::samples::write_samples;
use mnist_data::{MnistSplit, Split, load_split};
use mnist_model::{Classifier, ModelConfig, ModelKind, RECORD_FILE};

use super::layers::profile_cnn_layers;
use super::machine::{Stopwatch, load_average};
use super::report::{BenchReport, Measurement, Metric, StageTime, Summary};
use super::{BENCH_SEED, BenchError, BenchSettings, MachineInfo, default_train_steps};
use crate::artifacts::{self, CONFIG_FILE};
use crate::{BackendKind, TrainError, TrainingConfig};

/// Learning rate of the timed Adam steps: the training default, whose value does not
/// change the work of a step.
const LEARNING_RATE: f64 = 1e-3;
/// Untimed single-image passes before the timed ones.
const LATENCY_WARMUP: usize = 5;
/// Stages of a training step, in order, as [`StageTime::stage`] names them.
const STAGES: [&str; 5] = ["batch", "forward", "backward", "optimizer", "metrics"];

/// Runs every configured measurement and returns the report; progress goes to stderr.
pub fn run_benchmarks(settings: &BenchSettings) -> Result<BenchReport, BenchError> {
    let mut machine = MachineInfo::probe();
    let started_at_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let train_split = Arc::new(load_split(&settings.data_dir, Split::Train)?);
    let test_split = Arc::new(load_split(&settings.data_dir, Split::Test)?);

    let mut measurements = Vec::new();
    let mut cnn_layers = Vec::new();
    let mut saved_models = Vec::new();
    for &backend in &settings.backends {
        let device = backend.open()?.device;
        if settings.layer_iterations > 0 && settings.models.contains(&ModelKind::Cnn) {
            eprintln!("cnn on {backend}: layers alone");
            cnn_layers.extend(profile_cnn_layers(
                backend,
                &device,
                settings.train_batch_size,
                settings.layer_iterations,
            ));
        }
        for &model in &settings.models {
            eprintln!("{model} on {backend}: training");
            let (train, trained) =
                measure_training(model, backend, &device, &train_split, settings)?;
            measurements.push(train);

            eprintln!("{model} on {backend}: inference");
            let trained = trained.valid();
            measurements.push(measure_inference(
                &trained,
                backend,
                &device,
                &test_split,
                settings,
            )?);
            measurements.push(measure_latency(
                &trained,
                backend,
                &device,
                &test_split,
                settings,
            ));
            // mnist-infer always runs on flex, so the flex model is the one it loads.
            if backend == BackendKind::Flex {
                saved_models.push(save_model(trained, &settings.out_dir)?);
            }
        }
    }

    if let Some(binary) = &settings.infer_binary
        && settings.process_runs > 0
        && !saved_models.is_empty()
    {
        let image = write_sample_image(&test_split, &settings.out_dir)?;
        for model in saved_models {
            eprintln!("{model}: mnist-infer process");
            measurements.push(measure_process(binary, model, &image, settings)?);
        }
    }

    machine.load_average_end = load_average();
    Ok(BenchReport {
        machine,
        settings: settings.clone(),
        started_at_unix,
        measurements,
        cnn_layers,
    })
}

/// Times training steps of `model` on `device` from a fresh initialisation, and returns
/// the trained classifier for the inference measurements.
fn measure_training(
    model: ModelKind,
    backend: BackendKind,
    device: &Device,
    split: &Arc<MnistSplit>,
    settings: &BenchSettings,
) -> Result<(Measurement, Classifier), BenchError> {
    let autodiff = device.clone().autodiff();
    autodiff.seed(BENCH_SEED);
    let mut trainer = Trainer {
        classifier: Some(ModelConfig::new(model).init(&autodiff)),
        optimizer: AdamConfig::new().init(),
        batcher: MnistBatcher::new(split.clone()),
        // The shuffled order of a real epoch, so batches gather scattered images.
        order: split_train_valid(split.len(), 0.1, BENCH_SEED, None).train,
        cursor: 0,
        batch_size: settings.train_batch_size,
        device: autodiff,
        stage_seconds: [0.0; STAGES.len()],
    };

    for _ in 0..settings.warmup_steps {
        trainer.step()?;
    }
    let steps = settings
        .train_steps
        .unwrap_or_else(|| {
            default_train_steps(model, backend) / settings.train_steps_divisor.max(1)
        })
        .max(1);
    let images = (steps * settings.train_batch_size) as f64;
    let mut wall_rates = Vec::new();
    let mut cpu_rates = Vec::new();
    let mut utilisations = Vec::new();
    let mut stage_samples: Vec<Vec<f64>> = vec![Vec::new(); STAGES.len()];
    for _ in 0..settings.repetitions {
        trainer.stage_seconds = [0.0; STAGES.len()];
        let watch = Stopwatch::start();
        for _ in 0..steps {
            trainer.step()?;
        }
        let (wall, cpu) = watch.stop();
        wall_rates.push(images / wall);
        if let Some(cpu) = cpu {
            cpu_rates.push(images / cpu);
            utilisations.push(cpu / wall);
        }
        for (samples, seconds) in stage_samples.iter_mut().zip(trainer.stage_seconds) {
            samples.push(seconds * 1000.0 / steps as f64);
        }
    }

    let stages = STAGES
        .iter()
        .zip(&stage_samples)
        .filter_map(|(&stage, samples)| {
            Some(StageTime {
                stage,
                wall_ms_per_step: Summary::of(samples)?.median,
            })
        })
        .collect();
    let measurement = measurement(
        model,
        backend,
        Metric::TrainThroughput,
        settings.train_batch_size,
        steps,
        wall_rates,
        &cpu_rates,
        &utilisations,
        stages,
    );
    let classifier = trainer.classifier.expect("a trainer keeps its classifier");
    Ok((measurement, classifier))
}

/// The state of a benchmark's training loop.
struct Trainer {
    /// Empty only while [`optimizer`](Self::optimizer) consumes it during a step.
    classifier: Option<Classifier>,
    optimizer: burn::optim::ModuleOptimizer,
    batcher: MnistBatcher,
    order: Vec<usize>,
    cursor: usize,
    batch_size: usize,
    device: Device,
    /// Wall-clock seconds spent in each of [`STAGES`] since the last reset.
    stage_seconds: [f64; STAGES.len()],
}

impl Trainer {
    /// Runs one training step of the next batch, as Burn's learner does, and adds the time
    /// of each stage to `stage_seconds`.
    ///
    /// The device is synchronised after each stage so that a backend which queues work
    /// (wgpu) is charged where the work is issued; flex and ndarray run each operation
    /// when it is called, so there the sync costs nothing.
    fn step(&mut self) -> Result<(), BenchError> {
        if self.cursor + self.batch_size > self.order.len() {
            self.cursor = 0;
        }
        let indices = &self.order[self.cursor..self.cursor + self.batch_size];
        self.cursor += self.batch_size;

        let mut clock = Instant::now();
        let mut lap = |stage: usize, device: &Device| -> Result<(), BenchError> {
            device.sync().map_err(|error| {
                TrainError::Training(format!("device sync after {}: {error:?}", STAGES[stage]))
            })?;
            self.stage_seconds[stage] += clock.elapsed().as_secs_f64();
            clock = Instant::now();
            Ok(())
        };

        let batch = self.batcher.batch_indices(indices, &self.device);
        lap(0, &self.device)?;
        let output = self
            .classifier
            .as_ref()
            .expect("a trainer keeps its classifier")
            .forward_classification(batch);
        lap(1, &self.device)?;
        let gradients = output.loss.backward();
        lap(2, &self.device)?;
        let classifier = self
            .classifier
            .take()
            .expect("a trainer keeps its classifier");
        let gradients = GradientsParams::from_grads(gradients, &classifier);
        self.classifier = Some(self.optimizer.step(LEARNING_RATE, classifier, gradients));
        lap(3, &self.device)?;
        let loss = output.loss.into_scalar::<f64>();
        let correct = output
            .output
            .argmax(1)
            .flatten::<1>(0, 1)
            .equal(output.targets)
            .int()
            .sum()
            .into_scalar::<i64>();
        lap(4, &self.device)?;
        if !loss.is_finite() || correct < 0 {
            return Err(TrainError::Diverged(format!("benchmark loss became {loss}")).into());
        }
        Ok(())
    }
}

/// Times batched inference over the first `infer_batch_size` test images.
fn measure_inference(
    classifier: &Classifier,
    backend: BackendKind,
    device: &Device,
    split: &Arc<MnistSplit>,
    settings: &BenchSettings,
) -> Result<Measurement, BenchError> {
    let batch_size = settings.infer_batch_size.min(split.len()).max(1);
    let indices: Vec<usize> = (0..batch_size).collect();
    let batcher = MnistBatcher::new(split.clone());
    let predict = || {
        let batch = batcher.batch_indices(&indices, device);
        let predicted = classifier.forward(batch.images).argmax(1).into_data(); // [batch, 1]
        predicted.num_elements()
    };
    predict();

    let mut wall_rates = Vec::new();
    let mut cpu_rates = Vec::new();
    let mut utilisations = Vec::new();
    for _ in 0..settings.repetitions {
        let watch = Stopwatch::start();
        let images = predict() as f64;
        let (wall, cpu) = watch.stop();
        wall_rates.push(images / wall);
        if let Some(cpu) = cpu {
            cpu_rates.push(images / cpu);
            utilisations.push(cpu / wall);
        }
    }
    Ok(measurement(
        classifier.kind(),
        backend,
        Metric::InferThroughput,
        batch_size,
        1,
        wall_rates,
        &cpu_rates,
        &utilisations,
        Vec::new(),
    ))
}

/// Times single-image forward passes in this process, each a sample.
fn measure_latency(
    classifier: &Classifier,
    backend: BackendKind,
    device: &Device,
    split: &Arc<MnistSplit>,
    settings: &BenchSettings,
) -> Measurement {
    let batcher = MnistBatcher::new(split.clone());
    let classify = |index: usize| {
        let batch = batcher.batch_indices(&[index % split.len()], device);
        classifier.forward(batch.images).into_data().num_elements() // [1, 10]
    };
    for index in 0..LATENCY_WARMUP {
        classify(index);
    }
    let mut wall_ms = Vec::new();
    let watch = Stopwatch::start();
    for index in 0..settings.latency_iterations {
        let started = Instant::now();
        classify(index);
        wall_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (wall, cpu) = watch.stop();
    let iterations = settings.latency_iterations.max(1) as f64;
    let cpu_ms: Vec<f64> = cpu
        .map(|cpu| cpu * 1000.0 / iterations)
        .into_iter()
        .collect();
    let utilisation: Vec<f64> = cpu.map(|cpu| cpu / wall).into_iter().collect();
    measurement(
        classifier.kind(),
        backend,
        Metric::Latency,
        1,
        1,
        wall_ms,
        &cpu_ms,
        &utilisation,
        Vec::new(),
    )
}

/// Saves `classifier` as `mnist-train` would, into `<out_dir>/models/<model>/`, and
/// returns its kind.
fn save_model(classifier: Classifier, out_dir: &Path) -> Result<ModelKind, BenchError> {
    let kind = classifier.kind();
    let run_dir = models_dir(out_dir).join(kind.name());
    artifacts::create_dir(&run_dir)?;
    let config = TrainingConfig::new(ModelConfig::new(kind), BackendKind::Flex, 0);
    artifacts::write_json(&run_dir.join(CONFIG_FILE), &config)?;
    let record = run_dir.join(RECORD_FILE);
    classifier
        .save_file(&record)
        .map_err(|error| TrainError::Record {
            path: record.clone(),
            reason: error.to_string(),
        })?;
    Ok(kind)
}

fn models_dir(out_dir: &Path) -> PathBuf {
    out_dir.join("models")
}

/// Writes one MNIST test digit as a PNG and returns its path.
fn write_sample_image(split: &MnistSplit, out_dir: &Path) -> Result<PathBuf, BenchError> {
    let written = write_samples(split, &out_dir.join("samples"), 1)?;
    // write_samples writes the plain 28×28 image of digit 0 first.
    written
        .into_iter()
        .next()
        .ok_or_else(|| TrainError::Training("the test split has no images".into()).into())
}

/// Times `mnist-infer` from spawn to exit on one image, once untimed and then
/// `process_runs` times.
fn measure_process(
    binary: &Path,
    model: ModelKind,
    image: &Path,
    settings: &BenchSettings,
) -> Result<Measurement, BenchError> {
    let failure = |reason: String| BenchError::InferProcess {
        binary: binary.to_path_buf(),
        reason,
    };
    let run = || -> Result<f64, BenchError> {
        let started = Instant::now();
        let output = Command::new(binary)
            .arg("--model")
            .arg(model.name())
            .arg("--artifact-dir")
            .arg(models_dir(&settings.out_dir))
            .arg(image)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| failure(format!("cannot start: {error}")))?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(failure(format!("{}: {}", output.status, stderr.trim())));
        }
        Ok(elapsed)
    };
    // The first run loads the binary into the page cache.
    run()?;
    let mut wall_ms = Vec::new();
    for _ in 0..settings.process_runs {
        wall_ms.push(run()?);
    }
    Ok(measurement(
        model,
        BackendKind::Flex,
        Metric::ProcessLatency,
        1,
        1,
        wall_ms,
        &[],
        &[],
        Vec::new(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn measurement(
    model: ModelKind,
    backend: BackendKind,
    metric: Metric,
    batch_size: usize,
    iterations_per_sample: usize,
    samples: Vec<f64>,
    cpu_samples: &[f64],
    utilisations: &[f64],
    stages: Vec<StageTime>,
) -> Measurement {
    Measurement {
        model: model.name().to_string(),
        backend: backend.name().to_string(),
        metric,
        unit: metric.unit(),
        batch_size,
        iterations_per_sample,
        wall: Summary::of(&samples).unwrap_or(Summary {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        }),
        samples,
        cpu: Summary::of(cpu_samples),
        cpu_utilisation: Summary::of(utilisations).map(|summary| summary.median),
        stages,
    }
}
