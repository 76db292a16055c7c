//! ROI batches and colour statistics on the GPU (feature `cuda`), for `fovea verify --device cuda`.
//!
//! ```text
//! a batch's frames ─pack─▶ pinned slots ─async copy─▶ device frames (reused)
//!     ├─fovea_colour_stats─▶ per-ROI integer sums ─download (80 B/ROI)─▶ ColourStats ─▶ rules
//!     └─fovea_roi_batch_f32─▶ device ROI batch (N x 3 x S x S, reused, grows) ─I/O binding─▶
//!                              the zero-shot encoder on the GPU (or one download for a host one)
//! ```
//! Every buffer is kept across batches and grows only when a batch needs more (counted by
//! [`DeviceRois::allocations`]); in steady state nothing is allocated. Written for a GPU this
//! project has never had: tests/gpu.rs checks it there; the kernels themselves run on the CPU in
//! every test run (host harness).

use std::sync::Arc;

use cudarc::driver::{CudaSlice, DevicePtr, DeviceRepr, ValidAsZeroBits};

use super::input::PinnedStaging;
use super::pool::{pack_rows, StagingPool};
use super::{gpu_err, Device};
use crate::error::{Error, Result};
use crate::quality::{QualityAcc, QualityFrame, QualityParams};
use crate::roi::stats::hsv_tables;
use crate::roi::{ColourStats, Crop, FrameView, RoiBatch, RoiDesc, RoiDtype, RoiRef, RoiSpec, StatsAcc, StatsParams, StatsRoi};

/// A device buffer that only grows.
struct Grow<T: DeviceRepr> {
    buf: CudaSlice<T>,
}

impl<T: DeviceRepr + ValidAsZeroBits> Grow<T> {
    fn new(dev: &Device, n: usize) -> Result<Self> {
        Ok(Self { buf: dev.zeros(n.max(1))? })
    }

    /// Room for `n`; true when it had to reallocate (doubling, to make that rare).
    fn reserve(&mut self, dev: &Device, n: usize) -> Result<bool> {
        if n <= self.buf.len() {
            return Ok(false);
        }
        self.buf = dev.zeros(n.max(2 * self.buf.len()))?;
        Ok(true)
    }
}

/// Device buffers for the ROI stage, reused across batches.
pub struct DeviceRois {
    pub dev: Arc<Device>,
    pool: StagingPool<PinnedStaging>,
    frames: Grow<u8>,
    /// Byte offset of each uploaded frame in `frames`, and its stride (packed: 3 x width).
    placed: Vec<(u64, usize)>,
    /// Width and height of each uploaded frame.
    sizes: Vec<(u32, u32)>,
    stats_rois: Grow<StatsRoi>,
    acc: Grow<StatsAcc>,
    sdiv: CudaSlice<i32>,
    hdiv: CudaSlice<i32>,
    descs: Grow<RoiDesc>,
    batch: Grow<f32>,
    /// ROIs in the batch made last, and their size.
    made: (usize, u32),
    allocations: u64,
}

impl std::fmt::Debug for DeviceRois {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceRois").field("frames", &self.placed.len()).field("rois", &self.made.0).finish()
    }
}

impl DeviceRois {
    /// Buffers for up to `max_frames` frames of `frame_bytes` per batch (both grow on demand).
    pub fn new(dev: Arc<Device>, max_frames: usize, frame_bytes: usize) -> Result<Self> {
        let (s, h) = hsv_tables();
        Ok(Self {
            pool: StagingPool::new(PinnedStaging(dev.ctx.clone()), max_frames.max(1), frame_bytes)?,
            frames: Grow::new(&dev, max_frames.max(1) * frame_bytes)?,
            placed: Vec::new(),
            sizes: Vec::new(),
            stats_rois: Grow::new(&dev, 256)?,
            acc: Grow::new(&dev, 256)?,
            sdiv: dev.upload(&s[..])?,
            hdiv: dev.upload(&h[..])?,
            descs: Grow::new(&dev, 256)?,
            batch: Grow::new(&dev, 64 * 3 * 224 * 224)?,
            made: (0, 0),
            allocations: 0,
            dev,
        })
    }

    /// Buffers (host pinned and device) allocated since start-up, the first ones included.
    pub fn allocations(&self) -> u64 {
        // 7: frames, ROIs, accumulators, two HSV tables, descriptors, batch.
        self.pool.allocations() + 7 + self.allocations
    }

    /// Uploads a batch's frames (packed rows) for the calls that follow.
    pub fn upload_frames(&mut self, frames: &[FrameView]) -> Result<()> {
        let most = frames.iter().map(|f| 3 * f.width as usize * f.height as usize).max().unwrap_or(0);
        if frames.len() > self.pool.slots() {
            let more = frames.len();
            self.pool = StagingPool::new(PinnedStaging(self.dev.ctx.clone()), more, most.max(self.pool.slot_bytes()))?;
            self.allocations += more as u64;
        } else if self.pool.provision(most)? {
            self.allocations += self.pool.slots() as u64;
        }
        let sb = self.pool.slot_bytes();
        if self.frames.reserve(&self.dev, frames.len() * sb)? {
            self.allocations += 1;
        }
        self.placed.clear();
        self.sizes.clear();
        let stream = self.dev.stream.clone();
        for (i, f) in frames.iter().enumerate() {
            let row = 3 * f.width as usize;
            if f.stride < row || f.data.len() < f.stride * (f.height as usize).saturating_sub(1) + row {
                return Err(Error::InvalidOption {
                    option: "frame",
                    reason: format!("frame {i}: {}x{} with stride {} does not fit its {} bytes", f.width, f.height, f.stride, f.data.len()),
                });
            }
            let (slot, buf) = self.pool.acquire(row * f.height as usize)?;
            pack_rows(f.data, f.stride, row, f.height as usize, buf);
            let mut dst = self.frames.buf.slice_mut(i * sb..(i + 1) * sb);
            stream.memcpy_htod(self.pool.slot(slot), &mut dst).map_err(|e| gpu_err("frame upload", e))?;
            self.placed.push(((i * sb) as u64, row));
            self.sizes.push((f.width, f.height));
        }
        Ok(())
    }

    /// Offset and stride of uploaded frame `frame`.
    fn place(&self, frame: usize) -> Result<(u64, usize)> {
        self.placed
            .get(frame)
            .copied()
            .ok_or_else(|| Error::State(format!("ROI of frame {frame}, but {} frames were uploaded", self.placed.len())))
    }

    /// Colour statistics of `rois` (frame index into the last upload, crop inside that frame),
    /// exactly as [`crate::roi::colour_stats`] computes them (integer sums).
    pub fn colour_stats(&mut self, rois: &[(usize, Crop)], params: &StatsParams) -> Result<Vec<ColourStats>> {
        if rois.is_empty() {
            return Ok(Vec::new());
        }
        let mut host = Vec::with_capacity(rois.len());
        for &(f, crop) in rois {
            let (offset, stride) = self.place(f)?;
            host.push(StatsRoi::new(offset, stride, crop));
        }
        let n = rois.len();
        if n > 65535 {
            return Err(Error::InvalidOption { option: "batch_rois", reason: format!("{n} ROIs in one batch, at most 65535") });
        }
        let grew = self.stats_rois.reserve(&self.dev, n)? as u64 + self.acc.reserve(&self.dev, n)? as u64;
        self.allocations += grew;
        let stream = self.dev.stream.clone();
        stream.memcpy_htod(&host[..], &mut self.stats_rois.buf.slice_mut(..n)).map_err(|e| gpu_err("ROI upload", e))?;
        stream.memset_zeros(&mut self.acc.buf.slice_mut(..n)).map_err(|e| gpu_err("accumulator reset", e))?;
        {
            let rois_view = self.stats_rois.buf.slice(..n);
            let mut acc = self.acc.buf.slice_mut(..n);
            // SAFETY: (1) each ROI is a crop inside its frame (the caller's crops come from
            // crop_of over that frame's size) at the frame's packed offset in `frames`; (2) one
            // accumulator per ROI, zeroed above, and 256-entry tables from hsv_tables();
            // (3) n <= 65535 (checked above).
            unsafe { self.dev.colour_stats(&self.frames.buf, &rois_view, *params, &self.sdiv, &self.hdiv, &mut acc) }?;
        }
        let sums: Vec<StatsAcc> = stream.clone_dtoh(&self.acc.buf.slice(..n)).map_err(|e| gpu_err("statistics download", e))?;
        Ok(sums.iter().zip(rois).map(|(a, (_, c))| a.finish(c.w as u64 * c.h as u64)).collect())
    }

    /// The quality sums of every frame of the last upload, exactly as
    /// [`crate::quality::accumulate`] computes them.
    pub fn frame_quality(&mut self, params: &QualityParams) -> Result<Vec<QualityAcc>> {
        let n = self.placed.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > 65535 {
            return Err(Error::InvalidOption { option: "frames", reason: format!("{n} frames in one batch, at most 65535") });
        }
        let host: Vec<QualityFrame> = self
            .placed
            .iter()
            .zip(&self.sizes)
            .map(|(&(offset, stride), &(w, h))| QualityFrame { offset, stride: stride as u32, w, h })
            .collect();
        let stream = self.dev.stream.clone();
        let list = self.dev.upload(&host[..])?;
        let mut acc = self.dev.zeros::<QualityAcc>(n)?;
        {
            let list = list.slice(..);
            let mut acc = acc.slice_mut(..);
            // SAFETY: (1) each frame was packed at its offset by upload_frames, `stride` = 3 w,
            // w x h its own size (a frame of size 0 reads no pixel); (2) one zeroed accumulator
            // per frame; (3) n <= 65535 (checked above).
            unsafe { self.dev.frame_quality(&self.frames.buf, &list, *params, &mut acc) }?;
        }
        stream.clone_dtoh(&acc).map_err(|e| gpu_err("quality download", e))
    }

    /// Makes the ROI batch of `refs` (float32, `spec`'s size, fit and normalisation) on the device;
    /// returns the number of ROIs. The batch stays there ([`DeviceRois::batch_ptr`]).
    pub fn extract(&mut self, refs: &[RoiRef], spec: &RoiSpec) -> Result<usize> {
        if spec.dtype != RoiDtype::F32 {
            return Err(Error::Unsupported {
                what: "ROI dtype",
                reason: "the GPU ROI batch is float32 (the encoders take float32)".into(),
            });
        }
        let n = refs.len();
        self.made = (n, spec.size);
        if n == 0 {
            return Ok(0);
        }
        if n > 65535 {
            return Err(Error::InvalidOption { option: "batch_rois", reason: format!("{n} ROIs in one batch, at most 65535") });
        }
        let mut host = Vec::with_capacity(n);
        for r in refs {
            let (offset, stride) = self.place(r.frame)?;
            host.push(spec.desc(offset, stride, r.crop));
        }
        let grew = self.descs.reserve(&self.dev, n)? as u64 + self.batch.reserve(&self.dev, n * spec.roi_len())? as u64;
        self.allocations += grew;
        let stream = self.dev.stream.clone();
        stream.memcpy_htod(&host[..], &mut self.descs.buf.slice_mut(..n)).map_err(|e| gpu_err("descriptor upload", e))?;
        let descs = self.descs.buf.slice(..n);
        // SAFETY: (1) descriptors from RoiSpec::desc over crops inside their frames, at the
        // frames' packed offsets in `frames`; (2) `batch` holds >= n x 3 x S x S floats (reserved
        // above); (3) n <= 65535 (checked above).
        unsafe { self.dev.roi_batch_f32(&self.frames.buf, &descs, spec.size, spec.norm(), &mut self.batch.buf) }?;
        Ok(n)
    }

    /// The device address of the last ROI batch (`n x 3 x S x S` floats).
    pub fn batch_ptr(&self) -> u64 {
        let (ptr, _sync) = self.batch.buf.device_ptr(&self.dev.stream);
        ptr
    }

    /// The device the buffers are on.
    pub fn device(&self) -> &Arc<Device> {
        &self.dev
    }

    /// The last ROI batch, as a typed handle for a classifier on this device.
    pub fn batch(&self) -> crate::cuda::DeviceRoiBatch {
        crate::cuda::DeviceRoiBatch::new(self.batch_ptr(), self.made.0, self.made.1, self.dev.ordinal())
    }

    /// The last ROI batch, copied to the host (for a classifier that runs on the CPU).
    pub fn download(&self, out: &mut RoiBatch) -> Result<()> {
        let (n, size) = self.made;
        let len = n * 3 * size as usize * size as usize;
        out.n = n;
        out.size = size;
        out.f16.clear();
        out.f32.resize(len, 0.0);
        if len > 0 {
            self.dev.stream.memcpy_dtoh(&self.batch.buf.slice(..len), &mut out.f32[..]).map_err(|e| gpu_err("ROI batch download", e))?;
            self.dev.stream.synchronize().map_err(|e| gpu_err("synchronise", e))?;
        }
        Ok(())
    }
}
