use super::*;
use crate::image::ChannelOrder;
use crate::roi::{self, crop_of, FrameView, StatsParams};

/// Colour statistics of a constructed `w x h` patch.
fn stats_of(w: u32, h: u32, px: impl Fn(u32, u32) -> [u8; 3]) -> ColourStats {
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&px(x, y));
        }
    }
    let view = FrameView { data: &data, width: w, height: h, stride: w as usize * 3 };
    let (crop, _) = crop_of([0.0, 0.0, w as f32, h as f32], 1.0, w, h).unwrap();
    roi::colour_stats(&[view], &[(0, crop)], &StatsParams::new(&StatsConfig::default(), ChannelOrder::Rgb))[0]
}

fn cand<'a>(bbox: [f32; 4], label: &'a str, stats: &'a ColourStats) -> Candidate<'a> {
    Candidate { bbox, score: 0.9, label, stats }
}

/// Grass with mowing stripes and noise, as on a broadcast pitch.
fn grass(x: u32, y: u32) -> [u8; 3] {
    let n = ((x * 7 + y * 13) % 17) as u8;
    if (x / 20) % 2 == 0 {
        [50 + n, 130 + n, 45]
    } else {
        [60 + n, 150 + n, 55]
    }
}

#[test]
fn the_builtin_rule_file_parses() {
    let c = FilterConfig::scorevision();
    assert_eq!(c.roi.size, 224);
    assert_eq!(c.roi.expansion("football"), 4.0);
    assert_eq!(c.rules.zones.len(), 3);
}

#[test]
fn a_grass_patch_is_grass() {
    let s = stats_of(40, 80, grass);
    assert!(s.green_fraction > 0.95, "{s:?}");
    let v = FilterConfig::scorevision().rules.check(&cand([500.0, 500.0, 540.0, 580.0], "player", &s), 1920, 1080);
    assert_eq!(v.rule.as_deref(), Some("grass"), "{v:?}");
    assert_eq!(v.limit, Some(0.85));
}

#[test]
fn a_player_on_grass_is_kept() {
    // A player: white shirt, dark shorts, skin, over grass at the sides (about half the box).
    let s = stats_of(40, 80, |x, y| match (x, y) {
        (10..=29, 5..=14) => [200, 160, 130],
        (8..=31, 15..=45) => [235, 235, 240],
        (10..=29, 46..=60) => [20, 20, 60],
        (12..=16 | 23..=27, 61..=78) => [200, 160, 130],
        _ => grass(x, y),
    });
    assert!(s.green_fraction < 0.6, "{s:?}");
    let v = FilterConfig::scorevision().rules.check(&cand([500.0, 500.0, 540.0, 580.0], "player", &s), 1920, 1080);
    assert!(v.kept(), "{v:?}");
}

#[test]
fn a_black_patch_is_dark() {
    let s = stats_of(30, 60, |x, y| [((x + y) % 10) as u8; 3]);
    let v = FilterConfig::scorevision().rules.check(&cand([100.0, 500.0, 130.0, 560.0], "player", &s), 1920, 1080);
    assert_eq!(v.rule.as_deref(), Some("dark"));
    assert_eq!(v.value, Some(1.0));
}

#[test]
fn geometry_rules_name_their_value() {
    let s = ColourStats::default();
    let r = FilterConfig::scorevision().rules;
    let v = r.check(&cand([100.0, 500.0, 110.0, 560.0], "player", &s), 1920, 1080);
    assert_eq!((v.rule.as_deref(), v.value, v.limit), (Some("min_size:width"), Some(10.0), Some(15.0)));
    // The ball is exempt from the minimum size and the aspect ratio.
    let s = stats_of(10, 10, |_, _| [230, 230, 230]);
    assert!(r.check(&cand([100.0, 500.0, 110.0, 510.0], "football", &s), 1920, 1080).kept());
    let v = r.check(&cand([100.0, 500.0, 300.0, 560.0], "player", &s), 1920, 1080);
    assert_eq!(v.rule.as_deref(), Some("aspect:min"));
    let v = r.check(&cand([0.0, 0.0, 1000.0, 1080.0], "player", &s), 1920, 1080);
    assert_eq!(v.rule.as_deref(), Some("too_large"));
    // A box in the top-left scoreboard.
    let v = r.check(&cand([40.0, 10.0, 70.0, 60.0], "player", &s), 1920, 1080);
    assert_eq!(v.rule.as_deref(), Some("zone:scoreboard_left"), "{v:?}");
    // The same box lower on the pitch is kept.
    assert!(r.check(&cand([40.0, 510.0, 70.0, 560.0], "player", &s), 1920, 1080).kept());
}

#[test]
fn duplicates_keep_the_higher_score() {
    let s = stats_of(10, 10, |_, _| [230, 230, 230]);
    let r = FilterConfig::scorevision().rules;
    let a = Candidate { bbox: [500.0, 500.0, 540.0, 580.0], score: 0.6, label: "player", stats: &s };
    let b = Candidate { bbox: [500.0, 501.0, 540.0, 581.0], score: 0.8, label: "player", stats: &s };
    let c = Candidate { bbox: [500.0, 501.0, 540.0, 581.0], score: 0.8, label: "referee", stats: &s };
    let v = r.check_frame(&[a, b, c], 1920, 1080);
    assert_eq!(v[0].rule.as_deref(), Some("duplicate"));
    assert!(v[0].value.unwrap() > 0.9);
    assert!(v[1].kept() && v[2].kept(), "another class is not a duplicate");
}

#[test]
fn bad_rule_files_name_the_problem() {
    let p = Path::new("r.toml");
    let e = FilterConfig::parse("[rules.grass]\nmin_green_fraction = 0.8\n", p).unwrap_err().to_string();
    assert!(e.contains("min_green_dominance"), "{e}");
    let e = FilterConfig::parse("[rules.grasss]\n", p).unwrap_err().to_string();
    assert!(e.contains("grasss"), "{e}");
    let e = FilterConfig::parse("[[rules.zones]]\nname = \"z\"\nrect = [0.5, 0.0, 0.2, 0.1]\n", p).unwrap_err().to_string();
    assert!(e.contains("rules.zones \"z\""), "{e}");
    let e = FilterConfig::parse("[stats]\ngreen_lower = [90, 0, 0]\ngreen_upper = [85, 255, 255]\n", p).unwrap_err().to_string();
    assert!(e.contains("lower <= upper"), "{e}");
}
