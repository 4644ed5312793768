//! Time of each layer of the CNN's training step, forward and backward, measured alone.
//!
//! Each layer is built with the same configuration as `mnist_model::Cnn` and run, in the
//! form the model computes it, on an input of the shape it receives in training. Both
//! convolutions, the batch norms and the poolings are also timed as Burn's modules compute
//! them. The backward pass starts from `output.sum()`, so it includes one broadcast of
//! ones besides the layer's own gradient. The second convolution's two gradients are also
//! timed apart as Burn computes them: a transposed convolution for the input, and a
//! convolution over swapped batch and channel axes for the weight.

use std::time::Instant;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNormConfig, DropoutConfig, LinearConfig, PaddingConfig2d, Relu};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use mnist_model::{
    CnnConfig, IMAGE_SIDE, NUM_CLASSES, batch_norm, input_convolution, max_pool, same_convolution,
};
use serde::Serialize;

use super::BENCH_SEED;
use super::report::Summary;
use crate::BackendKind;

/// Median milliseconds of one layer's forward and backward pass.
#[derive(Clone, Debug, Serialize)]
pub struct LayerTime {
    pub backend: String,
    pub layer: String,
    /// Input shape, batch first.
    pub input: Vec<usize>,
    pub forward_ms: f64,
    /// Absent for the gradient-only rows, which have no forward pass of their own.
    pub backward_ms: Option<f64>,
}

/// Times each layer of the CNN `iterations` times on `device` at `batch` images and
/// returns the medians, in network order.
pub fn profile_cnn_layers(
    backend: BackendKind,
    device: &Device,
    batch: usize,
    iterations: usize,
) -> Vec<LayerTime> {
    let device = device.clone().autodiff();
    device.seed(BENCH_SEED);
    let config = CnnConfig::new();
    let (c1, c2, hidden) = (config.channels_1, config.channels_2, config.hidden);
    let side = IMAGE_SIDE;
    let conv = |input, output| {
        Conv2dConfig::new([input, output], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device)
    };
    let conv_1 = conv(1, c1);
    let conv_2 = conv(c1, c2);
    let norm_1 = BatchNormConfig::new(c1).init(&device);
    let norm_2 = BatchNormConfig::new(c2).init(&device);
    let pool = MaxPool2dConfig::new([2, 2]).init();
    let flat = c2 * (side / 4) * (side / 4);
    let linear_1 = LinearConfig::new(flat, hidden).init(&device);
    let linear_2 = LinearConfig::new(hidden, NUM_CLASSES).init(&device);
    let dropout = DropoutConfig::new(config.dropout).init();
    let relu = Relu::new();
    let loss = CrossEntropyLossConfig::new().init(&device);

    let time = |layer: &str, shape: Vec<usize>, run: &dyn Fn() -> (f64, f64)| {
        // One untimed pass settles allocations.
        run();
        let (forward, backward): (Vec<f64>, Vec<f64>) = (0..iterations).map(|_| run()).unzip();
        LayerTime {
            backend: backend.name().to_string(),
            layer: layer.to_string(),
            input: shape,
            forward_ms: Summary::of(&forward).map_or(f64::NAN, |s| s.median),
            backward_ms: Summary::of(&backward).map(|s| s.median),
        }
    };
    let random =
        |shape: [usize; 4]| Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    // Runs `forward` on `input`, then backward from its result, and returns the forward
    // and backward milliseconds.
    let forward_backward = |input: Tensor<4>, forward: &dyn Fn(Tensor<4>) -> Tensor<1>| {
        sync(&device);
        let started = Instant::now();
        let output = forward(input);
        sync(&device);
        let forward_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let gradients = output.backward();
        sync(&device);
        let backward_ms = started.elapsed().as_secs_f64() * 1000.0;
        drop(gradients);
        (forward_ms, backward_ms)
    };
    let tracked = |shape: [usize; 4]| random(shape).require_grad();

    let s1 = [batch, c1, side, side];
    let s2 = [batch, c1, side / 2, side / 2];
    let s3 = [batch, c2, side / 2, side / 2];
    let s4 = [batch, c2, side / 4, side / 4];
    let mut rows = Vec::new();
    // The images need no gradient, so the first convolution computes only the weight's.
    // Rows name the model's forms of a layer plainly, and Burn's module where they differ.
    rows.push(time("conv_1", vec![batch, 1, side, side], &|| {
        forward_backward(random([batch, 1, side, side]), &|x| {
            input_convolution(&conv_1, x).sum()
        })
    }));
    rows.push(time(
        "conv_1 as Burn's Conv2d",
        vec![batch, 1, side, side],
        &|| forward_backward(random([batch, 1, side, side]), &|x| conv_1.forward(x).sum()),
    ));
    rows.push(time("norm_1", s1.to_vec(), &|| {
        forward_backward(tracked(s1), &|x| batch_norm(&norm_1, x).sum())
    }));
    rows.push(time("norm_1 as Burn's BatchNorm", s1.to_vec(), &|| {
        forward_backward(tracked(s1), &|x| norm_1.forward(x).sum())
    }));
    rows.push(time("pool_1", s1.to_vec(), &|| {
        forward_backward(tracked(s1), &|x| max_pool(&pool, x).sum())
    }));
    rows.push(time("pool_1 as Burn's MaxPool2d", s1.to_vec(), &|| {
        forward_backward(tracked(s1), &|x| pool.forward(x).sum())
    }));
    rows.push(time("relu_1", s2.to_vec(), &|| {
        forward_backward(tracked(s2), &|x| relu.forward(x).sum())
    }));
    rows.push(time("conv_2", s2.to_vec(), &|| {
        forward_backward(tracked(s2), &|x| same_convolution(&conv_2, x).sum())
    }));
    rows.push(time("conv_2 as Burn's Conv2d", s2.to_vec(), &|| {
        forward_backward(tracked(s2), &|x| conv_2.forward(x).sum())
    }));
    rows.extend(conv_gradients(
        backend, "conv_2", &conv_2, s2, &device, iterations,
    ));
    rows.push(time("norm_2", s3.to_vec(), &|| {
        forward_backward(tracked(s3), &|x| batch_norm(&norm_2, x).sum())
    }));
    rows.push(time("norm_2 as Burn's BatchNorm", s3.to_vec(), &|| {
        forward_backward(tracked(s3), &|x| norm_2.forward(x).sum())
    }));
    rows.push(time("pool_2", s3.to_vec(), &|| {
        forward_backward(tracked(s3), &|x| max_pool(&pool, x).sum())
    }));
    rows.push(time("pool_2 as Burn's MaxPool2d", s3.to_vec(), &|| {
        forward_backward(tracked(s3), &|x| pool.forward(x).sum())
    }));
    rows.push(time("relu_2", s4.to_vec(), &|| {
        forward_backward(tracked(s4), &|x| relu.forward(x).sum())
    }));
    rows.push(time("hidden", vec![batch, flat], &|| {
        forward_backward(tracked([batch, c2, side / 4, side / 4]), &|x| {
            let x = x.flatten::<2>(1, 3); // [batch, 3136]
            dropout.forward(relu.forward(linear_1.forward(x))).sum()
        })
    }));
    rows.push(time("output+loss", vec![batch, hidden], &|| {
        let targets: Vec<i64> = (0..batch as i64).map(|i| i % NUM_CLASSES as i64).collect();
        let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [batch]), &device);
        forward_backward(tracked([batch, hidden, 1, 1]), &|x| {
            let logits = linear_2.forward(x.flatten::<2>(1, 3)); // [batch, 10]
            loss.forward(logits, targets.clone())
        })
    }));
    rows
}

/// Times the input and weight gradients of `conv` apart, calling the operations Burn's
/// default convolution backward calls, on a backend without autodiff.
fn conv_gradients(
    backend: BackendKind,
    name: &str,
    conv: &Conv2d,
    input_shape: [usize; 4],
    device: &Device,
    iterations: usize,
) -> Vec<LayerTime> {
    let device = device.clone().inner();
    let weight = conv.weight.val().inner();
    let [c_out, _, k_h, k_w] = weight.dims();
    let [batch, _, height, width] = input_shape;
    let x = Tensor::<4>::random(input_shape, Distribution::Normal(0.0, 1.0), &device);
    let grad = Tensor::<4>::random(
        [batch, c_out, height, width],
        Distribution::Default,
        &device,
    );
    let (stride, padding, dilation) = ([1, 1], [k_h / 2, k_w / 2], [1, 1]);

    let median_ms = |run: &dyn Fn() -> Tensor<4>| {
        run().into_data();
        let samples: Vec<f64> = (0..iterations)
            .map(|_| {
                let started = Instant::now();
                run().into_data();
                started.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        Summary::of(&samples).map_or(f64::NAN, |s| s.median)
    };
    let input_grad_ms = median_ms(&|| {
        conv_transpose2d(
            grad.clone(),
            weight.clone(),
            None,
            ConvTransposeOptions::new(stride, padding, [0, 0], dilation, 1),
        )
    });
    let weight_grad_ms = median_ms(&|| {
        let weight_grad = conv2d(
            x.clone().swap_dims(0, 1),
            grad.clone().swap_dims(0, 1),
            None,
            ConvOptions::new(dilation, padding, stride, 1),
        );
        weight_grad.swap_dims(0, 1)
    });
    vec![
        LayerTime {
            backend: backend.name().to_string(),
            layer: format!("{name} input gradient, Burn's"),
            input: input_shape.to_vec(),
            forward_ms: input_grad_ms,
            backward_ms: None,
        },
        LayerTime {
            backend: backend.name().to_string(),
            layer: format!("{name} weight gradient, Burn's"),
            input: input_shape.to_vec(),
            forward_ms: weight_grad_ms,
            backward_ms: None,
        },
    ]
}

fn sync(device: &Device) {
    // A failed sync shows up in the next operation that reads data, so it is ignored.
    let _ = device.sync();
}
