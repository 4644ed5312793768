//! `mnist-train`: trains an MNIST classifier and writes its artifacts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use mnist_model::{ModelConfig, ModelKind};
use mnist_train::cli::{ModelArg, parse_positive};
use mnist_train::config::{LrSchedule, default_epochs, default_learning_rate};
use mnist_train::finish::{chance_warning, finish_run};
use mnist_train::run::{DEFAULT_KEEP_CHECKPOINTS, ProgressMode, RunOptions};
use mnist_train::{BackendKind, RunPaths, TrainingConfig, train};

/// Train an MNIST digit classifier with Burn and save it for `mnist-infer`.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Architecture to train.
    #[arg(long, value_enum, default_value = "mlp")]
    model: ModelArg,
    /// Backend to train on. `flex` is Burn's native CPU backend; `ndarray` is deprecated
    /// upstream in its favour; `wgpu` uses a GPU or a software Vulkan driver.
    #[arg(long, value_enum, default_value = "flex")]
    backend: BackendKind,
    /// Passes over the training set [default: 20 for mlp, 15 for cnn].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_positive)]
    epochs: Option<usize>,
    /// Images per training step.
    #[arg(long, allow_negative_numbers = true, default_value = "64", value_parser = parse_positive)]
    batch_size: usize,
    /// Peak learning rate of Adam, which --lr-schedule lowers over the run [default: 0.001
    /// for mlp, 0.002 for cnn].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_learning_rate)]
    learning_rate: Option<f64>,
    /// Learning-rate schedule over the run: `cosine` and `linear` lower the rate to zero,
    /// `step` multiplies it by 0.7 after each epoch, `constant` keeps it.
    #[arg(long, value_enum, default_value = "cosine")]
    lr_schedule: LrSchedule,
    /// L2 weight decay: Adam adds this factor times each parameter to its gradient, like
    /// PyTorch's `Adam(weight_decay=)` [default: 0].
    #[arg(long, allow_hyphen_values = true, value_parser = parse_weight_decay)]
    weight_decay: Option<f64>,
    /// Share of the CNN's hidden units zeroed in each training step [default: 0.25]. The
    /// MLP has no dropout.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_dropout)]
    dropout: Option<f64>,
    /// Output channels of the CNN's convolutions, each at most 512, as FIRST,SECOND
    /// [default: 32,64]. A third number adds a third convolution on the 7×7 maps after the
    /// second pooling. Wider and deeper networks learn more features but train more slowly.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_channels)]
    channels: Option<Channels>,
    /// Units of the CNN's hidden linear layer, at most 4096 [default: 128].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_hidden)]
    hidden: Option<usize>,
    /// Train on the images as they are. By default each training image is distorted by a
    /// random rotation (up to 10°), scaling (0.9 to 1.1) and shift (up to 2 pixels), drawn
    /// from the seed, anew in every epoch.
    #[arg(long)]
    no_augment: bool,
    /// Train the last N epochs on undistorted images, like the test images [default: 0].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_count)]
    unaugmented_epochs: Option<usize>,
    /// Seed of weight initialisation, dropout, the validation split and shuffling.
    #[arg(long, default_value = "42", allow_negative_numbers = true)]
    seed: u64,
    /// Share of the training set held out for validation, strictly between 0 and 1.
    #[arg(long, allow_negative_numbers = true, default_value = "0.1", value_parser = parse_fraction)]
    valid_fraction: f64,
    /// Use only this many training-set images (before the validation split), for quick runs.
    #[arg(long, allow_negative_numbers = true, value_parser = parse_limit)]
    limit: Option<usize>,
    /// Continue the interrupted run in `<artifact-dir>/<model>/` from its last complete
    /// checkpoint. Give the same flags as the interrupted run; the backend may differ.
    #[arg(long, conflicts_with = "restart")]
    resume: bool,
    /// Delete the checkpoints of an interrupted run in `<artifact-dir>/<model>/` and
    /// train from the start.
    #[arg(long)]
    restart: bool,
    /// Checkpoints of the most recent epochs to keep; 0 keeps every epoch's (5 MB each
    /// for the CNN). A resumed run needs only the last complete one.
    #[arg(long, default_value_t = DEFAULT_KEEP_CHECKPOINTS)]
    keep_checkpoints: usize,
    /// Folder with the four verified MNIST files (`make data` fills it).
    #[arg(long, default_value = "datasets/mnist")]
    data_dir: PathBuf,
    /// Folder of the runs; this run writes into `<artifact-dir>/<model>/`.
    #[arg(long, default_value = "artifacts")]
    artifact_dir: PathBuf,
    /// Progress display: the dashboard in a terminal, or plain lines.
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressMode,
}

fn parse_limit(text: &str) -> Result<usize, String> {
    let value = parse_positive(text)?;
    if value < 2 {
        return Err(format!(
            "{text} leaves no image for training or validation; use 2 or more"
        ));
    }
    Ok(value)
}

fn parse_learning_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        // Burn's cosine schedule accepts initial rates in (0, 1].
        Ok(value) if value > 0.0 && value <= 1.0 => Ok(value),
        Ok(_) => Err(format!(
            "{text} is outside (0, 1]; use a rate such as 0.001"
        )),
        Err(_) => Err(format!("{text} is not a number")),
    }
}

fn parse_weight_decay(text: &str) -> Result<f64, String> {
    parse_below_one(text, "a decay such as 0.0001")
}

fn parse_dropout(text: &str) -> Result<f64, String> {
    parse_below_one(text, "a probability such as 0.25")
}

/// Parses a number in [0, 1), suggesting `example` for one outside it.
fn parse_below_one(text: &str, example: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if (0.0..1.0).contains(&value) => Ok(value),
        Ok(_) => Err(format!("{text} is outside [0, 1); use {example}")),
        Err(_) => Err(format!("{text} is not a number")),
    }
}

/// The values of `--channels`: two or three output channel counts.
#[derive(Clone, Copy, Debug)]
struct Channels {
    first: usize,
    second: usize,
    third: Option<usize>,
}

/// Largest channel count `--channels` accepts. With 512 channels before the hidden layer
/// and 4096 units in it, its weights, their gradient and Adam's two moments take 1.6 GB.
const MAX_CHANNELS: usize = 512;
/// Largest `--hidden`, which bounds that memory with [`MAX_CHANNELS`].
const MAX_HIDDEN: usize = 4096;

fn parse_hidden(text: &str) -> Result<usize, String> {
    let value = parse_positive(text)?;
    if value > MAX_HIDDEN {
        return Err(format!(
            "{text} is more than the {MAX_HIDDEN} hidden units allowed; use fewer, such as 256"
        ));
    }
    Ok(value)
}

fn parse_channels(text: &str) -> Result<Channels, String> {
    let counts: Option<Vec<usize>> = text
        .split(',')
        .map(|count| count.trim().parse().ok().filter(|&count| count > 0))
        .collect();
    if let Some(large) = counts.iter().flatten().find(|&&count| count > MAX_CHANNELS) {
        return Err(format!(
            "{text}: {large} is more than the {MAX_CHANNELS} channels allowed per convolution; \
             use fewer, such as 32,64,64"
        ));
    }
    match counts.as_deref() {
        Some(&[first, second]) => Ok(Channels {
            first,
            second,
            third: None,
        }),
        Some(&[first, second, third]) => Ok(Channels {
            first,
            second,
            third: Some(third),
        }),
        _ => Err(format!(
            "{text} is not two or three positive whole numbers; use counts such as 32,64 or \
             32,64,64"
        )),
    }
}

fn parse_count(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .map_err(|_| format!("{text} is not a whole number of 0 or more"))
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value < 1.0 => Ok(value),
        Ok(_) => Err(format!(
            "{text} is outside (0, 1); use a fraction such as 0.1"
        )),
        Err(_) => Err(format!("{text} is not a number")),
    }
}

/// Prints `message` as clap prints its own usage errors, and exits with code 2.
fn usage_error(kind: ErrorKind, message: impl std::fmt::Display) -> ! {
    Args::command().error(kind, message).exit()
}

/// Sets `XDG_RUNTIME_DIR` to a private folder when it is unset.
///
/// Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set" on every
/// start without it, as in CI and under `sudo`, which reads like a failure of training.
fn provide_runtime_dir() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".to_string());
    let dir = std::env::temp_dir().join(format!("mnist-burn-runtime-{user}"));
    let created = std::fs::create_dir_all(&dir).and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
    });
    if created.is_ok() {
        // SAFETY: called at the start of `main`, before any other thread exists.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn main() -> ExitCode {
    mnist_model::process::reuse_freed_memory();
    let args = Args::parse();
    if args.backend == BackendKind::Wgpu {
        provide_runtime_dir();
    }
    // Burn puts some tensors on its default device, which prefers wgpu whatever backend
    // trains: restoring an optimizer checkpoint does (burn-optim 0.22.1). `BURN_DEVICE`
    // makes the default the chosen backend, so a CPU run never opens a Vulkan driver.
    // SAFETY: called at the start of `main`, before any other thread exists.
    unsafe { std::env::set_var("BURN_DEVICE", args.backend.name()) };
    let kind = ModelKind::from(args.model);
    let mut model = ModelConfig::new(kind);
    if kind == ModelKind::Mlp {
        let cnn_flags = [
            ("--dropout", args.dropout.is_some()),
            ("--channels", args.channels.is_some()),
            ("--hidden", args.hidden.is_some()),
        ];
        if let Some((flag, _)) = cnn_flags.iter().find(|(_, given)| *given) {
            usage_error(
                ErrorKind::ArgumentConflict,
                format!(
                    "{flag} sets a layer of the CNN, which the MLP does not have. Add \
                     --model cnn or leave {flag} out"
                ),
            );
        }
    }
    if let Some(dropout) = args.dropout {
        model.cnn.dropout = dropout;
    }
    if let Some(channels) = args.channels {
        model.cnn.channels_1 = channels.first;
        model.cnn.channels_2 = channels.second;
        model.cnn.channels_3 = channels.third;
    }
    if let Some(hidden) = args.hidden {
        model.cnn.hidden = hidden;
    }
    let epochs = args.epochs.unwrap_or_else(|| default_epochs(kind));
    if args.no_augment && args.unaugmented_epochs.is_some_and(|count| count > 0) {
        usage_error(
            ErrorKind::ArgumentConflict,
            "--no-augment (AUGMENT=0) already trains every epoch on undistorted images; leave \
             out --unaugmented-epochs, or leave out --no-augment to augment the earlier epochs",
        );
    }
    if let Some(unaugmented) = args.unaugmented_epochs
        && unaugmented >= epochs
    {
        usage_error(
            ErrorKind::ValueValidation,
            format!(
                "--unaugmented-epochs {unaugmented} leaves none of the {epochs} epochs \
                 augmented; use fewer, or --no-augment to train every epoch on the images as \
                 they are"
            ),
        );
    }
    let config = TrainingConfig {
        model,
        backend: args.backend,
        epochs,
        batch_size: args.batch_size,
        learning_rate: args
            .learning_rate
            .unwrap_or_else(|| default_learning_rate(kind)),
        lr_schedule: args.lr_schedule,
        weight_decay: args.weight_decay,
        augment: !args.no_augment,
        unaugmented_epochs: args.unaugmented_epochs,
        seed: args.seed,
        valid_fraction: args.valid_fraction,
        limit: args.limit,
    };
    let paths = RunPaths {
        data_dir: args.data_dir,
        artifact_dir: args.artifact_dir,
    };

    let options = RunOptions {
        progress: args.progress,
        resume: args.resume,
        restart: args.restart,
        keep_checkpoints: args.keep_checkpoints,
    };
    match train(&config, &paths, options) {
        Ok(summary) => {
            let report = finish_run(&summary, &paths.data_dir);
            mnist_train::outln!("{}", report.trim_end());
            if let Some(warning) = chance_warning(&summary) {
                mnist_train::errln!("{warning}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            mnist_train::errln!("error: {error}");
            ExitCode::from(error.exit_code() as u8)
        }
    }
}
