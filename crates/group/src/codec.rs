//! Byte-level encoding of Kafka's generated message format, as used by the
//! `__consumer_offsets` records: big-endian integers, classic (int16/int32
//! length) and flexible (unsigned varint, "compact") strings, bytes and arrays,
//! and empty tagged-field sections. Which fields a record has lives in
//! `records.rs` / `records_consumer.rs`, not here. Decoding is total: bad bytes
//! give `DecodeError`, never a panic, and never allocate beyond the input size.

use thiserror::Error;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("record truncated")]
    Truncated,
    #[error("invalid length {0}")]
    BadLength(i64),
    #[error("invalid utf-8 string")]
    BadUtf8,
    #[error("unexpected null")]
    UnexpectedNull,
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// Appends fields to a buffer. `flexible` selects compact encodings.
pub(crate) struct Writer {
    pub buf: Vec<u8>,
    pub flexible: bool,
}

impl Writer {
    pub fn new(version: i16, flexible: bool) -> Writer {
        let mut w = Writer {
            buf: Vec::with_capacity(64),
            flexible,
        };
        w.i16(version);
        w
    }
    pub fn i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn uuid(&mut self, v: &[u8; 16]) {
        self.buf.extend_from_slice(v);
    }
    pub fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    /// Writes an array/string length; `None` is null.
    fn len(&mut self, len: Option<usize>, classic_i32: bool) {
        match (self.flexible, len) {
            (true, None) => self.uvarint(0),
            (true, Some(n)) => self.uvarint(n as u64 + 1),
            (false, None) if classic_i32 => self.i32(-1),
            (false, None) => self.i16(-1),
            (false, Some(n)) if classic_i32 => self.i32(n as i32),
            (false, Some(n)) => self.i16(n as i16),
        }
    }
    pub fn string(&mut self, s: &str) {
        self.nullable_string(Some(s));
    }
    pub fn nullable_string(&mut self, s: Option<&str>) {
        self.len(s.map(str::len), false);
        if let Some(s) = s {
            self.buf.extend_from_slice(s.as_bytes());
        }
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(Some(b.len()), true);
        self.buf.extend_from_slice(b);
    }
    pub fn array_len(&mut self, n: usize) {
        self.len(Some(n), true);
    }
    /// An empty tagged-field section (flexible versions only).
    pub fn tags(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields from a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub flexible: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            flexible: false,
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub fn uuid(&mut self) -> Result<[u8; 16], DecodeError> {
        self.array()
    }
    pub fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadLength(-1))
    }
    /// Reads a length; `None` is null. Lengths beyond the remaining input are
    /// refused, so no decode allocates more than the record's size.
    fn len(
        &mut self,
        classic_i32: bool,
        item_bytes_min: usize,
    ) -> Result<Option<usize>, DecodeError> {
        let raw: i64 = if self.flexible {
            self.uvarint()? as i64 - 1
        } else if classic_i32 {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if raw == -1 {
            return Ok(None);
        }
        if raw < 0 || (raw as u64).saturating_mul(item_bytes_min as u64) > self.buf.len() as u64 {
            return Err(DecodeError::BadLength(raw));
        }
        Ok(Some(raw as usize))
    }
    pub fn nullable_string(&mut self) -> Result<Option<String>, DecodeError> {
        match self.len(false, 1)? {
            None => Ok(None),
            Some(n) => {
                let b = self.take(n)?;
                std::str::from_utf8(b)
                    .map(|s| Some(s.to_owned()))
                    .map_err(|_| DecodeError::BadUtf8)
            }
        }
    }
    pub fn string(&mut self) -> Result<String, DecodeError> {
        self.nullable_string()?.ok_or(DecodeError::UnexpectedNull)
    }
    pub fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.len(true, 1)?.ok_or(DecodeError::UnexpectedNull)?;
        Ok(self.take(n)?.to_vec())
    }
    /// An array's element count; each element takes at least `item_bytes_min`.
    pub fn array_len(&mut self, item_bytes_min: usize) -> Result<usize, DecodeError> {
        self.len(true, item_bytes_min)?
            .ok_or(DecodeError::UnexpectedNull)
    }
    /// Skips a tagged-field section (flexible versions only).
    pub fn tags(&mut self) -> Result<(), DecodeError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = self.uvarint()?;
            let size = usize::try_from(size).map_err(|_| DecodeError::BadLength(-1))?;
            self.take(size)?;
        }
        Ok(())
    }
    pub fn end(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}
