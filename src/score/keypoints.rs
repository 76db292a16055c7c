//! The validator's keypoint score (keypoint_scoring.py): per frame, a RANSAC homography from the
//! miner's keypoints to the pitch template scaled to the frame (inlier share, mean reprojection
//! error), the keypoints' closeness to the frame's white pitch lines, the share of object centres
//! projected inside the pitch, the keypoints' spread against the players'; per continuous segment
//! (cut where most players jump), the keypoints' stability and the players' plausible movement;
//! over the clip, the players' jump consistency. Weighted 0.25 / 0.4 / 0.2 / 0.05 / 0.1, times the
//! mean of the spread ratio and the share of frames with a homography (0..100).
//!
//! The validator's own quirks are kept, since its score is what counts: the template is scaled by
//! (width / 7000, height / 12000) although its x runs to 12000; centres are tested against the
//! template's outline in centimetres; keypoint stability pairs frames in the order of their
//! numbers as text ("10" before "9"); a keypoint closer than 25 px to one kept before it is
//! dropped everywhere; only the frames to validate count (the miner's frames among them), the
//! share of them with a homography over 0.4 scales the score, and the frame-to-frame keypoint
//! consistency over the frames to validate multiplies it.
//!
//! The version followed is [`VALIDATOR`]: the next change of the validator is made here.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::pitch::segments::PitchLines;
use crate::pitch::{self, Homography};

/// The validator whose keypoint score this module computes (score-technologies/score-vision,
/// `validator/evaluation/keypoint_scoring.py`).
pub const VALIDATOR: &str = "score-vision 1791fe1 (2025-08, keypoint_scoring.py: 25 px rule, scale_valid / 0.4, scene consistency)";

/// The validator's minimum distance between two valid keypoints of a frame (pixels).
pub const MIN_DIST: f64 = 25.0;

/// One frame as the keypoint score reads it.
#[derive(Debug, Clone, Default)]
pub struct KpFrame {
    pub index: u64,
    pub keypoints: Vec<[f64; 2]>,
    /// (id, bbox, class id) of the miner's objects.
    pub objects: Vec<(Option<u64>, [f64; 4], u32)>,
}

/// Keypoints that are given (not [0, 0]) and, with a size, inside the frame, each at least
/// [`MIN_DIST`] from every one kept before it (in list order); with their indices.
pub fn valid(kps: &[[f64; 2]], size: Option<(u32, u32)>) -> (Vec<[f64; 2]>, Vec<usize>) {
    let mut out: (Vec<[f64; 2]>, Vec<usize>) = (Vec::new(), Vec::new());
    let given = kps
        .iter()
        .enumerate()
        .filter(|(_, p)| !(p[0] == 0.0 && p[1] == 0.0))
        .filter(|(_, p)| size.is_none_or(|(w, h)| p[0] >= 0.0 && p[0] < w as f64 && p[1] >= 0.0 && p[1] < h as f64));
    for (i, p) in given {
        if out.0.iter().all(|q| dist(*p, *q) >= MIN_DIST) {
            out.0.push(*p);
            out.1.push(i);
        }
    }
    out
}

/// A frame's homography: H, inlier share, mean reprojection error (the scaled template's pixels),
/// and the keypoints (by index) that are not inliers.
pub type Estimate = (Homography, f64, f64, Vec<usize>);

/// How a frame's homography is found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HomographyMethod {
    /// The validator's: OpenCV 4.x's `findHomography(RANSAC)` as it computes it (its RNG, its
    /// confidence-based stop, its sample checks; [`pitch::opencv`]). The default: the score is
    /// then what the validator pays.
    #[default]
    Opencv,
    /// fovea's own search for the largest consistent set ([`pitch::find_homography`]): what the
    /// keypoints are really worth, not what the validator pays (it can score noisy keypoints
    /// higher than the validator's luck of the draw).
    Consensus,
}

impl HomographyMethod {
    pub fn name(self) -> &'static str {
        match self {
            HomographyMethod::Opencv => "opencv",
            HomographyMethod::Consensus => "consensus",
        }
    }
}

impl std::str::FromStr for HomographyMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "opencv" => Ok(HomographyMethod::Opencv),
            "consensus" => Ok(HomographyMethod::Consensus),
            other => Err(format!("expected opencv (the validator's) or consensus (fovea's), got '{other}'")),
        }
    }
}

/// The homography of a frame's keypoints by `method`, or None with fewer than 4 valid keypoints
/// (or no model).
pub fn estimate(kps: &[[f64; 2]], w: u32, h: u32, method: HomographyMethod) -> Option<Estimate> {
    let tpl = pitch::template();
    let (sx, sy) = (w as f64 / pitch::WIDTH, h as f64 / pitch::LENGTH);
    let (pts, idx) = valid(kps, Some((w, h)));
    // Keypoints past the template's 32 have no counterpart (the validator fails on them).
    let (pts, idx): (Vec<[f64; 2]>, Vec<usize>) = pts.into_iter().zip(idx).filter(|(_, i)| *i < tpl.len()).unzip();
    if pts.len() < 4 {
        return None;
    }
    let dst: Vec<[f64; 2]> = idx.iter().map(|&i| [tpl[i][0] * sx, tpl[i][1] * sy]).collect();
    let threshold = (w as f64 * 0.01).max(12.0);
    let fit = match method {
        HomographyMethod::Opencv => pitch::opencv::find_homography(&pts, &dst, threshold)?,
        HomographyMethod::Consensus => pitch::find_homography(&pts, &dst, threshold)?,
    };
    let inliers = fit.inliers.iter().filter(|&&b| b).count() as f64 / pts.len() as f64;
    let err = pts
        .iter()
        .zip(&dst)
        .map(|(p, d)| pitch::project(&fit.h, *p).map_or(f64::INFINITY, |q| ((q[0] - d[0]).powi(2) + (q[1] - d[1]).powi(2)).sqrt()))
        .sum::<f64>()
        / pts.len() as f64;
    let outliers = idx.iter().zip(&fit.inliers).filter(|(_, &k)| !k).map(|(i, _)| *i).collect();
    Some((fit.h, inliers, err, outliers))
}

fn centre(b: &[f64; 4]) -> [f64; 2] {
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// The validator's object filter for keypoint checks: 15 x 40 at least (the ball exempt), clear
/// of the top 150 px.
fn valid_object(o: &(Option<u64>, [f64; 4], u32), w: u32) -> bool {
    let b = o.1;
    let large = o.2 == 0 || (b[2] - b[0] >= 15.0 && b[3] - b[1] >= 40.0);
    let touching = !(b[2] < 0.0 || b[0] > w as f64 || b[3] < 0.0 || b[1] > 150.0);
    large && !touching
}

/// Frame -> segment, cutting where at least half the players (class 2, by id) jumped over 20 px.
pub fn segments(frames: &[KpFrame]) -> (Vec<u64>, HashMap<u64, usize>) {
    let mut cuts = Vec::new();
    let mut seg = HashMap::new();
    let mut current = 0;
    let mut prev: HashMap<u64, [f64; 2]> = HashMap::new();
    for (i, f) in frames.iter().enumerate() {
        seg.insert(f.index, current);
        let now: HashMap<u64, [f64; 2]> = f.objects.iter().filter(|o| o.2 == 2).filter_map(|o| o.0.map(|id| (id, centre(&o.1)))).collect();
        let players = f.objects.iter().filter(|o| o.2 == 2 && o.0.is_some()).count();
        if i > 0 {
            let jumps = f
                .objects
                .iter()
                .filter(|o| o.2 == 2)
                .filter_map(|o| o.0.map(|id| (id, centre(&o.1))))
                .filter(|(id, c)| prev.get(id).is_some_and(|p| dist(*p, *c) > 20.0))
                .count();
            if players > 0 && jumps as f64 / players as f64 >= 0.5 {
                cuts.push(f.index);
                current += 1;
                seg.insert(f.index, current);
            }
        }
        prev = now;
    }
    (cuts, seg)
}

/// Per segment: keypoint stability (exp(-10 x mean relative change of the distances between
/// common keypoints, frame to frame)), 1 for a one-frame segment, 0.5 without enough data.
fn stability(frames: &[KpFrame], seg: &HashMap<u64, usize>, hs: &BTreeMap<u64, Homography>) -> HashMap<usize, f64> {
    per_segment(frames, seg, |fs| {
        let mut with_h: Vec<&KpFrame> = fs.iter().copied().filter(|f| hs.contains_key(&f.index)).collect();
        if with_h.len() < 2 {
            return 0.5;
        }
        // The validator sorts frame numbers as text.
        with_h.sort_by_key(|f| f.index.to_string());
        let mut diffs = Vec::new();
        for w in with_h.windows(2) {
            let (a, ai) = valid(&w[0].keypoints, None);
            let (b, bi) = valid(&w[1].keypoints, None);
            let common: Vec<usize> = ai.iter().copied().filter(|i| bi.contains(i)).collect();
            if common.len() < 2 {
                continue;
            }
            let pa: Vec<[f64; 2]> = common.iter().map(|i| a[ai.iter().position(|x| x == i).expect("common")]).collect();
            let pb: Vec<[f64; 2]> = common.iter().map(|i| b[bi.iter().position(|x| x == i).expect("common")]).collect();
            let mut rel = Vec::new();
            for i in 0..common.len() {
                for j in i + 1..common.len() {
                    let (dp, dc) = (dist(pa[i], pa[j]), dist(pb[i], pb[j]));
                    rel.push((dp - dc).abs() / (dp + 1e-6));
                }
            }
            diffs.push(rel.iter().sum::<f64>() / rel.len() as f64);
        }
        if diffs.is_empty() {
            0.5
        } else {
            (-10.0 * diffs.iter().sum::<f64>() / diffs.len() as f64).exp()
        }
    })
}

/// `score` of each segment's frames (in frame order); 1 for a one-frame segment.
fn per_segment(frames: &[KpFrame], seg: &HashMap<u64, usize>, score: impl Fn(&[&KpFrame]) -> f64) -> HashMap<usize, f64> {
    let mut by_seg: BTreeMap<usize, Vec<&KpFrame>> = BTreeMap::new();
    for f in frames {
        by_seg.entry(seg[&f.index]).or_default().push(f);
    }
    by_seg.into_iter().map(|(s, fs)| (s, if fs.len() < 2 { 1.0 } else { score(&fs) })).collect()
}

/// Per segment: the share of players' frame-to-frame moves (frames at most 2 apart) of 30 px or
/// less; 1 for a one-frame segment, 0.5 without moves.
fn plausibility(frames: &[KpFrame], seg: &HashMap<u64, usize>) -> HashMap<usize, f64> {
    per_segment(frames, seg, |fs| {
        let (mut bad, mut total) = (0u64, 0u64);
        let mut prev: HashMap<u64, [f64; 2]> = HashMap::new();
        for (i, f) in fs.iter().enumerate() {
            let mut now = HashMap::new();
            for o in f.objects.iter().filter(|o| o.2 == 2) {
                let Some(id) = o.0 else { continue };
                let c = centre(&o.1);
                now.insert(id, c);
                if i > 0 && f.index - fs[i - 1].index <= 2 {
                    if let Some(p) = prev.get(&id) {
                        total += 1;
                        bad += (dist(*p, c) > 30.0) as u64;
                    }
                }
            }
            prev = now;
        }
        if total > 0 {
            (1.0 - bad as f64 / total as f64).max(0.0)
        } else {
            0.5
        }
    })
}

/// The players' jump consistency (0..100): per id, jumps of at most 2 px or over 10 px count 1,
/// between them 0.5.
fn player_score(frames: &[KpFrame]) -> f64 {
    let mut tracks: HashMap<u64, Vec<(u64, [f64; 2])>> = HashMap::new();
    for f in frames {
        for o in f.objects.iter().filter(|o| o.2 == 2) {
            if let Some(id) = o.0 {
                tracks.entry(id).or_default().push((f.index, centre(&o.1)));
            }
        }
    }
    let (mut total, mut n) = (0.0, 0u64);
    for t in tracks.values_mut() {
        t.sort_by_key(|p| p.0);
        for w in t.windows(2) {
            let j = dist(w[0].1, w[1].1);
            total += if j <= 2.0 || j > 10.0 { 1.0 } else { 0.5 };
            n += 1;
        }
    }
    if n > 0 {
        total / n as f64 * 100.0
    } else {
        0.0
    }
}

/// The closeness score of a frame's keypoints to its line segments: the logistic of their mean
/// normalised distance to the nearest segment (centre 0.02, scale 0.0037); 0.5 without valid
/// keypoints, 0 without segments.
pub fn on_line_score(kps: &[[f64; 2]], lines: &PitchLines) -> f64 {
    let (pts, _) = valid(kps, Some((lines.width, lines.height)));
    if pts.is_empty() {
        return 0.5;
    }
    let Some(total) = pts.iter().map(|p| lines.distance(p[0], p[1])).sum::<Option<f64>>() else {
        return 0.0;
    };
    let mean = total / pts.len() as f64;
    1.0 / (1.0 + ((mean - 0.02) / 0.0037).exp())
}

/// One frame's keypoint measures.
#[derive(Debug, Clone, Serialize)]
pub struct FrameKeypoints {
    pub frame: u64,
    pub valid: usize,
    pub inlier_ratio: f64,
    /// Keypoints (indices into the frame's list) the homography does not fit.
    pub outliers: Vec<usize>,
    pub reprojection_error: f64,
    pub keypoint_score: f64,
    /// None where the frame's lines were not measured.
    pub on_line: Option<f64>,
    /// The pitch-line segments the validator would find in the frame ([x1, y1, x2, y2] pixels;
    /// empty where not measured).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub line_segments: Vec<[i32; 4]>,
    pub inside: f64,
    pub scale_ratio: f64,
    pub segment: usize,
    /// Given keypoints dropped (outside the frame, or closer than 25 px to one kept before
    /// them: the validator drops them before everything else).
    pub crowded: usize,
}

/// The clip's keypoint score and what went into it.
#[derive(Debug, Clone, Serialize)]
pub struct KeypointScore {
    /// The validator version this score follows ([`VALIDATOR`]).
    pub validator: &'static str,
    /// Whose homography: `opencv` (the validator's, the default) or `consensus` (fovea's).
    pub homography: HomographyMethod,
    /// The frames to validate (every frame of the video unless the validator's list was given),
    /// and the miner's frames among them (`frames`).
    pub frames_to_validate: usize,
    /// The frame-to-frame keypoint consistency factor (multiplies the score).
    pub consistency: f64,
    pub frames: usize,
    pub with_homography: usize,
    pub keypoint_score: f64,
    pub on_line: f64,
    pub lines_frames: usize,
    pub inside: f64,
    pub stability: f64,
    pub plausibility: f64,
    pub player_score: f64,
    pub scale: f64,
    pub scale_valid: f64,
    pub transitions: usize,
    /// The final score, 0..100.
    pub score: f64,
    pub per_frame: Vec<FrameKeypoints>,
}

/// The frame-to-frame keypoint consistency over the frames to validate
/// (`compute_scene_keypoint_consistency`): runs of consecutive frame numbers are scenes; a
/// scene's first frame scores 1; any other frame 0 when it or its predecessor is not in the file
/// or does not hold 32 keypoints, 1 when both hold no keypoint at all, 0 when they share no valid
/// keypoint, else the logistic (centre 0.02, scale 0.0037) of the mean move of their common
/// valid keypoints over the frame's diagonal. The scenes' means weighted by their lengths; 1
/// without frames.
pub fn consistency(frames: &BTreeMap<u64, &KpFrame>, validate: &BTreeSet<u64>, w: u32, h: u32) -> f64 {
    let diag = (w as f64).hypot(h as f64);
    let (mut sum, mut n) = (0.0, 0usize);
    let mut prev: Option<u64> = None;
    for &id in validate {
        let score = match prev {
            Some(p) if p + 1 == id => match (frames.get(&p), frames.get(&id)) {
                (Some(a), Some(b)) if a.keypoints.len() == 32 && b.keypoints.len() == 32 => {
                    let zero = |f: &KpFrame| f.keypoints.iter().all(|k| k[0] == 0.0 && k[1] == 0.0);
                    if zero(a) && zero(b) {
                        1.0
                    } else {
                        let (ka, ia) = valid(&a.keypoints, Some((w, h)));
                        let (kb, ib) = valid(&b.keypoints, Some((w, h)));
                        let moves: Vec<f64> =
                            ia.iter().enumerate().filter_map(|(x, i)| ib.iter().position(|j| j == i).map(|y| dist(kb[y], ka[x]))).collect();
                        if moves.is_empty() {
                            0.0
                        } else {
                            let d = moves.iter().sum::<f64>() / moves.len() as f64 / diag;
                            1.0 / (1.0 + ((d - 0.02) / 0.0037).exp())
                        }
                    }
                }
                _ => 0.0,
            },
            _ => 1.0,
        };
        sum += score;
        n += 1;
        prev = Some(id);
    }
    // Scenes weighted by their lengths: the mean over all frames.
    if n == 0 {
        1.0
    } else {
        sum / n as f64
    }
}

/// Scores the miner's `frames` (in frame order) of a `w x h` video on the frames to validate
/// (`validate`; the validator's pitch filter chooses them, fovea takes every frame of the video
/// unless given the list); `lines`: the frames whose pitch lines were measured.
pub fn score(
    frames: &[KpFrame],
    w: u32,
    h: u32,
    lines: &BTreeMap<u64, PitchLines>,
    validate: &BTreeSet<u64>,
    method: HomographyMethod,
) -> KeypointScore {
    let frames: Vec<KpFrame> = frames.iter().filter(|f| validate.contains(&f.index)).cloned().collect();
    let frames = &frames[..];
    let (cuts, seg) = segments(frames);
    let by_index: BTreeMap<u64, &KpFrame> = frames.iter().map(|f| (f.index, f)).collect();
    let consistency = consistency(&by_index, validate, w, h);
    let estimates: BTreeMap<u64, Estimate> =
        frames.iter().filter_map(|f| estimate(&f.keypoints, w, h, method).map(|e| (f.index, e))).collect();
    let hs: BTreeMap<u64, Homography> = estimates.iter().map(|(k, v)| (*k, v.0)).collect();
    let stab = stability(frames, &seg, &hs);
    let plaus = plausibility(frames, &seg);
    let outline = [[0.0, 0.0], [0.0, pitch::WIDTH], [pitch::LENGTH, pitch::WIDTH], [pitch::LENGTH, 0.0]];
    let mut per_frame = Vec::new();
    for f in frames {
        let Some((hm, inl, err, outliers)) = estimates.get(&f.index) else { continue };
        let (kps, _) = valid(&f.keypoints, Some((w, h)));
        let objects: Vec<&(Option<u64>, [f64; 4], u32)> = f.objects.iter().filter(|o| valid_object(o, w)).collect();
        let centres: Vec<[f64; 2]> = objects.iter().map(|o| centre(&o.1)).collect();
        let inside = if centres.is_empty() {
            0.0
        } else {
            // The validator projects in float32.
            centres
                .iter()
                .filter(|c| {
                    pitch::project(hm, **c).is_some_and(|p| pitch::inside_polygon(&outline, [p[0] as f32 as f64, p[1] as f32 as f64]))
                })
                .count() as f64
                / centres.len() as f64
        };
        let mean_pair = |p: &[[f64; 2]]| {
            let mut s = Vec::new();
            for i in 0..p.len() {
                for j in i + 1..p.len() {
                    s.push(dist(p[i], p[j]));
                }
            }
            s.iter().sum::<f64>() / s.len().max(1) as f64
        };
        let ratio = if kps.len() < 2 || centres.len() < 2 { 1.0 } else { mean_pair(&kps) / (mean_pair(&centres) + 1e-6) };
        let given = f.keypoints.iter().filter(|p| !(p[0] == 0.0 && p[1] == 0.0)).count();
        per_frame.push(FrameKeypoints {
            frame: f.index,
            valid: kps.len(),
            inlier_ratio: *inl,
            outliers: outliers.clone(),
            reprojection_error: *err,
            keypoint_score: ((inl * 100.0).min(100.0) + (100.0 - err).max(0.0)) / 2.0,
            on_line: lines.get(&f.index).map(|l| on_line_score(&f.keypoints, l)),
            line_segments: lines.get(&f.index).map(|l| l.segments.clone()).unwrap_or_default(),
            inside,
            scale_ratio: ratio.min(1.5),
            segment: seg[&f.index],
            crowded: given.saturating_sub(kps.len()),
        });
    }
    let n = per_frame.len();
    let mean = |v: Vec<f64>, empty: f64| if v.is_empty() { empty } else { v.iter().sum::<f64>() / v.len() as f64 };
    // Frames with a homography whose lines were not measured (fovea measures a sample,
    // `--line-frames`) do not count; with none measured at all the closeness is taken as 1 (the
    // report's `lines_frames` says 0). Without any homography every part is 0, as the validator's.
    let on_line = if n == 0 { 0.0 } else { mean(per_frame.iter().filter_map(|f| f.on_line).collect(), 1.0) };
    let inside = mean(per_frame.iter().map(|f| f.inside).collect(), 0.0);
    let scale = mean(per_frame.iter().map(|f| f.scale_ratio).collect(), 0.0).min(1.0);
    let scale_valid = if validate.is_empty() { 0.0 } else { (n as f64 / validate.len() as f64 / 0.4).clamp(0.0, 1.0) };
    let kp = mean(per_frame.iter().map(|f| f.keypoint_score).collect(), 0.0);
    let stability = mean(per_frame.iter().map(|f| stab[&f.segment]).collect(), 0.0);
    let plausibility = mean(per_frame.iter().map(|f| plaus[&f.segment]).collect(), 0.0);
    let players = player_score(frames);
    let final_score = (0.25 * kp
        + 0.4 * on_line * 100.0
        + 0.2 * inside * 100.0
        + 0.05 * stability * 100.0
        + 0.1 * (plausibility * 100.0 + players) / 2.0)
        * consistency
        * (scale + scale_valid)
        / 2.0;
    // The validator fails (and scores 0) when there is no frame to validate.
    let final_score = if validate.is_empty() { 0.0 } else { final_score };
    KeypointScore {
        validator: VALIDATOR,
        homography: method,
        frames_to_validate: validate.len(),
        consistency,
        frames: frames.len(),
        with_homography: n,
        keypoint_score: kp,
        on_line,
        lines_frames: per_frame.iter().filter(|f| f.on_line.is_some()).count(),
        inside,
        stability,
        plausibility,
        player_score: players,
        scale,
        scale_valid,
        transitions: cuts.len(),
        score: final_score,
        per_frame,
    }
}
