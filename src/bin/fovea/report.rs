//! Progress on terminals and in logs, and the summaries commands print.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fovea::output::{open_output, ResultSink};
use fovea::pipeline::{Progress, RunReport};
use fovea::video::Sampling;

use crate::args::*;

pub(crate) fn expected_frames(info: &fovea::video::VideoInfo, s: &Sampling) -> Option<u64> {
    let fps = info.fps?;
    let total = info.duration.map(|d| d * fps).or(info.declared_frames.map(|n| n as f64))?;
    let span = (total - s.start * fps).max(0.0).min(s.duration.map_or(f64::MAX, |d| d * fps));
    let mut n = span / s.stride as f64;
    if let Some(m) = s.max_fps {
        n = n.min(span / fps * m);
    }
    Some(n.ceil() as u64)
}

/// A progress bar on a terminal, plain lines every few seconds otherwise.
pub(crate) struct ProgressOut {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    start: Instant,
    last_line: Instant,
    expected: Option<u64>,
}

impl ProgressOut {
    pub(crate) fn new(quiet: bool, expected: Option<u64>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (!quiet && tty).then(|| {
            let b = match expected {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::no_length(),
            };
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames  {per_sec}  ETA {eta}",
                )
                .expect("static template"),
            );
            b
        });
        Self { bar, plain: !quiet && !tty, start: Instant::now(), last_line: Instant::now(), expected }
    }

    pub(crate) fn update(&mut self, p: Progress) {
        if let Some(b) = &self.bar {
            b.set_position(p.processed);
        } else if self.plain && self.last_line.elapsed().as_secs_f64() >= 5.0 {
            self.last_line = Instant::now();
            let fps = p.processed as f64 / self.start.elapsed().as_secs_f64();
            let of = self.expected.map_or(String::new(), |n| format!("/{n}"));
            eprintln!("fovea: {}{of} frames processed (frame {}, {:.1} s), {fps:.1} FPS", p.processed, p.frame_index, p.pts);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

pub(crate) fn ms_per(s: f64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        s * 1000.0 / n as f64
    }
}

pub(crate) fn print_summary(r: &RunReport, why: &str, out: &Path, format: Format) {
    if let Some(v) = &r.video {
        let fps = v.fps.map_or("? fps".into(), |f| format!("{f:.2} fps"));
        eprintln!("fovea detect: {}", v.path.display());
        eprintln!("  input        {} {}x{} {fps}, {}", v.codec, v.width, v.height, v.container);
    }
    if let Some(d) = &r.detector {
        eprintln!("  model        {} {why}", d.model);
        eprintln!("  runtime      {}, {} workers x {} threads; {}", d.provider, d.workers, d.threads, d.batch_note);
    }
    let predicted = match r.frames_predicted {
        0 => String::new(),
        n => format!(" ({} by the detector, {n} predicted by the tracker)", r.frames_processed - n),
    };
    eprintln!("  frames       {} decoded, {} processed{predicted}", r.frames_decoded, r.frames_processed);
    let per: Vec<String> =
        r.per_class.iter().map(|(c, n)| format!("{} {n}", r.labels.get(*c as usize).map_or("?", |s| s.as_str()))).collect();
    eprintln!("  detections   {}{}", r.detections(), if per.is_empty() { String::new() } else { format!(" ({})", per.join(", ")) });
    let n = r.frames_processed;
    let t = &r.times;
    eprintln!(
        "  ms/frame     decode {:.2} | preprocess {:.2} | inference {:.2} | postprocess {:.2} | output {:.2}",
        ms_per(t.decode_s, n.max(1)),
        ms_per(t.preprocess_s, n),
        ms_per(t.inference_s, n),
        ms_per(t.postprocess_s, n),
        ms_per(t.output_s, n)
    );
    if r.tiles > 0 {
        eprintln!("  tiles        {} tiles besides the whole frames ({:.1} a frame)", r.tiles, r.tiles as f64 / n.max(1) as f64);
    }
    match r.tracks {
        Some(n) => eprintln!("  tracking     ByteTrack per class, {n} track ids issued"),
        None => eprintln!("  tracking     off"),
    }
    match r.reuse {
        Some(s) => {
            let total = (s.calls_made + s.calls_saved).max(1);
            let pct = 100.0 * s.calls_saved as f64 / total as f64;
            eprintln!("  classifier   {} objects classified, {} answered from their track ({pct:.0}% saved)", s.calls_made, s.calls_saved)
        }
        None => eprintln!("  classifier   none"),
    }
    let s = &r.stages;
    if s.pitch_frames > 0 {
        let by = if s.pitch_model_runs > 0 { format!("model on {} frames, lines between", s.pitch_model_runs) } else { "lines".into() };
        eprintln!(
            "  pitch        {by}: keypoints in {} of {} frames ({:.2} ms a frame)",
            s.pitch_found,
            s.pitch_frames,
            ms_per(s.pitch_s, s.pitch_frames)
        );
    }
    eprintln!("  throughput   {:.1} FPS end to end ({:.2} s wall)", r.fps(), r.wall_s);
    let fmt = fovea::output::Format::from(format).name();
    eprintln!("  output       {} ({fmt})", out.display());
}

/// The median of `v` (sorted in place).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The results writer for `output` (`-`: stdout) in `format`, and the output's name for the
/// summary. `tracked`: whether the results carry track ids (Score Vision ids come from them).
/// `started`: a Score Vision file ends with the `processing_time` since then.
pub(crate) fn open_sink(
    output: &Path,
    format: Format,
    labels: &[String],
    tracked: bool,
    started: Option<Instant>,
) -> anyhow::Result<(Box<dyn ResultSink>, PathBuf)> {
    let (out, name) = open_output(output)?;
    let sink = fovea::output::sink(format.into(), out, name.clone(), labels, tracked, started);
    Ok((sink, name))
}
