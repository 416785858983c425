//! A small RecordBatch v2 builder: records in, batch bytes out with a correct
//! CRC and optional compression. Meant for tests, benchmarks and tools; the
//! broker itself stores producer batches as they arrive and never re-encodes.

use crate::batch::{BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES, MAGIC_V2};
use crate::codec::{compress, Compression};
use crate::varint::{write_varint, write_varlong};
use crate::RecordsError;

/// One record to put in a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub timestamp_ms: i64,
}

impl NewRecord {
    pub fn new(key: Option<&[u8]>, value: &[u8], timestamp_ms: i64) -> NewRecord {
        NewRecord {
            key: key.map(<[u8]>::to_vec),
            value: Some(value.to_vec()),
            headers: Vec::new(),
            timestamp_ms,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BatchBuilder {
    pub base_offset: i64,
    pub compression: Compression,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub transactional: bool,
    pub records: Vec<NewRecord>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder {
            base_offset: 0,
            compression: Compression::None,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            records: Vec::new(),
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

fn encode_record(out: &mut Vec<u8>, record: &NewRecord, timestamp_delta: i64, offset_delta: i32) {
    let mut body = Vec::new();
    body.push(0u8);
    write_varlong(&mut body, timestamp_delta);
    write_varint(&mut body, offset_delta);
    put_bytes(&mut body, record.key.as_deref());
    put_bytes(&mut body, record.value.as_deref());
    write_varint(&mut body, record.headers.len() as i32);
    for (key, value) in &record.headers {
        put_bytes(&mut body, Some(key));
        put_bytes(&mut body, value.as_deref());
    }
    write_varint(out, body.len() as i32);
    out.extend_from_slice(&body);
}

impl BatchBuilder {
    pub fn new(records: Vec<NewRecord>) -> BatchBuilder {
        BatchBuilder {
            records,
            ..BatchBuilder::default()
        }
    }

    pub fn compression(mut self, compression: Compression) -> BatchBuilder {
        self.compression = compression;
        self
    }

    /// Encodes the batch. Panics if `records` is empty (a programmer error).
    pub fn build(&self) -> Result<Vec<u8>, RecordsError> {
        assert!(
            !self.records.is_empty(),
            "a record batch needs at least one record"
        );
        let base_timestamp = self.records[0].timestamp_ms;
        let max_timestamp = self
            .records
            .iter()
            .map(|r| r.timestamp_ms)
            .max()
            .unwrap_or(base_timestamp);
        let mut section = Vec::new();
        for (i, record) in self.records.iter().enumerate() {
            encode_record(
                &mut section,
                record,
                record.timestamp_ms - base_timestamp,
                i as i32,
            );
        }
        let section = compress(self.compression, &section)?;
        let count = self.records.len() as i32;
        let mut attributes = self.compression.attribute_bits();
        if self.transactional {
            attributes |= 0x10;
        }
        let mut out = Vec::with_capacity(BATCH_HEADER_BYTES + section.len());
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        let batch_length = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + section.len()) as i32;
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes()); // partitionLeaderEpoch
        out.push(MAGIC_V2 as u8);
        out.extend_from_slice(&[0u8; 4]); // crc, filled below
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&(count - 1).to_be_bytes());
        out.extend_from_slice(&base_timestamp.to_be_bytes());
        out.extend_from_slice(&max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&section);
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }
}
