//! The FFmpeg decoder (feature `video`): demux, decode with frame threads, sampling, swscale
//! into pooled buffers.

use std::path::Path;

use ffmpeg::{codec, format, software::scaling, util::frame};
use ffmpeg_next as ffmpeg;

use super::open::{av_error, index_by_position, open_input, stream_info};
use super::sparse;

mod convert;
mod seek;
use super::{ChannelOrder, DecodeStats, Frame, FramePool, OutputFormat, Sampling, VideoInfo};
use crate::error::{Error, Result};
pub use convert::{Converter, Picture};

/// A synchronous decoder: call [`Decoder::next_frame`] until it returns `Ok(None)`.
pub struct Decoder {
    info: VideoInfo,
    input: format::context::Input,
    decoder: codec::decoder::Video,
    time_base: f64,
    sampling: Sampling,
    out: OutputFormat,
    /// Converts kept frames into `out`.
    converter: Converter,
    /// Each kept frame also holds its decoded picture (see [`Decoder::keep_pictures`]).
    keep_pictures: bool,
    decoded: frame::Video,
    packet: codec::packet::Packet,
    eof_sent: bool,
    done: bool,
    stats: DecodeStats,
    /// `Sampling`'s verdict on each frame.
    sampler: sparse::Sampler,
    last_pts: f64,
    first_pts: Option<f64>,
    /// After a seek: (time origin, fps) to compute decode indices from timestamps.
    index_from_pts: Option<(f64, f64)>,
    /// Decode index of the last frame decoded.
    last_index: Option<u64>,
    /// Only these decode indices are converted and returned (see [`Decoder::select`]).
    select: Option<std::sync::Arc<std::collections::BTreeSet<u64>>>,
    /// The container's index (byte position -> timestamp), to notice packets the demuxer
    /// renumbered after skipping damaged data.
    index: std::collections::HashMap<i64, i64>,
    /// Constant frame rate and its time origin: decode indices can follow from timestamps.
    cfr: Option<(f64, f64)>,
    /// What the container's index adds to the demuxer's timestamps since damaged data.
    renumber_shift: i64,
    /// The stream's packets, read once without decoding (see [`sparse`]); `None` until read, or
    /// where they cannot be trusted to number the frames.
    table: Option<sparse::Table>,
    table_tried: bool,
    /// With a table and a selection: where to seek, what to skip, what is still wanted.
    plan: Option<sparse::Plan>,
    /// After a seek: the decode position the demuxer must land at or before, and the time to
    /// seek to again if it lands past it.
    landing: Option<(usize, Option<i64>)>,
    /// The last decode index returned, and after going back to a full decode, the frames up to
    /// it are not returned again.
    returned: Option<u64>,
    returned_before: Option<u64>,
    /// An error met outside `next_frame` (going back to the start), returned by its next call.
    broken: Option<String>,
}

/// `--start` at or after this many seconds seeks (constant frame rate streams only).
const SEEK_AFTER_S: f64 = 3.0;

impl Decoder {
    /// Opens `path` for decoding with frame threads, converting kept frames to `out`.
    pub fn open(path: &Path, sampling: Sampling, out: OutputFormat) -> Result<Self> {
        Self::open_threads(path, sampling, out, 0)
    }

    /// As [`Decoder::open`] with `threads` decoding threads (0: FFmpeg's choice, one per core);
    /// 1 suits many clips decoded at once, each on its own thread.
    pub fn open_threads(path: &Path, sampling: Sampling, out: OutputFormat, threads: usize) -> Result<Self> {
        sampling.validate()?;
        if (out.width == 0) != (out.height == 0) {
            return Err(Error::InvalidOption {
                option: "output size",
                reason: format!("{}x{}: both or neither of width and height may be 0", out.width, out.height),
            });
        }
        let mut input = open_input(path)?;
        let info = stream_info(path, &input)?;
        let stream = input.stream(info.stream_index).expect("stream index from best()");
        let undecodable =
            |reason: String| Error::Undecodable { path: path.to_path_buf(), stream: info.stream_index, codec: info.codec.clone(), reason };
        let mut ctx = codec::context::Context::from_parameters(stream.parameters()).map_err(|e| undecodable(av_error(e)))?;
        ctx.set_threading(codec::threading::Config { kind: codec::threading::Type::Frame, count: threads, ..Default::default() });
        let decoder = ctx.decoder().video().map_err(|e| match e {
            ffmpeg::Error::DecoderNotFound => undecodable("this FFmpeg build has no decoder for it".into()),
            e => undecodable(av_error(e)),
        })?;
        let time_base = f64::from(stream.time_base());
        // Constant frame rate: decode indices follow from timestamps, so a late --start can seek
        // instead of decoding everything before it.
        let cfr = stream.rate() == stream.avg_frame_rate();
        let origin = if stream.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE { stream.start_time() as f64 * time_base } else { 0.0 };
        let mut index_from_pts = None;
        let index = index_by_position(&input, info.stream_index);
        let cfr_origin = match (cfr, info.fps) {
            (true, Some(fps)) => Some((origin, fps)),
            _ => None,
        };
        if let (true, Some(fps)) = (cfr && sampling.start >= SEEK_AFTER_S, info.fps) {
            // Land on the keyframe at or before a point a second early; frames before --start
            // are then decoded and dropped as usual.
            let target = ((origin + sampling.start - 1.0) * f64::from(ffmpeg::ffi::AV_TIME_BASE)) as i64;
            match input.seek(target, ..target) {
                Ok(()) => index_from_pts = Some((origin, fps)),
                Err(e) => log::info!("{}: cannot seek to {:.3} s ({e}); decoding from the start", path.display(), sampling.start),
            }
        }
        let converter = Converter::new(out, info.rotation);
        Ok(Self {
            index_from_pts,
            last_index: None,
            info,
            input,
            decoder,
            time_base,
            sampling,
            out,
            converter,
            keep_pictures: false,
            decoded: frame::Video::empty(),
            packet: codec::packet::Packet::empty(),
            eof_sent: false,
            done: false,
            stats: DecodeStats::default(),
            sampler: sparse::Sampler::new(sampling),
            last_pts: 0.0,
            first_pts: None,
            select: None,
            index,
            cfr: cfr_origin,
            renumber_shift: 0,
            table: None,
            table_tried: false,
            plan: None,
            landing: None,
            returned: None,
            returned_before: None,
            broken: None,
        })
    }

    /// Decodes without the codec's in-loop deblocking filter (H.264, HEVC, VP9...; others ignore
    /// it): frames come faster and slightly blockier, and the error spreads until the next key
    /// frame. For measuring frames (key frames' stage 1), never for results. Call before the
    /// first frame.
    pub fn skip_loop_filter(&mut self) {
        self.decoder.skip_loop_filter(codec::discard::Discard::All);
    }

    /// Each kept frame also holds its decoded picture ([`Frame::picture`]): a reference, no copy,
    /// so that a consumer can keep a frame at full size after measuring it small and convert it
    /// later ([`Converter::picture`]). Call before the first frame.
    pub fn keep_pictures(&mut self) {
        self.keep_pictures = true;
    }

    /// Keeps only the frames whose decode index is in `frames` (instead of stride and frame-rate
    /// sampling; start and duration still apply). Other frames are decoded but not converted,
    /// and decoding stops after the last selected one.
    ///
    /// Where the stream's packets can number its frames (see [`sparse`]), decoding is sparse: it
    /// seeks to the key frame before a wanted frame when one lies between, and skips
    /// non-reference frames no wanted frame needs; the frames and their decode indices are those
    /// a full decode gives.
    pub fn select(&mut self, frames: std::sync::Arc<std::collections::BTreeSet<u64>>) {
        self.read_table();
        if let Some(table) = &self.table {
            let plan = sparse::Plan::new(table, &frames);
            self.done |= plan.next_wanted().is_none();
            self.plan = Some(plan);
        }
        self.select = Some(frames);
    }

    /// The frames the stream holds, counted from its packets without decoding them (a header's
    /// count can be wrong). `None` where the packets cannot say (an input read once, packets
    /// without presentation times such as AVI with B-frames, damaged data), or once decoding has
    /// begun.
    pub fn count_frames(&mut self) -> Option<u64> {
        self.read_table();
        self.table.as_ref().map(sparse::Table::frames)
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    pub fn stats(&self) -> &DecodeStats {
        &self.stats
    }

    /// Size of the converted frames (the source size when the output format says 0x0).
    pub fn output_size(&self) -> (u32, u32) {
        if self.out.width == 0 {
            (self.info.width, self.info.height)
        } else {
            (self.out.width, self.out.height)
        }
    }

    fn corrupt(&self, reason: String) -> Error {
        // Frames before the damage, counted as decode indices (also after a seek).
        let frames = self.last_index.map_or(0, |i| i + 1);
        Error::Corrupt { path: self.info.path.clone(), frames_decoded: frames, pts: self.last_pts, reason }
    }

    /// Decodes up to the next kept frame and converts it into a buffer taken from `pool`.
    /// `Ok(None)` at the end of the stream or of the sampled range. An error ends the stream:
    /// frames returned before it are good.
    pub fn next_frame(&mut self, pool: &FramePool) -> Result<Option<Frame>> {
        if !self.table_tried && self.select.is_none() && sparse::Sampler::is_sparse(&self.sampling) {
            // A stride or a rate keeps few frames: they become a selection, decoded sparsely.
            self.read_table();
            if let Some(table) = &self.table {
                let keep = sparse::kept(table, self.sampling, self.time_base);
                self.select(std::sync::Arc::new(keep));
            }
        }
        if let Some(reason) = self.broken.take() {
            self.done = true;
            return Err(self.corrupt(reason));
        }
        loop {
            if self.done {
                return Ok(None);
            }
            let t0 = std::time::Instant::now();
            let got = self.receive_decoded();
            self.stats.decode_s += t0.elapsed().as_secs_f64();
            match got? {
                None => {
                    self.done = true;
                    return Ok(None);
                }
                Some(()) => {
                    if let Some(frame) = self.sample_and_convert(pool)? {
                        return Ok(Some(frame));
                    }
                }
            }
        }
    }

    /// Gets the next decoded frame into `self.decoded`, reading packets as needed.
    fn receive_decoded(&mut self) -> Result<Option<()>> {
        loop {
            match self.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {
                    // After a seek, frames shown before the key frame are its leading pictures,
                    // made from references the decoder never saw: dropped, damaged or not.
                    let shown_from = self.plan.as_ref().and_then(|p| p.shown_from);
                    if shown_from.is_some_and(|from| self.decoded.timestamp().or(self.decoded.pts()).is_some_and(|t| t < from)) {
                        continue;
                    }
                    // SAFETY: `decoded` holds a frame the decoder just filled; a plain field read.
                    let damaged = unsafe { (*self.decoded.as_ptr()).decode_error_flags != 0 } || self.decoded.is_corrupt();
                    if damaged {
                        return Err(self.corrupt("the decoder reported a damaged frame".into()));
                    }
                    return Ok(Some(()));
                }
                Err(ffmpeg::Error::Eof) => {
                    if let Some(w) = self.plan.as_ref().and_then(sparse::Plan::next_wanted) {
                        self.full_decode(&format!("the stream ended before frame {w} came out of the decoder"))?;
                        continue;
                    }
                    self.check_complete()?;
                    return Ok(None);
                }
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => {}
                Err(e) => return Err(self.corrupt(format!("decode error: {}", av_error(e)))),
            }
            if self.eof_sent {
                // receive_frame gives EAGAIN only while input is wanted; after EOF it ends with Eof.
                self.check_complete()?;
                return Ok(None);
            }
            // Feed the next packet of our stream.
            self.plan_seek()?;
            loop {
                // av_read_frame overwrites the packet without releasing its previous payload:
                // unreference it first, or every demuxed packet leaks.
                // SAFETY: the packet is ours and initialised; unref leaves it blank and reusable.
                unsafe { ffmpeg::ffi::av_packet_unref(ffmpeg::packet::Mut::as_mut_ptr(&mut self.packet)) };
                match self.packet.read(&mut self.input) {
                    Ok(()) => {
                        if self.packet.stream() != self.info.stream_index {
                            continue;
                        }
                        self.check_renumbered()?;
                        if !self.check_landing()? {
                            continue;
                        }
                        self.plan_packet();
                        if let Err(e) = self.decoder.send_packet(&self.packet) {
                            return Err(self.corrupt(format!("decode error: {}", av_error(e))));
                        }
                        break;
                    }
                    Err(ffmpeg::Error::Eof) => {
                        if self.landing.is_some_and(|(at, _)| at == 0) {
                            return Err(self.corrupt("cannot go back to the start after reading its packets".into()));
                        }
                        let _ = self.decoder.send_eof();
                        self.eof_sent = true;
                        break;
                    }
                    Err(e) => return Err(self.corrupt(format!("read error: {}", av_error(e)))),
                }
            }
        }
    }

    /// After damaged data some demuxers (AVI) skip to the next intact packet and number it as if
    /// nothing were lost, which shifts every later frame number. The container's index says
    /// which frame a packet at that byte position is: the packet's timestamps are corrected, the
    /// lost frames counted, and decode indices follow from timestamps from then on. Without a
    /// constant frame rate the indices cannot be known: that is an error.
    fn check_renumbered(&mut self) -> Result<()> {
        let Some(dts) = self.packet.dts() else { return Ok(()) };
        let pos = self.packet.position() as i64;
        let listed = self.listed(pos);
        // Packets the index does not list keep the last known correction.
        let shift = listed.map_or(self.renumber_shift, |want| want - dts);
        if shift != self.renumber_shift {
            let Some(cfr) = self.cfr else {
                return Err(self.corrupt(format!(
                    "damaged data before byte {pos}: the container's index numbers the next packet {}, the demuxer {dts}, and without a constant frame rate the later frame numbers cannot be known",
                    dts + shift
                )));
            };
            let lost = shift - self.renumber_shift;
            if lost > 0 {
                self.stats.frames_missing += lost as u64;
            }
            self.index_from_pts.get_or_insert(cfr);
            self.renumber_shift = shift;
            log::warn!(
                "{}: damaged data before byte {pos}: {lost} frame(s) missing; later frames keep their decode index",
                self.info.path.display()
            );
        }
        if shift != 0 {
            self.packet.set_dts(Some(dts + shift));
            self.packet.set_pts(self.packet.pts().map(|p| p + shift));
        }
        Ok(())
    }

    /// The timestamp the container's index gives the packet at byte `pos`, if it lists it: the
    /// entry is at the packet's data (MP4) or at its 8-byte chunk header (AVI's RIFF chunks).
    fn listed(&self, pos: i64) -> Option<i64> {
        if pos < 0 {
            return None;
        }
        self.index.get(&pos).or_else(|| self.index.get(&(pos - 8))).copied()
    }

    /// At the natural end of the stream: a stream that gave no frame at all is an error (never an
    /// empty success), and a file that ends well short of both the frame count
    /// and the duration its container declares was truncated. Both must be short: an edit list
    /// can hide frames the count includes, but then the duration is short too.
    fn check_complete(&self) -> Result<()> {
        if self.stats.decoded == 0 {
            let reason = if self.index_from_pts.is_some() {
                format!("no frame could be decoded at or after {:.3} s (--start)", self.sampling.start)
            } else {
                "the video stream has no decodable frame (its first keyframe is missing or damaged)".to_string()
            };
            return Err(self.corrupt(reason));
        }
        let (Some(declared), Some(duration)) = (self.info.declared_frames, self.info.duration) else { return Ok(()) };
        let frame_s = self.info.fps.map_or(0.04, |f| 1.0 / f);
        // After a seek, frames before it were skipped, not lost: count from the stream's origin.
        let (reached, first) = match self.index_from_pts {
            Some((origin, _)) => (self.last_index.map_or(0, |i| i + 1), Some(origin)),
            None => (self.stats.decoded, self.first_pts),
        };
        let covered = first.map_or(0.0, |f| self.last_pts - f + frame_s);
        // Containers' counts and durations can be off by a few frames (dropped B-frames, rounding).
        let few_frames = reached + 2 + declared / 50 < declared;
        let short_time = covered + 2.0 * frame_s < duration * 0.98;
        if few_frames && short_time {
            return Err(self.corrupt(format!(
                "the stream ended after {reached} of the {declared} frames ({covered:.2} of {duration:.2} s) its container declares (file truncated?)"
            )));
        }
        Ok(())
    }

    fn sample_and_convert(&mut self, pool: &FramePool) -> Result<Option<Frame>> {
        let count = self.stats.decoded;
        self.stats.decoded += 1;
        let ts = self.decoded.timestamp().or(self.decoded.pts());
        let pts = match (ts, self.info.fps) {
            (Some(t), _) => t as f64 * self.time_base,
            (None, Some(fps)) => count as f64 / fps,
            (None, None) => count as f64 / 25.0,
        };
        let index = match (&self.plan, &self.table, self.index_from_pts, ts) {
            (Some(_), Some(table), _, _) => match ts.and_then(|t| table.index_of(t)) {
                Some(i) => i,
                None => {
                    self.full_decode(&format!("a decoded frame's time {ts:?} is not one of its packets'"))?;
                    return Ok(None);
                }
            },
            (_, _, Some((origin, fps)), Some(_)) => ((pts - origin) * fps).round().max(0.0) as u64,
            _ => count,
        };
        if let Some(plan) = self.plan.as_mut() {
            match plan.next_wanted() {
                Some(w) if index > w => {
                    self.full_decode(&format!("frame {w} did not come out of the decoder"))?;
                    return Ok(None);
                }
                Some(w) if index == w => {
                    plan.delivered(index);
                    self.done = plan.next_wanted().is_none();
                }
                _ => return Ok(None),
            }
        }
        self.last_index = Some(index);
        self.last_pts = pts;
        self.first_pts.get_or_insert(pts);
        // I-frames only, where the packets could not number the frames (no selection): every
        // frame is decoded, the key frames kept (before the stride and rate count them).
        if self.sampling.iframes && self.select.is_none() && !self.decoded.is_key() {
            return Ok(None);
        }
        let verdict = if self.select.is_some() { self.sampler.in_range(pts) } else { self.sampler.judge(pts) };
        match verdict {
            sparse::Verdict::Skip => return Ok(None),
            sparse::Verdict::End => {
                self.done = true;
                return Ok(None);
            }
            sparse::Verdict::Keep => {}
        }
        if let Some(sel) = &self.select {
            if sel.last().is_none_or(|&last| index > last) {
                self.done = true;
                return Ok(None);
            }
            if !sel.contains(&index) || self.returned_before.is_some_and(|r| index <= r) {
                return Ok(None);
            }
            self.returned = Some(index);
            let t0 = std::time::Instant::now();
            let frame = self.convert(pool, index, pts)?;
            self.stats.convert_s += t0.elapsed().as_secs_f64();
            self.stats.kept += 1;
            return Ok(Some(frame));
        }
        let t0 = std::time::Instant::now();
        let frame = self.convert(pool, index, pts)?;
        self.stats.convert_s += t0.elapsed().as_secs_f64();
        self.stats.kept += 1;
        Ok(Some(frame))
    }

    /// Converts the decoded frame; with [`Decoder::keep_pictures`] the frame holds the picture too.
    fn convert(&mut self, pool: &FramePool, index: u64, pts: f64) -> Result<Frame> {
        let mut frame = match self.converter.convert(&self.decoded, pool, index, pts) {
            Ok(f) => f,
            Err(reason) => return Err(self.corrupt(reason)),
        };
        if self.keep_pictures {
            frame.picture = Some(Picture::of(&self.decoded).map_err(|reason| self.corrupt(reason))?);
        }
        Ok(frame)
    }
}

/// NV12 (a caller's frames, e.g. from a hardware decoder) to packed RGB/BGR with swscale; the
/// conversion context is kept while the size stays.
#[derive(Default)]
pub struct Nv12 {
    ctx: Option<(scaling::Context, u32, u32)>,
}

impl Nv12 {
    /// Converts `data` (a `w x h` luma plane then the interleaved chroma plane, rows of `stride`
    /// bytes; checked by the caller) into `out`, `w * h * 3` bytes in `order`.
    pub fn to_packed(&mut self, data: &[u8], w: u32, h: u32, stride: usize, order: ChannelOrder, out: &mut Vec<u8>) -> Result<()> {
        use ffmpeg::format::Pixel;
        let dst_fmt = if order == ChannelOrder::Rgb { Pixel::RGB24 } else { Pixel::BGR24 };
        if self.ctx.as_ref().is_none_or(|c| (c.1, c.2) != (w, h)) {
            let ctx = scaling::Context::get(Pixel::NV12, w, h, dst_fmt, w, h, scaling::Flags::BILINEAR)
                .map_err(|e| Error::Pipeline(format!("cannot set up NV12 conversion for {w}x{h}: {e}")))?;
            self.ctx = Some((ctx, w, h));
        }
        let mut src = frame::Video::new(Pixel::NV12, w, h);
        let (ys, uvs) = (src.stride(0), src.stride(1));
        for y in 0..h as usize {
            src.data_mut(0)[y * ys..][..w as usize].copy_from_slice(&data[y * stride..][..w as usize]);
        }
        let uv = &data[h as usize * stride..];
        for y in 0..h as usize / 2 {
            src.data_mut(1)[y * uvs..][..w as usize].copy_from_slice(&uv[y * stride..][..w as usize]);
        }
        let mut dst = frame::Video::empty();
        let ctx = &mut self.ctx.as_mut().expect("set above").0;
        ctx.run(&src, &mut dst).map_err(|e| Error::Pipeline(format!("NV12 conversion failed: {e}")))?;
        let ds = dst.stride(0);
        out.resize(w as usize * h as usize * 3, 0);
        for y in 0..h as usize {
            out[y * w as usize * 3..][..w as usize * 3].copy_from_slice(&dst.data(0)[y * ds..][..w as usize * 3]);
        }
        Ok(())
    }
}
