//! `mnist-bench`: measures training and inference speed of both models on each backend.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mnist_model::ModelKind;
use mnist_train::BackendKind;
use mnist_train::bench::{BenchSettings, run_benchmarks};
use mnist_train::cli::{ModelArg, parse_positive};

/// Measure training and inference throughput and latency of the MNIST classifiers.
///
/// Prints a table and writes every sample to `<out-dir>/bench.json`. Each training
/// repetition times steps of the real model (forward, backward, Adam) on real MNIST
/// images after untimed warm-up steps.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Models to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "mlp,cnn")]
    models: Vec<ModelArg>,
    /// Backends to measure, comma-separated. wgpu on a software Vulkan driver runs the CNN
    /// about 40 times slower than flex.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "flex,ndarray"
    )]
    backends: Vec<BackendKind>,
    /// Timed repetitions of each measurement; the table shows their median.
    #[arg(long, default_value = "5", value_parser = parse_positive)]
    repetitions: usize,
    /// Training steps per repetition [default: for the MLP 1000, 50 on wgpu; for the CNN
    /// 20 on flex, 3 on ndarray and wgpu].
    #[arg(long, value_parser = parse_positive)]
    train_steps: Option<usize>,
    /// Untimed training steps before the timed ones.
    #[arg(long, default_value = "3")]
    warmup_steps: usize,
    /// Images per training step.
    #[arg(long, default_value = "64", value_parser = parse_positive)]
    batch_size: usize,
    /// Images per forward pass for inference throughput.
    #[arg(long, default_value = "1000", value_parser = parse_positive)]
    infer_batch_size: usize,
    /// Timed single-image forward passes per model and backend.
    #[arg(long, default_value = "50", value_parser = parse_positive)]
    latency_iterations: usize,
    /// Timed passes of each CNN layer alone, forward and backward; 0 skips the layer
    /// profile.
    #[arg(long, default_value = "0")]
    layer_iterations: usize,
    /// Timed runs of the `mnist-infer` process per model; 0 skips them.
    #[arg(long, default_value = "5")]
    process_runs: usize,
    /// The `mnist-infer` binary [default: the one beside this binary].
    #[arg(long)]
    infer_binary: Option<PathBuf>,
    /// A shorter run for checking the harness: 3 repetitions of a third of the steps.
    #[arg(long)]
    quick: bool,
    /// Folder with the four verified MNIST files (`make data` fills it).
    #[arg(long, default_value = "datasets/mnist")]
    data_dir: PathBuf,
    /// Folder for `bench.json`, a sample image and the models `mnist-infer` loads.
    #[arg(long, default_value = "artifacts/bench")]
    out_dir: PathBuf,
}

fn main() -> ExitCode {
    mnist_model::process::reuse_freed_memory();
    mnist_model::process::quit_on_closed_pipe();
    let args = Args::parse();
    let infer_binary = args.infer_binary.or_else(|| {
        let beside = std::env::current_exe().ok()?.with_file_name("mnist-infer");
        beside.is_file().then_some(beside)
    });
    if infer_binary.is_none() && args.process_runs > 0 {
        eprintln!("warning: no mnist-infer beside this binary; skipping the process latency");
    }
    let quick_divisor = if args.quick { 3 } else { 1 };
    let settings = BenchSettings {
        models: args.models.into_iter().map(ModelKind::from).collect(),
        backends: args.backends,
        repetitions: if args.quick { 3 } else { args.repetitions },
        warmup_steps: args.warmup_steps,
        train_batch_size: args.batch_size,
        train_steps: args.train_steps,
        train_steps_divisor: quick_divisor,
        infer_batch_size: args.infer_batch_size,
        latency_iterations: args.latency_iterations.div_ceil(quick_divisor),
        layer_iterations: args.layer_iterations,
        process_runs: if args.quick {
            args.process_runs.min(3)
        } else {
            args.process_runs
        },
        infer_binary,
        data_dir: args.data_dir,
        out_dir: args.out_dir,
    };

    let report = match run_benchmarks(&settings) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let json_path = settings.out_dir.join("bench.json");
    if let Err(error) = report.write_json(&json_path) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    if let Err(error) = report.print_table(&mut std::io::stdout().lock()) {
        eprintln!("error: cannot print the table: {error}");
        return ExitCode::FAILURE;
    }
    println!("wrote {}", json_path.display());
    ExitCode::SUCCESS
}
