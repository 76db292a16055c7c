//! Writing annotated frames: a video through FFmpeg's encoders (H.264 when the build has one,
//! else MPEG-4 Part 2), or PNG files.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use ffmpeg::{codec, format, software::scaling, util::frame, Rational};
use ffmpeg_next as ffmpeg;

use crate::error::{Error, Result};

/// The video codec of annotated output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoCodec {
    /// H.264 when this FFmpeg has an encoder for it, else MPEG-4 Part 2.
    #[default]
    Auto,
    H264,
    Mpeg4,
}

impl std::str::FromStr for VideoCodec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "h264" => Ok(Self::H264),
            "mpeg4" => Ok(Self::Mpeg4),
            _ => Err(Error::InvalidOption { option: "annotate-codec", reason: format!("expected auto, h264 or mpeg4, got '{s}'") }),
        }
    }
}

fn av(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Output { path: path.to_path_buf(), source: std::io::Error::other(format!("{what}: {e}")) }
}

/// H.264's timestamps in 1/90000 s: exact for the usual frame rates, 29.97 included. MPEG-4
/// Part 2 allows time bases up to 1/65535: it gets 1/(1000 x fps), as exact for those rates.
const TICKS: i32 = 90_000;

/// Whether FFmpeg can write a video to `path` (its container from the extension, the file
/// creatable): checked before a run, so a bad target fails before any work.
pub fn check_output(path: &Path) -> Result<()> {
    crate::video::init();
    format::output(&path).map(drop).map_err(|e| av("cannot create the output (is the extension a container FFmpeg knows?)", path, e))
}

/// An encoder writing one video file.
pub struct VideoWriter {
    path: PathBuf,
    octx: format::context::Output,
    encoder: ffmpeg::encoder::Video,
    scaler: scaling::Context,
    width: u32,
    height: u32,
    stream_tb: Rational,
    /// Timestamp ticks per second.
    ticks: i32,
    first_pts: Option<f64>,
    last_pts: i64,
    /// One frame's duration in ticks (packets carry it, so the container's last frame has one).
    frame_ticks: i64,
    /// The encoder that runs ("libx264", "mpeg4", ...).
    pub codec_name: String,
    pub frames: u64,
}

impl VideoWriter {
    /// Opens `path` (the container from its extension) for `width x height` frames at `fps`.
    pub fn create(path: &Path, width: u32, height: u32, fps: f64, codec: VideoCodec) -> Result<Self> {
        crate::video::init();
        let enc_codec = match codec {
            VideoCodec::H264 => ffmpeg::encoder::find(codec::Id::H264)
                .ok_or_else(|| av("H.264", path, "this FFmpeg build has no H.264 encoder (use --annotate-codec mpeg4)"))?,
            VideoCodec::Mpeg4 => ffmpeg::encoder::find(codec::Id::MPEG4).ok_or_else(|| av("MPEG-4", path, "no MPEG-4 encoder"))?,
            VideoCodec::Auto => ffmpeg::encoder::find(codec::Id::H264)
                .or_else(|| ffmpeg::encoder::find(codec::Id::MPEG4))
                .ok_or_else(|| av("encoder", path, "this FFmpeg build has neither an H.264 nor an MPEG-4 encoder"))?,
        };
        let mut octx =
            format::output(&path).map_err(|e| av("cannot create the output (is the extension a container FFmpeg knows?)", path, e))?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut ost = octx.add_stream(enc_codec).map_err(|e| av("stream", path, e))?;
        let mut enc = codec::context::Context::new_with_codec(enc_codec).encoder().video().map_err(|e| av("encoder", path, e))?;
        let (w, h) = (width & !1, height & !1);
        if w == 0 || h == 0 {
            return Err(av("size", path, format!("{width}x{height} is too small to encode")));
        }
        enc.set_width(w);
        enc.set_height(h);
        enc.set_format(format::Pixel::YUV420P);
        let fps = if fps.is_finite() && fps > 0.0 { fps } else { 30.0 };
        let ticks = if enc_codec.id() == codec::Id::H264 { TICKS } else { (fps * 1000.0).round().clamp(1.0, 65_535.0) as i32 };
        enc.set_time_base(Rational::new(1, ticks));
        enc.set_frame_rate(Some(Rational::from(fps)));
        if global_header {
            enc.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = ffmpeg::Dictionary::new();
        if enc_codec.id() == codec::Id::H264 {
            opts.set("preset", "ultrafast");
            // One thread: the cores are the detector's; x264's own threads only contend.
            opts.set("threads", "1");
            opts.set("crf", "18");
        } else {
            // MPEG-4 Part 2 at a fixed quantiser: about 2-5 Mbit/s at 720p.
            enc.set_flags(codec::Flags::QSCALE | if global_header { codec::Flags::GLOBAL_HEADER } else { codec::Flags::empty() });
            enc.set_global_quality(3 * 118); // FF_QP2LAMBDA x q 3
        }
        let encoder = enc.open_as_with(enc_codec, opts).map_err(|e| av("cannot open the encoder", path, e))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(Rational::new(1, ticks));
        octx.write_header().map_err(|e| av("cannot write the header", path, e))?;
        let stream_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(Rational::new(1, ticks));
        let scaler = scaling::Context::get(format::Pixel::BGR24, w, h, format::Pixel::YUV420P, w, h, scaling::Flags::BILINEAR)
            .map_err(|e| av("colour conversion", path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            octx,
            encoder,
            scaler,
            width: w,
            height: h,
            stream_tb,
            ticks,
            first_pts: None,
            last_pts: -1,
            frame_ticks: (f64::from(ticks) / fps).round().max(1.0) as i64,
            codec_name: enc_codec.name().to_string(),
            frames: 0,
        })
    }

    /// Encodes one packed BGR frame (`width * 3` bytes per row, the size given at creation or
    /// one pixel more when that was odd) shown at `pts` seconds.
    pub fn write(&mut self, bgr: &[u8], width: u32, pts: f64) -> Result<()> {
        let mut src = frame::Video::new(format::Pixel::BGR24, self.width, self.height);
        let stride = src.stride(0);
        let row = self.width as usize * 3;
        for y in 0..self.height as usize {
            src.data_mut(0)[y * stride..][..row].copy_from_slice(&bgr[y * width as usize * 3..][..row]);
        }
        // A new frame each time: the encoder may keep a reference to the last one.
        let mut yuv = frame::Video::empty();
        self.scaler.run(&src, &mut yuv).map_err(|e| av("colour conversion", &self.path, e))?;
        let first = *self.first_pts.get_or_insert(pts);
        let t = ((pts - first) * f64::from(self.ticks)).round() as i64;
        let t = t.max(self.last_pts + 1);
        self.last_pts = t;
        yuv.set_pts(Some(t));
        self.encoder.send_frame(&yuv).map_err(|e| av("encoding", &self.path, e))?;
        self.frames += 1;
        self.drain()
    }

    fn drain(&mut self) -> Result<()> {
        let mut pkt = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut pkt).is_ok() {
            pkt.set_stream(0);
            if pkt.duration() <= 0 {
                pkt.set_duration(self.frame_ticks);
            }
            pkt.rescale_ts(Rational::new(1, self.ticks), self.stream_tb);
            pkt.write_interleaved(&mut self.octx).map_err(|e| av("writing", &self.path, e))?;
        }
        Ok(())
    }

    /// Flushes the encoder and writes the container's trailer.
    pub fn finish(mut self) -> Result<()> {
        self.encoder.send_eof().map_err(|e| av("encoding", &self.path, e))?;
        self.drain()?;
        self.octx.write_trailer().map_err(|e| av("cannot write the trailer", &self.path, e))
    }
}

/// Writes a packed BGR frame as an RGB PNG.
pub fn write_png(path: &Path, bgr: &[u8], width: u32, height: u32) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| Error::Output { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) };
    let f = std::fs::File::create(path).map_err(|e| err(&e))?;
    encode_png(std::io::BufWriter::new(f), bgr, width, height).map_err(|e| err(&e))
}

/// Encodes a packed BGR frame as an RGB PNG into `out`.
pub fn encode_png(out: impl std::io::Write, bgr: &[u8], width: u32, height: u32) -> std::result::Result<(), png::EncodingError> {
    let mut enc = png::Encoder::new(out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header()?;
    let rgb: Vec<u8> = bgr[..width as usize * height as usize * 3].chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect();
    w.write_image_data(&rgb)?;
    w.finish()
}
