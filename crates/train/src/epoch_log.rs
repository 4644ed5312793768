//! The per-epoch metrics file, `metrics.csv`, beside the record: one row per finished
//! epoch with the training and validation loss and accuracy, learning rate and speed.
//!
//! The file is rewritten whole after each epoch, through a temporary file and a rename,
//! so a reader sees either the rows before an epoch or the rows after it. Which numbers
//! go into a row is left to [`crate::recorder`].

use std::path::{Path, PathBuf};

use crate::{TrainError, artifacts};

/// Name of the per-epoch metrics file inside a run's folder.
pub const METRICS_FILE: &str = "metrics.csv";

/// Header line of [`METRICS_FILE`], without its line break.
pub const HEADER: &str = "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,\
                          learning_rate,seconds,images_per_second";

/// Metrics of one finished epoch, as one row of [`METRICS_FILE`].
#[derive(Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean cross-entropy loss over the epoch's training images.
    pub train_loss: f64,
    /// Fraction of the epoch's training images classified correctly, in [0, 1].
    pub train_accuracy: f64,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
    /// Mean learning rate over the epoch's steps.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch, training and validation together.
    pub seconds: f64,
    /// Training images per second of the training split alone.
    pub images_per_second: f64,
}

impl EpochMetrics {
    fn to_line(&self) -> String {
        // `{}` prints the shortest text that parses back to the same f64, so reading the
        // file gives the values that were recorded.
        format!(
            "{},{},{},{},{},{},{:.3},{:.1}",
            self.epoch,
            self.train_loss,
            self.train_accuracy,
            self.valid_loss,
            self.valid_accuracy,
            self.learning_rate,
            self.seconds,
            self.images_per_second
        )
    }

    fn parse_line(line: &str) -> Result<Self, String> {
        let fields: Vec<&str> = line.split(',').collect();
        let expected = HEADER.split(',').count();
        if fields.len() != expected {
            return Err(format!(
                "{} fields where the header has {expected}",
                fields.len()
            ));
        }
        let epoch = fields[0]
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("epoch {:?} is not a whole number", fields[0]))?;
        // Training writes finite, non-negative values, and accuracies as fractions.
        let number = |index: usize, most: f64, expected: &str| -> Result<f64, String> {
            let text = fields[index].trim();
            let column = HEADER.split(',').nth(index).unwrap_or("?");
            let value = text
                .parse::<f64>()
                .map_err(|_| format!("{column} {text:?} is not a number"))?;
            if (0.0..=most).contains(&value) {
                Ok(value)
            } else {
                Err(format!("{column} {text} is not {expected}"))
            }
        };
        let fraction = |index: usize| number(index, 1.0, "a fraction from 0 to 1");
        let amount = |index: usize| number(index, f64::MAX, "a finite number of at least 0");
        Ok(Self {
            epoch,
            train_loss: amount(1)?,
            train_accuracy: fraction(2)?,
            valid_loss: amount(3)?,
            valid_accuracy: fraction(4)?,
            learning_rate: amount(5)?,
            seconds: amount(6)?,
            images_per_second: amount(7)?,
        })
    }
}

/// A file of [`METRICS_FILE`] could not be read or does not have its format.
#[derive(Debug, thiserror::Error)]
pub enum EpochLogError {
    #[error(
        "{path}: no per-epoch metrics; runs trained before metrics.csv existed have none, \
         so train again with `make train` to get them"
    )]
    Missing { path: PathBuf },

    #[error("{path}: cannot read the per-epoch metrics: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{path}, line {line}: invalid per-epoch metrics: {reason}; delete the file to \
         evaluate without the curves, or train again with `make train`"
    )]
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Reads every row of a metrics file, checking its header and that epochs increase.
pub fn read_epoch_log(path: &Path) -> Result<Vec<EpochMetrics>, EpochLogError> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => EpochLogError::Missing {
            path: path.to_path_buf(),
        },
        _ => EpochLogError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    parse_epoch_log(&text).map_err(|(line, reason)| EpochLogError::Invalid {
        path: path.to_path_buf(),
        line,
        reason,
    })
}

/// Parses the text of a metrics file, or returns the 1-based line number and the reason
/// it is invalid.
fn parse_epoch_log(text: &str) -> Result<Vec<EpochMetrics>, (usize, String)> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_end() == HEADER => {}
        Some((_, header)) => {
            return Err((1, format!("header {header:?} is not {HEADER:?}")));
        }
        None => return Err((1, "the file is empty".to_string())),
    }
    let mut rows: Vec<EpochMetrics> = Vec::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let row = EpochMetrics::parse_line(line).map_err(|reason| (index + 1, reason))?;
        if let Some(previous) = rows.last()
            && row.epoch <= previous.epoch
        {
            return Err((
                index + 1,
                format!("epoch {} follows epoch {}", row.epoch, previous.epoch),
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The metrics file of a run in progress, with the rows written so far.
pub struct EpochLog {
    path: PathBuf,
    rows: Vec<EpochMetrics>,
}

impl EpochLog {
    /// Starts a new file at `path` that holds only the header, replacing any earlier one.
    pub fn create(path: &Path) -> Result<Self, TrainError> {
        let log = Self {
            path: path.to_path_buf(),
            rows: Vec::new(),
        };
        log.write()?;
        Ok(log)
    }

    /// Continues the file of a run resumed after epoch `last_epoch`: keeps the rows of
    /// epochs up to `last_epoch`, drops later ones, and rewrites the file.
    ///
    /// A missing file starts empty, so resuming a run trained before this file existed
    /// loses only the rows of its earlier epochs.
    pub fn resume(path: &Path, last_epoch: usize) -> Result<Self, TrainError> {
        let mut rows = match read_epoch_log(path) {
            Ok(rows) => rows,
            Err(EpochLogError::Missing { .. }) => Vec::new(),
            Err(error) => {
                return Err(TrainError::Artifact {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(error.to_string()),
                });
            }
        };
        rows.retain(|row| row.epoch <= last_epoch);
        let log = Self {
            path: path.to_path_buf(),
            rows,
        };
        log.write()?;
        Ok(log)
    }

    /// Adds the row of a finished epoch and rewrites the file.
    pub fn append(&mut self, row: EpochMetrics) -> Result<(), TrainError> {
        self.rows.push(row);
        self.write()
    }

    /// Returns the path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self) -> Result<(), TrainError> {
        let mut text = String::with_capacity(64 * (self.rows.len() + 1));
        text.push_str(HEADER);
        text.push('\n');
        for row in &self.rows {
            text.push_str(&row.to_line());
            text.push('\n');
        }
        artifacts::write_atomically(&self.path, text.as_bytes())
    }
}

/// Returns the epoch with the highest validation accuracy, the earliest on a tie.
pub fn best_epoch(rows: &[EpochMetrics]) -> Option<&EpochMetrics> {
    rows.iter()
        .fold(None, |best: Option<&EpochMetrics>, row| match best {
            Some(best) if best.valid_accuracy >= row.valid_accuracy => Some(best),
            _ => Some(row),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, valid_accuracy: f64) -> EpochMetrics {
        EpochMetrics {
            epoch,
            train_loss: 0.25,
            train_accuracy: 0.9,
            valid_loss: 0.125,
            valid_accuracy,
            learning_rate: 1e-3,
            seconds: 1.5,
            images_per_second: 36_000.0,
        }
    }

    #[test]
    fn rows_round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(METRICS_FILE);
        let mut log = EpochLog::create(&path).expect("create");
        log.append(row(1, 0.9)).expect("append");
        log.append(row(2, 0.123_456_789_012_345_6)).expect("append");
        let read = read_epoch_log(&path).expect("read back");
        assert_eq!(read, vec![row(1, 0.9), row(2, 0.123_456_789_012_345_6)]);
    }

    #[test]
    fn new_file_holds_only_the_header() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(METRICS_FILE);
        EpochLog::create(&path).expect("create");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("{HEADER}\n"));
    }

    #[test]
    fn resume_drops_epochs_after_the_checkpoint() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(METRICS_FILE);
        let mut log = EpochLog::create(&path).expect("create");
        for epoch in 1..=4 {
            log.append(row(epoch, 0.9)).expect("append");
        }
        let mut resumed = EpochLog::resume(&path, 2).expect("resume");
        let kept: Vec<usize> = read_epoch_log(&path)
            .expect("read")
            .iter()
            .map(|row| row.epoch)
            .collect();
        assert_eq!(kept, vec![1, 2]);
        resumed.append(row(3, 0.95)).expect("append");
        assert_eq!(read_epoch_log(&path).expect("read").len(), 3);
    }

    #[test]
    fn resume_without_a_file_starts_empty() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(METRICS_FILE);
        EpochLog::resume(&path, 3).expect("resume");
        assert!(read_epoch_log(&path).expect("read").is_empty());
    }

    #[test]
    fn invalid_rows_name_their_line() {
        let text = format!(
            "{HEADER}\n1,0.5,0.8,0.4,0.85,0.001,1.0,100.0\n2,0.4,x,0.3,0.9,0.001,1.0,100.0\n"
        );
        let (line, reason) = parse_epoch_log(&text).expect_err("invalid");
        assert_eq!(line, 3);
        assert!(reason.contains("train_accuracy"), "{reason}");
    }

    #[test]
    fn impossible_values_are_rejected() {
        // Each row has one bad field.
        let cases = [
            ("1,NaN,0.5,0.4,0.8,0.001,1.0,100.0", "train_loss"),
            ("1,0.5,0.5,inf,0.8,0.001,1.0,100.0", "valid_loss"),
            ("1,0.5,0.5,0.4,2.0,0.001,1.0,100.0", "valid_accuracy"),
            ("1,0.5,0.5,0.4,0.8,-1,1.0,100.0", "learning_rate"),
            ("1,0.5,0.5,0.4,0.8,0.001,-0.5,100.0", "seconds"),
        ];
        for (row, column) in cases {
            let text = format!("{HEADER}\n{row}\n");
            let (line, reason) = parse_epoch_log(&text).expect_err(row);
            assert_eq!(line, 2, "{row}");
            assert!(reason.contains(column), "{row}: {reason}");
        }
    }

    #[test]
    fn wrong_header_is_rejected() {
        let (line, _) = parse_epoch_log("epoch,loss\n1,0.5\n").expect_err("invalid");
        assert_eq!(line, 1);
    }

    #[test]
    fn epochs_must_increase() {
        let text = format!(
            "{HEADER}\n2,0.5,0.8,0.4,0.85,0.001,1.0,100.0\n2,0.4,0.9,0.3,0.9,0.001,1.0,100.0\n"
        );
        let (line, reason) = parse_epoch_log(&text).expect_err("invalid");
        assert_eq!(line, 3);
        assert!(reason.contains("follows"), "{reason}");
    }

    #[test]
    fn best_epoch_has_highest_validation_accuracy() {
        let rows = [row(1, 0.9), row(2, 0.95), row(3, 0.95), row(4, 0.94)];
        assert_eq!(best_epoch(&rows).map(|row| row.epoch), Some(2));
        assert!(best_epoch(&[]).is_none());
    }
}
