//! The backends a run can use, chosen at run time through Burn's `Device`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use burn::tensor::{Device, DeviceKind, Tensor};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A Burn backend that this build can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Burn's native CPU backend, and the default: Burn deprecates `burn-ndarray` in
    /// favour of flex, whose convolutions are much faster than ndarray's.
    Flex,
    /// The `ndarray` CPU backend, kept for comparison.
    Ndarray,
    /// A GPU through wgpu (Vulkan, Metal or DirectX 12), or a software Vulkan driver.
    Wgpu,
}

impl BackendKind {
    /// Returns the lowercase name used on the command line and in artifacts.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// Returns the largest batch to evaluate at once.
    ///
    /// Software Vulkan drivers cap a buffer at 128 MiB, which a CNN activation of more
    /// than about 500 images exceeds, so wgpu evaluates in batches of 500.
    pub fn eval_batch_size(self) -> usize {
        match self {
            BackendKind::Wgpu => 500,
            BackendKind::Flex | BackendKind::Ndarray => 1000,
        }
    }

    /// Opens the device, checking that it can run a tensor operation.
    ///
    /// For wgpu, a missing adapter becomes [`TrainError::BackendUnavailable`] instead of
    /// the panic Burn raises on first use, and `adapter` names what wgpu picked.
    pub fn open(self) -> Result<OpenedDevice, TrainError> {
        let device = match self {
            BackendKind::Flex => Device::flex(),
            // Deprecated upstream, but still offered because users request it by name.
            #[allow(deprecated)]
            BackendKind::Ndarray => Device::ndarray(),
            BackendKind::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
        };
        if self != BackendKind::Wgpu {
            return Ok(OpenedDevice {
                device,
                adapter: None,
            });
        }

        // The runtime fails in its own thread, and the probe only sees the closed channel
        // that follows. The first panic message seen is the cause, so all are kept.
        let messages = Arc::new(Mutex::new(Vec::<String>::new()));
        let probe = device.clone();
        let previous_hook = std::panic::take_hook();
        let sink = messages.clone();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(mut sink) = sink.lock() {
                sink.push(panic_message(info.payload()));
            }
        }));
        let outcome = catch_unwind(AssertUnwindSafe(move || {
            let ones = Tensor::<1>::ones([4], &probe);
            ones.sum().into_scalar::<f32>()
        }));
        std::panic::set_hook(previous_hook);
        let first_message = messages
            .lock()
            .ok()
            .and_then(|messages| messages.first().cloned());

        match outcome {
            Ok(sum) if sum == 4.0 => Ok(OpenedDevice {
                adapter: device.identity().map(|identity| identity.name),
                device,
            }),
            Ok(sum) => Err(TrainError::BackendUnavailable {
                backend: self,
                reason: format!("a test sum of four ones returned {sum}"),
            }),
            Err(panic) => Err(TrainError::BackendUnavailable {
                backend: self,
                reason: first_message.unwrap_or_else(|| panic_message(panic.as_ref())),
            }),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A device that ran a tensor operation, and for wgpu the adapter behind it.
pub struct OpenedDevice {
    pub device: Device,
    pub adapter: Option<String>,
}

/// Returns whether an adapter name belongs to a software rasteriser such as Mesa's
/// lavapipe (which reports "llvmpipe") or SwiftShader.
pub fn is_software_adapter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["llvmpipe", "lavapipe", "swiftshader", "software"]
        .iter()
        .any(|s| name.contains(s))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "the backend failed to start".to_string()
    }
}
