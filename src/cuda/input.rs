//! The detector's input on the GPU (feature `cuda`).
//!
//! ```text
//! decoded frame ─pack─▶ pinned slot (StagingPool, 2 x batch slots, reused)
//!    ─async copy─▶ device frames (batch x slot, reused) ─fovea_roi_batch_f32 (whole frame, the
//!    model's fit and normalisation)─▶ device input tensor (batch x 3 x S x S, reused)
//!    ─I/O binding─▶ ONNX Runtime (TensorRT / CUDA provider on the same stream)
//! ```
//! Frames never come back to the host between preprocessing and inference; only the model's
//! outputs (a few hundred KB) do. Models whose input the kernel cannot make (not square, NHWC)
//! take host-preprocessed tensors, uploaded into the same device tensor ([`DeviceInput::stage_tensor`]).
//! Nothing here has run on a GPU yet; see tests/gpu.rs.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, DevicePtr, PinnedHostSlice};

use super::pool::{pack_rows, Staging, StagingBuf, StagingPool};
use super::{gpu_err, Device};
use crate::error::{Error, Result};
use crate::roi::{Crop, RoiDesc, RoiSpec};

impl StagingBuf for PinnedHostSlice<u8> {
    fn len(&self) -> usize {
        PinnedHostSlice::len(self)
    }

    fn writable(&mut self) -> Result<&mut [u8]> {
        // Synchronises on the slice's event, which cudarc records after every copy from it.
        self.as_mut_slice().map_err(|e| gpu_err("pinned buffer", e))
    }
}

/// Page-locked host memory of one context (write-combined: the host only writes it).
#[derive(Debug, Clone)]
pub struct PinnedStaging(pub Arc<CudaContext>);

impl Staging for PinnedStaging {
    type Buf = PinnedHostSlice<u8>;

    fn allocate(&self, bytes: usize) -> Result<PinnedHostSlice<u8>> {
        // SAFETY: the memory is uninitialised bytes, which is a valid u8; it is only read by
        // copies of frames written into it first (StagingPool::acquire hands out written slots).
        unsafe { self.0.alloc_pinned::<u8>(bytes.max(1)) }.map_err(|e| gpu_err(&format!("pinned allocation of {bytes} bytes"), e))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Staged {
    Empty,
    /// A frame in pool slot `usize`, described by the batch slot's descriptor.
    Frame(usize),
    /// A host-preprocessed tensor in `host_tensor`.
    Tensor,
}

/// Device buffers of one detector, reused across batches.
pub struct DeviceInput {
    pub dev: Arc<Device>,
    pool: StagingPool<PinnedStaging>,
    frames: CudaSlice<u8>,
    tensor: CudaSlice<f32>,
    descs: Vec<RoiDesc>,
    descs_dev: CudaSlice<RoiDesc>,
    host_tensor: Vec<f32>,
    staged: Vec<Staged>,
    /// The kernel's view of the model input; `None` when the kernel cannot make it.
    spec: Option<RoiSpec>,
    per: usize,
    device_allocations: u64,
}

impl std::fmt::Debug for DeviceInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceInput").field("batch", &self.staged.len()).field("slot_bytes", &self.pool.slot_bytes()).finish()
    }
}

impl DeviceInput {
    /// Buffers for `batch` frames of up to `frame_bytes` each (more is provisioned on demand,
    /// counted in [`DeviceInput::allocations`]), for a model input of `per` floats an image,
    /// made on the device with `spec` (the model's `InputSpec::roi_spec`) or, without one,
    /// uploaded from host-preprocessed tensors.
    pub fn new(dev: Arc<Device>, spec: Option<RoiSpec>, per: usize, batch: usize, frame_bytes: usize) -> Result<Self> {
        if batch == 0 || batch > 65535 {
            return Err(Error::InvalidOption {
                option: "batch",
                reason: format!("expected 1..=65535 frames per call on a GPU, got {batch}"),
            });
        }
        let pool = StagingPool::new(PinnedStaging(dev.ctx.clone()), 2 * batch, frame_bytes)?;
        let frames = dev.zeros::<u8>(batch * frame_bytes.max(1))?;
        let tensor = dev.zeros::<f32>(batch * per)?;
        let descs_dev = dev.zeros::<RoiDesc>(batch)?;
        Ok(Self {
            dev,
            pool,
            frames,
            tensor,
            descs: vec![RoiDesc::default(); batch],
            descs_dev,
            host_tensor: vec![0.0; batch * per],
            staged: vec![Staged::Empty; batch],
            spec,
            per,
            device_allocations: 3, // frames, tensor, descriptors
        })
    }

    /// Whether frames are resized and normalised on the GPU (square NCHW inputs).
    /// The device the buffers are on.
    pub fn device(&self) -> &Arc<Device> {
        &self.dev
    }

    pub fn device_preprocessing(&self) -> bool {
        self.spec.is_some()
    }

    /// Writes a frame (packed 3-channel pixels in the model's channel order, rows of `stride`
    /// bytes) into a pinned slot for batch slot `slot`.
    pub fn stage_frame(&mut self, slot: usize, image: &[u8], width: u32, height: u32, stride: usize) -> Result<()> {
        let Some(spec) = self.spec.clone() else {
            return Err(Error::State("this model's input is made on the CPU: stage preprocessed tensors".into()));
        };
        let row = width as usize * 3;
        let bytes = row * height as usize;
        if width == 0 || height == 0 || stride < row || image.len() < stride * (height as usize - 1) + row {
            return Err(Error::InvalidOption {
                option: "frame",
                reason: format!(
                    "{width}x{height} frame with stride {stride} needs {} bytes, got {}",
                    stride * (height as usize).saturating_sub(1) + row,
                    image.len()
                ),
            });
        }
        if bytes > self.pool.slot_bytes() && self.staged.iter().enumerate().any(|(i, s)| i != slot && matches!(s, Staged::Frame(_))) {
            // Re-provisioning drops the staged frames; a frame size changes between batches.
            return Err(Error::State(format!(
                "a {width}x{height} frame is larger than the frames already staged in this batch: run the batch first"
            )));
        }
        if self.pool.provision(bytes)? {
            let batch = self.staged.len();
            self.frames = self.dev.zeros::<u8>(batch * bytes)?;
            self.device_allocations += 1;
            self.staged.iter_mut().for_each(|s| *s = Staged::Empty);
        }
        let (i, buf) = self.pool.acquire(bytes)?;
        pack_rows(image, stride, row, height as usize, buf);
        let offset = (slot * self.pool.slot_bytes()) as u64;
        self.descs[slot] = spec.desc(offset, row, Crop { x: 0, y: 0, w: width, h: height });
        self.staged[slot] = Staged::Frame(i);
        Ok(())
    }

    /// Writes a host-preprocessed input image ([`crate::infer::preprocess::Preprocessor`]) for
    /// batch slot `slot`.
    pub fn stage_tensor(&mut self, slot: usize, tensor: &[f32]) -> Result<()> {
        if tensor.len() != self.per {
            return Err(Error::State(format!("preprocessed image has {} floats, the model takes {}", tensor.len(), self.per)));
        }
        self.tensor_slot(slot).copy_from_slice(tensor);
        Ok(())
    }

    /// Batch slot `slot`'s host tensor, to preprocess into in place (marked staged).
    pub fn tensor_slot(&mut self, slot: usize) -> &mut [f32] {
        self.staged[slot] = Staged::Tensor;
        &mut self.host_tensor[slot * self.per..(slot + 1) * self.per]
    }

    /// Uploads batch slots `0..n` and, for frames, runs the resize kernel into the input tensor.
    /// Everything is queued on the device's stream; the inference queued after it on the same
    /// stream sees the finished tensor.
    pub fn upload(&mut self, n: usize) -> Result<()> {
        let kinds = &self.staged[..n];
        let frames = kinds.iter().all(|s| matches!(s, Staged::Frame(_)));
        let tensors = kinds.iter().all(|s| *s == Staged::Tensor);
        let stream = self.dev.stream.clone();
        if frames {
            let sb = self.pool.slot_bytes();
            for (slot, s) in kinds.iter().enumerate() {
                let Staged::Frame(i) = *s else { unreachable!("checked above") };
                let mut dst = self.frames.slice_mut(slot * sb..(slot + 1) * sb);
                stream.memcpy_htod(self.pool.slot(i), &mut dst).map_err(|e| gpu_err("frame upload", e))?;
            }
            stream.memcpy_htod(&self.descs[..n], &mut self.descs_dev.slice_mut(..n)).map_err(|e| gpu_err("descriptor upload", e))?;
            let spec = self.spec.clone().expect("frames are staged only with a kernel spec");
            let descs = self.descs_dev.slice(..n);
            // SAFETY: (1) each descriptor covers a whole frame packed at its slot's offset, inside
            // `frames` (batch x slot bytes), with the fit from RoiSpec::desc; (2) `tensor` holds
            // batch x 3 x S x S floats; (3) n <= batch <= 65535 (checked in new).
            unsafe { self.dev.roi_batch_f32(&self.frames, &descs, spec.size, spec.norm(), &mut self.tensor) }?;
        } else if tensors {
            let len = n * self.per;
            stream.memcpy_htod(&self.host_tensor[..len], &mut self.tensor.slice_mut(..len)).map_err(|e| gpu_err("tensor upload", e))?;
        } else {
            return Err(Error::State("a batch mixes frames and preprocessed tensors, or has an unfilled slot".into()));
        }
        self.staged.iter_mut().for_each(|s| *s = Staged::Empty);
        Ok(())
    }

    /// The input tensor (every slot), for ONNX Runtime's I/O binding.
    pub fn tensor(&self) -> crate::cuda::DeviceTensor {
        let (ptr, _sync) = self.tensor.device_ptr(&self.dev.stream);
        crate::cuda::DeviceTensor::new(ptr, self.tensor.len(), self.dev.ordinal())
    }

    /// Host and device buffers allocated since start-up (steady state: constant).
    pub fn allocations(&self) -> u64 {
        self.pool.allocations() + self.device_allocations
    }

    /// The input tensor, copied back (tests).
    pub fn download_tensor(&self) -> Result<Vec<f32>> {
        self.dev.download(&self.tensor)
    }
}
