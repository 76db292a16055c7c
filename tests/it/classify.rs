//! The zero-shot path ROI -> encoder -> similarity -> policy -> label with a generated CLIP-like
//! model whose right answers are known by construction (scripts/make_test_models.py), batched and
//! unbatched, through the shipped Score Vision policy; and bad inputs at start-up.
use crate::common;

use common::*;
use fovea::classify::policy::Outcome;
use fovea::classify::{ClipManifest, Policy, ZeroShot};
use fovea::roi::{self, Crop, FrameView, RoiBatch, RoiRef};

const COLOURS: [(&str, [u8; 3]); 8] = [
    ("grass", [40, 160, 40]),
    ("red", [200, 30, 30]),
    ("yellow", [220, 220, 30]),
    ("magenta", [200, 30, 200]),
    ("blue", [30, 30, 200]),
    ("black", [20, 20, 20]),
    ("white", [240, 240, 240]),
    ("skin", [200, 150, 120]),
];

/// A 64 x 32 frame per colour (solid, with a little texture).
fn frames() -> Vec<Vec<u8>> {
    COLOURS.iter().map(|(_, c)| (0..64 * 32).flat_map(|i| c.map(|v| v.saturating_add(((i * 7) % 5) as u8))).collect()).collect()
}

fn load() -> (ZeroShot, Policy) {
    let m = ClipManifest::load(&data("tiny_clip.toml")).unwrap();
    let zs = ZeroShot::load(&m, 1).unwrap();
    let p = Policy::load(&root().join("classify/scorevision.toml")).unwrap();
    p.check_against(&zs.table).unwrap();
    (zs, p)
}

fn decide(zs: &mut ZeroShot, p: &Policy, emb: &[f32], label: &str) -> Outcome {
    let z = &*zs;
    p.decide(label, &mut |ls| z.probabilities(emb, ls)).outcome
}

#[test]
fn the_validator_policy_decides_each_constructed_roi() {
    let (mut zs, p) = load();
    let fr = frames();
    let views: Vec<FrameView> = fr.iter().map(|d| FrameView { data: d, width: 64, height: 32, stride: 192 }).collect();
    let rois: Vec<RoiRef> = (0..views.len()).map(|i| RoiRef { frame: i, crop: Crop { x: 8, y: 4, w: 40, h: 24 } }).collect();
    let mut batch = RoiBatch::default();
    roi::extract(&views, &rois, &zs.manifest.roi.clone(), &mut batch);
    let emb = zs.embed(&batch, rois.len()).unwrap();
    let d = zs.manifest.dim;
    let e = |name: &str| {
        let i = COLOURS.iter().position(|c| c.0 == name).unwrap();
        emb[i * d..(i + 1) * d].to_vec()
    };
    use Outcome::*;
    let want = [
        ("grass", "player", Reject("grass".into())),
        ("red", "player", Assign("player".into())),
        ("yellow", "player", Assign("goalkeeper".into())),
        ("magenta", "person", Assign("referee".into())),
        ("blue", "player", Reject("crowd".into())),
        ("black", "referee", Reject("black shape".into())),
        ("white", "football", Assign("football".into())),
        ("grass", "football", Reject("not a ball".into())),
        ("black", "sports_ball", Reject("not a ball".into())),
        ("red", "car", Keep),
    ];
    for (colour, label, outcome) in want {
        assert_eq!(decide(&mut zs, &p, &e(colour), label), outcome, "{colour} box labelled {label}");
    }
    // Probabilities: softmax over the step's labels.
    let probs = zs.probabilities(&e("red"), &["person".into(), "grass".into()]);
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5 && probs[0] > 0.99, "{probs:?}");

    // Unbatched: one ROI per call gives the same embeddings.
    for (i, r) in rois.iter().enumerate() {
        let mut one = RoiBatch::default();
        roi::extract(&views, std::slice::from_ref(r), &zs.manifest.roi.clone(), &mut one);
        let e1 = zs.embed(&one, 1).unwrap();
        let diff = e1.iter().zip(&emb[i * d..(i + 1) * d]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "ROI {i}: batched vs unbatched differ by {diff}");
    }
    assert_eq!(zs.encoder.calls, 1 + rois.len() as u64);
}

#[test]
fn bad_models_tables_and_policies_fail_at_start_up() {
    let dir = tempdir();
    let copy = |name: &str| std::fs::copy(data(name), dir.path().join(name)).unwrap();
    copy("tiny_clip.onnx");
    copy("tiny_clip_text.json");
    copy("tiny_clip_text.npy");
    let manifest = std::fs::read_to_string(data("tiny_clip.toml")).unwrap();
    let write = |text: &str| {
        let p = dir.path().join("m.toml");
        std::fs::write(&p, text).unwrap();
        ClipManifest::load(&p).and_then(|m| ZeroShot::load(&m, 1)).unwrap_err().to_string()
    };
    // Regression: sizes and normalisation taken on trust (an input of 100000 allocated without
    // bound; a NaN mean or a tiny std ran and found nothing).
    let e = write(&manifest.replace("size = 16", "size = 100000"));
    assert!(e.contains("input.size must be within 1..=1024"), "{e}");
    let e = write(&manifest.replace("mean = [122.7709", "mean = [nan"));
    assert!(e.contains("input.mean must be finite"), "{e}");
    let e = write(&manifest.replace("std = [68.5005", "std = [1e-38"));
    assert!(e.contains("input.std must be finite and >= 0.001"), "{e}");
    // Embedding size differs from the table's.
    let e = write(&manifest.replace("dim = 8", "dim = 16"));
    assert!(e.contains("16") && e.contains("8-dimensional"), "{e}");
    // A table that is not normalised.
    let npy = std::fs::read(data("tiny_clip_text.npy")).unwrap();
    let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let mut scaled = npy.clone();
    for c in scaled[10 + hlen..].chunks_exact_mut(4) {
        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * 2.0;
        c.copy_from_slice(&v.to_le_bytes());
    }
    std::fs::write(dir.path().join("tiny_clip_text.npy"), &scaled).unwrap();
    let e = write(&manifest);
    assert!(e.contains("L2 norm") && e.contains("row 0"), "{e}");
    // An empty table.
    fovea::infer::calib::write_npy(&dir.path().join("tiny_clip_text.npy"), &[0, 8], &[]).unwrap();
    std::fs::write(dir.path().join("tiny_clip_text.json"), r#"{"dim": 8, "prompts": []}"#).unwrap();
    let e = write(&manifest);
    assert!(e.contains("empty"), "{e}");
    // A policy naming a label the table lacks.
    let (zs, _) = load();
    let p = Policy::parse(
        "[[groups]]\nclasses = [\"player\"]\n[[groups.steps]]\nlabels = [\"person\", \"linesman\"]\nassign = { person = \"player\" }\n",
        std::path::Path::new("p.toml"),
    )
    .unwrap();
    let e = p.check_against(&zs.table).unwrap_err().to_string();
    assert!(e.contains("linesman") && e.contains("p.toml"), "{e}");
    // A step with no decision.
    let e = Policy::parse("[[groups]]\nclasses = [\"a\"]\n[[groups.steps]]\nlabels = [\"x\", \"y\"]\n", std::path::Path::new("p.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("exactly one of"), "{e}");
}

#[test]
fn detect_labels_objects_through_the_reuse_cache() {
    let dir = tempdir();
    let out = dir.path().join("d.jsonl");
    let vtest = media("vtest.avi");
    let args = [
        "detect",
        vtest.to_str().unwrap(),
        "--duration",
        "3",
        "--classifier",
        "tests/data/tiny_clip.toml",
        "--model",
        "engines/nanodet-g-416.toml",
    ];
    let o = fovea(&[&args[..], &["-q", "-o", out.to_str().unwrap()]].concat());
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let policy_labels = ["player", "goalkeeper", "referee", "grass", "crowd", "black shape", "football", "not a ball", "shoe", "head"];
    let mut sources = std::collections::BTreeMap::new();
    for l in std::fs::read_to_string(&out).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        for d in v["detections"].as_array().unwrap() {
            *sources.entry(d["source"].as_str().unwrap().to_string()).or_insert(0) += 1;
            let label = d["label"].as_str().unwrap();
            if d["class_id"] == 0 {
                assert!(policy_labels.contains(&label), "a person labelled {label}");
            }
        }
    }
    assert!(sources.get("classifier").copied().unwrap_or(0) > 0 && sources.get("track").copied().unwrap_or(0) > 0, "{sources:?}");
    assert!(err.contains("answered from their track"), "{err}");
    // Score Vision output: classes from the labels; boxes labelled as no Score Vision class are left out.
    let sv = dir.path().join("d.json");
    let o = fovea(&[&args[..], &["-q", "--format", "scorevision", "-o", sv.to_str().unwrap()]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sv).unwrap()).unwrap();
    let n: usize = v["frames"].as_object().unwrap().values().map(|f| f["objects"].as_array().unwrap().len()).sum();
    let all = std::fs::read_to_string(&out).unwrap();
    let kept = all.matches("\"label\":\"player\"").count()
        + all.matches("\"label\":\"goalkeeper\"").count()
        + all.matches("\"label\":\"referee\"").count()
        + all.matches("\"label\":\"football\"").count();
    assert_eq!(n, kept, "Score Vision boxes are exactly the ones labelled with its classes");
}

/// An encoder exported with a fixed batch of 1 is called one ROI at a time (ONNX Runtime refuses a
/// batch of 8 for it) and gives the symbolic-batch encoder's embeddings; on a GPU provider its
/// TensorRT plan declares no dynamic-batch profile, while the symbolic one gets 1..=256 (issue 21:
/// a 1..256 profile was declared for every encoder).
#[test]
fn a_fixed_batch_encoder_is_called_at_its_batch_and_gets_no_tensorrt_profile() {
    let fr = frames();
    let views: Vec<FrameView> = fr.iter().map(|d| FrameView { data: d, width: 64, height: 32, stride: 192 }).collect();
    let rois: Vec<RoiRef> = (0..views.len()).map(|i| RoiRef { frame: i, crop: Crop { x: 8, y: 4, w: 40, h: 24 } }).collect();
    let dynamic_m = ClipManifest::load(&data("tiny_clip.toml")).unwrap();
    let fixed_m = ClipManifest::load(&data("tiny_clip_b1.toml")).unwrap();
    let (mut dynamic, mut fixed) = (ZeroShot::load(&dynamic_m, 1).unwrap(), ZeroShot::load(&fixed_m, 1).unwrap());
    let mut batch = RoiBatch::default();
    roi::extract(&views, &rois, &dynamic.manifest.roi.clone(), &mut batch);
    let a = dynamic.embed(&batch, rois.len()).unwrap();
    let b = fixed.embed(&batch, rois.len()).unwrap();
    assert_eq!(
        (dynamic.encoder.calls, fixed.encoder.calls),
        (1, rois.len() as u64),
        "one call for the symbolic batch, one per ROI for batch 1"
    );
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(diff <= 1e-6, "the fixed-batch encoder's embeddings differ by {diff}");

    use fovea::infer::provider::{ProviderKind, Selection};
    let trt = Selection::resolve(None, Some(ProviderKind::TensorRt), false).unwrap();
    let get = |o: &[(String, String)], k: &str| o.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let (plan, fixed_batch) = fovea::infer::encoder::ImageEncoder::provider_plan(&dynamic_m.encoder_model(), &trt).unwrap();
    assert_eq!(fixed_batch, None);
    assert_eq!(get(&plan.options, "trt_profile_min_shapes").as_deref(), Some("pixel_values:1x3x16x16"));
    assert_eq!(get(&plan.options, "trt_profile_max_shapes").as_deref(), Some("pixel_values:256x3x16x16"));
    let (plan, fixed_batch) = fovea::infer::encoder::ImageEncoder::provider_plan(&fixed_m.encoder_model(), &trt).unwrap();
    assert_eq!(fixed_batch, Some(1));
    assert!(plan.options.iter().all(|(k, _)| !k.starts_with("trt_profile")), "{:?}", plan.options);
}

/// Encoder workers (issue 20): with two threads the encoder runs two sessions at once on halves of
/// a batch (or on alternate calls of a fixed batch); the embeddings equal one worker's exactly.
#[test]
fn encoder_workers_give_one_workers_embeddings() {
    let fr = frames();
    let views: Vec<FrameView> = fr.iter().map(|d| FrameView { data: d, width: 64, height: 32, stride: 192 }).collect();
    let rois: Vec<RoiRef> = (0..views.len()).map(|i| RoiRef { frame: i, crop: Crop { x: 8 + i as u32, y: 4, w: 40, h: 24 } }).collect();
    for manifest in ["tiny_clip.toml", "tiny_clip_b1.toml"] {
        let m = ClipManifest::load(&data(manifest)).unwrap();
        let (mut one, mut two) = (ZeroShot::load(&m, 1).unwrap(), ZeroShot::load(&m, 2).unwrap());
        assert!(
            one.encoder.provider.contains("1 workers") && two.encoder.provider.contains("2 workers x 1 threads"),
            "{} / {}",
            one.encoder.provider,
            two.encoder.provider
        );
        let mut batch = RoiBatch::default();
        roi::extract(&views, &rois, &one.manifest.roi.clone(), &mut batch);
        assert!(rois.len() >= 3, "an odd split is exercised");
        let (a, b) = (one.embed(&batch, rois.len()).unwrap(), two.embed(&batch, rois.len()).unwrap());
        assert_eq!(a, b, "{manifest}: embeddings with two workers");
        assert_eq!((one.encoder.rois, two.encoder.rois), (rois.len() as u64, rois.len() as u64));
    }
}
