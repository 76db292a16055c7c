//! Reading boxes made elsewhere: fovea's JSONL or a Score Vision miner file. Used by
//! `fovea track` (and later `fovea verify`) for users who run their own detector.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

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

/// A frame's `keypoints`: `[[x, y], ...]` or `[x1, y1, x2, y2, ...]`.
fn keypoints_of(path: &Path, v: &Value, at: &str) -> Result<Vec<[f64; 2]>> {
    let arr = v.as_array().ok_or_else(|| bad(path, format!("{at}: \"keypoints\" is not an array")))?;
    let num = |x: &Value, k: usize| -> Result<f64> {
        // Keypoints are read at full precision: the validator's arithmetic is float64.
        x.as_f64()
            .or_else(|| coordinate(x).map(f64::from))
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad(path, format!("{at}: \"keypoints\"[{k}] is not a finite number")))
    };
    let pts: Vec<[f64; 2]> = if arr.iter().all(Value::is_array) {
        arr.iter()
            .enumerate()
            .map(|(k, p)| match p.as_array().map(Vec::as_slice) {
                Some([x, y]) => Ok([num(x, k)?, num(y, k)?]),
                _ => Err(bad(path, format!("{at}: \"keypoints\"[{k}] is not an [x, y] pair"))),
            })
            .collect::<Result<_>>()?
    } else {
        if arr.len() % 2 != 0 {
            return Err(bad(path, format!("{at}: \"keypoints\" has {} numbers, expected x, y pairs", arr.len())));
        }
        arr.chunks(2).enumerate().map(|(k, c)| Ok([num(&c[0], 2 * k)?, num(&c[1], 2 * k + 1)?])).collect::<Result<_>>()?
    };
    if pts.len() > MAX_KEYPOINTS_PER_FRAME {
        return Err(bad(path, format!("{at}: {} keypoints, more than the limit {MAX_KEYPOINTS_PER_FRAME}", pts.len())));
    }
    Ok(pts)
}

fn bad(path: &Path, reason: String) -> Error {
    Error::Input { path: path.to_path_buf(), reason }
}

/// Reads `path`: a Score Vision file (one JSON object with `frames`) or fovea's JSONL.
pub fn read_boxes(path: &Path) -> Result<BoxesFile> {
    if !path.exists() {
        return Err(Error::FileNotFound { path: path.to_path_buf() });
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    let text = quote_non_finite(&text);
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v.get("frames").is_some() => read_scorevision(path, &v),
        _ => read_jsonl(path, &text),
    }
}

/// Python's `json` writes NaN and infinities as the bare tokens `NaN`, `Infinity` and
/// `-Infinity`, which are not JSON. They are quoted here (outside strings) so that the file parses
/// and the boxes carrying them can be reported one by one instead of failing the whole file.
fn quote_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_str, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if let Some(tok) = ["-Infinity", "Infinity", "NaN"].into_iter().find(|t| rest.starts_with(t)) {
            out.push('"');
            out.push_str(tok);
            out.push('"');
            rest = &rest[tok.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.into()
}

fn coordinate(x: &Value) -> Option<f32> {
    match x {
        Value::String(s) if s == "NaN" => Some(f32::NAN),
        Value::String(s) if s == "Infinity" => Some(f32::INFINITY),
        Value::String(s) if s == "-Infinity" => Some(f32::NEG_INFINITY),
        _ => x.as_f64().map(|v| v as f32),
    }
}

fn bbox_of(path: &Path, v: Option<&Value>, at: &str) -> Result<[f32; 4]> {
    let arr = v.and_then(|b| b.as_array()).ok_or_else(|| bad(path, format!("{at}: \"bbox\" missing or not an array")))?;
    if arr.len() != 4 {
        return Err(bad(path, format!("{at}: \"bbox\" has {} numbers, expected 4 [x1, y1, x2, y2]", arr.len())));
    }
    let mut b = [0.0f32; 4];
    for (k, x) in arr.iter().enumerate() {
        b[k] = coordinate(x).ok_or_else(|| bad(path, format!("{at}: \"bbox\"[{k}] is not a number")))?;
    }
    Ok(b)
}

fn class_id_of(path: &Path, v: Option<&Value>, at: &str) -> Result<u32> {
    let id = v.and_then(Value::as_u64).ok_or_else(|| bad(path, format!("{at}: \"class_id\" missing or not a non-negative integer")))?;
    if id > MAX_CLASS_ID {
        return Err(bad(path, format!("{at}: \"class_id\" {id} is larger than the limit {MAX_CLASS_ID}")));
    }
    Ok(id as u32)
}

/// A box's score: a number, or one of Python's non-finite tokens (reported per box later, never
/// fatal for the file).
fn score_of(path: &Path, v: Option<&Value>, at: &str) -> Result<f32> {
    v.and_then(coordinate).ok_or_else(|| bad(path, format!("{at}: \"score\" missing or not a number")))
}

fn check_count(path: &Path, n: usize, at: &str) -> Result<()> {
    if n > MAX_BOXES_PER_FRAME {
        return Err(bad(path, format!("{at}: {n} boxes in one frame, more than the limit {MAX_BOXES_PER_FRAME}")));
    }
    Ok(())
}

fn read_jsonl(path: &Path, text: &str) -> Result<BoxesFile> {
    let mut frames = Vec::new();
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    let mut timing = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let ln = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| bad(path, format!("line {ln}: not JSON ({e})")))?;
        let index = v
            .get("frame")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(path, format!("line {ln}: \"frame\" missing or not a non-negative integer")))?;
        let pts = v.get("pts").and_then(Value::as_f64);
        if let Some(p) = pts {
            timing.push((index, p));
        }
        let dets = v
            .get("detections")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(path, format!("line {ln}: \"detections\" missing or not an array")))?;
        check_count(path, dets.len(), &format!("line {ln}"))?;
        let mut out = Vec::with_capacity(dets.len());
        for (k, d) in dets.iter().enumerate() {
            let at = format!("line {ln}, detection {k}");
            let bbox = bbox_of(path, d.get("bbox"), &at)?;
            let score = score_of(path, d.get("score"), &at)?;
            let class_id = class_id_of(path, d.get("class_id"), &at)?;
            if let Some(l) = d.get("label").and_then(Value::as_str) {
                names.entry(class_id).or_insert_with(|| l.to_string());
            }
            out.push(Detection { bbox, score, class_id });
        }
        frames.push(FrameResult::untracked(index, pts.unwrap_or(0.0), out));
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

fn read_scorevision(path: &Path, v: &Value) -> Result<BoxesFile> {
    let frames_v = v["frames"].as_object().ok_or_else(|| bad(path, "\"frames\" is not an object of frame number -> frame".into()))?;
    let mut frames = Vec::with_capacity(frames_v.len());
    let mut keys: BTreeMap<u64, &str> = BTreeMap::new();
    let mut keypoints = BTreeMap::new();
    for (key, f) in frames_v {
        let index: u64 = key.parse().map_err(|_| bad(path, format!("frames key \"{key}\" is not a frame number")))?;
        if let Some(other) = keys.insert(index, key) {
            return Err(bad(path, format!("frames keys \"{other}\" and \"{key}\" name the same frame {index}")));
        }
        let objs = match f.get("objects") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(bad(path, format!("frames.{key}.objects is not an array"))),
        };
        check_count(path, objs.len(), &format!("frames.{key}.objects"))?;
        let mut dets = Vec::with_capacity(objs.len());
        let mut ids = Vec::with_capacity(objs.len());
        for (k, o) in objs.iter().enumerate() {
            let at = format!("frames.{key}.objects[{k}]");
            let bbox = bbox_of(path, o.get("bbox"), &at)?;
            let class_id = class_id_of(path, o.get("class_id"), &at)?;
            // Miner files carry no score; a "confidence" or "score" field is used when present.
            let score = match o.get("confidence").or_else(|| o.get("score")) {
                None | Some(Value::Null) => 1.0,
                v => score_of(path, v, &at)?,
            };
            dets.push(Detection { bbox, score, class_id });
            ids.push(o.get("id").and_then(Value::as_u64));
        }
        let mut fr = FrameResult::untracked(index, 0.0, dets);
        fr.track_ids = ids;
        frames.push(fr);
        match f.get("keypoints") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let k = keypoints_of(path, v, &format!("frames.{key}"))?;
                if !k.is_empty() {
                    keypoints.insert(index, k);
                }
            }
        }
    }
    frames.sort_by_key(|f| f.index);
    let max_class = frames.iter().flat_map(|f| f.detections.iter().map(|d| d.class_id)).max().unwrap_or(3);
    let labels = (0..=max_class.max(3))
        .map(|c| SCOREVISION_LABELS.get(c as usize).map_or_else(|| format!("class_{c}"), |s| s.to_string()))
        .collect();
    Ok(BoxesFile { format: BoxesFormat::ScoreVision, frames, labels, fps: None, keypoints })
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
        assert_eq!(b.frames[1].detections[0], Detection { bbox: [1., 2., 30., 40.], score: 1.0, class_id: 2 });
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
