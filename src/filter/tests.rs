#![forbid(unsafe_code)]
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
    Candidate { bbox, raw: bbox, score: 0.9, label, stats, id: None }
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
    // A box in the top-left scoreboard: the validator's top band (150 px) catches it first.
    let v = r.check(&cand([40.0, 10.0, 70.0, 60.0], "player", &s), 1920, 1080);
    assert_eq!((v.rule.as_deref(), v.value, v.limit), (Some("top_band"), Some(10.0), Some(150.0)), "{v:?}");
    // Below the band, the scoreboard zone of a tall frame still does; in a frame under 720 px
    // (not a broadcast frame) the band does not apply, the zone does.
    let v = r.check(&cand([40.0, 160.0, 70.0, 210.0], "player", &s), 1920, 2160);
    assert_eq!(v.rule.as_deref(), Some("zone:scoreboard_left"), "{v:?}");
    let v = r.check(&cand([40.0, 10.0, 70.0, 60.0], "player", &s), 768, 576);
    assert_eq!(v.rule.as_deref(), Some("zone:scoreboard_left"), "{v:?}");
    assert!(r.check(&cand([300.0, 100.0, 330.0, 160.0], "player", &s), 768, 576).kept());
    // The same box lower on the pitch is kept.
    assert!(r.check(&cand([40.0, 510.0, 70.0, 560.0], "player", &s), 1920, 1080).kept());
}

#[test]
fn duplicates_keep_the_higher_score() {
    let s = stats_of(10, 10, |_, _| [230, 230, 230]);
    let r = FilterConfig::scorevision().rules;
    let cand = |bbox: [f32; 4], score: f32, label| Candidate { bbox, raw: bbox, score, label, stats: &s, id: None };
    let a = cand([500.0, 500.0, 540.0, 580.0], 0.6, "player");
    let b = cand([500.0, 501.0, 540.0, 581.0], 0.8, "player");
    let c = cand([500.0, 501.0, 540.0, 581.0], 0.8, "referee");
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

/// The duplicate rule as first written (every kept box compared with every later one): the
/// reference the grid must agree with, verdict for verdict.
fn duplicates_by_brute_force(boxes: &[Candidate], iou: f32) -> Vec<Option<f32>> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].score.total_cmp(&boxes[a].score).then(a.cmp(&b)));
    let mut kept: Vec<usize> = Vec::new();
    let mut out = vec![None; boxes.len()];
    for i in order {
        let over = kept
            .iter()
            .map(|&k| crate::detect::iou(&boxes[i].bbox, &boxes[k].bbox))
            .zip(&kept)
            .find(|&(o, &k)| boxes[k].label == boxes[i].label && o > iou);
        match over {
            Some((o, _)) => out[i] = Some(o),
            None => kept.push(i),
        }
    }
    out
}

fn duplicate_rules(iou: f32) -> Rules {
    let mut r: Rules = toml::from_str(&format!("[duplicate]\niou = {iou}\n")).unwrap();
    r.min_size = None;
    r
}

/// Random clustered boxes of two labels, small and huge, at several thresholds: the grid gives
/// exactly the brute force's verdicts and values.
#[test]
fn duplicates_through_the_grid_equal_brute_force() {
    let s = stats_of(4, 4, |_, _| [200, 200, 200]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f32 / (1u64 << 53) as f32
    };
    for (n, iou) in [(300, 0.9f32), (1500, 0.5), (800, 0.1), (400, 0.0)] {
        let labels = ["player", "referee"];
        let mut bboxes = Vec::new();
        for i in 0..n {
            let (cx, cy) = if i % 3 == 0 { (500.0 + rnd() * 40.0, 500.0 + rnd() * 40.0) } else { (rnd() * 1920.0, rnd() * 1080.0) };
            let (w, h) =
                if i % 50 == 0 { (400.0 + rnd() * 800.0, 300.0 + rnd() * 600.0) } else { (10.0 + rnd() * 60.0, 20.0 + rnd() * 100.0) };
            let b = if i % 7 == 6 {
                // A near copy of an earlier box (same label: i - 4 has the parity of i).
                let (p, _, _): ([f32; 4], f32, &str) = bboxes[i - 4];
                let j = rnd() * 3.0;
                [p[0] + j, p[1] - j, p[2] + j, p[3]]
            } else {
                [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
            };
            bboxes.push((b, (rnd() * 10.0).floor() / 10.0, labels[i % 2]));
        }
        let cands: Vec<Candidate> =
            bboxes.iter().map(|&(bbox, score, label)| Candidate { bbox, raw: bbox, score, label, stats: &s, id: None }).collect();
        let rules = duplicate_rules(iou);
        let got = rules.check_frame(&cands, 1920, 1080);
        let want = duplicates_by_brute_force(&cands, iou);
        let mut rejected = 0;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.value, *w, "box {i} of {n} at IoU {iou}");
            assert_eq!(g.kept(), w.is_none(), "box {i}");
            rejected += usize::from(w.is_some());
        }
        assert!(rejected > 0, "the case at IoU {iou} must have duplicates to be a test");
    }
}

/// Regression: 10^6 boxes in a frame made the rule quadratic (hours). 200,000 kept boxes in a
/// row, each overlapping its neighbours a little, plus exact copies of every tenth.
#[test]
fn many_boxes_in_a_frame_are_checked_in_about_linear_time() {
    let s = stats_of(4, 4, |_, _| [200, 200, 200]);
    let mut cands = Vec::new();
    for i in 0..200_000u32 {
        let (x, y) = ((i % 1000) as f32 * 20.0, (i / 1000) as f32 * 40.0);
        let b = [x, y, x + 24.0, y + 44.0];
        cands.push(Candidate { bbox: b, raw: b, score: 0.9, label: "player", stats: &s, id: None });
        if i % 10 == 0 {
            cands.push(Candidate { bbox: b, raw: b, score: 0.5, label: "player", stats: &s, id: None });
        }
    }
    let v = duplicate_rules(0.9).check_frame(&cands, 20_000, 8_000);
    let dups = v.iter().filter(|v| !v.kept()).count();
    assert_eq!(dups, 20_000, "exactly the copies are duplicates");
}

/// The validator's rules as bbox_clip.py applies them: 15 x 40 minimum (ball exempt), any box
/// reaching into the top 150 px over the full width (its top edge at y <= 150), the first ball only.
#[test]
fn the_validator_rule_file_is_the_validators_rules() {
    let c = FilterConfig::scorevision_validator();
    assert_eq!(c.roi.expansion("football"), 4.0);
    assert!(!c.roi.blackout);
    assert!(!c.reads_pixels(), "the validator's rules need only the boxes");
    let s = ColourStats::default();
    let r = &c.rules;
    let check = |b: [f32; 4], l: &str| r.check(&cand(b, l, &s), 1280, 720).rule;
    assert_eq!(check([600.0, 150.0, 630.0, 200.0], "player").as_deref(), Some("top_band"), "y1 = 150 touches the band");
    assert_eq!(check([600.0, 151.0, 630.0, 200.0], "player"), None);
    assert_eq!(check([1270.0, 0.0, 1280.0, 60.0], "referee").as_deref(), Some("min_size:width"));
    assert_eq!(check([640.0, 10.0, 700.0, 140.0], "goalkeeper").as_deref(), Some("top_band"), "the middle of the band too");
    assert_eq!(check([600.0, 300.0, 614.0, 400.0], "player").as_deref(), Some("min_size:width"), "14 px wide");
    // The size rule and the band read the box as given: 20 px wide of which 10 are left of the
    // frame is large enough (clamped it would be 10); a box wholly above the frame misses the band.
    let as_given = |raw: [f32; 4]| {
        let clamped = [raw[0].clamp(0.0, 1280.0), raw[1].clamp(0.0, 720.0), raw[2].clamp(0.0, 1280.0), raw[3].clamp(0.0, 720.0)];
        r.check(&Candidate { bbox: clamped, raw, score: 0.9, label: "player", stats: &s, id: None }, 1280, 720).rule
    };
    assert_eq!(as_given([-10.0, 300.0, 10.0, 400.0]), None, "partly outside, 20 px as given");
    assert_eq!(as_given([-20.0, 300.0, -6.0, 400.0]).as_deref(), Some("min_size:width"));
    assert_eq!(check([600.0, 300.0, 615.0, 339.0], "player").as_deref(), Some("min_size:height"), "39 px tall");
    assert_eq!(check([600.0, 300.0, 615.0, 340.0], "player"), None, "15 x 40 is large enough");
    assert_eq!(check([600.0, 300.0, 604.0, 304.0], "football"), None, "a 4 px ball");
    assert_eq!(check([600.0, 100.0, 604.0, 104.0], "football").as_deref(), Some("top_band"), "the band takes balls too");
    // Three balls: the first (input order) survives even when a later one scores higher.
    let ball = |bbox: [f32; 4], score: f32| Candidate { bbox, raw: bbox, score, label: "football", stats: &s, id: None };
    let balls = [
        ball([100.0, 400.0, 110.0, 410.0], 0.3),
        ball([300.0, 400.0, 310.0, 410.0], 0.9),
        ball([500.0, 100.0, 510.0, 110.0], 0.9),
        ball([700.0, 400.0, 710.0, 410.0], 0.9),
    ];
    let v = r.check_frame(&balls, 1280, 720);
    let rules: Vec<Option<&str>> = v.iter().map(|v| v.rule.as_deref()).collect();
    assert_eq!(rules, [None, Some("first_only"), Some("top_band"), Some("first_only")]);
    assert_eq!((v[3].value, v[3].limit), (Some(3.0), Some(1.0)), "the third ball the rules kept");
}

fn player(bbox: [f32; 4], score: f32, stats: &ColourStats, id: Option<u64>) -> Candidate<'_> {
    Candidate { bbox, raw: bbox, score, label: "player", stats, id }
}

/// fovea's broader set: near copies (IoU 0.6-0.9 that the plain IoU > 0.9 misses), copies inside a
/// kept box, two boxes with one id, and a box around several players are rejected; two true
/// players overlapping in different shirts, and a small player behind a big one, are kept.
#[test]
fn near_copies_and_boxes_around_several_players_are_rejected() {
    let r = FilterConfig::scorevision().rules;
    let red = stats_of(8, 8, |_, _| [200, 40, 40]);
    let red2 = stats_of(8, 8, |x, _| if x == 0 { [180, 60, 50] } else { [200, 40, 40] });
    let blue = stats_of(8, 8, |_, _| [40, 40, 200]);
    let truth = player([500.0, 500.0, 540.0, 580.0], 0.9, &red, Some(1));
    // A shifted near copy: IoU about 0.7.
    let shifted = player([506.0, 504.0, 546.0, 584.0], 0.6, &red2, Some(9));
    let v = r.check_frame(&[truth, shifted], 1920, 1080);
    assert!(v[0].kept());
    assert_eq!(v[1].rule.as_deref(), Some("duplicate:near_copy"), "{v:?}");
    // A shrunk copy inside (IoU 0.64, wholly inside): a near copy in the same colours; with the
    // containment rule, whatever its colours.
    let shrunk = player([504.0, 504.0, 536.0, 568.0], 0.5, &red2, None);
    let v = r.check_frame(&[truth, shrunk], 1920, 1080);
    assert_eq!(v[1].rule.as_deref(), Some("duplicate:near_copy"), "{v:?}");
    let mut contained = r.clone();
    contained.duplicate.as_mut().unwrap().containment = Some(0.9);
    let shrunk_blue = player([504.0, 504.0, 536.0, 568.0], 0.5, &blue, None);
    assert!(r.check_frame(&[truth, shrunk_blue], 1920, 1080)[1].kept(), "other colours: two players");
    let v = contained.check_frame(&[truth, shrunk_blue], 1920, 1080);
    assert_eq!(v[1].rule.as_deref(), Some("duplicate:contained"), "{v:?}");
    // Two boxes carrying one id.
    let same = player([530.0, 500.0, 570.0, 580.0], 0.5, &blue, Some(1));
    assert_eq!(r.check_frame(&[truth, same], 1920, 1080)[1].rule.as_deref(), Some("duplicate:same_id"));
    // A true occlusion: a blue player mostly behind the red one (IoU 0.71, other colours).
    let behind = player([506.0, 498.0, 546.0, 578.0], 0.5, &blue, Some(2));
    assert!(r.check_frame(&[truth, behind], 1920, 1080).iter().all(RuleOutcome::kept));
    // A box around two players (and the two players) : the big one goes.
    let a = player([800.0, 500.0, 830.0, 570.0], 0.9, &red, Some(3));
    let b = player([850.0, 505.0, 880.0, 575.0], 0.9, &blue, Some(4));
    let around = player([790.0, 490.0, 890.0, 580.0], 0.8, &red2, Some(5));
    let v = r.check_frame(&[a, b, around], 1920, 1080);
    assert!(v[0].kept() && v[1].kept(), "{v:?}");
    assert_eq!((v[2].rule.as_deref(), v[2].value), (Some("oversized"), Some(2.0)));
    // One small player wholly behind a big one is not a crowd.
    let big = player([1000.0, 400.0, 1060.0, 560.0], 0.9, &red, Some(6));
    let far = player([1010.0, 420.0, 1030.0, 470.0], 0.9, &blue, Some(7));
    assert!(r.check_frame(&[big, far], 1920, 1080).iter().all(RuleOutcome::kept));
}

#[test]
fn bad_new_rules_name_the_problem() {
    let p = Path::new("r.toml");
    let e = FilterConfig::parse("[rules.oversized]\ncontains = 1\n", p).unwrap_err().to_string();
    assert!(e.contains("rules.oversized.contains"), "{e}");
    let e = FilterConfig::parse("[rules.duplicate]\niou = 0.9\nnear_iou = 1.5\n", p).unwrap_err().to_string();
    assert!(e.contains("rules.duplicate.near_iou"), "{e}");
    let e = FilterConfig::parse("[rules.first_only]\nmax = 0\n", p).unwrap_err().to_string();
    assert!(e.contains("rules.first_only.max"), "{e}");
    let e = FilterConfig::parse("[rules.top_band]\nheight = -1\n", p).unwrap_err().to_string();
    assert!(e.contains("rules.top_band.height"), "{e}");
}
