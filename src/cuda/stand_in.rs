//! The GPU layer's names in a build without the `cuda` feature: nothing here can be constructed,
//! [`Device::shared`] says why, so code written once for both builds compiles and never reaches a
//! GPU call.
#![forbid(unsafe_code)]

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::image::FrameView;
use crate::roi::{ColourStats, Crop, RoiBatch, RoiRef, RoiSpec, StatsParams};

use super::DeviceRoiBatch;

/// A GPU (never constructed without the `cuda` feature).
#[derive(Debug)]
pub enum Device {}

impl Device {
    /// Always an error here: this build has no GPU path.
    pub fn shared(_ordinal: usize) -> Result<Arc<Self>> {
        Err(Error::Unsupported {
            what: "device cuda",
            reason: "this build of fovea has no GPU support (build with `--features cuda`)".into(),
        })
    }

    pub fn ordinal(&self) -> usize {
        match *self {}
    }

    pub fn pitch_line_planes(
        &self,
        _view: &FrameView,
        _order: crate::image::ChannelOrder,
        _p: &crate::pitch::lines::LineParams,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        match *self {}
    }
}

/// Whether a CUDA driver library is present (never looked for without the `cuda` feature).
pub fn driver_present() -> bool {
    false
}

/// The ROI stage's device buffers (never constructed without the `cuda` feature).
#[derive(Debug)]
pub enum DeviceRois {}

impl DeviceRois {
    /// The device the buffers are on.
    pub fn device(&self) -> &Arc<Device> {
        match *self {}
    }
    pub fn new(dev: Arc<Device>, _max_frames: usize, _frame_bytes: usize) -> Result<Self> {
        match *dev {}
    }
    pub fn upload_frames(&mut self, _frames: &[FrameView]) -> Result<()> {
        match *self {}
    }
    pub fn colour_stats(&mut self, _rois: &[(usize, Crop)], _params: &StatsParams) -> Result<Vec<ColourStats>> {
        match *self {}
    }
    pub fn frame_quality(&mut self, _params: &crate::quality::QualityParams) -> Result<Vec<crate::quality::QualityAcc>> {
        match *self {}
    }
    pub fn extract(&mut self, _refs: &[RoiRef], _spec: &RoiSpec) -> Result<usize> {
        match *self {}
    }
    pub fn batch(&self) -> DeviceRoiBatch {
        match *self {}
    }
    pub fn download(&self, _out: &mut RoiBatch) -> Result<()> {
        match *self {}
    }
}

pub mod rois {
    pub use super::DeviceRois;
}

/// The execution providers on a device (none without the `cuda` feature).
pub mod ep {
    use super::Device;

    /// A GPU execution provider of ONNX Runtime.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum GpuProvider {
        Cuda,
        TensorRt,
    }

    /// Never: this build sets up no GPU provider.
    pub fn provider_available(_p: GpuProvider) -> bool {
        false
    }

    pub fn execution_providers(
        dev: &Device,
        _p: GpuProvider,
        _options: &[(String, String)],
        _cuda_options: &[(String, String)],
    ) -> Vec<ort::ep::ExecutionProviderDispatch> {
        match *dev {}
    }
}

/// The detector's device input (never constructed without the `cuda` feature).
pub mod input {
    use std::sync::Arc;

    use super::Device;
    use crate::error::Result;
    use crate::roi::RoiSpec;

    #[derive(Debug)]
    pub enum DeviceInput {}

    impl DeviceInput {
        pub fn new(dev: Arc<Device>, _spec: Option<RoiSpec>, _per: usize, _batch: usize, _frame_bytes: usize) -> Result<Self> {
            match *dev {}
        }
        pub fn device(&self) -> &Arc<Device> {
            match *self {}
        }
        pub fn device_preprocessing(&self) -> bool {
            match *self {}
        }
        pub fn stage_frame(&mut self, _slot: usize, _image: &[u8], _width: u32, _height: u32, _stride: usize) -> Result<()> {
            match *self {}
        }
        pub fn stage_tensor(&mut self, _slot: usize, _tensor: &[f32]) -> Result<()> {
            match *self {}
        }
        pub fn tensor_slot(&mut self, _slot: usize) -> &mut [f32] {
            match *self {}
        }
        pub fn upload(&mut self, _n: usize) -> Result<()> {
            match *self {}
        }
        pub fn tensor(&self) -> crate::cuda::DeviceTensor {
            match *self {}
        }
        pub fn allocations(&self) -> u64 {
            match *self {}
        }
    }
}
