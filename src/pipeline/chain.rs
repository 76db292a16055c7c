//! The chain's configuration: what it does, without a run's resources.
#![forbid(unsafe_code)]

use crate::classify::Classifier;
use crate::filter::FilterConfig;
use crate::pipeline::pitch::PitchConfig;
use crate::track::{reuse::ReuseConfig, TrackerConfig};
use std::sync::Arc;

/// ROIs per classifier call at most, by default (`batch_rois`).
pub const DEFAULT_BATCH_ROIS: usize = 256;

/// The optional stages of one run: a [`ChainConfig`] with the run's resources (classifier, GPU,
/// frame tap).
pub struct Stages<'a> {
    /// Track with ByteTrack (per class) when set; otherwise the input's ids (a boxes file's) are
    /// the objects' identities.
    pub tracking: Option<TrackerConfig>,
    /// Label objects with this classifier, through the per-track reuse cache.
    pub classifier: Option<&'a mut dyn Classifier>,
    pub reuse: ReuseConfig,
    /// Cut every box as a ROI, measure its colours and apply these rules (a verdict per box); the
    /// classifier then sees only what the rules kept.
    pub rules: Option<FilterConfig>,
    /// Make the ROI tensors of kept boxes even without a classifier (the validator's whole crop +
    /// resize + normalise workload, e.g. to measure it).
    pub roi_tensors: bool,
    /// ROIs per classifier call at most (calls are cut at this size).
    pub batch_rois: usize,
    /// Colour teams per clip; the classifier then runs at the end, on what colour left undecided.
    pub teams: bool,
    /// Run the colour statistics and ROI tensors on this GPU (frames uploaded through a pinned
    /// pool; the ROI batch stays there for a classifier on the same device).
    pub gpu: Option<Arc<crate::cuda::Device>>,
    /// A file source ([`crate::pipeline::run_detect`]) hands each decoded frame here (source
    /// size, the model's channel order) after its detections were made and before its result
    /// goes to the sink: the annotator draws on it instead of decoding the file again. Not with
    /// results that wait for the end of the clip (colour teams): an error there.
    pub frames: Option<&'a mut dyn FnMut(crate::video::Frame)>,
    /// Tiled detection (the detector stage of a file or in-memory source).
    pub tiles: Option<super::tiles::TileConfig>,
    /// Pitch keypoints from each frame's white lines (the template registered to them).
    pub pitch: Option<crate::pipeline::pitch::PitchConfig>,
    /// The detector runs on every (interval + 1)th frame, the tracker predicting the boxes of
    /// the frames between (0: every frame).
    pub interval: u32,
}

impl Default for Stages<'_> {
    fn default() -> Self {
        Self {
            tracking: None,
            classifier: None,
            reuse: ReuseConfig::default(),
            rules: None,
            roi_tensors: false,
            batch_rois: super::DEFAULT_BATCH_ROIS,
            teams: false,
            gpu: None,
            frames: None,
            tiles: None,
            pitch: None,
            interval: 0,
        }
    }
}

impl<'a> Stages<'a> {
    /// Detection and tracking with the default ByteTrack parameters.
    pub fn tracked() -> Self {
        ChainConfig { tracking: Some(TrackerConfig::default()), ..ChainConfig::default() }.stages(None)
    }

    /// These stages with the colour statistics and ROI tensors on `gpu` (none: on the CPU).
    pub fn on_gpu(self, gpu: Option<Arc<crate::cuda::Device>>) -> Self {
        Self { gpu, ..self }
    }

    /// These stages handing each decoded frame to `tap` (see [`Stages::frames`]).
    pub fn tap(self, tap: &'a mut dyn FnMut(crate::video::Frame)) -> Self {
        Self { frames: Some(tap), ..self }
    }
}

/// What the chain does, without the run's resources: tracking, the ROI and rules stage, colour
/// teams, tiles, the pitch keypoints. One configuration, built once (an engine configuration's sections: see
/// `EngineConfig::chain`) and turned into a run's [`Stages`] with its resources by
/// [`ChainConfig::stages`]: the engine's file calls and streams and the service's jobs build
/// their chains this way. It is serde data (JSON, TOML): a run's chain can be written down and
/// read back as the same configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    pub tracking: Option<TrackerConfig>,
    pub reuse: ReuseConfig,
    pub rules: Option<FilterConfig>,
    pub roi_tensors: bool,
    pub batch_rois: usize,
    pub teams: bool,
    pub tiles: Option<super::tiles::TileConfig>,
    /// Pitch keypoints from the frame's white lines or a keypoint model ([`crate::pipeline::pitch`]).
    pub pitch: Option<PitchConfig>,
    /// The detector on every (interval + 1)th frame only, the tracker's predictions between.
    pub interval: u32,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            tracking: None,
            reuse: ReuseConfig::default(),
            rules: None,
            roi_tensors: false,
            batch_rois: DEFAULT_BATCH_ROIS,
            teams: false,
            tiles: None,
            pitch: None,
            interval: 0,
        }
    }
}

impl ChainConfig {
    /// A run's stages: this configuration with the run's classifier (none: no classifier stage).
    pub fn stages<'a>(&self, classifier: Option<&'a mut dyn Classifier>) -> Stages<'a> {
        Stages {
            tracking: self.tracking,
            classifier,
            reuse: self.reuse.clone(),
            rules: self.rules.clone(),
            roi_tensors: self.roi_tensors,
            batch_rois: self.batch_rois,
            teams: self.teams,
            gpu: None,
            frames: None,
            tiles: self.tiles.clone(),
            pitch: self.pitch.clone(),
            interval: self.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every section written as JSON reads back as the same configuration; a partial document
    /// takes the defaults for what it leaves out; an unknown knob is refused by name.
    #[test]
    fn the_chain_configuration_round_trips_through_json() {
        let mut tiles = crate::pipeline::tiles::TileConfig::new(crate::pipeline::tiles::TileMode::Ball);
        tiles.overlap = 0.25;
        let mut model = crate::pipeline::pitch::ModelConfig::new("engines/pitch.toml".into());
        model.every = 5;
        let full = ChainConfig {
            tracking: Some(TrackerConfig { track_thresh: 0.4, ..TrackerConfig::default() }),
            reuse: ReuseConfig { max_age_frames: 7, ..ReuseConfig::default() },
            rules: Some(FilterConfig::scorevision()),
            roi_tensors: true,
            batch_rois: 64,
            teams: true,
            tiles: Some(tiles),
            pitch: Some(PitchConfig::Model(model)),
            interval: 2,
        };
        let text = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<ChainConfig>(&text).unwrap(), full, "{text}");
        let lines = ChainConfig { pitch: Some(PitchConfig::Lines(Default::default())), ..ChainConfig::default() };
        assert_eq!(serde_json::from_str::<ChainConfig>(&serde_json::to_string(&lines).unwrap()).unwrap(), lines);
        let partial: ChainConfig = serde_json::from_str(r#"{"interval": 1, "teams": true}"#).unwrap();
        assert_eq!(partial, ChainConfig { interval: 1, teams: true, ..ChainConfig::default() });
        let e = serde_json::from_str::<ChainConfig>(r#"{"intervall": 1}"#).unwrap_err().to_string();
        assert!(e.contains("intervall"), "{e}");
    }
}
