//! Trains a small MLP with `mnist-train`, evaluates the saved model with `mnist-eval` in a
//! separate process, and checks the report, the per-epoch metrics, the pictures and the
//! errors on broken runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use mnist_data::{Split, load_split};
use mnist_e2e::{binary, dataset_dir, describe, read_json, run};
use mnist_train::epoch_log::HEADER;
use mnist_train::plot::{CONFUSION_SIZE, CURVES_SIZE, mistakes_size};
use tempfile::TempDir;

/// Epochs and training-set images of the shared run: 5,400 to train and 600 to validate,
/// which takes a few seconds on flex and still misclassifies a few hundred test images.
const EPOCHS: usize = 2;
const LIMIT: &str = "6000";

/// Images of each digit in the MNIST test set (t10k-labels-idx1-ubyte), counted from the
/// file; `test_label_counts_are_canonical` checks them against the data.
const TEST_LABEL_COUNTS: [usize; 10] = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

/// Mistakes `mnist-eval` lists and draws by default.
const DEFAULT_MISTAKES: usize = 25;

struct SharedRun {
    artifacts: TempDir,
    train: Output,
    eval: Output,
}

impl SharedRun {
    fn run_dir(&self) -> PathBuf {
        self.artifacts.path().join("mlp")
    }
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

fn train_mlp(artifacts: &Path, epochs: usize, limit: &str) -> Output {
    let output = run(Command::new(binary("mnist-train")).args([
        "--model",
        "mlp",
        "--epochs",
        &epochs.to_string(),
        "--limit",
        limit,
        "--progress",
        "plain",
        "--data-dir",
        path_text(&dataset_dir()),
        "--artifact-dir",
        path_text(artifacts),
    ]));
    assert!(
        output.status.success(),
        "training failed: {}",
        describe(&output)
    );
    output
}

fn eval_mlp(artifacts: &Path) -> Output {
    run(Command::new(binary("mnist-eval")).args([
        "--model",
        "mlp",
        "--data-dir",
        path_text(&dataset_dir()),
        "--artifact-dir",
        path_text(artifacts),
    ]))
}

/// Trains the MLP and evaluates it once for all tests of this file.
fn shared_run() -> &'static SharedRun {
    static RUN: OnceLock<SharedRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let artifacts = tempfile::tempdir().expect("temporary folder");
        let train = train_mlp(artifacts.path(), EPOCHS, LIMIT);
        let eval = eval_mlp(artifacts.path());
        assert!(
            eval.status.success(),
            "evaluation failed: {}",
            describe(&eval)
        );
        SharedRun {
            artifacts,
            train,
            eval,
        }
    })
}

fn number(value: &serde_json::Value, field: &str) -> f64 {
    value[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {value}"))
}

fn count(value: &serde_json::Value, field: &str) -> usize {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not a count in {value}")) as usize
}

fn confusion_matrix(report: &serde_json::Value) -> Vec<Vec<usize>> {
    report["confusion_matrix"]
        .as_array()
        .expect("confusion_matrix is an array")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("a matrix row is an array")
                .iter()
                .map(|cell| cell.as_u64().expect("a cell is a count") as usize)
                .collect()
        })
        .collect()
}

#[test]
fn eval_matches_training_test_accuracy() {
    let shared = shared_run();
    let summary = read_json(&shared.run_dir().join("summary.json"));
    let report = read_json(&shared.run_dir().join("eval.json"));

    assert_eq!(count(&report, "images"), count(&summary, "test_images"));
    // Both are `correct / images` of the same evaluation code, so they are equal to the
    // last bit, and so is the count of correct images behind them.
    assert_eq!(
        number(&report, "accuracy"),
        number(&summary, "test_accuracy")
    );
    let summary_correct =
        (number(&summary, "test_accuracy") * number(&summary, "test_images")).round() as usize;
    assert_eq!(count(&report, "correct"), summary_correct);
    assert_eq!(number(&report, "loss"), number(&summary, "test_loss"));
}

#[test]
fn test_label_counts_are_canonical() {
    let test = load_split(&dataset_dir(), Split::Test).expect("verified test set");
    let mut counts = [0usize; 10];
    for index in 0..test.len() {
        counts[usize::from(test.label(index))] += 1;
    }
    assert_eq!(counts, TEST_LABEL_COUNTS);
}

#[test]
fn confusion_matrix_matches_test_labels() {
    let report = read_json(&shared_run().run_dir().join("eval.json"));
    let matrix = confusion_matrix(&report);
    assert_eq!(matrix.len(), 10);
    let total: usize = matrix.iter().flatten().sum();
    assert_eq!(total, 10_000);
    for (digit, row) in matrix.iter().enumerate() {
        assert_eq!(row.len(), 10, "row {digit}");
        let images: usize = row.iter().sum();
        assert_eq!(images, TEST_LABEL_COUNTS[digit], "row sum of digit {digit}");
    }
    let diagonal: usize = (0..10).map(|digit| matrix[digit][digit]).sum();
    assert_eq!(diagonal, count(&report, "correct"));
    assert_eq!(
        count(&report, "misclassified"),
        10_000 - count(&report, "correct")
    );
}

#[test]
fn class_scores_agree_with_confusion_matrix() {
    let report = read_json(&shared_run().run_dir().join("eval.json"));
    let matrix = confusion_matrix(&report);
    let classes = report["classes"].as_array().expect("classes is an array");
    assert_eq!(classes.len(), 10);
    for (digit, class) in classes.iter().enumerate() {
        assert_eq!(count(class, "digit"), digit);
        let correct = matrix[digit][digit];
        let images: usize = matrix[digit].iter().sum();
        let predicted: usize = matrix.iter().map(|row| row[digit]).sum();
        assert_eq!(count(class, "images"), images, "digit {digit}");
        assert_eq!(count(class, "predicted"), predicted, "digit {digit}");
        assert_eq!(count(class, "correct"), correct, "digit {digit}");
        let precision = correct as f64 / predicted as f64;
        let recall = correct as f64 / images as f64;
        let f1 = 2.0 * precision * recall / (precision + recall);
        assert!(
            (number(class, "precision") - precision).abs() < 1e-12,
            "digit {digit}"
        );
        assert!(
            (number(class, "recall") - recall).abs() < 1e-12,
            "digit {digit}"
        );
        assert!((number(class, "f1") - f1).abs() < 1e-12, "digit {digit}");
    }
    let macro_recall: f64 = classes.iter().map(|c| number(c, "recall")).sum::<f64>() / 10.0;
    assert!((number(&report, "macro_recall") - macro_recall).abs() < 1e-12);
}

#[test]
fn mistakes_are_wrong_and_most_confident_first() {
    let report = read_json(&shared_run().run_dir().join("eval.json"));
    let test = load_split(&dataset_dir(), Split::Test).expect("verified test set");
    let mistakes = report["most_confident_mistakes"]
        .as_array()
        .expect("most_confident_mistakes is an array");
    assert_eq!(
        mistakes.len(),
        DEFAULT_MISTAKES.min(count(&report, "misclassified"))
    );
    let mut previous = f64::INFINITY;
    for mistake in mistakes {
        let index = count(mistake, "index");
        let label = count(mistake, "label");
        let predicted = count(mistake, "predicted");
        let confidence = number(mistake, "confidence");
        assert_eq!(label, usize::from(test.label(index)), "{mistake}");
        assert_ne!(label, predicted, "{mistake}");
        assert!(confidence <= previous, "not sorted at {mistake}");
        // A wrong argmax of ten probabilities has at least 1/10 of the mass.
        assert!((0.1..=1.0).contains(&confidence), "{mistake}");
        previous = confidence;
    }
}

#[test]
fn eval_prints_tables_without_escapes() {
    let shared = shared_run();
    let stdout = String::from_utf8_lossy(&shared.eval.stdout);
    let stderr = String::from_utf8_lossy(&shared.eval.stderr);
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains('\u{1b}'),
            "escape sequence in output:\n{text}"
        );
    }
    for expected in [
        "accuracy",
        "precision",
        "recall",
        "confusion matrix",
        "true ",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    assert!(stderr.contains("eval.json"), "{stderr}");
}

#[test]
fn metrics_csv_has_one_row_per_epoch() {
    let text = std::fs::read_to_string(shared_run().run_dir().join("metrics.csv"))
        .expect("metrics.csv written");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let rows: Vec<Vec<f64>> = lines
        .map(|line| {
            line.split(',')
                .map(|field| field.parse::<f64>().expect("a number"))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), EPOCHS, "{text}");
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 8, "{text}");
        assert_eq!(row[0], (index + 1) as f64, "epoch column: {text}");
        for (column, value) in [(1, "train_loss"), (3, "valid_loss")] {
            assert!(row[column] > 0.0, "{value}: {text}");
        }
        for (column, value) in [(2, "train_accuracy"), (4, "valid_accuracy")] {
            assert!(
                row[column] > 0.5 && row[column] <= 1.0,
                "{value} is a fraction: {text}"
            );
        }
        assert!(row[5] > 0.0, "learning rate: {text}");
        // The MLP's default peak learning rate is 0.001.
        assert!(row[5] <= 1e-3, "learning rate: {text}");
        assert!(row[6] > 0.0, "seconds: {text}");
        assert!(row[7] > 0.0, "images per second: {text}");
    }
    // The cosine schedule lowers the rate from epoch to epoch.
    assert!(rows[1][5] < rows[0][5], "{text}");
}

#[test]
fn pictures_decode_at_their_sizes() {
    let run_dir = shared_run().run_dir();
    let report = read_json(&run_dir.join("eval.json"));
    let mistakes = report["most_confident_mistakes"]
        .as_array()
        .expect("mistakes")
        .len();
    for (file, size) in [
        ("curves.png", CURVES_SIZE),
        ("confusion.png", CONFUSION_SIZE),
        ("misclassified.png", mistakes_size(mistakes)),
    ] {
        let path = run_dir.join(file);
        let image =
            image::open(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        assert_eq!((image.width(), image.height()), size, "{file}");
    }
}

#[test]
fn training_ends_with_a_summary() {
    let shared = shared_run();
    let stdout = String::from_utf8_lossy(&shared.train.stdout);
    for expected in [
        "test accuracy",
        "best epoch",
        "by validation accuracy",
        "trained in",
        "artifacts in",
        path_text(&shared.run_dir()),
        "make eval MODEL=mlp ARTIFACT_DIR=",
        "/mnist-eval --model mlp --artifact-dir /",
        " --data-dir /",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
}

/// Copies the shared run's configuration, and the record unless `record` is `None`,
/// into a fresh artifact folder, writing `record` bytes in place of the real record.
fn broken_run(record: Option<&[u8]>) -> TempDir {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let run_dir = artifacts.path().join("mlp");
    std::fs::create_dir(&run_dir).expect("run folder");
    let source = shared_run().run_dir();
    std::fs::copy(source.join("config.json"), run_dir.join("config.json")).expect("copy config");
    if let Some(bytes) = record {
        std::fs::write(run_dir.join("model.bpk"), bytes).expect("write record");
    }
    artifacts
}

fn assert_model_error(output: &Output, file: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{}", describe(output));
    assert!(stderr.contains(file), "{file} not named: {stderr}");
    assert!(
        stderr.contains("make train MODEL=mlp"),
        "no next step: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn eval_of_missing_run_exits_with_model_error() {
    let empty = tempfile::tempdir().expect("temporary folder");
    let output = eval_mlp(empty.path());
    assert_model_error(&output, "config.json");

    // An artifact path that is a file contains no run either.
    let file = empty.path().join("runs");
    std::fs::write(&file, b"").expect("write a file");
    let output = eval_mlp(&file);
    assert_model_error(&output, "config.json");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("Not a directory"), "{stderr}");
}

#[test]
fn eval_without_record_exits_with_model_error() {
    let artifacts = broken_run(None);
    let output = eval_mlp(artifacts.path());
    assert_model_error(&output, "model.bpk");
    assert!(!artifacts.path().join("mlp").join("eval.json").exists());
}

#[test]
fn eval_of_corrupt_record_exits_with_model_error() {
    let artifacts = broken_run(Some(b"not a burnpack record"));
    let output = eval_mlp(artifacts.path());
    assert_model_error(&output, "model.bpk");
}

/// A record and a config.json that describe different layer sizes are named as such, not
/// only as an unreadable record.
#[test]
fn eval_config_mismatch_names_both_files() {
    let artifacts = run_with_edited_config(|config| {
        config["model"]["mlp"]["hidden_1"] = serde_json::Value::from(100);
    });
    let output = eval_mlp(artifacts.path());
    assert_model_error(&output, "model.bpk");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("do not fit the model that config.json describes"),
        "{stderr}"
    );
}

/// Copies the shared run with its real record into a fresh artifact folder, and lets
/// `edit` change its config.json.
fn run_with_edited_config(edit: impl FnOnce(&mut serde_json::Value)) -> TempDir {
    let source = shared_run().run_dir();
    let record = std::fs::read(source.join("model.bpk")).expect("read record");
    let artifacts = broken_run(Some(&record));
    let config_path = artifacts.path().join("mlp").join("config.json");
    let text = std::fs::read_to_string(&config_path).expect("read config");
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("config JSON");
    edit(&mut config);
    std::fs::write(&config_path, config.to_string()).expect("write config");
    artifacts
}

#[test]
fn eval_warns_on_unknown_backend() {
    let artifacts = run_with_edited_config(|config| {
        config["backend"] = serde_json::Value::from("tpu");
    });

    let output = eval_mlp(artifacts.path());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(stderr.contains("unknown backend \"tpu\""), "{stderr}");
    assert!(stderr.contains("config.json"), "{stderr}");
    assert!(stdout.contains("mlp on flex"), "{stdout}");
}

#[test]
fn eval_of_corrupt_metrics_exits_with_model_error() {
    let source = shared_run().run_dir();
    let record = std::fs::read(source.join("model.bpk")).expect("read record");
    let artifacts = broken_run(Some(&record));
    let metrics = artifacts.path().join("mlp").join("metrics.csv");
    std::fs::write(
        &metrics,
        format!("{HEADER}\n1,0.5,half,0.4,0.9,0.001,1.0,100.0\n"),
    )
    .expect("write metrics");

    let output = eval_mlp(artifacts.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    assert!(stderr.contains(path_text(&metrics)), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(stderr.contains("train_accuracy"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn eval_without_metrics_skips_only_the_curves() {
    let source = shared_run().run_dir();
    let record = std::fs::read(source.join("model.bpk")).expect("read record");
    let artifacts = broken_run(Some(&record));
    let output = eval_mlp(artifacts.path());
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains("metrics.csv"), "{stderr}");
    let run_dir = artifacts.path().join("mlp");
    assert!(run_dir.join("eval.json").is_file());
    assert!(run_dir.join("confusion.png").is_file());
    assert!(!run_dir.join("curves.png").exists());
}

#[test]
fn retraining_removes_previous_evaluation() {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    train_mlp(artifacts.path(), 1, "1000");
    let eval = eval_mlp(artifacts.path());
    assert!(eval.status.success(), "{}", describe(&eval));
    let run_dir = artifacts.path().join("mlp");
    assert!(run_dir.join("eval.json").is_file());

    train_mlp(artifacts.path(), 1, "1000");
    for stale in ["eval.json", "confusion.png", "misclassified.png"] {
        assert!(
            !run_dir.join(stale).exists(),
            "{stale} of the old record kept"
        );
    }
    assert!(run_dir.join("curves.png").is_file());
}
