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
pub mod zeroshot;

pub use policy::{Decision, Policy};
pub use zeroshot::{ClipManifest, TextTable, ZeroShot};
