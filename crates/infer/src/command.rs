//! Pieces of the shell commands that the binaries print as next steps.

use std::path::Path;

/// Returns `path` as one shell word: unchanged when it contains only characters that no
/// shell treats specially, otherwise in single quotes.
pub fn shell_quoted(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Returns the ` ARTIFACT_DIR=…` setting that points a `make` command at `artifact_dir`,
/// or nothing for the Makefile's default, `artifacts`. An empty path is the current
/// folder.
pub fn artifact_dir_setting(artifact_dir: &Path) -> String {
    if artifact_dir == Path::new("artifacts") {
        String::new()
    } else if artifact_dir.as_os_str().is_empty() {
        " ARTIFACT_DIR=.".to_string()
    } else {
        format!(" ARTIFACT_DIR={}", shell_quoted(artifact_dir))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn shell_quoted_keeps_plain_paths_and_quotes_others() {
        assert_eq!(
            shell_quoted(Path::new("/tmp/runs-1/a_b")),
            "/tmp/runs-1/a_b"
        );
        assert_eq!(shell_quoted(Path::new("/tmp/sp ace")), "'/tmp/sp ace'");
        assert_eq!(shell_quoted(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
        assert_eq!(shell_quoted(Path::new("")), "''");
    }

    #[test]
    fn artifact_dir_setting_skips_the_default() {
        assert_eq!(artifact_dir_setting(Path::new("artifacts")), "");
        assert_eq!(artifact_dir_setting(Path::new("")), " ARTIFACT_DIR=.");
        assert_eq!(
            artifact_dir_setting(Path::new("/tmp/sp ace")),
            " ARTIFACT_DIR='/tmp/sp ace'"
        );
    }
}
