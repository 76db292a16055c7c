//! `fovea compare`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;

use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::video::Sampling;

use crate::{args::*, model::*};

pub(crate) fn compare(a: CompareArgs) -> anyhow::Result<ExitCode> {
    use fovea::detect::compare::ClassAgreement;
    use std::collections::{BTreeMap, HashSet};
    let opts = DetectorOptions { threads: a.threads, batch: 1, ..DetectorOptions::default() };
    let mut rdet = Detector::load(&Manifest::load(&resolve_model(&a.reference))?, &opts)?;
    let mut cdet = Detector::load(&Manifest::load(&resolve_model(&a.candidate))?, &opts)?;
    anyhow::ensure!(rdet.manifest().input.channels == cdet.manifest().input.channels, "the two models take different channel orders");
    let rparams = rdet.default_params();
    let cparams = cdet.default_params();
    // Both run down to a low floor; operating thresholds are applied afterwards.
    let floor = 0.2f32.min(rparams.score_threshold).min(cparams.score_threshold);
    let rlow = fovea::detect::DecodeParams { score_threshold: floor, ..rparams.clone() };
    let clow = fovea::detect::DecodeParams { score_threshold: floor, ..cparams.clone() };
    let excluded: HashSet<(String, u64)> = match &a.exclude {
        Some(p) => {
            let v: Vec<fovea::infer::calib::CalibFrame> =
                serde_json::from_slice(&std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)?;
            v.into_iter().map(|f| (f.video, f.frame)).collect()
        }
        None => HashSet::new(),
    };
    // Each model through the chain on the same sampled frames (no tracking), then paired by frame.
    let sampling = Sampling { stride: a.every, ..Sampling::default() };
    let mut pairs: Vec<(Vec<fovea::detect::Detection>, Vec<fovea::detect::Detection>)> = Vec::new();
    for v in &a.videos {
        let name = v.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let detections =
            |det: &mut Detector, params: &fovea::detect::DecodeParams| -> anyhow::Result<Vec<(u64, Vec<fovea::detect::Detection>)>> {
                let mut out = Vec::new();
                let (_, outcome) = fovea::pipeline::run_detect(
                    v,
                    det,
                    params,
                    sampling,
                    Default::default(),
                    &mut |r| {
                        out.push((r.index, r.detections.clone()));
                        Ok(())
                    },
                    &mut |_| {},
                )?;
                outcome?;
                Ok(out)
            };
        let r = detections(&mut rdet, &rlow)?;
        let c = detections(&mut cdet, &clow)?;
        anyhow::ensure!(r.len() == c.len(), "{}: the two runs saw {} and {} frames", v.display(), r.len(), c.len());
        for ((fr, rd), (fc, cd)) in r.into_iter().zip(c) {
            anyhow::ensure!(fr == fc, "{}: frames out of step ({fr} vs {fc})", v.display());
            if !excluded.contains(&(name.clone(), fr)) {
                pairs.push((rd, cd));
            }
        }
    }
    let labels = rdet.manifest().labels.clone();
    let t_ref = rparams.score_threshold;
    let report_at = |t: f32, tolerant: bool| fovea::detect::compare::agreement(&pairs, t_ref, t, floor, tolerant, a.iou);
    let at_default = report_at(cparams.score_threshold, false);
    // The headline: both models at the reference's threshold, all classes together.
    let same = fovea::detect::compare::Totals::of(&report_at(t_ref, false));
    let object = fovea::detect::compare::Totals::of(&report_at(t_ref, true));
    let tolerant_default = report_at(cparams.score_threshold, true);
    // Smallest threshold (0.01 steps) at which the candidate has no more boxes than the reference.
    let restoring = fovea::detect::compare::restoring_threshold(&pairs, t_ref, a.iou);
    let at_restoring = report_at(restoring, false);
    let tolerant_restoring = report_at(restoring, true);
    eprintln!("fovea compare: {} frames (every {}, {} excluded), match at IoU >= {}", pairs.len(), a.every, excluded.len(), a.iou);
    eprintln!(
        "  reference {} on {} (threshold {}), candidate {} on {}",
        rdet.manifest().name,
        rdet.provider(),
        rparams.score_threshold,
        cdet.manifest().name,
        cdet.provider()
    );
    eprintln!(
        "  same-threshold agreement ({t_ref:.2}): {:.1}% of {} reference boxes matched, {:.1}% extra; {} the default bar (>= {:.0}% matched, <= {:.0}% extra)",
        100.0 * same.matched_share(),
        same.reference,
        100.0 * same.extra_share(),
        if same.meets_default_bar() { "meets" } else { "misses" },
        100.0 * fovea::detect::compare::DEFAULT_MIN_MATCHED,
        100.0 * fovea::detect::compare::DEFAULT_MAX_EXTRA
    );
    eprintln!(
        "  beside it, object level (found at any score >= {floor:.2}): {:.1}% found, {:.1}% extra",
        100.0 * object.matched_share(),
        100.0 * object.extra_share()
    );
    let show = |title: String, acc: &BTreeMap<u32, ClassAgreement>| {
        eprintln!("  {title}");
        eprintln!(
            "    {:<14} {:>9} {:>9} {:>9} {:>8} {:>8} {:>11}",
            "class", "reference", "candidate", "matched", "recall", "extra", "score shift"
        );
        let mut rows: Vec<_> = acc.iter().filter(|(_, c)| c.reference > 0).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.reference));
        for (cls, c) in rows.iter().take(8) {
            let name = labels.get(**cls as usize).map_or("?", |s| s.as_str());
            eprintln!(
                "    {name:<14} {:>9} {:>9} {:>9} {:>7.1}% {:>7.1}% {:>+11.3}",
                c.reference,
                c.candidate,
                c.matched,
                100.0 * c.recall(),
                100.0 * c.extra(),
                c.mean_score_shift()
            );
        }
    };
    let ct = cparams.score_threshold;
    show(format!("strict: both at their thresholds ({t_ref:.2} / {ct:.2}):"), &at_default);
    show(format!("object level: found at any score >= {floor:.2} (candidate threshold {ct:.2}):"), &tolerant_default);
    show(format!("strict, candidate at {restoring:.2} (lowest threshold with no more boxes than the reference):"), &at_restoring);
    show(format!("object level, candidate at {restoring:.2}:"), &tolerant_restoring);
    if let Some(p) = a.json {
        let j = |acc: &BTreeMap<u32, ClassAgreement>| -> serde_json::Value {
            acc.iter()
                .filter(|(_, c)| c.reference > 0 || c.candidate > 0)
                .map(|(cls, c)| {
                    let name = labels.get(*cls as usize).cloned().unwrap_or_default();
                    (
                        name,
                        serde_json::json!({"reference": c.reference, "candidate": c.candidate, "matched": c.matched,
                        "recall": c.recall(), "extra": c.extra(), "mean_score_shift": c.mean_score_shift()}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let v = serde_json::json!({
            "same_threshold": {"threshold": t_ref, "reference": same.reference, "candidate": same.candidate, "matched": same.matched,
                "matched_share": same.matched_share(), "extra_share": same.extra_share(), "meets_default_bar": same.meets_default_bar()},
            "object_level": {"reference": object.reference, "candidate": object.candidate, "found": object.matched,
                "found_share": object.matched_share(), "extra_share": object.extra_share()},
            "reference_provider": rdet.provider(), "candidate_provider": cdet.provider(),
            "frames": pairs.len(), "every": a.every, "excluded": excluded.len(), "iou": a.iou,
            "reference": rdet.manifest().name, "candidate": cdet.manifest().name,
            "floor": floor, "reference_threshold": t_ref, "candidate_threshold": cparams.score_threshold,
            "strict_at_candidate_threshold": j(&at_default), "object_level_at_candidate_threshold": j(&tolerant_default),
            "restoring_threshold": restoring, "strict_at_restoring_threshold": j(&at_restoring),
            "object_level_at_restoring_threshold": j(&tolerant_restoring),
        });
        std::fs::write(&p, serde_json::to_string_pretty(&v)? + "\n")?;
    }
    Ok(ExitCode::SUCCESS)
}
