//! The key-frame policy: stage 1 size, shot detection, quality weights and gates, candidates,
//! final score weights, near-duplicates (TOML, filter/keyframes.toml is the default).
#![forbid(unsafe_code)]

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The built-in policy (filter/keyframes.toml).
pub const DEFAULT_POLICY: &str = include_str!("../../filter/keyframes.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Analysis {
    pub width: u32,
    /// Stage 1 decodes without the codec's in-loop deblocking filter: faster, the same shots,
    /// the measures within 0.003, but near-ties between frames can go the other way, and its
    /// pictures cannot be held for stage 2, which then decodes every candidate again (off by
    /// default; see filter/keyframes.toml).
    pub skip_loop_filter: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Shots {
    pub min_change: f64,
    pub sensitivity: f64,
    pub window: usize,
    pub min_shot: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualityWeights {
    pub sharpness: f64,
    pub contrast: f64,
    pub colourfulness: f64,
    pub exposure: f64,
    pub max_underexposed: f64,
    pub max_overexposed: f64,
    pub min_relative_sharpness: f64,
    pub boundary_guard: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Candidates {
    pub per_shot: usize,
    /// MiB of stage 1's decoded pictures held at full size while they may still become
    /// candidates (stage 2 then decodes only the candidates not held); 0 holds none.
    pub hold_mib: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreWeights {
    pub quality: f64,
    pub people: f64,
    pub composition: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Duplicates {
    pub max_hash_distance: u32,
    pub min_cosine: f32,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub analysis: Analysis,
    pub shots: Shots,
    pub quality: QualityWeights,
    pub candidates: Candidates,
    pub score: ScoreWeights,
    pub duplicates: Duplicates,
}

// The defaults below are the values of filter/keyframes.toml (a unit test holds them equal).
impl Default for Analysis {
    fn default() -> Self {
        Self { width: 256, skip_loop_filter: false }
    }
}
impl Default for Shots {
    fn default() -> Self {
        Self { min_change: 0.18, sensitivity: 8.0, window: 12, min_shot: 1.0 }
    }
}
impl Default for QualityWeights {
    fn default() -> Self {
        Self {
            sharpness: 0.45,
            contrast: 0.15,
            colourfulness: 0.15,
            exposure: 0.25,
            max_underexposed: 0.4,
            max_overexposed: 0.25,
            min_relative_sharpness: 0.5,
            boundary_guard: 2,
        }
    }
}
impl Default for Candidates {
    fn default() -> Self {
        Self { per_shot: 3, hold_mib: 512 }
    }
}
impl Default for ScoreWeights {
    fn default() -> Self {
        Self { quality: 0.6, people: 0.25, composition: 0.15 }
    }
}
impl Default for Duplicates {
    fn default() -> Self {
        Self { max_hash_distance: 6, min_cosine: 0.92 }
    }
}

impl Policy {
    /// Parses and checks a policy; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let p: Policy = toml::from_str(text).map_err(|e| Error::Manifest { path: origin.to_path_buf(), reason: e.to_string() })?;
        p.validate(origin)?;
        Ok(p)
    }

    /// The policy in `path`, or the built-in one.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) => Self::parse(&crate::error::read_config(p)?, p),
            None => Self::parse(DEFAULT_POLICY, Path::new("filter/keyframes.toml")),
        }
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |reason: String| Err(Error::Manifest { path: origin.to_path_buf(), reason });
        let unit = |name: &str, v: f64| -> Result<()> {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::Manifest { path: origin.to_path_buf(), reason: format!("{name} must be within 0..1, got {v}") })
            }
        };
        if !(16..=4096).contains(&self.analysis.width) {
            return bad(format!("analysis.width must be within 16..=4096, got {}", self.analysis.width));
        }
        unit("shots.min_change", self.shots.min_change)?;
        if !(self.shots.sensitivity.is_finite() && self.shots.sensitivity >= 0.0) {
            return bad(format!("shots.sensitivity must be >= 0, got {}", self.shots.sensitivity));
        }
        if !(1..=1000).contains(&self.shots.window) {
            return bad(format!("shots.window must be within 1..=1000, got {}", self.shots.window));
        }
        if !(self.shots.min_shot.is_finite() && (0.0..=60.0).contains(&self.shots.min_shot)) {
            return bad(format!("shots.min_shot must be within 0..=60 seconds, got {}", self.shots.min_shot));
        }
        let q = &self.quality;
        for (name, v) in [
            ("quality.sharpness", q.sharpness),
            ("quality.contrast", q.contrast),
            ("quality.colourfulness", q.colourfulness),
            ("quality.exposure", q.exposure),
            ("quality.max_underexposed", q.max_underexposed),
            ("quality.max_overexposed", q.max_overexposed),
            ("quality.min_relative_sharpness", q.min_relative_sharpness),
            ("score.quality", self.score.quality),
            ("score.people", self.score.people),
            ("score.composition", self.score.composition),
            ("duplicates.min_cosine", self.duplicates.min_cosine as f64),
        ] {
            unit(name, v)?;
        }
        if q.sharpness + q.contrast + q.colourfulness + q.exposure <= 0.0 {
            return bad("the quality weights are all 0".into());
        }
        if self.score.quality + self.score.people + self.score.composition <= 0.0 {
            return bad("the score weights are all 0".into());
        }
        if !(1..=64).contains(&self.candidates.per_shot) {
            return bad(format!("candidates.per_shot must be within 1..=64, got {}", self.candidates.per_shot));
        }
        if self.candidates.hold_mib > 1 << 20 {
            return bad(format!("candidates.hold_mib must be within 0..=1048576, got {}", self.candidates.hold_mib));
        }
        if q.boundary_guard > 1000 {
            return bad(format!("quality.boundary_guard must be <= 1000, got {}", q.boundary_guard));
        }
        if self.duplicates.max_hash_distance > 64 {
            return bad(format!("duplicates.max_hash_distance must be within 0..=64, got {}", self.duplicates.max_hash_distance));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_the_default() {
        assert_eq!(Policy::load_or_default(None).unwrap(), Policy::default());
    }

    #[test]
    fn wrong_values_are_named() {
        let e = Policy::parse("[quality]\nsharpness = 2.0\n", Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("p.toml") && e.contains("quality.sharpness"), "{e}");
        let e = Policy::parse("[shots]\nwindoww = 3\n", Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("windoww"), "{e}");
        let e = Policy::parse("[candidates]\nper_shot = 0\n", Path::new("p.toml")).unwrap_err().to_string();
        assert!(e.contains("per_shot"), "{e}");
        // A partial file keeps the other defaults.
        let p = Policy::parse("[score]\npeople = 0.5\n", Path::new("p.toml")).unwrap();
        assert_eq!(p.score.people, 0.5);
        assert_eq!(p.shots, Shots::default());
    }
}
