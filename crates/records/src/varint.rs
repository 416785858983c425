//! Zigzag varint / varlong decoding and encoding as Kafka's record format uses
//! them. Decoders take a cursor position and never read past the slice.

/// Longest varlong encoding (10 bytes of 7 bits).
const VARLONG_BYTES_MAX: usize = 10;
/// Longest varint encoding.
const VARINT_BYTES_MAX: usize = 5;

fn read_unsigned(buf: &[u8], pos: &mut usize, bytes_max: usize) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..bytes_max {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let raw = read_unsigned(buf, pos, VARLONG_BYTES_MAX)?;
    Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Option<i32> {
    let raw = read_unsigned(buf, pos, VARINT_BYTES_MAX)?;
    let raw = u32::try_from(raw).ok()?;
    Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

pub(crate) fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

pub(crate) fn write_varint(out: &mut Vec<u8>, value: i32) {
    write_varlong(out, i64::from(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            write_varlong(&mut out, v);
            let mut pos = 0;
            assert_eq!(read_varlong(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
            if let Ok(v32) = i32::try_from(v) {
                let mut pos = 0;
                assert_eq!(read_varint(&out, &mut pos), Some(v32));
            }
        }
    }

    #[test]
    fn truncated_and_overlong_fail() {
        let mut pos = 0;
        assert_eq!(read_varlong(&[0x80, 0x80], &mut pos), None);
        let mut pos = 0;
        assert_eq!(read_varint(&[0xff; 6], &mut pos), None);
    }
}
