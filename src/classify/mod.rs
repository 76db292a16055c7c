//! Classification of what survives the rules: a zero-shot CLIP-style classifier over batched ROI
//! tensors against a cached text-embedding table, driven by a policy (TOML).
//!
//! ```text
//! ROI batch (N x 3 x S x S) ──▶ image encoder (ONNX) ──▶ L2-normalised embeddings ──▶ cosine vs the
//! text table (per label) ──▶ softmax(logit_scale x cos) over a step's labels ──▶ policy ──▶ label | reject
//! ```
//! No tokenizer runs here: the text side is a table of prompt embeddings computed once by the user
//! (see the README's recipe); this module only reads it.

pub mod policy;
pub mod teams;
pub mod zeroshot;

pub use policy::{Decision, Policy};
pub use zeroshot::{ClipManifest, TextTable, ZeroShot};

use crate::error::Result;
use crate::output::read::SCOREVISION_LABELS;
use crate::pipeline::verify::{BoxResult, RoiClassifier};
use crate::roi::{RoiBatch, RoiSpec};
use policy::Outcome;

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

    fn roi_spec(&self) -> Option<RoiSpec> {
        Some(self.zs.manifest.roi.clone())
    }

    fn classify(&mut self, rois: &RoiBatch, boxes: &mut [&mut BoxResult]) -> Result<()> {
        if boxes.is_empty() {
            return Ok(());
        }
        // Every kept box has its ROI; only those the policy covers are worth scoring, but the
        // encoder runs on the whole batch at once (one call), which is what batching is for.
        if !boxes.iter().any(|b| self.policy.applies(&b.label)) {
            return Ok(());
        }
        let emb = self.zs.embed(rois, boxes.len())?;
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
        Ok(())
    }
}
