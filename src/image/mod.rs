//! Image types every layer shares: packed 8-bit frames borrowed as views, their channel order,
//! how a picture is fitted into another size and the transform back, the tensor layout, and the
//! bilinear resize plan ([`resize`]). The bottom of the crate: it imports nothing above `error`.
#![forbid(unsafe_code)]

pub mod colour;
mod resize;

pub use resize::{Plan, Taps};

/// Order of the three 8-bit channels in a converted frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

/// How a frame is fitted into the output size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fit {
    /// Resize to exactly the output size (aspect ratio not kept).
    Stretch,
    /// Keep the aspect ratio, centre the image and pad the rest with `pad` (0..255, all channels).
    Letterbox { pad: u8 },
}

/// Memory layout of the image input tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// Maps a box from the converted image back to source pixels: `src = (x - offset) * scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub offset_x: f32,
    pub offset_y: f32,
    /// Source size, for clamping.
    pub src_width: f32,
    pub src_height: f32,
}

impl Transform {
    pub fn identity(w: u32, h: u32) -> Self {
        Self { scale_x: 1.0, scale_y: 1.0, offset_x: 0.0, offset_y: 0.0, src_width: w as f32, src_height: h as f32 }
    }

    /// Placement of a `src_w x src_h` image inside `dst_w x dst_h` under `fit`:
    /// (resized width, resized height, x offset, y offset).
    pub fn placement(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32, fit: Fit) -> (u32, u32, u32, u32) {
        match fit {
            Fit::Stretch => (dst_w, dst_h, 0, 0),
            Fit::Letterbox { .. } => {
                let r = (dst_w as f64 / src_w as f64).min(dst_h as f64 / src_h as f64);
                let nw = ((src_w as f64 * r).round() as u32).clamp(1, dst_w);
                let nh = ((src_h as f64 * r).round() as u32).clamp(1, dst_h);
                (nw, nh, (dst_w - nw) / 2, (dst_h - nh) / 2)
            }
        }
    }

    pub fn new(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32, fit: Fit) -> Self {
        let (nw, nh, ox, oy) = Self::placement(src_w, src_h, dst_w, dst_h, fit);
        Self {
            scale_x: src_w as f32 / nw as f32,
            scale_y: src_h as f32 / nh as f32,
            offset_x: ox as f32,
            offset_y: oy as f32,
            src_width: src_w as f32,
            src_height: src_h as f32,
        }
    }

    /// Maps `[x1, y1, x2, y2]` from converted-image pixels to source pixels, clamped to the source.
    #[inline]
    pub fn apply(&self, b: [f32; 4]) -> [f32; 4] {
        let x = |v: f32| ((v - self.offset_x) * self.scale_x).clamp(0.0, self.src_width);
        let y = |v: f32| ((v - self.offset_y) * self.scale_y).clamp(0.0, self.src_height);
        [x(b[0]), y(b[1]), x(b[2]), y(b[3])]
    }

    /// Maps a point `[x, y]` as [`Transform::apply`] maps a box's corners (clamped to the source,
    /// as Ultralytics clips keypoints).
    #[inline]
    pub fn apply_point(&self, x: f32, y: f32) -> [f32; 2] {
        let [x, y, _, _] = self.apply([x, y, x, y]);
        [x, y]
    }
}

/// A packed 3-channel 8-bit image borrowed from its owner (a decoded frame, a caller's buffer).
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// Bytes per row (>= 3 * width).
    pub stride: usize,
}

impl FrameView<'_> {
    /// Byte offset of pixel (x, y).
    pub fn offset(&self, x: u32, y: u32) -> usize {
        y as usize * self.stride + x as usize * 3
    }
}

/// Test frames: packed pixels of a `w` x `h` image whose pixel (x, y) is `f(x, y)`.
#[cfg(test)]
pub(crate) fn test_frame(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            v.extend_from_slice(&f(x, y));
        }
    }
    v
}
