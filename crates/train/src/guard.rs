//! A training metric that stops the run as soon as the loss is no longer a finite number,
//! so a diverging run ends within a few steps instead of finishing its epochs on NaN.

use std::sync::{Arc, Mutex};

/// Environment variable that makes the guard read the loss of the given step as NaN.
///
/// Real divergence cannot be provoked on demand: Adam's steps are bounded, and the learning
/// rate schedule accepts at most 1. Tests set this to check the stop path end to end.
pub const INJECT_NAN_ENV: &str = "MNIST_TRAIN_INJECT_NAN_AT_STEP";

use burn::tensor::{Tensor, TensorReadError};
use burn::train::metric::{Adaptor, Metric, MetricMetadata, MetricName, SerializedEntry};
use burn::train::{ClassificationOutput, Interrupter};

/// The mean loss of one training step, as the guard reads it.
pub struct StepLoss(Tensor<1>);

impl Adaptor<StepLoss> for ClassificationOutput {
    fn adapt(&self) -> StepLoss {
        StepLoss(self.loss.clone())
    }
}

/// Stops training through the learner's interrupter when a step's loss is NaN or infinite.
#[derive(Clone)]
pub struct FiniteLossGuard {
    interrupter: Interrupter,
    report: Arc<Mutex<Option<String>>>,
    name: MetricName,
    inject_at: Option<usize>,
}

impl FiniteLossGuard {
    /// Creates a guard and the handle that holds its report once it has stopped a run.
    pub fn new(interrupter: Interrupter) -> (Self, Arc<Mutex<Option<String>>>) {
        let report = Arc::new(Mutex::new(None));
        let guard = Self {
            interrupter,
            report: report.clone(),
            name: Arc::new("Finite loss".to_string()),
            inject_at: std::env::var(INJECT_NAN_ENV)
                .ok()
                .and_then(|step| step.parse().ok()),
        };
        (guard, report)
    }
}

impl Metric for FiniteLossGuard {
    type Input = StepLoss;

    fn update(
        &mut self,
        item: &StepLoss,
        metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let mut loss = item.0.clone().mean().try_into_scalar::<f64>()?;
        if self.inject_at.is_some() && self.inject_at == metadata.iteration {
            loss = f64::NAN;
        }
        if loss.is_finite() {
            return Ok(SerializedEntry::new("yes".to_string(), "1".to_string()));
        }
        let mut report = self
            .report
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if report.is_none() {
            let step = metadata
                .iteration
                .map_or("?".to_string(), |step| step.to_string());
            let learning_rate = metadata.lr.as_ref().map_or(0.0, |lr| lr.base());
            let message = format!(
                "the training loss became {loss} at step {step} with learning rate \
                 {learning_rate:.3e}, so lower --learning-rate (LR=) and train again"
            );
            self.interrupter.stop(Some(&message));
            *report = Some(message);
        }
        Ok(SerializedEntry::new("no".to_string(), "0".to_string()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        let finite = self
            .report
            .lock()
            .map(|report| report.is_none())
            .unwrap_or(false);
        let (formatted, serialized) = if finite { ("yes", "1") } else { ("no", "0") };
        Ok(SerializedEntry::new(
            formatted.to_string(),
            serialized.to_string(),
        ))
    }

    fn clear(&mut self) {}

    fn name(&self) -> MetricName {
        self.name.clone()
    }
}
