//! `fovea compare`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;

use fovea::infer::manifest::Manifest;
use fovea::infer::{Detector, DetectorOptions};
use fovea::video::Sampling;

use crate::{args::*, model::*};

/// Runs `det` on one frame with `params`.
pub(crate) fn detect_frame(
    det: &mut Detector,
    f: &fovea::video::Frame,
    params: &fovea::detect::DecodeParams,
) -> anyhow::Result<Vec<fovea::detect::Detection>> {
    let tf = det.fill(0, &f.data, f.width, f.height, f.width as usize * 3)?;
    Ok(det.run(1, &[tf], params)?.0.remove(0))
}

pub(crate) fn compare(a: CompareArgs) -> anyhow::Result<ExitCode> {
    use fovea::detect::compare::{accumulate_tolerant, ClassAgreement};
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
    let mut pairs: Vec<(Vec<fovea::detect::Detection>, Vec<fovea::detect::Detection>)> = Vec::new();
    for v in &a.videos {
        let name = v.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        let fmt =
            fovea::video::OutputFormat { width: 0, height: 0, order: rdet.manifest().input.channels, fit: fovea::video::Fit::Stretch };
        let mut dec = fovea::video::Decoder::open(v, Sampling { stride: a.every, ..Sampling::default() }, fmt)?;
        let pool = fovea::video::FramePool::new(1);
        while let Some(f) = dec.next_frame(&pool)? {
            if excluded.contains(&(name.clone(), f.index)) {
                continue;
            }
            pairs.push((detect_frame(&mut rdet, &f, &rlow)?, detect_frame(&mut cdet, &f, &clow)?));
        }
    }
    let labels = rdet.manifest().labels.clone();
    let t_ref = rparams.score_threshold;
    // `tolerant`: object level (see accumulate_tolerant); otherwise both sides strictly at their
    // operating thresholds.
    let report_at = |t: f32, tolerant: bool| {
        let mut acc: BTreeMap<u32, ClassAgreement> = BTreeMap::new();
        let f = if tolerant { floor } else { 0.0 };
        for (r, c) in &pairs {
            let (r, c): (Vec<_>, Vec<_>) = if tolerant {
                (r.clone(), c.clone())
            } else {
                (r.iter().filter(|d| d.score >= t_ref).copied().collect(), c.iter().filter(|d| d.score >= t).copied().collect())
            };
            accumulate_tolerant(&mut acc, &r, &c, t_ref, t, f, a.iou);
        }
        acc
    };
    let total = |acc: &BTreeMap<u32, ClassAgreement>| acc.values().fold((0u64, 0u64), |s, c| (s.0 + c.reference, s.1 + c.candidate));
    let at_default = report_at(cparams.score_threshold, false);
    let tolerant_default = report_at(cparams.score_threshold, true);
    // Smallest threshold (0.01 steps) at which the candidate has no more boxes than the reference.
    let (ref_total, _) = total(&at_default);
    let restoring = (0..=80).map(|k| (20 + k) as f32 / 100.0).find(|&t| total(&report_at(t, false)).1 <= ref_total).unwrap_or(1.0);
    let at_restoring = report_at(restoring, false);
    let tolerant_restoring = report_at(restoring, true);
    eprintln!("fovea compare: {} frames (every {}, {} excluded), match at IoU >= {}", pairs.len(), a.every, excluded.len(), a.iou);
    eprintln!("  reference {} (threshold {}), candidate {}", rdet.manifest().name, rparams.score_threshold, cdet.manifest().name);
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
