//! OpenCV's 8-bit colour conversions, bit-exact, shared by the colour statistics, the line kernel's
//! CPU twin and the kernels' host checks (kernels/fovea_cuda.h has the same on the device).
#![forbid(unsafe_code)]

/// OpenCV's 8-bit luma (`cv::cvtColor(..., COLOR_RGB2GRAY)`, OpenCV 4.x), bit-exact:
/// `Y = (9798 R + 19235 G + 3735 B + 16384) >> 15` (equal to cv2 4.12 on all 2^24 colours; the
/// older 14-bit coefficients 4899/9617/1868 differ on 43,864 of them).
#[inline]
pub fn luma(r: u32, g: u32, b: u32) -> u32 {
    (9798 * r + 19235 * g + 3735 * b + 16384) >> 15
}

/// OpenCV's division tables for 8-bit HSV (`hsv_shift = 12`): `sdiv[v] = round(255 * 4096 / v)`,
/// `hdiv[d] = round(180 * 4096 / (6 d))`, both 0 at 0. The kernel takes them as inputs.
pub fn hsv_tables() -> ([i32; 256], [i32; 256]) {
    let mut sdiv = [0i32; 256];
    let mut hdiv = [0i32; 256];
    for i in 1..256 {
        sdiv[i] = ((255 << 12) as f64 / i as f64).round() as i32;
        hdiv[i] = ((180 << 12) as f64 / (6.0 * i as f64)).round() as i32;
    }
    (sdiv, hdiv)
}

/// OpenCV 8-bit HSV of one pixel.
#[inline]
pub fn hsv(r: i32, g: i32, b: i32, sdiv: &[i32; 256], hdiv: &[i32; 256]) -> (i32, i32, i32) {
    hsv_by(r, g, b, |v| sdiv[v as usize], |d| hdiv[d as usize])
}

/// OpenCV 8-bit HSV of one pixel with the division factors `sdiv(v)` and `hdiv(diff)` found by
/// the caller (from [`hsv_tables`], or computed where a table read would stop a loop from
/// vectorising). Without a branch on the hue's sector (selects), so that it vectorises.
#[inline(always)]
pub fn hsv_by(r: i32, g: i32, b: i32, sdiv: impl Fn(i32) -> i32, hdiv: impl Fn(i32) -> i32) -> (i32, i32, i32) {
    let v = r.max(g).max(b);
    let diff = v - r.min(g).min(b);
    let s = (diff * sdiv(v) + (1 << 11)) >> 12;
    let num = if v == r {
        g - b
    } else if v == g {
        b - r + 2 * diff
    } else {
        r - g + 4 * diff
    };
    let h = (num * hdiv(diff) + (1 << 11)) >> 12;
    (h + if h < 0 { 180 } else { 0 }, s, v)
}
