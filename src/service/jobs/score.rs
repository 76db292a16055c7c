//! A score job: `fovea score` as a job of the service (`"kind": "score"`): the miner's Score
//! Vision file scored on the job's video through the verify chain ([`crate::score::run_score`]),
//! the report (`fovea score --json`) written as the job's results when it ends, also when it
//! failed half-way (the report then covers the frames before the damage).
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::classify::Classifier;
use crate::error::{Error, Result};
use crate::score::{run_score, ScoreRequest};
use crate::service::{Access, Named};

use super::{Job, RunError};

/// A score job's inputs, checked: the miner's file and the score's options, every file inside
/// the media root (opened when the job runs), a classifier one of fovea's own models.
#[derive(Debug, Clone)]
pub struct ScoreJob {
    /// The miner's file, and the rule and policy files, as checked, with the client's names.
    pub boxes: (Named, String),
    pub rules: Option<(Named, String)>,
    pub policy: Option<(Named, String)>,
    /// The request; its `rules` and `policy` are set to the opened files when the job runs.
    pub request: ScoreRequest,
}

/// The fields a score job takes.
const FIELDS: &str = "boxes, rules, line_frames, time, fastest, classifier, policy, threads, per_frame, frames, homography";

impl ScoreJob {
    /// Parses a score job's `options`: `boxes` (the miner's file) and [`ScoreRequest`]'s fields.
    /// `check` maps a file the caller named (and the option's name) to a checked name under the
    /// media root, or says why not.
    pub(crate) fn parse(options: &serde_json::Value, check: &dyn Fn(&str, &str) -> std::result::Result<Named, String>) -> Result<Self> {
        let bad = |option: &'static str, reason: String| Error::InvalidOption { option, reason };
        let mut obj = match options {
            serde_json::Value::Object(m) => m.clone(),
            serde_json::Value::Null => serde_json::Map::new(),
            _ => return Err(bad("options", format!("expected a JSON object (a score job's fields: {FIELDS})"))),
        };
        let boxes = match obj.remove("boxes") {
            Some(serde_json::Value::String(b)) => (check("options.boxes", &b).map_err(|r| bad("options.boxes", r))?, b),
            _ => return Err(bad("options.boxes", "expected the miner's Score Vision file: a path under the media root".into())),
        };
        let mut request: ScoreRequest = serde_json::from_value(serde_json::Value::Object(obj))
            .map_err(|e| bad("options", format!("{e} (a score job's fields: {FIELDS})")))?;
        request.check()?;
        let file = |name: &'static str, p: Option<PathBuf>| -> Result<Option<(Named, String)>> {
            p.map(|path| {
                let s = path.to_string_lossy().into_owned();
                check(name, &s).map(|n| (n, s)).map_err(|r| bad(name, r))
            })
            .transpose()
        };
        let rules = file("options.rules", request.rules.take())?;
        let policy = file("options.policy", request.policy.take())?;
        if let Some(c) = request.classifier.as_mut() {
            let name = c.to_string_lossy().into_owned();
            let plain = name.strip_prefix("engines/").unwrap_or(&name);
            *c = Access::own_model(plain).ok_or_else(|| {
                bad(
                    "options.classifier",
                    format!("'{name}': expected one of fovea's own models by name (a manifest in its engines folder, e.g. mobilenetv2)"),
                )
            })?;
        }
        Ok(Self { boxes, rules, policy, request })
    }
}

impl Job {
    /// Scores the job's video; the report is the job's results. The miner's, rule and policy
    /// files are opened here, once, beneath the media root.
    pub(super) fn run_score(
        &self,
        video: &Path,
        s: &ScoreJob,
        access: &Access,
        names: &mut Vec<(PathBuf, String)>,
    ) -> std::result::Result<(), RunError> {
        // Each file opened once, its descriptor's path named as the client named the file.
        let mut open = |(n, client): &(Named, String)| {
            let f = access.open(n).map_err(|e| RunError::Refused(e.for_client(client)))?;
            names.push((f.path().to_path_buf(), client.clone()));
            Ok::<_, RunError>(f)
        };
        let boxes = open(&s.boxes)?;
        let rules = s.rules.as_ref().map(&mut open).transpose()?;
        let policy = s.policy.as_ref().map(&mut open).transpose()?;
        let mut request = s.request.clone();
        request.rules = rules.as_ref().map(|f| f.path().to_path_buf());
        request.policy = policy.as_ref().map(|f| f.path().to_path_buf());
        let (mut opts, mut classifier) = request.options()?;
        opts.cancel = Some(self.cancel.clone());
        opts.progress = Some(self.frames.clone());
        let c = classifier.as_mut().map(|z| z as &mut dyn Classifier);
        let (report, outcome) = run_score(video, boxes.path(), &opts, c)?;
        let json = report.to_json(s.request.per_frame.unwrap_or(true));
        let bytes = serde_json::to_vec(&json).map_err(|e| Error::Pipeline(format!("job {}: the score report: {e}", self.id)))?;
        let output = |e| RunError::Failed(Error::Output { path: self.output.path.clone(), source: e });
        self.output.writer().map_err(output)?.write_all(&bytes).map_err(output)?;
        outcome.map_err(RunError::Failed)
    }
}
