//! Sparse decoding's side of the decoder (issue 33): the packet table read before decoding,
//! seeks to the key frame before a wanted frame, non-reference frames skipped, and the way back
//! to a full decode when the table and the decoder disagree. The plan itself is
//! [`super::sparse`].

use ffmpeg::codec;
use ffmpeg_next as ffmpeg;

use super::{av_error, sparse, Decoder};
use crate::error::Result;

impl Decoder {
    /// Reads the stream's packets into the table, once and only before decoding, then goes back
    /// to the start.
    pub(super) fn read_table(&mut self) {
        if std::mem::replace(&mut self.table_tried, true) {
            return;
        }
        // SAFETY: a field read of the open input's I/O context.
        let seekable = unsafe {
            let pb = (*self.input.as_ptr()).pb;
            !pb.is_null() && (*pb).seekable != 0
        };
        // Image demuxers (one picture, or a pipe of them) cannot be read twice.
        let image = self.info.container == "image2" || self.info.container.ends_with("_pipe");
        if self.stats.decoded > 0
            || self.eof_sent
            || self.index_from_pts.is_some()
            || !seekable
            || image
            || crate::video::is_url(&self.info.path)
        {
            return;
        }
        let (packets, read) = self.read_packets();
        let first = packets.first().map(|p| p.dts.or(p.pts));
        match read.and_then(|()| sparse::Table::build(packets)) {
            Ok(table) => self.table = Some(table),
            Err(why) => log::debug!("{}: every frame is decoded: {why}", self.info.path.display()),
        }
        // Back to the start whatever was read: decoding begins there.
        if let Err(e) = self.rewind(first.flatten()) {
            self.table = None;
            self.broken = Some(format!("cannot go back to the start after reading its packets: {e}"));
        }
    }

    /// Seeks back to the stream's first packet (its decode time `first`); the next packet read
    /// must be that one.
    fn rewind(&mut self, first: Option<i64>) -> std::result::Result<(), String> {
        self.seek_stream(first.unwrap_or(i64::MIN))?;
        self.landing = Some((0, None));
        Ok(())
    }

    /// The video stream's packets to the end (or to damaged data, with the reason).
    fn read_packets(&mut self) -> (Vec<sparse::Packet>, std::result::Result<(), String>) {
        let mut packets = Vec::new();
        let mut packet = codec::packet::Packet::empty();
        loop {
            // SAFETY: as in `receive_decoded`: unreference before av_read_frame refills it.
            unsafe { ffmpeg::ffi::av_packet_unref(ffmpeg::packet::Mut::as_mut_ptr(&mut packet)) };
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() != self.info.stream_index => {}
                Ok(()) => {
                    if packets.len() == sparse::MAX_PACKETS {
                        return (packets, Err(format!("more than {} packets", sparse::MAX_PACKETS)));
                    }
                    let pos = packet.position() as i64;
                    if self.listed(pos).is_some_and(|want| Some(want) != packet.dts()) {
                        return (packets, Err(format!("damaged data before byte {pos}")));
                    }
                    // SAFETY: a field read of the packet just read.
                    let flags = unsafe { (*ffmpeg::packet::Ref::as_ptr(&packet)).flags };
                    packets.push(sparse::Packet {
                        pts: packet.pts(),
                        dts: packet.dts(),
                        key: packet.is_key(),
                        shown: flags & ffmpeg::ffi::AV_PKT_FLAG_DISCARD == 0,
                    });
                }
                Err(ffmpeg::Error::Eof) => return (packets, Ok(())),
                Err(e) => return (packets, Err(format!("reading its packets: {}", av_error(e)))),
            }
        }
    }

    /// Seeks the video stream to the key frame at or before `ts` (its time base) and empties the
    /// decoder.
    pub(super) fn seek_stream(&mut self, ts: i64) -> std::result::Result<(), String> {
        // SAFETY: the input is open; av_seek_frame takes a stream index of it and a timestamp.
        let r = unsafe {
            ffmpeg::ffi::av_seek_frame(self.input.as_mut_ptr(), self.info.stream_index as i32, ts, ffmpeg::ffi::AVSEEK_FLAG_BACKWARD)
        };
        self.decoder.flush();
        if r < 0 {
            return Err(av_error(ffmpeg::Error::from(r)));
        }
        Ok(())
    }

    /// Before feeding the next packet: seeks when the plan says a key frame lies between.
    pub(super) fn plan_seek(&mut self) -> Result<()> {
        let (Some(plan), Some(table)) = (&self.plan, &self.table) else { return Ok(()) };
        let Some(key) = plan.seek_to(table) else { return Ok(()) };
        let p = *table.packet(key);
        // Demuxers' indices differ (decode or presentation times, shifted by an edit list): the
        // wanted frame's own time lands at its key frame or later, the key frame's decode time at
        // it or earlier. The first is tried first; a landing past the key frame tries the second.
        let wanted = plan.next_wanted().map(|w| table.pts_of(w));
        let early = p.dts.into_iter().chain(p.pts).min().unwrap_or(i64::MIN);
        match self.seek_stream(wanted.unwrap_or(early)) {
            Ok(()) => {
                let plan = self.plan.as_mut().expect("checked above");
                plan.fed = key;
                plan.sought = key;
                plan.shown_from = p.pts;
                self.stats.seeks += 1;
                self.landing = Some((key, Some(early)));
                Ok(())
            }
            Err(e) => self.full_decode(&format!("seeking failed: {e}")),
        }
    }

    /// Leaves sparse decoding at a disagreement between the table and the decoder: decodes every
    /// frame from the start, returning only frames after those already returned.
    pub(super) fn full_decode(&mut self, why: &str) -> Result<()> {
        log::info!("{}: sparse decoding stopped ({why}); decoding every frame from the start", self.info.path.display());
        self.plan = None;
        self.eof_sent = false;
        self.done = false;
        self.returned_before = self.returned;
        self.stats.decoded = 0;
        self.first_pts = None;
        self.last_index = None;
        self.decoder.skip_frame(ffmpeg::codec::discard::Discard::Default);
        let first = self.table.as_ref().map(|t| t.packet(0)).and_then(|p| p.dts.or(p.pts));
        self.rewind(first).map_err(|e| self.corrupt(format!("cannot go back to the start: {e}")))
    }

    /// After a seek, the first packet read: the demuxer must land at or before the key frame
    /// asked for, or frames would be lost. `Ok(false)`: the packet is dropped (decoding went back
    /// to the start).
    pub(super) fn check_landing(&mut self) -> Result<bool> {
        let (Some((want, retry)), Some(table)) = (self.landing.take(), &self.table) else { return Ok(true) };
        let at = self.packet.pts().and_then(|p| table.position_of(p));
        if at.is_some_and(|a| a <= want) {
            return Ok(true);
        }
        if let Some(ts) = retry {
            if self.seek_stream(ts).is_ok() {
                self.landing = Some((want, None));
                return Ok(false);
            }
        }
        if want == 0 {
            return Err(self.corrupt(format!("cannot go back to the start: the demuxer went to packet {at:?}")));
        }
        self.full_decode(&format!("a seek to packet {want} went to {at:?}"))?;
        Ok(false)
    }

    /// Sparse decoding, before a packet is fed: where decoding now is, and whether the decoder
    /// may skip the packet's frame (a non-reference frame that is not wanted).
    pub(super) fn plan_packet(&mut self) {
        let (Some(plan), Some(table)) = (self.plan.as_mut(), &self.table) else { return };
        let pts = self.packet.pts();
        if let Some(pos) = pts.and_then(|p| table.position_of(p)) {
            plan.fed = pos + 1;
        }
        let wanted = pts.and_then(|p| table.index_of(p)).is_some_and(|i| plan.is_wanted(i));
        self.decoder.skip_frame(if wanted { codec::discard::Discard::Default } else { codec::discard::Discard::NonReference });
    }
}
