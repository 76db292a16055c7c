//! Converting decoded pictures: swscale into pooled buffers, rotated for display and placed in a
//! letterbox; and decoded pictures held beyond the decoder ([`Picture`]).

use ffmpeg::{format, software::scaling, util::frame};
use ffmpeg_next as ffmpeg;

use super::super::open::av_error;
use super::super::{pool, rotate, ChannelOrder, Fit, Frame, FramePool, OutputFormat, Transform};
use crate::error::{Error, Result};

/// The swscale context and the source (format, size) it was made for.
struct Scaler {
    ctx: scaling::Context,
    key: (format::Pixel, u32, u32),
}

/// A decoded picture as the decoder made it (its size and pixel format), held by reference: no
/// copy is made; its buffers stay out of the decoder's pool while it lives. [`Converter::picture`]
/// converts it as the decoder converts kept frames.
pub struct Picture(frame::Video);

impl Picture {
    /// A new reference to `decoded`'s buffers; the reason when FFmpeg cannot make one.
    pub(super) fn of(decoded: &frame::Video) -> std::result::Result<Self, String> {
        let mut held = frame::Video::empty();
        // SAFETY: both frames are valid AVFrames; `held` is blank, and av_frame_ref gives it new
        // references to `decoded`'s buffers and a copy of its properties (or fails, leaving it blank).
        let rc = unsafe { ffmpeg::ffi::av_frame_ref(held.as_mut_ptr(), decoded.as_ptr()) };
        if rc < 0 {
            return Err(format!("cannot hold a decoded picture: {}", av_error(ffmpeg::Error::from(rc))));
        }
        Ok(Self(held))
    }

    /// Bytes of the buffers it holds.
    pub fn bytes(&self) -> usize {
        // SAFETY: a valid AVFrame; its `buf` entries are null or valid buffer references.
        unsafe {
            let f = self.0.as_ptr();
            (*f).buf.iter().filter(|b| !b.is_null()).map(|&b| (*b).size).sum()
        }
    }
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{} {:?}, {} bytes)", self.0.width(), self.0.height(), self.0.format(), self.bytes())
    }
}

/// swscale into pooled buffers in an [`OutputFormat`], rotated for display: the decoder's
/// conversion of kept frames, and of pictures held beyond it ([`Picture`]).
pub struct Converter {
    out: OutputFormat,
    /// Clockwise degrees the pictures are rotated by for display.
    rotation: u32,
    scaler: Option<Scaler>,
    /// swscale's target when it cannot write into the frame buffer (rotation, partial blocks).
    scratch: Vec<u8>,
    /// A rotated picture before it is placed into a letterbox.
    placed: Vec<u8>,
}

impl Converter {
    /// Converts into `out` pictures shown rotated by `rotation` degrees (the video's
    /// [`VideoInfo::rotation`]).
    pub fn new(out: OutputFormat, rotation: u32) -> Self {
        Self { out, rotation, scaler: None, scratch: Vec::new(), placed: Vec::new() }
    }

    /// Converts a held picture into a frame (`index` and `pts` are the frame's).
    pub fn picture(&mut self, picture: &Picture, pool: &FramePool, index: u64, pts: f64) -> Result<Frame> {
        self.convert(&picture.0, pool, index, pts).map_err(Error::Pipeline)
    }

    /// Converts `decoded` into a buffer from `pool`; the reason when swscale cannot.
    pub(super) fn convert(&mut self, decoded: &frame::Video, pool: &FramePool, index: u64, pts: f64) -> std::result::Result<Frame, String> {
        let (sw, sh, sfmt) = (decoded.width(), decoded.height(), decoded.format());
        // Sizes in the displayed orientation; `pw x ph` is the scaled size before rotation.
        let rot = self.rotation;
        let quarter = rot % 180 == 90;
        let (disp_w, disp_h) = if quarter { (sh, sw) } else { (sw, sh) };
        let (dw, dh) = if self.out.width == 0 { (disp_w, disp_h) } else { (self.out.width, self.out.height) };
        let (nw, nh, ox, oy) = Transform::placement(disp_w, disp_h, dw, dh, self.out.fit);
        let (pw, ph) = if quarter { (nh, nw) } else { (nw, nh) };
        let key = (sfmt, sw, sh);
        if self.scaler.as_ref().map(|s| s.key) != Some(key) {
            let dst = match self.out.order {
                ChannelOrder::Rgb => format::Pixel::RGB24,
                ChannelOrder::Bgr => format::Pixel::BGR24,
            };
            let ctx = scaling::Context::get(sfmt, sw, sh, dst, pw, ph, scaling::Flags::BILINEAR)
                .map_err(|e| format!("cannot convert {sfmt:?} {sw}x{sh} frames: {}", av_error(e)))?;
            self.scaler = Some(Scaler { ctx, key });
        }
        let mut buf = pool.take(dw as usize * dh as usize * 3);
        if let Fit::Letterbox { pad } = self.out.fit {
            if nw != dw || nh != dh {
                buf.fill(pad);
            }
        }
        let stride = dw as usize * 3;
        let offset = oy as usize * stride + ox as usize * 3;
        // swscale's unscaled YUV->RGB converters (FFmpeg 5.1, x86) work in blocks of 8 pixels:
        // when the destination stride holds the last partial block they write it whole, past the
        // row; when it does not, they skip it and leave up to 7 pixels of every row unwritten. So
        // swscale writes straight into the pooled buffer only where a row's stride holds whole
        // blocks (the overshoot then lands in the letterbox's padding, repainted below, in the
        // next row, written after it, or in the buffer's `pool::SLACK`); otherwise, and for
        // rotated video, into a reused scratch buffer of whole-block rows, copied (or rotated)
        // into place.
        let block_row = (pw as usize).next_multiple_of(8) * 3;
        let direct = rot == 0 && block_row <= stride;
        let scratch_len = block_row * ph as usize + pool::SLACK;
        if !direct && self.scratch.len() != scratch_len {
            self.scratch.resize(scratch_len, 0);
        }
        let (dst_ptr, dst_stride) = if direct {
            // SAFETY (pointer arithmetic): `offset` is within `buf` (see below).
            (unsafe { buf.as_mut_ptr_padded().add(offset) }, stride)
        } else {
            (self.scratch.as_mut_ptr(), block_row)
        };
        let scaler = self.scaler.as_mut().expect("scaler set above");
        // SAFETY: the source pointers/strides come from a decoded AVFrame of the size and format the
        // context was made for. The destination holds `ph` rows of `dst_stride >= 3 * pw` bytes and
        // `pool::SLACK` bytes after them for swscale's overshoot: either `buf` from `offset`
        // (`dh * stride + SLACK` bytes with `oy + nh <= dh`, `ox + nw <= dw`, and `pw x ph = nw x nh`
        // without rotation) or `scratch`, resized to `block_row * ph + SLACK` bytes above.
        let rows = unsafe {
            let src = decoded.as_ptr();
            let dst_data = [dst_ptr, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()];
            let dst_strides = [dst_stride as i32, 0, 0, 0];
            ffmpeg::ffi::sws_scale(
                scaler.ctx.as_mut_ptr(),
                (*src).data.as_ptr() as *const *const u8,
                (*src).linesize.as_ptr(),
                0,
                sh as i32,
                dst_data.as_ptr(),
                dst_strides.as_ptr(),
            )
        };
        if rows != ph as i32 {
            return Err(format!("swscale produced {rows} rows, expected {ph}"));
        }
        if direct {
            if let Fit::Letterbox { pad } = self.out.fit {
                if nw != dw {
                    repaint_sides(&mut buf, stride, oy as usize, nh as usize, ox as usize * 3, (ox + nw) as usize * 3, pad);
                }
            }
        } else if (nw, nh) == (dw, dh) {
            rotate::rotate(&self.scratch, pw as usize, ph as usize, block_row, rot, &mut buf);
        } else {
            let placed_len = nw as usize * nh as usize * 3;
            if self.placed.len() != placed_len {
                self.placed.resize(placed_len, 0);
            }
            rotate::rotate(&self.scratch, pw as usize, ph as usize, block_row, rot, &mut self.placed);
            for (y, row) in self.placed.chunks_exact(nw as usize * 3).enumerate() {
                let at = offset + y * stride;
                buf[at..at + row.len()].copy_from_slice(row);
            }
        }
        Ok(Frame {
            index,
            pts,
            data: buf,
            width: dw,
            height: dh,
            order: self.out.order,
            transform: Transform::new(disp_w, disp_h, dw, dh, self.out.fit),
            picture: None,
        })
    }
}

/// Paints a letterboxed picture's padding again where swscale's overshoot may have landed: in
/// rows `y0 .. y0 + rows` the bytes left of `left` and from `right` on, and the whole row after
/// the picture, if there is one.
fn repaint_sides(buf: &mut [u8], stride: usize, y0: usize, rows: usize, left: usize, right: usize, pad: u8) {
    for (i, row) in buf.chunks_exact_mut(stride).skip(y0).take(rows + 1).enumerate() {
        if i == rows {
            row.fill(pad);
        } else {
            row[..left].fill(pad);
            row[right..].fill(pad);
        }
    }
}
