//! The in-process test harness shared by the broker's integration tests: a
//! real [`Server`] on an ephemeral port over a temporary (or given) data
//! directory, and a raw Kafka client that encodes requests with
//! `kafka-protocol`. Scenarios live in the test files, not here.

#![allow(dead_code)] // each test file uses a different part of it

use broker::{BrokerConfig, Server};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use log::{FlushPolicy, Store, StoreOptions, TopicConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Bounds every wait in these tests; none asserts a duration.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestBroker {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestBroker {
    /// Starts a broker on `data_dir` with `config` (its `listen` is replaced
    /// by an ephemeral port).
    pub async fn start_in(data_dir: &Path, flush: FlushPolicy, config: BrokerConfig) -> TestBroker {
        let store = Store::open(StoreOptions {
            data_dir: data_dir.to_path_buf(),
            flush,
            defaults: TopicConfig::default(),
            index_interval_bytes: 4096,
            partitions_max: 1000,
            page_cache_window_bytes: None,
        })
        .unwrap();
        let config = BrokerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        };
        let server = Server::bind(config, store.clone()).await.unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            store.shutdown().unwrap();
        });
        TestBroker {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and shuts the store down (the data directory stays).
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task.take().unwrap())
            .await
            .unwrap()
            .unwrap();
    }
}

pub struct Client {
    /// For tests that write hand-made frames.
    pub socket: TcpStream,
    next_correlation: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            socket: TcpStream::connect(addr).await.unwrap(),
            next_correlation: 1,
        }
    }

    /// Writes one request and returns its correlation id.
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let correlation = self.next_correlation;
        self.next_correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("broker-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .unwrap();
        request.encode(&mut body, version).unwrap();
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.socket.write_all(&frame).await.unwrap();
        correlation
    }

    /// Reads one response frame: (correlation id, body after the header).
    pub async fn receive<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
        let read = async {
            let length = self.socket.read_i32().await.unwrap() as usize;
            let mut frame = vec![0; length];
            self.socket.read_exact(&mut frame).await.unwrap();
            Bytes::from(frame)
        };
        let mut frame = tokio::time::timeout(WAIT, read)
            .await
            .expect("response in time");
        let header =
            ResponseHeader::decode(&mut frame, R::Response::header_version(version)).unwrap();
        let response = R::Response::decode(&mut frame, version).unwrap();
        assert!(!frame.has_remaining(), "response has trailing bytes");
        (header.correlation_id, response)
    }

    pub async fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let sent = self.send(version, request).await;
        let (received, response) = self.receive::<R>(version).await;
        assert_eq!(sent, received);
        response
    }
}

pub fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

pub fn str(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Creates `topic` through Metadata auto-creation (default partitions).
pub async fn create_topic(client: &mut Client, topic: &str, partitions: i32) {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(name(topic)))]))
        .with_allow_auto_topic_creation(true);
    let response = client.call(12, &request).await;
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(response.topics[0].partitions.len(), partitions as usize);
}
