#![forbid(unsafe_code)]

use super::*;

/// A line mask of the template seen through `h` (lines `half` pixels either side of their
/// centre).
fn render(h: &Homography, w: u32, ht: u32, half: i64) -> Vec<u8> {
    let mut mask = vec![0u8; (w * ht) as usize];
    let (pts, _) = samples(4.0);
    for p in pts {
        let Some(q) = front(h, p) else { continue };
        let (x, y) = (q[0].round() as i64, q[1].round() as i64);
        for yy in y - half..=y + half {
            for xx in x - half..=x + half {
                if xx >= 0 && yy >= 0 && xx < w as i64 && yy < ht as i64 {
                    mask[(yy * w as i64 + xx) as usize] = 1;
                }
            }
        }
    }
    mask
}

/// The largest distance between where the truth and the found homography put the template's
/// lines, over the points the truth puts in view (infinite when none).
fn worst(truth: &Homography, found: &Homography, w: u32, h: u32) -> f64 {
    let (pts, _) = samples(100.0);
    let mut worst = None::<f64>;
    for p in pts {
        let Some(a) = front(truth, p) else { continue };
        if a[0] < 0.0 || a[1] < 0.0 || a[0] >= w as f64 || a[1] >= h as f64 {
            continue;
        }
        let d = front(found, p).map_or(f64::INFINITY, |b| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt());
        worst = Some(worst.map_or(d, |m| m.max(d)));
    }
    worst.unwrap_or(f64::INFINITY)
}

const POS: [f64; 3] = [LENGTH / 2.0 + 700.0, WIDTH + 4100.0, 1900.0];

#[test]
fn the_distance_field_is_euclidean() {
    let (w, h) = (37, 23);
    let mut line = vec![false; w * h];
    for &(x, y) in &[(3usize, 4usize), (30, 20), (18, 2)] {
        line[y * w + x] = true;
    }
    let d = distance_field(&line, w, h);
    for y in 0..h {
        for x in 0..w {
            let want = [(3.0, 4.0), (30.0, 20.0), (18.0, 2.0)]
                .iter()
                .map(|&(px, py): &(f64, f64)| ((x as f64 - px).powi(2) + (y as f64 - py).powi(2)).sqrt())
                .fold(f64::MAX, f64::min);
            assert!((d[y * w + x] as f64 - want).abs() < 1e-3, "({x}, {y}): {} vs {want}", d[y * w + x]);
        }
    }
}

#[test]
fn a_broadcast_view_is_found_from_its_lines_alone() {
    let (w, h) = (1280, 720);
    for (look, fov) in [
        ([LENGTH / 2.0, WIDTH / 2.0], 62.0),
        ([1800.0, WIDTH / 2.0], 30.0),
        ([LENGTH - 1800.0, 3800.0], 26.0),
        ([4200.0, 2500.0], 40.0),
        ([800.0, 3800.0], 14.0),
    ] {
        let truth = camera(POS, look, fov, w as f64, h as f64);
        let mask = render(&truth, w, h, 1);
        let fix = Registrar::new(RegisterConfig::default()).next(&mask, w, h).unwrap_or_else(|| panic!("{look:?} {fov}: not found"));
        assert!(fix.searched);
        let err = worst(&truth, &fix.homography, w, h);
        assert!(err < 6.0, "{look:?} fov {fov}: keypoints {err:.1} px off (fit {:.2})", fix.fit);
        let kp = keypoints(&fix.homography, w, h);
        assert_eq!(kp.len(), 32);
        assert!(kp.iter().filter(|p| **p != [0.0, 0.0]).count() >= 4, "{look:?}");
    }
}

#[test]
fn a_pan_is_tracked_and_a_cut_is_searched_for() {
    let (w, h) = (960, 540);
    let mut reg = Registrar::new(RegisterConfig::default());
    for f in 0..12 {
        let look = if f < 8 { [3000.0 + 180.0 * f as f64, 3000.0] } else { [LENGTH - 1800.0, 3800.0] };
        let fov = if f < 8 { 36.0 - f as f64 } else { 26.0 };
        let truth = camera(POS, look, fov, w as f64, h as f64);
        let fix = reg.next(&render(&truth, w, h, 1), w, h).unwrap_or_else(|| panic!("frame {f}: lost"));
        assert_eq!(fix.searched, f == 0 || f == 8, "frame {f}");
        let err = worst(&truth, &fix.homography, w, h);
        assert!(err < 6.0, "frame {f}: {err:.1} px off");
    }
}

#[test]
fn no_lines_no_keypoints() {
    let (w, h) = (640, 360);
    let mut reg = Registrar::new(RegisterConfig::default());
    assert!(reg.next(&vec![0u8; (w * h) as usize], w, h).is_none());
    // Scattered dots (a crowd, confetti) are no pitch.
    let mut mask = vec![0u8; (w * h) as usize];
    let mut s = 12345u64;
    for _ in 0..400 {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let n = mask.len();
        mask[(s >> 33) as usize % n] = 1;
    }
    assert!(reg.next(&mask, w, h).is_none());
    assert!(reg.next(&mask[..10], w, h).is_none(), "a short mask");
}

#[test]
fn a_camera_looking_far_to_the_side_is_plausible_and_a_mirror_is_not() {
    // A low camera near the touchline looking at the left penalty area: the pitch's far right
    // corners are behind it (a test on the corners' depth refused the true camera).
    let (w, h) = (1280u32, 720u32);
    let field = LineField::new(&vec![0u8; (w * h) as usize], w, h);
    let (to, _) = to_unit(&field);
    for (pos, look, fov) in [
        ([LENGTH / 2.0 + 500.0, WIDTH + 2200.0, 900.0], [1700.0, 3400.0], 60.0),
        (POS, [LENGTH - 900.0, 3800.0], 14.0),
        (POS, [LENGTH / 2.0, 3500.0], 64.0),
    ] {
        let g = normalised(mul(&to, &camera(pos, look, fov, w as f64, h as f64)));
        assert!(plausible(&g), "{look:?}");
        let mirrored = normalised(mul(&g, &[-1.0, 0.0, LENGTH, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]));
        assert!(!plausible(&mirrored), "{look:?} mirrored");
    }
}
