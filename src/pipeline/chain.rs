//! The chain's configuration: what it does, without a run's resources.
#![forbid(unsafe_code)]

use super::Stages;
use crate::classify::Classifier;
use crate::filter::FilterConfig;
use crate::pipeline::pitch::PitchConfig;
use crate::track::{reuse::ReuseConfig, TrackerConfig};

/// ROIs per classifier call at most, by default (`batch_rois`).
pub const DEFAULT_BATCH_ROIS: usize = 256;

/// What the chain does, without the run's resources: tracking, the ROI and rules stage, colour
/// teams, tiles, the pitch keypoints. One configuration, built once (an engine configuration's sections: see
/// `EngineConfig::chain`) and turned into a run's [`Stages`] with its resources by
/// [`ChainConfig::stages`]: the engine's file calls and streams and the service's jobs build
/// their chains this way.
#[derive(Debug, Clone, PartialEq)]
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
        }
    }
}
