//! Times the CPU pitch-line kernel's stages on one raw RGB frame: `cargo run --release --example
//! lines_stages -- FRAME.rgb WIDTH HEIGHT [ROUNDS]` (a development aid; `make bench-score` is the
//! benchmark).
use std::time::Instant;

use fovea::image::{ChannelOrder, FrameView};
use fovea::pitch::lines::{line_planes, mask_of, opening, prep, LineParams, GRASS_RADIUS, TOPHAT_RADIUS};
use fovea::pitch::segments::{canny, gaussian5, hough_lines_p, keep_segments};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&a[1]).expect("frame");
    let (w, h): (usize, usize) = (a[2].parse().unwrap(), a[3].parse().unwrap());
    let rounds: usize = a.get(4).map_or(20, |r| r.parse().unwrap());
    let view = FrameView { data: &data, width: w as u32, height: h as u32, stride: w * 3 };
    let p = LineParams::default();
    let mut t = [0f64; 8];
    for _ in 0..rounds {
        let s = Instant::now();
        let (gray, grass) = prep(&view, ChannelOrder::Rgb, &p);
        t[0] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let opened = opening(&gray, w, h, TOPHAT_RADIUS as usize);
        t[1] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let grass = opening(&grass, w, h, GRASS_RADIUS as usize);
        t[2] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let masked: Vec<u8> = mask_of(&gray, &opened, &grass, p.white).iter().map(|&m| m * 255).collect();
        t[3] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let blur = gaussian5(&masked, w, h);
        t[4] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let edges = canny(&blur, w, h);
        t[5] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let hough = hough_lines_p(&edges, w, h);
        t[6] += s.elapsed().as_secs_f64();
        let s = Instant::now();
        let kept = keep_segments(&hough, &grass, w, h);
        t[7] += s.elapsed().as_secs_f64();
        std::hint::black_box(kept);
    }
    let names = ["prep", "tophat opening", "grass opening", "mask", "gaussian", "canny", "hough", "keep"];
    for (n, v) in names.iter().zip(t) {
        println!("{n:16} {:7.2} ms", v * 1e3 / rounds as f64);
    }
    println!("{:16} {:7.2} ms", "total", t.iter().sum::<f64>() * 1e3 / rounds as f64);
    let s = Instant::now();
    for _ in 0..rounds {
        let (m, g) = line_planes(&view, ChannelOrder::Rgb, &p);
        std::hint::black_box(fovea::pitch::segments::PitchLines::from_planes(&m, &g, w as u32, h as u32));
    }
    println!("{:16} {:7.2} ms", "end to end", s.elapsed().as_secs_f64() * 1e3 / rounds as f64);
}
