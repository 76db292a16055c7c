//! CPU preprocessing: bilinear resize + normalisation of a packed 8-bit image straight into a
//! float tensor, in one pass.
//!
//! Resize semantics are OpenCV's `INTER_LINEAR` without antialiasing (half-pixel centres,
//! clamp-to-edge), which is how most detectors are trained and how Python pipelines feed them:
//! source x of output column `dx` is `(dx + 0.5) * src_w / dst_w - 0.5`, clamped into the image.
//! (OpenCV itself switches to area averaging for an exact 2x downscale; fovea does not.)
#![forbid(unsafe_code)]

use crate::image::{Fit, Plan, Transform};
use crate::infer::manifest::InputSpec;

/// Turns source images into a model's input tensor image, keeping the resize plan of the last
/// source size. One per thread that preprocesses.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    spec: InputSpec,
    plan: Option<Plan>,
}

impl Preprocessor {
    pub fn new(spec: InputSpec) -> Self {
        Self { spec, plan: None }
    }

    /// Floats per preprocessed image: `3 * width * height` of the model input.
    pub fn len(&self) -> usize {
        3 * self.spec.width as usize * self.spec.height as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resizes and normalises `image` (packed 3-channel pixels in the model's channel order, rows
    /// of `stride` bytes) into `dst` ([`Preprocessor::len`] floats). Returns the transform from
    /// model-input pixels back to the image's.
    pub fn run(&mut self, image: &[u8], width: u32, height: u32, stride: usize, dst: &mut [f32]) -> Transform {
        let spec = &self.spec;
        let (dw, dh) = (spec.width, spec.height);
        if self.plan.as_ref().is_none_or(|p| (p.src_w, p.src_h) != (width, height)) {
            let pad = match spec.fit {
                Fit::Letterbox { pad } => pad,
                Fit::Stretch => 0,
            };
            let placement = Transform::placement(width, height, dw, dh, spec.fit);
            self.plan = Some(Plan::new(width, height, dw, dh, placement, spec.layout, spec.mean, spec.std, pad));
        }
        self.plan.as_ref().expect("plan set above").run(image, stride, dst);
        Transform::new(width, height, dw, dh, spec.fit)
    }
}
