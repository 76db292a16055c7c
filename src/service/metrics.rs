//! The service's metrics in the Prometheus text format (version 0.0.4): jobs by state, frames,
//! per-stage latency histograms, inference batch sizes, queue depths, FPS and resident memory.
#![forbid(unsafe_code)]

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::jobs::JobState;
use crate::pipeline::batcher::BatcherStats;
use crate::pipeline::RunReport;

/// Upper bounds (seconds) of the per-frame stage latency histograms.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0];
const STAGES: [&str; 5] = ["decode", "preprocess", "inference", "postprocess", "output"];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// `n` observations of `v`.
    fn observe(&mut self, v: f64, n: u64) {
        for (c, b) in self.counts.iter_mut().zip(BUCKETS) {
            if v <= b {
                *c += n;
            }
        }
        self.count += n;
        self.sum += v * n as f64;
    }
}

/// Counters the service and its jobs update.
#[derive(Default)]
pub(crate) struct Metrics {
    pub frames: AtomicU64,
    pub submitted: AtomicU64,
    pub refused: AtomicU64,
    /// Frames of live sources dropped because the pipeline was behind (never for files).
    pub dropped: AtomicU64,
    /// Network sources opened again after a failure.
    pub reconnects: AtomicU64,
    decoded: AtomicU64,
    /// Per stage: each finished job's mean per-frame seconds, once per frame it processed.
    stages: Mutex<[Histogram; 5]>,
    /// Frames processed at the last render, and when (for FPS between scrapes).
    last: Mutex<Option<(u64, u64, std::time::Instant)>>,
}

impl Metrics {
    /// Adds a finished job's report: its frames decoded and its per-stage seconds per frame.
    pub fn observe(&self, r: &RunReport) {
        self.decoded.fetch_add(r.frames_decoded, Ordering::Relaxed);
        self.dropped.fetch_add(r.frames_dropped, Ordering::Relaxed);
        let n = r.frames_processed;
        if n == 0 {
            return;
        }
        let t = &r.times;
        let per = [t.decode_s, t.preprocess_s, t.inference_s, t.postprocess_s, t.output_s].map(|s| s / n as f64);
        let mut h = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        for (h, v) in h.iter_mut().zip(per) {
            h.observe(v, n);
        }
    }

    pub fn render(&self, states: &[JobState], running: usize, queued: usize, b: &BatcherStats, up: Duration) -> String {
        let mut o = String::new();
        let frames = self.frames.load(Ordering::Relaxed);
        let model_frames = b.frames.load(Ordering::Relaxed);
        let (fps, infer_fps) = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            let r = match *last {
                Some((f0, m0, t0)) if (now - t0).as_secs_f64() > 0.0 => {
                    let dt = (now - t0).as_secs_f64();
                    ((frames - f0) as f64 / dt, (model_frames - m0) as f64 / dt)
                }
                _ => (0.0, 0.0),
            };
            *last = Some((frames, model_frames, now));
            r
        };
        let mut metric = |name: &str, kind: &str, help: &str, lines: &[(String, f64)]| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in lines {
                let _ = writeln!(o, "{name}{labels} {v}");
            }
        };
        metric("fovea_frames_processed_total", "counter", "Frames processed by all jobs.", &[(String::new(), frames as f64)]);
        metric(
            "fovea_frames_decoded_total",
            "counter",
            "Frames decoded by finished jobs.",
            &[(String::new(), self.decoded.load(Ordering::Relaxed) as f64)],
        );
        metric(
            "fovea_live_frames_dropped_total",
            "counter",
            "Frames of live sources dropped because the pipeline was behind (never for files).",
            &[(String::new(), self.dropped.load(Ordering::Relaxed) as f64)],
        );
        metric(
            "fovea_source_reconnects_total",
            "counter",
            "Network sources opened again after a failure.",
            &[(String::new(), self.reconnects.load(Ordering::Relaxed) as f64)],
        );
        let by_state: Vec<(String, f64)> = [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed, JobState::Cancelled]
            .iter()
            .map(|s| (format!("{{state=\"{}\"}}", s.name()), states.iter().filter(|x| *x == s).count() as f64))
            .collect();
        metric("fovea_jobs", "gauge", "Jobs kept by the service, by state.", &by_state);
        metric(
            "fovea_jobs_submitted_total",
            "counter",
            "Jobs accepted.",
            &[(String::new(), self.submitted.load(Ordering::Relaxed) as f64)],
        );
        metric(
            "fovea_jobs_refused_total",
            "counter",
            "Jobs refused because the queue was full.",
            &[(String::new(), self.refused.load(Ordering::Relaxed) as f64)],
        );
        metric(
            "fovea_queue_depth",
            "gauge",
            "Jobs waiting, and running.",
            &[("{queue=\"jobs_queued\"}".into(), queued as f64), ("{queue=\"jobs_running\"}".into(), running as f64)],
        );
        metric(
            "fovea_fps",
            "gauge",
            "Frames per second since the previous scrape.",
            &[("{stage=\"end_to_end\"}".into(), fps), ("{stage=\"inference\"}".into(), infer_fps)],
        );
        metric(
            "fovea_inference_calls_total",
            "counter",
            "Model calls made by the shared detector.",
            &[(String::new(), b.calls.load(Ordering::Relaxed) as f64)],
        );
        metric(
            "fovea_inference_shared_calls_total",
            "counter",
            "Model calls that carried frames of more than one job.",
            &[(String::new(), b.shared_calls.load(Ordering::Relaxed) as f64)],
        );
        // Batch sizes as a histogram over frames per call.
        let _ = writeln!(o, "# HELP fovea_inference_batch_frames Frames per model call.\n# TYPE fovea_inference_batch_frames histogram");
        let mut cum = 0u64;
        let mut sum = 0u64;
        for (k, c) in b.frames_per_call.iter().enumerate() {
            let c = c.load(Ordering::Relaxed);
            cum += c;
            sum += c * (k as u64 + 1);
            if k + 1 < b.frames_per_call.len() {
                let _ = writeln!(o, "fovea_inference_batch_frames_bucket{{le=\"{}\"}} {cum}", k + 1);
            }
        }
        let _ = writeln!(o, "fovea_inference_batch_frames_bucket{{le=\"+Inf\"}} {cum}\nfovea_inference_batch_frames_sum {sum}\nfovea_inference_batch_frames_count {cum}");
        let _ = writeln!(
            o,
            "# HELP fovea_stage_seconds Per-frame latency of each stage (each finished job's mean, once per frame).\n# TYPE fovea_stage_seconds histogram"
        );
        let h = self.stages.lock().unwrap_or_else(|p| p.into_inner());
        for (name, h) in STAGES.iter().zip(h.iter()) {
            for (c, b) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(o, "fovea_stage_seconds_bucket{{stage=\"{name}\",le=\"{b}\"}} {c}");
            }
            let _ = writeln!(o, "fovea_stage_seconds_bucket{{stage=\"{name}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(o, "fovea_stage_seconds_sum{{stage=\"{name}\"}} {}", h.sum);
            let _ = writeln!(o, "fovea_stage_seconds_count{{stage=\"{name}\"}} {}", h.count);
        }
        drop(h);
        let _ =
            writeln!(o, "# HELP fovea_resident_memory_bytes Resident set size of the process.\n# TYPE fovea_resident_memory_bytes gauge");
        let _ = writeln!(o, "fovea_resident_memory_bytes {}", resident_bytes());
        let _ = writeln!(o, "# HELP fovea_uptime_seconds Seconds since the service started.\n# TYPE fovea_uptime_seconds gauge");
        let _ = writeln!(o, "fovea_uptime_seconds {}", up.as_secs_f64());
        o
    }
}

/// Resident set size from /proc/self/statm (0 where it cannot be read).
pub(crate) fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}
