//! The GPU device layer (feature `cuda`): a CUDA context and stream made only after checking that
//! the driver library is present (cudarc panics otherwise), the kernel modules loaded once (the
//! build-time PTX, or the embedded source compiled with NVRTC), and one typed launch function per
//! kernel with its numbered Safety conditions.
//!
//! ```text
//! host frames ──upload──▶ device frames ──fovea_roi_batch_*──▶ ROI batch (N x 3 x S x S)
//!                                      └─fovea_colour_stats──▶ per-ROI sums ──▶ StatsAcc::finish
//! ```
//! Written for a device this project has never had: the launches are checked by
//! tests/gpu.rs, which reports itself skipped without a driver; the same kernels run on the CPU in
//! every test run through the host harness (tests/it/roi.rs).
//!
//! The one CPU/GPU seam: `cfg(feature = "cuda")` is written here only. Without the feature the
//! same names exist as stand-ins (as candle does) that cannot be constructed: [`Device::shared`]
//! answers a clear error and every other entry point is unreachable, so the rest of the crate is
//! written once for both builds. What compiles without the feature for real: [`pool`], the frame
//! pool's logic over any host allocator, so that its no-allocation guarantee is tested on every
//! machine, and [`DeviceRoiBatch`].

pub mod pool;

#[cfg(feature = "cuda")]
mod device;
#[cfg(feature = "cuda")]
pub use device::*;
#[cfg(feature = "cuda")]
pub mod ep;
#[cfg(feature = "cuda")]
pub mod input;
#[cfg(feature = "cuda")]
pub mod rois;

#[cfg(not(feature = "cuda"))]
mod stand_in;
#[cfg(not(feature = "cuda"))]
pub use stand_in::*;

/// Whether this build has the GPU path (the `cuda` feature).
pub const BUILT: bool = cfg!(feature = "cuda");

/// A float32 tensor in a GPU's memory: `floats` values at a device address, on the device
/// `ordinal`. What ONNX Runtime's I/O binding reads in place; made only by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTensor {
    ptr: u64,
    pub floats: usize,
    pub ordinal: usize,
}

impl DeviceTensor {
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn new(ptr: u64, floats: usize, ordinal: usize) -> Self {
        Self { ptr, floats, ordinal }
    }

    /// The device address of the first float.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }
}

/// An ROI batch on a GPU: `n x 3 x size x size` float32 at a device address, made on the stream
/// of the device `ordinal`. Only the ROI stage makes one; a classifier that runs on that device
/// reads it in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRoiBatch {
    ptr: u64,
    pub n: usize,
    pub size: u32,
    pub ordinal: usize,
}

impl DeviceRoiBatch {
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    pub(crate) fn new(ptr: u64, n: usize, size: u32, ordinal: usize) -> Self {
        Self { ptr, n, size, ordinal }
    }

    /// The device address of the first float.
    pub fn ptr(&self) -> u64 {
        self.ptr
    }

    /// ROIs `start..start + n` of the batch, `None` when they are not all inside it.
    pub fn range(&self, start: usize, n: usize) -> Option<Self> {
        let per = 3 * self.size as u64 * self.size as u64 * 4;
        (start.checked_add(n)? <= self.n).then(|| Self::new(self.ptr + start as u64 * per, n, self.size, self.ordinal))
    }

    /// The batch as a tensor of `n x 3 x size x size` floats.
    pub fn tensor(&self) -> DeviceTensor {
        DeviceTensor::new(self.ptr, self.n * 3 * self.size as usize * self.size as usize, self.ordinal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_batch_range_is_inside_it_or_none() {
        let b = DeviceRoiBatch::new(0x1000, 10, 16, 1);
        let r = b.range(3, 4).unwrap();
        assert_eq!((r.ptr(), r.n, r.size, r.ordinal), (0x1000 + 3 * 3 * 16 * 16 * 4, 4, 16, 1));
        assert_eq!(r.tensor().floats, 4 * 3 * 16 * 16);
        assert!(b.range(10, 0).is_some() && b.range(7, 4).is_none() && b.range(usize::MAX, 2).is_none());
    }
}
