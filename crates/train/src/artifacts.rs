//! Files a run leaves in its artifact folder, each written to a temporary file first and
//! renamed into place, so an interrupted write never replaces a good file with a partial one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::TrainError;

pub use mnist_model::{CONFIG_FILE, RECORD_FILE};

/// Name of the run's summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// Folder of Burn's per-epoch checkpoints.
pub const CHECKPOINT_DIR: &str = "checkpoint";

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    let error = |source| TrainError::Artifact {
        path: path.to_path_buf(),
        source,
    };
    let temporary = temporary_path(path);
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        // The temporary file is incomplete; the real one is untouched.
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(error)
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), TrainError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|error| TrainError::Artifact {
        path: path.to_path_buf(),
        source: std::io::Error::other(error),
    })?;
    text.push('\n');
    write_atomically(path, text.as_bytes())
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<(), TrainError> {
    fs::create_dir_all(dir).map_err(|source| TrainError::Artifact {
        path: dir.to_path_buf(),
        source,
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}
