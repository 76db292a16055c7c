//! The CUDA context, stream, kernel modules and typed kernel launches.

use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, CudaView, CudaViewMut, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::Ptx;

use crate::error::{Error, Result};
use crate::image::{ChannelOrder, FrameView};
use crate::kernels::MODULES;
use crate::pitch::lines::{LineFrame, LineParams, GRASS_RADIUS, TOPHAT_RADIUS};
use crate::quality::{QualityAcc, QualityFrame, QualityParams};
use crate::roi::{Norm, RoiDesc, StatsAcc, StatsParams, StatsRoi};

// SAFETY (all fifteen): #[repr(C)] plain-old-data structs of u32/u64/f32 fields whose layouts equal
// the kernels' structs (checked by tests/it/roi.rs `descriptors_have_the_kernels_layout`); any bit
// pattern of them is valid, so zeroed memory is too.
unsafe impl DeviceRepr for RoiDesc {}
unsafe impl DeviceRepr for Norm {}
unsafe impl DeviceRepr for StatsRoi {}
unsafe impl DeviceRepr for StatsParams {}
unsafe impl DeviceRepr for StatsAcc {}
unsafe impl ValidAsZeroBits for StatsAcc {}
unsafe impl ValidAsZeroBits for RoiDesc {}
unsafe impl ValidAsZeroBits for StatsRoi {}
unsafe impl DeviceRepr for QualityFrame {}
unsafe impl DeviceRepr for QualityParams {}
unsafe impl DeviceRepr for QualityAcc {}
unsafe impl ValidAsZeroBits for QualityFrame {}
unsafe impl ValidAsZeroBits for QualityAcc {}
unsafe impl DeviceRepr for LineFrame {}
unsafe impl DeviceRepr for LineParams {}

/// A CUDA failure, naming what was being done.
pub(crate) fn gpu_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Device(format!("CUDA {what}: {e}"))
}

/// Whether a CUDA driver library can be loaded on this machine.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the driver library; no CUDA call is made.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether an NVRTC library can be loaded (needed only when no PTX was embedded at build time).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the NVRTC library; no NVRTC call is made.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// The file names NVRTC is looked up as, in order (cudarc's list for the CUDA version it was
/// built for: `libnvrtc.so.13` and `libnvrtc.so.12` among them).
pub fn nvrtc_library_names() -> Vec<String> {
    cudarc::get_lib_name_candidates("nvrtc")
}

/// Compiles kernel module `name`'s embedded source with NVRTC: a clear error (never cudarc's
/// panic) when no NVRTC library is found.
pub fn nvrtc_compile(name: &str) -> Result<Ptx> {
    let m = MODULES.iter().find(|m| m.name == name).ok_or_else(|| Error::State(format!("no kernel module '{name}'")))?;
    if !nvrtc_present() {
        return Err(Error::Unsupported {
            what: "GPU kernels",
            reason: format!(
                "{name}.cu: this build has no PTX of its kernels and NVRTC, which compiles them at run time, is not found (looked for {}): install NVRTC (pip install nvidia-cuda-nvrtc) and put its lib folder on LD_LIBRARY_PATH, or build fovea where a CUDA compiler is found",
                nvrtc_library_names().iter().filter(|n| n.contains(".so")).cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let opts = cudarc::nvrtc::CompileOptions { name: Some(format!("{name}.cu")), ..Default::default() };
    cudarc::nvrtc::compile_ptx_with_opts(m.source, opts).map_err(|e| gpu_err(&format!("NVRTC {name}.cu"), e))
}

/// One GPU with fovea's kernels loaded.
pub struct Device {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    roi_f32: CudaFunction,
    roi_f16: CudaFunction,
    stats: CudaFunction,
    quality: CudaFunction,
    line_prep: CudaFunction,
    line_window: CudaFunction,
    line_mask: CudaFunction,
    /// How the kernels were loaded: "build-time PTX" or "NVRTC".
    pub kernels_from: &'static str,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("ordinal", &self.ctx.ordinal()).field("kernels_from", &self.kernels_from).finish()
    }
}

impl Device {
    /// The GPU's number.
    pub fn ordinal(&self) -> usize {
        self.ctx.ordinal()
    }

    /// The GPU in words: name, compute capability, memory, driver's CUDA version, kernels' origin.
    pub fn describe(&self) -> String {
        let name = self.ctx.name().unwrap_or_else(|e| format!("(name: {e})"));
        let cc = self.ctx.compute_capability().map_or_else(|e| format!("? ({e})"), |(a, b)| format!("{a}.{b}"));
        let mem = self.ctx.total_mem().map_or_else(|e| format!("? ({e})"), |m| format!("{:.1} GiB", m as f64 / (1u64 << 30) as f64));
        let mut v: std::ffi::c_int = 0;
        // SAFETY: the driver is loaded (a context exists); the call writes one int.
        let r = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
        let driver = if r == cudarc::driver::sys::CUresult::CUDA_SUCCESS {
            format!("CUDA {}.{}", v / 1000, (v % 1000) / 10)
        } else {
            format!("? ({r:?})")
        };
        format!("cuda:{} {name}, compute capability {cc}, {mem}, driver {driver}, kernels from {}", self.ordinal(), self.kernels_from)
    }

    /// Opens GPU `ordinal`: a clear error (never a panic) when there is no driver or no such GPU.
    pub fn new(ordinal: usize) -> Result<Self> {
        if !driver_present() {
            return Err(Error::RuntimeMissing {
                reason: "no CUDA driver library (libcuda.so) on this machine: the cuda device needs an NVIDIA driver".into(),
            });
        }
        let ctx = CudaContext::new(ordinal).map_err(|e| gpu_err(&format!("device {ordinal}"), e))?;
        // A stream of our own (not the legacy NULL stream): uploads, kernels and ONNX Runtime's
        // work (given this stream as its compute stream) are ordered on it and nothing else.
        let stream = ctx.new_stream().map_err(|e| gpu_err("stream", e))?;
        let mut from = "build-time PTX";
        let mut load = |name: &str| -> Result<Arc<cudarc::driver::CudaModule>> {
            let m = MODULES.iter().find(|m| m.name == name).expect("known module");
            let ptx = match m.ptx {
                Some(p) => Ptx::from_src(p),
                None => {
                    from = "NVRTC";
                    nvrtc_compile(name)?
                }
            };
            ctx.load_module(ptx).map_err(|e| gpu_err(&format!("loading {name}"), e))
        };
        let roi = load("roi")?;
        let colour = load("colour")?;
        let quality = load("quality")?;
        let lines = load("lines")?;
        let f = |m: &Arc<cudarc::driver::CudaModule>, k: &str| m.load_function(k).map_err(|e| gpu_err(&format!("kernel {k}"), e));
        Ok(Self {
            roi_f32: f(&roi, "fovea_roi_batch_f32")?,
            roi_f16: f(&roi, "fovea_roi_batch_f16")?,
            stats: f(&colour, "fovea_colour_stats")?,
            quality: f(&quality, "fovea_frame_quality")?,
            line_prep: f(&lines, "fovea_line_prep")?,
            line_window: f(&lines, "fovea_line_window")?,
            line_mask: f(&lines, "fovea_line_mask")?,
            ctx,
            stream,
            kernels_from: from,
        })
    }

    /// The process's one `Device` for GPU `ordinal`: the context, stream and kernel modules are
    /// made (and the modules loaded) once, and shared by every stage on that GPU (detector,
    /// ROI stage, encoder), which then order their work on the one stream.
    pub fn shared(ordinal: usize) -> Result<Arc<Self>> {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock, Weak};
        static DEVICES: OnceLock<Mutex<HashMap<usize, Weak<Device>>>> = OnceLock::new();
        let mut map = DEVICES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = map.get(&ordinal).and_then(Weak::upgrade) {
            return Ok(d);
        }
        let d = Arc::new(Self::new(ordinal)?);
        map.insert(ordinal, Arc::downgrade(&d));
        Ok(d)
    }

    /// Copies host memory to a new device buffer.
    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>> {
        self.stream.clone_htod(host).map_err(|e| gpu_err("upload", e))
    }

    /// Copies a device buffer back (waits for the stream).
    pub fn download<T: DeviceRepr + Default + Clone>(&self, dev: &CudaSlice<T>) -> Result<Vec<T>> {
        self.stream.clone_dtoh(dev).map_err(|e| gpu_err("download", e))
    }

    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> Result<CudaSlice<T>> {
        self.stream.alloc_zeros(n).map_err(|e| gpu_err("allocation", e))
    }

    fn roi_config(size: u32, n: usize) -> LaunchConfig {
        LaunchConfig { grid_dim: (size.div_ceil(16), size.div_ceil(16), n as u32), block_dim: (16, 16, 1), shared_mem_bytes: 0 }
    }

    /// `fovea_roi_batch_f32`: `out[n x 3 x size x size]` from `rois` over `frames`.
    ///
    /// # Safety
    /// 1. Every descriptor's crop lies inside `frames` (offset + (h - 1) * stride + w * 3 <=
    ///    frames.len()), with w, h >= 1 and fit_x + fit_w, fit_y + fit_h <= size; descriptors made
    ///    by [`crate::roi::RoiSpec::desc`] from [`crate::roi::crop_of`] crops satisfy this.
    /// 2. `out` holds at least `rois.len() * 3 * size * size` floats.
    /// 3. `rois.len()` <= 65535 (the grid's z dimension).
    pub unsafe fn roi_batch_f32(
        &self,
        frames: &CudaSlice<u8>,
        rois: &CudaView<'_, RoiDesc>,
        size: u32,
        norm: Norm,
        out: &mut CudaSlice<f32>,
    ) -> Result<()> {
        // SAFETY: the caller's conditions 1-3.
        unsafe { self.roi_launch(&self.roi_f32, "fovea_roi_batch_f32", frames, rois, size, norm, out) }
    }

    /// `fovea_roi_batch_f16`: as [`Device::roi_batch_f32`], IEEE halves as u16.
    ///
    /// # Safety
    /// As [`Device::roi_batch_f32`], with `out` holding that many u16.
    pub unsafe fn roi_batch_f16(
        &self,
        frames: &CudaSlice<u8>,
        rois: &CudaView<'_, RoiDesc>,
        size: u32,
        norm: Norm,
        out: &mut CudaSlice<u16>,
    ) -> Result<()> {
        // SAFETY: the caller's conditions, as for roi_batch_f32.
        unsafe { self.roi_launch(&self.roi_f16, "fovea_roi_batch_f16", frames, rois, size, norm, out) }
    }

    /// Launches one of the two ROI kernels (same arguments, output element `T`).
    ///
    /// # Safety
    /// Those of [`Device::roi_batch_f32`], with `f` one of the ROI kernels and `T` its output
    /// element (f32 for `fovea_roi_batch_f32`, u16 for `fovea_roi_batch_f16`).
    #[allow(clippy::too_many_arguments)]
    unsafe fn roi_launch<T>(
        &self,
        f: &CudaFunction,
        name: &str,
        frames: &CudaSlice<u8>,
        rois: &CudaView<'_, RoiDesc>,
        size: u32,
        norm: Norm,
        out: &mut CudaSlice<T>,
    ) -> Result<()> {
        let n = rois.len();
        if n == 0 {
            return Ok(());
        }
        let mut b = self.stream.launch_builder(f);
        b.arg(frames).arg(rois).arg(&size).arg(&norm).arg(out);
        // SAFETY: the caller's conditions; argument types match the kernel's signature.
        unsafe { b.launch(Self::roi_config(size, n)) }.map_err(|e| gpu_err(name, e))?;
        Ok(())
    }

    /// `fovea_colour_stats`: adds each ROI's sums into `acc` (zero it first).
    ///
    /// # Safety
    /// 1. Every ROI lies inside `frames` (as condition 1 of [`Device::roi_batch_f32`]).
    /// 2. `acc` holds at least `rois.len()` accumulators; `sdiv` and `hdiv` hold 256 entries
    ///    ([`crate::roi::stats::hsv_tables`]).
    /// 3. `rois.len()` <= 65535 (the grid's y dimension).
    pub unsafe fn colour_stats(
        &self,
        frames: &CudaSlice<u8>,
        rois: &CudaView<'_, StatsRoi>,
        params: StatsParams,
        sdiv: &CudaSlice<i32>,
        hdiv: &CudaSlice<i32>,
        acc: &mut CudaViewMut<'_, StatsAcc>,
    ) -> Result<()> {
        let n = rois.len();
        if n == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig { grid_dim: (8, n as u32, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        let mut b = self.stream.launch_builder(&self.stats);
        b.arg(frames).arg(rois).arg(&params).arg(sdiv).arg(hdiv).arg(acc);
        // SAFETY: the caller's conditions 1-3; argument types match the kernel's signature.
        unsafe { b.launch(cfg) }.map_err(|e| gpu_err("fovea_colour_stats", e))?;
        Ok(())
    }

    /// `fovea_frame_quality`: adds each frame's sums into `acc` (zero it first).
    ///
    /// # Safety
    /// 1. Every frame lies inside `frames` (offset + (h - 1) * stride + w * 3 <= frames.len()),
    ///    with stride >= 3 w (a frame of size 0 reads nothing).
    /// 2. `acc` holds at least `list.len()` accumulators.
    /// 3. `list.len()` <= 65535 (the grid's y dimension).
    pub unsafe fn frame_quality(
        &self,
        frames: &CudaSlice<u8>,
        list: &CudaView<'_, QualityFrame>,
        params: QualityParams,
        acc: &mut CudaViewMut<'_, QualityAcc>,
    ) -> Result<()> {
        let n = list.len();
        if n == 0 {
            return Ok(());
        }
        let cfg = LaunchConfig { grid_dim: (16, n as u32, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        let mut b = self.stream.launch_builder(&self.quality);
        b.arg(frames).arg(list).arg(&params).arg(acc);
        // SAFETY: the caller's conditions 1-3; argument types match the kernel's signature.
        unsafe { b.launch(cfg) }.map_err(|e| gpu_err("fovea_frame_quality", e))?;
        Ok(())
    }

    /// The pitch-line mask of one host frame (uploaded here; 0/1 per pixel), exactly as
    /// [`crate::pitch::lines::line_mask`] makes it on the CPU.
    pub fn pitch_line_planes(&self, view: &FrameView, order: ChannelOrder, p: &LineParams) -> Result<(Vec<u8>, Vec<u8>)> {
        let (w, h) = (view.width, view.height);
        let n = w as usize * h as usize;
        if n == 0 {
            return Ok((Vec::new(), Vec::new()));
        }
        let rows = (h as usize - 1) * view.stride + w as usize * 3;
        if view.stride < w as usize * 3 || view.data.len() < rows {
            return Err(Error::Pipeline(format!("line mask: a {w}x{h} frame of stride {} in {} bytes", view.stride, view.data.len())));
        }
        let frame = self.upload(&view.data[..rows])?;
        let (sdiv, hdiv) = crate::roi::stats::hsv_tables();
        let (sdiv, hdiv) = (self.upload(&sdiv)?, self.upload(&hdiv)?);
        let f = LineFrame::of(view, order);
        let mut planes: Vec<CudaSlice<u8>> = (0..6).map(|_| self.zeros::<u8>(n)).collect::<Result<_>>()?;
        let cfg = LaunchConfig { grid_dim: (((n as u32).div_ceil(256)).min(4096), 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 };
        let [gray, grass, a, b, c, d] = &mut planes[..] else { unreachable!("six planes") };
        let mut l = self.stream.launch_builder(&self.line_prep);
        l.arg(&frame).arg(&f).arg(p).arg(&sdiv).arg(&hdiv).arg(&mut *gray).arg(&mut *grass);
        // SAFETY: the frame buffer holds h rows of `stride` bytes (checked above); gray and grass
        // hold w x h bytes; the tables 256 entries each; argument types match the kernel.
        unsafe { l.launch(cfg) }.map_err(|e| gpu_err("fovea_line_prep", e))?;
        // Opening: rows then columns of a min filter, then of a max filter.
        let window = |src: &CudaSlice<u8>, dst: &mut CudaSlice<u8>, radius: u32, columns: u32, is_max: u32| -> Result<()> {
            let mut l = self.stream.launch_builder(&self.line_window);
            l.arg(src).arg(dst).arg(&w).arg(&h).arg(&radius).arg(&columns).arg(&is_max);
            // SAFETY: src and dst are distinct buffers of w x h bytes; argument types match.
            unsafe { l.launch(cfg) }.map_err(|e| gpu_err("fovea_line_window", e)).map(|_| ())
        };
        window(gray, a, TOPHAT_RADIUS, 0, 0)?;
        window(a, b, TOPHAT_RADIUS, 1, 0)?;
        window(b, a, TOPHAT_RADIUS, 0, 1)?;
        window(a, b, TOPHAT_RADIUS, 1, 1)?; // b: opened gray
        window(grass, a, GRASS_RADIUS, 0, 0)?;
        window(a, c, GRASS_RADIUS, 1, 0)?;
        window(c, a, GRASS_RADIUS, 0, 1)?;
        window(a, c, GRASS_RADIUS, 1, 1)?; // c: opened grass
        let mut l = self.stream.launch_builder(&self.line_mask);
        l.arg(&*gray).arg(&*b).arg(&*c).arg(&w).arg(&h).arg(&p.white).arg(&mut *d);
        // SAFETY: every plane holds w x h bytes; argument types match the kernel's signature.
        unsafe { l.launch(cfg) }.map_err(|e| gpu_err("fovea_line_mask", e))?;
        Ok((self.download(d)?, self.download(c)?))
    }
}
