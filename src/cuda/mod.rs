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
//! every test run through the host harness (tests/roi.rs).
//!
//! What compiles without the feature: [`pool`], the frame pool's logic over any host allocator,
//! so that its no-allocation guarantee is tested on every machine.

pub mod pool;

#[cfg(feature = "cuda")]
mod device;
#[cfg(feature = "cuda")]
pub use device::*;
#[cfg(feature = "cuda")]
pub mod input;
#[cfg(feature = "cuda")]
pub mod rois;
