//! The streaming pieces of reading a boxes file: the bytes through a size limit and Python's
//! non-finite tokens quoted on the fly, and JSON values typed as they are parsed (scalars, arrays
//! kept up to a cap and only counted past it, unknown fields skipped), so that reading a file
//! costs memory in proportion to the boxes it holds, never a JSON tree of the whole file.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, Read};
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Longest string kept from a boxes file (labels, non-finite tokens); longer ones are reported.
pub const MAX_STRING: usize = 1024;

/// Reads at most `limit` bytes of `inner`; one more is an error saying so.
pub struct Limited<R> {
    pub inner: R,
    pub left: u64,
    pub limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(format!("the file is larger than the limit of {} bytes", self.limit)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Python's `json` writes NaN and infinities as the bare tokens `NaN`, `Infinity` and
/// `-Infinity`, which are not JSON. They are quoted here (outside strings), as the bytes stream
/// through, so that the file parses and the boxes carrying them are reported one by one.
pub struct Quoted<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    in_str: bool,
    escaped: bool,
    pending: Vec<u8>,
}

const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];

impl<R: Read> Quoted<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, buf: Vec::with_capacity(1 << 16), pos: 0, eof: false, in_str: false, escaped: false, pending: Vec::new() }
    }

    /// At least 9 bytes (the longest token) ahead of `pos`, unless the input ends first.
    fn fill(&mut self) -> io::Result<()> {
        while !self.eof && self.buf.len() - self.pos < 9 {
            self.buf.drain(..self.pos);
            self.pos = 0;
            let at = self.buf.len();
            self.buf.resize(at + (1 << 16), 0);
            let n = loop {
                match self.inner.read(&mut self.buf[at..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r,
                }
            };
            self.buf.truncate(at + *n.as_ref().unwrap_or(&0));
            if n? == 0 {
                self.eof = true;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Quoted<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            if !self.pending.is_empty() {
                let k = self.pending.len().min(out.len() - n);
                out[n..n + k].copy_from_slice(&self.pending[..k]);
                self.pending.drain(..k);
                n += k;
                continue;
            }
            self.fill()?;
            let Some(&c) = self.buf.get(self.pos) else { break };
            if self.in_str {
                if self.escaped {
                    self.escaped = false;
                } else if c == b'\\' {
                    self.escaped = true;
                } else if c == b'"' {
                    self.in_str = false;
                }
            } else if c == b'"' {
                self.in_str = true;
            } else if matches!(c, b'N' | b'I' | b'-') {
                if let Some(t) = TOKENS.iter().find(|t| self.buf[self.pos..].starts_with(t)) {
                    self.pending.push(b'"');
                    self.pending.extend_from_slice(t);
                    self.pending.push(b'"');
                    self.pos += t.len();
                    continue;
                }
            }
            out[n] = c;
            n += 1;
            self.pos += 1;
        }
        Ok(n)
    }
}

/// A JSON value where a scalar is expected: kept if it is one, else only its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    U64(u64),
    I64(i64),
    F64(f64),
    Str(String),
    /// A string longer than [`MAX_STRING`] bytes (its length).
    LongStr(usize),
    Bool(bool),
    Null,
    /// An array or object (skipped).
    Nested,
}

impl Scalar {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Scalar::U64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::U64(v) => Some(v as f64),
            Scalar::I64(v) => Some(v as f64),
            Scalar::F64(v) => Some(v),
            _ => None,
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(if v.len() > MAX_STRING { Scalar::LongStr(v.len()) } else { Scalar::Str(v.to_string()) })
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Nested)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// A JSON array whose first `N` items are kept and the rest only counted; anything else is
/// recorded as "not an array" (skipped), so the reader can say what it expected.
#[derive(Debug, Clone)]
pub struct Capped<T, const N: usize> {
    pub items: Vec<T>,
    /// Items in the array (also those past `N`).
    pub total: usize,
    pub is_array: bool,
}

struct CappedVisitor<T, const N: usize>(PhantomData<T>);

impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for CappedVisitor<T, N> {
    type Value = Capped<T, N>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        let mut total = 0usize;
        while total < N {
            match a.next_element::<T>()? {
                Some(v) => items.push(v),
                None => return Ok(Capped { items, total, is_array: true }),
            }
            total += 1;
        }
        while a.next_element::<IgnoredAny>()?.is_some() {
            total += 1;
        }
        Ok(Capped { items, total, is_array: true })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Capped::not_array())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Capped::not_array())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Capped::not_array())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Capped::not_array())
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Capped::not_array())
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Capped::not_array())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Capped::not_array())
    }
}

impl<T, const N: usize> Capped<T, N> {
    fn not_array() -> Self {
        Self { items: Vec::new(), total: 0, is_array: false }
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for Capped<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CappedVisitor::<T, N>(PhantomData))
    }
}

/// A keypoint entry: an `[x, y]` pair (up to three items kept) or a number of a flat list.
#[derive(Debug, Clone)]
pub enum KeypointItem {
    Pair(Capped<Scalar, 3>),
    Scalar(Scalar),
}

impl<'de> Deserialize<'de> for KeypointItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeypointItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an [x, y] pair or a number")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<KeypointItem, A::Error> {
                CappedVisitor::<Scalar, 3>(PhantomData).visit_seq(a).map(KeypointItem::Pair)
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<KeypointItem, A::Error> {
                ScalarVisitor.visit_map(a).map(KeypointItem::Scalar)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeypointItem, E> {
                Ok(KeypointItem::Scalar(Scalar::U64(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeypointItem, E> {
                Ok(KeypointItem::Scalar(Scalar::I64(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeypointItem, E> {
                Ok(KeypointItem::Scalar(Scalar::F64(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeypointItem, E> {
                ScalarVisitor.visit_str(v).map(KeypointItem::Scalar)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeypointItem, E> {
                Ok(KeypointItem::Scalar(Scalar::Bool(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeypointItem, E> {
                Ok(KeypointItem::Scalar(Scalar::Null))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str, chunk: usize) -> String {
        // A reader handing out `chunk` bytes at a time: tokens split across reads.
        struct Slow<'a>(&'a [u8], usize);
        impl Read for Slow<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(b.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = String::new();
        Quoted::new(Slow(s.as_bytes(), chunk)).read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn tokens_are_quoted_outside_strings_whatever_the_reads() {
        let s = r#"{"a": [NaN, -Infinity, Infinity, -1, 2], "b": "NaN \" Infinity", "c": Na}"#;
        let want = r#"{"a": ["NaN", "-Infinity", "Infinity", -1, 2], "b": "NaN \" Infinity", "c": Na}"#;
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            assert_eq!(quoted(s, chunk), want, "reads of {chunk} bytes");
        }
    }

    #[test]
    fn arrays_are_kept_up_to_the_cap_and_counted_past_it() {
        let c: Capped<Scalar, 2> = serde_json::from_str("[1, [2, 3], {\"x\": 4}, 5]").unwrap();
        assert_eq!((c.items.clone(), c.total, c.is_array), (vec![Scalar::U64(1), Scalar::Nested], 4, true));
        let c: Capped<Scalar, 2> = serde_json::from_str("{\"x\": [1]}").unwrap();
        assert!(!c.is_array && c.items.is_empty());
        let long = format!("\"{}\"", "x".repeat(MAX_STRING + 1));
        assert_eq!(serde_json::from_str::<Scalar>(&long).unwrap(), Scalar::LongStr(MAX_STRING + 1));
    }

    #[test]
    fn the_limit_is_an_error_naming_it() {
        let mut l = Limited { inner: &b"0123456789"[..], left: 4, limit: 4 };
        let e = io::read_to_string(&mut l).unwrap_err().to_string();
        assert!(e.contains("larger than the limit of 4 bytes"), "{e}");
    }
}
