//! The C ABI's per-frame overhead: the same frames through the Rust API (`Stream::send_frame` +
//! `receive`) and through the C functions (`fovea_stream_send_frame` + `fovea_stream_receive` +
//! `fovea_result_destroy`), side by side. The generated tiny model (tests/data/tiny_yolov8_dyn)
//! keeps inference small so that the difference is visible; NanoDet-g for the real cost.

use std::ffi::CString;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fovea::engine::{Engine, EngineConfig, FrameIn, PixelFormat, Received, Stream};
use fovea::ffi::*;

const W: u32 = 640;
const H: u32 = 360;

fn frame() -> Vec<u8> {
    (0..W * H * 3).map(|i: u32| (i.wrapping_mul(2654435761) >> 24) as u8).collect()
}

fn bench(c: &mut Criterion) {
    let px = frame();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, model) in [("tiny", "tests/data/tiny_yolov8_dyn.toml"), ("nanodet-g-416", "engines/nanodet-g-416.toml")] {
        let text = format!("model = '{}'\n", root.join(model).display());
        let mut g = c.benchmark_group(format!("capi_round_trip/{name}"));
        g.throughput(Throughput::Elements(1));
        if name != "tiny" {
            g.sample_size(20);
        }
        let engine = Engine::new(&EngineConfig::parse(&text, root).unwrap()).unwrap();
        let mut s = Stream::new(engine, 25.0).unwrap();
        let mut pts = 0.0;
        g.bench_function("rust_api", |b| {
            b.iter(|| {
                pts += 0.04;
                s.send_frame(&FrameIn { data: &px, width: W, height: H, stride: W as usize * 3, format: PixelFormat::Rgb24, pts }).unwrap();
                match s.receive() {
                    Received::Frame(r) => std::hint::black_box(r),
                    _ => panic!("no result"),
                };
            })
        });
        let ctext = CString::new(text).unwrap();
        let mut e = std::ptr::null_mut();
        let mut cs = std::ptr::null_mut();
        // SAFETY: valid strings and out-pointers; handles destroyed below.
        unsafe {
            assert_eq!(fovea_engine_create(ctext.as_ptr(), std::ptr::null(), &mut e), fovea_status::FOVEA_STATUS_OK);
            assert_eq!(fovea_stream_create(e, 25.0, &mut cs), fovea_status::FOVEA_STATUS_OK);
        }
        g.bench_function("c_abi", |b| {
            b.iter(|| {
                pts += 0.04;
                // SAFETY: live handles, `px` holds W x H x 3 bytes.
                unsafe {
                    let st = fovea_stream_send_frame(cs, px.as_ptr(), px.len(), W, H, W as usize * 3, 0, pts);
                    assert_eq!(st, fovea_status::FOVEA_STATUS_OK);
                    let mut r = std::ptr::null_mut();
                    assert_eq!(fovea_stream_receive(cs, &mut r), fovea_status::FOVEA_STATUS_OK);
                    std::hint::black_box((*r).count);
                    fovea_result_destroy(r);
                }
            })
        });
        // SAFETY: made above, destroyed once.
        unsafe {
            fovea_stream_destroy(cs);
            fovea_engine_destroy(e);
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
