//! Sparse decoding's plan (issue 33): a table of the stream's packets, read once by demuxing
//! without decoding, says which frame each packet shows, where the key frames are and how many
//! frames the stream really holds (whatever its header declares). With it, a decoder that wants a
//! few frames seeks to the key frame before each one when there is a key frame between where it
//! is and where it must go, skips non-reference frames that no wanted frame needs, and still
//! numbers every frame with the decode index a full decode gives it.
//!
//! The table is trusted only where it can be: every shown packet carries a presentation time and
//! no two share one (MP4, MKV, WebM, AVI without B-frames, MPEG-TS...). Streams whose packets
//! lack presentation times (AVI with B-frames) are decoded in full, as before. The decoder checks
//! the table against what it decodes and goes back to a full decode at the first disagreement.

#![forbid(unsafe_code)]

use std::collections::{BTreeSet, HashMap};

/// Packets a table holds at most (a day of 50 fps video); a longer stream is decoded in full.
pub(super) const MAX_PACKETS: usize = 5_000_000;

/// One demuxed packet of the video stream, in decode order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Packet {
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub key: bool,
    /// False for packets the demuxer marks discarded (before an edit list's start): decoded for
    /// their references, never shown.
    pub shown: bool,
}

/// The stream's packets and the frames they show.
#[derive(Debug)]
pub(super) struct Table {
    packets: Vec<Packet>,
    /// Presentation time -> decode index (the frame's place in presentation order).
    index_of: HashMap<i64, u64>,
    /// Decode index -> the position in decode order of the packet that shows it.
    position: Vec<usize>,
    /// Positions (decode order) of the key packets, ascending.
    keys: Vec<usize>,
    /// Presentation time -> position of the packets that are decoded but never shown.
    hidden: HashMap<i64, usize>,
}

impl Table {
    /// The table of `packets` (decode order), or why it cannot be trusted.
    pub fn build(packets: Vec<Packet>) -> Result<Table, String> {
        if packets.is_empty() {
            return Err("the stream has no packets".into());
        }
        if !packets[0].key {
            return Err("the stream does not start with a key frame".into());
        }
        let mut shown: Vec<(i64, usize)> = Vec::with_capacity(packets.len());
        for (pos, p) in packets.iter().enumerate() {
            if p.shown {
                let Some(pts) = p.pts else { return Err(format!("packet {pos} has no presentation time")) };
                shown.push((pts, pos));
            }
        }
        shown.sort_unstable();
        if let Some(w) = shown.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!("two packets show presentation time {}", w[0].0));
        }
        let index_of = shown.iter().enumerate().map(|(i, &(pts, _))| (pts, i as u64)).collect();
        let position = shown.iter().map(|&(_, pos)| pos).collect();
        let keys = packets.iter().enumerate().filter(|(_, p)| p.key).map(|(i, _)| i).collect();
        let hidden = packets.iter().enumerate().filter_map(|(i, p)| if p.shown { None } else { Some((p.pts?, i)) }).collect();
        Ok(Table { packets, index_of, position, keys, hidden })
    }

    /// The decode indices of the frames key packets show, ascending.
    pub fn key_frames(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .keys
            .iter()
            .filter_map(|&pos| self.packets[pos].pts.filter(|_| self.packets[pos].shown))
            .filter_map(|pts| self.index_of(pts))
            .collect();
        v.sort_unstable();
        v
    }

    /// Frames the stream shows.
    pub fn frames(&self) -> u64 {
        self.position.len() as u64
    }

    /// The decode index of the frame shown at presentation time `pts`.
    pub fn index_of(&self, pts: i64) -> Option<u64> {
        self.index_of.get(&pts).copied()
    }

    pub fn packet(&self, position: usize) -> &Packet {
        &self.packets[position]
    }

    /// Presentation time of frame `index`.
    pub fn pts_of(&self, index: u64) -> i64 {
        self.packets[self.position[index as usize]].pts.expect("shown packets have a presentation time")
    }

    /// The key packet to start decoding at for frame `index`: the last one at or before its packet
    /// in decode order that is shown no later than it (a frame shown before its key frame, an open
    /// GOP's leading picture, refers to the group before and needs the key frame before that).
    pub fn start_for(&self, index: u64) -> usize {
        let pos = self.position[index as usize];
        let pts = self.pts_of(index);
        let before = self.keys.partition_point(|&k| k <= pos);
        self.keys[..before].iter().rev().find(|&&k| self.packets[k].pts.is_none_or(|p| p <= pts)).copied().unwrap_or(self.keys[0])
    }

    /// The position in decode order of the packet with presentation time `pts` (any packet,
    /// shown or not).
    pub fn position_of(&self, pts: i64) -> Option<usize> {
        match self.index_of(pts) {
            Some(i) => Some(self.position[i as usize]),
            None => self.hidden.get(&pts).copied(),
        }
    }
}

/// What a decoder with a table still wants, and where it is.
#[derive(Debug)]
pub(super) struct Plan {
    /// The wanted decode indices that exist, ascending.
    wanted: Vec<u64>,
    /// For each wanted frame, the lowest decode position of its packet and every later wanted
    /// frame's: a seek past it would lose one of them.
    earliest_after: Vec<usize>,
    /// The first wanted frame not yet delivered.
    next: usize,
    /// The decode position of the next packet to be fed (where decoding would go on).
    pub fed: usize,
    /// After a seek: frames shown before this time are the key frame's leading pictures.
    pub shown_from: Option<i64>,
    /// The key packet last sought: never sought again (a demuxer that lands earlier than asked
    /// would otherwise be asked again and again).
    pub sought: usize,
}

impl Plan {
    pub fn new(table: &Table, wanted: &BTreeSet<u64>) -> Plan {
        let wanted: Vec<u64> = wanted.range(..table.frames()).copied().collect();
        let mut earliest_after = vec![usize::MAX; wanted.len()];
        let mut low = usize::MAX;
        for (i, &w) in wanted.iter().enumerate().rev() {
            low = low.min(table.position[w as usize]);
            earliest_after[i] = low;
        }
        Plan { wanted, earliest_after, next: 0, fed: 0, shown_from: None, sought: 0 }
    }

    /// The next wanted decode index, if any is left.
    pub fn next_wanted(&self) -> Option<u64> {
        self.wanted.get(self.next).copied()
    }

    pub fn is_wanted(&self, index: u64) -> bool {
        self.wanted[self.next..].binary_search(&index).is_ok()
    }

    /// Frame `index` was delivered (or passed): the wanted frames up to it are done.
    pub fn delivered(&mut self, index: u64) {
        while self.wanted.get(self.next).is_some_and(|&w| w <= index) {
            self.next += 1;
        }
    }

    /// Where to seek before feeding the next packet: a key packet after the next one to be fed
    /// (and after the last one sought) from which the next wanted frame, and every later one, can still be decoded.
    pub fn seek_to(&self, table: &Table) -> Option<usize> {
        let w = self.next_wanted()?;
        let key = table.start_for(w);
        (key > self.fed.max(self.sought) && key <= self.earliest_after[self.next]).then_some(key)
    }
}

/// What sampling says of a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Verdict {
    Skip,
    Keep,
    /// Past the sampled range: no later frame is kept.
    End,
}

/// [`Sampling`](super::Sampling) over the frames in presentation order, one frame at a time: the
/// decoder asks it of every decoded frame, or of every frame of a table at once ([`kept`]).
#[derive(Debug, Clone)]
pub(super) struct Sampler {
    s: super::Sampling,
    in_range: u64,
    next_keep_t: Option<f64>,
}

impl Sampler {
    pub fn new(s: super::Sampling) -> Sampler {
        Sampler { s, in_range: 0, next_keep_t: None }
    }

    /// `--start` and `--duration` only (a selection of frames is held to them too).
    pub fn in_range(&self, pts: f64) -> Verdict {
        const EPS: f64 = 1e-6;
        if pts + EPS < self.s.start {
            Verdict::Skip
        } else if self.s.duration.is_some_and(|d| pts + EPS >= self.s.start + d) {
            Verdict::End
        } else {
            Verdict::Keep
        }
    }

    /// The range, then `--stride` (counted within the range) and `--max-fps`.
    pub fn judge(&mut self, pts: f64) -> Verdict {
        let range = self.in_range(pts);
        if range != Verdict::Keep {
            return range;
        }
        let nth = self.in_range;
        self.in_range += 1;
        if nth % u64::from(self.s.stride) != 0 {
            return Verdict::Skip;
        }
        if let Some(f) = self.s.max_fps {
            let next = *self.next_keep_t.get_or_insert(pts);
            if pts + 1e-6 < next {
                return Verdict::Skip;
            }
            let step = 1.0 / f;
            let mut n = next + step;
            if n <= pts {
                n = pts + step;
            }
            self.next_keep_t = Some(n);
        }
        Verdict::Keep
    }

    /// Whether sampling keeps few enough frames for a table to pay (a stride or a rate).
    pub fn is_sparse(s: &super::Sampling) -> bool {
        s.stride > 1 || s.max_fps.is_some() || s.iframes
    }
}

/// The decode indices `s` keeps of the table's frames (`time_base`: seconds a tick); with
/// `s.iframes`, of its key frames only.
pub(super) fn kept(table: &Table, s: super::Sampling, time_base: f64) -> BTreeSet<u64> {
    let mut sampler = Sampler::new(s);
    let mut out = BTreeSet::new();
    let candidates: Box<dyn Iterator<Item = u64>> =
        if s.iframes { Box::new(table.key_frames().into_iter()) } else { Box::new(0..table.frames()) };
    for i in candidates {
        match sampler.judge(table.pts_of(i) as f64 * time_base) {
            Verdict::Keep => _ = out.insert(i),
            Verdict::Skip => {}
            Verdict::End => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pts: i64, dts: i64, key: bool) -> Packet {
        Packet { pts: Some(pts), dts: Some(dts), key, shown: true }
    }

    /// I P B B P B B | I P B B (decode order), shown I B B P B B P ...
    fn gop() -> Vec<Packet> {
        vec![
            p(0, -1, true),
            p(3, 0, false),
            p(1, 1, false),
            p(2, 2, false),
            p(6, 3, false),
            p(4, 4, false),
            p(5, 5, false),
            p(7, 6, true),
            p(10, 7, false),
            p(8, 8, false),
            p(9, 9, false),
        ]
    }

    #[test]
    fn indices_follow_presentation_order() {
        let t = Table::build(gop()).unwrap();
        assert_eq!(t.frames(), 11);
        assert_eq!(t.index_of(3), Some(3));
        assert_eq!(t.position_of(3), Some(1));
        assert_eq!(t.start_for(9), 7);
        assert_eq!(t.start_for(6), 0);
    }

    #[test]
    fn an_open_gops_leading_picture_starts_at_the_key_frame_before() {
        // The second key frame (pts 9) is decoded before the B-frames shown before it.
        let mut g = gop();
        g[7] = p(9, 6, true);
        g[9] = p(7, 8, false);
        g[10] = p(8, 9, false);
        let t = Table::build(g).unwrap();
        assert_eq!(t.start_for(t.index_of(7).unwrap()), 0, "a leading picture needs the GOP before");
        assert_eq!(t.start_for(t.index_of(9).unwrap()), 7);
    }

    #[test]
    fn untrustworthy_tables_are_refused() {
        let mut g = gop();
        g[2].pts = None;
        assert!(Table::build(g).unwrap_err().contains("no presentation time"));
        let mut g = gop();
        g[2].pts = Some(3);
        assert!(Table::build(g).unwrap_err().contains("two packets"));
        let mut g = gop();
        g[0].key = false;
        assert!(Table::build(g).is_err());
        // A discarded packet needs no time and shows no frame.
        let mut g = gop();
        g[0].shown = false;
        g[0].pts = None;
        assert_eq!(Table::build(g).unwrap().frames(), 10);
        // A discarded packet with a time is found by it.
        let mut g = gop();
        g[2].shown = false;
        let t = Table::build(g).unwrap();
        assert_eq!((t.frames(), t.index_of(1), t.position_of(1)), (10, None, Some(2)));
    }

    #[test]
    fn a_plan_seeks_only_forward_and_never_past_a_wanted_frame() {
        let t = Table::build(gop()).unwrap();
        let mut plan = Plan::new(&t, &[1, 9, 40].into_iter().collect());
        assert_eq!(plan.next_wanted(), Some(1), "indices past the stream are dropped");
        assert_eq!(plan.seek_to(&t), None, "frame 1 is decoded from the first key frame");
        plan.fed = 3;
        plan.delivered(1);
        assert_eq!(plan.seek_to(&t), Some(7));
        plan.fed = 8;
        assert_eq!(plan.seek_to(&t), None, "already past the key frame");
        plan.delivered(9);
        assert_eq!(plan.next_wanted(), None);
        let mut plan = Plan::new(&t, &[2, 8].into_iter().collect());
        plan.fed = 2;
        plan.delivered(2);
        assert_eq!(plan.seek_to(&t), Some(7));
        assert!(plan.is_wanted(8) && !plan.is_wanted(9));
    }
}
