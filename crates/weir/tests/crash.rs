//! Crash safety: while a librdkafka producer with `acks=all` streams records,
//! the broker is killed with SIGKILL, then started again on the same data
//! directory, round after round. After every restart each acknowledged
//! record must be readable at its acknowledged offset, offsets must be
//! contiguous from 0, and every record must be intact (its value carries a
//! self-check). Records sent but not acknowledged may or may not survive.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{consume_exact, consumer, create_topic, watermarks, Broker, Got, WAIT_MAX};
use rand::{Rng, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};

const ROUNDS: u32 = 12;
const PARTITION_COUNT: i32 = 2;
/// Upper bound on records sent per round (the kill usually comes earlier).
const SENDS_PER_ROUND_MAX: u64 = 6_000;
/// Acknowledged records to wait for before the kill, drawn per round.
/// Sent but unacknowledged records allowed at once.
const IN_FLIGHT_MAX: u64 = 300;
const ACKS_BEFORE_KILL_MIN: usize = 20;
const ACKS_BEFORE_KILL_MAX: usize = 1_500;
const SEED: u64 = 0x5745_4952;

/// (partition, offset) -> sequence number of every acknowledged record.
type Acked = Arc<Mutex<BTreeMap<(i32, i64), u64>>>;

struct AckLog {
    acked: Acked,
}

impl ClientContext for AckLog {}

impl ProducerContext for AckLog {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        // No panics here: this runs inside librdkafka's callback. A reused
        // offset is recorded under offset -1 - seq and fails `verify`.
        if let Ok(message) = result {
            let key = (message.partition(), message.offset());
            let mut acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
            if acked.insert(key, *seq).is_some() {
                acked.insert((message.partition(), -1 - *seq as i64), *seq);
            }
        }
    }
}

/// Value of record `seq`: a header naming it, then filler derived from it,
/// so a truncated or garbled record cannot pass as another.
fn value_of(seq: u64) -> Vec<u8> {
    let filler_len = (seq % 300) as usize;
    let mut value = format!("seq={seq:012};len={filler_len};").into_bytes();
    value.extend((0..filler_len).map(|i| b'a' + ((seq as usize + i) % 26) as u8));
    value
}

fn seq_of(g: &Got) -> u64 {
    let value = g
        .value
        .as_deref()
        .unwrap_or_else(|| panic!("record without value {g:?}"));
    let text = std::str::from_utf8(&value[..value.len().min(30)]).expect("utf8 header");
    let seq: u64 = text
        .strip_prefix("seq=")
        .and_then(|t| t.get(..12))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("garbled record at {}/{}", g.partition, g.offset));
    assert_eq!(value, value_of(seq).as_slice(), "garbled record {seq}");
    assert_eq!(
        g.key.as_deref(),
        Some(format!("k{seq}").as_bytes()),
        "garbled key {seq}"
    );
    seq
}

fn crash_producer(bootstrap: &str, acked: &Acked) -> ThreadedProducer<AckLog> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "20000")
        .create_with_context(AckLog {
            acked: Arc::clone(acked),
        })
        .expect("create producer")
}

/// Streams records until `kill_after` are acknowledged (or the send bound is
/// reached), then SIGKILLs the broker while requests are still in flight.
/// At most `IN_FLIGHT_MAX` records are unacknowledged at a time, so the
/// stream is steady and the kill lands in the middle of it.
fn produce_then_kill(
    broker: &mut Broker,
    topic: &str,
    next_seq: &mut u64,
    kill_after: usize,
    acked: &Acked,
) {
    let producer = crash_producer(&broker.bootstrap(), acked);
    let deadline = Instant::now() + WAIT_MAX;
    let end_seq = *next_seq + SENDS_PER_ROUND_MAX;
    let acked_before = acked.lock().expect("ack lock").len() as u64;
    let sent_before = *next_seq;
    loop {
        let acked_now = acked.lock().expect("ack lock").len();
        if acked_now >= kill_after {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "too few acknowledgements before the deadline"
        );
        let in_flight = (*next_seq - sent_before).saturating_sub(acked_now as u64 - acked_before);
        if *next_seq >= end_seq || in_flight >= IN_FLIGHT_MAX {
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        send_one(&producer, topic, next_seq);
    }
    broker.kill9();
    producer.purge(PurgeConfig::default().queue().inflight());
    drop(producer);
}

fn send_one(producer: &ThreadedProducer<AckLog>, topic: &str, next_seq: &mut u64) {
    let seq = *next_seq;
    let key = format!("k{seq}");
    let value = value_of(seq);
    let record = BaseRecord::with_opaque_to(topic, Box::new(seq))
        .partition((seq % PARTITION_COUNT as u64) as i32)
        .key(&key)
        .payload(&value);
    match producer.send(record) {
        Ok(()) => *next_seq += 1,
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
            thread::sleep(Duration::from_millis(1))
        }
        Err((e, _)) => panic!("send failed: {e}"),
    }
}

fn verify(broker: &Broker, topic: &str, acked: &BTreeMap<(i32, i64), u64>, round: u32) {
    let consumer = consumer(&broker.bootstrap(), &[]);
    let mut total = 0;
    for p in 0..PARTITION_COUNT {
        let (low, high) = watermarks(&consumer, topic, p);
        assert_eq!(low, 0, "round {round}: partition {p} lost its start");
        total += high as usize;
    }
    let partitions: Vec<i32> = (0..PARTITION_COUNT).collect();
    let got = consume_exact(&consumer, topic, &partitions, total);
    let mut stored: BTreeMap<(i32, i64), u64> = BTreeMap::new();
    for g in &got {
        let seq = seq_of(g);
        assert!(
            stored.insert((g.partition, g.offset), seq).is_none(),
            "duplicate offset"
        );
    }
    for p in 0..PARTITION_COUNT {
        let offsets: Vec<i64> = stored
            .keys()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        let want: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(
            offsets, want,
            "round {round}: partition {p} offsets not contiguous"
        );
    }
    eprintln!(
        "round {round}: {} acknowledged, {} stored after restart",
        acked.len(),
        stored.len()
    );
    for (at, seq) in acked {
        assert!(
            at.1 >= 0,
            "round {round}: offset reused, seq {seq} acknowledged at a taken offset"
        );
        match stored.get(at) {
            Some(found) if found == seq => {}
            found => {
                panic!("round {round}: acknowledged seq {seq} at {at:?} is {found:?} after restart")
            }
        }
    }
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut broker = Broker::start(&[]);
    let topic = "crash";
    create_topic(&broker.bootstrap(), topic, PARTITION_COUNT, &[]);
    let acked: Acked = Arc::new(Mutex::new(BTreeMap::new()));
    let mut next_seq = 0;
    for round in 0..ROUNDS {
        let already = acked.lock().expect("ack lock").len();
        let kill_after = already + rng.gen_range(ACKS_BEFORE_KILL_MIN..=ACKS_BEFORE_KILL_MAX);
        produce_then_kill(&mut broker, topic, &mut next_seq, kill_after, &acked);
        broker.restart();
        let snapshot = acked.lock().expect("ack lock").clone();
        verify(&broker, topic, &snapshot, round);
    }
    broker.stop();
}
