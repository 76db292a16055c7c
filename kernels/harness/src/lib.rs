//! Test-only: fovea's CUDA kernels compiled as C++ (see build.rs) and launched on the CPU over
//! their whole grid. The descriptor types are fovea's own `#[repr(C)]` mirrors of the kernels'
//! structs, passed here as raw pointers so that this crate does not depend on fovea.

/// A CUDA grid or block shape.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dim3 {
    pub x: u32,
    pub y: u32,
    pub z: u32,
}

extern "C" {
    pub fn harness_roi_batch_f32(grid: Dim3, block: Dim3, frames: *const u8, rois: *const u8, size: u32, norm: *const u8, out: *mut f32);
    pub fn harness_roi_batch_f16(grid: Dim3, block: Dim3, frames: *const u8, rois: *const u8, size: u32, norm: *const u8, out: *mut u16);
    pub fn harness_colour_stats(
        grid: Dim3,
        block: Dim3,
        frames: *const u8,
        rois: *const u8,
        params: *const u8,
        sdiv: *const i32,
        hdiv: *const i32,
        acc: *mut u8,
    );
    pub fn harness_frame_quality(grid: Dim3, block: Dim3, frames: *const u8, list: *const u8, params: *const u8, acc: *mut u8);
    pub fn harness_line_prep(
        grid: Dim3,
        block: Dim3,
        frame: *const u8,
        f: *const u8,
        params: *const u8,
        sdiv: *const i32,
        hdiv: *const i32,
        gray: *mut u8,
        grass: *mut u8,
    );
    pub fn harness_line_window(grid: Dim3, block: Dim3, src: *const u8, dst: *mut u8, w: u32, h: u32, radius: u32, columns: u32, is_max: u32);
    pub fn harness_line_mask(grid: Dim3, block: Dim3, gray: *const u8, opened: *const u8, grass: *const u8, w: u32, h: u32, white: u32, mask: *mut u8);
    pub fn harness_f16(v: f32) -> u16;
}
