//! Decoding the classic consumer protocol's member assignment (the bytes a
//! DescribeGroups answer carries for each member) into topic-partitions,
//! bounds-checked so that no input can panic the CLI or make it allocate
//! without bound. Pure and unit tested; fetching groups lives in `mod.rs`.

/// Most topic-partitions one member assignment may name, so a hostile
/// assignment cannot make the decoder allocate without bound.
const ASSIGNED_PARTITIONS_MAX: usize = 1_000_000;

/// Why a member assignment could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated { at_byte: usize },
    NegativeLength { at_byte: usize },
    TooManyPartitions,
    NotUtf8 { at_byte: usize },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { at_byte } => write!(f, "truncated at byte {at_byte}"),
            DecodeError::NegativeLength { at_byte } => {
                write!(f, "negative length at byte {at_byte}")
            }
            DecodeError::TooManyPartitions => {
                write!(f, "more than {ASSIGNED_PARTITIONS_MAX} partitions")
            }
            DecodeError::NotUtf8 { at_byte } => write!(f, "topic name not UTF-8 at byte {at_byte}"),
        }
    }
}

/// A bounds-checked big-endian reader over one assignment.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated { at_byte: self.at })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An array count that cannot exceed what the remaining bytes could hold
    /// at `item_bytes_min` each; a null array (-1) counts as empty.
    fn count(&mut self, item_bytes_min: usize) -> Result<usize, DecodeError> {
        let at_byte = self.at;
        let count = self.i32()?;
        if count == -1 {
            return Ok(0);
        }
        let count = usize::try_from(count).map_err(|_| DecodeError::NegativeLength { at_byte })?;
        if count.saturating_mul(item_bytes_min) > self.bytes.len() - self.at {
            return Err(DecodeError::Truncated { at_byte });
        }
        Ok(count)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let at_byte = self.at;
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength { at_byte })?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8 { at_byte })
    }
}

/// Decodes a classic consumer-protocol assignment (ConsumerProtocolAssignment
/// v0-v3): version i16, then an array of (topic string, partition i32 array),
/// then user data, which is ignored. Empty bytes mean "nothing assigned", as
/// members send during a rebalance.
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<(String, Vec<i32>)>, DecodeError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = Reader { bytes, at: 0 };
    let _version = reader.i16()?;
    let topic_count = reader.count(2 + 4)?;
    let mut topics = Vec::with_capacity(topic_count);
    let mut total = 0usize;
    for _ in 0..topic_count {
        let topic = reader.string()?;
        let partition_count = reader.count(4)?;
        total = total.saturating_add(partition_count);
        if total > ASSIGNED_PARTITIONS_MAX {
            return Err(DecodeError::TooManyPartitions);
        }
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            partitions.push(reader.i32()?);
        }
        topics.push((topic, partitions));
    }
    Ok(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes an assignment the way clients do, for round trips.
    fn encode(version: i16, topics: &[(&str, &[i32])], user_data: Option<&[u8]>) -> Vec<u8> {
        let mut out = version.to_be_bytes().to_vec();
        out.extend((topics.len() as i32).to_be_bytes());
        for (topic, partitions) in topics {
            out.extend((topic.len() as i16).to_be_bytes());
            out.extend(topic.as_bytes());
            out.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                out.extend(p.to_be_bytes());
            }
        }
        match user_data {
            Some(data) => {
                out.extend((data.len() as i32).to_be_bytes());
                out.extend(data);
            }
            None => out.extend((-1i32).to_be_bytes()),
        }
        out
    }

    fn owned(topics: &[(&str, &[i32])]) -> Vec<(String, Vec<i32>)> {
        topics
            .iter()
            .map(|(t, ps)| (t.to_string(), ps.to_vec()))
            .collect()
    }

    #[test]
    fn assignments_decode_across_versions_and_user_data() {
        type Case<'a> = (i16, &'a [(&'a str, &'a [i32])], Option<&'a [u8]>);
        let cases: &[Case] = &[
            (0, &[], None),
            (0, &[("orders", &[0, 1, 2])], None),
            (1, &[("a", &[2]), ("b", &[])], Some(b"sticky")),
            (3, &[("events", &[5, 3])], Some(b"")),
        ];
        for (version, topics, user_data) in cases {
            let bytes = encode(*version, topics, *user_data);
            assert_eq!(decode_assignment(&bytes), Ok(owned(topics)), "{topics:?}");
        }
        assert_eq!(decode_assignment(&[]), Ok(Vec::new()));
    }

    #[test]
    fn every_truncation_of_an_assignment_is_an_error_not_a_panic() {
        let bytes = encode(0, &[("orders", &[0, 1]), ("x", &[7])], None);
        // Without user data the partitions end 4 bytes early; any shorter
        // prefix must fail cleanly.
        for len in 1..bytes.len() - 4 {
            assert!(decode_assignment(&bytes[..len]).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn hostile_counts_are_refused_before_allocating() {
        let cases: &[(&[u8], DecodeError)] = &[
            (
                &[0, 0, 0x7f, 0xff, 0xff, 0xff],
                DecodeError::Truncated { at_byte: 2 },
            ),
            (
                &[0, 0, 0xff, 0xff, 0xff, 0xfe],
                DecodeError::NegativeLength { at_byte: 2 },
            ),
            (
                &[0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0, 0, 0, 0],
                DecodeError::NegativeLength { at_byte: 6 },
            ),
            (
                &[0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0, 0, 0, 0],
                DecodeError::NotUtf8 { at_byte: 6 },
            ),
        ];
        for (bytes, expect) in cases {
            assert_eq!(decode_assignment(bytes).as_ref(), Err(expect), "{bytes:?}");
        }
    }
}
