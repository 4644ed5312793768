//! The evaluation report of a saved model: accuracy and loss, per-class precision, recall
//! and F1, the confusion matrix and the most confidently wrong images, written as
//! `eval.json` and printed as tables.
//!
//! The numbers come from [`crate::evaluate`], the same code that gives a training run its
//! test accuracy; drawing them is left to [`crate::plot`].

use std::fmt::Write as _;
use std::path::PathBuf;

use mnist_data::MnistSplit;
use mnist_model::NUM_CLASSES;
use serde::Serialize;

use crate::evaluate::Evaluation;

/// Name of the evaluation report inside a run's folder.
pub const EVAL_FILE: &str = "eval.json";

/// Counts and scores of one digit class.
#[derive(Clone, Debug, Serialize)]
pub struct ClassScores {
    pub digit: usize,
    /// Test images of this digit: the row sum of the confusion matrix.
    pub images: usize,
    /// Images predicted as this digit: the column sum of the confusion matrix.
    pub predicted: usize,
    /// Images of this digit predicted as this digit: the diagonal cell.
    pub correct: usize,
    /// `correct / predicted`, or 0 when the model never predicts this digit.
    pub precision: f64,
    /// `correct / images`, or 0 when the split has no image of this digit.
    pub recall: f64,
    /// Harmonic mean of precision and recall, or 0 when both are 0.
    pub f1: f64,
}

/// A misclassified image and the probability the model gave its wrong prediction.
#[derive(Clone, Debug, Serialize)]
pub struct Mistake {
    /// Position of the image in the split, from 0.
    pub index: usize,
    pub label: u8,
    pub predicted: u8,
    /// Softmax probability of the predicted digit.
    pub confidence: f32,
}

/// Everything `mnist-eval` measured, as written to [`EVAL_FILE`].
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub model: String,
    pub backend: String,
    /// Folder of the evaluated run.
    pub run_dir: PathBuf,
    /// Images evaluated: the whole MNIST test set.
    pub images: usize,
    pub correct: usize,
    /// Fraction of images classified correctly, in [0, 1]; computed as in `summary.json`.
    pub accuracy: f64,
    /// Mean cross-entropy loss over all images.
    pub loss: f64,
    pub classes: Vec<ClassScores>,
    /// Unweighted means over the ten classes.
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    /// Image counts: row = true digit, column = predicted digit.
    pub confusion_matrix: [[usize; NUM_CLASSES]; NUM_CLASSES],
    /// All misclassified images: `images - correct`.
    pub misclassified: usize,
    /// The misclassified images with the most confident predictions, most confident first.
    pub most_confident_mistakes: Vec<Mistake>,
}

impl EvalReport {
    /// Builds the report of `evaluation` on `split`, keeping at most `max_mistakes` of the
    /// most confident mistakes.
    pub fn new(
        model: &str,
        backend: &str,
        run_dir: PathBuf,
        evaluation: &Evaluation,
        split: &MnistSplit,
        max_mistakes: usize,
    ) -> Self {
        let mut matrix = [[0usize; NUM_CLASSES]; NUM_CLASSES];
        for (index, &predicted) in evaluation.predictions.iter().enumerate() {
            matrix[usize::from(split.label(index))][usize::from(predicted)] += 1;
        }
        let classes: Vec<ClassScores> = (0..NUM_CLASSES)
            .map(|digit| class_scores(&matrix, digit))
            .collect();
        let mean = |score: fn(&ClassScores) -> f64| {
            classes.iter().map(score).sum::<f64>() / NUM_CLASSES as f64
        };

        Self {
            model: model.to_string(),
            backend: backend.to_string(),
            run_dir,
            images: evaluation.images,
            correct: evaluation.correct,
            accuracy: evaluation.accuracy(),
            loss: evaluation.mean_loss,
            macro_precision: mean(|class| class.precision),
            macro_recall: mean(|class| class.recall),
            macro_f1: mean(|class| class.f1),
            classes,
            confusion_matrix: matrix,
            misclassified: evaluation.images - evaluation.correct,
            most_confident_mistakes: most_confident_mistakes(evaluation, split, max_mistakes),
        }
    }

    /// Formats the report as the tables `mnist-eval` prints.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail, so the results of writeln! are ignored.
        let _ = writeln!(
            text,
            "{} on {}: accuracy {:.2} % ({} of {} test images), loss {:.4}",
            self.model,
            self.backend,
            100.0 * self.accuracy,
            self.correct,
            self.images,
            self.loss
        );
        text.push('\n');
        let _ = writeln!(
            text,
            "{:>5}  {:>6}  {:>9}  {:>9}  {:>8}  {:>8}",
            "digit", "images", "predicted", "precision", "recall", "f1"
        );
        for class in &self.classes {
            let _ = writeln!(
                text,
                "{:>5}  {:>6}  {:>9}  {:>9}  {:>8}  {:>8}",
                class.digit,
                class.images,
                class.predicted,
                percent(class.precision),
                percent(class.recall),
                percent(class.f1)
            );
        }
        // The label spans the digit, images and predicted columns: 5 + 2 + 6 + 2 + 9.
        let _ = writeln!(
            text,
            "{:<24}  {:>9}  {:>8}  {:>8}",
            "macro average",
            percent(self.macro_precision),
            percent(self.macro_recall),
            percent(self.macro_f1)
        );

        text.push('\n');
        let _ = writeln!(
            text,
            "confusion matrix: rows are true digits, columns predicted digits"
        );
        text.push_str("      ");
        for digit in 0..NUM_CLASSES {
            let _ = write!(text, "{digit:>6}");
        }
        text.push('\n');
        for (digit, row) in self.confusion_matrix.iter().enumerate() {
            let _ = write!(text, "{digit:>6}");
            for count in row {
                let _ = write!(text, "{count:>6}");
            }
            text.push('\n');
        }

        text.push('\n');
        if self.most_confident_mistakes.is_empty() {
            let _ = writeln!(text, "{} test images misclassified", self.misclassified);
        } else {
            let _ = writeln!(
                text,
                "{} test images misclassified; the {} most confident mistakes:",
                self.misclassified,
                self.most_confident_mistakes.len()
            );
        }
        for mistake in &self.most_confident_mistakes {
            let _ = writeln!(
                text,
                "  test image {:>4}: {}",
                mistake.index,
                mistake_label(mistake)
            );
        }
        text
    }
}

/// Formats a fraction as a percentage with two decimals, as in "97.25 %".
fn percent(fraction: f64) -> String {
    format!("{:.2} %", 100.0 * fraction)
}

/// Returns the caption of a mistake, as in "true 7 → pred 1 (0.98)".
pub fn mistake_label(mistake: &Mistake) -> String {
    format!(
        "true {} → pred {} ({:.2})",
        mistake.label, mistake.predicted, mistake.confidence
    )
}

fn class_scores(matrix: &[[usize; NUM_CLASSES]; NUM_CLASSES], digit: usize) -> ClassScores {
    let images: usize = matrix[digit].iter().sum();
    let predicted: usize = matrix.iter().map(|row| row[digit]).sum();
    let correct = matrix[digit][digit];
    let ratio = |part: usize, whole: usize| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    let precision = ratio(correct, predicted);
    let recall = ratio(correct, images);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    ClassScores {
        digit,
        images,
        predicted,
        correct,
        precision,
        recall,
        f1,
    }
}

/// Returns up to `limit` misclassified images, the most confident prediction first and
/// the lower index first among equal confidences.
fn most_confident_mistakes(
    evaluation: &Evaluation,
    split: &MnistSplit,
    limit: usize,
) -> Vec<Mistake> {
    let mut mistakes: Vec<Mistake> = evaluation
        .predictions
        .iter()
        .enumerate()
        .filter(|&(index, &predicted)| split.label(index) != predicted)
        .map(|(index, &predicted)| Mistake {
            index,
            label: split.label(index),
            predicted,
            confidence: evaluation.probabilities[index][usize::from(predicted)],
        })
        .collect();
    mistakes.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.index.cmp(&b.index))
    });
    mistakes.truncate(limit);
    mistakes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_scores_follow_the_matrix() {
        let mut matrix = [[0usize; NUM_CLASSES]; NUM_CLASSES];
        // Digit 1: 8 right, 2 taken for a 7. Digit 7: 5 right, 1 taken for a 1.
        matrix[1][1] = 8;
        matrix[1][7] = 2;
        matrix[7][7] = 5;
        matrix[7][1] = 1;
        let one = class_scores(&matrix, 1);
        assert_eq!((one.images, one.predicted, one.correct), (10, 9, 8));
        assert!((one.precision - 8.0 / 9.0).abs() < 1e-12);
        assert!((one.recall - 0.8).abs() < 1e-12);
        let f1 = 2.0 * (8.0 / 9.0) * 0.8 / (8.0 / 9.0 + 0.8);
        assert!((one.f1 - f1).abs() < 1e-12);
    }

    #[test]
    fn never_predicted_class_scores_zero() {
        let matrix = [[0usize; NUM_CLASSES]; NUM_CLASSES];
        let scores = class_scores(&matrix, 3);
        assert_eq!(scores.precision, 0.0);
        assert_eq!(scores.recall, 0.0);
        assert_eq!(scores.f1, 0.0);
    }

    #[test]
    fn mistake_label_uses_two_decimals() {
        let mistake = Mistake {
            index: 3,
            label: 7,
            predicted: 1,
            confidence: 0.976,
        };
        assert_eq!(mistake_label(&mistake), "true 7 → pred 1 (0.98)");
    }
}
