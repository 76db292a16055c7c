//! Decoders on constructed tensors: each test builds raw outputs whose right answer is known.
#![forbid(unsafe_code)]

use super::*;

fn params(score: f32) -> DecodeParams {
    DecodeParams { score_threshold: score, nms_iou: 0.5, max_detections: 100, class_filter: None }
}

fn det(b: [f32; 4], s: f32, c: u32) -> Detection {
    Detection::new(b, s, c)
}

#[test]
fn iou_of_known_boxes() {
    assert_eq!(iou(&[0., 0., 10., 10.], &[0., 0., 10., 10.]), 1.0);
    assert_eq!(iou(&[0., 0., 10., 10.], &[10., 0., 20., 10.]), 0.0);
    assert!((iou(&[0., 0., 10., 10.], &[5., 0., 15., 10.]) - 1.0 / 3.0).abs() < 1e-6);
    assert_eq!(iou(&[0., 0., 0., 0.], &[0., 0., 0., 0.]), 0.0);
}

#[test]
fn nms_is_class_aware_and_ordered() {
    let mut d = vec![
        det([0., 0., 10., 10.], 0.6, 0),
        det([1., 0., 11., 10.], 0.9, 0), // suppresses the first
        det([1., 0., 11., 10.], 0.7, 1), // other class: kept
        det([50., 50., 60., 60.], 0.3, 0),
    ];
    nms(&mut d, 0.5, 10);
    assert_eq!(d.len(), 3);
    assert_eq!(d[0].score, 0.9);
    assert_eq!(d[1].class_id, 1);
    assert_eq!(d[2].score, 0.3);
}

#[test]
fn nms_honours_max_keep() {
    let mut d: Vec<_> = (0..10).map(|i| det([i as f32 * 20., 0., i as f32 * 20. + 10., 10.], 0.1 * i as f32, 0)).collect();
    nms(&mut d, 0.5, 3);
    assert_eq!(d.len(), 3);
    assert!(d[0].score > d[1].score && d[1].score > d[2].score);
}

/// A [1, 4+C, N] YOLOv8 tensor with two boxes of known geometry and class.
#[test]
fn yolov8_decodes_known_boxes() {
    let (c, n) = (3usize, 5usize);
    let mut t = vec![0.0f32; (4 + c) * n];
    let mut put = |k: usize, xywh: [f32; 4], cls: usize, s: f32| {
        for (r, v) in xywh.iter().enumerate() {
            t[r * n + k] = *v;
        }
        t[(4 + cls) * n + k] = s;
    };
    put(1, [100., 50., 20., 40.], 2, 0.9);
    put(3, [10., 10., 4., 4.], 0, 0.2); // below threshold
    put(4, [300., 200., 60., 30.], 1, 0.6);
    let shape = [1, (4 + c) as i64, n as i64];
    let dec = OutputDecoder::new(DecoderSpec::Yolov8 { output: "o".into() }, c, 640, 640);
    dec.check_shapes([("o", &shape[..])], false).unwrap();
    let mut out = Vec::new();
    dec.decode(&[TensorView { shape: &shape, data: &t }], 0, &params(0.25), &mut out);
    assert_eq!(out, vec![det([90., 30., 110., 70.], 0.9, 2), det([270., 185., 330., 215.], 0.6, 1)]);

    let mut p = params(0.25);
    p.class_filter = Some(vec![false, true, false]);
    out.clear();
    dec.decode(&[TensorView { shape: &shape, data: &t }], 0, &p, &mut out);
    assert_eq!(out, vec![det([270., 185., 330., 215.], 0.6, 1)]);
}

#[test]
fn yolov8_wrong_class_count_is_reported() {
    let dec = OutputDecoder::new(DecoderSpec::Yolov8 { output: "output0".into() }, 80, 640, 640);
    let e = dec.check_shapes([("output0", &[1i64, 85, 8400][..])], false).unwrap_err();
    assert!(e.contains("'output0'") && e.contains("[1,85,8400]") && e.contains("[*,84,*]"), "{e}");
    let e = dec.check_shapes([("other", &[1i64, 84, 8400][..])], false).unwrap_err();
    assert!(e.contains("'output0' not found") && e.contains("'other'"), "{e}");
}

/// A [2, N, 5+C] YOLOv5 tensor; the second batch item is read from its own slice.
#[test]
fn yolov5_multiplies_objectness_and_reads_its_batch_item() {
    let (c, n) = (2usize, 3usize);
    let w = 5 + c;
    let mut t = vec![0.0f32; 2 * n * w];
    let row = |t: &mut Vec<f32>, b: usize, k: usize, v: [f32; 7]| t[(b * n + k) * w..(b * n + k + 1) * w].copy_from_slice(&v);
    row(&mut t, 0, 0, [50., 50., 10., 10., 0.9, 0.1, 0.8]); // 0.72, class 1
    row(&mut t, 0, 1, [50., 50., 10., 10., 0.3, 0.9, 0.1]); // 0.27 < 0.3
    row(&mut t, 1, 2, [20., 30., 4., 6., 0.8, 0.5, 0.0]); // batch 1: 0.4 class 0
    let shape = [2, n as i64, w as i64];
    let dec = OutputDecoder::new(DecoderSpec::Yolov5 { output: "o".into() }, c, 640, 640);
    let v = [TensorView { shape: &shape, data: &t }];
    let mut out = Vec::new();
    dec.decode(&v, 0, &params(0.3), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].class_id, 1);
    assert!((out[0].score - 0.72).abs() < 1e-6);
    assert_eq!(out[0].bbox, [45., 45., 55., 55.]);
    out.clear();
    dec.decode(&v, 1, &params(0.3), &mut out);
    assert_eq!(out, vec![det([18., 27., 22., 33.], 0.4, 0)]);
}

#[test]
fn end2end_passes_rows_through_and_needs_no_nms() {
    let t = [10., 20., 30., 40., 0.8, 1., 0., 0., 5., 5., 0.1, 0., 1., 1., 2., 2., 0.9, 7.];
    let shape = [1, 3, 6];
    let dec = OutputDecoder::new(DecoderSpec::End2end { output: "o".into() }, 2, 640, 640);
    assert!(!dec.needs_nms());
    let mut out = Vec::new();
    dec.decode(&[TensorView { shape: &shape, data: &t }], 0, &params(0.25), &mut out);
    // Row 2 is below threshold, row 3 names class 7 of 2: both dropped.
    assert_eq!(out, vec![det([10., 20., 30., 40.], 0.8, 1)]);
}

/// NanoDet: one stride, a 2x2 grid. Bins peaked at known indices give known distances, and the
/// expected value (not the arg-max) is used when the distribution is split.
#[test]
fn nanodet_uses_centred_cells_and_the_integral() {
    let (c, stride, reg_max) = (2usize, 8u32, 3usize);
    let bins = reg_max + 1;
    let cells = 4;
    let mut scores = vec![0.0f32; cells * c];
    let mut boxes = vec![-20.0f32; cells * 4 * bins];
    scores[3 * c + 1] = 0.7; // cell 3 = (col 1, row 1), class 1
    let peak = |boxes: &mut Vec<f32>, cell: usize, side: usize, k: usize| boxes[(cell * 4 + side) * bins + k] = 20.0;
    peak(&mut boxes, 3, 0, 1); // left 1 bin = 8 px
    peak(&mut boxes, 3, 1, 2); // top 16 px
    peak(&mut boxes, 3, 2, 0); // right 0
                               // bottom: bins 1 and 3 equally likely -> expected 2 bins = 16 px
    boxes[(3 * 4 + 3) * bins + 1] = 20.0;
    boxes[(3 * 4 + 3) * bins + 3] = 20.0;
    let spec = DecoderSpec::Nanodet {
        strides: vec![stride],
        reg_max: reg_max as u32,
        scores: vec!["s".into()],
        boxes: vec!["b".into()],
        center_offset: 0.5,
    };
    let dec = OutputDecoder::new(spec, c, 16, 16);
    let ss = [1, cells as i64, c as i64];
    let bs = [1, cells as i64, (4 * bins) as i64];
    dec.check_shapes([("s", &ss[..]), ("b", &bs[..])], false).unwrap();
    let mut out = Vec::new();
    dec.decode(&[TensorView { shape: &ss, data: &scores }, TensorView { shape: &bs, data: &boxes }], 0, &params(0.3), &mut out);
    assert_eq!(out.len(), 1);
    let b = out[0].bbox;
    // centre (1.5 * 8, 1.5 * 8) = (12, 12)
    let want = [12. - 8., 12. - 16., 12. + 0., 12. + 16.];
    for k in 0..4 {
        assert!((b[k] - want[k]).abs() < 1e-3, "{b:?} vs {want:?}");
    }
    assert_eq!(out[0].class_id, 1);
}
