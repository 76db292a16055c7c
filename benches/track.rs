//! Criterion benchmark of the tracker: time per frame with 10, 30 and 100 objects moving with
//! noise (benches/peers/bytetrack_peer.py times supervision's sv.ByteTrack on the same workload).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fovea::detect::Detection;
use fovea::track::{Tracker, TrackerConfig};

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// `frames` frames of `n` objects on a grid moving right/down with 2 px noise, scores 0.3..1.
fn sequence(n: usize, frames: usize) -> Vec<Vec<Detection>> {
    let mut r = Lcg(n as u64);
    let cols = (n as f32).sqrt().ceil() as usize;
    let starts: Vec<(f32, f32, f32, f32)> =
        (0..n).map(|i| ((i % cols) as f32 * 120.0, (i / cols) as f32 * 200.0, r.next() * 2.0 - 1.0, r.next() - 0.5)).collect();
    (0..frames)
        .map(|f| {
            starts
                .iter()
                .map(|&(x, y, vx, vy)| {
                    let (x, y) = (x + vx * f as f32 + r.next() * 2.0, y + vy * f as f32 + r.next() * 2.0);
                    Detection::new([x, y, x + 40.0, y + 100.0], 0.3 + 0.7 * r.next(), 0)
                })
                .collect()
        })
        .collect()
}

fn tracker(c: &mut Criterion) {
    let mut g = c.benchmark_group("bytetrack_per_frame");
    for n in [10usize, 30, 100] {
        let seq = sequence(n, 300);
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new("objects", n), &seq, |b, seq| {
            // Each iteration tracks one frame; the tracker is warm (tracks established).
            let mut t = Tracker::new(TrackerConfig::default(), 30.0);
            let mut f = 0usize;
            b.iter(|| {
                let ids = t.update(f as u64, &seq[f % seq.len()]);
                f += 1;
                if f % seq.len() == 0 {
                    t = Tracker::new(TrackerConfig::default(), 30.0);
                }
                ids
            })
        });
    }
    g.finish();
}

criterion_group!(benches, tracker);
criterion_main!(benches);
