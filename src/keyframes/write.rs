//! Writing a selection: the key frames as images (JPEG through jpeg-encoder, or PNG),
//! `keyframes.json` and `contact_sheet.png`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde_json::json;

use super::KeyframeSelection;
use crate::annotate::{encode_png, write_png, Canvas, Text};
use crate::error::{Error, Result};

/// The key frames' image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// JPEG, quality 92.
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }
}

impl std::str::FromStr for ImageFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "jpg" | "jpeg" => Ok(Self::Jpeg),
            "png" => Ok(Self::Png),
            _ => Err(Error::InvalidOption { option: "--image-format", reason: format!("expected jpg or png, got '{s}'") }),
        }
    }
}

fn encode_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Pipeline(format!("cannot encode {what}: {e}"))
}

/// A packed BGR image in `format`, in memory.
pub fn encode(format: ImageFormat, bgr: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        ImageFormat::Jpeg => {
            let (ww, hh) = (u16::try_from(w), u16::try_from(h));
            let (Ok(ww), Ok(hh)) = (ww, hh) else {
                return Err(Error::Unsupported {
                    what: "JPEG",
                    reason: format!("{w}x{h} is larger than 65535 pixels a side: use --image-format png"),
                });
            };
            jpeg_encoder::Encoder::new(&mut out, 92)
                .encode(bgr, ww, hh, jpeg_encoder::ColorType::Bgr)
                .map_err(|e| encode_err("JPEG", e))?;
        }
        ImageFormat::Png => encode_png(&mut out, bgr, w, h).map_err(|e| encode_err("PNG", e))?,
    }
    Ok(out)
}

/// A BGR thumbnail whose longer side is at most `max` (box-averaged), and its size.
pub fn thumbnail(bgr: &[u8], w: u32, h: u32, max: u32) -> (Vec<u8>, u32, u32) {
    let scale = (max as f64 / w.max(h).max(1) as f64).min(1.0);
    let (tw, th) = (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1));
    let mut out = vec![0u8; tw as usize * th as usize * 3];
    for ty in 0..th as usize {
        let (y0, y1) = (ty * h as usize / th as usize, ((ty + 1) * h as usize / th as usize).max(ty * h as usize / th as usize + 1));
        for tx in 0..tw as usize {
            let (x0, x1) = (tx * w as usize / tw as usize, ((tx + 1) * w as usize / tw as usize).max(tx * w as usize / tw as usize + 1));
            let mut s = [0u64; 3];
            for y in y0..y1.min(h as usize) {
                for x in x0..x1.min(w as usize) {
                    let p = &bgr[(y * w as usize + x) * 3..][..3];
                    for c in 0..3 {
                        s[c] += p[c] as u64;
                    }
                }
            }
            let n = ((y1.min(h as usize) - y0) * (x1.min(w as usize) - x0)).max(1) as u64;
            for c in 0..3 {
                out[(ty * tw as usize + tx) * 3 + c] = ((s[c] + n / 2) / n) as u8;
            }
        }
    }
    (out, tw, th)
}

/// Writes the chosen frames (`keyframe_NN_fFRAME.jpg`), `keyframes.json` and
/// `contact_sheet.png` into `dir` (made if missing); returns the image paths in time order and
/// the document written as keyframes.json.
pub fn write(s: &KeyframeSelection, dir: &Path) -> Result<(Vec<PathBuf>, serde_json::Value)> {
    let io = |path: &Path, e: std::io::Error| Error::Output { path: path.to_path_buf(), source: e };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut files = Vec::new();
    let mut keyframes = Vec::new();
    for (rank, &i) in s.chosen.iter().enumerate() {
        let c = &s.candidates[i];
        let name = format!("keyframe_{:02}_f{:06}.{}", rank + 1, c.frame, s.format.extension());
        let path = dir.join(&name);
        let bytes = c.image.as_ref().ok_or_else(|| Error::State(format!("chosen frame {} has no pixels", c.frame)))?;
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))?;
        files.push(path);
        let mut v = serde_json::to_value(c).map_err(|e| Error::State(e.to_string()))?;
        v["file"] = json!(name);
        keyframes.push(v);
    }
    let shots: Vec<serde_json::Value> = s
        .shots
        .iter()
        .map(|sh| {
            let mut v = serde_json::to_value(sh).unwrap_or_default();
            v["candidates"] =
                json!(sh.candidates.iter().map(|&k| serde_json::to_value(&s.candidates[k]).unwrap_or_default()).collect::<Vec<_>>());
            v
        })
        .collect();
    let doc = json!({
        "video": {
            "path": s.video.display().to_string(),
            "width": s.width,
            "height": s.height,
            "fps": s.fps,
            "duration": s.duration,
        },
        "model": s.model,
        "encoder": s.encoder,
        "near_duplicates_by": if s.encoder.is_some() { "encoder cosine" } else { "difference hash" },
        "summary": s.stages,
        "keyframes": keyframes,
        "shots": shots,
        "policy": s.policy,
    });
    let json_path = dir.join("keyframes.json");
    let text = serde_json::to_string_pretty(&doc).map_err(|e| Error::State(e.to_string()))?;
    std::fs::write(&json_path, text + "\n").map_err(|e| io(&json_path, e))?;
    contact_sheet(s, &dir.join("contact_sheet.png"))?;
    Ok((files, doc))
}

/// The chosen frames' thumbnails in a grid, each captioned with its rank, time, shot and score.
fn contact_sheet(s: &KeyframeSelection, path: &Path) -> Result<()> {
    type Thumb<'a> = (&'a (Vec<u8>, u32, u32), &'a super::Candidate);
    let thumbs: Vec<Thumb> = s.chosen.iter().filter_map(|&i| s.candidates[i].thumb.as_ref().map(|t| (t, &s.candidates[i]))).collect();
    let cols = thumbs.len().clamp(1, 4);
    let rows = thumbs.len().div_ceil(cols).max(1);
    let cell_w = thumbs.iter().map(|(t, _)| t.1).max().unwrap_or(320);
    let cell_h = thumbs.iter().map(|(t, _)| t.2).max().unwrap_or(180);
    let (pad, caption) = (8u32, 22u32);
    let (w, h) = (cols as u32 * (cell_w + pad) + pad, rows as u32 * (cell_h + caption + pad) + pad);
    let mut data = vec![24u8; w as usize * h as usize * 3];
    let mut canvas = Canvas { data: &mut data, width: w, height: h };
    let mut text = Text::new(14.0);
    if thumbs.is_empty() {
        text.draw(&mut canvas, pad as i64, pad as i64, "no key frame chosen", [255, 255, 255]);
    }
    for (k, ((img, tw, th), c)) in thumbs.iter().enumerate() {
        let (x0, y0) = ((k % cols) as u32 * (cell_w + pad) + pad, (k / cols) as u32 * (cell_h + caption + pad) + pad);
        for y in 0..*th {
            let src = &img[(y * tw * 3) as usize..][..(*tw * 3) as usize];
            let at = ((y0 + y) as usize * w as usize + x0 as usize) * 3;
            canvas.data[at..at + src.len()].copy_from_slice(src);
        }
        let label = format!("#{}  {:.2} s  shot {}  score {:.2}", k + 1, c.time, c.shot, c.score);
        text.draw(&mut canvas, x0 as i64, (y0 + th + 4) as i64, &label, [255, 255, 255]);
    }
    write_png(path, &data, w, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_average_and_keep_the_aspect() {
        let bgr: Vec<u8> = (0..8 * 4).flat_map(|i| if i % 2 == 0 { [0u8, 0, 0] } else { [200, 100, 50] }).collect();
        let (t, w, h) = thumbnail(&bgr, 8, 4, 4);
        assert_eq!((w, h), (4, 2));
        assert_eq!(&t[..3], &[100, 50, 25]);
        // Never enlarged.
        let (_, w, h) = thumbnail(&bgr, 8, 4, 100);
        assert_eq!((w, h), (8, 4));
    }

    #[test]
    fn images_encode() {
        let bgr = vec![128u8; 16 * 8 * 3];
        let j = encode(ImageFormat::Jpeg, &bgr, 16, 8).unwrap();
        assert_eq!(&j[..2], &[0xFF, 0xD8]);
        let p = encode(ImageFormat::Png, &bgr, 16, 8).unwrap();
        assert_eq!(&p[1..4], b"PNG");
        assert!("gif".parse::<ImageFormat>().is_err());
    }
}
