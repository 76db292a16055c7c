//! Decoding and sampling on real media, checked against ffprobe.

use crate::common;

use common::*;
use fovea::video::{ChannelOrder, Decoder, Fit, FramePool, OutputFormat, Sampling};
use fovea::Error;

const SMALL: OutputFormat = OutputFormat { width: 32, height: 24, order: ChannelOrder::Rgb, fit: Fit::Stretch };

/// Decodes `path` with `s`, returning (index, pts) of kept frames and the decoded count.
fn decode(path: &std::path::Path, s: Sampling) -> (Vec<(u64, f64)>, u64) {
    let pool = FramePool::new(2);
    let mut d = Decoder::open(path, s, SMALL).unwrap();
    let mut kept = Vec::new();
    while let Some(f) = d.next_frame(&pool).unwrap() {
        assert_eq!(f.data.len(), 32 * 24 * 3);
        kept.push((f.index, f.pts));
    }
    assert!(pool.allocations() <= 2, "the pool must not allocate per frame: {}", pool.allocations());
    (kept, d.stats().decoded)
}

#[test]
fn frame_counts_equal_ffprobe_with_and_without_stride() {
    for name in ["vtest.avi", "market_street_1906.mp4", "bigbuckbunny.mp4"] {
        let path = media(name);
        let n = ffprobe_frames(&path);
        let (kept, decoded) = decode(&path, Sampling::default());
        assert_eq!(decoded, n, "{name}: decoded frames vs ffprobe");
        assert_eq!(kept.len() as u64, n, "{name}: kept frames without sampling");
        assert!(kept.iter().enumerate().all(|(i, (idx, _))| *idx == i as u64), "{name}: indices 0..n in order");

        // A stride's frames are a selection decoded sparsely (issue 33): fewer frames out of the
        // decoder where some can be skipped, never more.
        let (kept3, decoded3) = decode(&path, Sampling { stride: 3, ..Sampling::default() });
        assert!(decoded3 <= n, "{name}: {decoded3} decoded for stride 3 of {n}");
        assert_eq!(kept3.len() as u64, n.div_ceil(3), "{name}: stride 3 keeps ceil(n/3)");
        assert!(kept3.iter().all(|(idx, _)| idx % 3 == 0), "{name}: stride 3 keeps indices 0, 3, 6...");
    }
}

#[test]
fn timestamps_equal_ffprobe() {
    let path = data("market_street_10s.mp4");
    let want = ffprobe_pts(&path);
    let (kept, _) = decode(&path, Sampling::default());
    assert_eq!(kept.len(), want.len());
    for ((_, pts), w) in kept.iter().zip(&want) {
        assert!((pts - w).abs() < 1e-3, "pts {pts} vs ffprobe {w}");
    }
}

#[test]
fn start_duration_and_max_fps_select_by_time() {
    let path = media("vtest.avi"); // 10 fps
    let (kept, _) = decode(&path, Sampling { start: 2.0, duration: Some(3.0), ..Sampling::default() });
    assert_eq!(kept.len(), 30, "3 s at 10 fps");
    assert_eq!(kept[0].0, 20, "first kept frame is at 2.0 s = index 20 (indices count from the file's start)");
    assert!(kept.iter().all(|(_, t)| *t >= 2.0 - 1e-6 && *t < 5.0));

    let (kept, _) = decode(&path, Sampling { max_fps: Some(2.5), duration: Some(10.0), ..Sampling::default() });
    assert_eq!(kept.len(), 25, "2.5 fps over 10 s");
    for w in kept.windows(2) {
        assert!(w[1].1 - w[0].1 >= 0.4 - 1e-6, "kept frames at least 1/2.5 s apart: {:?}", w);
    }

    let (kept, _) = decode(&path, Sampling { stride: 2, max_fps: Some(1.0), duration: Some(5.0), ..Sampling::default() });
    assert_eq!(kept.iter().map(|k| k.0).collect::<Vec<_>>(), vec![0, 10, 20, 30, 40]);
}

#[test]
fn an_image_is_a_one_frame_video() {
    let (kept, decoded) = decode(&media("messi5.jpg"), Sampling::default());
    assert_eq!((kept.len(), decoded), (1, 1));
}

#[test]
fn frames_keep_source_size_and_channel_order() {
    let pool = FramePool::new(1);
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Bgr, fit: Fit::Stretch };
    let mut d = Decoder::open(&media("messi5.jpg"), Sampling::default(), out).unwrap();
    let f = d.next_frame(&pool).unwrap().unwrap();
    assert_eq!((f.width, f.height), (548, 342));
    // Grass fills the bottom-left corner: green channel dominates. In BGR order G is byte 1.
    let px = &f.data[(300 * 548 + 20) * 3..][..3];
    assert!(px[1] > px[0] && px[1] > px[2], "BGR pixel on grass {px:?}");
}

#[test]
fn bad_sampling_values_are_rejected() {
    for (s, opt) in [
        (Sampling { stride: 0, ..Sampling::default() }, "--stride"),
        (Sampling { max_fps: Some(0.0), ..Sampling::default() }, "--max-fps"),
        (Sampling { start: -1.0, ..Sampling::default() }, "--start"),
        (Sampling { duration: Some(f64::NAN), ..Sampling::default() }, "--duration"),
    ] {
        let e = Decoder::open(&media("messi5.jpg"), s, SMALL).err().expect("invalid sampling is an error");
        assert!(e.to_string().contains(opt), "{e}");
    }
}

#[test]
fn missing_file_and_non_media_are_clear_errors() {
    let e = Decoder::open(std::path::Path::new("/no/such/clip.mp4"), Sampling::default(), SMALL).err().unwrap();
    assert!(matches!(e, Error::FileNotFound { .. }), "{e}");
    assert_eq!(e.to_string(), "/no/such/clip.mp4: no such file");

    // Random bytes: no demuxer recognises them.
    let dir = tempdir();
    let junk = dir.path().join("junk.mp4");
    let mut x = 0x9e3779b9u32;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    std::fs::write(&junk, bytes).unwrap();
    let e = Decoder::open(&junk, Sampling::default(), SMALL).err().unwrap();
    assert!(matches!(e, Error::NotMedia { .. }), "{e}");
    assert!(e.to_string().contains("junk.mp4: not a video or image FFmpeg can read"), "{e}");

    // A text file opens (FFmpeg reads it as subtitles) but has no video.
    let e = Decoder::open(&root().join("Cargo.toml"), Sampling::default(), SMALL).err().unwrap();
    assert!(matches!(e, Error::NoVideoStream { .. }), "{e}");
}

#[test]
fn audio_only_file_has_no_video_stream() {
    let dir = tempdir();
    let wav = dir.path().join("tone.wav");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=0.2"])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(ok.success());
    let e = Decoder::open(&wav, Sampling::default(), SMALL).err().unwrap();
    assert!(matches!(e, Error::NoVideoStream { .. }), "{e}");
    assert!(e.to_string().contains("no video stream (streams found: audio pcm_s16le)"), "{e}");
}

/// vtest.avi with its FourCC (div3) replaced by one no decoder knows: the stream cannot be decoded.
#[test]
fn unknown_codec_is_undecodable() {
    let dir = tempdir();
    let p = dir.path().join("unknown.avi");
    let mut bytes = std::fs::read(media("vtest.avi")).unwrap();
    let mut n = 0;
    for i in 0..bytes.len().min(1 << 16) - 4 {
        if bytes[i..i + 4].eq_ignore_ascii_case(b"div3") {
            bytes[i..i + 4].copy_from_slice(b"QQ99");
            n += 1;
        }
    }
    assert!(n > 0, "vtest.avi header names its codec div3");
    std::fs::write(&p, bytes).unwrap();
    let e = Decoder::open(&p, Sampling::default(), SMALL).err().unwrap();
    assert!(matches!(e, Error::Undecodable { .. }), "{e}");
    assert!(e.to_string().contains("cannot decode video stream #0"), "{e}");
}

/// Frames before the damage come out, then the error names where decoding stopped.
fn check_truncated(path: &std::path::Path, min_frames: u64) {
    let pool = FramePool::new(2);
    let mut d = Decoder::open(path, Sampling::default(), SMALL).unwrap();
    let mut n = 0u64;
    let err = loop {
        match d.next_frame(&pool) {
            Ok(Some(f)) => {
                assert_eq!(f.index, n);
                n += 1;
            }
            Ok(None) => panic!("{}: a truncated file must end in an error, got a clean end after {n} frames", path.display()),
            Err(e) => break e,
        }
    };
    assert!(n >= min_frames, "{}: only {n} frames before the error", path.display());
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("corrupt or truncated after frame"), "{msg}");
}

#[test]
fn truncated_avi_keeps_frames_before_the_damage() {
    let dir = tempdir();
    let p = dir.path().join("half.avi");
    truncate_copy(&media("vtest.avi"), &p, 4_000_000);
    check_truncated(&p, 300);
}

#[test]
fn truncated_mp4_keeps_frames_before_the_damage() {
    let dir = tempdir();
    let full = dir.path().join("fs.mp4");
    faststart_copy(&media("market_street_1906.mp4"), &full);
    let p = dir.path().join("half.mp4");
    let len = std::fs::metadata(&full).unwrap().len() as usize / 2;
    truncate_copy(&full, &p, len);
    check_truncated(&p, 500);
}

#[test]
fn mp4_without_its_index_is_not_media() {
    let dir = tempdir();
    let p = dir.path().join("noindex.mp4");
    truncate_copy(&media("market_street_1906.mp4"), &p, 3_000_000); // moov atom is at the end
    let e = Decoder::open(&p, Sampling::default(), SMALL).err().unwrap();
    assert!(matches!(e, Error::NotMedia { .. }), "{e}");
}

#[test]
fn decode_thread_delivers_in_order_with_a_fixed_pool() {
    let path = data("market_street_10s.mp4");
    let out = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let t = fovea::video::spawn(&path, Sampling::default(), out, 4, 2).unwrap();
    let mut last = None;
    let mut n = 0;
    for f in t.frames.iter() {
        let f = f.unwrap();
        assert_eq!((f.width, f.height), (640, 360));
        if let Some(l) = last {
            assert_eq!(f.index, l + 1);
        }
        last = Some(f.index);
        n += 1;
    }
    let stats = t.join().unwrap();
    assert_eq!(n, 302);
    assert!(
        (1..=4 + 2 + 1).contains(&stats.pool_allocations),
        "the pool allocates at most its size, not per frame: {}",
        stats.pool_allocations
    );
}

/// A stream-copied cut starting between keyframes keeps the earlier frames in the file and hides
/// them with an edit list: the container declares more frames than decode, and that is not a
/// truncation.
#[test]
fn an_edit_list_is_not_a_truncation() {
    let dir = tempdir();
    let p = dir.path().join("cut.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", "3.3", "-i"])
        .arg(data("market_street_10s.mp4"))
        .args(["-c", "copy", "-an"])
        .arg(&p)
        .status()
        .unwrap();
    assert!(ok.success());
    let info = fovea::video::probe(&p).unwrap();
    let n = ffprobe_frames(&p);
    assert!(info.declared_frames.unwrap() > n + 20, "the cut hides frames behind an edit list");
    let (kept, decoded) = decode(&p, Sampling::default());
    assert_eq!(decoded, n);
    assert_eq!(kept.len() as u64, n);
}

/// The first `seconds` of Market Street copied to `p` with a display matrix of `rotate` degrees.
fn rotated_copy(p: &std::path::Path, rotate: u32, seconds: f64) -> std::path::PathBuf {
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(data("market_street_10s.mp4"))
        .args(["-t", &seconds.to_string(), "-c", "copy", "-an", "-metadata:s:v:0", &format!("rotate={rotate}")])
        .arg(p)
        .status()
        .unwrap();
    assert!(ok.success());
    p.to_path_buf()
}

/// Phone-style rotation: a display matrix on the stream. Frames come out upright, as FFmpeg's
/// CLI shows them (its autorotate is the oracle), with displayed width and height.
#[test]
fn display_rotation_is_applied() {
    let dir = tempdir();
    for rotate in [90, 180, 270] {
        let p = rotated_copy(&dir.path().join(format!("rot{rotate}.mp4")), rotate, 0.5);
        let info = fovea::video::probe(&p).unwrap();
        let (w, h) = if rotate == 180 { (640, 360) } else { (360, 640) };
        assert_eq!((info.width, info.height), (w, h), "displayed size at {rotate}");
        // FFmpeg's own upright first frame.
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&p)
            .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap();
        assert_eq!(out.stdout.len(), (w * h * 3) as usize);
        let pool = FramePool::new(1);
        let fmt = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
        let mut d = Decoder::open(&p, Sampling::default(), fmt).unwrap();
        let f = d.next_frame(&pool).unwrap().unwrap();
        assert_eq!((f.width, f.height), (w, h));
        let mad = f.data.iter().zip(&out.stdout).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum::<f64>() / f.data.len() as f64;
        assert!(mad < 3.0, "rotation {rotate}: mean absolute difference {mad} from FFmpeg's upright frame");
    }
}

/// A decoded picture held beyond the decoder ([`Decoder::keep_pictures`], as key frames' stage 1
/// keeps its frames at full size while measuring them small) converts to the very frame a
/// full-size decode gives: rotated or not, at a size swscale converts in partial blocks (426 x
/// 238, B-frames), and from 10-bit pictures; holding every picture changes nothing the decoder
/// hands out.
#[test]
fn held_pictures_convert_to_the_frames_a_full_decode_gives() {
    let dir = tempdir();
    let made = |name: &str, size: &str, args: &[&str]| {
        let p = dir.path().join(name);
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=25"), "-t", "0.6"])
            .args(args)
            .arg(&p)
            .status()
            .unwrap();
        assert!(ok.success(), "{name}");
        p
    };
    // (clip, displayed size, bytes a picture holds at least)
    let mut clips = vec![
        (made("odd.mp4", "426x238", &["-c:v", "libx264", "-bf", "2"]), (426, 238), 426 * 238 * 3 / 2),
        (made("deep.mp4", "640x360", &["-pix_fmt", "yuv420p10le", "-c:v", "libx264"]), (640, 360), 640 * 360 * 3),
    ];
    for rotate in [0, 90, 270] {
        let size = if rotate == 0 { (640, 360) } else { (360, 640) };
        clips.push((rotated_copy(&dir.path().join(format!("held{rotate}.mp4")), rotate, 0.6), size, 640 * 360 * 3 / 2));
    }
    let small = OutputFormat { width: 64, height: 36, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let full = OutputFormat { width: 0, height: 0, order: ChannelOrder::Bgr, fit: Fit::Stretch };
    for (p, (w, h), min_bytes) in clips {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let small_frames = |keep: bool| {
            let pool = FramePool::new(2);
            let mut d = Decoder::open(&p, Sampling::default(), small).unwrap();
            if keep {
                d.keep_pictures();
            }
            let rotation = d.info().rotation;
            let mut out = Vec::new();
            while let Some(mut f) = d.next_frame(&pool).unwrap() {
                assert_eq!(f.picture.is_some(), keep);
                out.push((f.index, f.pts, f.data.to_vec(), f.picture.take()));
            }
            (out, rotation)
        };
        let (held, rotation) = small_frames(true);
        let (plain, _) = small_frames(false);
        assert_eq!(rotation == 0, w > h, "{name}: rotation {rotation}");
        assert!(held.len() >= 10, "{name}: {} frames", held.len());
        assert_eq!(
            held.iter().map(|h| (h.0, h.2.clone())).collect::<Vec<_>>(),
            plain.iter().map(|h| (h.0, h.2.clone())).collect::<Vec<_>>(),
            "{name}"
        );
        let (whole, _) = decode_all(&p, full);
        let mut conv = fovea::video::Converter::new(full, rotation);
        let pool = FramePool::new(1);
        for ((index, pts, _, picture), (want_index, want)) in held.iter().zip(&whole) {
            let picture = picture.as_ref().unwrap();
            assert!(picture.bytes() >= min_bytes, "{name}: {picture:?}");
            let f = conv.picture(picture, &pool, *index, *pts).unwrap();
            assert_eq!(f.index, *want_index);
            assert_eq!((f.width, f.height, f.order), (w, h, ChannelOrder::Bgr), "{name}");
            assert!(f.data[..] == want[..], "{name}, frame {index}: the held picture converts to other pixels");
        }
        assert_eq!(held.len(), whole.len(), "{name}");
    }
}

/// A late --start seeks (constant frame rate) and still reports exact decode indices and
/// timestamps: the same frames ffprobe lists in that time range.
#[test]
fn late_start_gives_the_frames_ffprobe_lists() {
    for (name, start, dur) in [("market_street_1906.mp4", 30.0, 2.0), ("vtest.avi", 40.0, 3.0)] {
        let path = media(name);
        let all = ffprobe_pts(&path);
        let want: Vec<(u64, f64)> =
            all.iter().enumerate().filter(|(_, t)| **t >= start - 1e-6 && **t < start + dur - 1e-6).map(|(i, t)| (i as u64, *t)).collect();
        let (kept, decoded) = decode(&path, Sampling { start, duration: Some(dur), ..Sampling::default() });
        assert_eq!(kept.len(), want.len(), "{name}");
        assert!(decoded < want[0].0, "{name}: seeked, so only {decoded} frames were decoded to reach frame {}", want[0].0);
        for ((i, t), (wi, wt)) in kept.iter().zip(&want) {
            assert_eq!(i, wi, "{name}: index");
            assert!((t - wt).abs() < 1e-3, "{name}: pts {t} vs {wt}");
        }
    }
}

/// FFmpeg's own RGB24 rendering of the first frame, with the conversion flags fovea uses.
fn ffmpeg_rgb(path: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-vf", "scale=flags=bilinear", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    out.stdout
}

/// Decodes every frame of `path` at source size and, letterboxed, into a square 3 times wider
/// than the source, checking sizes, the padding beside the picture (swscale's vector stores
/// overshoot rows: it must stay untouched) and the first frame against FFmpeg's CLI's (`want`).
fn check_decodes_like_ffmpeg(path: &std::path::Path, w: u32, h: u32, want: &[u8]) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let pool = FramePool::new(2);
    let fmt = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let mut d = Decoder::open(path, Sampling::default(), fmt).unwrap();
    let mut frames = 0;
    while let Some(f) = d.next_frame(&pool).unwrap_or_else(|e| panic!("{name}: {e}")) {
        assert_eq!((f.width, f.height, f.data.len()), (w, h, (w * h * 3) as usize), "{name}");
        if frames == 0 {
            assert_eq!(want.len(), f.data.len(), "{name}: FFmpeg's frame size");
            let mad = f.data.iter().zip(want).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum::<f64>() / want.len() as f64;
            assert!(mad < 0.5, "{name}: mean absolute difference {mad} from FFmpeg's RGB");
        }
        frames += 1;
    }
    assert_eq!(frames, 2, "{name}: frames");
    // Letterboxed into a wide output: the picture is centred with padding left and right.
    let side = 3 * w.max(h);
    let pad = 117u8;
    let fmt = OutputFormat { width: side, height: side, order: ChannelOrder::Rgb, fit: Fit::Letterbox { pad } };
    let mut d = Decoder::open(path, Sampling::default(), fmt).unwrap();
    let f = d.next_frame(&pool).unwrap().unwrap();
    let (nw, nh, ox, oy) = fovea::video::Transform::placement(w, h, side, side, Fit::Letterbox { pad });
    for (y, row) in f.data.chunks_exact(side as usize * 3).enumerate() {
        let inside = (oy as usize..(oy + nh) as usize).contains(&y);
        let (l, r) = if inside { (ox as usize * 3, (ox + nw) as usize * 3) } else { (row.len(), row.len()) };
        assert!(row[..l].iter().all(|&v| v == pad), "{name}: left padding of row {y} overwritten");
        assert!(row[r..].iter().all(|&v| v == pad), "{name}: right padding of row {y} overwritten");
    }
}

/// Regression (heap overflow): swscale's vector code writes past `width * 3` bytes at the end of
/// a row for many widths; the frame buffers must carry room for it. Every width 1..64 (odd ones
/// included) in every common pixel format, stored raw so the decoder outputs that format.
#[test]
fn every_small_width_and_pixel_format_decodes_like_ffmpeg() {
    let dir = tempdir();
    let sizes: Vec<(u32, u32)> = (1..=64u32).map(|w| (w, 1 + (w * 7) % 23)).collect();
    for fmt in ["yuv420p", "yuv422p", "yuv444p", "nv12", "rgb24"] {
        for ((w, h), (p, want)) in sizes.iter().zip(raw_clips_and_ffmpeg_rgb(dir.path(), &sizes, fmt)) {
            check_decodes_like_ffmpeg(&p, *w, *h, &want);
        }
    }
}

/// Two-frame raw clips (NUT) of every size of `sizes` in `pix_fmt`, made by one ffmpeg process,
/// and FFmpeg's RGB of each clip's first frame, decoded by another: 320 clips cost two process
/// starts per pixel format, not two per clip (the test took a minute of `make test`).
fn raw_clips_and_ffmpeg_rgb(dir: &std::path::Path, sizes: &[(u32, u32)], pix_fmt: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let specs: Vec<(String, &str, &str, &str)> = sizes.iter().map(|(w, h)| (format!("{w}x{h}"), pix_fmt, "rawvideo", "nut")).collect();
    let clips = make_clips(dir, &specs, 2);
    let rgb = |w: u32, h: u32| dir.join(format!("{w}x{h}_{pix_fmt}.rgb"));
    let mut read = std::process::Command::new("ffmpeg");
    read.args(["-v", "error", "-y"]);
    for c in &clips {
        read.arg("-i").arg(c);
    }
    for (k, (w, h)) in sizes.iter().enumerate() {
        read.args(["-map", &format!("{k}:v"), "-frames:v", "1", "-vf", "scale=flags=bilinear", "-f", "rawvideo", "-pix_fmt", "rgb24"])
            .arg(rgb(*w, *h));
    }
    assert!(read.status().unwrap().success(), "ffmpeg could not decode the {pix_fmt} clips");
    sizes.iter().zip(clips).map(|(&(w, h), c)| (c, std::fs::read(rgb(w, h)).unwrap())).collect()
}

/// Regression (heap overflow): the real-world sizes that corrupted the heap (426x240, 360x640,
/// 1080x1920 portrait) and the usual ones, as H.264 in MP4 as phones and encoders write them.
#[test]
fn real_world_sizes_decode_like_ffmpeg() {
    let dir = tempdir();
    for (w, h) in [(426, 240), (360, 640), (200, 200), (640, 360), (854, 480), (1280, 720), (1920, 1080), (1080, 1920), (3840, 2160)] {
        let p = make_clip(dir.path(), &format!("{w}x{h}"), "yuv420p", "libx264", "mp4", 2);
        check_decodes_like_ffmpeg(&p, w, h, &ffmpeg_rgb(&p));
    }
}

/// Decodes every frame of `path` into `out`: (index, pixels), the stats.
fn decode_all(path: &std::path::Path, out: OutputFormat) -> (Vec<(u64, Vec<u8>)>, fovea::video::DecodeStats) {
    let pool = FramePool::new(2);
    let mut d = Decoder::open(path, Sampling::default(), out).unwrap();
    let mut out = Vec::new();
    while let Some(f) = d.next_frame(&pool).unwrap() {
        out.push((f.index, f.data.to_vec()));
    }
    (out, d.stats().clone())
}

/// Regression: damaged data in the middle of an AVI made the demuxer skip to the next intact
/// chunk and number it as if nothing were lost, so every later frame number was wrong, silently.
/// The container's index gives the true numbers: the lost frames are skipped and counted, and
/// frames after the next keyframe equal the undamaged file's frames of the same number.
#[test]
fn damage_mid_avi_keeps_true_frame_numbers() {
    let dir = tempdir();
    let src = media("vtest.avi");
    let mut bytes = std::fs::read(&src).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 200_000].fill(0);
    let damaged = dir.path().join("damaged.avi");
    std::fs::write(&damaged, &bytes).unwrap();

    let (good, _) = decode_all(&src, SMALL);
    let (got, stats) = decode_all(&damaged, SMALL);
    assert_eq!(good.len() as u64, ffprobe_frames(&src));
    let missing = good.len() - got.len();
    assert!(missing > 5, "the damage must lose frames to be a test (lost {missing})");
    assert_eq!(stats.frames_missing, missing as u64, "lost frames are counted");
    let idx: Vec<u64> = got.iter().map(|(i, _)| *i).collect();
    let gaps: Vec<&[u64]> = idx.windows(2).filter(|w| w[1] != w[0] + 1).collect();
    assert_eq!(gaps.len(), 1, "one gap where the damage was: {gaps:?}");
    assert_eq!(gaps[0][1] - gaps[0][0] - 1, missing as u64);
    assert_eq!(*idx.last().unwrap(), good.len() as u64 - 1, "the last frame keeps its number");
    // From the last 200 frames on (past the next keyframe), the pixels are the original's.
    let by_index: std::collections::HashMap<u64, &Vec<u8>> = good.iter().map(|(i, d)| (*i, d)).collect();
    for (i, d) in &got[got.len() - 200..] {
        assert!(by_index[i] == d, "frame {i} differs from the undamaged file's frame {i}");
    }
}

/// Regression: a stream that decodes to nothing (here H.264 whose only keyframe was removed)
/// succeeded with empty output; it is an error that says so.
#[test]
fn a_stream_with_no_decodable_frame_is_an_error() {
    let dir = tempdir();
    let full = dir.path().join("full.h264");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-frames:v", "20"])
        .args(["-c:v", "libx264", "-x264-params", "keyint=100", "-f", "h264"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(ok.success());
    // Annex B NAL units; drop the IDR slices (type 5).
    let b = std::fs::read(&full).unwrap();
    let starts: Vec<usize> = (0..b.len().saturating_sub(3)).filter(|&i| b[i..i + 3] == [0, 0, 1]).collect();
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(b.len(), |&e| if b[e - 1] == 0 { e - 1 } else { e });
        if b[s + 3] & 0x1f != 5 {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(&b[s + 3..end]);
        }
    }
    assert!(out.len() < b.len());
    let p = dir.path().join("no_keyframe.h264");
    std::fs::write(&p, out).unwrap();
    let pool = FramePool::new(1);
    let mut d = Decoder::open(&p, Sampling::default(), SMALL).unwrap();
    let e = d.next_frame(&pool).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("no decodable frame"), "{e}");
}

/// Encodes FFmpeg's test pattern (`frames` at 25 fps, 160x120) with `args` into `dir/name`.
fn encode(dir: &std::path::Path, name: &str, frames: u32, filter: &str, args: &[&str]) -> std::path::PathBuf {
    let p = dir.join(name);
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-frames:v", &frames.to_string()])
        .args(["-vf", filter])
        .args(args)
        .arg(&p)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg could not make {name}");
    p
}

/// Decodes `path` with `s` (small RGB), only the frames `wanted` when given: (index, pts,
/// pixels), the stats.
fn decode_pixels(path: &std::path::Path, s: Sampling, wanted: Option<&[u64]>) -> (Vec<(u64, f64, Vec<u8>)>, fovea::video::DecodeStats) {
    let pool = FramePool::new(2);
    let mut d = Decoder::open(path, s, SMALL).unwrap();
    if let Some(w) = wanted {
        d.select(std::sync::Arc::new(w.iter().copied().collect()));
    }
    let mut out = Vec::new();
    while let Some(f) = d.next_frame(&pool).unwrap() {
        out.push((f.index, f.pts, f.data.to_vec()));
    }
    (out, d.stats().clone())
}

/// The presentation-order numbers of the frames ffprobe's decode flags as key frames.
fn ffprobe_key_frames(path: &std::path::Path) -> Vec<u64> {
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success());
    // One line a frame (a frame with side data is followed by an empty line).
    let text = String::from_utf8(o.stdout).unwrap();
    text.lines().filter(|l| !l.trim().is_empty()).enumerate().filter(|(_, l)| l.trim().starts_with('1')).map(|(i, _)| i as u64).collect()
}

/// Decodes the frames `wanted` of `path` (small RGB): (index, pts, pixels), the stats.
fn decode_selected(path: &std::path::Path, wanted: &[u64]) -> (Vec<(u64, f64, Vec<u8>)>, fovea::video::DecodeStats) {
    decode_pixels(path, Sampling::default(), Some(wanted))
}

/// Issue 33: a few frames of a clip are decoded sparsely (a seek to the key frame before each
/// one, non-reference frames skipped), and they are exactly the frames a full decode gives those
/// decode indices: the same pixels and times, on B-frames, open GOPs, a long GOP, variable frame
/// rate, an edit list, AVI; streams whose packets cannot number the frames (AVI with B-frames,
/// damaged data) are decoded in full and give the same frames too.
#[test]
fn sparse_decoding_equals_full_decoding() {
    let dir = tempdir();
    let d = dir.path();
    let x264 = |extra: &str| ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-x264-params", extra].map(String::from);
    let clips: Vec<(std::path::PathBuf, bool)> = vec![
        (encode(d, "bframes.mp4", 200, "null", &x264("keyint=25:bframes=3").each_ref().map(|s| s.as_str())), true),
        (
            encode(d, "open_gop.mp4", 200, "null", &x264("keyint=30:min-keyint=30:bframes=3:open-gop=1").each_ref().map(|s| s.as_str())),
            true,
        ),
        (
            encode(d, "open_gop.mkv", 200, "null", &x264("keyint=30:min-keyint=30:bframes=3:open-gop=1").each_ref().map(|s| s.as_str())),
            true,
        ),
        (encode(d, "long_gop.mp4", 300, "null", &x264("keyint=250:bframes=2").each_ref().map(|s| s.as_str())), true),
        (
            encode(
                d,
                "vfr.mp4",
                250,
                r"select='not(mod(n\,3))+not(mod(n\,7))'",
                &["-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-x264-params", "keyint=20:bframes=2"],
            ),
            true,
        ),
        (encode(d, "mpeg4.avi", 200, "null", &["-c:v", "mpeg4", "-g", "12"]), true),
        (encode(d, "bframes.avi", 200, "null", &["-c:v", "mpeg4", "-g", "12", "-bf", "2"]), false),
        (media("bigbuckbunny.mp4"), true),
    ];
    // An edit list: a stream-copied cut starting between key frames.
    let cut = d.join("cut.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", "3.3", "-i"])
        .arg(data("market_street_10s.mp4"))
        .args(["-c", "copy", "-an"])
        .arg(&cut)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut clips = clips;
    clips.push((cut, true));
    // Damaged data mid-AVI: the packets are not trusted.
    let mut bytes = std::fs::read(media("vtest.avi")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 200_000].fill(0);
    let damaged = d.join("damaged.avi");
    std::fs::write(&damaged, &bytes).unwrap();
    clips.push((damaged, false));

    for (path, sparse) in &clips {
        let name = path.file_name().unwrap().to_string_lossy();
        let pool = FramePool::new(2);
        let mut full = Decoder::open(path, Sampling::default(), SMALL).unwrap();
        let mut all = Vec::new();
        while let Some(f) = full.next_frame(&pool).unwrap() {
            all.push((f.index, f.pts, f.data.to_vec()));
        }
        let n = all.last().unwrap().0 + 1;
        let counted = Decoder::open(path, Sampling::default(), SMALL).unwrap().count_frames();
        if *sparse {
            assert_eq!(counted, Some(all.len() as u64), "{name}: frames counted from packets vs decoded");
            assert_eq!(counted, Some(ffprobe_frames(path)), "{name}: frames counted from packets vs ffprobe");
        } else {
            assert_eq!(counted, None, "{name}: its packets cannot number the frames");
        }
        // A few frames spread over the clip (leading pictures of open GOPs among them), frames next
        // to each other, the last frame, and one past the end; then every 7th frame.
        let few: Vec<u64> = [1, 2, n / 5, n / 3 + 1, n / 3 + 2, n / 2 + 3, 2 * n / 3 + 5, n - 1, n + 10].into_iter().collect();
        let every7: Vec<u64> = (0..n).step_by(7).collect();
        // A stride and a rate keep the frames a full decode's sampling keeps, decoded sparsely.
        for s in [Sampling { stride: 5, ..Sampling::default() }, Sampling { max_fps: Some(2.5), ..Sampling::default() }] {
            let (got, _) = decode(path, s);
            let mut next_t: Option<f64> = None;
            let want: Vec<u64> = all
                .iter()
                .enumerate()
                .filter(|(i, f)| match s.max_fps {
                    None => i % 5 == 0,
                    Some(r) => {
                        let next = *next_t.get_or_insert(f.1);
                        let keep = f.1 + 1e-6 >= next;
                        if keep {
                            next_t = Some(if next + 1.0 / r <= f.1 { f.1 + 1.0 / r } else { next + 1.0 / r });
                        }
                        keep
                    }
                })
                .map(|(_, f)| f.0)
                .collect();
            assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), want, "{name}: {s:?}");
        }
        // I-frames only: ffprobe's key frames, with the full decode's indices, times and pixels;
        // where the packets number the frames, only about those are decoded.
        let keys = ffprobe_key_frames(path);
        let s = Sampling { iframes: true, ..Sampling::default() };
        let (got, stats) = decode_pixels(path, s, None);
        // (Past damaged data ffprobe numbers only the frames that decode; fovea numbers frames
        // by their times there, so the damaged clip's key frames are checked against its own
        // full decode below.)
        if name != "damaged.avi" {
            assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), keys, "{name}: the key frames");
        }
        assert!(!got.is_empty(), "{name}: no key frame");
        for g in &got {
            let w = all.iter().find(|f| f.0 == g.0).unwrap();
            assert!((g.1 - w.1).abs() < 1e-9 && g.2 == w.2, "{name}: key frame {} differs from the full decode's", g.0);
        }
        if *sparse && keys.len() * 4 < all.len() && name != "cut.mp4" {
            assert!(
                stats.decoded < all.len() as u64 / 2,
                "{name}: {} of {} frames decoded for {} key frames",
                stats.decoded,
                all.len(),
                keys.len()
            );
        }
        // The stride counts key frames.
        let every2nd: Vec<u64> = got.iter().map(|f| f.0).step_by(2).collect();
        let (got, _) = decode(path, Sampling { stride: 2, ..s });
        assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), every2nd, "{name}: every 2nd key frame");
        for wanted in [few, every7] {
            let (got, stats) = decode_selected(path, &wanted);
            let want: Vec<&(u64, f64, Vec<u8>)> = all.iter().filter(|f| wanted.contains(&f.0)).collect();
            assert_eq!(got.len(), want.len(), "{name}: frames of {wanted:?}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.0, w.0, "{name}: decode index");
                assert!((g.1 - w.1).abs() < 1e-9, "{name}: frame {} at {} s, fully decoded at {} s", g.0, g.1, w.1);
                assert!(g.2 == w.2, "{name}: frame {} differs from the full decode's", g.0);
            }
            // Short GOPs: seeks; one long GOP with B-frames: non-reference frames skipped (Big
            // Buck Bunny and the cut have neither: every frame up to the last wanted is decoded).
            if *sparse && wanted.len() < 10 && !["bigbuckbunny.mp4", "cut.mp4"].contains(&name.as_ref()) {
                let short_gop = name != "long_gop.mp4";
                assert!(!short_gop || stats.seeks > 0, "{name}: sparse decoding seeks");
                assert!(
                    stats.decoded * if short_gop { 2 } else { 1 } < all.len() as u64,
                    "{name}: {} of {} frames decoded for {} wanted",
                    stats.decoded,
                    all.len(),
                    got.len()
                );
            }
        }
    }
}
