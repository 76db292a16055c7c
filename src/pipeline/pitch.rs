//! The chain's pitch stage: a frame's 32 template keypoints (Score Vision's order, `[0, 0]` where
//! not seen) from the white lines alone (`lines`: [`crate::pitch::register`]), or from a keypoint model
//! (`model`: an Ultralytics pose model whose manifest maps its keypoints to the template) run
//! every N frames, the homography its keypoints give carried to the frames between by the
//! lines' motion, so that a slow model is paid for once in N frames. When the lines lose the
//! pitch (a cut) the model runs at once.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use crate::detect::DecodeParams;
use crate::error::{Error, Result};
use crate::image::{ChannelOrder, FrameView, Transform};
use crate::infer::manifest::{KeypointTemplate, Manifest};
use crate::infer::{Detector, DetectorOptions};
use crate::pitch::register::{keypoints, PitchFix, RegisterConfig, Registrar};
use crate::results::FrameResult;

use super::StageCounts;

/// Where a frame's pitch keypoints come from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PitchConfig {
    /// The template registered to the frame's white lines, tracked between frames.
    Lines(RegisterConfig),
    /// A keypoint model every `every` frames, the lines between.
    Model(ModelConfig),
}

/// The keypoint model of the `model` mode.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    /// The model's manifest: a pose decoder and `[keypoints] template = "soccer-pitch-32"`.
    pub manifest: PathBuf,
    /// The model runs on every `every`th frame (1: every frame); the lines carry the frames
    /// between.
    pub every: u32,
    /// A model keypoint is seen from this confidence.
    pub confidence: f32,
    /// The tracking between the model's frames.
    pub register: RegisterConfig,
}

impl ModelConfig {
    /// The model every frame, keypoints of confidence 0.5 and up.
    pub fn new(manifest: PathBuf) -> Self {
        Self { manifest, every: 1, confidence: 0.5, register: RegisterConfig::default() }
    }

    /// The settings checked and the model's manifest read: a pose model whose keypoints are the
    /// pitch template's (its map of model keypoints to template points).
    pub fn check(&self) -> Result<(Manifest, Vec<Option<usize>>)> {
        if !(1..=MAX_EVERY).contains(&self.every) {
            return Err(Error::InvalidOption {
                option: "pitch.every",
                reason: format!("must be within 1..={MAX_EVERY}, got {}", self.every),
            });
        }
        if !(0.0..=1.0).contains(&self.confidence) {
            return Err(Error::InvalidOption {
                option: "pitch.confidence",
                reason: format!("must be within 0..1, got {}", self.confidence),
            });
        }
        let manifest = Manifest::load(&self.manifest)?;
        match &manifest.keypoints {
            Some(k) if k.template == KeypointTemplate::SoccerPitch32 => {
                let map = k.map.clone();
                Ok((manifest, map))
            }
            _ => Err(Error::InvalidOption {
                option: "pitch.model",
                reason: format!(
                    "{}: not a pitch keypoint model (its manifest needs a pose decoder and [keypoints] template = \"soccer-pitch-32\")",
                    self.manifest.display()
                ),
            }),
        }
    }
}

/// Most frames between two runs of the keypoint model.
pub const MAX_EVERY: u32 = 10_000;

/// A frame's keypoints and what made them.
#[derive(Debug, Clone, PartialEq)]
pub struct PitchFrame {
    pub keypoints: Vec<[f32; 2]>,
    /// Each keypoint's confidence: the model's, or the registration's fit; 0 where not seen.
    pub confidences: Vec<f32>,
    /// Whether any keypoint was seen.
    pub found: bool,
    /// Whether the keypoint model ran on the frame.
    pub model_ran: bool,
}

impl PitchFrame {
    /// The template's points as a registration puts them (each seen one with the fit as its
    /// confidence), or none.
    fn of(fix: Option<&PitchFix>, view: &FrameView) -> Self {
        let Some(f) = fix else { return Self::points(vec![([0.0, 0.0], 0.0); crate::pitch::template().len()], false) };
        let points = keypoints(&f.homography, view.width, view.height)
            .iter()
            .map(|p| (p.map(|v| v as f32), if *p == [0.0, 0.0] { 0.0 } else { f.fit as f32 }))
            .collect();
        Self::points(points, false)
    }

    fn points(points: Vec<([f32; 2], f32)>, model_ran: bool) -> Self {
        let (keypoints, confidences): (Vec<_>, Vec<_>) = points.into_iter().unzip();
        Self { found: confidences.iter().any(|&c| c > 0.0), keypoints, confidences, model_ran }
    }
}

/// The pitch stage of a run.
pub enum PitchStage {
    Lines(Registrar),
    Model(Box<ModelStage>),
}

impl PitchStage {
    pub fn new(c: &PitchConfig) -> Result<Self> {
        Ok(match c {
            PitchConfig::Lines(r) => PitchStage::Lines(Registrar::new(*r)),
            PitchConfig::Model(m) => PitchStage::Model(Box::new(ModelStage::new(m)?)),
        })
    }

    /// The stage on the next frame's result `r` (its pixels `view`, in `order`), counted.
    pub(crate) fn apply(&mut self, r: &mut FrameResult, view: &FrameView, order: ChannelOrder, counts: &mut StageCounts) -> Result<()> {
        let f = self.frame(view, order)?;
        (r.keypoints, r.keypoint_confidences) = (f.keypoints, f.confidences);
        counts.pitch_frames += 1;
        counts.pitch_found += f.found as u64;
        counts.pitch_model_runs += f.model_ran as u64;
        Ok(())
    }

    /// The keypoints of the next frame of the video (`order`: its channel order).
    pub fn frame(&mut self, view: &FrameView, order: ChannelOrder) -> Result<PitchFrame> {
        match self {
            PitchStage::Lines(r) => {
                let mask = crate::pitch::lines::line_mask(view, order, &crate::pitch::lines::LineParams::default());
                Ok(PitchFrame::of(r.next(&mask, view.width, view.height).as_ref(), view))
            }
            PitchStage::Model(m) => m.frame(view, order),
        }
    }
}

/// The `model` mode's state: the model, and the lines' tracking since it last ran.
pub struct ModelStage {
    detector: Detector,
    params: DecodeParams,
    /// The template point of each model keypoint.
    map: Vec<Option<usize>>,
    config: ModelConfig,
    tracker: Registrar,
    /// Frames since the model last ran (None: it has not run).
    since: Option<u32>,
    tracking: bool,
    /// The frame in the model's channel order, when the video's is the other.
    swapped: Vec<u8>,
}

impl ModelStage {
    pub fn new(c: &ModelConfig) -> Result<Self> {
        let (manifest, map) = c.check()?;
        let detector = Detector::load(&manifest, &DetectorOptions { batch: 1, ..DetectorOptions::default() })?;
        let params = detector.default_params();
        Ok(Self {
            detector,
            params,
            map,
            config: c.clone(),
            tracker: Registrar::new(c.register),
            since: None,
            tracking: false,
            swapped: Vec::new(),
        })
    }

    fn frame(&mut self, view: &FrameView, order: ChannelOrder) -> Result<PitchFrame> {
        let due = self.since.is_none_or(|s| s + 1 >= self.config.every);
        if !due {
            self.since = self.since.map(|s| s + 1);
            if !self.tracking {
                return Ok(PitchFrame::of(None, view));
            }
            let mask = crate::pitch::lines::line_mask(view, order, &crate::pitch::lines::LineParams::default());
            if let Some(f) = self.tracker.track(&mask, view.width, view.height) {
                return Ok(PitchFrame::of(Some(&f), view));
            }
            // Lost (a cut): the model at once.
        }
        self.since = Some(0);
        let points = self.model_keypoints(view, order)?;
        let seen: Vec<usize> = (0..points.len()).filter(|&i| points[i].1 > 0.0).collect();
        let template = crate::pitch::template();
        let src: Vec<[f64; 2]> = seen.iter().map(|&i| template[i]).collect();
        let dst: Vec<[f64; 2]> = seen.iter().map(|&i| points[i].0.map(f64::from)).collect();
        // The homography carried to the next frames: from the points that agree (within 1% of
        // the frame's width, at least 4 of them).
        let fit = crate::pitch::find_homography(&src, &dst, (view.width as f64 / 100.0).max(2.0));
        match fit.filter(|f| f.inliers.iter().filter(|&&i| i).count() >= 4) {
            Some(f) => {
                self.tracker.seed(f.h);
                self.tracking = true;
            }
            None => self.tracking = false,
        }
        Ok(PitchFrame::points(points, true))
    }

    /// The model's keypoints of its best detection, in template order, with their confidences:
    /// those of confidence `confidence` and up inside the frame; `[0, 0]` and 0 for the rest.
    fn model_keypoints(&mut self, view: &FrameView, order: ChannelOrder) -> Result<Vec<([f32; 2], f32)>> {
        let (w, h) = (view.width, view.height);
        let tf = if order == self.detector.manifest().input.channels {
            self.detector.fill(0, view.data, w, h, view.stride)?
        } else {
            self.swapped.clear();
            for row in view.data.chunks(view.stride).take(h as usize) {
                self.swapped.extend(row[..3 * w as usize].chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]));
            }
            self.detector.fill(0, &self.swapped, w, h, 3 * w as usize)?
        };
        let (mut dets, _) = self.detector.run(1, std::slice::from_ref::<Transform>(&tf), &self.params)?;
        let mut out = vec![([0.0f32, 0.0], 0.0f32); crate::pitch::template().len()];
        let best = dets.pop().unwrap_or_default().into_iter().max_by(|a, b| a.score.total_cmp(&b.score));
        for (j, k) in best.iter().flat_map(|d| d.keypoints.iter().flat_map(|k| k.iter().enumerate())) {
            let inside = k[0] > 0.0 && k[1] > 0.0 && k[0] < w as f32 && k[1] < h as f32;
            if let (Some(Some(t)), true, true) = (self.map.get(j), k[2] >= self.config.confidence, inside) {
                out[*t] = ([k[0], k[1]], k[2].max(f32::MIN_POSITIVE));
            }
        }
        Ok(out)
    }
}
