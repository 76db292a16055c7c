//! TensorRT INT8 calibration tables: the per-tensor ranges ONNX Runtime's TensorRT provider reads
//! (`trt_int8_calibration_table_name`), in the two formats it takes, and the two more that ONNX
//! Runtime's own `write_calibration_table` writes beside them.
//!
//! | format | what it is | how the provider gets it |
//! |---|---|---|
//! | [`TableFormat::Flatbuffers`] | ONNX Runtime's `CalTableFlatBuffers.TrtTable` (name -> max \|x\| as text) | as is, `use_native = 0` |
//! | [`TableFormat::TrtNative`] | TensorRT's calibration cache (`TRT-<v>-<calibrator>` line, then `name: <scale bits in hex>`) | as is, `use_native = 1` |
//! | [`TableFormat::Json`] | `calibration.json`: name -> `{lowest, highest}` or `[min, max]` | converted to flatbuffers |
//! | [`TableFormat::Text`] | `calibration.cache` as ONNX Runtime writes it: `name value` lines | converted to flatbuffers |
//!
//! The format is told by the file's content, never its extension: ONNX Runtime's plain-text
//! `.cache` is not TensorRT's `.cache`, and the provider throws on a table it cannot parse (or,
//! worse, reads a wrong one as empty). Converting to flatbuffers rather than to TensorRT's native
//! format keeps names with `:` (TensorFlow-exported models such as NanoDet's `input_1:0`), which
//! the native parser splits at the first `:`.

use std::collections::BTreeMap;
use std::path::Path;

use flatbuffers::{FlatBufferBuilder, Follow, ForwardsUOffset, Table, Vector, Verifiable, Verifier};

use crate::error::{Error, Result};

/// Largest calibration table read (a table holds one short line per tensor).
pub const MAX_TABLE_BYTES: u64 = 64 << 20;

/// The format of a calibration table file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Flatbuffers,
    TrtNative,
    Json,
    Text,
}

impl TableFormat {
    /// Whether ONNX Runtime's TensorRT provider reads the file as it is.
    pub fn provider_reads(self) -> bool {
        matches!(self, Self::Flatbuffers | Self::TrtNative)
    }
}

/// Per-tensor ranges (the largest magnitude each tensor takes), by tensor name.
pub type Ranges = BTreeMap<String, f32>;

fn bad(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::InvalidOption { option: "calib", reason: format!("calibration table {}: {reason}", path.display()) }
}

/// Reads a table of any of the four formats: its format and ranges. A file none of them parses,
/// or one without a single range, is a clear error naming the formats expected.
pub fn read(path: &Path) -> Result<(TableFormat, Ranges)> {
    let len = std::fs::metadata(path).map_err(|e| bad(path, e))?.len();
    if len > MAX_TABLE_BYTES {
        return Err(bad(path, format!("{len} bytes, more than the {MAX_TABLE_BYTES} a table may have")));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
    let (format, ranges) = parse(&bytes).map_err(|e| bad(path, e))?;
    if ranges.is_empty() {
        return Err(bad(path, format!("a {format:?} table without any tensor range")));
    }
    Ok((format, ranges))
}

/// Parses table bytes (see [`read`]).
pub fn parse(bytes: &[u8]) -> std::result::Result<(TableFormat, Ranges), String> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let t = text.trim_start();
        if t.starts_with("TRT-") {
            return parse_native(t).map(|r| (TableFormat::TrtNative, r));
        }
        if t.starts_with('{') {
            return parse_json(t).map(|r| (TableFormat::Json, r));
        }
        if !t.is_empty() && !text.contains('\0') {
            return parse_text(t).map(|r| (TableFormat::Text, r));
        }
    }
    parse_flatbuffers(bytes).map(|r| (TableFormat::Flatbuffers, r)).map_err(|e| {
        format!(
            "neither ONNX Runtime's flatbuffers ({e}) nor TensorRT's native cache (a first line TRT-...), ONNX Runtime's calibration.json or its 'name value' text"
        )
    })
}

fn range(v: f64, name: &str, line: usize) -> std::result::Result<f32, String> {
    if v.is_finite() && v >= 0.0 && v <= f64::from(f32::MAX) {
        Ok(v as f32)
    } else {
        Err(format!("line {line}: range of '{name}' is {v}, expected a finite value >= 0"))
    }
}

/// TensorRT's calibration cache: after the `TRT-...` line, `name: hex` with the scale's IEEE bits;
/// the range is `scale x 127` (what ONNX Runtime's provider computes).
fn parse_native(text: &str) -> std::result::Result<Ranges, String> {
    let mut r = Ranges::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let (name, hex) = line.rsplit_once(':').ok_or_else(|| format!("line {}: expected 'name: hex scale', got '{line}'", i + 1))?;
        let bits = u32::from_str_radix(hex.trim(), 16).map_err(|_| format!("line {}: '{}' is not a hex float", i + 1, hex.trim()))?;
        r.insert(name.to_string(), range(f64::from(f32::from_bits(bits)) * 127.0, name, i + 1)?);
    }
    Ok(r)
}

/// `calibration.json`: `{"name": {"lowest": {"data": x}, "highest": {"data": y}}}` (ONNX Runtime
/// 1.16+) or `{"name": [min, max]}` (before).
fn parse_json(text: &str) -> std::result::Result<Ranges, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("the JSON is not an object of tensor ranges")?;
    let mut r = Ranges::new();
    for (name, e) in obj {
        let num = |x: Option<&serde_json::Value>| x.and_then(|x| x.get("data").unwrap_or(x).as_f64());
        let (lo, hi) = match e {
            serde_json::Value::Array(a) if a.len() == 2 => (a[0].as_f64(), a[1].as_f64()),
            serde_json::Value::Object(o) => (num(o.get("lowest")), num(o.get("highest"))),
            _ => (None, None),
        };
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Err(format!("'{name}': expected [min, max] or {{lowest, highest}}, got {e}"));
        };
        r.insert(name.clone(), range(lo.abs().max(hi.abs()), name, 0)?);
    }
    Ok(r)
}

/// ONNX Runtime's text table: `name value` per line (the value is the last field).
fn parse_text(text: &str) -> std::result::Result<Ranges, String> {
    let mut r = Ranges::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (name, v) = line.trim_end().rsplit_once(' ').ok_or_else(|| format!("line {}: expected 'name value', got '{line}'", i + 1))?;
        let v: f64 = v.parse().map_err(|_| format!("line {}: '{v}' is not a number", i + 1))?;
        r.insert(name.to_string(), range(v, name, i + 1)?);
    }
    Ok(r)
}

// ONNX Runtime's schema (onnxruntime/core/providers/tensorrt/ort_trt_int8_cal_table.fbs.h):
//   table KeyValue { key:string (key); value:string; }   table TrtTable { dict:[KeyValue]; }
// Field 0 of a table is at vtable offset 4, field 1 at 6.
const FIELD_0: u16 = 4;
const FIELD_1: u16 = 6;

#[derive(Clone, Copy)]
struct KeyValue<'a>(Table<'a>);

impl<'a> Follow<'a> for KeyValue<'a> {
    type Inner = KeyValue<'a>;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
        // SAFETY: the caller's (flatbuffers' contract): `loc` is a table of `buf`, verified first.
        KeyValue(unsafe { Table::new(buf, loc) })
    }
}

impl Verifiable for KeyValue<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> std::result::Result<(), flatbuffers::InvalidFlatbuffer> {
        v.visit_table(pos)?
            .visit_field::<ForwardsUOffset<&str>>("key", FIELD_0, true)?
            .visit_field::<ForwardsUOffset<&str>>("value", FIELD_1, false)?
            .finish();
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct TrtTable<'a>(Table<'a>);

impl<'a> Follow<'a> for TrtTable<'a> {
    type Inner = TrtTable<'a>;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
        // SAFETY: as for KeyValue.
        TrtTable(unsafe { Table::new(buf, loc) })
    }
}

impl Verifiable for TrtTable<'_> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> std::result::Result<(), flatbuffers::InvalidFlatbuffer> {
        v.visit_table(pos)?.visit_field::<ForwardsUOffset<Vector<'_, ForwardsUOffset<KeyValue>>>>("dict", FIELD_0, false)?.finish();
        Ok(())
    }
}

fn parse_flatbuffers(bytes: &[u8]) -> std::result::Result<Ranges, String> {
    // Verified before anything is followed: a hostile buffer is an error, not a wild read.
    let table = flatbuffers::root::<TrtTable>(bytes).map_err(|e| e.to_string())?;
    // SAFETY (both gets): the buffer was verified against the schema above, fields by their slots.
    let dict = unsafe { table.0.get::<ForwardsUOffset<Vector<'_, ForwardsUOffset<KeyValue>>>>(FIELD_0, None) };
    let mut r = Ranges::new();
    for (i, kv) in dict.into_iter().flatten().enumerate() {
        let key = unsafe { kv.0.get::<ForwardsUOffset<&str>>(FIELD_0, None) }.unwrap_or_default();
        let value = unsafe { kv.0.get::<ForwardsUOffset<&str>>(FIELD_1, None) }.unwrap_or_default();
        let v: f64 = value.trim().parse().map_err(|_| format!("entry {i} ('{key}'): value '{value}' is not a number"))?;
        r.insert(key.to_string(), range(v, key, i)?);
    }
    Ok(r)
}

/// The ranges in ONNX Runtime's flatbuffers format, entries sorted by name (the schema's key).
pub fn to_flatbuffers(ranges: &Ranges) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    // A BTreeMap iterates in byte order of the names: the order a `(key)` vector is searched in.
    let entries: Vec<_> = ranges
        .iter()
        .map(|(k, v)| {
            let (key, value) = (b.create_string(k), b.create_string(&v.to_string()));
            let t = b.start_table();
            b.push_slot_always(FIELD_0, key);
            b.push_slot_always(FIELD_1, value);
            b.end_table(t)
        })
        .collect();
    let dict = b.create_vector(&entries);
    let t = b.start_table();
    b.push_slot_always(FIELD_0, dict);
    let root = b.end_table(t);
    b.finish(root, None);
    b.finished_data().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(ext: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("engines/trt/nanodet-g-416.calibration.{ext}"))
    }

    fn close(a: &Ranges, b: &Ranges) {
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, x) in a {
            let y = b[k];
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{k}: {x} vs {y}");
        }
    }

    #[test]
    fn the_shipped_tables_are_told_apart_by_content_and_agree() {
        let (f, fb) = read(&shipped("flatbuffers")).unwrap();
        assert_eq!(f, TableFormat::Flatbuffers);
        let (f, json) = read(&shipped("json")).unwrap();
        assert_eq!(f, TableFormat::Json);
        // ONNX Runtime's `.cache` is its own text, not TensorRT's native cache.
        let (f, text) = read(&shipped("cache")).unwrap();
        assert_eq!(f, TableFormat::Text);
        assert!(fb.len() > 100 && fb.contains_key("input_1:0"), "{} ranges", fb.len());
        close(&fb, &json);
        close(&fb, &text);
    }

    #[test]
    fn json_converts_to_flatbuffers_that_read_back_the_same() {
        let (_, json) = read(&shipped("json")).unwrap();
        let bytes = to_flatbuffers(&json);
        let (f, back) = parse(&bytes).unwrap();
        assert_eq!(f, TableFormat::Flatbuffers);
        close(&json, &back);
    }

    #[test]
    fn tensorrt_native_caches_are_read_with_their_scale() {
        let scale = 0.5f32 / 127.0;
        let t = format!("TRT-8601-EntropyCalibration2\ninput: {:08x}\nconv_1: {:08x}\n", scale.to_bits(), 1.0f32.to_bits());
        let (f, r) = parse(t.as_bytes()).unwrap();
        assert_eq!(f, TableFormat::TrtNative);
        assert!((r["input"] - 0.5).abs() < 1e-6 && (r["conv_1"] - 127.0).abs() < 1e-4, "{r:?}");
        assert!(parse(b"TRT-8601-EntropyCalibration2\ninput: zz\n").unwrap_err().contains("not a hex float"));
    }

    #[test]
    fn hostile_tables_are_clear_errors() {
        for (bytes, want) in [
            (&b"\x10\x00\x00\x00garbage-but-binary\x00\x00"[..], "neither ONNX Runtime's flatbuffers"),
            (b"{\"a\": 3}", "expected [min, max]"),
            (b"{\"a\": [0, \"x\"]}", "expected [min, max]"),
            (b"conv nan", "expected a finite value"),
            (b"conv", "expected 'name value'"),
            (b"", "neither ONNX Runtime's flatbuffers"),
        ] {
            let e = parse(bytes).unwrap_err();
            assert!(e.contains(want), "{:?}: {e}", String::from_utf8_lossy(bytes));
        }
        // Every truncation of a real flatbuffers table is an error or a smaller table, never a panic.
        let fb = std::fs::read(shipped("flatbuffers")).unwrap();
        for n in (0..fb.len()).step_by(97) {
            let _ = parse(&fb[..n]);
        }
        let d = tempfile::tempdir().unwrap();
        let empty = d.path().join("t.json");
        std::fs::write(&empty, "{}").unwrap();
        assert!(read(&empty).unwrap_err().to_string().contains("without any tensor range"));
    }
}
