//! Tiled detection for objects too small for one pass at the model's input size (the ball at
//! 12-20 px in a 1080p frame is 3-4 px after the resize to 416): besides the whole-frame pass, the
//! detector sees tiles of the frame at the model's input size, unscaled, and their boxes join the
//! frame's, merged by class-aware NMS.
//!
//! ```text
//! frame ─▶ whole-frame pass ──────────────────────────────┐
//!       └▶ tiles (all, overlapping; or one around the ball) ▶ detector ▶ boxes + tile offset ─┴▶ NMS ▶ detections
//! ```
//! Tiles only add what the whole-frame pass cannot see: boxes that would be under [`SMALL`] pixels
//! at the model's input in the whole-frame pass (larger objects come from that pass; at native
//! resolution the detector also fires on parts of them), and not touching one of the tile's inner
//! edges (a part of something cut by the tile), nor lying inside a whole-frame box of its class (a
//! part of that object). In `ball` mode one tile is centred on the last
//! ball the stream saw (within [`BALL_MEMORY`] frames), and only balls are taken from it; with no
//! ball seen, the frame is tiled whole.
#![forbid(unsafe_code)]

use serde::Deserialize;

use crate::detect::{nms, DecodeParams, Detection};
use crate::error::{Error, Result};
use crate::image::FrameView;

/// Which tiles a frame gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TileMode {
    /// The whole frame in overlapping tiles.
    All,
    /// One tile around the ball's last position (the whole frame while it has none).
    Ball,
}

impl std::str::FromStr for TileMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "all" => Ok(Self::All),
            "ball" => Ok(Self::Ball),
            _ => Err(Error::InvalidOption { option: "--tiles", reason: format!("expected all or ball, got '{s}'") }),
        }
    }
}

/// Tiling settings (`[tiles]` in a pipeline configuration, `--tiles` on the command line).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TileConfig {
    pub mode: TileMode,
    /// Overlap of neighbouring tiles, as a fraction of the tile (0..0.9).
    #[serde(default = "overlap")]
    pub overlap: f32,
    /// The ball's class names (the first the model has is used).
    #[serde(default = "ball_names")]
    pub ball: Vec<String>,
}

fn overlap() -> f32 {
    0.2
}

fn ball_names() -> Vec<String> {
    ["football", "sports ball", "sports_ball", "ball"].map(String::from).to_vec()
}

impl TileConfig {
    pub fn new(mode: TileMode) -> Self {
        Self { mode, overlap: overlap(), ball: ball_names() }
    }

    pub fn validate(&self) -> Result<()> {
        if !(0.0..=0.9).contains(&self.overlap) {
            return Err(Error::InvalidOption { option: "tiles.overlap", reason: format!("must be within 0..0.9, got {}", self.overlap) });
        }
        Ok(())
    }
}

/// Largest side (pixels at the model's input in the whole-frame pass) of a box taken from a tile.
pub const SMALL: f32 = 16.0;

/// Frames a ball position is remembered for in `ball` mode.
pub const BALL_MEMORY: u64 = 30;

/// A stream's tiling state: the settings, the ball's class, its last position.
#[derive(Debug, Clone)]
pub struct Tiler {
    pub config: TileConfig,
    ball_class: Option<u32>,
    last_ball: Option<(u64, [f32; 2])>,
    /// Tiles run and their detector seconds, for the report.
    pub tiles: u64,
}

impl Tiler {
    /// `labels`: the model's class names.
    pub fn new(config: TileConfig, labels: &[String]) -> Result<Self> {
        config.validate()?;
        let ball_class = config.ball.iter().find_map(|n| labels.iter().position(|l| l == n)).map(|c| c as u32);
        if config.mode == TileMode::Ball && ball_class.is_none() {
            return Err(Error::InvalidOption {
                option: "--tiles",
                reason: format!("ball mode: the model has none of the ball classes {:?}", config.ball),
            });
        }
        Ok(Self { config, ball_class, last_ball: None, tiles: 0 })
    }

    /// The tiles of a `w x h` frame with index `index` for a model input of `tw x th`:
    /// `(x, y, w, h)`. None when the frame fits in one model input (no tiling needed).
    pub fn tiles_of(&self, index: u64, w: u32, h: u32, tw: u32, th: u32) -> Vec<(u32, u32, u32, u32)> {
        if w <= tw && h <= th {
            return Vec::new();
        }
        if let (TileMode::Ball, Some((seen, [cx, cy]))) = (self.config.mode, self.last_ball) {
            if index.saturating_sub(seen) <= BALL_MEMORY {
                let place = |c: f32, t: u32, full: u32| ((c - t as f32 / 2.0).round().max(0.0) as u32).min(full.saturating_sub(t));
                return vec![(place(cx, tw, w), place(cy, th, h), tw.min(w), th.min(h))];
            }
        }
        grid(w, h, tw, th, self.config.overlap)
    }

    /// Remembers the best ball of frame `index`'s detections.
    pub fn saw(&mut self, index: u64, dets: &[Detection]) {
        let Some(c) = self.ball_class else { return };
        if let Some(b) = dets.iter().filter(|d| d.class_id == c).max_by(|a, b| a.score.total_cmp(&b.score)) {
            self.last_ball = Some((index, [(b.bbox[0] + b.bbox[2]) / 2.0, (b.bbox[1] + b.bbox[3]) / 2.0]));
        }
    }
}

/// Overlapping tiles of `tw x th` covering a `w x h` frame (the last row and column flush with
/// the far edges).
pub fn grid(w: u32, h: u32, tw: u32, th: u32, overlap: f32) -> Vec<(u32, u32, u32, u32)> {
    let starts = |full: u32, t: u32| -> Vec<u32> {
        if full <= t {
            return vec![0];
        }
        let step = ((t as f32 * (1.0 - overlap)).floor() as u32).max(1);
        let mut s: Vec<u32> = (0..).map(|k| k * step).take_while(|&x| x + t < full).collect();
        s.push(full - t);
        s
    };
    let (xs, ys) = (starts(w, tw), starts(h, th));
    ys.iter().flat_map(|&y| xs.iter().map(move |&x| (x, y, tw.min(w), th.min(h)))).collect()
}

/// A tile's box with at least this share of its area inside a whole-frame box of its class is a
/// part of that object.
const PART: f32 = 0.8;

/// The share of `a`'s area inside `b`.
fn inside(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let i = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = (a[2] - a[0]) * (a[3] - a[1]);
    if area > 0.0 {
        i / area
    } else {
        0.0
    }
}

/// Whether a box (tile coordinates) touches an edge of its tile that is not an edge of the frame.
fn cut_by_tile(b: &[f32; 4], tile: (u32, u32, u32, u32), w: u32, h: u32) -> bool {
    let (x, y, tw, th) = tile;
    let m = 1.0;
    (x > 0 && b[0] <= m) || (y > 0 && b[1] <= m) || (x + tw < w && b[2] >= tw as f32 - m) || (y + th < h && b[3] >= th as f32 - m)
}

/// The tile passes of a batch: for each frame of `frames`, its tiles through `detector` (in calls
/// of its batch size), the boxes moved to frame coordinates and merged into `dets[frame]` by NMS.
pub fn tile_pass(
    detector: &mut dyn super::Infer,
    params: &DecodeParams,
    frames: &[(FrameView, u64)],
    dets: &mut [Vec<Detection>],
    tiler: &mut Tiler,
) -> Result<crate::infer::CallTimes> {
    let (tw, th) = (detector.manifest().input.width, detector.manifest().input.height);
    let mut work: Vec<(usize, (u32, u32, u32, u32))> = Vec::new();
    for (fi, (v, index)) in frames.iter().enumerate() {
        work.extend(tiler.tiles_of(*index, v.width, v.height, tw, th).into_iter().map(|t| (fi, t)));
    }
    let mut times = crate::infer::CallTimes::default();
    let mut extra: Vec<Vec<Detection>> = vec![Vec::new(); frames.len()];
    for chunk in work.chunks(detector.batch().max(1)) {
        let mut tfs = Vec::with_capacity(chunk.len());
        for (slot, &(fi, (x, y, w, h))) in chunk.iter().enumerate() {
            let v = &frames[fi].0;
            let start = y as usize * v.stride + x as usize * 3;
            tfs.push(detector.fill(slot, &v.data[start..], w, h, v.stride)?);
        }
        let (out, t) = detector.run(chunk.len(), &tfs, params)?;
        times.inference_s += t.inference_s;
        times.postprocess_s += t.postprocess_s;
        for (&(fi, tile), boxes) in chunk.iter().zip(out) {
            let v = &frames[fi].0;
            // The whole-frame pass's scale (model pixels per frame pixel).
            let scale = (tw as f32 / v.width as f32).min(th as f32 / v.height as f32);
            let wanted = |d: &Detection| match tiler.config.mode {
                TileMode::Ball => Some(d.class_id) == tiler.ball_class,
                TileMode::All => (d.bbox[2] - d.bbox[0]).max(d.bbox[3] - d.bbox[1]) * scale < SMALL,
            };
            for mut d in boxes.into_iter().filter(|d| wanted(d) && !cut_by_tile(&d.bbox, tile, v.width, v.height)) {
                d.bbox = [d.bbox[0] + tile.0 as f32, d.bbox[1] + tile.1 as f32, d.bbox[2] + tile.0 as f32, d.bbox[3] + tile.1 as f32];
                extra[fi].push(d);
            }
        }
    }
    tiler.tiles += work.len() as u64;
    for (fi, mut more) in extra.into_iter().enumerate() {
        // A tile's box inside a whole-frame box of its class is a part of that object.
        more.retain(|d| !dets[fi].iter().any(|w| w.class_id == d.class_id && inside(&d.bbox, &w.bbox) >= PART));
        if !more.is_empty() {
            dets[fi].extend(more);
            nms(&mut dets[fi], params.nms_iou, params.max_detections);
        }
        tiler.saw(frames[fi].1, &dets[fi]);
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_cover_the_frame_with_overlap() {
        let g = grid(1920, 1080, 416, 416, 0.2);
        let xs: Vec<u32> = g.iter().filter(|t| t.1 == 0).map(|t| t.0).collect();
        assert_eq!(xs, [0, 332, 664, 996, 1328, 1504]);
        let ys: Vec<u32> = g.iter().filter(|t| t.0 == 0).map(|t| t.1).collect();
        assert_eq!(ys, [0, 332, 664]);
        assert_eq!(g.len(), 18);
        assert!(g.iter().all(|&(x, y, w, h)| x + w <= 1920 && y + h <= 1080 && w == 416 && h == 416));
        assert_eq!(grid(300, 200, 416, 416, 0.2), [(0, 0, 300, 200)]);
    }

    #[test]
    fn ball_mode_follows_the_last_ball() {
        let labels: Vec<String> = ["person", "sports ball"].map(String::from).to_vec();
        let mut t = Tiler::new(TileConfig::new(TileMode::Ball), &labels).unwrap();
        assert_eq!(t.tiles_of(0, 1920, 1080, 416, 416).len(), 18, "no ball yet: the whole frame");
        t.saw(5, &[Detection::new([1900.0, 10.0, 1910.0, 20.0], 0.6, 1)]);
        assert_eq!(t.tiles_of(6, 1920, 1080, 416, 416), [(1504, 0, 416, 416)], "clamped to the frame");
        assert_eq!(t.tiles_of(5 + BALL_MEMORY + 1, 1920, 1080, 416, 416).len(), 18, "forgotten");
        assert!(t.tiles_of(0, 416, 300, 416, 416).is_empty(), "a frame the model takes whole");
        let e = Tiler::new(TileConfig::new(TileMode::Ball), &["person".to_string()]).unwrap_err().to_string();
        assert!(e.contains("ball classes"), "{e}");
    }

    #[test]
    fn boxes_cut_by_inner_tile_edges_are_dropped() {
        // A tile at (332, 0) of a 1920 x 1080 frame: its left, right and bottom edges are inner.
        let tile = (332, 0, 416, 416);
        assert!(cut_by_tile(&[0.0, 50.0, 30.0, 90.0], tile, 1920, 1080));
        assert!(cut_by_tile(&[300.0, 50.0, 416.0, 90.0], tile, 1920, 1080));
        assert!(!cut_by_tile(&[100.0, 0.0, 130.0, 40.0], tile, 1920, 1080), "the frame's top edge is not a cut");
        assert!(!cut_by_tile(&[100.0, 100.0, 112.0, 112.0], tile, 1920, 1080));
    }
}
