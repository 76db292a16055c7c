//! Result types every face hands out: detections, frame results, per-box verdicts with colour
//! statistics, labels and where they came from. Below pipeline, output and classify; imports
//! nothing but `serde`.
#![forbid(unsafe_code)]

use serde::Serialize;

/// Score Vision's classes by id.
pub const SCOREVISION_LABELS: [&str; 4] = ["football", "goalkeeper", "player", "referee"];

/// One detected object. `bbox` is `[x1, y1, x2, y2]` in pixels (model-input pixels inside the
/// decoders, source-frame pixels once the detector has mapped them back).
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub bbox: [f32; 4],
    pub score: f32,
    pub class_id: u32,
    /// The object's keypoints from a pose model (`[x, y, confidence]`, in the same pixels as
    /// `bbox`, in the model's keypoint order; confidence 1 where the model gives none); `None`
    /// for a model without keypoints. Shared, so a detection is cheap to clone.
    pub keypoints: Option<Keypoints>,
}

/// A detection's keypoints: `[x, y, confidence]` each.
pub type Keypoints = std::sync::Arc<[[f32; 3]]>;

impl Detection {
    /// A detection without keypoints.
    pub fn new(bbox: [f32; 4], score: f32, class_id: u32) -> Self {
        Self { bbox, score, class_id, keypoints: None }
    }
}

/// Colour statistics of one ROI. Channels are R, G, B whatever the frame's order.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ColourStats {
    pub pixels: u64,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Mean luma, `0.299 R + 0.587 G + 0.114 B` (0..255).
    pub brightness: f32,
    /// `mean G - max(mean R, mean B)`.
    pub green_dominance: f32,
    /// Fraction of pixels inside the HSV green range.
    pub green_fraction: f32,
    /// Fraction of pixels whose V is below the dark threshold.
    pub dark_fraction: f32,
}

/// What a classifier decided about one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decided {
    /// The object keeps the label it had (no step of the policy named another).
    #[default]
    Kept,
    /// The label is the classifier's (e.g. a person box assigned "referee").
    Assigned,
    /// The object is not what it claims: the label says what it is instead (e.g. "grass").
    Rejected,
    /// Too close to call: the object keeps its label, flagged.
    Uncertain,
}

/// A classifier's answer for one object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Label {
    pub label: String,
    /// 0..1.
    pub confidence: f32,
    pub decided: Decided,
    /// The probabilities of the classifier's last step, when it gives them.
    pub scores: Vec<(String, f32)>,
}

impl Label {
    /// A label with a confidence and nothing else (the object's label kept).
    pub fn new(label: impl Into<String>, confidence: f32) -> Self {
        Self { label: label.into(), confidence, ..Self::default() }
    }
}

/// Where a label came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelSource {
    /// The classifier ran on this object in this frame.
    Classifier,
    /// Reused from the object's track.
    Track,
    /// Decided by colour (team assignment: goalkeeper, referee).
    Colour,
}

/// A label for one object with its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub label: String,
    pub confidence: f32,
    pub source: LabelSource,
    /// What the classifier decided (its last call on the object's track when reused).
    pub decided: Decided,
    /// The probabilities of this classifier call (empty when reused or decided by colour).
    pub scores: Vec<(String, f32)>,
}

impl Resolved {
    /// A label decided by colour (team assignment).
    pub fn colour(label: impl Into<String>) -> Self {
        Self { label: label.into(), confidence: 1.0, source: LabelSource::Colour, decided: Decided::Assigned, scores: Vec::new() }
    }
}

/// The rules' verdict on one box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    #[default]
    Keep,
    /// A rule (or the classifier) rejected it.
    Reject,
    /// The box cannot be checked (not finite, empty, outside the frame, unknown class, ...).
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Keep => "keep",
            Verdict::Reject => "reject",
            Verdict::Invalid => "invalid",
        }
    }
}

/// What colour teams decided over a clip: people per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TeamCounts {
    pub team_0: u64,
    pub team_1: u64,
    pub goalkeeper: u64,
    pub referee: u64,
    /// People whose jersey colour could not be told.
    pub no_jersey_colour: u64,
}

impl std::fmt::Display for TeamCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "team 0 {}, team 1 {}, goalkeeper {}, referee {}, no jersey colour {}",
            self.team_0, self.team_1, self.goalkeeper, self.referee, self.no_jersey_colour
        )
    }
}

impl TeamCounts {
    /// The counts as a JSON object, with `extra` fields (a report's own) added.
    pub fn json(&self, extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v
    }
}

/// What the ROI and rules stage found for one box.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoxCheck {
    pub verdict: Verdict,
    /// The rule that rejected it, or why it is invalid.
    pub rule: Option<String>,
    /// The value the rule measured, and the limit it crossed.
    pub value: Option<f32>,
    pub limit: Option<f32>,
    /// The box reached outside the frame and was clamped to it.
    pub clamped: bool,
    /// Colour statistics of the box (None when it has no crop).
    pub stats: Option<ColourStats>,
}

impl BoxCheck {
    pub fn invalid(why: &str) -> Self {
        Self { verdict: Verdict::Invalid, rule: Some(why.to_string()), ..Self::default() }
    }
}

/// The results of one processed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameResult {
    /// Decode index from 0.
    pub index: u64,
    /// Presentation time, seconds.
    pub pts: f64,
    /// Detections in source-frame pixels, best score first.
    pub detections: Vec<Detection>,
    /// Track id of each detection (same length as `detections`); `None` where no confirmed
    /// track claims it or tracking is off.
    pub track_ids: Vec<Option<u64>>,
    /// Classifier label of each detection (same length); `None` without a classifier.
    pub labels: Vec<Option<Resolved>>,
    /// Jersey colour of each person detection, when colour teams are on (else empty).
    pub jerseys: Vec<Option<[f32; 3]>>,
    /// Colour team of each detection, once teams are assigned (else empty).
    pub teams: Vec<Option<u8>>,
    /// The ROI and rules stage's verdict on each detection, when rules run (else empty).
    pub checks: Vec<BoxCheck>,
    /// The frame's pitch keypoints in the template's order (Score Vision's 32), `[0, 0]` where not
    /// seen, when the pitch stage runs (else empty).
    pub keypoints: Vec<[f32; 2]>,
    /// Each pitch keypoint's confidence (0..1; 0 where not seen): the keypoint model's, or the
    /// registration's fit to the lines.
    pub keypoint_confidences: Vec<f32>,
    /// The detector skipped the frame (`interval`): its boxes are the tracks' predicted ones.
    pub predicted: bool,
}

impl FrameResult {
    /// Boxes given as input (a boxes file's frame), not processed yet: detections and their
    /// ids only (`labels` and the rest are empty until the stages make the frame's result), so a
    /// file of millions of boxes costs about 56 bytes a box (a 40-byte detection and its id).
    pub fn given(index: u64, pts: f64, detections: Vec<Detection>, ids: Vec<Option<u64>>) -> Self {
        Self {
            index,
            pts,
            detections,
            track_ids: ids,
            labels: Vec::new(),
            jerseys: Vec::new(),
            teams: Vec::new(),
            checks: Vec::new(),
            keypoints: Vec::new(),
            keypoint_confidences: Vec::new(),
            predicted: false,
        }
    }

    /// A result without tracking or classification.
    pub fn untracked(index: u64, pts: f64, detections: Vec<Detection>) -> Self {
        let n = detections.len();
        Self {
            index,
            pts,
            detections,
            track_ids: vec![None; n],
            labels: vec![None; n],
            jerseys: Vec::new(),
            teams: Vec::new(),
            checks: Vec::new(),
            keypoints: Vec::new(),
            keypoint_confidences: Vec::new(),
            predicted: false,
        }
    }

    /// Whether detection `i` is still in (no rule rejected it and it is valid).
    pub fn kept(&self, i: usize) -> bool {
        self.checks.get(i).is_none_or(|c| c.verdict == Verdict::Keep)
    }

    /// What was decided about detection `k`, as one record (`fovea verify`'s line; every face's
    /// per-detection fields): the label after colour and the classifier (a label named after a
    /// Score Vision class takes its id), the verdict and rule, statistics, source, scores, team.
    /// `names`: class id -> name.
    pub fn box_result(&self, k: usize, names: &[String]) -> BoxResult {
        let f = self;
        let d = &f.detections[k];
        let mut r = BoxResult {
            frame: f.index,
            index: k,
            id: f.track_ids.get(k).copied().flatten(),
            class_id: d.class_id,
            label: names.get(d.class_id as usize).cloned().unwrap_or_else(|| format!("class_{}", d.class_id)),
            bbox: d.bbox,
            score: d.score,
            verdict: "keep",
            rule: None,
            value: None,
            limit: None,
            flags: Vec::new(),
            stats: None,
            source: if f.checks.is_empty() { "detector" } else { "filter" },
            scores: None,
            team: None,
            jersey: f.jerseys.get(k).copied().flatten(),
        };
        if let Some(c) = f.checks.get(k) {
            r.verdict = c.verdict.as_str();
            r.rule = c.rule.clone();
            r.value = c.value;
            r.limit = c.limit;
            r.stats = c.stats;
            if c.clamped {
                r.flags.push("clamped");
            }
        }
        let relabel = |r: &mut BoxResult, name: &str| {
            r.label = name.to_string();
            if let Some(id) = SCOREVISION_LABELS.iter().position(|s| *s == name) {
                r.class_id = id as u32;
            }
        };
        if let Some(t) = f.teams.get(k).copied().flatten() {
            relabel(&mut r, "player");
            r.team = Some(t);
            r.source = "colour";
        }
        match &f.labels[k] {
            Some(l) if l.source == LabelSource::Colour => {
                relabel(&mut r, &l.label);
                r.source = "colour";
            }
            Some(l) => {
                match l.decided {
                    Decided::Assigned => relabel(&mut r, &l.label),
                    Decided::Rejected => {
                        r.verdict = Verdict::Reject.as_str();
                        r.rule = Some(format!("classifier:{}", l.label));
                    }
                    Decided::Uncertain => r.flags.push("uncertain"),
                    Decided::Kept => {}
                }
                r.source = if l.source == LabelSource::Track { "track" } else { "classifier" };
                r.scores = (!l.scores.is_empty()).then(|| l.scores.clone());
            }
            None => {}
        }
        r
    }
}

/// What was decided about one box.
#[derive(Debug, Clone, Serialize)]
pub struct BoxResult {
    pub frame: u64,
    /// Position of the box in its frame in the input file.
    pub index: usize,
    /// The box's id in the input (Score Vision `id`), if any.
    pub id: Option<u64>,
    pub class_id: u32,
    pub label: String,
    pub bbox: [f32; 4],
    pub score: f32,
    /// "keep", "reject" or "invalid".
    pub verdict: &'static str,
    /// The rule that rejected it, or why it is invalid.
    pub rule: Option<String>,
    pub value: Option<f32>,
    pub limit: Option<f32>,
    /// "clamped": the box reached outside the frame and was clamped to it.
    pub flags: Vec<&'static str>,
    pub stats: Option<ColourStats>,
    /// Who decided last: "filter" (rules) or "classifier".
    pub source: &'static str,
    /// The classifier's probabilities (its last step), when it ran on this box.
    pub scores: Option<Vec<(String, f32)>>,
    /// Colour team (0 or 1) with `--teams`; null otherwise or for goalkeepers and referees.
    pub team: Option<u8>,
    /// Jersey colour (R, G, B) measured for team assignment.
    #[serde(skip)]
    pub jersey: Option<[f32; 3]>,
}
