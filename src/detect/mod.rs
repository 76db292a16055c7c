//! Detector output decoding: raw output tensors ──▶ candidate boxes ──▶ class-aware NMS.
//!
//! One decoder per model family (NanoDet/GFL, YOLOv8/YOLO11, YOLOv5, end-to-end models with NMS
//! inside), chosen by the model's manifest. Everything here is safe Rust working on plain slices,
//! so it is tested with constructed tensors.
#![forbid(unsafe_code)]
// `!(score > t)` on purpose: a NaN score or class must be rejected, not kept.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod compare;
mod nms;

pub use crate::results::Detection;
pub use nms::{iou, nms};

/// A borrowed output tensor.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

/// Thresholds and filters applied while decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeParams {
    pub score_threshold: f32,
    pub nms_iou: f32,
    pub max_detections: usize,
    /// If set, only these class ids are kept (indexed by class id).
    pub class_filter: Option<Vec<bool>>,
}

impl DecodeParams {
    #[inline]
    fn wants(&self, class: usize) -> bool {
        self.class_filter.as_ref().is_none_or(|f| f.get(class).copied().unwrap_or(false))
    }
}

/// Candidates kept before NMS, best first; bounds NMS cost on noisy frames.
pub const MAX_CANDIDATES: usize = 4096;

/// How raw output tensors become boxes. Coordinates are in model-input pixels.
#[derive(Debug, Clone, PartialEq)]
pub enum DecoderSpec {
    /// NanoDet / GFL head: per stride a score tensor [B, cells, C] (already sigmoid) and a box
    /// tensor [B, cells, 4 * (reg_max + 1)] of distance bins (left, top, right, bottom).
    Nanodet {
        strides: Vec<u32>,
        reg_max: u32,
        /// Score tensor names, one per stride, in the order of `strides`.
        scores: Vec<String>,
        /// Box tensor names, one per stride.
        boxes: Vec<String>,
        /// Cell centre offset in cells: 0.5 for NanoDet's GFL head.
        center_offset: f32,
    },
    /// YOLOv8 / YOLO11: one tensor [B, 4 + C, N], rows cx, cy, w, h then class scores.
    Yolov8 { output: String },
    /// YOLOv8 / YOLO11 pose heads as Ultralytics exports them: one tensor
    /// [B, 4 + C + dims * keypoints, N], rows cx, cy, w, h, class scores, then per keypoint x, y
    /// (model-input pixels, already decoded) and, when `dims` is 3, its confidence (already a
    /// sigmoid). `dims` 2 is the head without keypoint confidence.
    Yolov8Pose { output: String, keypoints: u32, dims: u32 },
    /// YOLOv5 / YOLOv7: one tensor [B, N, 5 + C]: cx, cy, w, h, objectness, class scores.
    Yolov5 { output: String },
    /// Models with NMS inside: one tensor [B, K, 6]: x1, y1, x2, y2, score, class.
    End2end { output: String },
}

/// Decodes one model's outputs, as its manifest describes.
#[derive(Debug, Clone)]
pub struct OutputDecoder {
    spec: DecoderSpec,
    num_classes: usize,
    input_width: u32,
    input_height: u32,
}

/// An expected dimension: `None` matches anything (the batch dimension, a free box count).
pub type Dim = Option<i64>;

impl OutputDecoder {
    pub fn new(spec: DecoderSpec, num_classes: usize, input_width: u32, input_height: u32) -> Self {
        Self { spec, num_classes, input_width, input_height }
    }

    pub fn spec(&self) -> &DecoderSpec {
        &self.spec
    }

    /// Whether the decoder's output still needs NMS (end-to-end models did it themselves).
    pub fn needs_nms(&self) -> bool {
        !matches!(self.spec, DecoderSpec::End2end { .. })
    }

    /// The output tensors the decoder reads, with their expected shapes, in the order
    /// [`OutputDecoder::decode`] takes them.
    pub fn outputs(&self) -> Vec<(String, Vec<Dim>)> {
        let c = self.num_classes as i64;
        match &self.spec {
            DecoderSpec::Nanodet { strides, reg_max, scores, boxes, .. } => {
                let mut v = Vec::new();
                for (i, &s) in strides.iter().enumerate() {
                    let cells = (self.input_width.div_ceil(s) * self.input_height.div_ceil(s)) as i64;
                    v.push((scores[i].clone(), vec![None, Some(cells), Some(c)]));
                }
                for (i, &s) in strides.iter().enumerate() {
                    let cells = (self.input_width.div_ceil(s) * self.input_height.div_ceil(s)) as i64;
                    v.push((boxes[i].clone(), vec![None, Some(cells), Some(4 * (*reg_max as i64 + 1))]));
                }
                v
            }
            DecoderSpec::Yolov8 { output } => vec![(output.clone(), vec![None, Some(4 + c), None])],
            DecoderSpec::Yolov8Pose { output, keypoints, dims } => {
                vec![(output.clone(), vec![None, Some(4 + c + (*dims * *keypoints) as i64), None])]
            }
            DecoderSpec::Yolov5 { output } => vec![(output.clone(), vec![None, None, Some(5 + c)])],
            DecoderSpec::End2end { output } => vec![(output.clone(), vec![None, None, Some(6)])],
        }
    }

    /// Checks actual shapes against [`OutputDecoder::outputs`]; `Err` says which tensor and how.
    pub fn check_shapes<'a>(&self, shapes: impl IntoIterator<Item = (&'a str, &'a [i64])>, allow_dynamic: bool) -> Result<(), String> {
        let expected = self.outputs();
        let shapes: Vec<_> = shapes.into_iter().collect();
        for (name, want) in &expected {
            let Some((_, got)) = shapes.iter().find(|(n, _)| n == name) else {
                let names: Vec<_> = shapes.iter().map(|(n, _)| format!("'{n}'")).collect();
                return Err(format!("output tensor '{name}' not found (the model's outputs: {})", names.join(", ")));
            };
            let ok = got.len() == want.len()
                && got.iter().zip(want).all(|(g, w)| match w {
                    None => true,
                    Some(w) => g == w || (allow_dynamic && *g < 0),
                });
            if !ok {
                return Err(format!(
                    "output tensor '{name}' has shape {}, the manifest's {} decoder with {} labels expects {}",
                    fmt_shape(got),
                    self.kind_name(),
                    self.num_classes,
                    fmt_dims(want)
                ));
            }
        }
        Ok(())
    }

    pub fn kind_name(&self) -> &'static str {
        match self.spec {
            DecoderSpec::Nanodet { .. } => "nanodet",
            DecoderSpec::Yolov8 { .. } => "yolov8",
            DecoderSpec::Yolov8Pose { .. } => "yolov8 pose",
            DecoderSpec::Yolov5 { .. } => "yolov5",
            DecoderSpec::End2end { .. } => "end2end",
        }
    }

    /// Appends the candidates of batch item `b` (model-input pixels, not yet NMS'd) to `out`.
    /// `outputs` are in the order of [`OutputDecoder::outputs`], with shapes already checked.
    pub fn decode(&self, outputs: &[TensorView<'_>], b: usize, p: &DecodeParams, out: &mut Vec<Detection>) {
        match &self.spec {
            DecoderSpec::Nanodet { strides, reg_max, center_offset, .. } => {
                let n = strides.len();
                for (i, &s) in strides.iter().enumerate() {
                    self.decode_nanodet(outputs[i], outputs[n + i], b, s, *reg_max as usize, *center_offset, p, out);
                }
            }
            DecoderSpec::Yolov8 { .. } => self.decode_yolov8(outputs[0], b, p, None, out),
            DecoderSpec::Yolov8Pose { keypoints, dims, .. } => {
                self.decode_yolov8(outputs[0], b, p, Some((*keypoints as usize, *dims as usize)), out)
            }
            DecoderSpec::Yolov5 { .. } => self.decode_yolov5(outputs[0], b, p, out),
            DecoderSpec::End2end { .. } => self.decode_end2end(outputs[0], b, p, out),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn decode_nanodet(
        &self,
        scores: TensorView,
        boxes: TensorView,
        b: usize,
        stride: u32,
        reg_max: usize,
        off: f32,
        p: &DecodeParams,
        out: &mut Vec<Detection>,
    ) {
        let c = self.num_classes;
        let cols = self.input_width.div_ceil(stride) as usize;
        let cells = scores.shape[1] as usize;
        let bins = reg_max + 1;
        let sc = &scores.data[b * cells * c..(b + 1) * cells * c];
        let bx = &boxes.data[b * cells * 4 * bins..(b + 1) * cells * 4 * bins];
        let s = stride as f32;
        for cell in 0..cells {
            let Some((cls, score)) = best_class(&sc[cell * c..(cell + 1) * c], p) else {
                continue;
            };
            let cx = ((cell % cols) as f32 + off) * s;
            let cy = ((cell / cols) as f32 + off) * s;
            let d = &bx[cell * 4 * bins..(cell + 1) * 4 * bins];
            let side = |k: usize| integral(&d[k * bins..(k + 1) * bins]) * s;
            out.push(Detection::new([cx - side(0), cy - side(1), cx + side(2), cy + side(3)], score, cls as u32));
        }
    }

    /// `pose`: (keypoints, values per keypoint) after the class rows.
    fn decode_yolov8(&self, t: TensorView, b: usize, p: &DecodeParams, pose: Option<(usize, usize)>, out: &mut Vec<Detection>) {
        let rows = t.shape[1] as usize;
        let n = t.shape[2] as usize;
        let d = &t.data[b * rows * n..(b + 1) * rows * n];
        // Class-major layout: walk each class row once (cache friendly), keeping the best per box.
        let mut best = vec![(0usize, f32::NEG_INFINITY); n];
        for cls in 0..self.num_classes {
            if !p.wants(cls) {
                continue;
            }
            let row = &d[(4 + cls) * n..(5 + cls) * n];
            for (bst, &v) in best.iter_mut().zip(row) {
                if v > bst.1 {
                    *bst = (cls, v);
                }
            }
        }
        for (k, &(cls, score)) in best.iter().enumerate() {
            if score > p.score_threshold {
                let (cx, cy, w, h) = (d[k], d[n + k], d[2 * n + k], d[3 * n + k]);
                let mut det = Detection::new(xywh(cx, cy, w, h), score, cls as u32);
                if let Some((count, dims)) = pose {
                    let first = 4 + self.num_classes;
                    let at = |row: usize| d[(first + row) * n + k];
                    det.keypoints = Some(
                        (0..count).map(|j| [at(dims * j), at(dims * j + 1), if dims == 3 { at(dims * j + 2) } else { 1.0 }]).collect(),
                    );
                }
                out.push(det);
            }
        }
    }

    fn decode_yolov5(&self, t: TensorView, b: usize, p: &DecodeParams, out: &mut Vec<Detection>) {
        let n = t.shape[1] as usize;
        let w = 5 + self.num_classes;
        let d = &t.data[b * n * w..(b + 1) * n * w];
        for row in d.chunks_exact(w) {
            let obj = row[4];
            if obj <= p.score_threshold {
                continue; // score = obj * cls <= obj
            }
            if let Some((cls, s)) = best_class_any(&row[5..], p) {
                let score = obj * s;
                if score > p.score_threshold {
                    out.push(Detection::new(xywh(row[0], row[1], row[2], row[3]), score, cls as u32));
                }
            }
        }
    }

    fn decode_end2end(&self, t: TensorView, b: usize, p: &DecodeParams, out: &mut Vec<Detection>) {
        let k = t.shape[1] as usize;
        let d = &t.data[b * k * 6..(b + 1) * k * 6];
        for row in d.chunks_exact(6) {
            let (score, cls) = (row[4], row[5]);
            if !(score > p.score_threshold) || !(cls >= 0.0) || cls as usize >= self.num_classes || !p.wants(cls as usize) {
                continue;
            }
            out.push(Detection::new([row[0], row[1], row[2], row[3]], score, cls as u32));
        }
    }
}

#[inline]
fn xywh(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    [cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5]
}

/// Best wanted class above the threshold. Most cells have no score above it: a branch-free max
/// over the row rejects them before the per-class search.
#[inline]
fn best_class(scores: &[f32], p: &DecodeParams) -> Option<(usize, f32)> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !(max > p.score_threshold) {
        return None;
    }
    let (cls, s) = best_class_any(scores, p)?;
    (s > p.score_threshold).then_some((cls, s))
}

#[inline]
fn best_class_any(scores: &[f32], p: &DecodeParams) -> Option<(usize, f32)> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &s) in scores.iter().enumerate() {
        if best.is_none_or(|(_, b)| s > b) && p.wants(i) {
            best = Some((i, s));
        }
    }
    best
}

/// Expected value of the bin index under the softmax of `bins` (GFL's integral).
#[inline]
fn integral(bins: &[f32]) -> f32 {
    let m = bins.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for (k, &v) in bins.iter().enumerate() {
        let e = (v - m).exp();
        num += e * k as f32;
        den += e;
    }
    num / den
}

fn fmt_shape(s: &[i64]) -> String {
    format!("[{}]", s.iter().map(|d| if *d < 0 { "?".to_string() } else { d.to_string() }).collect::<Vec<_>>().join(","))
}

fn fmt_dims(s: &[Dim]) -> String {
    format!("[{}]", s.iter().map(|d| d.map_or("*".to_string(), |v| v.to_string())).collect::<Vec<_>>().join(","))
}

/// Formats a shape like `[1,3,416,416]`, `?` for a dynamic dimension.
pub fn format_shape(s: &[i64]) -> String {
    fmt_shape(s)
}

#[cfg(test)]
mod tests;
