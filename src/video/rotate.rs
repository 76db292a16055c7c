//! Display rotation of packed 3-channel images (phones record upright video as rotated frames
//! plus a display matrix; FFmpeg's players and CLI rotate on display, and so does fovea).
#![forbid(unsafe_code)]

/// Rotates `src` (`w x h`, packed 3 bytes per pixel, rows `src_stride >= 3 * w` bytes apart)
/// clockwise by `degrees` (0, 90, 180 or 270) into `dst`, which holds the rotated image without
/// row padding (`h x w` for 90 and 270).
pub fn rotate(src: &[u8], w: usize, h: usize, src_stride: usize, degrees: u32, dst: &mut [u8]) {
    assert!(src_stride >= w * 3 && src.len() >= src_stride * h.saturating_sub(1) + w * 3);
    assert_eq!(dst.len(), w * h * 3);
    let row = |y: usize| &src[y * src_stride..y * src_stride + w * 3];
    match degrees {
        0 => {
            for (y, d) in dst.chunks_exact_mut(w * 3).enumerate() {
                d.copy_from_slice(row(y));
            }
        }
        180 => {
            for (y, d) in dst.chunks_exact_mut(w * 3).enumerate() {
                for (dp, sp) in d.chunks_exact_mut(3).zip(row(h - 1 - y).chunks_exact(3).rev()) {
                    dp.copy_from_slice(sp);
                }
            }
        }
        90 | 270 => {
            // Output is h wide and w tall.
            for y in 0..h {
                for (x, px) in row(y).chunks_exact(3).enumerate() {
                    // clockwise: (x, y) -> (h - 1 - y, x); counter-clockwise: (x, y) -> (y, w - 1 - x)
                    let (dx, dy) = if degrees == 90 { (h - 1 - y, x) } else { (y, w - 1 - x) };
                    let o = (dy * h + dx) * 3;
                    dst[o..o + 3].copy_from_slice(px);
                }
            }
        }
        d => panic!("rotation {d} is not a multiple of 90 degrees"),
    }
}

/// Clockwise degrees (0, 90, 180, 270) to apply for display, from a stream's display matrix
/// angle as `av_display_rotation_get` returns it (counter-clockwise), as FFmpeg's CLI does.
pub fn display_rotation(ccw_degrees: f64) -> u32 {
    if !ccw_degrees.is_finite() {
        return 0;
    }
    let theta = -ccw_degrees.round();
    let theta = theta - 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
    match theta.round() as i64 {
        t if (t - 90).abs() <= 1 => 90,
        t if (t - 180).abs() <= 1 => 180,
        t if (t - 270).abs() <= 1 => 270,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 image whose pixels are their own index.
    fn img() -> Vec<u8> {
        (0..6u8).flat_map(|i| [i, i, i]).collect()
    }

    fn px(v: &[u8]) -> Vec<u8> {
        v.chunks(3).map(|p| p[0]).collect()
    }

    #[test]
    fn rotations_move_pixels_where_they_should() {
        // 0 1 2
        // 3 4 5
        let mut d = vec![0; 18];
        rotate(&img(), 3, 2, 9, 90, &mut d);
        assert_eq!(px(&d), vec![3, 0, 4, 1, 5, 2], "clockwise: 2 wide, 3 tall");
        rotate(&img(), 3, 2, 9, 270, &mut d);
        assert_eq!(px(&d), vec![2, 5, 1, 4, 0, 3]);
        rotate(&img(), 3, 2, 9, 180, &mut d);
        assert_eq!(px(&d), vec![5, 4, 3, 2, 1, 0]);
        // Padded source rows (a 4th pixel per row that must be ignored).
        let padded: Vec<u8> = [0u8, 1, 2, 99, 3, 4, 5, 99].iter().flat_map(|&i| [i, i, i]).collect();
        rotate(&padded, 3, 2, 12, 90, &mut d);
        assert_eq!(px(&d), vec![3, 0, 4, 1, 5, 2]);
        rotate(&padded, 3, 2, 12, 180, &mut d);
        assert_eq!(px(&d), vec![5, 4, 3, 2, 1, 0]);
        rotate(&padded, 3, 2, 12, 0, &mut d);
        assert_eq!(px(&d), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn display_matrix_angles() {
        assert_eq!(display_rotation(0.0), 0);
        assert_eq!(display_rotation(-90.0), 90);
        assert_eq!(display_rotation(90.0), 270);
        assert_eq!(display_rotation(180.0), 180);
        assert_eq!(display_rotation(-180.0), 180);
        assert_eq!(display_rotation(f64::NAN), 0);
    }
}
