//! Command-line pieces shared by `mnist-train` and `mnist-bench`.

use mnist_model::ModelKind;

/// The `--model` values, as clap parses them.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ModelArg {
    Mlp,
    Cnn,
}

impl From<ModelArg> for ModelKind {
    fn from(model: ModelArg) -> Self {
        match model {
            ModelArg::Mlp => ModelKind::Mlp,
            ModelArg::Cnn => ModelKind::Cnn,
        }
    }
}

/// Parses a whole number of at least 1, naming the value when it is not one.
pub fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!("{text} is not positive; use 1 or more")),
        Ok(value) => Ok(value),
        Err(_) => Err(format!("{text} is not a positive whole number")),
    }
}
