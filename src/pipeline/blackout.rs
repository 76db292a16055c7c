//! The Score Vision validator's way of cutting ROIs (`[roi] blackout = true`): it cuts the boxes
//! of a frame one after another (input order) and blacks each out in the frame once cut, so a
//! box's crop shows the boxes before it as black, and the ball's enlarged crop, cut after all of
//! them, shows every box black (its own too). Here each crop is copied into a patch of its own
//! with those boxes zeroed; the classifier's ROI tensors are then made from the patches.
//!
//! The boxes blacked out are the ones the validator keeps in its list: those the rules kept and
//! the later balls the first-only rule turned away (the validator scores them as "not a
//! football"). Rectangles are the validator's `int()` of each coordinate (towards zero), clamped
//! to the frame.
#![forbid(unsafe_code)]

use crate::image::FrameView;
use crate::results::FrameResult;
use crate::roi::Crop;

/// Whether box `i` of `r` is in the validator's list (blacked out once cut).
fn blacked(r: &FrameResult, i: usize) -> bool {
    r.kept(i) || r.checks.get(i).is_some_and(|c| c.rule.as_deref() == Some("first_only"))
}

/// The rectangle the validator zeroes for `bbox` in a `w x h` frame: [x1, y1, x2, y2], whole pixels.
fn rect(bbox: [f32; 4], w: u32, h: u32) -> [u32; 4] {
    let t = |v: f32, hi: u32| (v.trunc().max(0.0) as u32).min(hi);
    [t(bbox[0], w), t(bbox[1], h), t(bbox[2], w), t(bbox[3], h)]
}

/// The patch of `crop` from `view` (tightly packed RGB rows) with the boxes of `r` that come
/// before box `i` (all of them when `after_all`) blacked out.
pub fn patch(view: &FrameView, r: &FrameResult, i: usize, crop: Crop, after_all: bool) -> Vec<u8> {
    let (cw, ch) = (crop.w as usize, crop.h as usize);
    let mut out = Vec::with_capacity(cw * ch * 3);
    for y in 0..ch {
        let at = (crop.y as usize + y) * view.stride + crop.x as usize * 3;
        out.extend_from_slice(&view.data[at..at + cw * 3]);
    }
    let upto = if after_all { r.detections.len() } else { i };
    for k in (0..upto).filter(|&k| blacked(r, k)) {
        let [x1, y1, x2, y2] = rect(r.detections[k].bbox, view.width, view.height);
        // The rectangle in patch coordinates.
        let (lx, rx) = (x1.max(crop.x), x2.min(crop.x + crop.w));
        let (ty, by) = (y1.max(crop.y), y2.min(crop.y + crop.h));
        if lx >= rx || ty >= by {
            continue;
        }
        for y in ty..by {
            let row = (y - crop.y) as usize * cw * 3;
            out[row + (lx - crop.x) as usize * 3..row + (rx - crop.x) as usize * 3].fill(0);
        }
    }
    out
}

/// The objects to classify (per frame: box index, label, crop) cut as patches: their crops
/// become whole-patch crops, and the second value gives each object's patch. `expanded(label)`:
/// whether that label's crop is enlarged (cut after every box is blacked out).
#[allow(clippy::type_complexity)]
pub fn patches(
    views: &[FrameView],
    out: &[FrameResult],
    todo: &mut [Vec<(usize, String, Option<Crop>)>],
    expanded: impl Fn(&str) -> bool,
) -> (Vec<(Vec<u8>, Crop)>, Vec<Vec<usize>>) {
    let mut patches = Vec::new();
    let mut source = Vec::with_capacity(todo.len());
    for (fi, objs) in todo.iter_mut().enumerate() {
        let mut at = Vec::with_capacity(objs.len());
        for (i, label, crop) in objs.iter_mut() {
            let c = crop.expect("a spec gives every object a crop");
            let whole = Crop { x: 0, y: 0, w: c.w, h: c.h };
            patches.push((patch(&views[fi], &out[fi], *i, c, expanded(label)), whole));
            *crop = Some(whole);
            at.push(patches.len() - 1);
        }
        source.push(at);
    }
    (patches, source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detection;
    use crate::results::{BoxCheck, Verdict};

    fn det(bbox: [f32; 4], class_id: u32) -> Detection {
        Detection::new(bbox, 1.0, class_id)
    }

    /// Three boxes on a white 20 x 10 frame: the second one's crop shows the first (overlapping)
    /// black, not itself nor the third; an expanded crop shows all three black, except a box the
    /// rules dropped.
    #[test]
    fn later_crops_see_earlier_boxes_black() {
        let (w, h) = (20u32, 10u32);
        let data = vec![255u8; (w * h * 3) as usize];
        let view = FrameView { data: &data, width: w, height: h, stride: w as usize * 3 };
        let mut r = FrameResult::untracked(
            0,
            0.0,
            vec![
                det([0.0, 0.0, 6.9, 5.0], 2),
                det([4.0, 2.0, 10.0, 8.0], 2),
                det([12.0, 2.0, 16.0, 8.0], 2),
                det([17.0, 0.0, 20.0, 3.0], 2),
            ],
        );
        r.checks = vec![BoxCheck::default(); 4];
        r.checks[3] = BoxCheck { verdict: Verdict::Reject, rule: Some("top_band".into()), ..BoxCheck::default() };
        let crop = Crop { x: 4, y: 2, w: 6, h: 6 };
        let p = patch(&view, &r, 1, crop, false);
        let px = |p: &[u8], x: u32, y: u32| p[((y - crop.y) * crop.w + (x - crop.x)) as usize * 3];
        // The first box is [0, 0, 6, 5) after int(): x 4..6, y 2..5 of the crop are black.
        assert_eq!(px(&p, 4, 2), 0);
        assert_eq!(px(&p, 5, 4), 0);
        assert_eq!(px(&p, 6, 4), 255, "int(6.9) = 6: column 6 is not blacked");
        assert_eq!(px(&p, 5, 5), 255);
        assert_eq!(px(&p, 9, 7), 255, "its own box is cut before it is blacked");
        let all = Crop { x: 0, y: 0, w, h };
        let q = patch(&view, &r, 1, all, true);
        let at = |x: u32, y: u32| q[((y * w + x) * 3) as usize];
        assert_eq!((at(9, 7), at(13, 3), at(0, 0)), (0, 0, 0), "everything the validator listed is black");
        assert_eq!(at(18, 1), 255, "a box the rules dropped is not in the validator's list");
        assert_eq!(at(11, 9), 255);
    }
}
