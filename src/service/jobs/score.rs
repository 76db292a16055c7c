//! A score job: `fovea score` as a job of the service (`"kind": "score"`): the miner's Score
//! Vision file scored on the job's video through the verify chain ([`crate::score::run_score`]),
//! the report (`fovea score --json`) written as the job's results when it ends, also when it
//! failed half-way (the report then covers the frames before the damage).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;

use crate::classify::Classifier;
use crate::error::{Error, Result};
use crate::score::{run_score, ScoreRequest};

use super::{Job, Out};

/// A score job's inputs, checked: the miner's file and the score's options, every path inside
/// the media root (a classifier may also be one of fovea's own models).
#[derive(Debug, Clone)]
pub struct ScoreJob {
    pub boxes: PathBuf,
    pub request: ScoreRequest,
}

/// The fields a score job takes.
const FIELDS: &str = "boxes, rules, line_frames, time, fastest, classifier, policy, threads, per_frame";

impl ScoreJob {
    /// Parses a score job's `options`: `boxes` (the miner's file) and [`ScoreRequest`]'s fields.
    /// `resolve` maps a path the caller gave to the file inside the media root, or says why not.
    pub(crate) fn parse(options: &serde_json::Value, resolve: &dyn Fn(&str) -> std::result::Result<PathBuf, String>) -> Result<Self> {
        let bad = |option: &'static str, reason: String| Error::InvalidOption { option, reason };
        let mut obj = match options {
            serde_json::Value::Object(m) => m.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            _ => return Err(bad("options", format!("expected a JSON object (a score job's fields: {FIELDS})"))),
        };
        let boxes = match obj.remove("boxes") {
            Some(serde_json::Value::String(b)) => resolve(&b).map_err(|r| bad("options.boxes", r))?,
            _ => return Err(bad("options.boxes", "expected the miner's Score Vision file: a path under the media root".into())),
        };
        let mut request: ScoreRequest = serde_json::from_value(serde_json::Value::Object(obj))
            .map_err(|e| bad("options", format!("{e} (a score job's fields: {FIELDS})")))?;
        request.check()?;
        for (name, p) in [("options.rules", &mut request.rules), ("options.policy", &mut request.policy)] {
            if let Some(path) = p.as_mut() {
                *path = resolve(&path.to_string_lossy()).map_err(|r| bad(name, r))?;
            }
        }
        if let Some(c) = request.classifier.as_mut() {
            *c = crate::infer::defaults::in_model_homes(c)
                .map_or_else(|| resolve(&c.to_string_lossy()).map_err(|r| bad("options.classifier", r)), Ok)?;
        }
        Ok(Self { boxes, request })
    }
}

impl Job {
    /// Scores the job's video; the report is the job's results.
    pub(super) fn run_score(&self, s: &ScoreJob) -> Result<()> {
        let (mut opts, mut classifier) = s.request.options()?;
        opts.cancel = Some(self.cancel.clone());
        opts.progress = Some(self.frames.clone());
        let c = classifier.as_mut().map(|z| z as &mut dyn Classifier);
        let (report, outcome) = run_score(&self.input, &s.boxes, &opts, c)?;
        let json = report.to_json(s.request.per_frame.unwrap_or(true));
        let bytes = serde_json::to_vec(&json).map_err(|e| Error::Pipeline(format!("job {}: the score report: {e}", self.id)))?;
        Out(self.output.clone()).write_all(&bytes).map_err(|e| Error::Output { path: self.output.path.clone(), source: e })?;
        outcome
    }
}
