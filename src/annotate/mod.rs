//! The annotator: a sink of the pipeline that draws each frame's results on the video and writes
//! it out (feature `video`).
//!
//! ```text
//! pipeline results ──bounded channel──▶ annotator thread: decode the input again (same sampling)
//!                                        ─▶ draw boxes, labels, track ids, verdicts, a header
//!                                        ─▶ encode (H.264 / MPEG-4) or write PNGs
//! ```
//!
//! It runs on its own thread, so detection never waits for drawing or encoding. `fovea detect`
//! hands it the pipeline's own decoded frames ([`Annotator::spawn_fed`], paired with their
//! results by [`crate::pipeline::pairing::InOrder`]); verify, track and results that wait for the
//! end of the clip (colour teams) come without frames, and it decodes the input again, paired
//! with them by the pipeline's source for that ([`crate::pipeline::frames_with_results`],
//! [`Annotator::spawn`]). Boxes take a colour per track (per team with teams, per class without
//! tracking); boxes a rule rejected are dashed and grey, with the rule's name; the header names
//! the model and the rate the results arrive at.
#![forbid(unsafe_code)]

mod draw;
mod encode;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use draw::{Canvas, Text, PALETTE};
pub use encode::{encode_png, write_png, VideoCodec, VideoWriter};

use crate::error::{Error, Result};
use crate::results::{FrameResult, Verdict};
use crate::video::{ChannelOrder, Decoder, Fit, Frame, FramePool, OutputFormat, Sampling};

/// Where annotated frames go.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A video file (container from its extension), same size and frame rate as the input.
    Video { path: PathBuf, codec: VideoCodec },
    /// PNG files `frame_NNNNNN.png` (the decode index) in a folder, made if missing.
    Frames { dir: PathBuf },
}

impl Target {
    pub fn path(&self) -> &Path {
        match self {
            Self::Video { path, .. } => path,
            Self::Frames { dir } => dir,
        }
    }
}

/// What the drawing shows.
#[derive(Debug, Clone, Default)]
pub struct Style {
    /// Class names by class id.
    pub labels: Vec<String>,
    /// The model's name, for the header.
    pub model: String,
}

/// What the annotator did.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotateReport {
    pub frames: u64,
    /// Frames that had results drawn on them.
    pub annotated: u64,
    /// The encoder that ran ("libx264", "mpeg4", "png").
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Seconds the annotator thread worked (decode, draw, encode), beside the pipeline.
    pub busy_s: f64,
}

/// What the annotator thread is handed, in decode order.
enum Msg {
    /// A decoded frame (fed mode: the pipeline's own, source size).
    Frame(Frame),
    /// A frame's results, and a note to show on it (key-frame selection's verdicts).
    Result(FrameResult, Option<String>),
}

/// The annotator thread; results go in with [`Annotator::send`] (and, fed, frames with
/// [`Annotator::frame`]); [`Annotator::finish`] waits.
pub struct Annotator {
    tx: Option<crossbeam_channel::Sender<Msg>>,
    handle: Option<std::thread::JoinHandle<Result<AnnotateReport>>>,
}

impl Annotator {
    /// Opens `input` again (with the pipeline's `sampling`, so the frames are the pipeline's)
    /// and the target; errors in either are returned here, before any frame. For results that
    /// come without their frames: verify, track, and colour teams (results at the clip's end).
    pub fn spawn(input: &Path, sampling: Sampling, target: Target, style: Style) -> Result<Self> {
        let input = input.to_path_buf();
        Self::start(target.clone(), move |ready, rx| {
            // FFmpeg's contexts stay on the thread that made them: the thread opens both and
            // says whether it could.
            let (mut decoder, writer) = match open(&input, sampling, &target) {
                Ok(o) => {
                    let _ = ready.send(Ok(()));
                    o
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return Err(Error::State("the annotator did not start".into()));
                }
            };
            let fps = decoder.info().fps.unwrap_or(30.0) / f64::from(sampling.stride.max(1));
            let d = std::cell::RefCell::new(Drawer::new(target, style, writer, fps));
            let pool = FramePool::new(2);
            // The results, in decode order, paired with the input's frames by the pipeline; a
            // frame without one is written as it is.
            let mut next = || loop {
                match rx.recv() {
                    Ok(Msg::Result(r, note)) => {
                        d.borrow_mut().arrived();
                        return Some((r.index, (r, note)));
                    }
                    Ok(Msg::Frame(_)) => {}
                    Err(_) => return None,
                }
            };
            crate::pipeline::frames_with_results(&mut decoder, &pool, &mut next, &mut |f, own| {
                d.borrow_mut().emit(f, own.map(|p| &p.0), own.and_then(|p| p.1.as_deref()))
            })?;
            drop(rx);
            let mut d = d.into_inner();
            // Decoding and conversion count as the annotator's own work.
            d.busy += decoder.stats().decode_s + decoder.stats().convert_s;
            d.finish()
        })
    }

    /// An annotator the pipeline hands its decoded frames to ([`crate::pipeline::Stages::frames`])
    /// as well as the results: no second decode. The video is `fps` frames a second (after
    /// sampling); its size is the frames'.
    pub fn spawn_fed(target: Target, style: Style, fps: f64) -> Result<Self> {
        if let Target::Video { path, .. } = &target {
            encode::check_output(path)?;
        }
        Self::start(target.clone(), move |ready, rx| {
            let _ = ready.send(Ok(()));
            let d = std::cell::RefCell::new(Drawer::new(target, style, None, fps));
            // The tapped frames come before their results: the pipeline pairs them.
            let mut paired = crate::pipeline::pairing::InOrder::default();
            let mut emit = |f: &mut Frame, own: Option<&(FrameResult, Option<String>)>| {
                d.borrow_mut().emit(f, own.map(|p| &p.0), own.and_then(|p| p.1.as_deref()))
            };
            for m in rx.iter() {
                match m {
                    Msg::Frame(f) => paired.frame(f, &mut emit)?,
                    Msg::Result(r, note) => {
                        d.borrow_mut().arrived();
                        paired.result(r.index, (r, note), &mut emit)?;
                    }
                }
            }
            paired.finish(&mut emit)?;
            let d = d.into_inner();
            d.finish()
        })
    }

    fn start(
        target: Target,
        body: impl FnOnce(crossbeam_channel::Sender<Result<()>>, crossbeam_channel::Receiver<Msg>) -> Result<AnnotateReport> + Send + 'static,
    ) -> Result<Self> {
        let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<()>>(1);
        let (tx, rx) = crossbeam_channel::bounded::<Msg>(crate::pipeline::TAP_FRAMES);
        if let Target::Frames { dir } = &target {
            std::fs::create_dir_all(dir).map_err(|e| Error::Output { path: dir.clone(), source: e })?;
        }
        let handle = std::thread::Builder::new()
            .name("fovea-annotate".into())
            .spawn(move || body(ready_tx, rx))
            .map_err(|e| Error::Pipeline(format!("cannot start the annotator thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self { tx: Some(tx), handle: Some(handle) }),
            Ok(Err(e)) => {
                let _ = handle.join();
                Err(e)
            }
            Err(_) => Err(Error::Pipeline("the annotator thread panicked while starting".into())),
        }
    }

    fn put(&mut self, m: Msg) {
        if let Some(tx) = &self.tx {
            if tx.send(m).is_err() {
                self.tx = None; // stopped on an error: finish() reports it
            }
        }
    }

    /// Hands one frame's results over (in decode order). When the annotator has stopped on an
    /// error, the results are dropped; [`Annotator::finish`] reports the error.
    pub fn send(&mut self, r: &FrameResult) {
        self.put(Msg::Result(r.clone(), None));
    }

    /// [`Annotator::send`] with a note written across the bottom of the frame (e.g. why a
    /// frame was chosen as a key frame).
    pub fn send_noted(&mut self, r: &FrameResult, note: String) {
        self.put(Msg::Result(r.clone(), Some(note)));
    }

    /// Hands a decoded frame over (fed annotators; before its result).
    pub fn frame(&mut self, f: Frame) {
        self.put(Msg::Frame(f));
    }

    /// No more results: draws the frames left, closes the file and reports.
    pub fn finish(mut self) -> Result<AnnotateReport> {
        self.tx = None;
        let h = self.handle.take().expect("finish runs once");
        h.join().map_err(|_| Error::Pipeline("the annotator thread panicked".into()))?
    }
}

impl Drop for Annotator {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The input's decoder and the target's writer (none for PNG frames).
fn open(input: &Path, sampling: Sampling, target: &Target) -> Result<(Decoder, Option<VideoWriter>)> {
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Bgr, fit: Fit::Stretch };
    let decoder = Decoder::open(input, sampling, out)?;
    let (w, h) = decoder.output_size();
    let fps = decoder.info().fps.unwrap_or(30.0) / f64::from(sampling.stride.max(1));
    let writer = match target {
        Target::Video { path, codec } => Some(VideoWriter::create(path, w, h, fps, *codec)?),
        Target::Frames { .. } => None,
    };
    Ok((decoder, writer))
}

/// Draws and writes frames, counting.
struct Drawer {
    target: Target,
    style: Style,
    writer: Option<VideoWriter>,
    fps: f64,
    text: Option<(Text, Text)>,
    first_result: Option<Instant>,
    received: u64,
    frames: u64,
    annotated: u64,
    size: (u32, u32),
    busy: f64,
}

impl Drawer {
    fn new(target: Target, style: Style, writer: Option<VideoWriter>, fps: f64) -> Self {
        Self { target, style, writer, fps, text: None, first_result: None, received: 0, frames: 0, annotated: 0, size: (0, 0), busy: 0.0 }
    }

    fn arrived(&mut self) {
        self.first_result.get_or_insert_with(Instant::now);
        self.received += 1;
    }

    /// Draws `r` (when given), the header and the note on `f` and writes it.
    fn emit(&mut self, f: &mut Frame, r: Option<&FrameResult>, note: Option<&str>) -> Result<()> {
        let t = Instant::now();
        if f.order == ChannelOrder::Rgb {
            f.data.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
            f.order = ChannelOrder::Bgr;
        }
        let (fw, fh) = (f.width, f.height);
        self.size = (fw, fh);
        let (text, header) = self
            .text
            .get_or_insert_with(|| (Text::new((fh as f32 / 40.0).clamp(11.0, 22.0)), Text::new((fh as f32 / 32.0).clamp(12.0, 26.0))));
        // The rate results arrive at, once there are enough of them to say.
        let rate =
            self.first_result.filter(|_| self.received > 10).map(|s| (self.received - 1) as f64 / s.elapsed().as_secs_f64().max(1e-3));
        let mut canvas = Canvas { data: &mut f.data, width: fw, height: fh };
        if let Some(r) = r {
            draw_result(&mut canvas, text, r, &self.style);
            self.annotated += 1;
        }
        let head = match rate {
            Some(fps) => format!("fovea  {}  {fps:.1} FPS", self.style.model),
            None => format!("fovea  {}", self.style.model),
        };
        let hw = header.width(&head) + 12;
        canvas.fill(0, 0, hw, header.line + 8, [0, 0, 0], 0.6);
        header.draw(&mut canvas, 6, 4, &head, [255, 255, 255]);
        if let Some(note) = note {
            let y = fh as i64 - header.line - 8;
            canvas.fill(0, y, header.width(note) + 12, fh as i64, [0, 0, 0], 0.6);
            header.draw(&mut canvas, 6, y + 4, note, [255, 255, 255]);
        }
        match &self.target {
            Target::Video { path, codec } => {
                if self.writer.is_none() {
                    self.writer = Some(VideoWriter::create(path, fw, fh, self.fps, *codec)?);
                }
                self.writer.as_mut().expect("made above").write(&f.data, fw, f.pts)?;
            }
            Target::Frames { dir } => write_png(&dir.join(format!("frame_{:06}.png", f.index)), &f.data, fw, fh)?,
        }
        self.frames += 1;
        self.busy += t.elapsed().as_secs_f64();
        Ok(())
    }

    fn finish(self) -> Result<AnnotateReport> {
        let mut busy = self.busy;
        let codec = match self.writer {
            Some(v) => {
                let name = v.codec_name.clone();
                let t = Instant::now();
                v.finish()?;
                busy += t.elapsed().as_secs_f64();
                name
            }
            None if matches!(self.target, Target::Frames { .. }) => "png".into(),
            None => "none (no frame)".into(),
        };
        Ok(AnnotateReport { frames: self.frames, annotated: self.annotated, codec, width: self.size.0, height: self.size.1, busy_s: busy })
    }
}

/// The colour of detection `i`: its team, else its track, else its class.
fn colour_of(r: &FrameResult, i: usize) -> [u8; 3] {
    let label = r.labels.get(i).and_then(|l| l.as_ref()).map(|l| l.label.as_str());
    if !r.teams.is_empty() {
        return match (r.teams.get(i).copied().flatten(), label) {
            (Some(0), _) => [40, 39, 214],
            (Some(_), _) => [180, 119, 31],
            (None, Some("referee")) => [0, 215, 255],
            (None, Some("goalkeeper")) => [44, 160, 44],
            _ => [200, 200, 200],
        };
    }
    match r.track_ids.get(i).copied().flatten() {
        Some(id) => PALETTE[(id % PALETTE.len() as u64) as usize],
        None => PALETTE[r.detections[i].class_id as usize % PALETTE.len()],
    }
}

/// The pitch keypoints' colour (BGR yellow).
const KEYPOINT: [u8; 3] = [0, 230, 255];

/// A pose model's keypoint is drawn from this confidence (Ultralytics' plotting threshold).
const KEYPOINT_CONFIDENCE: f32 = 0.5;

/// Draws one frame's results: the pitch keypoints seen (a dot and the keypoint's number, from 1
/// as the template counts them); kept boxes solid in their colour with `label score #track` and
/// their pose keypoints (dots of the box's colour, those of confidence >= 0.5); rejected and
/// invalid ones dashed grey with the rule.
pub fn draw_result(canvas: &mut Canvas<'_>, text: &mut Text, r: &FrameResult, style: &Style) {
    let thick = (canvas.height as i64 / 360).clamp(1, 4) + 1;
    for (k, p) in r.keypoints.iter().enumerate().filter(|(_, p)| **p != [0.0, 0.0] && p.iter().all(|v| v.is_finite())) {
        let (x, y) = (p[0].round() as i64, p[1].round() as i64);
        canvas.fill(x - thick, y - thick, x + thick + 1, y + thick + 1, KEYPOINT, 1.0);
        text.label(canvas, x + thick + 1, y - thick, &(k + 1).to_string(), [0, 0, 0], KEYPOINT);
    }
    // Rejected first, so kept boxes stay on top.
    let mut order: Vec<usize> = (0..r.detections.len()).collect();
    order.sort_by_key(|&i| r.checks.get(i).is_none_or(|c| c.verdict == Verdict::Keep));
    for i in order {
        let d = &r.detections[i];
        if !d.bbox.iter().all(|v| v.is_finite()) {
            continue;
        }
        let check = r.checks.get(i);
        let name = r
            .labels
            .get(i)
            .and_then(|l| l.as_ref())
            .map(|l| l.label.clone())
            .unwrap_or_else(|| style.labels.get(d.class_id as usize).cloned().unwrap_or_else(|| format!("class {}", d.class_id)));
        if let Some(c) = check.filter(|c| c.verdict != Verdict::Keep) {
            let grey = [150, 150, 150];
            canvas.rect(d.bbox, thick - 1, grey, Some(6));
            let why = c.rule.clone().unwrap_or_else(|| c.verdict.as_str().to_string());
            text.label(canvas, d.bbox[0] as i64, d.bbox[1] as i64, &format!("{name} x {why}"), [255, 255, 255], [90, 90, 90]);
            continue;
        }
        let col = colour_of(r, i);
        canvas.rect(d.bbox, thick, col, None);
        for p in d.keypoints.iter().flat_map(|k| k.iter()) {
            if p[2] >= KEYPOINT_CONFIDENCE && p[0].is_finite() && p[1].is_finite() {
                let (x, y, t) = (p[0].round() as i64, p[1].round() as i64, thick - 1);
                canvas.fill(x - t, y - t, x + t + 1, y + t + 1, col, 1.0);
            }
        }
        let mut s = format!("{name} {:.2}", d.score);
        if let Some(id) = r.track_ids.get(i).copied().flatten() {
            s.push_str(&format!(" #{id}"));
        }
        let fg = if u32::from(col[0]) + u32::from(col[1]) + u32::from(col[2]) > 420 { [0, 0, 0] } else { [255, 255, 255] };
        text.label(canvas, d.bbox[0] as i64, d.bbox[1] as i64, &s, fg, col);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pitch_keypoints_seen_are_drawn_and_unseen_ones_are_not() {
        let (w, h) = (200u32, 100u32);
        let mut px = vec![0u8; (w * h * 3) as usize];
        let mut canvas = Canvas { data: &mut px, width: w, height: h };
        let mut r = FrameResult::untracked(0, 0.0, Vec::new());
        r.keypoints = vec![[50.0, 40.0], [0.0, 0.0], [150.4, 60.6], [f32::NAN, 3.0]];
        draw_result(&mut canvas, &mut Text::new(10.0), &r, &Style { labels: Vec::new(), model: String::new() });
        let at = |x: usize, y: usize| [px[(y * w as usize + x) * 3], px[(y * w as usize + x) * 3 + 1], px[(y * w as usize + x) * 3 + 2]];
        assert_eq!(at(50, 40), KEYPOINT);
        assert_eq!(at(150, 61), KEYPOINT);
        assert_eq!(at(0, 0), [0, 0, 0], "(0, 0) is a keypoint not seen");
        assert_eq!(at(100, 20), [0, 0, 0], "nothing elsewhere");
        // Each dot is numbered above and to its right, from 1.
        let inked = |x0: usize, y0: usize| (x0..x0 + 12).any(|x| (y0..y0 + 12).any(|y| at(x, y) != [0, 0, 0]));
        assert!(inked(53, 26) && inked(153, 47));
    }

    #[test]
    fn a_pose_models_keypoints_are_drawn_when_confident() {
        let (w, h) = (200u32, 100u32);
        let mut px = vec![0u8; (w * h * 3) as usize];
        let mut canvas = Canvas { data: &mut px, width: w, height: h };
        let mut d = crate::results::Detection::new([20.0, 20.0, 180.0, 90.0], 0.9, 0);
        d.keypoints = Some(vec![[60.0, 50.0, 0.9], [120.0, 50.0, 0.2], [f32::NAN, 50.0, 1.0]].into());
        let r = FrameResult::untracked(0, 0.0, vec![d]);
        draw_result(&mut canvas, &mut Text::new(10.0), &r, &Style { labels: vec!["x".into()], model: String::new() });
        let at = |x: usize, y: usize| [px[(y * w as usize + x) * 3], px[(y * w as usize + x) * 3 + 1], px[(y * w as usize + x) * 3 + 2]];
        assert_eq!(at(60, 50), colour_of(&r, 0), "a confident keypoint is a dot of the box's colour");
        assert_eq!(at(120, 50), [0, 0, 0], "a keypoint under 0.5 is not drawn");
    }
}
