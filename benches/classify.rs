//! Zero-shot classification throughput: ROIs per second through encoder + similarity + policy at
//! batch 1, 8, 32 and 64, with the generated tiny CLIP-like model (tests/data/tiny_clip.toml) and
//! a MobileNet-sized encoder with random weights (`scripts/make_test_models.py --bench` writes it
//! to .deps/bench; `make bench-classify` does both).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fovea::classify::{ClipManifest, Policy, ZeroShot};
use fovea::roi::{self, Crop, FrameView, RoiBatch, RoiRef};

fn bench(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let policy = Policy::load(&root.join("classify/scorevision.toml")).unwrap();
    let frame: Vec<u8> = (0..1280 * 720 * 3).map(|i: u32| ((i.wrapping_mul(2654435761)) >> 24) as u8).collect();
    let view = FrameView { data: &frame, width: 1280, height: 720, stride: 1280 * 3 };
    for model in ["tests/data/tiny_clip.toml", ".deps/bench/bench_encoder.toml"] {
        let path = root.join(model);
        if !path.exists() {
            eprintln!("{model}: skipped (run scripts/make_test_models.py --bench)");
            continue;
        }
        let m = ClipManifest::load(&path).unwrap();
        let mut zs = ZeroShot::load(&m, 0).unwrap();
        let mut g = c.benchmark_group(format!("zero_shot/{}", m.name));
        if m.roi.size > 64 {
            g.sample_size(10);
        }
        for batch in [1usize, 8, 32, 64] {
            let rois: Vec<RoiRef> = (0..batch as u32)
                .map(|i| RoiRef { frame: 0, crop: Crop { x: (i * 19) % 1200, y: (i * 7) % 600, w: 40, h: 100 } })
                .collect();
            let mut b = RoiBatch::default();
            roi::extract(&[view], &rois, &m.roi, &mut b);
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::new("batch", batch), &batch, |bch, &n| {
                bch.iter(|| {
                    let emb = zs.embed(&b, n).unwrap();
                    let d = zs.manifest.dim;
                    for e in emb.chunks_exact(d) {
                        std::hint::black_box(policy.decide("player", &mut |ls| zs.probabilities(e, ls)));
                    }
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
