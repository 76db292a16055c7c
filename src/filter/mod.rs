//! Rules that reject obvious false positives before any classifier sees them: geometry (size,
//! area, aspect, screen zones, too large), colour (grass, dark) and duplicates.
//!
//! ```text
//! box + colour statistics ──▶ rules, cheapest first ──▶ keep | reject (rule, measured value, limit)
//! ```
//! A rule set is data (TOML, see filter/scorevision.toml): every rule is optional, applies to the
//! classes it names (`classes`, empty = all) except those it exempts (`exempt`), and its verdict
//! names the rule, the value measured and the limit it crossed.
#![forbid(unsafe_code)]

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::image::{ChannelOrder, Fit};
use crate::roi::{ColourStats, RoiDtype, RoiSpec, StatsConfig};

/// The Score Vision validator's rules and ROI settings (filter/scorevision.toml).
pub const SCOREVISION: &str = include_str!("../../filter/scorevision.toml");
/// The Score Vision validator's own box rules, exactly (filter/scorevision-validator.toml).
pub const SCOREVISION_VALIDATOR: &str = include_str!("../../filter/scorevision-validator.toml");

/// Which classes a rule looks at.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Only these labels (empty: every label).
    #[serde(default)]
    pub classes: Vec<String>,
    /// Never these labels.
    #[serde(default)]
    pub exempt: Vec<String>,
}

impl Scope {
    pub fn applies(&self, label: &str) -> bool {
        (self.classes.is_empty() || self.classes.iter().any(|c| c == label)) && !self.exempt.iter().any(|c| c == label)
    }
}

macro_rules! rule {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            #[serde(default)]
            pub classes: Vec<String>,
            #[serde(default)]
            pub exempt: Vec<String>,
        }
        impl $name {
            pub fn scope(&self) -> Scope {
                Scope { classes: self.classes.clone(), exempt: self.exempt.clone() }
            }
        }
    };
}

rule!(
    /// Smaller than `width x height` pixels on either side.
    MinSize { width: f32, height: f32 }
);
rule!(
    /// Area (pixels) outside `[min, max]`.
    Area { #[serde(default)] min: Option<f32>, #[serde(default)] max: Option<f32> }
);
rule!(
    /// Height / width outside `[min, max]`.
    Aspect { #[serde(default)] min: Option<f32>, #[serde(default)] max: Option<f32> }
);
rule!(
    /// Box area above this fraction of the frame's.
    TooLarge { max_frame_fraction: f32 }
);
rule!(
    /// A screen zone, as fractions of the frame `[x1, y1, x2, y2]`: a box with at least
    /// `min_overlap` of its area inside is rejected (scoreboards, the crowd band).
    Zone { name: String, rect: [f32; 4], #[serde(default = "half")] min_overlap: f32 }
);
rule!(
    /// Grass: at least `min_green_fraction` of the pixels in the HSV green range and green
    /// dominance at least `min_green_dominance`.
    Grass { min_green_fraction: f32, min_green_dominance: f32 }
);
rule!(
    /// Dark or shadow: at least `min_dark_fraction` of the pixels dark, or brightness below
    /// `max_brightness`.
    Dark { #[serde(default)] min_dark_fraction: Option<f32>, #[serde(default)] max_brightness: Option<f32> }
);
rule!(
    /// Any box reaching into the top `height` pixels (its top edge at or above that row, over
    /// the full width): the Score Vision validator's scoreboard band. With `min_frame_height`,
    /// only in frames at least that tall (the validator's band is meant for broadcast frames).
    TopBand { height: f32, #[serde(default)] min_frame_height: Option<f32> }
);
rule!(
    /// Per frame, only the first `max` boxes of each label the rule applies to (in input order,
    /// among those the per-box rules kept) survive: the validator scores only its first ball.
    FirstOnly { #[serde(default = "one")] max: u32 }
);
rule!(
    /// A box around several objects: it holds at least `contains` other kept boxes (each at
    /// least `min_inside` of its area inside it, and each smaller than `max_part` of its area).
    Oversized {
        contains: u32,
        #[serde(default = "seven_tenths")] min_inside: f32,
        #[serde(default = "half")] max_part: f32
    }
);
rule!(
    /// A second box of the same class on one object already kept (higher score first): IoU above
    /// `iou`; or, with `near_iou`, a near copy: IoU above `near_iou`, both sides within
    /// `size_ratio` of each other and mean colours within `colour_distance` (RGB units); or, with
    /// `containment`, a box of similar size (`size_ratio`) lying that much inside the kept one; or,
    /// with `same_id`, a second box carrying the kept one's id.
    Duplicate {
        iou: f32,
        #[serde(default)] near_iou: Option<f32>,
        #[serde(default = "size_ratio")] size_ratio: f32,
        #[serde(default = "colour_distance")] colour_distance: f32,
        #[serde(default)] containment: Option<f32>,
        #[serde(default)] same_id: bool
    }
);

fn half() -> f32 {
    0.5
}

fn seven_tenths() -> f32 {
    0.7
}

fn one() -> u32 {
    1
}

fn size_ratio() -> f32 {
    0.75
}

fn colour_distance() -> f32 {
    20.0
}

/// A rule set. Rules run in this order and the first that fires decides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub min_size: Option<MinSize>,
    pub area: Option<Area>,
    pub aspect: Option<Aspect>,
    pub too_large: Option<TooLarge>,
    pub top_band: Option<TopBand>,
    #[serde(default)]
    pub zones: Vec<Zone>,
    pub grass: Option<Grass>,
    pub dark: Option<Dark>,
    pub first_only: Option<FirstOnly>,
    pub oversized: Option<Oversized>,
    pub duplicate: Option<Duplicate>,
}

/// The ROI stage's settings in a rule file.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoiConfig {
    pub size: u32,
    /// Tensor channel order, "rgb" or "bgr" (frames are decoded as RGB).
    pub channels: ChannelOrder,
    /// Pixel units, in the tensor's channel order.
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Letterbox inside the ROI with this padding value (0..255); absent: stretch.
    pub letterbox: Option<u8>,
    pub float16: bool,
    /// Context expansion per label, e.g. `{ football = 4.0 }`.
    pub expand: std::collections::BTreeMap<String, f32>,
    /// Cut ROIs as the Score Vision validator does: each box's ROI from the frame with the boxes
    /// before it (input order; the boxes the rules did not drop) blacked out, and expanded crops
    /// (the ball's) with all of them blacked out. CPU only.
    pub blackout: bool,
}

impl Default for RoiConfig {
    fn default() -> Self {
        let s = RoiSpec::default();
        Self {
            size: s.size,
            channels: ChannelOrder::Rgb,
            mean: s.mean,
            std: s.std,
            letterbox: None,
            float16: false,
            expand: Default::default(),
            blackout: false,
        }
    }
}

impl RoiConfig {
    pub fn spec(&self) -> RoiSpec {
        RoiSpec {
            size: self.size,
            mean: self.mean,
            std: self.std,
            fit: self.letterbox.map_or(Fit::Stretch, |pad| Fit::Letterbox { pad }),
            dtype: if self.float16 { RoiDtype::F16 } else { RoiDtype::F32 },
            swap_rb: self.channels == ChannelOrder::Bgr,
        }
    }

    pub fn expansion(&self, label: &str) -> f32 {
        self.expand.get(label).copied().unwrap_or(1.0)
    }
}

/// A whole rule file: ROI settings, colour statistics settings, rules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default)]
    pub roi: RoiConfig,
    #[serde(default)]
    pub stats: StatsConfig,
    #[serde(default)]
    pub rules: Rules,
}

impl FilterConfig {
    /// Parses rule-file text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let c: FilterConfig = toml::from_str(text).map_err(|e| Error::Manifest { path: origin.to_path_buf(), reason: e.to_string() })?;
        c.validate(origin)?;
        Ok(c)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::error::read_config(path)?;
        Self::parse(&text, path)
    }

    /// The built-in Score Vision rule set (the validator's rules and fovea's broader checks).
    pub fn scorevision() -> Self {
        Self::parse(SCOREVISION, Path::new("filter/scorevision.toml")).expect("the built-in rule file is valid")
    }

    /// The Score Vision validator's rules exactly: what `fovea score` applies.
    pub fn scorevision_validator() -> Self {
        Self::parse(SCOREVISION_VALIDATOR, Path::new("filter/scorevision-validator.toml")).expect("the built-in rule file is valid")
    }

    /// Whether any rule reads the colour statistics (else the rules need only the boxes).
    pub fn reads_pixels(&self) -> bool {
        let r = &self.rules;
        r.grass.is_some() || r.dark.is_some() || r.duplicate.as_ref().is_some_and(|d| d.near_iou.is_some())
    }

    fn validate(&self, origin: &Path) -> Result<()> {
        let bad = |reason: String| Err(Error::Manifest { path: origin.to_path_buf(), reason });
        if !(1..=crate::roi::MAX_ROI_SIZE).contains(&self.roi.size) {
            return bad(format!("roi.size must be within 1..={}, got {}", crate::roi::MAX_ROI_SIZE, self.roi.size));
        }
        if self.roi.std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return bad(format!("roi.std must be positive, got {:?}", self.roi.std));
        }
        for (label, e) in &self.roi.expand {
            if !(e.is_finite() && *e > 0.0) {
                return bad(format!("roi.expand.{label} must be > 0, got {e}"));
            }
        }
        let (lo, hi) = (self.stats.green_lower, self.stats.green_upper);
        if lo[0] > 180 || hi[0] > 180 || lo.iter().chain(hi.iter()).any(|v| *v > 255) || (0..3).any(|c| lo[c] > hi[c]) {
            return bad(format!(
                "stats.green_lower/green_upper must be OpenCV HSV (H 0..180, S, V 0..255), lower <= upper; got {lo:?}..{hi:?}"
            ));
        }
        for z in &self.rules.zones {
            let [x1, y1, x2, y2] = z.rect;
            if !(x1 >= 0.0 && y1 >= 0.0 && x1 < x2 && y1 < y2 && x2 <= 1.0 && y2 <= 1.0) {
                return bad(format!("rules.zones \"{}\": rect must be fractions of the frame [x1, y1, x2, y2], got {:?}", z.name, z.rect));
            }
        }
        let unit = |name: &str, v: f32| if (0.0..=1.0).contains(&v) { Ok(()) } else { bad(format!("{name} must be within 0..1, got {v}")) };
        if let Some(d) = &self.rules.duplicate {
            unit("rules.duplicate.iou", d.iou)?;
            unit("rules.duplicate.size_ratio", d.size_ratio)?;
            if let Some(v) = d.near_iou {
                unit("rules.duplicate.near_iou", v)?;
            }
            if let Some(v) = d.containment {
                unit("rules.duplicate.containment", v)?;
            }
            if !(d.colour_distance.is_finite() && d.colour_distance >= 0.0) {
                return bad(format!("rules.duplicate.colour_distance must be >= 0, got {}", d.colour_distance));
            }
        }
        if let Some(o) = &self.rules.oversized {
            unit("rules.oversized.min_inside", o.min_inside)?;
            unit("rules.oversized.max_part", o.max_part)?;
            if o.contains < 2 {
                return bad(format!("rules.oversized.contains must be at least 2, got {}", o.contains));
            }
        }
        if let Some(t) = &self.rules.top_band {
            if !(t.height.is_finite() && t.height >= 0.0) {
                return bad(format!("rules.top_band.height must be >= 0 pixels, got {}", t.height));
            }
        }
        if let Some(f) = &self.rules.first_only {
            if f.max == 0 {
                return bad("rules.first_only.max must be at least 1".into());
            }
        }
        Ok(())
    }
}

/// What the rules decided about one box.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    /// None: kept. Otherwise the rule that fired, e.g. "grass", "zone:scoreboard_left".
    pub rule: Option<String>,
    /// The value the rule measured, and the limit it crossed.
    pub value: Option<f32>,
    pub limit: Option<f32>,
}

impl RuleOutcome {
    pub fn keep() -> Self {
        Self { rule: None, value: None, limit: None }
    }

    fn reject(rule: impl Into<String>, value: f32, limit: f32) -> Self {
        Self { rule: Some(rule.into()), value: Some(value), limit: Some(limit) }
    }

    pub fn kept(&self) -> bool {
        self.rule.is_none()
    }
}

/// One box as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The box clamped to the frame.
    pub bbox: [f32; 4],
    /// The box as given (possibly partly outside the frame): the size rule and the top band read
    /// it, as the Score Vision validator does.
    pub raw: [f32; 4],
    pub score: f32,
    pub label: &'a str,
    pub stats: &'a ColourStats,
    /// The object's id from the input (a miner's `id`, a track), if any.
    pub id: Option<u64>,
}

impl Rules {
    /// The rules for one box alone (everything but duplicates), in a `width x height` frame.
    /// The box is assumed finite and non-empty (clamped to the frame by the caller); the size
    /// rule and the top band read the box as given (`raw`), as the validator does.
    pub fn check(&self, c: &Candidate, width: u32, height: u32) -> RuleOutcome {
        let [x1, y1, x2, y2] = c.bbox;
        let (w, h) = (x2 - x1, y2 - y1);
        let area = w * h;
        let l = c.label;
        let [rx1, ry1, rx2, ry2] = c.raw;
        if let Some(r) = self.min_size.as_ref().filter(|r| r.scope().applies(l)) {
            let (rw, rh) = (rx2 - rx1, ry2 - ry1);
            if rw < r.width {
                return RuleOutcome::reject("min_size:width", rw, r.width);
            }
            if rh < r.height {
                return RuleOutcome::reject("min_size:height", rh, r.height);
            }
        }
        if let Some(r) = self.area.as_ref().filter(|r| r.scope().applies(l)) {
            if let Some(m) = r.min.filter(|m| area < *m) {
                return RuleOutcome::reject("area:min", area, m);
            }
            if let Some(m) = r.max.filter(|m| area > *m) {
                return RuleOutcome::reject("area:max", area, m);
            }
        }
        if let Some(r) = self.aspect.as_ref().filter(|r| r.scope().applies(l)) {
            let a = h / w;
            if let Some(m) = r.min.filter(|m| a < *m) {
                return RuleOutcome::reject("aspect:min", a, m);
            }
            if let Some(m) = r.max.filter(|m| a > *m) {
                return RuleOutcome::reject("aspect:max", a, m);
            }
        }
        if let Some(r) = self.too_large.as_ref().filter(|r| r.scope().applies(l)) {
            let f = area / (width as f32 * height as f32);
            if f > r.max_frame_fraction {
                return RuleOutcome::reject("too_large", f, r.max_frame_fraction);
            }
        }
        if let Some(r) = self.top_band.as_ref().filter(|r| r.scope().applies(l) && r.min_frame_height.is_none_or(|m| height as f32 >= m)) {
            // The validator's test on the box as given: it meets the band [0, width] x [0, height].
            if !(rx2 < 0.0 || rx1 > width as f32 || ry2 < 0.0 || ry1 > r.height) {
                return RuleOutcome::reject("top_band", ry1, r.height);
            }
        }
        for z in self.zones.iter().filter(|z| z.scope().applies(l)) {
            let (fw, fh) = (width as f32, height as f32);
            let zr = [z.rect[0] * fw, z.rect[1] * fh, z.rect[2] * fw, z.rect[3] * fh];
            let iw = (x2.min(zr[2]) - x1.max(zr[0])).max(0.0);
            let ih = (y2.min(zr[3]) - y1.max(zr[1])).max(0.0);
            let inside = if area > 0.0 { iw * ih / area } else { 0.0 };
            if inside >= z.min_overlap {
                return RuleOutcome::reject(format!("zone:{}", z.name), inside, z.min_overlap);
            }
        }
        let s = c.stats;
        if let Some(r) = self.grass.as_ref().filter(|r| r.scope().applies(l)) {
            if s.green_fraction >= r.min_green_fraction && s.green_dominance >= r.min_green_dominance {
                return RuleOutcome::reject("grass", s.green_fraction, r.min_green_fraction);
            }
        }
        if let Some(r) = self.dark.as_ref().filter(|r| r.scope().applies(l)) {
            if let Some(m) = r.min_dark_fraction.filter(|m| s.dark_fraction >= *m) {
                return RuleOutcome::reject("dark", s.dark_fraction, m);
            }
            if let Some(m) = r.max_brightness.filter(|m| s.brightness < *m) {
                return RuleOutcome::reject("dark:brightness", s.brightness, m);
            }
        }
        RuleOutcome::keep()
    }

    /// The rules for every box of one frame: per box, then the first-only limit (input order),
    /// then boxes around several others, then duplicates among the kept ones (higher score first;
    /// ties by order). A box is a duplicate of the first kept box (in the order they were kept)
    /// of its label that it matches. Kept boxes are found through a grid over the frame, so a
    /// frame of many boxes costs about linear time.
    pub fn check_frame(&self, boxes: &[Candidate], width: u32, height: u32) -> Vec<RuleOutcome> {
        let mut v: Vec<RuleOutcome> = boxes.iter().map(|c| self.check(c, width, height)).collect();
        if let Some(f) = &self.first_only {
            let mut seen: std::collections::HashMap<&str, u32> = Default::default();
            for (i, b) in boxes.iter().enumerate() {
                if !(v[i].kept() && f.scope().applies(b.label)) {
                    continue;
                }
                let n = seen.entry(b.label).or_default();
                *n += 1;
                if *n > f.max {
                    v[i] = RuleOutcome::reject("first_only", *n as f32, f.max as f32);
                }
            }
        }
        if let Some(o) = &self.oversized {
            self.oversized(o, boxes, &mut v);
        }
        if let Some(d) = &self.duplicate {
            let mut order: Vec<usize> = (0..boxes.len()).filter(|&i| v[i].kept() && d.scope().applies(boxes[i].label)).collect();
            order.sort_by(|&a, &b| boxes[b].score.total_cmp(&boxes[a].score).then(a.cmp(&b)));
            let mut kept = KeptGrid::new(order.iter().map(|&i| boxes[i].bbox));
            for i in order {
                let b = &boxes[i];
                let first = kept.first_match(&b.bbox, |k| duplicate_of(d, b, &boxes[k]));
                match first {
                    Some((rule, value, limit)) => v[i] = RuleOutcome::reject(rule, value, limit),
                    None => kept.insert(i, &b.bbox),
                }
            }
        }
        v
    }

    /// Rejects kept boxes that hold `contains` or more smaller kept boxes.
    fn oversized(&self, o: &Oversized, boxes: &[Candidate], v: &mut [RuleOutcome]) {
        let area = |b: &[f32; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
        let kept: Vec<usize> = (0..boxes.len()).filter(|&i| v[i].kept()).collect();
        let mut grid = KeptGrid::new(kept.iter().map(|&i| boxes[i].bbox));
        kept.iter().for_each(|&i| grid.insert(i, &boxes[i].bbox));
        let mut reject = Vec::new();
        for &i in kept.iter().filter(|&&i| o.scope().applies(boxes[i].label)) {
            let big = &boxes[i].bbox;
            let a = area(big);
            let mut n = 0u32;
            grid.for_each_near(big, |k| {
                let small = &boxes[k].bbox;
                let sa = area(small);
                if k != i && sa > 0.0 && sa <= o.max_part * a && intersection(big, small) / sa >= o.min_inside {
                    n += 1;
                }
            });
            if n >= o.contains {
                reject.push((i, n));
            }
        }
        for (i, n) in reject {
            v[i] = RuleOutcome::reject("oversized", n as f32, o.contains as f32);
        }
    }
}

/// Intersection area of two boxes.
fn intersection(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0)
}

/// Whether `b` duplicates the kept box `k`: the rule that says so, its value and limit.
fn duplicate_of(d: &Duplicate, b: &Candidate, k: &Candidate) -> Option<(&'static str, f32, f32)> {
    if k.label != b.label {
        return None;
    }
    if d.same_id && b.id.is_some() && b.id == k.id {
        return Some(("duplicate:same_id", 1.0, 1.0));
    }
    let o = crate::detect::iou(&b.bbox, &k.bbox);
    if o > d.iou {
        return Some(("duplicate", o, d.iou));
    }
    let side = |x: f32, y: f32| if x.max(y) > 0.0 { x.min(y) / x.max(y) } else { 1.0 };
    let (bw, bh, kw, kh) = (b.bbox[2] - b.bbox[0], b.bbox[3] - b.bbox[1], k.bbox[2] - k.bbox[0], k.bbox[3] - k.bbox[1]);
    let similar = side(bw, kw) >= d.size_ratio && side(bh, kh) >= d.size_ratio;
    if !similar {
        return None;
    }
    if let Some(near) = d.near_iou.filter(|n| o > *n) {
        let c = (0..3).map(|i| (b.stats.mean[i] - k.stats.mean[i]).powi(2)).sum::<f32>().sqrt();
        if c <= d.colour_distance {
            return Some(("duplicate:near_copy", o, near));
        }
    }
    if let Some(c) = d.containment {
        let small = (bw * bh).min(kw * kh);
        let inside = if small > 0.0 { intersection(&b.bbox, &k.bbox) / small } else { 0.0 };
        if inside >= c {
            return Some(("duplicate:contained", inside, c));
        }
    }
    None
}

/// Kept boxes in a uniform grid (cells about the size of a typical box): a box is listed in every
/// cell it touches, or, when it spans too many cells, in a list every query reads. Boxes that
/// overlap share a cell, so a query reads only its neighbourhood.
struct KeptGrid {
    cell: f32,
    cells: std::collections::HashMap<(i64, i64), Vec<(usize, usize)>>,
    large: Vec<(usize, usize)>,
    /// Boxes kept so far; the sequence number is the position here.
    count: usize,
}

/// A box spanning more cells than this (per side) goes to the list every query reads.
const GRID_MAX_SPAN: i64 = 8;

impl KeptGrid {
    fn new(boxes: impl Iterator<Item = [f32; 4]>) -> Self {
        let mut sides: Vec<f32> = boxes.map(|b| (b[2] - b[0]).max(b[3] - b[1])).filter(|s| s.is_finite() && *s > 0.0).collect();
        let cell = if sides.is_empty() {
            64.0
        } else {
            let mid = sides.len() / 2;
            *sides.select_nth_unstable_by(mid, f32::total_cmp).1
        };
        Self { cell: cell.max(1.0), cells: Default::default(), large: Vec::new(), count: 0 }
    }

    /// The cell range a box touches, or None when it spans too many cells (or is not finite).
    fn span(&self, b: &[f32; 4]) -> Option<(i64, i64, i64, i64)> {
        if !b.iter().all(|v| v.is_finite()) {
            return None;
        }
        let c = |v: f32| (v / self.cell).floor() as i64;
        let (x0, y0, x1, y1) = (c(b[0].min(b[2])), c(b[1].min(b[3])), c(b[0].max(b[2])), c(b[1].max(b[3])));
        (x1 - x0 < GRID_MAX_SPAN && y1 - y0 < GRID_MAX_SPAN).then_some((x0, y0, x1, y1))
    }

    fn insert(&mut self, index: usize, b: &[f32; 4]) {
        let entry = (self.count, index);
        self.count += 1;
        match self.span(b) {
            Some((x0, y0, x1, y1)) => {
                for y in y0..=y1 {
                    for x in x0..=x1 {
                        self.cells.entry((x, y)).or_default().push(entry);
                    }
                }
            }
            None => self.large.push(entry),
        }
    }

    /// Calls `f` on the `(sequence, index)` entries of the cells `b` touches (a box spanning
    /// several of them comes once per cell) and on the large boxes; a query too large for the
    /// grid reads every kept box.
    fn visit_near(&self, b: &[f32; 4], mut f: impl FnMut(&(usize, usize))) {
        self.large.iter().for_each(&mut f);
        match self.span(b) {
            Some((x0, y0, x1, y1)) => {
                for y in y0..=y1 {
                    for x in x0..=x1 {
                        self.cells.get(&(x, y)).into_iter().flatten().for_each(&mut f);
                    }
                }
            }
            None => self.cells.values().flatten().for_each(&mut f),
        }
    }

    /// Calls `f` once for every kept box that may overlap `b`.
    fn for_each_near(&self, b: &[f32; 4], mut f: impl FnMut(usize)) {
        let mut seen = std::collections::HashSet::new();
        self.visit_near(b, |&(seq, k)| {
            if seen.insert(seq) {
                f(k);
            }
        });
    }

    /// `test`'s answer for the earliest kept box (in insertion order) for which it has one,
    /// among the boxes that may overlap `b`.
    fn first_match<T>(&self, b: &[f32; 4], mut test: impl FnMut(usize) -> Option<T>) -> Option<T> {
        let mut best: Option<(usize, T)> = None;
        self.visit_near(b, |&(seq, k)| {
            if best.as_ref().is_none_or(|(s, _)| seq < *s) {
                if let Some(t) = test(k) {
                    best = Some((seq, t));
                }
            }
        });
        best.map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests;
