//! `mnist-fixtures`: writes MNIST test digits rendered the ways people make images (scans,
//! phone photos, drawing apps, chalk, markers, fine pens, every accepted file format) into a
//! folder, to look at and to try `mnist-infer` on.
//!
//! Files are named `<kind>-digit-<label>-index-<i>.<ext>`, where `i` is the image's index in
//! the MNIST test set. The images are the ones the `real_world` test classifies for the same
//! indices. Paths go to stdout and errors to stderr. Exit codes: 0 success, 1 a file cannot
//! be written, 2 invalid arguments, 3 MNIST files missing or failing verification.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::builder::PossibleValuesParser;
use mnist_data::{Split, load_split};
use mnist_e2e::fixtures::{Kind, file_name, fixture_seed, render, sample_indices};

/// Exit code of failures other than invalid arguments and MNIST data errors, such as a file
/// that cannot be written.
const EXIT_FAILURE: u8 = 1;

/// Write MNIST test digits as scans, photos, drawings and every accepted image format.
#[derive(Debug, Parser)]
#[command(name = "mnist-fixtures", version, about)]
struct Args {
    /// Folder that receives the images, created if missing.
    #[arg(long)]
    out: PathBuf,
    /// Test digits per kind, spread evenly over the 10,000 test images.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    per_kind: u32,
    /// Folder with the verified MNIST files.
    #[arg(long, default_value = "datasets/mnist")]
    data_dir: PathBuf,
    /// Write only this kind (repeat the flag for several). Without it, every kind is written.
    #[arg(long = "kind", value_parser = PossibleValuesParser::new(Kind::ALL.map(Kind::name)))]
    kinds: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let test_set = match load_split(&args.data_dir, Split::Test) {
        Ok(split) => split,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_FAILURE));
        }
    };
    if let Err(error) = std::fs::create_dir_all(&args.out) {
        eprintln!(
            "error: cannot create {}: {error}; check the path and the permissions",
            args.out.display()
        );
        return ExitCode::from(EXIT_FAILURE);
    }

    let kinds: Vec<Kind> = if args.kinds.is_empty() {
        Kind::ALL.to_vec()
    } else {
        args.kinds
            .iter()
            .filter_map(|name| Kind::from_name(name))
            .collect()
    };
    let indices = sample_indices(test_set.len(), args.per_kind as usize);
    let mut stdout = std::io::stdout().lock();
    for kind in kinds {
        for &index in &indices {
            let label = test_set.label(index);
            let (bytes, extension) = render(kind, test_set.image(index), fixture_seed(kind, index));
            let path = args.out.join(file_name(kind, label, index, extension));
            if let Err(error) = std::fs::write(&path, bytes) {
                eprintln!(
                    "error: cannot write {}: {error}; check the free disk space and the permissions",
                    path.display()
                );
                return ExitCode::from(EXIT_FAILURE);
            }
            if let Err(error) = writeln!(stdout, "{}", path.display()) {
                eprintln!("error: failed to write to stdout: {error}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    }
    ExitCode::SUCCESS
}
