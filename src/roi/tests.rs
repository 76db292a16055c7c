#![forbid(unsafe_code)]
use super::*;
use crate::image::ChannelOrder;
use crate::roi::stats::{accumulate, hsv, hsv_tables, StatsConfig, StatsParams};

#[test]
fn crop_rounds_outwards_and_clamps() {
    let (c, clamped) = crop_of([10.4, 20.6, 30.2, 40.0], 1.0, 100, 50).unwrap();
    assert_eq!(c, Crop { x: 10, y: 20, w: 21, h: 20 });
    assert!(!clamped);
    let (c, clamped) = crop_of([-5.0, 40.0, 20.0, 70.0], 1.0, 100, 50).unwrap();
    assert_eq!(c, Crop { x: 0, y: 40, w: 20, h: 10 });
    assert!(clamped);
}

#[test]
fn context_expands_around_the_centre() {
    // A 10x10 ball at (50, 25) expanded 4x: 40x40 around the centre, clamped to the 50-high frame.
    let (c, clamped) = crop_of([45.0, 20.0, 55.0, 30.0], 4.0, 100, 50).unwrap();
    assert_eq!(c, Crop { x: 30, y: 5, w: 40, h: 40 });
    assert!(!clamped, "the box itself is inside; only its context is clamped");
}

#[test]
fn bad_boxes_have_no_crop() {
    assert_eq!(crop_of([f32::NAN, 0.0, 1.0, 1.0], 1.0, 10, 10), Err(BadBox::NotFinite));
    assert_eq!(crop_of([0.0, 0.0, f32::INFINITY, 1.0], 1.0, 10, 10), Err(BadBox::NotFinite));
    assert_eq!(crop_of([5.0, 5.0, 5.0, 8.0], 1.0, 10, 10), Err(BadBox::Empty));
    assert_eq!(crop_of([5.0, 5.0, 4.0, 8.0], 1.0, 10, 10), Err(BadBox::Empty));
    assert_eq!(crop_of([20.0, 5.0, 30.0, 8.0], 1.0, 10, 10), Err(BadBox::Outside));
    assert_eq!(crop_of([-9.0, -9.0, -1.0, -1.0], 1.0, 10, 10), Err(BadBox::Outside));
}

use crate::image::test_frame as frame;

#[test]
fn a_uniform_crop_normalises_to_constants_and_letterbox_pads() {
    let data = frame(40, 20, |x, _| if x < 20 { [200, 100, 50] } else { [0, 0, 0] });
    let view = FrameView { data: &data, width: 40, height: 20, stride: 120 };
    let spec =
        RoiSpec { size: 8, mean: [100.0; 3], std: [50.0; 3], fit: Fit::Letterbox { pad: 100 }, dtype: RoiDtype::F32, swap_rb: false };
    let mut out = RoiBatch::default();
    // A 10 x 20 crop of the left half: letterboxed to 4 x 8 at x offset 2.
    extract(&[view], &[RoiRef { frame: 0, crop: Crop { x: 5, y: 0, w: 10, h: 20 } }], &spec, &mut out);
    assert_eq!(out.n, 1);
    let plane = |c: usize| &out.f32[c * 64..(c + 1) * 64];
    for (c, want) in [(0, 2.0f32), (1, 0.0), (2, -1.0)] {
        for y in 0..8 {
            for x in 0..8 {
                let v = plane(c)[y * 8 + x];
                let expect = if (2..6).contains(&x) { want } else { 0.0 };
                assert!((v - expect).abs() < 1e-6, "channel {c} ({x},{y}) = {v}, expected {expect}");
            }
        }
    }
}

#[test]
fn f16_batch_is_the_f32_batch_rounded() {
    let data = frame(64, 48, |x, y| [(x * 4) as u8, (y * 5) as u8, ((x + y) * 2) as u8]);
    let view = FrameView { data: &data, width: 64, height: 48, stride: 192 };
    let rois = [RoiRef { frame: 0, crop: Crop { x: 3, y: 7, w: 31, h: 17 } }, RoiRef { frame: 0, crop: Crop { x: 0, y: 0, w: 64, h: 48 } }];
    let spec = RoiSpec { size: 16, ..RoiSpec::default() };
    let (mut a, mut b) = (RoiBatch::default(), RoiBatch::default());
    extract(&[view], &rois, &spec, &mut a);
    extract(&[view], &rois, &RoiSpec { dtype: RoiDtype::F16, ..spec }, &mut b);
    assert_eq!(b.f16.len(), a.f32.len());
    assert!(a.f32.iter().zip(&b.f16).all(|(x, h)| f16::from_f32(*x) == *h));
}

#[test]
fn hsv_matches_opencv_on_primaries() {
    let t = hsv_tables();
    // cv2.cvtColor(np.uint8([[[r,g,b]]]), cv2.COLOR_RGB2HSV) for these pixels.
    assert_eq!(hsv(255, 0, 0, &t.0, &t.1), (0, 255, 255));
    assert_eq!(hsv(0, 255, 0, &t.0, &t.1), (60, 255, 255));
    assert_eq!(hsv(0, 0, 255, &t.0, &t.1), (120, 255, 255));
    assert_eq!(hsv(60, 120, 40, &t.0, &t.1), (53, 170, 120));
    assert_eq!(hsv(0, 0, 0, &t.0, &t.1), (0, 0, 0));
    assert_eq!(hsv(128, 128, 128, &t.0, &t.1), (0, 0, 128));
}

#[test]
fn stats_of_a_two_colour_patch() {
    // Left half grass green (60, 140, 40), right half black.
    let data = frame(10, 4, |x, _| if x < 5 { [60, 140, 40] } else { [0, 0, 0] });
    let view = FrameView { data: &data, width: 10, height: 4, stride: 30 };
    let p = StatsParams::new(&StatsConfig::default(), ChannelOrder::Rgb);
    let crop = Crop { x: 0, y: 0, w: 10, h: 4 };
    let s = accumulate(&view, crop, &p, &hsv_tables()).finish(40);
    assert_eq!(s.mean, [30.0, 70.0, 20.0]);
    assert_eq!(s.std, [30.0, 70.0, 20.0]);
    assert!((s.green_dominance - 40.0).abs() < 1e-5);
    assert_eq!((s.green_fraction, s.dark_fraction), (0.5, 0.5));
    assert!((s.brightness - (0.299 * 30.0 + 0.587 * 70.0 + 0.114 * 20.0)).abs() < 1e-4);
    // The same pixels read as BGR swap red and blue.
    let bgr = StatsParams::new(&StatsConfig::default(), ChannelOrder::Bgr);
    let s2 = accumulate(&view, crop, &bgr, &hsv_tables()).finish(40);
    assert_eq!(s2.mean, [20.0, 70.0, 30.0]);
}

#[test]
fn swap_rb_takes_the_other_channel_with_the_tensor_channels_mean() {
    let data = frame(20, 10, |x, y| [(x * 9) as u8, (y * 20) as u8, 200 - (x * 5) as u8]);
    let view = FrameView { data: &data, width: 20, height: 10, stride: 60 };
    let rois = [RoiRef { frame: 0, crop: Crop { x: 2, y: 1, w: 13, h: 7 } }];
    let spec = RoiSpec { size: 12, mean: [10.0, 20.0, 30.0], std: [2.0, 3.0, 4.0], ..RoiSpec::default() };
    let (mut a, mut b) = (RoiBatch::default(), RoiBatch::default());
    extract(&[view], &rois, &spec, &mut a);
    let swapped = RoiSpec { swap_rb: true, mean: [30.0, 20.0, 10.0], std: [4.0, 3.0, 2.0], ..spec };
    extract(&[view], &rois, &swapped, &mut b);
    let p = 144;
    assert_eq!(&a.f32[..p], &b.f32[2 * p..]);
    assert_eq!(&a.f32[p..2 * p], &b.f32[p..2 * p]);
    assert_eq!(&a.f32[2 * p..], &b.f32[..p]);
}
