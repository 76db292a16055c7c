//! The quality source of the chain: every sampled frame decoded small (swscale scales it while
//! converting) and measured by the frame quality kernel, on the CPU or a GPU; key-frame
//! selection's first stage.
//!
//! ```text
//!  decode thread (FFmpeg, scaled to `width`) ──bounded──▶ batches of frames ─▶ quality sums
//!  (CPU: rayon over frames; GPU: pinned upload + fovea_frame_quality) ─▶ FrameQuality, in order
//! ```
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::image::{ChannelOrder, Fit, FrameView};
use crate::quality::{self, FrameQuality, QualityParams};
use crate::video::{self, OutputFormat, Sampling, VideoInfo};

/// Frames measured per batch (one upload and one launch on a GPU).
pub const QUALITY_BATCH: usize = 16;

/// One measured frame.
#[derive(Debug)]
pub struct Measured {
    pub index: u64,
    pub pts: f64,
    pub quality: FrameQuality,
    /// Its decoded picture at full size, with [`QualityOptions::keep_pictures`].
    pub picture: Option<video::Picture>,
}

impl AsRef<FrameQuality> for Measured {
    fn as_ref(&self) -> &FrameQuality {
        &self.quality
    }
}

/// How the quality source decodes and measures.
#[derive(Debug, Clone)]
pub struct QualityOptions {
    /// Frames are measured scaled to this width ([`analysis_size`]).
    pub width: u32,
    /// The decoder leaves out the codec's deblocking ([`crate::video::Decoder::skip_loop_filter`]).
    pub skip_loop_filter: bool,
    /// Each measured frame keeps its decoded picture ([`crate::video::Decoder::keep_pictures`]).
    pub keep_pictures: bool,
    /// The kernel runs on this GPU.
    pub gpu: Option<Arc<crate::cuda::Device>>,
}

/// What the quality source did.
#[derive(Debug, Clone)]
pub struct QualityReport {
    pub video: VideoInfo,
    /// Size the frames were measured at.
    pub width: u32,
    pub height: u32,
    pub frames_decoded: u64,
    pub frames_measured: u64,
    /// Seconds demuxing and decoding, converting and scaling (decode thread), measuring.
    pub decode_s: f64,
    pub convert_s: f64,
    pub measure_s: f64,
    pub wall_s: f64,
    /// "cpu" or the GPU's description.
    pub device: String,
}

/// The size frames of a `w` x `h` video are measured at: `width` wide (never wider than the
/// source), the height in proportion, both even and at least 2.
pub fn analysis_size(w: u32, h: u32, width: u32) -> (u32, u32) {
    if w == 0 || h == 0 {
        return (0, 0);
    }
    let tw = width.min(w).max(2) & !1;
    let th = ((h as u64 * tw as u64 + w as u64 / 2) / w as u64) as u32;
    (tw, th.max(2) & !1)
}

/// Measures every sampled frame of `input` as `opts` say, handing each to `sink` in decode order.
/// Returns the report and the run's outcome: on an input error the frames measured before it
/// were handed on.
pub fn run_quality(
    input: &Path,
    sampling: Sampling,
    opts: &QualityOptions,
    sink: &mut dyn FnMut(Measured) -> Result<()>,
) -> Result<(QualityReport, Result<()>)> {
    let start = Instant::now();
    let (width, gpu) = (opts.width, opts.gpu.clone());
    let (skip_loop_filter, keep_pictures) = (opts.skip_loop_filter, opts.keep_pictures);
    if width < 16 {
        return Err(Error::InvalidOption { option: "analysis width", reason: format!("must be >= 16 pixels, got {width}") });
    }
    let info = video::probe(input)?;
    let (w, h) = analysis_size(info.width, info.height, width);
    let order = ChannelOrder::Rgb;
    let out = OutputFormat { width: w, height: h, order, fit: Fit::Stretch };
    let dec = video::spawn_with(input, sampling, out, 2 * QUALITY_BATCH, QUALITY_BATCH, move |d| {
        if skip_loop_filter {
            d.skip_loop_filter();
        }
        if keep_pictures {
            d.keep_pictures();
        }
    })?;
    let params = QualityParams::new(order);
    let mut device = match &gpu {
        Some(d) => Some(crate::cuda::rois::DeviceRois::new(d.clone(), QUALITY_BATCH, w as usize * h as usize * 3)?),
        None => None,
    };
    let report = QualityReport {
        video: dec.info.clone(),
        width: w,
        height: h,
        frames_decoded: 0,
        frames_measured: 0,
        decode_s: 0.0,
        convert_s: 0.0,
        measure_s: 0.0,
        wall_s: 0.0,
        device: gpu.as_ref().map_or_else(|| "cpu".to_string(), |d| format!("cuda:{}", d.ordinal())),
    };
    // The quality stage on the one source contract: frames in batches of QUALITY_BATCH; what was
    // decoded before an input error is still measured and handed on.
    let mut state = (Vec::<video::Frame>::with_capacity(QUALITY_BATCH), report);
    let outcome = super::source::batched(
        dec.frames.iter(),
        &mut state,
        |(batch, _), f| {
            batch.push(f);
            Ok(batch.len() == QUALITY_BATCH)
        },
        |(batch, report)| {
            if batch.is_empty() {
                return Ok(());
            }
            let t = Instant::now();
            let views: Vec<FrameView> = batch.iter().map(|f| f.view()).collect();
            let measured = match device.as_mut() {
                Some(d) => {
                    d.upload_frames(&views)?;
                    let sums = d.frame_quality(&params)?;
                    sums.iter().zip(&views).map(|(a, v)| a.finish(v.width, v.height)).collect()
                }
                None => quality::measure(&views, &params),
            };
            drop(views);
            report.measure_s += t.elapsed().as_secs_f64();
            for (mut f, q) in batch.drain(..).zip(measured) {
                report.frames_measured += 1;
                sink(Measured { index: f.index, pts: f.pts, quality: q, picture: f.picture.take() })?;
            }
            Ok(())
        },
    );
    let (batch, mut report) = state;
    // Frames still held go back to the decoder's pool before it is joined.
    drop(batch);
    let stats = dec.join()?;
    report.frames_decoded = stats.decoded;
    report.decode_s = stats.decode_s;
    report.convert_s = stats.convert_s;
    report.wall_s = start.elapsed().as_secs_f64();
    Ok((report, outcome))
}

#[cfg(test)]
mod tests {
    use super::analysis_size;

    #[test]
    fn analysis_sizes_keep_the_aspect_and_are_even() {
        assert_eq!(analysis_size(1920, 1080, 256), (256, 144));
        assert_eq!(analysis_size(640, 360, 256), (256, 144));
        assert_eq!(analysis_size(768, 576, 256), (256, 192));
        assert_eq!(analysis_size(1080, 1920, 256), (256, 454));
        // Never wider than the source.
        assert_eq!(analysis_size(100, 50, 256), (100, 50));
        assert_eq!(analysis_size(3, 1000, 256), (2, 666));
    }
}
