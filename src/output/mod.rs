//! Result writers: fovea's JSONL (one object per processed frame) and the Score Vision JSON.
//!
//! ```text
//!  FrameResult ──▶ JsonlWriter        {"frame","pts","detections":[{"bbox","score","class_id","label","track_id","source","keypoints"?}],"keypoints"?}
//!              └─▶ ScoreVisionWriter  {"frames":{"<n>":{"objects":[{"id","bbox","class_id"}],"keypoints":[]}}}
//! ```
//! Both write as they go and are valid files after `finish`, also when a run stops on an error.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::results::FrameResult;
use crate::track::reuse::LabelSource;

mod raw;
pub mod read;

/// Something that takes each frame's results in order.
pub trait ResultSink {
    fn write(&mut self, r: &FrameResult) -> Result<()>;
    /// Completes the output (closing brackets, flushing). Call once, also after an error.
    fn finish(&mut self) -> Result<()>;
}

/// What a results file holds: fovea's JSONL or the Score Vision miner JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Jsonl,
    Scorevision,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Scorevision => "scorevision",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "jsonl" => Ok(Format::Jsonl),
            "scorevision" => Ok(Format::Scorevision),
            other => Err(Error::InvalidOption {
                option: "format",
                reason: format!("{other:?} is not a results format: expected \"jsonl\" or \"scorevision\""),
            }),
        }
    }
}

/// The results writer for `format` on `out` (`name` in its errors): what `fovea detect`, the
/// engine's file-to-file call and the service write. `tracked`: whether the results carry track
/// ids (Score Vision ids come from them); `started`: a Score Vision file ends with the
/// `processing_time` since then.
pub fn sink(
    format: Format,
    out: Box<dyn Write + Send>,
    name: PathBuf,
    labels: &[String],
    tracked: bool,
    started: Option<std::time::Instant>,
) -> Box<dyn ResultSink> {
    match (format, started) {
        (Format::Jsonl, _) => Box::new(JsonlWriter::new(out, name, labels.to_vec())),
        (Format::Scorevision, None) => Box::new(ScoreVisionWriter::new(out, name, labels, tracked)),
        (Format::Scorevision, Some(t)) => Box::new(ScoreVisionWriter::new(out, name, labels, tracked).with_processing_time(t)),
    }
}

/// Opens `path` for writing, `-` meaning stdout.
pub fn open_output(path: &Path) -> Result<(Box<dyn Write + Send>, PathBuf)> {
    if path == Path::new("-") {
        return Ok((Box::new(std::io::BufWriter::with_capacity(1 << 16, std::io::stdout())), PathBuf::from("<stdout>")));
    }
    let f = std::fs::File::create(path).map_err(|e| Error::Output { path: path.to_path_buf(), source: e })?;
    Ok((Box::new(std::io::BufWriter::with_capacity(1 << 16, f)), path.to_path_buf()))
}

fn r4(v: f32) -> f64 {
    (v as f64 * 10000.0).round() / 10000.0
}

#[derive(Serialize)]
struct JsonDet<'a> {
    /// Box and score as the f32 values fovea computed, exactly (each written as the shortest
    /// decimal that reads back as the same f32), so that re-tracking fovea's own output
    /// (`fovea track`) makes the same decisions as tracking in the pipeline.
    bbox: [f32; 4],
    /// The detector's f32 score exactly (shortest decimal that reads back as the same f32), so
    /// that re-tracking fovea's own output (`fovea track`) makes the same threshold decisions.
    score: f32,
    class_id: u32,
    label: &'a str,
    track_id: Option<u64>,
    source: &'static str,
    /// With colour teams: 0, 1 or null; absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    team: Option<Option<u8>>,
    /// With a classifier: the label's confidence (the policy's last-step probability, or the
    /// track's vote); absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    label_score: Option<f64>,
    /// With rules (`[rules]` in an engine configuration): keep, reject or invalid; absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<&'static str>,
    /// The rule that rejected the box, or why it is invalid; absent when kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a str>,
    /// A pose model's keypoints of the object (`[x, y, confidence]`); absent without.
    #[serde(skip_serializing_if = "Option::is_none")]
    keypoints: Option<&'a [[f32; 3]]>,
}

#[derive(Serialize)]
struct JsonFrame<'a> {
    frame: u64,
    pts: f64,
    /// The detector skipped the frame (`interval`): its boxes are the tracks' predictions.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    predicted: bool,
    detections: Vec<JsonDet<'a>>,
    /// The pitch keypoints (`[x, y]`, `[0, 0]` not seen) when the pitch stage ran.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    keypoints: &'a [[f32; 2]],
    /// Their confidences (0 where not seen).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    keypoint_confidences: &'a [f32],
}

/// fovea's JSONL: one line per processed frame.
pub struct JsonlWriter {
    out: Box<dyn Write + Send>,
    path: PathBuf,
    labels: Vec<String>,
    line: Vec<u8>,
}

impl JsonlWriter {
    /// `labels[class_id]` names each class.
    pub fn new(out: Box<dyn Write + Send>, path: PathBuf, labels: Vec<String>) -> Self {
        Self { out, path, labels, line: Vec::with_capacity(4096) }
    }
}

impl ResultSink for JsonlWriter {
    fn write(&mut self, r: &FrameResult) -> Result<()> {
        let frame = JsonFrame {
            frame: r.index,
            pts: (r.pts * 1e6).round() / 1e6,
            predicted: r.predicted,
            detections: r
                .detections
                .iter()
                .enumerate()
                .map(|(i, d)| JsonDet {
                    bbox: d.bbox,
                    score: d.score,
                    class_id: d.class_id,
                    label: match r.labels.get(i).and_then(|l| l.as_ref()) {
                        Some(l) => l.label.as_str(),
                        None => self.labels.get(d.class_id as usize).map_or("?", |s| s.as_str()),
                    },
                    track_id: r.track_ids.get(i).copied().flatten(),
                    source: match r.labels.get(i).and_then(|l| l.as_ref()).map(|l| l.source) {
                        Some(LabelSource::Classifier) => "classifier",
                        Some(LabelSource::Track) => "track",
                        Some(LabelSource::Colour) => "colour",
                        None => "detector",
                    },
                    team: if r.teams.is_empty() { None } else { Some(r.teams.get(i).copied().flatten()) },
                    label_score: r.labels.get(i).and_then(|l| l.as_ref()).map(|l| r4(l.confidence)),
                    verdict: r.checks.get(i).map(|c| c.verdict.as_str()),
                    rule: r.checks.get(i).and_then(|c| c.rule.as_deref()),
                    keypoints: d.keypoints.as_deref(),
                })
                .collect(),
            keypoints: &r.keypoints,
            keypoint_confidences: &r.keypoint_confidences,
        };
        self.line.clear();
        serde_json::to_writer(&mut self.line, &frame).expect("serialising plain structs cannot fail");
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(|e| Error::Output { path: self.path.clone(), source: e })
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::Output { path: self.path.clone(), source: e })
    }
}

/// Score Vision class ids.
pub mod scorevision {
    pub const FOOTBALL: u32 = 0;
    pub const GOALKEEPER: u32 = 1;
    pub const PLAYER: u32 = 2;
    pub const REFEREE: u32 = 3;

    /// Score Vision class of a detector label, if it has one: COCO `person` is a player and
    /// `sports_ball` the football; the labels of later classifiers map by name.
    pub fn class_of(label: &str) -> Option<u32> {
        match label.to_lowercase().replace([' ', '-'], "_").as_str() {
            "sports_ball" | "ball" | "football" => Some(FOOTBALL),
            "goalkeeper" => Some(GOALKEEPER),
            "person" | "player" | "football_player" => Some(PLAYER),
            "referee" => Some(REFEREE),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct SvObject {
    id: u64,
    bbox: [i64; 4],
    class_id: u32,
}

/// The Score Vision miner format, streamed: `{"frames": {"<n>": {...}, ...}}`. Detections whose
/// label has no Score Vision class are left out. With tracking, ids are track ids, and a
/// detection no confirmed track claims gets its own id from 1,000,000 up (unique in the file);
/// without tracking, ids are detection indices within the frame.
pub struct ScoreVisionWriter {
    out: Box<dyn Write + Send>,
    path: PathBuf,
    classes: Vec<Option<u32>>,
    tracked: bool,
    next_untracked: u64,
    frames: u64,
    finished: bool,
    /// When the job began: `processing_time` (seconds since) is written at the end, as a Score
    /// Vision miner's response carries it.
    started: Option<std::time::Instant>,
}

/// First id given to detections without a track in Score Vision output.
pub const UNTRACKED_ID_BASE: u64 = 1_000_000;

impl ScoreVisionWriter {
    /// `tracked`: whether results carry track ids (see the type's documentation).
    pub fn new(out: Box<dyn Write + Send>, path: PathBuf, labels: &[String], tracked: bool) -> Self {
        let classes = labels.iter().map(|l| scorevision::class_of(l)).collect();
        Self { out, path, classes, tracked, next_untracked: UNTRACKED_ID_BASE, frames: 0, finished: false, started: None }
    }

    /// The same writer ending its file with `"processing_time"`: the seconds from `started` to
    /// the end of the results (a miner's response).
    pub fn with_processing_time(mut self, started: std::time::Instant) -> Self {
        self.started = Some(started);
        self
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Output { path: self.path.clone(), source: e }
    }
}

impl ResultSink for ScoreVisionWriter {
    fn write(&mut self, r: &FrameResult) -> Result<()> {
        let mut objects = Vec::with_capacity(r.detections.len());
        for (i, d) in r.detections.iter().enumerate() {
            // A classifier's label decides the class (one that is no Score Vision class, e.g.
            // "grass" or "crowd", drops the box); otherwise the detector's class does.
            let class_id = match r.labels.get(i).and_then(|l| l.as_ref()) {
                Some(l) => scorevision::class_of(&l.label),
                None => self.classes.get(d.class_id as usize).copied().flatten(),
            };
            let Some(class_id) = class_id else { continue };
            let id = match (self.tracked, r.track_ids.get(i).copied().flatten()) {
                (false, _) => i as u64,
                (true, Some(t)) => t,
                (true, None) => {
                    self.next_untracked += 1;
                    self.next_untracked - 1
                }
            };
            objects.push(SvObject { id, bbox: d.bbox.map(|v| v.round() as i64), class_id });
        }
        let head = if self.frames == 0 { "{\"frames\": {" } else { ", " };
        let body = serde_json::to_string(&objects).expect("plain structs serialise");
        // Keypoints to the hundredth of a pixel, as miners send them.
        let kps: Vec<[f64; 2]> = r.keypoints.iter().map(|p| p.map(|v| (v as f64 * 100.0).round() / 100.0)).collect();
        let kps = serde_json::to_string(&kps).expect("numbers serialise");
        self.frames += 1;
        write!(self.out, "{head}\"{}\": {{\"objects\": {body}, \"keypoints\": {kps}}}", r.index).map_err(|e| self.io(e))
    }

    fn finish(&mut self) -> Result<()> {
        if !self.finished {
            self.finished = true;
            let time = self.started.map_or(String::new(), |t| format!(", \"processing_time\": {:.3}", t.elapsed().as_secs_f64()));
            let tail = if self.frames == 0 { format!("{{\"frames\": {{}}{time}}}\n") } else { format!("}}{time}}}\n") };
            self.out.write_all(tail.as_bytes()).map_err(|e| self.io(e))?;
        }
        self.out.flush().map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detection;

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn frames() -> Vec<FrameResult> {
        let d = |b: [f32; 4], s, c| Detection::new(b, s, c);
        vec![
            FrameResult::untracked(0, 0.0, vec![d([1.004, 2.0, 30.5, 40.0], 0.91234, 0), d([5., 5., 9., 9.], 0.5, 2)]),
            FrameResult::untracked(3, 0.1, vec![d([10.4, 20.6, 30.5, 40.0], 0.4, 1)]),
        ]
    }

    #[test]
    fn jsonl_lines_follow_the_schema() {
        let buf = Shared::default();
        let mut w = JsonlWriter::new(Box::new(buf.clone()), "x".into(), vec!["person".into(), "sports_ball".into(), "car".into()]);
        for f in frames() {
            w.write(&f).unwrap();
        }
        w.finish().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["frame"], 0);
        let d0 = &lines[0]["detections"][0];
        // The box as computed (1.004 was rounded to 1.0 before): exact f32 values.
        assert_eq!(d0["bbox"].to_string(), "[1.004,2.0,30.5,40.0]");
        // Scores are written exactly (the f32 reads back unchanged), no longer rounded to 4
        // decimals: re-tracking fovea's own output must make the same threshold decisions.
        assert_eq!(d0["score"].as_f64().unwrap() as f32, 0.91234f32);
        assert_eq!(d0["score"].to_string(), "0.91234", "the shortest decimal of the f32");
        assert_eq!(d0["label"], "person");
        assert_eq!(d0["track_id"], serde_json::Value::Null);
        assert_eq!(d0["source"], "detector");
        assert_eq!(lines[1]["frame"], 3);
        assert_eq!(lines[1]["detections"][0]["label"], "sports_ball");
    }

    #[test]
    fn scorevision_maps_classes_and_drops_others() {
        let buf = Shared::default();
        let mut w =
            ScoreVisionWriter::new(Box::new(buf.clone()), "x".into(), &["person".into(), "sports_ball".into(), "car".into()], false);
        for f in frames() {
            w.write(&f).unwrap();
        }
        w.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf.0.lock().unwrap()).unwrap();
        let f0 = &v["frames"]["0"]["objects"];
        assert_eq!(f0.as_array().unwrap().len(), 1, "the car has no Score Vision class");
        assert_eq!(f0[0], serde_json::json!({"id": 0, "bbox": [1, 2, 31, 40], "class_id": 2}));
        assert_eq!(v["frames"]["3"]["objects"][0]["class_id"], 0);
        assert_eq!(v["frames"]["3"]["keypoints"], serde_json::json!([]));
    }

    #[test]
    fn tracked_ids_are_track_ids_and_untracked_ones_are_unique() {
        let buf = Shared::default();
        let labels = ["person".to_string(), "sports_ball".to_string()];
        let mut w = ScoreVisionWriter::new(Box::new(buf.clone()), "x".into(), &labels, true);
        let d = |c| Detection::new([0., 0., 10., 10.], 0.9, c);
        let mut a = FrameResult::untracked(0, 0.0, vec![d(0), d(1)]);
        a.track_ids = vec![Some(7), None];
        let mut b = FrameResult::untracked(1, 0.1, vec![d(0), d(1)]);
        b.track_ids = vec![Some(7), None];
        w.write(&a).unwrap();
        w.write(&b).unwrap();
        w.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf.0.lock().unwrap()).unwrap();
        let ids = |f: &str| v["frames"][f]["objects"].as_array().unwrap().iter().map(|o| o["id"].as_u64().unwrap()).collect::<Vec<_>>();
        assert_eq!(ids("0"), vec![7, UNTRACKED_ID_BASE]);
        assert_eq!(ids("1"), vec![7, UNTRACKED_ID_BASE + 1]);

        let buf = Shared::default();
        let mut j = JsonlWriter::new(Box::new(buf.clone()), "x".into(), labels.to_vec());
        j.write(&a).unwrap();
        j.finish().unwrap();
        let line: serde_json::Value = serde_json::from_slice(&buf.0.lock().unwrap()).unwrap();
        assert_eq!(line["detections"][0]["track_id"], 7);
        assert!(line["detections"][1]["track_id"].is_null());
    }

    #[test]
    fn scorevision_with_no_frames_is_valid_json() {
        let buf = Shared::default();
        let mut w = ScoreVisionWriter::new(Box::new(buf.clone()), "x".into(), &[], false);
        w.finish().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf.0.lock().unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"frames": {}}));
    }
}
