//! `--annotate` and `--annotate-frames` (issue 17): the annotated video has the input's frame
//! count, size and rate (ffprobe); pixels on a drawn box's border differ from the input's, pixels
//! far from every box do not (beyond codec noise in the video, exactly in the lossless PNGs);
//! boxes a rule rejected are dashed grey; `track --video` draws on the boxes' video; bad requests
//! are clear errors.
use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};

fn read_jsonl(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p).unwrap().lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
}

fn boxes_of(line: &serde_json::Value) -> Vec<[f32; 4]> {
    line["detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let b: Vec<f32> = d["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            [b[0], b[1], b[2], b[3]]
        })
        .collect()
}

/// `stream=width,height,r_frame_rate` and the decoded frame count, by ffprobe.
fn probe(path: &Path) -> (u32, u32, String, u64) {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,r_frame_rate,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let f: Vec<&str> = s.split(',').collect();
    assert_eq!(f.len(), 4, "ffprobe on {}: '{s}'", path.display());
    (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].to_string(), f[3].parse().unwrap())
}

/// Frame `n` of `path` as packed BGR, decoded by the ffmpeg CLI.
fn ffmpeg_frame(path: &Path, n: u64) -> Vec<u8> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// Frame `n` of `path` as fovea decodes it (packed BGR): what the annotator draws on.
fn fovea_frame(path: &Path, n: u64) -> Vec<u8> {
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Bgr, fit: Fit::Stretch };
    let pool = FramePool::new(2);
    let mut d = Decoder::open(path, Sampling::default(), out).unwrap();
    loop {
        let f = d.next_frame(&pool).unwrap().expect("the frame exists");
        if f.index == n {
            return f.data.to_vec();
        }
    }
}

/// A PNG as packed BGR, with its size.
fn png_bgr(path: &Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let bgr = buf[..info.buffer_size()].chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
    (info.width, info.height, bgr)
}

/// Pixels far from every box (and its label above it) and outside the header.
fn far_from(boxes: &[[f32; 4]], w: u32, h: u32, margin: f32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let (fx, fy) = (x as f32, y as f32);
            let near = boxes.iter().any(|b| {
                // Labels sit above the box (or inside its top when there is no room) and may
                // reach right of it.
                fx > b[0] - margin && fx < b[2].max(b[0] + 260.0) + margin && fy > b[1] - 40.0 - margin && fy < b[3] + margin
            });
            let in_header = y < 50 && x < 420;
            if !near && !in_header {
                v.push((x, y));
            }
        }
    }
    v
}

fn at(px: &[u8], w: u32, x: u32, y: u32) -> [u8; 3] {
    let i = (y as usize * w as usize + x as usize) * 3;
    [px[i], px[i + 1], px[i + 2]]
}

fn diff(a: [u8; 3], b: [u8; 3]) -> f64 {
    a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum::<f64>() / 3.0
}

/// The pixels of each box's top and left border rows (inside the image).
fn border(boxes: &[[f32; 4]], w: u32, h: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for b in boxes {
        let (x0, y0) = (b[0].floor().max(0.0) as u32, b[1].floor().max(0.0) as u32);
        let (x1, y1) = ((b[2].ceil() as u32).min(w), (b[3].ceil() as u32).min(h));
        v.extend((x0..x1).map(|x| (x, y0)));
        v.extend((y0..y1).map(|y| (x0, y)));
    }
    v
}

/// `fovea detect` on `duration` seconds of vtest.avi with `flag` (`--annotate` or
/// `--annotate-frames`) writing to `to`: the JSONL results and the summary.
fn detect_annotated(dir: &Path, duration: &str, flag: &str, to: &Path) -> (Vec<serde_json::Value>, String) {
    let jsonl = dir.join("r.jsonl");
    let input = media("vtest.avi");
    let o = fovea(&[
        "detect",
        input.to_str().unwrap(),
        "--duration",
        duration,
        "-q",
        "-o",
        jsonl.to_str().unwrap(),
        flag,
        to.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (read_jsonl(&jsonl), stderr(&o))
}

#[test]
fn the_annotated_video_has_the_inputs_frames_size_and_rate_and_boxes_drawn() {
    let d = tempdir();
    let video = d.path().join("a.mp4");
    let input = media("vtest.avi");
    let (lines, err) = detect_annotated(d.path(), "4", "--annotate", &video);
    assert!(err.contains("annotated") && err.contains("40 frames (40 with results)"), "{err}");
    let (w, h, rate, frames) = probe(&video);
    let (iw, ih, irate, _) = probe(&input);
    assert_eq!((w, h, rate.as_str(), frames), (iw, ih, irate.as_str(), lines.len() as u64), "the annotated video's size, rate and frames");
    // Frame 20: drawn borders differ from the input, pixels far from the boxes do not (beyond
    // H.264's noise at crf 18).
    let (a, b) = (ffmpeg_frame(&video, 20), ffmpeg_frame(&input, 20));
    let boxes = boxes_of(&lines[20]);
    assert!(!boxes.is_empty());
    let on: Vec<f64> = border(&boxes, w, h).iter().map(|&(x, y)| diff(at(&a, w, x, y), at(&b, w, x, y))).collect();
    let on_mean = on.iter().sum::<f64>() / on.len() as f64;
    let far: Vec<f64> = far_from(&boxes, w, h, 12.0).iter().map(|&(x, y)| diff(at(&a, w, x, y), at(&b, w, x, y))).collect();
    let far_mean = far.iter().sum::<f64>() / far.len() as f64;
    assert!(far.len() > 10_000, "too few far pixels to judge: {}", far.len());
    assert!(on_mean > 25.0, "box borders barely differ from the input: {on_mean:.1}");
    assert!(far_mean < 4.0, "pixels far from any box differ by {far_mean:.2} on average");
}

#[test]
fn annotated_png_frames_change_only_the_boxes_and_labels() {
    let d = tempdir();
    let dir = d.path().join("frames");
    let input = media("vtest.avi");
    let (lines, _) = detect_annotated(d.path(), "1", "--annotate-frames", &dir);
    let mut names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let want: Vec<String> = (0..lines.len()).map(|i| format!("frame_{i:06}.png")).collect();
    assert_eq!(names, want);
    let (w, h, a) = png_bgr(&dir.join("frame_000005.png"));
    let b = fovea_frame(&input, 5);
    assert_eq!((w as usize * h as usize * 3), b.len());
    // With colour teams results come at the clip's end, without their frames: the annotator
    // decodes the input itself, and draws the same frames.
    let teams = d.path().join("teams");
    let o = fovea(&[
        "detect",
        input.to_str().unwrap(),
        "--duration",
        "1",
        "-q",
        "--teams",
        "-o",
        "-",
        "--annotate-frames",
        teams.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&teams).unwrap().count(), lines.len());
    let boxes = boxes_of(&lines[5]);
    let far = far_from(&boxes, w, h, 4.0);
    let changed = far.iter().filter(|&&(x, y)| at(&a, w, x, y) != at(&b, w, x, y)).count();
    assert_eq!(changed, 0, "{changed} of {} pixels far from the boxes changed in a lossless frame", far.len());
    let drawn = border(&boxes, w, h).iter().filter(|&&(x, y)| at(&a, w, x, y) != at(&b, w, x, y)).count();
    let all = border(&boxes, w, h).len();
    assert!(drawn as f64 >= 0.9 * all as f64, "only {drawn} of {all} border pixels drawn");
}

/// A short clip for verify and track (every frame of it is annotated).
fn short_clip(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("short.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(media("vtest.avi"))
        .args(["-frames:v", "8", "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"])
        .arg(&p)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    p
}

#[test]
fn verify_draws_rejected_boxes_dashed_grey_and_track_draws_on_the_boxes_video() {
    let d = tempdir();
    let clip = short_clip(d.path());
    // Each frame: a person-shaped box (kept) and a wide one the aspect rule rejects.
    let boxes = d.path().join("boxes.jsonl");
    let lines: Vec<String> = (0..8)
        .map(|i| {
            format!(
                r#"{{"frame":{i},"pts":{},"detections":[{{"bbox":[250,220,283,309],"score":0.9,"class_id":0,"label":"person"}},{{"bbox":[300,400,500,440],"score":0.8,"class_id":0,"label":"person"}}]}}"#,
                i as f64 / 10.0
            )
        })
        .collect();
    std::fs::write(&boxes, lines.join("\n") + "\n").unwrap();
    let (out, dir) = (d.path().join("v.jsonl"), d.path().join("vframes"));
    let o = fovea(&[
        "verify",
        clip.to_str().unwrap(),
        "--boxes",
        boxes.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--annotate-frames",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let verdicts: Vec<String> = read_jsonl(&out).iter().map(|v| v["verdict"].as_str().unwrap().to_string()).collect();
    assert_eq!(verdicts.iter().filter(|v| *v == "reject").count(), 8, "{verdicts:?}");
    let (w, _, a) = png_bgr(&dir.join("frame_000003.png"));
    let b = fovea_frame(&clip, 3);
    // The rejected box's top edge: grey dashes 6 px on, 6 px off.
    for x in [301, 302, 313, 314] {
        assert_eq!(at(&a, w, x, 400), [150, 150, 150], "dash at x {x}");
    }
    for x in [307, 308, 319, 320] {
        assert_eq!(at(&a, w, x, 400), at(&b, w, x, 400), "gap at x {x}");
    }
    // The kept box is solid and coloured (not grey).
    let k = at(&a, w, 260, 220);
    assert!(k != at(&b, w, 260, 220) && k != [150, 150, 150], "{k:?}");

    // track --video: every frame of the clip, the boxes' tracks drawn.
    let (tout, tvideo) = (d.path().join("t.jsonl"), d.path().join("t.mp4"));
    let o = fovea(&[
        "track",
        "--boxes",
        boxes.to_str().unwrap(),
        "--video",
        clip.to_str().unwrap(),
        "-o",
        tout.to_str().unwrap(),
        "--annotate",
        tvideo.to_str().unwrap(),
        "--annotate-codec",
        "mpeg4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("mpeg4"), "{}", stderr(&o));
    let (tw, th, _, frames) = probe(&tvideo);
    assert_eq!((tw, th, frames), (768, 576, 8));
}

#[test]
fn bad_annotation_requests_are_clear_errors() {
    let d = tempdir();
    let input = media("vtest.avi");
    let bad = d.path().join("out.notacontainer");
    let o = fovea(&["detect", input.to_str().unwrap(), "--duration", "0.5", "-q", "-o", "-", "--annotate", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("out.notacontainer") && stderr(&o).contains("cannot create the output"), "{}", stderr(&o));
    let o = fovea(&["detect", input.to_str().unwrap(), "-q", "--annotate", "x.mp4", "--annotate-codec", "vp9"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("expected auto, h264 or mpeg4, got 'vp9'"), "{}", stderr(&o));
    let boxes = d.path().join("b.jsonl");
    std::fs::write(&boxes, "{\"frame\":0,\"pts\":0.0,\"detections\":[]}\n").unwrap();
    let o = fovea(&["track", "--boxes", boxes.to_str().unwrap(), "--annotate", "x.mp4"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("give it with --video"), "{}", stderr(&o));
}
