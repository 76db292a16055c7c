//! Criterion benchmarks of the ROI stage on real frames (bigbuckbunny.mp4 scaled to 1080p and
//! 720p): ROI batch (crop + resize to 224 + normalise, NCHW f32) and colour statistics, for 1, 64
//! and 1024 player-sized ROIs per call; throughput in ROIs per second. Also a large copy, the
//! machine's memory bandwidth, to say how close the ROI batch comes to it.
//! `validator`: the Score Vision validator's workload, 5602 boxes over 750 1080p frames (frames
//! cycled from the first 30 of a clip held in memory, so decoding is not measured), colour
//! statistics for every box and a 224x224 f32 tensor for every box, in batches of 16 frames as
//! `fovea verify` does. The clip and boxes come from benches/peers/roi_compare.py (which runs
//! this group side by side with a per-ROI Python loop on the same frames and boxes) through
//! FOVEA_VALIDATOR_CLIP and FOVEA_VALIDATOR_BOXES; without them the group is skipped.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fovea::roi::{self, crop_of, Crop, FrameView, RoiBatch, RoiRef, RoiSpec, StatsConfig, StatsParams};
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};

fn media(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("FOVEA_MEDIA").map(std::path::PathBuf::from).unwrap_or_else(|| "../shared/media".into());
    dir.join(name)
}

fn frame(w: u32, h: u32) -> Vec<u8> {
    let out = OutputFormat { width: w, height: h, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let pool = FramePool::new(1);
    let mut d = Decoder::open(&media("bigbuckbunny.mp4"), Sampling { start: 2.0, ..Sampling::default() }, out).expect("bigbuckbunny.mp4");
    d.next_frame(&pool).unwrap().unwrap().data.to_vec()
}

/// `n` boxes of a broadcast player's size (about 2% x 7% of the frame), spread over the frame.
fn crops(n: usize, w: u32, h: u32) -> Vec<Crop> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..n)
        .map(|_| {
            let (bw, bh) = (w as f32 * (0.015 + 0.01 * next()), h as f32 * (0.06 + 0.03 * next()));
            let (x, y) = (next() * (w as f32 - bw), next() * (h as f32 - bh));
            crop_of([x, y, x + bw, y + bh], 1.0, w, h).unwrap().0
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let spec = RoiSpec::default();
    let params = StatsParams::new(&StatsConfig::default(), ChannelOrder::Rgb);
    for (name, w, h) in [("1080p", 1920u32, 1080u32), ("720p", 1280, 720)] {
        let data = frame(w, h);
        let view = FrameView { data: &data, width: w, height: h, stride: w as usize * 3 };
        let mut g = c.benchmark_group(format!("roi_batch_224_f32/{name}"));
        for n in [1usize, 64, 1024] {
            let refs: Vec<RoiRef> = crops(n, w, h).into_iter().map(|crop| RoiRef { frame: 0, crop }).collect();
            let mut out = RoiBatch::default();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new("rois", n), &refs, |b, refs| b.iter(|| roi::extract(&[view], refs, &spec, &mut out)));
        }
        g.finish();
        let mut g = c.benchmark_group(format!("colour_stats/{name}"));
        for n in [1usize, 64, 1024] {
            let rois: Vec<(usize, Crop)> = crops(n, w, h).into_iter().map(|c| (0, c)).collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new("rois", n), &rois, |b, rois| b.iter(|| roi::colour_stats(&[view], rois, &params)));
        }
        g.finish();
    }
    // Memory bandwidth: copying 256 MiB (read + write), the ceiling for writing ROI tensors.
    let src = vec![1u8; 256 << 20];
    let mut dst = vec![0u8; 256 << 20];
    let mut g = c.benchmark_group("memory");
    g.throughput(Throughput::Bytes(src.len() as u64));
    g.sample_size(10);
    g.bench_function("copy_256MiB", |b| b.iter(|| dst.copy_from_slice(&src)));
    g.finish();
}

fn validator(c: &mut Criterion) {
    let (Some(clip), Some(boxes)) = (std::env::var_os("FOVEA_VALIDATOR_CLIP"), std::env::var_os("FOVEA_VALIDATOR_BOXES")) else {
        eprintln!("validator: skipped (run benches/peers/roi_compare.py, which sets FOVEA_VALIDATOR_CLIP and FOVEA_VALIDATOR_BOXES)");
        return;
    };
    const DISTINCT: usize = 30;
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let pool = FramePool::new(DISTINCT);
    let mut d = Decoder::open(std::path::Path::new(&clip), Sampling::default(), out).expect("validator clip");
    let mut frames = Vec::new();
    while frames.len() < DISTINCT {
        frames.push(d.next_frame(&pool).unwrap().expect("30 frames"));
    }
    let (w, h) = (frames[0].width, frames[0].height);
    let views: Vec<FrameView> = frames.iter().map(|f| FrameView { data: &f.data, width: w, height: h, stride: w as usize * 3 }).collect();
    let file = fovea::output::read::read_boxes(std::path::Path::new(&boxes)).expect("validator boxes");
    // Per 16-frame batch: (view index, stats crop, tensor crop) of every box.
    let mut batches: Vec<Vec<(usize, Crop, Crop)>> = Vec::new();
    let mut n = 0;
    for chunk in file.frames.chunks(16) {
        let mut b = Vec::new();
        for f in chunk {
            let vi = f.index as usize % DISTINCT;
            for det in &f.detections {
                let expand = if det.class_id == 0 { 4.0 } else { 1.0 };
                let (sc, _) = crop_of(det.bbox, 1.0, w, h).expect("boxes inside the frame");
                let (tc, _) = crop_of(det.bbox, expand, w, h).unwrap();
                b.push((vi, sc, tc));
                n += 1;
            }
        }
        batches.push(b);
    }
    let spec = RoiSpec::default();
    let params = StatsParams::new(&StatsConfig::default(), ChannelOrder::Rgb);
    let mut g = c.benchmark_group("validator");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    let mut out = RoiBatch::default();
    g.bench_function(format!("{n}_rois_{}_frames", file.frames.len()), |b| {
        b.iter(|| {
            for batch in &batches {
                let s: Vec<(usize, Crop)> = batch.iter().map(|r| (r.0, r.1)).collect();
                std::hint::black_box(roi::colour_stats(&views, &s, &params));
                let refs: Vec<RoiRef> = batch.iter().map(|r| RoiRef { frame: r.0, crop: r.2 }).collect();
                roi::extract(&views, &refs, &spec, &mut out);
            }
        })
    });
    g.finish();
}

/// The host side of the GPU path per frame: packing a decoded frame into a staging slot of the
/// frame pool (on a GPU the slot is pinned memory and the copy engine takes it from there). Heap
/// slots here, since this machine has no GPU; pinned slots are written the same way.
fn staging(c: &mut Criterion) {
    use fovea::cuda::pool::{pack_rows, HeapStaging, StagingPool};
    let mut g = c.benchmark_group("gpu_staging");
    for (name, w, h) in [("1080p", 1920u32, 1080u32), ("720p", 1280, 720)] {
        let f = frame(w, h);
        let bytes = f.len();
        let mut pool = StagingPool::new(HeapStaging, 4, bytes).unwrap();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let (_, buf) = pool.acquire(bytes).unwrap();
                pack_rows(&f, w as usize * 3, w as usize * 3, h as usize, buf);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, validator, staging);
criterion_main!(benches);
