//! Criterion benchmarks of the detector's CPU stages: preprocessing (resize + normalise),
//! output decoders and NMS. Throughput is in elements (frames or boxes) per second.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fovea::detect::{nms, DecodeParams, Detection, OutputDecoder, TensorView};
use fovea::image::Plan;
use fovea::infer::manifest::{DecoderSpec, Layout};
use std::hint::black_box;

/// Deterministic pseudo-random numbers in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn params() -> DecodeParams {
    DecodeParams { score_threshold: 0.35, nms_iou: 0.6, max_detections: 100, class_filter: None }
}

fn preprocess(c: &mut Criterion) {
    let mut g = c.benchmark_group("preprocess_resize_normalise");
    g.throughput(Throughput::Elements(1));
    for (w, h) in [(768u32, 576u32), (1280, 720), (1920, 1080)] {
        let mut r = Lcg(1);
        let src: Vec<u8> = (0..w * h * 3).map(|_| (r.next() * 255.0) as u8).collect();
        let plan = Plan::new(w, h, 416, 416, (416, 416, 0, 0), Layout::Nchw, [103.53, 116.28, 123.675], [57.375, 57.12, 58.395], 0);
        let mut dst = vec![0.0f32; 3 * 416 * 416];
        g.bench_with_input(BenchmarkId::new("to_416", format!("{w}x{h}")), &(), |b, _| {
            b.iter(|| plan.run(black_box(&src), w as usize * 3, &mut dst))
        });
    }
    g.finish();
}

/// NanoDet-g outputs with realistic sparsity: low background scores, a few dozen cells above the
/// threshold.
fn decoders(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    let strides = [8u32, 16, 32];
    let mut r = Lcg(7);
    let mut tensors: Vec<(Vec<i64>, Vec<f32>)> = Vec::new();
    for s in strides {
        let cells = (416 / s * 416 / s) as usize;
        let scores: Vec<f32> = (0..cells * 80)
            .map(|_| {
                let v = r.next();
                if v > 0.9995 {
                    0.4 + v * 0.5
                } else {
                    v * 0.1
                }
            })
            .collect();
        tensors.push((vec![1, cells as i64, 80], scores));
    }
    for s in strides {
        let cells = (416 / s * 416 / s) as usize;
        tensors.push((vec![1, cells as i64, 44], (0..cells * 44).map(|_| r.next() * 4.0).collect()));
    }
    let spec = DecoderSpec::Nanodet {
        strides: strides.to_vec(),
        reg_max: 10,
        scores: vec!["a".into(), "b".into(), "c".into()],
        boxes: vec!["d".into(), "e".into(), "f".into()],
        center_offset: 0.5,
    };
    let dec = OutputDecoder::new(spec, 80, 416, 416);
    let views: Vec<TensorView> = tensors.iter().map(|(s, d)| TensorView { shape: s, data: d }).collect();
    let mut out = Vec::new();
    g.bench_function("nanodet_416_coco", |b| {
        b.iter(|| {
            out.clear();
            dec.decode(black_box(&views), 0, &params(), &mut out);
        })
    });

    let n = 8400usize;
    let y8: Vec<f32> = (0..84 * n)
        .map(|i| {
            if i < 4 * n {
                r.next() * 640.0
            } else {
                let v = r.next();
                if v > 0.9995 {
                    v
                } else {
                    v * 0.1
                }
            }
        })
        .collect();
    let shape = [1i64, 84, n as i64];
    let dec = OutputDecoder::new(DecoderSpec::Yolov8 { output: "o".into() }, 80, 640, 640);
    g.bench_function("yolov8_640_coco", |b| {
        b.iter(|| {
            out.clear();
            dec.decode(&[TensorView { shape: &shape, data: black_box(&y8) }], 0, &params(), &mut out);
        })
    });

    let y5: Vec<f32> = (0..25200 * 85)
        .map(|i| {
            let v = r.next();
            if i % 85 < 4 {
                v * 640.0
            } else if v > 0.999 {
                v
            } else {
                v * 0.1
            }
        })
        .collect();
    let shape5 = [1i64, 25200, 85];
    let dec = OutputDecoder::new(DecoderSpec::Yolov5 { output: "o".into() }, 80, 640, 640);
    g.bench_function("yolov5_640_coco", |b| {
        b.iter(|| {
            out.clear();
            dec.decode(&[TensorView { shape: &shape5, data: black_box(&y5) }], 0, &params(), &mut out);
        })
    });
    g.finish();
}

fn nms_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("nms");
    for n in [100usize, 1000, 4096] {
        let mut r = Lcg(n as u64);
        let dets: Vec<Detection> = (0..n)
            .map(|_| {
                let (x, y) = (r.next() * 600.0, r.next() * 400.0);
                let (w, h) = (20.0 + r.next() * 80.0, 40.0 + r.next() * 120.0);
                Detection::new([x, y, x + w, y + h], r.next(), (r.next() * 4.0) as u32)
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &dets, |b, d| {
            b.iter(|| {
                let mut v = d.clone();
                nms(&mut v, 0.6, 300);
                v
            })
        });
    }
    g.finish();
}

criterion_group!(benches, preprocess, decoders, nms_bench);
criterion_main!(benches);
