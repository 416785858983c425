//! Raw Kafka framing over a plain `TcpStream`, for tests that must send what
//! no client library would (truncated frames, wrong lengths, unknown API
//! keys, corrupt batches) and read the broker's exact answer. Message bodies
//! are encoded with the `kafka-protocol` crate; only framing and the odd
//! deliberately-invalid header are written by hand here.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// How long a raw read waits before calling the broker unresponsive.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response frame the tests are willing to read.
const RESPONSE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// What came back on a raw connection.
#[derive(Debug)]
pub enum Reply {
    /// A complete response frame (without its length prefix).
    Frame(Bytes),
    /// The broker closed (or reset) the connection.
    Closed,
    /// Nothing arrived within `READ_TIMEOUT` and the connection stayed open.
    Silent,
}

pub struct RawConn {
    stream: TcpStream,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).expect("connect to weir");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        stream.set_nodelay(true).expect("set nodelay");
        RawConn { stream }
    }

    /// Writes bytes as they are, without a length prefix. A write error
    /// (the broker already closed) is ignored: the read that follows tells.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Writes a length-prefixed frame.
    pub fn send_frame(&mut self, body: &[u8]) {
        let mut framed = Vec::with_capacity(4 + body.len());
        framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
        framed.extend_from_slice(body);
        self.send_raw(&framed);
    }

    /// Closes our sending side, as a client that went away mid-frame would.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// Reads one response frame, or reports a close or silence.
    pub fn read_reply(&mut self) -> Reply {
        let mut len_bytes = [0u8; 4];
        if let Some(other) = self.read_full(&mut len_bytes) {
            return other;
        }
        let len = i32::from_be_bytes(len_bytes);
        assert!(
            len >= 0 && (len as usize) <= RESPONSE_BYTES_MAX,
            "broker sent an invalid response length {len}"
        );
        let mut body = vec![0u8; len as usize];
        if let Some(other) = self.read_full(&mut body) {
            panic!("broker closed mid-response ({other:?})");
        }
        Reply::Frame(Bytes::from(body))
    }

    /// Reads until the broker closes; anything but a close (a frame or
    /// silence) fails the test.
    pub fn expect_closed(&mut self, what: &str) {
        match self.read_reply() {
            Reply::Closed => {}
            other => panic!("{what}: expected the broker to close the connection, got {other:?}"),
        }
    }

    fn read_full(&mut self, buf: &mut [u8]) -> Option<Reply> {
        match self.stream.read_exact(buf) {
            Ok(()) => None,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Some(Reply::Silent)
            }
            Err(_) => Some(Reply::Closed),
        }
    }
}

/// Request header + body, ready for `send_frame`.
pub fn encode_request<B: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &B,
) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_header(&mut buf, api_key, version, correlation_id);
    body.encode(&mut buf, version).expect("encode request body");
    buf.to_vec()
}

/// Writes a request header using the header version `api_key` implies for
/// `version`.
pub fn encode_header(buf: &mut BytesMut, api_key: ApiKey, version: i16, correlation_id: i32) {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("weir-raw-test")));
    header
        .encode(buf, api_key.request_header_version(version))
        .expect("encode request header");
}

/// A header v1 (key, version, correlation id, client id) written by hand, for
/// API keys the codec does not know.
pub fn encode_header_v1_raw(api_key: i16, version: i16, correlation_id: i32) -> Vec<u8> {
    let client_id = b"weir-raw-test";
    let mut buf = Vec::new();
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    buf.put_i16(client_id.len() as i16);
    buf.put_slice(client_id);
    buf
}

/// Splits a response frame into its correlation id and decoded body.
pub fn decode_response<R: Decodable>(frame: Bytes, api_key: ApiKey, version: i16) -> (i32, R) {
    let mut buf = frame;
    let header = ResponseHeader::decode(&mut buf, api_key.response_header_version(version))
        .expect("decode response header");
    let body = R::decode(&mut buf, version).expect("decode response body");
    assert_eq!(
        buf.remaining(),
        0,
        "{api_key:?} v{version} response has trailing bytes"
    );
    (header.correlation_id, body)
}

/// Sends one request and returns the decoded response, panicking on a close
/// or silence.
pub fn round_trip<B: Encodable, R: Decodable>(
    conn: &mut RawConn,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &B,
) -> R {
    conn.send_frame(&encode_request(api_key, version, correlation_id, body));
    match conn.read_reply() {
        Reply::Frame(frame) => {
            let (got_id, response) = decode_response(frame, api_key, version);
            assert_eq!(
                got_id, correlation_id,
                "{api_key:?} v{version}: correlation id"
            );
            response
        }
        other => panic!("{api_key:?} v{version}: expected a response, got {other:?}"),
    }
}
