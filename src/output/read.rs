//! Reading boxes made elsewhere: fovea's JSONL or a Score Vision miner file. Used by
//! `fovea track` (and later `fovea verify`) for users who run their own detector.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::raw::{Capped, KeypointItem, Limited, Quoted, Scalar};

use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::results::FrameResult;

/// Which format a boxes file was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxesFormat {
    Jsonl,
    ScoreVision,
}

/// Frames of boxes, in increasing frame order, with the class names they use.
#[derive(Debug, Clone)]
pub struct BoxesFile {
    pub format: BoxesFormat,
    pub frames: Vec<FrameResult>,
    /// `labels[class_id]`; classes never named are "class_N".
    pub labels: Vec<String>,
    /// Frame rate implied by the file's `frame` and `pts` fields, if it has both.
    pub fps: Option<f64>,
    /// A Score Vision file's pitch keypoints per frame (its `keypoints`, `[x, y]` pairs or a flat
    /// list; `[0, 0]` is a point not given), for frames that have any.
    pub keypoints: BTreeMap<u64, Vec<[f64; 2]>>,
}

pub use crate::results::SCOREVISION_LABELS;

/// Largest class id a boxes file may use (labels are kept per id up to the largest one used).
pub const MAX_CLASS_ID: u64 = 65_535;
/// Most boxes one frame of a boxes file may hold (Score Vision frames hold a few dozen).
pub const MAX_BOXES_PER_FRAME: usize = 10_000;
/// Most keypoints one frame may hold (Score Vision's template has 32).
pub const MAX_KEYPOINTS_PER_FRAME: usize = 1_000;
/// Largest boxes file read (bytes). Reading streams: memory grows with the boxes kept (about
/// 56 bytes a box), never with a JSON tree of the file.
pub const MAX_BOXES_FILE_BYTES: u64 = 1 << 30;

/// A frame's `keypoints`: `[[x, y], ...]` or `[x1, y1, x2, y2, ...]`.
fn keypoints_of(path: &Path, v: &Capped<KeypointItem, { 2 * MAX_KEYPOINTS_PER_FRAME + 1 }>, at: &str) -> Result<Vec<[f64; 2]>> {
    if !v.is_array {
        return Err(bad(path, format!("{at}: \"keypoints\" is not an array")));
    }
    let num = |x: &Scalar, k: usize| -> Result<f64> {
        // Keypoints are read at full precision: the validator's arithmetic is float64.
        x.as_f64()
            .or_else(|| coordinate(x).map(f64::from))
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(path, format!("{at}: \"keypoints\"[{k}] is not a finite number")))
    };
    let pairs = v.items.iter().all(|i| matches!(i, KeypointItem::Pair(_)));
    let points = if pairs { v.total } else { v.total / 2 };
    if points > MAX_KEYPOINTS_PER_FRAME {
        return Err(bad(path, format!("{at}: {points} keypoints, more than the limit {MAX_KEYPOINTS_PER_FRAME}")));
    }
    if pairs {
        v.items
            .iter()
            .enumerate()
            .map(|(k, p)| match p {
                KeypointItem::Pair(c) if c.total == 2 => Ok([num(&c.items[0], k)?, num(&c.items[1], k)?]),
                _ => Err(bad(path, format!("{at}: \"keypoints\"[{k}] is not an [x, y] pair"))),
            })
            .collect()
    } else {
        if v.total % 2 != 0 {
            return Err(bad(path, format!("{at}: \"keypoints\" has {} numbers, expected x, y pairs", v.total)));
        }
        let flat: Vec<Scalar> = v
            .items
            .iter()
            .map(|i| match i {
                KeypointItem::Scalar(s) => s.clone(),
                KeypointItem::Pair(_) => Scalar::Nested,
            })
            .collect();
        flat.chunks(2).enumerate().map(|(k, c)| Ok([num(&c[0], 2 * k)?, num(&c[1], 2 * k + 1)?])).collect()
    }
}

fn bad(path: &Path, reason: String) -> Error {
    Error::Input { path: path.to_path_buf(), reason }
}

/// Reads `path`: a Score Vision file (one JSON object with `frames`) or fovea's JSONL, as a
/// stream (at most [`MAX_BOXES_FILE_BYTES`]).
pub fn read_boxes(path: &Path) -> Result<BoxesFile> {
    if !path.exists() {
        return Err(Error::FileNotFound { path: path.to_path_buf() });
    }
    let open = || -> Result<Quoted<Limited<std::fs::File>>> {
        let f = std::fs::File::open(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
        if let Ok(m) = f.metadata() {
            if m.is_file() && m.len() > MAX_BOXES_FILE_BYTES {
                return Err(bad(path, format!("{} bytes, more than the limit of {MAX_BOXES_FILE_BYTES} bytes", m.len())));
            }
        }
        Ok(Quoted::new(Limited { inner: f, left: MAX_BOXES_FILE_BYTES, limit: MAX_BOXES_FILE_BYTES }))
    };
    match read_scorevision(path, open()?)? {
        Some(file) => Ok(file),
        None => read_jsonl(path, BufReader::with_capacity(1 << 16, open()?)),
    }
}

fn coordinate(x: &Scalar) -> Option<f32> {
    match x {
        Scalar::Str(s) if s == "NaN" => Some(f32::NAN),
        Scalar::Str(s) if s == "Infinity" => Some(f32::INFINITY),
        Scalar::Str(s) if s == "-Infinity" => Some(f32::NEG_INFINITY),
        _ => x.as_f64().map(|v| v as f32),
    }
}

type BBox = Capped<Scalar, 4>;

fn bbox_of(path: &Path, v: Option<&BBox>, at: &str) -> Result<[f32; 4]> {
    let arr = v.filter(|b| b.is_array).ok_or_else(|| bad(path, format!("{at}: \"bbox\" missing or not an array")))?;
    if arr.total != 4 {
        return Err(bad(path, format!("{at}: \"bbox\" has {} numbers, expected 4 [x1, y1, x2, y2]", arr.total)));
    }
    let mut b = [0.0f32; 4];
    for (k, x) in arr.items.iter().enumerate() {
        b[k] = coordinate(x).ok_or_else(|| bad(path, format!("{at}: \"bbox\"[{k}] is not a number")))?;
    }
    Ok(b)
}

fn class_id_of(path: &Path, v: Option<&Scalar>, at: &str) -> Result<u32> {
    let id = v.and_then(Scalar::as_u64).ok_or_else(|| bad(path, format!("{at}: \"class_id\" missing or not a non-negative integer")))?;
    if id > MAX_CLASS_ID {
        return Err(bad(path, format!("{at}: \"class_id\" {id} is larger than the limit {MAX_CLASS_ID}")));
    }
    Ok(id as u32)
}

/// A box's score: a number, or one of Python's non-finite tokens (reported per box later, never
/// fatal for the file).
fn score_of(path: &Path, v: Option<&Scalar>, at: &str) -> Result<f32> {
    v.and_then(coordinate).ok_or_else(|| bad(path, format!("{at}: \"score\" missing or not a number")))
}

fn check_count(path: &Path, n: usize, at: &str) -> Result<()> {
    if n > MAX_BOXES_PER_FRAME {
        return Err(bad(path, format!("{at}: {n} boxes in one frame, more than the limit {MAX_BOXES_PER_FRAME}")));
    }
    Ok(())
}

/// One line of fovea's JSONL, typed as it is parsed (unknown fields skipped).
#[derive(Deserialize)]
struct RawLine {
    frame: Option<Scalar>,
    pts: Option<Scalar>,
    detections: Option<Capped<RawBox, MAX_BOXES_PER_FRAME>>,
}

/// A box of a JSONL line or a Score Vision frame.
#[derive(Deserialize)]
struct RawBox {
    bbox: Option<BBox>,
    score: Option<Scalar>,
    confidence: Option<Scalar>,
    class_id: Option<Scalar>,
    label: Option<Scalar>,
    id: Option<Scalar>,
}

fn read_jsonl(path: &Path, mut reader: impl BufRead) -> Result<BoxesFile> {
    let mut frames = Vec::new();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    let mut timing = Vec::new();
    let mut line = Vec::new();
    for ln in 1.. {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(|e| bad(path, format!("line {ln}: cannot read: {e}")))? == 0 {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: RawLine = serde_json::from_slice(&line).map_err(|e| bad(path, format!("line {ln}: not JSON ({e})")))?;
        let index = v
            .frame
            .as_ref()
            .and_then(Scalar::as_u64)
            .ok_or_else(|| bad(path, format!("line {ln}: \"frame\" missing or not a non-negative integer")))?;
        let pts = v.pts.as_ref().and_then(Scalar::as_f64);
        if let Some(p) = pts {
            timing.push((index, p));
        }
        let dets =
            v.detections.filter(|d| d.is_array).ok_or_else(|| bad(path, format!("line {ln}: \"detections\" missing or not an array")))?;
        check_count(path, dets.total, &format!("line {ln}"))?;
        let mut out = Vec::with_capacity(dets.items.len());
        for (k, d) in dets.items.iter().enumerate() {
            let at = format!("line {ln}, detection {k}");
            let bbox = bbox_of(path, d.bbox.as_ref(), &at)?;
            let score = score_of(path, d.score.as_ref(), &at)?;
            let class_id = class_id_of(path, d.class_id.as_ref(), &at)?;
            match &d.label {
                Some(Scalar::Str(l)) => {
                    names.entry(class_id).or_insert_with(|| l.clone());
                }
                Some(Scalar::LongStr(n)) => {
                    return Err(bad(path, format!("{at}: \"label\" of {n} bytes, longer than {}", super::raw::MAX_STRING)))
                }
                _ => {}
            }
            out.push(Detection::new(bbox, score, class_id));
        }
        let ids = vec![None; out.len()];
        frames.push(FrameResult::given(index, pts.unwrap_or(0.0), out, ids));
    }
    frames.sort_by_key(|f| f.index);
    if let Some(w) = frames.windows(2).find(|w| w[0].index == w[1].index) {
        return Err(bad(path, format!("frame {} appears twice", w[0].index)));
    }
    let max_class = frames.iter().flat_map(|f| f.detections.iter().map(|d| d.class_id)).max();
    let labels = (0..max_class.map_or(0, |m| m + 1)).map(|c| names.get(&c).cloned().unwrap_or_else(|| format!("class_{c}"))).collect();
    Ok(BoxesFile { format: BoxesFormat::Jsonl, frames, labels, fps: fps_of(&timing), keypoints: BTreeMap::new() })
}

/// Frames per second from (frame, pts) pairs: the median of their ratios of differences.
fn fps_of(t: &[(u64, f64)]) -> Option<f64> {
    let mut t = t.to_vec();
    t.sort_by_key(|p| p.0);
    let mut r: Vec<f64> =
        t.windows(2).filter(|w| w[1].0 > w[0].0 && w[1].1 > w[0].1).map(|w| (w[1].0 - w[0].0) as f64 / (w[1].1 - w[0].1)).collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    Some(r[r.len() / 2])
}

/// A Score Vision frame, typed as it is parsed.
#[derive(Deserialize)]
struct RawFrame {
    objects: Option<Capped<RawBox, MAX_BOXES_PER_FRAME>>,
    keypoints: Option<Capped<KeypointItem, { 2 * MAX_KEYPOINTS_PER_FRAME + 1 }>>,
}

/// What the Score Vision reader builds, frame by frame.
struct Sv<'p> {
    path: &'p Path,
    frames: Vec<FrameResult>,
    keys: BTreeMap<u64, String>,
    keypoints: BTreeMap<u64, Vec<[f64; 2]>>,
    /// The first error of fovea's own checks (the parser stops at once).
    error: Option<Error>,
    seen_frames: bool,
}

impl Sv<'_> {
    fn frame(&mut self, key: String, f: RawFrame) -> Result<()> {
        let path = self.path;
        let index: u64 = key.parse().map_err(|_| bad(path, format!("frames key \"{key}\" is not a frame number")))?;
        if let Some(other) = self.keys.get(&index) {
            let what = if *other == key { "appears twice".to_string() } else { format!("and \"{other}\" name the same frame {index}") };
            return Err(bad(path, format!("frames key \"{key}\" {what}")));
        }
        let objs = match f.objects {
            None => Capped { items: Vec::new(), total: 0, is_array: true },
            Some(o) if !o.is_array => return Err(bad(path, format!("frames.{key}.objects is not an array"))),
            Some(o) => o,
        };
        check_count(path, objs.total, &format!("frames.{key}.objects"))?;
        let mut dets = Vec::with_capacity(objs.items.len());
        let mut ids = Vec::with_capacity(objs.items.len());
        for (k, o) in objs.items.iter().enumerate() {
            let at = format!("frames.{key}.objects[{k}]");
            let bbox = bbox_of(path, o.bbox.as_ref(), &at)?;
            let class_id = class_id_of(path, o.class_id.as_ref(), &at)?;
            // Miner files carry no score; a "confidence" or "score" field is used when present.
            let score = match o.confidence.as_ref().or(o.score.as_ref()) {
                None | Some(Scalar::Null) => 1.0,
                v => score_of(path, v, &at)?,
            };
            dets.push(Detection::new(bbox, score, class_id));
            ids.push(o.id.as_ref().and_then(Scalar::as_u64));
        }
        self.frames.push(FrameResult::given(index, 0.0, dets, ids));
        if let Some(v) = &f.keypoints {
            let k = keypoints_of(path, v, &format!("frames.{key}"))?;
            if !k.is_empty() {
                self.keypoints.insert(index, k);
            }
        }
        self.keys.insert(index, key);
        Ok(())
    }
}

/// The top-level object: `frames` read frame by frame, other keys skipped.
impl<'de> Visitor<'de> for &mut Sv<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key != "frames" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if self.seen_frames {
                self.error = Some(bad(self.path, "\"frames\" appears twice".into()));
                return Err(de::Error::custom("fovea"));
            }
            self.seen_frames = true;
            map.next_value_seed(Frames(&mut *self))?;
        }
        Ok(())
    }
}

struct Frames<'a, 'p>(&'a mut Sv<'p>);

impl<'de> DeserializeSeed<'de> for Frames<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Frames<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of frame number -> frame")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let frame: RawFrame = map.next_value()?;
            if let Err(e) = self.0.frame(key, frame) {
                self.0.error = Some(e);
                return Err(de::Error::custom("fovea"));
            }
        }
        Ok(())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        self.0.error = Some(bad(self.0.path, "\"frames\" is not an object of frame number -> frame".into()));
        Err(de::Error::custom("fovea"))
    }
}

/// A Score Vision file, or None when the file is not one (no `frames` in its first object:
/// fovea's JSONL, or not JSON at all).
fn read_scorevision(path: &Path, reader: impl Read) -> Result<Option<BoxesFile>> {
    let mut sv = Sv { path, frames: Vec::new(), keys: BTreeMap::new(), keypoints: BTreeMap::new(), error: None, seen_frames: false };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = de.deserialize_map(&mut sv).and_then(|()| if sv.seen_frames { de.end() } else { Ok(()) });
    if let Some(e) = sv.error.take() {
        return Err(e);
    }
    match parsed {
        Err(e) if e.is_io() => return Err(bad(path, format!("cannot read: {e}"))),
        Err(e) if sv.seen_frames && e.is_data() => return Err(bad(path, format!("not a Score Vision miner file ({e})"))),
        Err(e) if sv.seen_frames => return Err(bad(path, format!("not JSON ({e})"))),
        Err(_) => return Ok(None),
        Ok(()) if !sv.seen_frames => return Ok(None),
        Ok(()) => {}
    }
    let mut frames = sv.frames;
    frames.sort_by_key(|f| f.index);
    let max_class = frames.iter().flat_map(|f| f.detections.iter().map(|d| d.class_id)).max().unwrap_or(3);
    let labels = (0..=max_class.max(3))
        .map(|c| SCOREVISION_LABELS.get(c as usize).map_or_else(|| format!("class_{c}"), |s| s.to_string()))
        .collect();
    Ok(Some(BoxesFile { format: BoxesFormat::ScoreVision, frames, labels, fps: None, keypoints: sv.keypoints }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("b.json");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn reads_jsonl_with_labels_and_fps() {
        let (_d, p) = write(concat!(
            "{\"frame\":2,\"pts\":0.2,\"detections\":[{\"bbox\":[1,2,3,4],\"score\":0.9,\"class_id\":32,\"label\":\"sports_ball\"}]}\n",
            "{\"frame\":0,\"pts\":0.0,\"detections\":[]}\n",
        ));
        let b = read_boxes(&p).unwrap();
        assert_eq!(b.format, BoxesFormat::Jsonl);
        assert_eq!(b.frames.iter().map(|f| f.index).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(b.labels[32], "sports_ball");
        assert_eq!(b.labels[0], "class_0");
        assert!((b.fps.unwrap() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn reads_scorevision() {
        let (_d, p) = write(
            r#"{"frames": {"10": {"objects": [{"id": 3, "bbox": [1, 2, 30, 40], "class_id": 2}], "keypoints": []}, "9": {"objects": []}}}"#,
        );
        let b = read_boxes(&p).unwrap();
        assert_eq!(b.format, BoxesFormat::ScoreVision);
        assert_eq!(b.frames[1].index, 10);
        assert_eq!(b.frames[1].detections[0], Detection::new([1., 2., 30., 40.], 1.0, 2));
        assert_eq!(b.labels[2], "player");
    }

    #[test]
    fn python_non_finite_tokens_become_non_finite_coordinates() {
        let (_d, p) = write(
            r#"{"frames": {"1": {"objects": [{"id": 1, "bbox": [NaN, 2, Infinity, -Infinity], "class_id": 2}, {"id": 2, "bbox": [1, 2, 3, 4], "class_id": 2, "note": "NaN stays text"}]}}}"#,
        );
        let b = read_boxes(&p).unwrap();
        let d = &b.frames[0].detections;
        assert!(d[0].bbox[0].is_nan() && d[0].bbox[2] == f32::INFINITY && d[0].bbox[3] == f32::NEG_INFINITY);
        assert_eq!(d[1].bbox, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(b.frames[0].track_ids, vec![Some(1), Some(2)]);
    }

    #[test]
    fn malformed_input_names_the_line_or_key() {
        let (_d, p) = write("{\"frame\":0,\"detections\":[]}\n{oops\n");
        assert!(read_boxes(&p).unwrap_err().to_string().contains("line 2: not JSON"));
        let (_d, p) = write("{\"frame\":0,\"detections\":[{\"bbox\":[1,2,3],\"score\":1,\"class_id\":0}]}\n");
        let e = read_boxes(&p).unwrap_err().to_string();
        assert!(e.contains("line 1, detection 0: \"bbox\" has 3 numbers"), "{e}");
        let (_d, p) = write(r#"{"frames": {"x1": {"objects": []}}}"#);
        assert!(read_boxes(&p).unwrap_err().to_string().contains("frames key \"x1\""));
        let (_d, p) = write(r#"{"frames": {"1": {"objects": [{"bbox": [1,2,3,4]}]}}}"#);
        assert!(read_boxes(&p).unwrap_err().to_string().contains("frames.1.objects[0]: \"class_id\" missing"));
    }

    /// Regression: a class id of 2^32 wrapped to 0, and huge ids sized the label table.
    #[test]
    fn class_ids_past_the_limit_are_errors_not_wraps() {
        for id in [4294967296u64, 65536, u64::MAX] {
            let (_d, p) = write(&format!(r#"{{"frames": {{"1": {{"objects": [{{"bbox": [1,2,3,4], "class_id": {id}}}]}}}}}}"#));
            let e = read_boxes(&p).unwrap_err().to_string();
            assert!(e.contains(&format!("\"class_id\" {id} is larger than the limit 65535")), "{e}");
            let (_d, p) = write(&format!("{{\"frame\":0,\"detections\":[{{\"bbox\":[1,2,3,4],\"score\":1,\"class_id\":{id}}}]}}\n"));
            assert!(read_boxes(&p).unwrap_err().to_string().contains("larger than the limit"));
        }
    }

    /// Regression: keys "2" and "02" are the same frame; one of their boxes was silently lost.
    #[test]
    fn two_keys_for_one_frame_are_an_error() {
        let (_d, p) = write(r#"{"frames": {"2": {"objects": []}, "02": {"objects": [{"bbox": [1,2,3,4], "class_id": 2}]}}}"#);
        let e = read_boxes(&p).unwrap_err().to_string();
        assert!(e.contains("name the same frame 2"), "{e}");
    }

    /// Regression: a frame key written twice kept only the last frame (a JSON object's keys were
    /// deduplicated before fovea saw them); "frames" twice likewise.
    #[test]
    fn the_same_frame_key_twice_is_an_error() {
        let (_d, p) = write(r#"{"frames": {"1": {"objects": [{"bbox": [1,2,3,4], "class_id": 2}]}, "1": {"objects": []}}}"#);
        let e = read_boxes(&p).unwrap_err().to_string();
        assert!(e.contains("frames key \"1\" appears twice"), "{e}");
        let (_d, p) = write(r#"{"frames": {"1": {}}, "frames": {"2": {}}}"#);
        assert!(read_boxes(&p).unwrap_err().to_string().contains("\"frames\" appears twice"));
        let (_d, p) = write(r#"{"frames": {"1": {"objects": []}}} trailing"#);
        assert!(read_boxes(&p).unwrap_err().to_string().contains("not JSON"));
        let (_d, p) = write(r#"{"frames": 5}"#);
        assert!(read_boxes(&p).unwrap_err().to_string().contains("not a Score Vision miner file"));
    }

    /// Arrays past a limit are counted, not kept: a frame of a million boxes is refused with its
    /// count; a bbox of a million numbers likewise.
    #[test]
    fn oversized_arrays_are_counted_and_refused() {
        let one = r#"{"bbox":[1,2,3,4],"class_id":2}"#;
        let (_d, p) = write(&format!(r#"{{"frames": {{"3": {{"objects": [{}]}}}}}}"#, vec![one; 20_000].join(",")));
        let e = read_boxes(&p).unwrap_err().to_string();
        assert!(e.contains("frames.3.objects: 20000 boxes in one frame"), "{e}");
        let nums = vec!["1"; 1_000_000].join(",");
        let (_d, p) = write(&format!(r#"{{"frames": {{"3": {{"objects": [{{"bbox":[{nums}],"class_id":2}}]}}}}}}"#));
        let e = read_boxes(&p).unwrap_err().to_string();
        assert!(e.contains("\"bbox\" has 1000000 numbers"), "{e}");
    }

    /// Regression: a NaN score rejected the whole file; now the box carries it (verify reports it).
    #[test]
    fn a_non_finite_score_is_kept_for_the_box() {
        let (_d, p) = write("{\"frame\":0,\"detections\":[{\"bbox\":[1,2,3,4],\"score\":NaN,\"class_id\":0},{\"bbox\":[1,2,3,4],\"score\":0.5,\"class_id\":0}]}\n");
        let b = read_boxes(&p).unwrap();
        assert!(b.frames[0].detections[0].score.is_nan());
        assert_eq!(b.frames[0].detections[1].score, 0.5);
        let (_d, p) = write(r#"{"frames": {"1": {"objects": [{"bbox": [1,2,3,4], "class_id": 2, "confidence": NaN}]}}}"#);
        assert!(read_boxes(&p).unwrap().frames[0].detections[0].score.is_nan());
    }

    #[test]
    fn too_many_boxes_in_a_frame_is_an_error() {
        let one = r#"{"bbox":[1,2,3,4],"score":1,"class_id":0}"#;
        let line = format!("{{\"frame\":7,\"detections\":[{}]}}\n", vec![one; MAX_BOXES_PER_FRAME + 1].join(","));
        let (_d, p) = write(&line);
        let e = read_boxes(&p).unwrap_err().to_string();
        assert!(e.contains("line 1: 10001 boxes in one frame, more than the limit 10000"), "{e}");
    }
}
