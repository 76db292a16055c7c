//! Frames and their results, which reach a sink apart, handed on together in decode order: the
//! annotator's pairing of the pipeline's tapped frames with the results that follow them, and of
//! a second decode's frames with results that came without frames (verify, colour teams).
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use crate::error::Result;
use crate::video::Frame;

/// What a pairing hands each frame to: the frame and its result, if it has one.
pub type Visit<'a, R> = dyn FnMut(&mut Frame, Option<&R>) -> Result<()> + 'a;

/// Pairs frames with results by decode index, both in decode order. A frame waits until a result
/// for it or a later frame comes; a frame no result names goes on alone, and a result whose frame
/// never came is dropped.
pub struct InOrder<R> {
    frames: VecDeque<Frame>,
    /// A result that came before its frame, with its decode index.
    early: Option<(u64, R)>,
}

impl<R> Default for InOrder<R> {
    fn default() -> Self {
        Self { frames: VecDeque::new(), early: None }
    }
}

impl<R> InOrder<R> {
    /// Whether a frame waits for its result.
    pub fn waiting(&self) -> bool {
        !self.frames.is_empty()
    }

    /// A frame: handed on with the result that came before it, alone when that result is for a
    /// later frame, else held until a result comes.
    pub fn frame(&mut self, mut f: Frame, visit: &mut Visit<'_, R>) -> Result<()> {
        if self.early.as_ref().is_some_and(|(i, _)| *i < f.index) {
            self.early = None;
        }
        match self.early.take() {
            Some((i, r)) if i == f.index => visit(&mut f, Some(&r)),
            Some(later) => {
                self.early = Some(later);
                visit(&mut f, None)
            }
            None => {
                self.frames.push_back(f);
                Ok(())
            }
        }
    }

    /// The result of decode frame `index`: the frames held before it go on alone, its own with it;
    /// kept for its frame when that has not come yet.
    pub fn result(&mut self, index: u64, r: R, visit: &mut Visit<'_, R>) -> Result<()> {
        while let Some(mut f) = self.frames.pop_front() {
            if f.index > index {
                self.frames.push_front(f);
                return Ok(());
            }
            if f.index == index {
                return visit(&mut f, Some(&r));
            }
            visit(&mut f, None)?;
        }
        self.early = Some((index, r));
        Ok(())
    }

    /// No more results: the frames still held go on alone.
    pub fn finish(&mut self, visit: &mut Visit<'_, R>) -> Result<()> {
        self.early = None;
        while let Some(mut f) = self.frames.pop_front() {
            visit(&mut f, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{ChannelOrder, Transform};
    use crate::video::FramePool;

    fn frame(pool: &FramePool, index: u64) -> Frame {
        Frame {
            index,
            pts: index as f64,
            data: pool.take(3),
            width: 1,
            height: 1,
            order: ChannelOrder::Rgb,
            transform: Transform::identity(1, 1),
            picture: None,
        }
    }

    #[test]
    fn frames_meet_their_results_in_decode_order() {
        let pool = FramePool::new(16);
        let mut seen: Vec<(u64, Option<&'static str>)> = Vec::new();
        let mut visit = |f: &mut Frame, r: Option<&&'static str>| {
            seen.push((f.index, r.copied()));
            Ok(())
        };
        let mut p = InOrder::default();
        // Tapped frames ahead of their results.
        for i in 0..3 {
            p.frame(frame(&pool, i), &mut visit).unwrap();
        }
        assert!(p.waiting());
        p.result(1, "one", &mut visit).unwrap();
        // A result for a frame still to come waits for it; the frames before go on alone.
        p.result(5, "five", &mut visit).unwrap();
        assert!(!p.waiting());
        p.frame(frame(&pool, 4), &mut visit).unwrap();
        p.frame(frame(&pool, 5), &mut visit).unwrap();
        // A result whose frame never came is dropped.
        p.frame(frame(&pool, 8), &mut visit).unwrap();
        p.result(7, "seven", &mut visit).unwrap();
        p.frame(frame(&pool, 9), &mut visit).unwrap();
        p.finish(&mut visit).unwrap();
        assert_eq!(seen, vec![(0, None), (1, Some("one")), (2, None), (4, None), (5, Some("five")), (8, None), (9, None)]);
    }
}
