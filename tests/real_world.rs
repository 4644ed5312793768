//! Classifies MNIST test digits rendered the ways people make images (see
//! `mnist_e2e::fixtures`) with `mnist-infer` in a separate process, and compares the accuracy
//! on each kind with the same digits as raw 28×28 PNGs. Also checks that every accepted file
//! format gives the same probabilities, that EXIF orientation is applied, and how bad inputs
//! are reported.
//!
//! `cargo test --release -p mnist-e2e --test real_world -- --nocapture` prints the accuracy
//! per kind for the CNN and the MLP.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use mnist_data::{MnistSplit, Split, load_split};
use mnist_e2e::fixtures::{
    EXIF_ROTATE_ANTICLOCKWISE, EXIF_ROTATE_CLOCKWISE, Format, Kind, file_name, fixture_seed,
    jpeg_with_orientation, render, render_format, sample_indices, store_sideways,
};
use mnist_e2e::{binary, dataset_dir, describe, read_json, run};
use mnist_infer::error::{EXIT_BAD_IMAGE, EXIT_NO_DIGIT};
use mnist_infer::prepare::{MAX_INPUT_BYTES, decode_image};
use tempfile::TempDir;

/// Training flags of the CNN: 12,000 training images (10,800 after the validation split)
/// for one epoch at the CNN's default peak learning rate. On a 2-core x86-64 machine on
/// flex the whole `mnist-train` run took 9.4 s and reached 96.16 % test accuracy.
const CNN_FLAGS: [&str; 6] = ["--model", "cnn", "--limit", "12000", "--epochs", "1"];

/// Training flags of the MLP: the whole training set for four epochs, about 4 s and 97.46 %
/// test accuracy on the same machine.
const MLP_FLAGS: [&str; 4] = ["--model", "mlp", "--epochs", "4"];

/// Test digits rendered per kind: every 50th of the 10,000 test images.
const DIGITS_PER_KIND: usize = 200;

/// Largest difference, in percentage points, between the CNN's accuracy on a kind and on
/// the raw digits. With 200 digits per kind, 2 points are 4 digits.
const MAX_POINTS_FROM_RAW: f64 = 2.0;

/// Largest difference of any class probability between a file format and the 8-bit RGB
/// PNG of the same pixels.
const FORMAT_TOLERANCE: f64 = 1e-3;

/// Test images whose renderings in every format are compared: a 7, a 2 and a 1.
const FORMAT_DIGITS: [usize; 3] = [0, 1, 2];

/// Misclassified files listed per kind in a failure message.
const MAX_LISTED_MISSES: usize = 12;

/// A model trained once for all tests of this file.
struct TrainedModel {
    /// `mlp` or `cnn`, as `mnist-infer --model` takes it.
    name: &'static str,
    flags: &'static [&'static str],
    artifacts: TempDir,
    test_accuracy: f64,
    train_seconds: f64,
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Trains a model with `mnist-train` and reads its test accuracy from `summary.json`.
fn train(name: &'static str, flags: &'static [&'static str]) -> TrainedModel {
    let artifacts = tempfile::tempdir().expect("temporary folder");
    let output = run(Command::new(binary("mnist-train"))
        .args(flags)
        .args(["--backend", "flex", "--progress", "plain"])
        .args(["--data-dir", path_text(&dataset_dir())])
        .args(["--artifact-dir", path_text(artifacts.path())]));
    assert!(
        output.status.success(),
        "training the {name} failed: {}",
        describe(&output)
    );
    let summary = read_json(&artifacts.path().join(name).join("summary.json"));
    TrainedModel {
        name,
        flags,
        test_accuracy: summary["test_accuracy"].as_f64().expect("test_accuracy"),
        train_seconds: summary["train_seconds"].as_f64().expect("train_seconds"),
        artifacts,
    }
}

fn cnn() -> &'static TrainedModel {
    static CNN: OnceLock<TrainedModel> = OnceLock::new();
    CNN.get_or_init(|| train("cnn", &CNN_FLAGS))
}

fn mlp() -> &'static TrainedModel {
    static MLP: OnceLock<TrainedModel> = OnceLock::new();
    MLP.get_or_init(|| train("mlp", &MLP_FLAGS))
}

fn test_set() -> &'static MnistSplit {
    static TEST: OnceLock<MnistSplit> = OnceLock::new();
    TEST.get_or_init(|| load_split(&dataset_dir(), Split::Test).expect("verified test set"))
}

/// One rendered test digit on disk.
struct Fixture {
    kind: Kind,
    label: u8,
    path: PathBuf,
}

/// Every kind's renderings of the same test digits, written once for all tests.
struct FixtureSet {
    /// Holds the files; deleted when the test process ends.
    _dir: TempDir,
    fixtures: Vec<Fixture>,
    render_seconds: f64,
}

impl FixtureSet {
    fn of_kind(&self, kind: Kind) -> Vec<&Fixture> {
        self.fixtures
            .iter()
            .filter(|fixture| fixture.kind == kind)
            .collect()
    }
}

/// Renders [`DIGITS_PER_KIND`] evenly spaced test digits as every kind, on all cores.
fn fixture_set() -> &'static FixtureSet {
    static SET: OnceLock<FixtureSet> = OnceLock::new();
    SET.get_or_init(|| {
        let start = Instant::now();
        let test = test_set();
        let dir = tempfile::tempdir().expect("temporary folder");
        let jobs: Vec<(Kind, usize)> = Kind::ALL
            .iter()
            .flat_map(|&kind| {
                sample_indices(test.len(), DIGITS_PER_KIND)
                    .into_iter()
                    .map(move |index| (kind, index))
            })
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
        let chunk = jobs.len().div_ceil(threads);
        let fixtures: Vec<Fixture> = std::thread::scope(|scope| {
            let workers: Vec<_> = jobs
                .chunks(chunk)
                .map(|part| scope.spawn(|| write_fixtures(part, test, dir.path())))
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().expect("rendering thread"))
                .collect()
        });
        FixtureSet {
            _dir: dir,
            fixtures,
            render_seconds: start.elapsed().as_secs_f64(),
        }
    })
}

fn write_fixtures(jobs: &[(Kind, usize)], test: &MnistSplit, dir: &Path) -> Vec<Fixture> {
    jobs.iter()
        .map(|&(kind, index)| {
            let label = test.label(index);
            let (bytes, extension) = render(kind, test.image(index), fixture_seed(kind, index));
            let path = dir.join(file_name(kind, label, index, extension));
            std::fs::write(&path, bytes).expect("write fixture");
            Fixture { kind, label, path }
        })
        .collect()
}

/// Runs `mnist-infer --json` with `model` on `files` and returns its output and one JSON
/// object per printed line.
fn classify(model: &TrainedModel, files: &[&Path]) -> (Output, Vec<serde_json::Value>) {
    let output = run(Command::new(binary("mnist-infer"))
        .args(["--json", "--model", model.name])
        .args(["--artifact-dir", path_text(model.artifacts.path())])
        .args(files));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not one JSON object per line ({error}): {line}"))
        })
        .collect();
    (output, results)
}

/// Accuracy of one model on one kind.
struct KindScore {
    kind: Kind,
    digits: usize,
    correct: usize,
    no_digit: usize,
    /// File names of the misclassified digits, each with the predicted digit.
    misses: Vec<String>,
}

impl KindScore {
    fn accuracy(&self) -> f64 {
        100.0 * self.correct as f64 / self.digits as f64
    }
}

/// Classifies every kind's fixtures with `model`, one `mnist-infer` call per kind.
fn score_kinds(model: &TrainedModel) -> (Vec<KindScore>, f64) {
    let fixtures = fixture_set();
    let start = Instant::now();
    let mut scores = Vec::new();
    for kind in Kind::ALL {
        let of_kind = fixtures.of_kind(kind);
        let paths: Vec<&Path> = of_kind
            .iter()
            .map(|fixture| fixture.path.as_path())
            .collect();
        let labels: HashMap<&str, u8> = of_kind
            .iter()
            .map(|fixture| (path_text(&fixture.path), fixture.label))
            .collect();
        let (output, results) = classify(model, &paths);

        // A fixture may contain no digit that `prepare` can find (exit code 6), but every
        // fixture is a valid image, so exit code 5 is a bug in a renderer or the decoder.
        assert_ne!(
            output.status.code(),
            Some(EXIT_BAD_IMAGE),
            "{}: a fixture was rejected as unreadable: {}",
            kind.name(),
            describe(&output)
        );
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("panicked"),
            "{}: {}",
            kind.name(),
            describe(&output)
        );
        assert_eq!(
            results.len(),
            paths.len(),
            "{}: one line per file expected: {}",
            kind.name(),
            describe(&output)
        );

        let mut score = KindScore {
            kind,
            digits: paths.len(),
            correct: 0,
            no_digit: 0,
            misses: Vec::new(),
        };
        for result in &results {
            let file = result["file"].as_str().expect("file is a string");
            let label = labels[file];
            let name = Path::new(file)
                .file_name()
                .map_or(file.into(), |name| name.to_string_lossy());
            match result["digit"].as_u64() {
                Some(digit) if digit == u64::from(label) => score.correct += 1,
                Some(digit) => score.misses.push(format!("{name} → {digit}")),
                None => {
                    assert!(
                        result.get("no_digit").is_some(),
                        "{}: unexpected failure: {result}",
                        kind.name()
                    );
                    score.no_digit += 1;
                    score.misses.push(format!("{name} → no digit"));
                }
            }
        }
        scores.push(score);
    }
    (scores, start.elapsed().as_secs_f64())
}

/// Prints the accuracy per kind, and its difference from the raw digits, as a table.
fn print_table(model: &TrainedModel, scores: &[KindScore], classify_seconds: f64) {
    let raw = scores[0].accuracy();
    let mut table = format!(
        "\n{} (mnist-train {}: {:.2} % test accuracy, trained in {:.1} s)\n\
         {} test digits per kind (every {}th test image); rendered in {:.1} s, \
         classified in {:.1} s\n\
         {:<16} {:>9} {:>9} {:>8} {:>9}\n",
        model.name.to_uppercase(),
        model.flags.join(" "),
        100.0 * model.test_accuracy,
        model.train_seconds,
        DIGITS_PER_KIND,
        test_set().len() / DIGITS_PER_KIND,
        fixture_set().render_seconds,
        classify_seconds,
        "kind",
        "correct",
        "accuracy",
        "vs raw",
        "no digit",
    );
    for score in scores {
        table.push_str(&format!(
            "{:<16} {:>5}/{:<3} {:>7.1} % {:>+8.1} {:>9}\n",
            score.kind.name(),
            score.correct,
            score.digits,
            score.accuracy(),
            score.accuracy() - raw,
            score.no_digit
        ));
    }
    // One write, so that the tables of tests running in parallel do not interleave.
    std::io::stdout()
        .lock()
        .write_all(table.as_bytes())
        .expect("write the table");
}

#[test]
fn cnn_accuracy_per_kind_stays_near_raw() {
    let model = cnn();
    let (scores, seconds) = score_kinds(model);
    print_table(model, &scores, seconds);

    let raw = &scores[0];
    assert_eq!(raw.kind, Kind::Raw);
    for score in &scores[1..] {
        let gap = score.accuracy() - raw.accuracy();
        let misses: Vec<&str> = score
            .misses
            .iter()
            .take(MAX_LISTED_MISSES)
            .map(String::as_str)
            .collect();
        assert!(
            gap.abs() <= MAX_POINTS_FROM_RAW,
            "{}: {:.1} % vs {:.1} % on the raw digits ({gap:+.1} points, {} without a digit); \
             misses: {}; `mnist-fixtures --out DIR --per-kind {DIGITS_PER_KIND} --kind {}` \
             writes these images",
            score.kind.name(),
            score.accuracy(),
            raw.accuracy(),
            score.no_digit,
            misses.join(", "),
            score.kind.name()
        );
    }
}

/// The MLP is not translation invariant, so its gaps are reported, not bounded.
#[test]
fn mlp_classifies_every_kind() {
    let model = mlp();
    let (scores, seconds) = score_kinds(model);
    print_table(model, &scores, seconds);
    for score in &scores {
        assert_eq!(score.digits, DIGITS_PER_KIND, "{}", score.kind.name());
    }
}

#[test]
fn every_format_gives_same_probabilities() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let test = test_set();
    let mut files = Vec::new();
    for index in FORMAT_DIGITS {
        for format in std::iter::once(Format::Rgb8Png).chain(Format::VARIANTS) {
            let (bytes, extension) = render_format(format, test.image(index), index as u64);
            let path = dir
                .path()
                .join(format!("{}-index-{index}.{extension}", format.name()));
            std::fs::write(&path, bytes).expect("write");
            files.push((index, format, path));
        }
    }
    let paths: Vec<&Path> = files.iter().map(|(_, _, path)| path.as_path()).collect();
    let (output, results) = classify(cnn(), &paths);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(results.len(), files.len(), "{}", describe(&output));

    let by_file: HashMap<&str, &serde_json::Value> = results
        .iter()
        .map(|result| (result["file"].as_str().expect("file"), result))
        .collect();
    let result_of = |index: usize, format: Format| {
        let (_, _, path) = files
            .iter()
            .find(|(i, f, _)| *i == index && *f == format)
            .expect("rendered");
        by_file[path_text(path)]
    };
    let probabilities = |result: &serde_json::Value| -> Vec<f64> {
        result["probabilities"]
            .as_array()
            .expect("probabilities")
            .iter()
            .map(|p| p.as_f64().expect("number"))
            .collect()
    };
    for index in FORMAT_DIGITS {
        let reference = result_of(index, Format::Rgb8Png);
        for format in Format::VARIANTS {
            let result = result_of(index, format);
            assert_eq!(
                result["digit"],
                reference["digit"],
                "test image {index} as {}",
                format.name()
            );
            let largest_gap = probabilities(result)
                .iter()
                .zip(probabilities(reference))
                .map(|(p, q)| (p - q).abs())
                .fold(0.0, f64::max);
            assert!(
                largest_gap <= FORMAT_TOLERANCE,
                "test image {index} as {}: probabilities differ by {largest_gap} from the RGB PNG",
                format.name()
            );
        }
    }
}

/// Returns an upright 60×90 white image with a black square in its top-left corner.
fn marked_portrait() -> RgbImage {
    RgbImage::from_fn(60, 90, |x, y| {
        if x < 20 && y < 20 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    })
}

/// Returns the mean luminance of the `side`×`side` square at (`x`, `y`).
fn mean_level(image: &GrayImage, x: u32, y: u32, side: u32) -> f64 {
    let mut total = 0.0;
    for row in y..y + side {
        for column in x..x + side {
            total += f64::from(image.get_pixel(column, row).0[0]);
        }
    }
    total / f64::from(side * side)
}

#[test]
fn exif_orientation_turns_jpeg_upright() {
    let upright = marked_portrait();
    for orientation in [EXIF_ROTATE_CLOCKWISE, EXIF_ROTATE_ANTICLOCKWISE] {
        for little_endian in [true, false] {
            let case = format!("orientation {orientation}, little endian {little_endian}");
            let mut jpeg = Vec::new();
            JpegEncoder::new_with_quality(&mut jpeg, 90)
                .encode_image(&store_sideways(&upright, orientation))
                .expect("JPEG encoding into memory");
            let file = jpeg_with_orientation(&jpeg, orientation, little_endian);

            let stored = image::load_from_memory(&file).expect("the JPEG decodes");
            assert_eq!(
                (stored.width(), stored.height()),
                (90, 60),
                "{case}: pixels stored sideways"
            );
            let decoded = decode_image(&file)
                .expect("decode_image reads the JPEG")
                .to_luma8();
            assert_eq!(
                decoded.dimensions(),
                (60, 90),
                "{case}: decode_image turns the image upright"
            );
            assert!(
                mean_level(&decoded, 2, 2, 16) < 40.0,
                "{case}: the black square is not top left"
            );
            assert!(
                mean_level(&decoded, 42, 72, 16) > 215.0,
                "{case}: the bottom right is not white"
            );
        }
    }
}

/// Encodes `image` in `format` into memory.
fn encoded(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, format)
        .expect("encoding into memory");
    bytes.into_inner()
}

/// Writes a digit the CNN and the MLP both classify as 7 (test image 0) and returns its path.
fn write_good_seven(dir: &Path, name: &str) -> PathBuf {
    let (bytes, _) = render(Kind::Scan, test_set().image(0), fixture_seed(Kind::Scan, 0));
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Asserts that `output` reports `file` on stderr and in a JSON line with `key`.
fn assert_reports_file(output: &Output, file: &Path, key: &str, case: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(path_text(file)),
        "{case}: stderr does not name the file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    let line = stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON line"))
        .find(|result| result["file"] == path_text(file));
    let line = line.unwrap_or_else(|| panic!("{case}: no JSON line for the file: {stdout}"));
    assert!(line["digit"].is_null(), "{case}: {line}");
    assert!(line.get(key).is_some(), "{case}: no {key:?} in {line}");
}

#[test]
fn unreadable_inputs_exit_with_code_5() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let valid_png = encoded(
        DynamicImage::ImageLuma8(
            GrayImage::from_raw(28, 28, test_set().image(0).to_vec()).expect("28×28"),
        ),
        ImageFormat::Png,
    );
    let over_limit = dir.path().join("huge.png");
    {
        // Sparse: only the PNG signature is written, the rest of the length is a hole.
        let file = std::fs::File::create(&over_limit).expect("create");
        (&file).write_all(&valid_png[..8]).expect("write signature");
        file.set_len(MAX_INPUT_BYTES + 1).expect("extend the file");
    }
    let cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        (
            "notes.png",
            Some(b"a shopping list, not an image\n".to_vec()),
            "failed to decode",
        ),
        ("empty.png", Some(Vec::new()), "empty"),
        (
            "truncated.png",
            Some(valid_png[..valid_png.len() / 2].to_vec()),
            "failed to decode",
        ),
        (
            "scan.tiff",
            Some(b"II*\0\x08\0\0\0\x01\0\0\x01\x03\0\x01\0\0\0\x1c\0\0\0".to_vec()),
            "failed to decode",
        ),
        (
            "letter.pdf",
            Some(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec()),
            "failed to decode",
        ),
        ("huge.png", None, "over the limit"),
        ("missing.png", None, "cannot read"),
    ];
    for (name, content, message) in cases {
        let path = dir.path().join(name);
        if let Some(bytes) = content {
            std::fs::write(&path, bytes).expect("write");
        }
        let (output, _) = classify(mlp(), &[&path]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(EXIT_BAD_IMAGE),
            "{name}: {}",
            describe(&output)
        );
        assert!(
            stderr.contains(message),
            "{name}: no {message:?} in {stderr}"
        );
        assert_reports_file(&output, &path, "error", name);
    }
}

#[test]
fn inputs_without_digit_exit_with_code_6() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let white_page = RgbImage::from_pixel(800, 600, Rgb([255, 255, 255]));
    let uniform = RgbImage::from_pixel(640, 480, Rgb([70, 130, 180]));
    let single_pixel = GrayImage::from_pixel(1, 1, Luma([0]));
    let cases = [
        (
            "white-page.png",
            encoded(DynamicImage::ImageRgb8(white_page), ImageFormat::Png),
        ),
        (
            "steel-blue.jpg",
            encoded(DynamicImage::ImageRgb8(uniform), ImageFormat::Jpeg),
        ),
        (
            "one-pixel.png",
            encoded(DynamicImage::ImageLuma8(single_pixel), ImageFormat::Png),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let (output, _) = classify(mlp(), &[&path]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(EXIT_NO_DIGIT),
            "{name}: {}",
            describe(&output)
        );
        assert!(stderr.contains("no digit"), "{name}: {stderr}");
        assert_reports_file(&output, &path, "no_digit", name);
    }
}

#[test]
fn bad_file_does_not_stop_good_ones() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let first = write_good_seven(dir.path(), "first-seven.jpg");
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not an image\n").expect("write");
    let missing = dir.path().join("missing.png");
    let last = write_good_seven(dir.path(), "last-seven.jpg");

    let (output, results) = classify(mlp(), &[&first, &text, &missing, &last]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_BAD_IMAGE),
        "{}",
        describe(&output)
    );
    assert_eq!(results.len(), 4, "{}", describe(&output));
    for (good, result) in [(&first, &results[0]), (&last, &results[3])] {
        assert_eq!(result["file"], path_text(good));
        assert_eq!(result["digit"], 7, "{result}");
    }
    assert_reports_file(&output, &text, "error", "text file");
    assert_reports_file(&output, &missing, "error", "missing file");
}

#[test]
fn bad_image_outranks_no_digit() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let seven = write_good_seven(dir.path(), "seven.jpg");
    let blank = dir.path().join("blank.png");
    let white_page = GrayImage::from_pixel(400, 300, Luma([255]));
    std::fs::write(
        &blank,
        encoded(DynamicImage::ImageLuma8(white_page), ImageFormat::Png),
    )
    .expect("write");
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not an image\n").expect("write");

    let (output, _) = classify(mlp(), &[&blank, &seven]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_NO_DIGIT),
        "blank and good: {}",
        describe(&output)
    );
    let (output, _) = classify(mlp(), &[&blank, &text, &seven]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_BAD_IMAGE),
        "blank, unreadable and good: {}",
        describe(&output)
    );
}

#[test]
fn fixtures_binary_writes_named_files() {
    const PER_KIND: usize = 2;
    let out = tempfile::tempdir().expect("temporary folder");
    let output = run(Command::new(binary("mnist-fixtures")).args([
        "--out",
        path_text(out.path()),
        "--per-kind",
        &PER_KIND.to_string(),
        "--data-dir",
        path_text(&dataset_dir()),
    ]));
    assert!(output.status.success(), "{}", describe(&output));

    let test = test_set();
    let mut expected = Vec::new();
    for kind in Kind::ALL {
        for index in sample_indices(test.len(), PER_KIND) {
            let (bytes, extension) = render(kind, test.image(index), fixture_seed(kind, index));
            expected.push((file_name(kind, test.label(index), index, extension), bytes));
        }
    }
    let written = std::fs::read_dir(out.path())
        .expect("output folder")
        .count();
    assert_eq!(written, expected.len(), "files in {}", out.path().display());
    for (name, bytes) in expected {
        let path = out.path().join(&name);
        let on_disk = std::fs::read(&path).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert!(on_disk == bytes, "{name} differs from the test's rendering");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().count(),
        written,
        "one path per line: {stdout}"
    );
}
