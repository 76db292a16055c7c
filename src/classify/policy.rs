//! A classification policy as configuration: groups of box labels, each a sequence of steps over
//! the zero-shot scores. The Score Vision validator's decision is one such file
//! (classify/scorevision.toml); a plain arg-max with a threshold is another.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::zeroshot::TextTable;
use crate::error::{Error, Result};

/// A threshold on one label's probability.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub label: String,
    pub value: f32,
}

/// One step: a softmax over `labels`, then one of
/// - `reject_if_at_most`: reject (as `reject_as`) when the label's probability is <= the value;
/// - `pass_if_at_least`: reject (as `reject_as`) when it is below the value;
/// - `assign`: take the arg-max label; if `assign` maps it to a class, that is the box's label
///   (below `min_confidence` the box is left as it was and marked uncertain); a label not mapped
///   rejects the box as that label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub labels: Vec<String>,
    pub reject_if_at_most: Option<Threshold>,
    pub pass_if_at_least: Option<Threshold>,
    pub reject_as: Option<String>,
    pub assign: Option<BTreeMap<String, String>>,
    pub min_confidence: Option<f32>,
}

/// The steps for boxes whose label is one of `classes`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub classes: Vec<String>,
    pub steps: Vec<Step>,
}

/// A policy file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(skip)]
    pub path: PathBuf,
    pub groups: Vec<Group>,
}

/// What the policy decided for one ROI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "label", rename_all = "lowercase")]
pub enum Outcome {
    /// No group for this label, or no step assigned one: the box keeps its label.
    Keep,
    /// The box's label becomes this.
    Assign(String),
    /// The box is rejected as this.
    Reject(String),
    /// The arg-max was below `min_confidence`: the box keeps its label, marked uncertain.
    Uncertain,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The probabilities of the last step that ran, by label.
    pub scores: Vec<(String, f32)>,
}

impl Policy {
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut p: Policy = toml::from_str(text).map_err(|e| Error::Manifest { path: path.to_path_buf(), reason: e.to_string() })?;
        p.path = path.to_path_buf();
        for (g, grp) in p.groups.iter().enumerate() {
            for (s, step) in grp.steps.iter().enumerate() {
                let at = format!("groups[{g}].steps[{s}]");
                let bad = |reason: String| Err(Error::Manifest { path: path.to_path_buf(), reason: format!("{at}: {reason}") });
                if step.labels.len() < 2 {
                    return bad("needs at least two labels to choose between".into());
                }
                let kinds = [step.reject_if_at_most.is_some(), step.pass_if_at_least.is_some(), step.assign.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count();
                if kinds != 1 {
                    return bad("needs exactly one of reject_if_at_most, pass_if_at_least, assign".into());
                }
                for t in [&step.reject_if_at_most, &step.pass_if_at_least].into_iter().flatten() {
                    if !step.labels.contains(&t.label) {
                        return bad(format!("threshold label \"{}\" is not one of its labels", t.label));
                    }
                }
                if let Some(a) = &step.assign {
                    if let Some(k) = a.keys().find(|k| !step.labels.contains(k)) {
                        return bad(format!("assign names \"{k}\", which is not one of its labels"));
                    }
                }
            }
        }
        Ok(p)
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::error::read_config(path)?;
        Self::parse(&text, path)
    }

    /// Every label the policy scores must be in the text table.
    pub fn check_against(&self, table: &TextTable) -> Result<()> {
        for (g, grp) in self.groups.iter().enumerate() {
            for (s, step) in grp.steps.iter().enumerate() {
                if let Some(l) = step.labels.iter().find(|l| !table.has_label(l)) {
                    let mut have: Vec<&str> = table.labels.iter().map(|s| s.as_str()).collect();
                    have.dedup();
                    return Err(Error::Manifest {
                        path: self.path.clone(),
                        reason: format!("groups[{g}].steps[{s}] scores \"{l}\", which the text table lacks (it has: {})", have.join(", ")),
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether boxes labelled `label` are classified at all.
    pub fn applies(&self, label: &str) -> bool {
        self.groups.iter().any(|g| g.classes.iter().any(|c| c == label))
    }

    /// Decides for a box labelled `label` given `probs(labels)`, the softmax over a step's labels.
    pub fn decide(&self, label: &str, probs: &mut dyn FnMut(&[String]) -> Vec<f32>) -> Decision {
        let Some(g) = self.groups.iter().find(|g| g.classes.iter().any(|c| c == label)) else {
            return Decision { outcome: Outcome::Keep, scores: Vec::new() };
        };
        let mut scores = Vec::new();
        for step in &g.steps {
            let p = probs(&step.labels);
            scores = step.labels.iter().cloned().zip(p.iter().copied()).collect();
            let prob = |l: &str| step.labels.iter().position(|x| x == l).map_or(0.0, |i| p[i]);
            let reject_as = |t: &Threshold| step.reject_as.clone().unwrap_or_else(|| format!("not {}", t.label));
            if let Some(t) = &step.reject_if_at_most {
                if prob(&t.label) <= t.value {
                    return Decision { outcome: Outcome::Reject(reject_as(t)), scores };
                }
            }
            if let Some(t) = &step.pass_if_at_least {
                if prob(&t.label) < t.value {
                    return Decision { outcome: Outcome::Reject(reject_as(t)), scores };
                }
            }
            if let Some(a) = &step.assign {
                let (best, bp) = p.iter().enumerate().fold((0, f32::MIN), |acc, (i, v)| if *v > acc.1 { (i, *v) } else { acc });
                if step.min_confidence.is_some_and(|m| bp < m) {
                    return Decision { outcome: Outcome::Uncertain, scores };
                }
                let l = &step.labels[best];
                return match a.get(l) {
                    Some(class) => Decision { outcome: Outcome::Assign(class.clone()), scores },
                    None => Decision { outcome: Outcome::Reject(l.clone()), scores },
                };
            }
        }
        Decision { outcome: Outcome::Keep, scores }
    }
}
