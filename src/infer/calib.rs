//! Calibration sets for INT8: frames sampled from real clips, decoded and preprocessed exactly as
//! the pipeline does for a model's manifest (FFmpeg decode, swscale to the model's channel order,
//! the same resize and normalisation), written as NumPy `.npy` tensors `[1, 3, H, W]` (or NHWC)
//! that offline quantisation tools read. The set is written by the pipeline
//! ([`crate::pipeline::calib::write_calibration_set`]); this module holds its formats.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

/// One frame of a calibration set.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CalibFrame {
    /// The `.npy` file, relative to the set's folder.
    pub file: String,
    /// Video file name (not its path: sets are regenerated from any copy of the clips).
    pub video: String,
    /// Decode index of the frame.
    pub frame: u64,
}

/// Writes a float32 array as a `.npy` file (format version 1.0, little-endian, C order).
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "shape does not match data");
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64,
    // ending in a newline.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in data {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_data_follows() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.npy");
        write_npy(&p, &[1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(header.contains("'shape': (1, 2, 3)") && header.ends_with('\n'));
        assert_eq!(&b[10 + hl..10 + hl + 4], &1.0f32.to_le_bytes());
        assert_eq!(b.len(), 10 + hl + 24);
    }
}
