//! Hostile and broken input over raw sockets: truncated, oversized and
//! negative-length frames, an unknown API key, unsupported versions,
//! garbage, seeded random request bodies, and a Produce whose batch fails
//! its CRC. Each gets the Kafka answer (an error code) or a closed
//! connection, never a hang or a crash, and after every one a well-behaved
//! librdkafka producer and consumer on their own connections still work and
//! nothing corrupt reached the log.

mod common;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::wire::{decode_response, encode_header_v1_raw, encode_request, RawConn, Reply};
use common::{consumer, create_topic, now_ms, producer, runtime, watermarks, Broker, WAIT_MAX};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

const REQUEST_BYTES_MAX: usize = 1024 * 1024;
const CORRUPT_MESSAGE: i16 = 2;
const FUZZ_FRAMES: usize = 60;
const SEED: u64 = 0xBAD_1F0;

/// One kind of bad input, sent on connections of its own.
type BadInput = fn(&Broker);

/// A producer and a consumer that behave, checked between bad inputs.
struct Steady {
    producer: FutureProducer,
    consumer: BaseConsumer,
    next: usize,
}

const STEADY_TOPIC: &str = "steady";

impl Steady {
    fn new(broker: &Broker) -> Steady {
        create_topic(&broker.bootstrap(), STEADY_TOPIC, 1, &[]);
        let consumer = consumer(&broker.bootstrap(), &[]);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(STEADY_TOPIC, 0, Offset::Beginning)
            .expect("add partition");
        consumer.assign(&assignment).expect("assign");
        Steady {
            producer: producer(&broker.bootstrap(), &[]),
            consumer,
            next: 0,
        }
    }

    /// Produces one record and reads it back on the long-lived connections.
    fn check(&mut self, broker: &mut Broker, after: &str) {
        broker.assert_running();
        let value = format!("steady-{}", self.next);
        let record = FutureRecord::<(), _>::to(STEADY_TOPIC)
            .partition(0)
            .payload(&value);
        let delivery = runtime()
            .block_on(self.producer.send(record, Duration::from_secs(30)))
            .unwrap_or_else(|(e, _)| panic!("after {after}: produce failed: {e}"));
        assert_eq!(delivery.offset, self.next as i64, "after {after}: offset");
        let deadline = Instant::now() + WAIT_MAX;
        loop {
            assert!(
                Instant::now() < deadline,
                "after {after}: record not consumed"
            );
            match self.consumer.poll(Duration::from_millis(200)) {
                None => continue,
                Some(Ok(m)) => {
                    assert_eq!(m.offset(), self.next as i64, "after {after}");
                    assert_eq!(m.payload(), Some(value.as_bytes()), "after {after}");
                    break;
                }
                Some(Err(e)) => panic!("after {after}: consumer error {e}"),
            }
        }
        self.next += 1;
    }
}

/// A reply to garbage may be an error response or a close, but not silence.
fn expect_answer_or_close(conn: &mut RawConn, what: &str) {
    if let Reply::Silent = conn.read_reply() {
        panic!("{what}: broker neither answered nor closed the connection");
    }
}

fn truncated_frame(broker: &Broker) {
    let mut conn = RawConn::connect(broker.addr());
    conn.send_raw(&64i32.to_be_bytes());
    conn.send_raw(&[0, 18, 0, 0, 0, 0, 0, 1, 0, 0]);
    conn.shutdown_write();
    conn.expect_closed("frame truncated by the client");
}

fn frame_shorter_than_header(broker: &Broker) {
    let mut conn = RawConn::connect(broker.addr());
    conn.send_frame(&[0, 18, 0]);
    expect_answer_or_close(&mut conn, "frame shorter than a request header");
}

fn oversized_frame(broker: &Broker) {
    let mut conn = RawConn::connect(broker.addr());
    conn.send_raw(&((REQUEST_BYTES_MAX + 1) as i32).to_be_bytes());
    conn.send_raw(&[0u8; 64]);
    conn.expect_closed("frame over --request-bytes-max");
}

fn huge_and_negative_lengths(broker: &Broker) {
    for len in [i32::MAX, -1, i32::MIN] {
        let mut conn = RawConn::connect(broker.addr());
        conn.send_raw(&len.to_be_bytes());
        conn.send_raw(&[0u8; 16]);
        conn.expect_closed(&format!("length prefix {len}"));
    }
}

fn unknown_api_key(broker: &Broker) {
    let mut conn = RawConn::connect(broker.addr());
    let mut body = encode_header_v1_raw(9_999, 0, 77);
    body.extend_from_slice(&[0u8; 8]);
    conn.send_frame(&body);
    match conn.read_reply() {
        Reply::Closed => {}
        Reply::Frame(frame) => {
            let id = i32::from_be_bytes(frame[..4].try_into().expect("4 bytes"));
            assert_eq!(
                id, 77,
                "unknown API key: answer with the wrong correlation id"
            );
        }
        Reply::Silent => panic!("unknown API key: no answer and no close"),
    }
}

fn unsupported_version(broker: &Broker) {
    // Metadata v99: Kafka closes the connection; an error response is fine too.
    let mut conn = RawConn::connect(broker.addr());
    let mut body = encode_header_v1_raw(ApiKey::Metadata as i16, 99, 78);
    body.extend_from_slice(&[0u8; 8]);
    conn.send_frame(&body);
    expect_answer_or_close(&mut conn, "Metadata v99");
}

fn http_request(broker: &Broker) {
    let mut conn = RawConn::connect(broker.addr());
    conn.send_raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    conn.expect_closed("an HTTP request on the Kafka port");
}

/// Array counts near i32::MAX in front of a tiny body. The decoder sizes a
/// vector from the count before reading elements; without the allocator
/// guard (crates/weir/src/os.rs) the allocation is refused and the process
/// aborts. Both the classic (int32) and compact (varint) array forms.
fn hostile_array_counts(broker: &Broker) {
    // Metadata v1: topics array, int32 count.
    let mut classic = encode_header_v1_raw(ApiKey::Metadata as i16, 1, 1);
    classic.extend_from_slice(&i32::MAX.to_be_bytes());
    classic.extend_from_slice(&[0, 1, b'a']);
    // Metadata v9 (flexible): header v2 ends with an empty tag buffer, then
    // the topics compact array: unsigned varint count + 1 = 2^31.
    let mut compact = encode_header_v1_raw(ApiKey::Metadata as i16, 9, 2);
    compact.push(0);
    compact.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x08]);
    for (what, body) in [("int32 count", classic), ("varint count", compact)] {
        let mut conn = RawConn::connect(broker.addr());
        conn.send_frame(&body);
        expect_answer_or_close(&mut conn, &format!("hostile array ({what})"));
    }
}

/// Seeded random bodies behind valid-looking headers of real API keys. Fetch
/// is left out: a random `max_wait_ms` is a legitimate long poll.
fn random_bodies(broker: &Broker) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    for i in 0..FUZZ_FRAMES {
        let key = loop {
            let key: i16 = rng.gen_range(0..=75);
            if key != ApiKey::Fetch as i16 {
                break key;
            }
        };
        let version: i16 = rng.gen_range(0..=13);
        let mut body = encode_header_v1_raw(key, version, i as i32);
        let len = rng.gen_range(0..200);
        body.extend((0..len).map(|_| rng.gen::<u8>()));
        let mut conn = RawConn::connect(broker.addr());
        conn.send_frame(&body);
        expect_answer_or_close(
            &mut conn,
            &format!("random body #{i} (key {key} v{version})"),
        );
    }
}

fn batch_bytes(corrupt: bool) -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms(),
        key: Some(Bytes::from_static(b"raw-key")),
        value: Some(Bytes::from_static(
            b"raw value that must not be stored if corrupt",
        )),
        headers: IndexMap::new(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("encode batch");
    if corrupt {
        // Flip one bit inside the value: covered by the CRC, nothing else.
        let at = buf.len() - 10;
        buf[at] ^= 0x01;
    }
    buf.freeze()
}

fn produce_raw(broker: &Broker, topic: &str, corrupt: bool) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch_bytes(corrupt)))])]);
    let mut conn = RawConn::connect(broker.addr());
    conn.send_frame(&encode_request(ApiKey::Produce, 7, 9, &request));
    let frame = match conn.read_reply() {
        Reply::Frame(frame) => frame,
        other => panic!("Produce (corrupt={corrupt}): expected a response, got {other:?}"),
    };
    let (id, response): (i32, ProduceResponse) = decode_response(frame, ApiKey::Produce, 7);
    assert_eq!(id, 9);
    response.responses[0].partition_responses[0].error_code
}

fn bad_crc(broker: &Broker) {
    let topic = "raw-produce";
    create_topic(&broker.bootstrap(), topic, 1, &[]);
    assert_eq!(
        produce_raw(broker, topic, false),
        0,
        "a valid raw batch was refused"
    );
    assert_eq!(produce_raw(broker, topic, true), CORRUPT_MESSAGE);
    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, topic, 0),
        (0, 1),
        "the corrupt batch was stored"
    );
}

#[test]
fn bad_input_never_disturbs_a_well_behaved_client() {
    let max = REQUEST_BYTES_MAX.to_string();
    let mut broker = Broker::start(&["--request-bytes-max", &max]);
    let mut steady = Steady::new(&broker);
    steady.check(&mut broker, "start");
    let cases: [(&str, BadInput); 10] = [
        ("truncated frame", truncated_frame),
        ("frame shorter than header", frame_shorter_than_header),
        ("oversized frame", oversized_frame),
        ("huge and negative lengths", huge_and_negative_lengths),
        ("unknown API key", unknown_api_key),
        ("unsupported version", unsupported_version),
        ("HTTP request", http_request),
        ("bad CRC", bad_crc),
        ("hostile array counts", hostile_array_counts),
        ("random bodies", random_bodies),
    ];
    for (name, case) in cases {
        case(&broker);
        steady.check(&mut broker, name);
    }
    broker.stop();
}
