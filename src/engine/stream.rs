//! A stream: one video's frames from the caller's memory through the engine's model and the one
//! stage chain.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::image::{ChannelOrder, FrameView};
use crate::infer::preprocess::Preprocessor;
use crate::pipeline::{FrameResult, FrameStages};

use super::Engine;

/// Pixel layout of a frame handed to [`Stream::send_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 8-bit R, G, B.
    Rgb24,
    /// Packed 8-bit B, G, R.
    Bgr24,
    /// 8-bit Y plane (`height` rows of `stride` bytes) followed by the interleaved U/V plane
    /// (`height / 2` rows of `stride` bytes); BT.601, limited range, as FFmpeg converts it.
    Nv12,
}

/// A frame in the caller's memory.
#[derive(Debug, Clone, Copy)]
pub struct FrameIn<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// Bytes per row (of the Y plane for NV12).
    pub stride: usize,
    pub format: PixelFormat,
    /// Presentation time in seconds.
    pub pts: f64,
}

impl FrameIn<'_> {
    /// Checks sizes; a wrong one is [`Error::InvalidOption`] naming what and what was expected.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(Error::InvalidOption { option: "frame", reason });
        if self.width == 0 || self.height == 0 || self.width > 16384 || self.height > 16384 {
            return bad(format!("size {}x{} (expected 1..16384 on both sides)", self.width, self.height));
        }
        let row = match self.format {
            PixelFormat::Rgb24 | PixelFormat::Bgr24 => self.width as usize * 3,
            PixelFormat::Nv12 => self.width as usize,
        };
        if self.stride < row {
            return bad(format!("row stride {} < {row} bytes for width {} ({:?})", self.stride, self.width, self.format));
        }
        if self.format == PixelFormat::Nv12 && (self.width % 2 != 0 || self.height % 2 != 0) {
            return bad(format!("NV12 needs even width and height, got {}x{}", self.width, self.height));
        }
        let rows = match self.format {
            PixelFormat::Nv12 => self.height as usize + self.height as usize / 2,
            _ => self.height as usize,
        };
        // Checked: a stride near usize::MAX must be an error, not a wrapped size.
        let Some(need) = (rows - 1).checked_mul(self.stride).and_then(|n| n.checked_add(row)) else {
            return bad(format!(
                "row stride {} is too large: {rows} rows of it exceed the address space ({}x{} {:?})",
                self.stride, self.width, self.height, self.format
            ));
        };
        if self.data.len() < need {
            return bad(format!(
                "{} bytes given, {need} expected for {}x{} {:?} with stride {}",
                self.data.len(),
                self.width,
                self.height,
                self.format,
                self.stride
            ));
        }
        if !self.pts.is_finite() {
            return bad(format!("pts {} is not finite", self.pts));
        }
        Ok(())
    }
}

/// The engine's classifier, locked per call, for a stream's stages.
struct SharedClassifier {
    inner: Arc<Mutex<crate::classify::ZeroShotClassifier>>,
    name: String,
}

impl SharedClassifier {
    fn new(inner: Arc<Mutex<crate::classify::ZeroShotClassifier>>) -> Result<Self> {
        let name = crate::classify::Classifier::name(&*Self::lock(&inner)?).to_string();
        Ok(Self { inner, name })
    }

    fn lock(c: &Mutex<crate::classify::ZeroShotClassifier>) -> Result<std::sync::MutexGuard<'_, crate::classify::ZeroShotClassifier>> {
        c.lock().map_err(|_| Error::Pipeline("the engine's classifier is poisoned by an earlier panic".into()))
    }
}

impl crate::classify::Classifier for SharedClassifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn roi_spec(&self) -> Option<crate::roi::RoiSpec> {
        Self::lock(&self.inner).ok().and_then(|c| c.roi_spec())
    }
    fn expansion(&self, label: &str) -> f32 {
        Self::lock(&self.inner).map_or(1.0, |c| c.expansion(label))
    }
    fn wants(&self, label: &str) -> bool {
        Self::lock(&self.inner).is_ok_and(|c| c.wants(label))
    }
    fn classify(&mut self, rois: &crate::roi::RoiBatch, objects: &[crate::classify::Object]) -> Result<Vec<crate::results::Label>> {
        Self::lock(&self.inner)?.classify(rois, objects)
    }
    fn classify_device(
        &mut self,
        rois: &crate::cuda::DeviceRoiBatch,
        objects: &[crate::classify::Object],
    ) -> Option<Result<Vec<crate::results::Label>>> {
        match Self::lock(&self.inner) {
            Ok(mut c) => c.classify_device(rois, objects),
            Err(e) => Some(Err(e)),
        }
    }
}

/// Per-video state: a tracker, conversion scratch, and results waiting to be received.
pub struct Stream {
    engine: Arc<Engine>,
    /// The per-frame stages after detection: the same code as the file pipeline's.
    stages: FrameStages<'static>,
    pre: Preprocessor,
    tensor: Vec<f32>,
    scratch: Vec<u8>,
    nv12: crate::video::Nv12,
    queue: VecDeque<FrameResult>,
    /// With colour teams: the clip's results, queued at flush.
    held: Vec<FrameResult>,
    /// Counts and seconds for [`Stream::report`] (the stages' are the chain's own); its wait is
    /// for the engine's model (other streams' inference calls).
    report: crate::pipeline::RunReport,
    /// Tiled detection (`[tiles]`), as the file calls run it.
    tiler: Option<crate::pipeline::tiles::Tiler>,
    next_index: u64,
    /// The detector sees every `every`th frame sent (`interval` + 1); the tracker predicts the rest.
    every: u64,
    flushed: bool,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").field("next_index", &self.next_index).field("queued", &self.queue.len()).finish()
    }
}

/// What [`Stream::receive`] gives.
// One per frame, moved once to the caller: boxing the frame's result would only add an
// allocation a frame.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Received {
    Frame(FrameResult),
    /// Nothing yet: send more frames.
    NeedMoreData,
    /// Flushed and everything received.
    EndOfStream,
}

impl Stream {
    /// A new stream on `engine` for a video at `fps` frames per second (the tracker's time base;
    /// 0 or less means 30).
    ///
    /// With colour teams and a classifier, the classifier runs after colour on the frames of what
    /// colour left undecided, which a stream no longer has: that combination is an
    /// [`Error::InvalidOption`] here (the file calls support it).
    pub fn new(engine: Arc<Engine>, fps: f64) -> Result<Self> {
        crate::video::init();
        if engine.chain.teams && engine.classifier.is_some() {
            return Err(Error::InvalidOption {
                option: "teams",
                reason: "teams with a classifier need the clip's frames again (the classifier runs after colour): \
                         use the file calls (process_file, verify_file), or a stream without one of them"
                    .into(),
            });
        }
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        let pre = Preprocessor::new(engine.manifest.input.clone());
        let mut chain = engine.stages(None);
        let every = crate::pipeline::interval_period(&chain)?;
        let tiler = chain.tiles.take().map(|c| crate::pipeline::tiles::Tiler::new(c, &engine.labels)).transpose()?;
        let mut stages = FrameStages::new(chain, fps, engine.order, engine.labels.clone())?;
        if let Some(c) = &engine.classifier {
            stages = stages.with_owned_classifier(Box::new(SharedClassifier::new(c.clone())?))?;
        }
        let labels = engine.labels.clone();
        Ok(Self {
            stages,
            tensor: vec![0.0; pre.len()],
            pre,
            engine,
            scratch: Vec::new(),
            nv12: crate::video::Nv12::default(),
            queue: VecDeque::new(),
            held: Vec::new(),
            report: crate::pipeline::RunReport { labels, ..Default::default() },
            next_index: 0,
            every,
            tiler,
            flushed: false,
        })
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Detects (and tracks) objects in one frame; its result is queued for [`Stream::receive`].
    /// Frames are numbered from 0 in the order sent.
    pub fn send_frame(&mut self, f: &FrameIn) -> Result<()> {
        self.send(f, None)
    }

    /// Verify mode: the caller's `boxes` for this frame (and their `ids`, one per box, e.g. a
    /// miner's object ids; used as identities when tracking is off) go through the stage chain in
    /// place of the detector's: the rules, the classifier, teams, as `fovea verify` does. Boxes
    /// are in pixels of the frame; their class ids name the engine's labels.
    pub fn send_frame_with_boxes(&mut self, f: &FrameIn, boxes: &[crate::results::Detection], ids: &[Option<u64>]) -> Result<()> {
        if ids.len() != boxes.len() {
            return Err(Error::InvalidOption { option: "ids", reason: format!("{} ids for {} boxes", ids.len(), boxes.len()) });
        }
        if boxes.len() > crate::output::read::MAX_BOXES_PER_FRAME {
            return Err(Error::InvalidOption {
                option: "boxes",
                reason: format!("{} boxes in one frame, at most {}", boxes.len(), crate::output::read::MAX_BOXES_PER_FRAME),
            });
        }
        use crate::output::read::MAX_CLASS_ID;
        if let Some((i, b)) = boxes.iter().enumerate().find(|(_, b)| u64::from(b.class_id) > MAX_CLASS_ID) {
            return Err(Error::InvalidOption {
                option: "boxes",
                reason: format!("box {i}: class_id {} is larger than the limit {MAX_CLASS_ID}", b.class_id),
            });
        }
        self.send(f, Some((boxes, ids)))
    }

    fn send(&mut self, f: &FrameIn, given: Option<(&[crate::results::Detection], &[Option<u64>])>) -> Result<()> {
        if self.flushed {
            return Err(Error::State("the stream was flushed; create a new stream for more frames".into()));
        }
        f.validate()?;
        let t_convert = std::time::Instant::now();
        let order = self.engine.order;
        let (w, h) = (f.width, f.height);
        // The image in the model's channel order, packed, and its row stride.
        let (image, stride): (&[u8], usize) = match (f.format, order) {
            (PixelFormat::Rgb24, ChannelOrder::Rgb) | (PixelFormat::Bgr24, ChannelOrder::Bgr) => (f.data, f.stride),
            (PixelFormat::Rgb24, ChannelOrder::Bgr) | (PixelFormat::Bgr24, ChannelOrder::Rgb) => {
                self.scratch.resize(w as usize * h as usize * 3, 0);
                for y in 0..h as usize {
                    let src = &f.data[y * f.stride..][..w as usize * 3];
                    let dst = &mut self.scratch[y * w as usize * 3..][..w as usize * 3];
                    for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3)) {
                        d.copy_from_slice(&[s[2], s[1], s[0]]);
                    }
                }
                (&self.scratch, w as usize * 3)
            }
            (PixelFormat::Nv12, _) => {
                self.nv12.to_packed(f.data, f.width, f.height, f.stride, order, &mut self.scratch)?;
                (&self.scratch, w as usize * 3)
            }
        };
        self.report.times.convert_s += t_convert.elapsed().as_secs_f64();
        let predicted = given.is_none() && self.next_index % self.every != 0;
        let (dets, ids) = match given {
            Some((boxes, ids)) => (boxes.to_vec(), Some(ids.to_vec())),
            None if predicted => (Vec::new(), None),
            None => {
                // On the CPU the resize and normalisation happen here, outside the model's lock,
                // so streams do them in parallel; on a GPU the frame goes to the detector as it is
                // (staged in pinned memory, resized by the kernel).
                let on_cpu = !self.engine.device_preprocessing;
                let t = std::time::Instant::now();
                let tf = on_cpu.then(|| self.pre.run(image, w, h, stride, &mut self.tensor));
                self.report.times.preprocess_s += t.elapsed().as_secs_f64();
                let t = std::time::Instant::now();
                let mut det = self
                    .engine
                    .detector
                    .lock()
                    .map_err(|_| Error::Pipeline("the engine's model is poisoned by an earlier panic".into()))?;
                self.report.times.wait_s += t.elapsed().as_secs_f64();
                if self.report.detector.is_none() {
                    self.report.detector = Some(crate::pipeline::DetectorRun::of(&*det));
                }
                let t = std::time::Instant::now();
                let tf = match tf {
                    Some(tf) => {
                        det.fill_preprocessed(0, &self.tensor)?;
                        tf
                    }
                    None => det.fill(0, image, w, h, stride)?,
                };
                self.report.times.preprocess_s += t.elapsed().as_secs_f64();
                // The file calls' detection (and tile pass) on this frame.
                let view = FrameView { data: image, width: w, height: h, stride };
                let mut dets = crate::pipeline::detect(
                    &mut *det,
                    &self.engine.params,
                    &[(view, self.next_index)],
                    &[tf],
                    &mut self.tiler,
                    &mut self.report.times,
                )?;
                (dets.remove(0), None)
            }
        };
        let index = self.next_index;
        self.next_index += 1;
        let view = FrameView { data: image, width: w, height: h, stride };
        let frame = crate::pipeline::StageInput { view, index, pts: f.pts, detections: dets, ids, predicted };
        let r = self.stages.apply_batch(vec![frame])?.pop().expect("one result per frame");
        self.report.frames_processed += 1;
        self.report.frames_predicted += u64::from(r.predicted);
        for d in &r.detections {
            *self.report.per_class.entry(d.class_id).or_default() += 1;
        }
        if self.stages.holds_until_clip_end() {
            self.held.push(r);
        } else {
            self.queue.push_back(r);
        }
        Ok(())
    }

    /// Marks the end of the stream: no more frames; results already queued stay receivable.
    /// With colour teams, the clip's teams are assigned now and its results queued.
    pub fn flush(&mut self) -> Result<()> {
        if self.flushed {
            return Ok(());
        }
        self.flushed = true;
        let mut held = std::mem::take(&mut self.held);
        // Without a classifier (checked at creation) the clip-level steps need no frames again.
        let r = self.stages.finish_clip(&mut held, &mut |_, _| Err(Error::State("a stream cannot produce its frames again".into())));
        self.queue.extend(held);
        r
    }

    /// What the stream did so far: the run report every face hands out
    /// ([`crate::pipeline::RunReport::to_json`]), its frames the frames sent and its detections
    /// the boxes found or handed in; the C ABI's `fovea_stream_report`, Python's `Stream.report()`,
    /// Go's `Stream.Report()`.
    pub fn report(&self) -> serde_json::Value {
        let mut r = self.report.clone();
        r.take_stages(&self.stages);
        r.tiles = self.tiler.as_ref().map_or(0, |t| t.tiles);
        r.to_json()
    }

    /// The next result in frame order.
    pub fn receive(&mut self) -> Received {
        match self.queue.pop_front() {
            Some(r) => Received::Frame(r),
            None if self.flushed => Received::EndOfStream,
            None => Received::NeedMoreData,
        }
    }
}
