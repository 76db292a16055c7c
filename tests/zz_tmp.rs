use fovea::video::*;
#[test]
fn dump() {
    let pool = FramePool::new(2);
    let fmt = OutputFormat { width: 0, height: 0, order: ChannelOrder::Rgb, fit: Fit::Stretch };
    let mut d = Decoder::open(std::path::Path::new("/tmp/x.nut"), Sampling::default(), fmt).unwrap();
    let f = d.next_frame(&pool).unwrap().unwrap();
    std::fs::write("/tmp/fovea.raw", &f.data[..]).unwrap();
}
