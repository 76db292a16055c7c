//! Stage 2: the detector (and an image encoder) on the candidates, from the pictures stage 1
//! held or decoded again, and the chosen candidates' images.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::{write, ImageFormat, Options};
use crate::detect::DecodeParams;
use crate::error::{Error, Result};
use crate::image::ChannelOrder;
use crate::infer::encoder::ImageEncoder;
use crate::infer::Detector;
use crate::pipeline::{self, FrameResult, RunReport};
use crate::roi::RoiBatch;
use crate::video::{Fit, FramePool, OutputFormat, Sampling};

/// A candidate's pixels as stage 2 keeps them: the encoded image, the thumbnail, the encoder's
/// embedding, the size.
pub(super) struct Pixels {
    pub(super) image: Option<Vec<u8>>,
    pub(super) thumb: Option<Thumb>,
    pub(super) embedding: Option<Vec<f32>>,
    pub(super) size: (u32, u32),
}

/// What stage 2 saw: the detector's results and the pixels per decode index, its figures, and
/// the input error that ended the decoding again, if any.
pub(super) struct Stage2 {
    pub(super) results: BTreeMap<u64, FrameResult>,
    pub(super) pixels: BTreeMap<u64, Pixels>,
    /// The held pictures, kept for the candidates' images: only the chosen are encoded.
    pub(super) pictures: BTreeMap<u64, crate::video::Picture>,
    pub(super) converter: crate::video::Converter,
    pub(super) frames_held: u64,
    pub(super) frames_decoded: u64,
    pub(super) decode_s: f64,
    pub(super) convert_s: f64,
    pub(super) detector_s: f64,
    pub(super) outcome: Result<()>,
}

/// Stage 2: the detector on the candidates, each candidate's pixels (encoded, thumbnail,
/// embedded by `encoder`) made from its frame: first those stage 1 `held` (decode index, time,
/// picture; converted from memory in the detector's batches through the chain's in-memory
/// source), then the chain's file source on the others (`again`) only.
#[allow(clippy::too_many_arguments)]
pub(super) fn stage2(
    input: &Path,
    info: &crate::video::VideoInfo,
    detector: &mut Detector,
    params: &DecodeParams,
    opts: &Options<'_>,
    held: Vec<(u64, f64, crate::video::Picture)>,
    again: BTreeSet<u64>,
    encoder: Option<&mut ImageEncoder>,
) -> Result<Stage2> {
    let order = detector.manifest().input.channels;
    let pixels: RefCell<BTreeMap<u64, Pixels>> = RefCell::new(BTreeMap::new());
    let tap_error: RefCell<Option<Error>> = RefCell::new(None);
    let encoder = RefCell::new(encoder);
    let (format, thumb) = (opts.format, opts.thumb);
    // Each candidate's pixels: its embedding, and its image and thumbnail unless its picture is
    // held (`encode` false: made later, for the chosen only).
    let pixels_of = |f: &crate::video::Frame, encode: bool| -> Result<Pixels> {
        let (image, thumb) = if encode { images(f, order, format, thumb).map(|(i, t)| (Some(i), Some(t)))? } else { (None, None) };
        let embedding = match encoder.borrow_mut().as_mut() {
            Some(enc) => Some(enc.embed_frames(&[f.view()], order, &mut RoiBatch::default())?),
            None => None,
        };
        Ok(Pixels { image, thumb, embedding, size: (f.width, f.height) })
    };
    let mut tap = |f: crate::video::Frame| {
        if tap_error.borrow().is_some() {
            return;
        }
        let made = pixels_of(&f, true);
        match made {
            Ok(p) => {
                pixels.borrow_mut().insert(f.index, p);
            }
            Err(e) => *tap_error.borrow_mut() = Some(e),
        }
    };
    let mut seen = Stage2 {
        results: BTreeMap::new(),
        pixels: BTreeMap::new(),
        pictures: BTreeMap::new(),
        converter: crate::video::Converter::new(OutputFormat { width: 0, height: 0, order, fit: Fit::Stretch }, info.rotation),
        frames_held: held.len() as u64,
        frames_decoded: 0,
        decode_s: 0.0,
        convert_s: 0.0,
        detector_s: 0.0,
        outcome: Ok(()),
    };
    let detector_s = |r: &RunReport| r.times.inference_s + r.times.preprocess_s + r.times.postprocess_s;

    // The held pictures, converted as the file source converts frames (source size, the model's
    // channel order), a batch at a time.
    let batch = detector.batch().max(1);
    let pool = FramePool::new(batch);
    let mut held = held.into_iter().peekable();
    while held.peek().is_some() {
        let t = Instant::now();
        let chunk: Vec<_> = held.by_ref().take(batch).collect();
        let frames = chunk.iter().map(|(index, pts, p)| seen.converter.picture(p, &pool, *index, *pts)).collect::<Result<Vec<_>>>()?;
        seen.convert_s += t.elapsed().as_secs_f64();
        let r = pipeline::run_frames(info, &frames, detector, params, pipeline::ChainConfig::default().stages(None), &mut |r| {
            seen.results.insert(r.index, r.clone());
            Ok(())
        })?;
        seen.detector_s += detector_s(&r);
        for f in &frames {
            let px = pixels_of(f, false)?;
            pixels.borrow_mut().insert(f.index, px);
        }
        drop(frames);
        seen.pictures.extend(chunk.into_iter().map(|(index, _, p)| (index, p)));
    }

    if !again.is_empty() {
        let sampling = Sampling { stride: 1, max_fps: None, ..opts.sampling };
        let (r, o) = pipeline::run_detect_selected(
            input,
            Some(Arc::new(again)),
            detector,
            params,
            sampling,
            pipeline::ChainConfig::default().stages(None).tap(&mut tap),
            &mut |r| {
                seen.results.insert(r.index, r.clone());
                Ok(())
            },
            &mut |_| {},
        )?;
        seen.frames_decoded = r.frames_decoded;
        seen.decode_s = r.times.decode_s;
        seen.detector_s += detector_s(&r);
        seen.outcome = o;
    }
    if let Some(e) = tap_error.into_inner() {
        return Err(e);
    }
    seen.pixels = pixels.into_inner();
    Ok(seen)
}

/// A BGR thumbnail: pixels, width, height.
pub(super) type Thumb = (Vec<u8>, u32, u32);

/// A candidate's image (encoded in `format`) and thumbnail (BGR, longest side `thumb`) from its
/// frame, whose pixels are in `order`.
pub(super) fn images(f: &crate::video::Frame, order: ChannelOrder, format: ImageFormat, thumb: u32) -> Result<(Vec<u8>, Thumb)> {
    let bgr = to_bgr(&f.data[..f.width as usize * f.height as usize * 3], order);
    let image = write::encode(format, &bgr, f.width, f.height)?;
    Ok((image, write::thumbnail(&bgr, f.width, f.height, thumb)))
}

/// Packed BGR pixels of a frame in `order`.
fn to_bgr(data: &[u8], order: ChannelOrder) -> Vec<u8> {
    match order {
        ChannelOrder::Bgr => data.to_vec(),
        ChannelOrder::Rgb => data.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect(),
    }
}
