//! Classification of what survives the rules: a zero-shot CLIP-style classifier over batched ROI
//! tensors against a cached text-embedding table, driven by a policy (TOML).
//!
//! ```text
//! ROI batch (N x 3 x S x S) ──▶ image encoder (ONNX) ──▶ L2-normalised embeddings ──▶ cosine vs the
//! text table (per label) ──▶ softmax(logit_scale x cos) over a step's labels ──▶ policy ──▶ label | reject
//! ```
//! No tokenizer runs here: the text side is a table of prompt embeddings computed once by the user
//! (see the README's recipe); this module only reads it.
#![forbid(unsafe_code)]

pub mod policy;
pub mod teams;
pub mod zeroshot;

pub use policy::{Decision, Policy};
pub use zeroshot::{ClipManifest, TextTable, ZeroShot};

use std::path::Path;

use crate::error::Result;
use crate::results::{BoxResult, SCOREVISION_LABELS};
use crate::roi::{RoiBatch, RoiSpec};
use policy::Outcome;

/// The slot after the rules: sees the ROI tensor of the kept boxes of a batch.
pub trait RoiClassifier {
    /// Name for reports.
    fn name(&self) -> &str;
    /// Whether it reads ROI tensors (if not, none are made unless asked).
    fn needs_tensors(&self) -> bool;
    /// Whether it would decide boxes with this label (the colour step spares it the others).
    fn wants(&self, _label: &str) -> bool {
        self.needs_tensors()
    }
    /// The ROI tensors it reads (size, normalisation); None: the rule file's `[roi]`.
    fn roi_spec(&self) -> Option<crate::roi::RoiSpec> {
        None
    }
    /// `rois` holds one ROI per entry of `boxes`, in order (empty when no tensors were made).
    fn classify(&mut self, rois: &RoiBatch, boxes: &mut [&mut BoxResult]) -> Result<()>;
    /// As `classify`, from the ROI batch on the GPU (`boxes.len() x 3 x S x S` float32 at `ptr`,
    /// on the ROI stage's device and stream), when this classifier runs there; `None` when it
    /// does not (the batch is then downloaded for `classify`).
    #[cfg(feature = "cuda")]
    fn classify_device(&mut self, _ptr: u64, _boxes: &mut [&mut BoxResult]) -> Option<Result<()>> {
        None
    }
}

/// The empty slot: keeps every box the rules kept.
#[derive(Debug, Default)]
pub struct PassThrough;

impl RoiClassifier for PassThrough {
    fn name(&self) -> &str {
        "none (pass-through)"
    }
    fn needs_tensors(&self) -> bool {
        false
    }
    fn classify(&mut self, _rois: &RoiBatch, _boxes: &mut [&mut BoxResult]) -> Result<()> {
        Ok(())
    }
}

/// The zero-shot classifier with its policy, in `fovea verify`'s classifier slot.
pub struct PolicyClassifier {
    pub zs: ZeroShot,
    pub policy: Policy,
    name: String,
    /// Boxes decided per outcome ("assign:player", "reject:grass", "uncertain", "keep").
    pub decided: std::collections::BTreeMap<String, u64>,
}

impl PolicyClassifier {
    /// Checks that the policy only scores labels the table has.
    pub fn new(zs: ZeroShot, policy: Policy) -> Result<Self> {
        policy.check_against(&zs.table)?;
        let name = format!("zero-shot {} ({} prompts), policy {}", zs.manifest.name, zs.table.labels.len(), policy.path.display());
        Ok(Self { zs, policy, name, decided: Default::default() })
    }
}

impl RoiClassifier for PolicyClassifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn needs_tensors(&self) -> bool {
        true
    }

    fn wants(&self, label: &str) -> bool {
        self.policy.applies(label)
    }

    fn roi_spec(&self) -> Option<RoiSpec> {
        Some(self.zs.manifest.roi.clone())
    }

    fn classify(&mut self, rois: &RoiBatch, boxes: &mut [&mut BoxResult]) -> Result<()> {
        if !self.worth_it(boxes) {
            return Ok(());
        }
        let emb = self.zs.embed(rois, boxes.len())?;
        self.decide(&emb, boxes);
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn classify_device(&mut self, ptr: u64, boxes: &mut [&mut BoxResult]) -> Option<Result<()>> {
        if !self.zs.on_gpu() {
            return None;
        }
        if !self.worth_it(boxes) {
            return Some(Ok(()));
        }
        Some(self.zs.embed_device(ptr, boxes.len()).map(|emb| self.decide(&emb, boxes)))
    }
}

impl PolicyClassifier {
    /// Every kept box has its ROI; only those the policy covers are worth scoring, but the
    /// encoder runs on the whole batch at once (one call), which is what batching is for.
    fn worth_it(&self, boxes: &[&mut BoxResult]) -> bool {
        boxes.iter().any(|b| self.policy.applies(&b.label))
    }

    /// Applies the policy to each box from its embedding (`emb`: one row per box).
    fn decide(&mut self, emb: &[f32], boxes: &mut [&mut BoxResult]) {
        let d = self.zs.manifest.dim;
        let zs = &self.zs;
        for (i, b) in boxes.iter_mut().enumerate() {
            if !self.policy.applies(&b.label) {
                continue;
            }
            let e = &emb[i * d..(i + 1) * d];
            let dec = self.policy.decide(&b.label, &mut |ls| zs.probabilities(e, ls));
            let key = match &dec.outcome {
                Outcome::Assign(l) => {
                    b.label = l.clone();
                    if let Some(id) = SCOREVISION_LABELS.iter().position(|s| s == l) {
                        b.class_id = id as u32;
                    }
                    format!("assign:{l}")
                }
                Outcome::Reject(r) => {
                    b.verdict = "reject";
                    b.rule = Some(format!("classifier:{r}"));
                    format!("reject:{r}")
                }
                Outcome::Uncertain => {
                    b.flags.push("uncertain");
                    "uncertain".into()
                }
                Outcome::Keep => "keep".into(),
            };
            *self.decided.entry(key).or_default() += 1;
            b.source = "classifier";
            b.scores = Some(dec.scores);
        }
    }
}

/// The validator's policy (`classify/scorevision.toml`), the default for object classifiers.
pub const SCOREVISION_POLICY: &str = include_str!("../../classify/scorevision.toml");

impl Policy {
    /// The built-in validator policy (`classify/scorevision.toml`).
    pub fn scorevision() -> Self {
        Policy::parse(SCOREVISION_POLICY, Path::new("classify/scorevision.toml")).expect("the built-in policy is valid")
    }

    /// The policy file at `path`, or the built-in validator policy without one.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self> {
        path.map_or_else(|| Ok(Policy::scorevision()), Policy::load)
    }
}

/// Context expansion per detector label for object crops: the ball 4x, as the validator does.
pub fn default_expansion() -> std::collections::BTreeMap<String, f32> {
    [("sports_ball".to_string(), 4.0), ("football".to_string(), 4.0)].into_iter().collect()
}

/// The zero-shot object classifier of an encoder manifest on the CPU with `policy` (default: the
/// validator's), for a detector whose classes are `labels` and frames are in `order`.
pub fn object_classifier(
    encoder: &Path,
    policy: Option<&Path>,
    labels: Vec<String>,
    order: crate::image::ChannelOrder,
    threads: usize,
) -> Result<ObjectClassifier> {
    let manifest = ClipManifest::load(encoder)?;
    let policy = Policy::load_or_default(policy)?;
    ObjectClassifier::new(ZeroShot::load(&manifest, threads)?, policy, labels, order, default_expansion())
}

/// The zero-shot classifier with its policy in `fovea detect`'s classifier slot (behind the
/// per-track reuse cache): it crops the objects it is asked about out of the current frame.
pub struct ObjectClassifier {
    pub zs: ZeroShot,
    pub policy: Policy,
    /// The detector's class names (requests carry class ids).
    pub labels: Vec<String>,
    spec: RoiSpec,
    /// Context expansion per detector label (e.g. 4x for the ball, as the validator does).
    expand: std::collections::BTreeMap<String, f32>,
    batch: RoiBatch,
}

impl ObjectClassifier {
    /// `frame_order`: the channel order of the frames the pipeline decodes (the detector's).
    pub fn new(
        zs: ZeroShot,
        policy: Policy,
        labels: Vec<String>,
        frame_order: crate::image::ChannelOrder,
        expand: std::collections::BTreeMap<String, f32>,
    ) -> Result<Self> {
        policy.check_against(&zs.table)?;
        let mut spec = zs.manifest.roi.clone();
        // The encoder's order is relative to RGB frames; BGR frames flip it.
        spec.swap_rb ^= frame_order == crate::image::ChannelOrder::Bgr;
        Ok(Self { zs, policy, labels, spec, expand, batch: RoiBatch::default() })
    }
}

impl crate::track::reuse::Classifier for ObjectClassifier {
    fn classify(&mut self, _requests: &[crate::track::reuse::ClassifyRequest]) -> Result<Vec<crate::track::reuse::Label>> {
        Err(crate::Error::Pipeline("the zero-shot object classifier needs the frame's pixels (classify_frame)".into()))
    }

    fn classify_frame(
        &mut self,
        view: &crate::image::FrameView<'_>,
        requests: &[crate::track::reuse::ClassifyRequest],
    ) -> Result<Vec<crate::track::reuse::Label>> {
        use crate::track::reuse::Label;
        let (w, h) = (view.width, view.height);
        let name = |c: u32| self.labels.get(c as usize).cloned().unwrap_or_else(|| format!("class_{c}"));
        // Only objects the policy covers and whose box has a crop go to the encoder.
        let mut todo = Vec::new();
        let mut refs = Vec::new();
        for (i, r) in requests.iter().enumerate() {
            let l = name(r.class_id);
            if !self.policy.applies(&l) {
                continue;
            }
            let e = self.expand.get(&l).copied().unwrap_or(1.0);
            if let Ok((crop, _)) = crate::roi::crop_of(r.bbox, e, w, h) {
                todo.push(i);
                refs.push(crate::roi::RoiRef { frame: 0, crop });
            }
        }
        let mut out: Vec<Label> = requests.iter().map(|r| Label { label: name(r.class_id), confidence: 1.0 }).collect();
        if refs.is_empty() {
            return Ok(out);
        }
        crate::roi::extract(&[*view], &refs, &self.spec, &mut self.batch);
        let emb = self.zs.embed(&self.batch, refs.len())?;
        let d = self.zs.manifest.dim;
        let zs = &self.zs;
        for (k, &i) in todo.iter().enumerate() {
            let e = &emb[k * d..(k + 1) * d];
            let dec = self.policy.decide(&out[i].label, &mut |ls| zs.probabilities(e, ls));
            let best = dec.scores.iter().map(|s| s.1).fold(0.0f32, f32::max);
            out[i] = match dec.outcome {
                Outcome::Assign(l) | Outcome::Reject(l) => Label { label: l, confidence: best },
                Outcome::Keep => Label { label: out[i].label.clone(), confidence: best },
                Outcome::Uncertain => Label { label: out[i].label.clone(), confidence: 0.0 },
            };
        }
        Ok(out)
    }
}

/// What [`classify_undecided`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecondPass {
    /// Objects sent to the classifier, answered from their track, and spared because colour had
    /// decided them (team players).
    pub classified: u64,
    pub from_track: u64,
    pub by_colour: u64,
    pub frames_decoded_again: u64,
}

/// The hierarchy for `fovea detect --teams --classifier`: after colour has decided the clip's
/// team players (`frames[..].teams`), decodes again only the frames holding objects the policy
/// covers that colour left undecided, and labels those through the per-track reuse cache.
pub fn classify_undecided(
    video: &std::path::Path,
    frames: &mut [crate::results::FrameResult],
    classifier: &mut ObjectClassifier,
    order: crate::image::ChannelOrder,
    reuse: crate::track::reuse::ReuseConfig,
) -> Result<SecondPass> {
    use crate::track::reuse::{ClassifyRequest, LabelCache};
    let mut out = SecondPass::default();
    let name = |f: &crate::results::FrameResult, i: usize| {
        f.labels[i]
            .as_ref()
            .map_or_else(|| classifier.labels.get(f.detections[i].class_id as usize).cloned().unwrap_or_default(), |l| l.label.clone())
    };
    let mut todo: std::collections::BTreeMap<u64, (usize, Vec<usize>)> = Default::default();
    for (fi, f) in frames.iter().enumerate() {
        for i in 0..f.detections.len() {
            if !classifier.policy.applies(&name(f, i))
                && !classifier.policy.applies(classifier.labels.get(f.detections[i].class_id as usize).map_or("", |s| s.as_str()))
            {
                continue;
            }
            if f.teams.get(i).copied().flatten().is_some() {
                out.by_colour += 1;
            } else {
                todo.entry(f.index).or_insert((fi, Vec::new())).1.push(i);
            }
        }
    }
    if todo.is_empty() {
        return Ok(out);
    }
    let select = std::sync::Arc::new(todo.keys().copied().collect::<std::collections::BTreeSet<u64>>());
    let fmt = crate::video::OutputFormat { width: 0, height: 0, order, fit: crate::image::Fit::Stretch };
    let mut dec = crate::video::Decoder::open(video, crate::video::Sampling::default(), fmt)?;
    dec.select(select);
    let pool = crate::video::FramePool::new(1);
    let mut cache = LabelCache::new(reuse);
    while let Some(frame) = dec.next_frame(&pool)? {
        let Some((fi, idx)) = todo.get(&frame.index) else { continue };
        out.frames_decoded_again += 1;
        let f = &mut frames[*fi];
        let requests: Vec<ClassifyRequest> = idx
            .iter()
            .map(|&i| ClassifyRequest {
                frame: f.index,
                track_id: f.track_ids[i],
                bbox: f.detections[i].bbox,
                class_id: f.detections[i].class_id,
            })
            .collect();
        for (&i, r) in idx.iter().zip(cache.resolve_frame(&frame.view(), &requests, classifier)?) {
            f.labels[i] = Some(r);
        }
    }
    let s = cache.stats();
    out.classified = s.calls_made;
    out.from_track = s.calls_saved;
    Ok(out)
}
