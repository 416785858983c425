//! Record-level view of one batch: decompresses the records section when
//! needed (bounded) and iterates the varint-encoded records in it. Used only
//! where the broker must look inside a batch (compacted topics, lookups by
//! timestamp, tests); the produce and fetch paths never come here.

use crate::batch::{validate_batch, BatchHeader, BATCH_HEADER_BYTES};
use crate::codec::{decompress, Compression, DECOMPRESSED_BYTES_MAX};
use crate::varint::{read_varint, read_varlong};
use crate::RecordsError;
use std::borrow::Cow;

/// One record header (key is raw bytes; Kafka says UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// One record with its absolute offset and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub offset: i64,
    /// The record's own timestamp; for LogAppendTime batches, the batch's.
    pub timestamp_ms: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<Header<'a>>,
}

/// The decoded records section of one validated batch.
pub struct Records<'a> {
    header: BatchHeader,
    data: Cow<'a, [u8]>,
}

impl<'a> Records<'a> {
    /// Validates `batch` and decompresses its records section, allowing at
    /// most [`DECOMPRESSED_BYTES_MAX`] bytes.
    pub fn new(batch: &'a [u8]) -> Result<Records<'a>, RecordsError> {
        Records::with_limit(batch, DECOMPRESSED_BYTES_MAX)
    }

    pub fn with_limit(batch: &'a [u8], limit_bytes: usize) -> Result<Records<'a>, RecordsError> {
        let header = validate_batch(batch)?;
        let section = &batch[BATCH_HEADER_BYTES..header.total_size()];
        let data = match header.compression()? {
            Compression::None => Cow::Borrowed(section),
            codec => Cow::Owned(decompress(codec, section, limit_bytes)?),
        };
        Ok(Records { header, data })
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Iterates exactly `recordsCount` records, then checks nothing is left.
    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter {
            header: self.header,
            data: &self.data,
            pos: 0,
            index: 0,
            done: false,
        }
    }
}

pub struct RecordIter<'a> {
    header: BatchHeader,
    data: &'a [u8],
    pos: usize,
    index: i32,
    done: bool,
}

fn bytes_field<'a>(
    data: &'a [u8],
    pos: &mut usize,
    what: &'static str,
    index: i32,
) -> Result<Option<&'a [u8]>, RecordsError> {
    let bad = |why| RecordsError::BadRecord { index, why };
    let len = read_varint(data, pos).ok_or(bad(what))?;
    if len < 0 {
        return Ok(None);
    }
    let end = pos
        .checked_add(len as usize)
        .filter(|&e| e <= data.len())
        .ok_or(bad(what))?;
    let out = &data[*pos..end];
    *pos = end;
    Ok(Some(out))
}

impl<'a> RecordIter<'a> {
    fn parse_one(&mut self) -> Result<Record<'a>, RecordsError> {
        let index = self.index;
        let bad = |why| RecordsError::BadRecord { index, why };
        let data = self.data;
        let mut pos = self.pos;
        let length = read_varint(data, &mut pos).ok_or(bad("bad length"))?;
        let length = usize::try_from(length).map_err(|_| bad("negative length"))?;
        let end = pos
            .checked_add(length)
            .filter(|&e| e <= data.len())
            .ok_or(bad("length past end"))?;
        let body = &data[..end];
        let attributes = *body.get(pos).ok_or(bad("missing attributes"))? as i8;
        pos += 1;
        let timestamp_delta = read_varlong(body, &mut pos).ok_or(bad("bad timestamp delta"))?;
        let offset_delta = read_varint(body, &mut pos).ok_or(bad("bad offset delta"))?;
        let key = bytes_field(body, &mut pos, "bad key", index)?;
        let value = bytes_field(body, &mut pos, "bad value", index)?;
        let header_count = read_varint(body, &mut pos).ok_or(bad("bad header count"))?;
        let header_count =
            usize::try_from(header_count).map_err(|_| bad("negative header count"))?;
        // Each header takes at least two bytes, so the remaining length bounds the allocation.
        let mut headers = Vec::with_capacity(header_count.min((end - pos) / 2));
        for _ in 0..header_count {
            let key = bytes_field(body, &mut pos, "bad header key", index)?
                .ok_or(bad("null header key"))?;
            let value = bytes_field(body, &mut pos, "bad header value", index)?;
            headers.push(Header { key, value });
        }
        if pos != end {
            return Err(bad("record length does not match its fields"));
        }
        self.pos = end;
        let timestamp_ms = if self.header.is_log_append_time() {
            self.header.max_timestamp
        } else {
            self.header.base_timestamp.wrapping_add(timestamp_delta)
        };
        let offset = self
            .header
            .base_offset
            .wrapping_add(i64::from(offset_delta));
        Ok(Record {
            attributes,
            offset,
            timestamp_ms,
            key,
            value,
            headers,
        })
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, RecordsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.index >= self.header.records_count {
            self.done = true;
            if self.pos != self.data.len() {
                return Some(Err(RecordsError::BadRecord {
                    index: self.index,
                    why: "bytes after the last record",
                }));
            }
            return None;
        }
        let result = self.parse_one();
        self.index += 1;
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}
