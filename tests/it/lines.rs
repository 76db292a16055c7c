//! The pitch-line kernel (kernels/lines.cu, run on the CPU by the host harness) against its Rust
//! twin (src/pitch/lines.rs), pass by pass, on real frames of the shared media and on a drawn
//! pitch; tests/python/test_score.py checks the Rust mask against OpenCV's morphology.

use crate::common;

use common::*;
use fovea::image::FrameView;
use fovea::pitch::lines::{self, LineFrame, LineParams, GRASS_RADIUS, TOPHAT_RADIUS};
use fovea::pitch::segments::PitchLines;
use fovea::roi::stats::hsv_tables;
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};
use fovea_kernel_harness as h;

fn grid(w: u32, hgt: u32) -> (h::Dim3, h::Dim3) {
    // Fewer threads than pixels, so the grid-stride loop runs.
    let blocks = ((w * hgt) / 4096).clamp(1, 7);
    (h::Dim3 { x: blocks, y: 1, z: 1 }, h::Dim3 { x: 96, y: 1, z: 1 })
}

fn kernel_window(src: &[u8], w: u32, hgt: u32, radius: u32, columns: bool, is_max: bool) -> Vec<u8> {
    let mut dst = vec![0u8; src.len()];
    let (g, b) = grid(w, hgt);
    // SAFETY: src and dst hold w x h bytes; the harness runs the grid on this thread.
    unsafe { h::harness_line_window(g, b, src.as_ptr(), dst.as_mut_ptr(), w, hgt, radius, columns as u32, is_max as u32) };
    dst
}

fn kernel_opening(src: &[u8], w: u32, hgt: u32, r: u32) -> Vec<u8> {
    let e = kernel_window(&kernel_window(src, w, hgt, r, false, false), w, hgt, r, true, false);
    kernel_window(&kernel_window(&e, w, hgt, r, false, true), w, hgt, r, true, true)
}

/// The mask through the kernels, comparing every intermediate plane with the Rust one.
fn parity(data: &[u8], w: u32, hgt: u32, order: ChannelOrder) -> Vec<u8> {
    let view = FrameView { data, width: w, height: hgt, stride: w as usize * 3 };
    let p = LineParams::default();
    let f = LineFrame::of(&view, order);
    let (sdiv, hdiv) = hsv_tables();
    let n = (w * hgt) as usize;
    let (mut gray, mut grass) = (vec![0u8; n], vec![0u8; n]);
    let (g, b) = grid(w, hgt);
    // SAFETY: the frame holds h rows of stride bytes; gray and grass hold w x h bytes; the tables
    // have 256 entries each.
    unsafe {
        h::harness_line_prep(
            g,
            b,
            data.as_ptr(),
            &f as *const _ as *const u8,
            &p as *const _ as *const u8,
            sdiv.as_ptr(),
            hdiv.as_ptr(),
            gray.as_mut_ptr(),
            grass.as_mut_ptr(),
        )
    };
    let (rg, rs) = lines::prep(&view, order, &p);
    assert_eq!(gray, rg, "gray plane ({w}x{hgt})");
    assert_eq!(grass, rs, "grass plane ({w}x{hgt})");
    let (wu, hu) = (w as usize, hgt as usize);
    for (r, columns, is_max) in
        [(TOPHAT_RADIUS, false, false), (TOPHAT_RADIUS, true, true), (GRASS_RADIUS, true, false), (GRASS_RADIUS, false, true)]
    {
        assert_eq!(
            kernel_window(&gray, w, hgt, r, columns, is_max),
            lines::window(&gray, wu, hu, r as usize, columns, is_max),
            "window r {r} columns {columns} max {is_max}"
        );
    }
    let opened = kernel_opening(&gray, w, hgt, TOPHAT_RADIUS);
    let grass_open = kernel_opening(&grass, w, hgt, GRASS_RADIUS);
    let mut mask = vec![0u8; n];
    // SAFETY: every plane holds w x h bytes.
    unsafe { h::harness_line_mask(g, b, gray.as_ptr(), opened.as_ptr(), grass_open.as_ptr(), w, hgt, p.white, mask.as_mut_ptr()) };
    assert_eq!(mask, lines::line_mask(&view, order, &p), "mask ({w}x{hgt})");
    mask
}

/// A green pitch with noise and lines 3 px wide (two straight, one slanted), painted as broadcast
/// lines look after blending and compression: light, but still green enough to pass the grass
/// range (the validator keeps line pixels only where the grass mask holds).
fn drawn_pitch(w: u32, hgt: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity((w * hgt * 3) as usize);
    for y in 0..hgt {
        for x in 0..w {
            let n = ((x * 7 + y * 13) % 11) as u8;
            let line = (100..103).contains(&x) || (60..63).contains(&y) || (x as i32 - 2 * y as i32).abs() <= 1;
            d.extend_from_slice(&if line { [150 + n, 210 + n, 140 + n] } else { [40 + n, 130 + n, 50] });
        }
    }
    d
}

#[test]
fn kernel_equals_rust_on_a_drawn_pitch() {
    let (w, hgt) = (240u32, 130u32);
    let data = drawn_pitch(w, hgt);
    let mask = parity(&data, w, hgt, ChannelOrder::Rgb);
    let on = |x: u32, y: u32| mask[(y * w + x) as usize] != 0;
    let vertical = (5..hgt - 5).filter(|&y| !(55..68).contains(&y)).all(|y| on(101, y));
    assert!(vertical, "the vertical line is found along its length");
    let off_line = (0..hgt)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .filter(|&(x, y)| !(95..108).contains(&x) && !(55..68).contains(&y) && (x as i32 - 2 * y as i32).abs() > 6);
    assert!(off_line.clone().all(|(x, y)| !on(x, y)), "nothing off the lines");
    let view = FrameView { data: &data, width: w, height: hgt, stride: w as usize * 3 };
    let (m, grass) = lines::line_planes(&view, ChannelOrder::Rgb, &LineParams::default());
    assert_eq!(m, mask);
    let lines = PitchLines::from_planes(&m, &grass, w, hgt);
    assert!(lines.edge_pixels > 0 && lines.hough_segments >= lines.segments.len() && !lines.segments.is_empty(), "{lines:?}");
    // Every segment lies along one of the three painted lines (within a few pixels of it).
    for s in &lines.segments {
        let along_vertical = s[0].abs_diff(101) <= 4 && s[2].abs_diff(101) <= 4;
        let along_horizontal = s[1].abs_diff(61) <= 4 && s[3].abs_diff(61) <= 4;
        let along_diagonal = (s[0] - 2 * s[1]).abs() <= 8 && (s[2] - 2 * s[3]).abs() <= 8;
        assert!(along_vertical || along_horizontal || along_diagonal, "{s:?} is off the painted lines");
    }
    // A keypoint on the vertical line is within 3 px of a segment; one 30 px off is 26+ px off.
    let d = lines.distance(101.0, 40.0).unwrap();
    assert!(d * w as f64 <= 3.0, "{d}");
    let far = lines.distance(131.0, 40.0).unwrap();
    assert!(far * w as f64 >= 26.0, "{far}");
}

#[test]
fn kernel_equals_rust_on_real_frames() {
    let pool = FramePool::new(2);
    for (clip, order, size) in [
        ("market_street_1906.mp4", ChannelOrder::Rgb, (320, 180)),
        ("bigbuckbunny.mp4", ChannelOrder::Bgr, (0, 0)),
        ("messi5.jpg", ChannelOrder::Rgb, (0, 0)),
    ] {
        let fmt = OutputFormat { width: size.0, height: size.1, order, fit: Fit::Stretch };
        let mut d = Decoder::open(&media(clip), Sampling { stride: 30, ..Sampling::default() }, fmt).unwrap();
        let f = d.next_frame(&pool).unwrap().unwrap();
        let data = f.data.to_vec();
        parity(&data, f.width, f.height, order);
    }
    // Odd and tiny sizes: windows wider than the frame.
    for (w, hgt) in [(1u32, 1u32), (7, 3), (33, 40)] {
        let data: Vec<u8> = (0..w * hgt * 3).map(|i| (i * 37 % 251) as u8).collect();
        parity(&data, w, hgt, ChannelOrder::Rgb);
    }
}

/// A bar of white line on grass gives segments along its two long edges (Canny's edges of the
/// blurred bar), and distances are the validator's: to the nearest point of the nearest segment,
/// in frame-normalised units.
#[test]
fn a_bar_gives_segments_along_its_edges_and_distances_to_them() {
    let (w, hgt) = (200u32, 100u32);
    let mut mask = vec![0u8; (w * hgt) as usize];
    for y in 40..46 {
        for x in 20..180 {
            mask[(y * w + x) as usize] = 1;
        }
    }
    let grass = vec![255u8; (w * hgt) as usize];
    let l = PitchLines::from_planes(&mask, &grass, w, hgt);
    assert!(!l.segments.is_empty());
    for s in &l.segments {
        assert!(s[1] == s[3] && (37..=48).contains(&s[1]), "{s:?}: horizontal, at the bar's edges");
        assert!((s[2] - s[0]).abs() >= 100, "{s:?}: along the bar");
    }
    let y = l.segments[0][1] as f64;
    let (x0, x1) = (l.segments[0][0].min(l.segments[0][2]) as f64, l.segments[0][0].max(l.segments[0][2]) as f64);
    // Straight above the segment: the vertical gap; beyond its end: to the end point.
    let above = l.segments.iter().map(|s| (s[1] as f64 - 10.0).abs()).fold(f64::INFINITY, f64::min) / hgt as f64;
    assert!((l.distance((x0 + x1) / 2.0, 10.0).unwrap() - above).abs() < 1e-12);
    let beyond = l.distance(x1 + 15.0, y).unwrap();
    assert!(beyond <= 15.0 / w as f64 + 1e-12 && beyond > 0.0, "{beyond}");
    // Nothing on grass: no segment, no distance (the line score is then 0).
    let bare = PitchLines::from_planes(&mask, &vec![0u8; (w * hgt) as usize], w, hgt);
    assert!(bare.segments.is_empty() && bare.distance(50.0, 50.0).is_none());
}
