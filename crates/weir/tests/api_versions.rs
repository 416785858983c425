//! ApiVersions over a raw socket: every version a client may send (v0-v4)
//! decodes, a version from the future gets KIP-511's answer (error
//! UNSUPPORTED_VERSION with a v0 body that still lists the supported
//! ranges), pipelined requests are answered in order, and the advertised
//! minimums avoid the old-librdkafka feature traps described in
//! `kafka-clients.md`.

mod common;

use bytes::BytesMut;
use common::wire::{decode_response, encode_header, encode_request, round_trip, RawConn, Reply};
use common::Broker;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Encodable, StrBytes};

const UNSUPPORTED_VERSION: i16 = 35;

fn request() -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("weir-test"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"))
}

fn find(keys: &[ApiVersion], key: ApiKey) -> Option<&ApiVersion> {
    keys.iter().find(|k| k.api_key == key as i16)
}

fn assert_lists_core_apis(keys: &[ApiVersion]) {
    let own = find(keys, ApiKey::ApiVersions).expect("ApiVersions listed");
    assert_eq!(own.min_version, 0);
    assert!(own.max_version >= 3, "ApiVersions max {}", own.max_version);
    for key in [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::Metadata,
        ApiKey::ListOffsets,
    ] {
        let range = find(keys, key).unwrap_or_else(|| panic!("{key:?} not advertised"));
        assert!(
            range.min_version <= range.max_version,
            "{key:?} range inverted"
        );
    }
}

#[test]
fn every_known_version_decodes() {
    let broker = Broker::start(&[]);
    let mut conn = RawConn::connect(broker.addr());
    for version in 0..=4i16 {
        let response: ApiVersionsResponse = round_trip(
            &mut conn,
            ApiKey::ApiVersions,
            version,
            100 + i32::from(version),
            &request(),
        );
        assert_eq!(response.error_code, 0, "v{version} error");
        assert_lists_core_apis(&response.api_keys);
    }
}

#[test]
fn future_version_gets_kip_511_fallback() {
    let broker = Broker::start(&[]);
    let mut conn = RawConn::connect(broker.addr());
    // Header for v99 as a new client writes it (flexible header v2); the body
    // is whatever a v3+ body looks like, which the broker must not need.
    let mut buf = BytesMut::new();
    encode_header(&mut buf, ApiKey::ApiVersions, 99, 4242);
    request().encode(&mut buf, 3).expect("encode body");
    conn.send_frame(&buf);
    let frame = match conn.read_reply() {
        Reply::Frame(frame) => frame,
        other => panic!("ApiVersions v99: expected a v0 error response, got {other:?}"),
    };
    let (correlation_id, response): (i32, ApiVersionsResponse) =
        decode_response(frame, ApiKey::ApiVersions, 0);
    assert_eq!(correlation_id, 4242);
    assert_eq!(response.error_code, UNSUPPORTED_VERSION);
    let own = find(&response.api_keys, ApiKey::ApiVersions).expect("ApiVersions range listed");
    assert!(own.max_version >= 3 && own.max_version < 99);

    // The connection stays usable: the client retries with a version we know.
    let retry: ApiVersionsResponse =
        round_trip(&mut conn, ApiKey::ApiVersions, 3, 4243, &request());
    assert_eq!(retry.error_code, 0);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::start(&[]);
    let mut conn = RawConn::connect(broker.addr());
    let mut bytes = Vec::new();
    let ids = [7, 3, 11, 5, 1];
    for (i, id) in ids.iter().enumerate() {
        let version = (i % 4) as i16;
        let body = encode_request(ApiKey::ApiVersions, version, *id, &request());
        bytes.extend_from_slice(&(body.len() as i32).to_be_bytes());
        bytes.extend_from_slice(&body);
    }
    conn.send_raw(&bytes);
    for (i, id) in ids.iter().enumerate() {
        let version = (i % 4) as i16;
        let Reply::Frame(frame) = conn.read_reply() else {
            panic!("missing response {i}");
        };
        let (got, response): (i32, ApiVersionsResponse) =
            decode_response(frame, ApiKey::ApiVersions, version);
        assert_eq!(got, *id, "response {i} out of order");
        assert_eq!(response.error_code, 0);
    }
}

/// librdkafka <= 2.11 (Debian's kcat and python3-confluent-kafka) turns off
/// gzip/snappy/lz4 unless Produce is advertised from v0, and turns off
/// MessageSet v2 unless Produce contains 3 and Fetch contains 4.
#[test]
fn advertised_ranges_satisfy_old_librdkafka() {
    let broker = Broker::start(&[]);
    let mut conn = RawConn::connect(broker.addr());
    let response: ApiVersionsResponse =
        round_trip(&mut conn, ApiKey::ApiVersions, 3, 1, &request());
    let produce = find(&response.api_keys, ApiKey::Produce).expect("Produce");
    assert_eq!(produce.min_version, 0, "Produce must be advertised from v0");
    assert!(produce.max_version >= 7, "zstd needs Produce v7");
    let fetch = find(&response.api_keys, ApiKey::Fetch).expect("Fetch");
    assert!(
        fetch.min_version <= 4 && fetch.max_version >= 10,
        "Fetch {fetch:?}"
    );
    let list_offsets = find(&response.api_keys, ApiKey::ListOffsets).expect("ListOffsets");
    assert!(list_offsets.min_version <= 1 && list_offsets.max_version >= 1);
}
