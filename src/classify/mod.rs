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
pub use crate::results::{Decided, Label};
use crate::roi::{RoiBatch, RoiSpec};
/// One object handed to a classifier: frame, track, box, class and its label now.
pub use crate::track::reuse::ClassifyRequest as Object;
use policy::Outcome;

/// The one classifier interface, used by the pipeline's classifier stage (through the per-track
/// reuse cache, in every command and face): a batch of objects in (frame, track, box, class and
/// current label, and, when the classifier reads pixels, one ROI tensor each, in order), one
/// label each out.
pub trait Classifier {
    /// Name for reports.
    fn name(&self) -> &str;
    /// The ROI tensors it reads, for RGB frames (the pipeline flips the order for BGR frames);
    /// `None`: it reads no pixels and its `rois` are empty.
    fn roi_spec(&self) -> Option<RoiSpec>;
    /// Context around the crop of an object with this label (1: the box itself).
    fn expansion(&self, _label: &str) -> f32 {
        1.0
    }
    /// Whether it decides objects with this label (the others are never sent).
    fn wants(&self, label: &str) -> bool;
    /// One label per object; `rois` holds one ROI per object, in order, when the classifier
    /// reads pixels.
    fn classify(&mut self, rois: &RoiBatch, objects: &[Object]) -> Result<Vec<Label>>;
    /// As `classify`, from an ROI batch on the GPU (on the ROI stage's device and stream), when
    /// this classifier runs there; `None` when it does not (the batch is then downloaded).
    fn classify_device(&mut self, _rois: &crate::cuda::DeviceRoiBatch, _objects: &[Object]) -> Option<Result<Vec<Label>>> {
        None
    }
}

impl<C: Classifier + ?Sized> Classifier for &mut C {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn roi_spec(&self) -> Option<RoiSpec> {
        (**self).roi_spec()
    }
    fn expansion(&self, label: &str) -> f32 {
        (**self).expansion(label)
    }
    fn wants(&self, label: &str) -> bool {
        (**self).wants(label)
    }
    fn classify(&mut self, rois: &RoiBatch, objects: &[Object]) -> Result<Vec<Label>> {
        (**self).classify(rois, objects)
    }
    fn classify_device(&mut self, rois: &crate::cuda::DeviceRoiBatch, objects: &[Object]) -> Option<Result<Vec<Label>>> {
        (**self).classify_device(rois, objects)
    }
}

/// A zero-shot image encoder with a policy: the object classifier of `fovea detect
/// --classifier`, `fovea verify --classifier` and an engine's `[classifier] kind = "zeroshot"`.
pub struct ZeroShotClassifier {
    pub zs: ZeroShot,
    pub policy: Policy,
    name: String,
    /// Context expansion per label (e.g. 4x for the ball, as the validator does).
    expand: std::collections::BTreeMap<String, f32>,
    /// Objects decided per outcome ("assign:player", "reject:grass", "uncertain", "keep").
    pub decided: std::collections::BTreeMap<String, u64>,
}

impl ZeroShotClassifier {
    /// Checks that the policy only scores labels the table has. Crops are expanded as
    /// [`default_expansion`] says unless [`ZeroShotClassifier::with_expansion`] changes it.
    pub fn new(zs: ZeroShot, policy: Policy) -> Result<Self> {
        policy.check_against(&zs.table)?;
        let name = format!("zero-shot {} ({} prompts), policy {}", zs.manifest.name, zs.table.labels.len(), policy.path.display());
        Ok(Self { zs, policy, name, expand: default_expansion(), decided: Default::default() })
    }

    /// The same classifier with context expansion per label `expand` (e.g. a rule file's `[roi]`).
    pub fn with_expansion(mut self, expand: std::collections::BTreeMap<String, f32>) -> Self {
        self.expand = expand;
        self
    }

    /// Applies the policy to each object from its embedding (`emb`: one row per object).
    fn decide(&mut self, emb: &[f32], objects: &[Object]) -> Vec<Label> {
        let d = self.zs.manifest.dim;
        let zs = &self.zs;
        let mut out = Vec::with_capacity(objects.len());
        for (i, label) in objects.iter().map(|o| o.label).enumerate() {
            if !self.policy.applies(label) {
                out.push(Label::new(label, 1.0));
                continue;
            }
            let e = &emb[i * d..(i + 1) * d];
            let dec = self.policy.decide(label, &mut |ls| zs.probabilities(e, ls));
            let best = dec.scores.iter().map(|s| s.1).fold(0.0f32, f32::max);
            let (key, l) = match dec.outcome {
                Outcome::Assign(l) => {
                    (format!("assign:{l}"), Label { label: l, confidence: best, decided: Decided::Assigned, scores: dec.scores })
                }
                Outcome::Reject(r) => {
                    (format!("reject:{r}"), Label { label: r, confidence: best, decided: Decided::Rejected, scores: dec.scores })
                }
                Outcome::Uncertain => {
                    ("uncertain".into(), Label { label: label.into(), confidence: 0.0, decided: Decided::Uncertain, scores: dec.scores })
                }
                Outcome::Keep => {
                    ("keep".into(), Label { label: label.into(), confidence: best, decided: Decided::Kept, scores: dec.scores })
                }
            };
            *self.decided.entry(key).or_default() += 1;
            out.push(l);
        }
        out
    }
}

impl Classifier for ZeroShotClassifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn roi_spec(&self) -> Option<RoiSpec> {
        Some(self.zs.manifest.roi.clone())
    }

    fn expansion(&self, label: &str) -> f32 {
        self.expand.get(label).copied().unwrap_or(1.0)
    }

    fn wants(&self, label: &str) -> bool {
        self.policy.applies(label)
    }

    fn classify(&mut self, rois: &RoiBatch, objects: &[Object]) -> Result<Vec<Label>> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let emb = self.zs.embed(rois, objects.len())?;
        Ok(self.decide(&emb, objects))
    }

    fn classify_device(&mut self, rois: &crate::cuda::DeviceRoiBatch, objects: &[Object]) -> Option<Result<Vec<Label>>> {
        if !self.zs.encoder.on_gpu() {
            return None;
        }
        if objects.is_empty() {
            return Some(Ok(Vec::new()));
        }
        Some(self.zs.encoder.embed_device(rois, objects.len()).map(|emb| self.decide(&emb, objects)))
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

/// The zero-shot object classifier of an encoder manifest with `policy` (default: the
/// validator's), on the CPU, or on `gpu`'s provider and device (shared with the detector's).
pub fn object_classifier(
    encoder: &Path,
    policy: Option<&Path>,
    threads: usize,
    gpu: Option<(crate::infer::provider::Selection, zeroshot::GpuDevice)>,
) -> Result<ZeroShotClassifier> {
    let manifest = ClipManifest::load(encoder)?;
    let policy = Policy::load_or_default(policy)?;
    let zs = match gpu {
        Some((sel, dev)) => ZeroShot::load_on(&manifest, threads, &sel, Some(dev))?,
        None => ZeroShot::load(&manifest, threads)?,
    };
    ZeroShotClassifier::new(zs, policy)
}
