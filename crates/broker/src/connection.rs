//! One client connection: length-prefixed framing, pipelined requests
//! answered strictly in order, and the per-connection limits.
//!
//! A reader task turns bytes into frames and hands them over a channel bounded
//! by the in-flight limit; the connection task runs up to that many handlers
//! concurrently (a `FuturesOrdered`, so answers leave in request order) and
//! writes each answer as it becomes next in line. A frame that breaks the
//! rules (negative or oversized length, a header we cannot parse, an API we do
//! not serve) closes this connection only.

use crate::dispatch::{self, Reject};
use crate::frame_pool::{FramePool, POOLED_FRAME_MIN_BYTES};
use crate::Broker;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::io;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// Why the reader stopped.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("frame length {0} is outside 8..={1}")]
    BadLength(i64, usize),
    #[error("connection closed mid-frame")]
    Truncated,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Serves one connection until the client leaves, breaks a rule, or
/// `shutdown` fires; in-flight requests are answered before returning.
pub(crate) async fn serve(
    broker: Arc<Broker>,
    socket: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = socket.peer_addr().ok();
    let _ = socket.set_nodelay(true);
    if let Some(bytes) = send_buffer_bytes() {
        // Advice only: a socket that keeps the kernel's choice still works.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&socket, bytes);
    }
    let (reader, mut writer) = socket.into_split();
    let in_flight_max = broker.config.limits.in_flight_per_connection_max.max(1);
    let (frames_tx, mut frames_rx) = mpsc::channel::<Bytes>(in_flight_max);
    let request_bytes_max = broker.config.limits.request_bytes_max;
    let pool = broker.frame_pool.clone();
    let reader_task = tokio::spawn(async move {
        let result = read_frames(reader, request_bytes_max, &pool, frames_tx).await;
        if let Err(error) = &result {
            tracing::info!(?peer, %error, "closing connection: bad frame");
        }
    });

    let mut pending = FuturesOrdered::new();
    let mut reading = true;
    loop {
        tokio::select! {
            frame = frames_rx.recv(), if reading && pending.len() < in_flight_max => match frame {
                Some(frame) => {
                    let broker = broker.clone();
                    pending.push_back(async move { dispatch::dispatch(&broker, frame, peer).await });
                }
                None => reading = false,
            },
            Some(answer) = pending.next() => match answer {
                Ok(Some(response)) => {
                    if let Err(error) = response.write_to(&mut writer).await {
                        tracing::debug!(?peer, %error, "client went away");
                        break;
                    }
                }
                Ok(None) => {}
                Err(reject) => {
                    log_reject(peer, &reject);
                    break;
                }
            },
            _ = shutdown.changed(), if reading => {
                // Stop taking requests; answer what was already read.
                reading = false;
                frames_rx.close();
            }
            else => break,
        }
    }
    reader_task.abort();
    let _ = reader_task.await;
    let _ = writer.shutdown().await;
}

/// The send buffer to ask for on each connection, when asking gets more
/// than the kernel's own tuning would; decided once per process.
///
/// A fetch answer of 8 partitions at librdkafka's defaults is about 8 MB,
/// sent by `sendfile`. Linux grows a socket's send buffer by itself up to
/// `net.ipv4.tcp_wmem`'s maximum (4 MiB by default), so the answer goes out
/// in rounds: the buffer fills, `sendfile` returns EAGAIN, the connection
/// waits for the reader to drain it, and so on. An explicit `SO_SNDBUF` of
/// N gets 2N, but only up to twice `net.core.wmem_max`, which is 208 KiB
/// on many distributions: there asking would shrink the buffer, so Weir
/// asks only where `2 × wmem_max` beats the automatic maximum. On the
/// development VM (both 4 MiB) one consumer re-reading 2 GB from the page
/// cache cost the broker 0.71-0.82 CPU-seconds with the 8 MiB this asks
/// for against 0.99-1.15 without, and read at 518-676 MB/s against
/// 435-561 (four alternating rounds each). Five groups reading at once,
/// short of CPU either way, were no faster. Memory is used only by what is
/// queued, which is page-cache references for `sendfile`d records.
fn send_buffer_bytes() -> Option<usize> {
    static BYTES: OnceLock<Option<usize>> = OnceLock::new();
    *BYTES.get_or_init(|| {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        send_buffer_request(
            &read("/proc/sys/net/core/wmem_max")?,
            &read("/proc/sys/net/ipv4/tcp_wmem")?,
        )
    })
}

/// What to ask for given the text of `net.core.wmem_max` and
/// `net.ipv4.tcp_wmem` ("min default max"): `wmem_max`, if the 2× the
/// kernel grants for it beats the automatic maximum.
fn send_buffer_request(wmem_max: &str, tcp_wmem: &str) -> Option<usize> {
    let requestable: usize = wmem_max.trim().parse().ok()?;
    let automatic: usize = tcp_wmem.split_whitespace().nth(2)?.parse().ok()?;
    (requestable.saturating_mul(2) > automatic).then_some(requestable)
}

fn log_reject(peer: Option<std::net::SocketAddr>, reject: &Reject) {
    match reject {
        Reject::Encode { .. } => tracing::error!(?peer, %reject, "closing connection"),
        _ => tracing::info!(?peer, %reject, "closing connection"),
    }
}

/// Reads frames until EOF or a rule is broken. Sending blocks while the
/// in-flight limit is reached, which stops reading from the socket: TCP then
/// slows the client down.
///
/// Frames of [`POOLED_FRAME_MIN_BYTES`] or more (produce requests) are read
/// into buffers from `pool`, reused once their requests are answered; smaller
/// ones are split off one read buffer per connection, which they reuse the
/// same way. Room for a whole frame is reserved up front: new room is address
/// space only, and pages are touched as bytes arrive, so a client that
/// announces a large frame and sends little costs little.
async fn read_frames(
    mut reader: impl AsyncRead + Unpin,
    request_bytes_max: usize,
    pool: &Arc<FramePool>,
    frames: mpsc::Sender<Bytes>,
) -> Result<(), FrameError> {
    let mut small = BytesMut::new();
    loop {
        let mut prefix = [0u8; 4];
        let got = reader.read(&mut prefix).await?;
        if got == 0 {
            return Ok(()); // clean close between frames
        }
        reader
            .read_exact(&mut prefix[got..])
            .await
            .map_err(|error| match error.kind() {
                io::ErrorKind::UnexpectedEof => FrameError::Truncated,
                _ => error.into(),
            })?;
        let length = i32::from_be_bytes(prefix);
        let length = usize::try_from(length)
            .ok()
            .filter(|&n| n >= dispatch::HEADER_PREFIX_BYTES && n <= request_bytes_max)
            .ok_or(FrameError::BadLength(length.into(), request_bytes_max))?;
        let frame = if length >= POOLED_FRAME_MIN_BYTES {
            let mut buf = pool.take(length);
            read_body(&mut reader, &mut buf, length).await?;
            pool.frame(buf)
        } else {
            small.reserve(length);
            read_body(&mut reader, &mut small, length).await?;
            small.split_to(length).freeze()
        };
        if frames.send(frame).await.is_err() {
            return Ok(()); // the connection is shutting down
        }
    }
}

/// Reads from `reader` until `buf` holds `length` bytes.
async fn read_body(
    reader: &mut (impl AsyncRead + Unpin),
    buf: &mut impl BufMut,
    length: usize,
) -> Result<(), FrameError> {
    let mut filled = 0;
    while filled < length {
        let mut limited = (&mut *reader).take((length - filled) as u64);
        match limited.read_buf(buf).await? {
            0 => return Err(FrameError::Truncated),
            n => filled += n,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames_of(input: Vec<u8>, max: usize) -> (Vec<Bytes>, Result<(), FrameError>) {
        let (tx, mut rx) = mpsc::channel(64);
        let pool = Arc::new(FramePool::default());
        let result = read_frames(&input[..], max, &pool, tx).await;
        let mut out = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            out.push(frame);
        }
        (out, result)
    }

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn reads_back_to_back_frames() {
        let mut input = framed(&[1; 8]);
        input.extend(framed(&[2; 20]));
        let (frames, result) = frames_of(input, 100).await;
        assert!(result.is_ok());
        assert_eq!(frames.len(), 2);
        assert_eq!(&frames[1][..], &[2; 20]);
    }

    /// Frames on either side of the pooling size, small ones between large
    /// ones, arrive whole and in order; a large frame cut short is an error.
    #[tokio::test]
    async fn large_frames_come_whole_from_pooled_buffers() {
        let sizes = [
            POOLED_FRAME_MIN_BYTES - 1,
            POOLED_FRAME_MIN_BYTES,
            40,
            3 * POOLED_FRAME_MIN_BYTES + 5,
        ];
        let bodies: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|b| (b % 251) as u8 ^ i as u8).collect())
            .collect();
        let input: Vec<u8> = bodies.iter().flat_map(|b| framed(b)).collect();
        let (frames, result) = frames_of(input.clone(), 1 << 20).await;
        assert!(result.is_ok());
        assert_eq!(frames.len(), bodies.len());
        for (frame, body) in frames.iter().zip(&bodies) {
            assert_eq!(&frame[..], &body[..]);
        }
        let (frames, result) = frames_of(input[..input.len() - 1].to_vec(), 1 << 20).await;
        assert_eq!(frames.len(), bodies.len() - 1);
        assert!(matches!(result, Err(FrameError::Truncated)), "{result:?}");
    }

    #[tokio::test]
    async fn truncation_at_every_byte_is_an_error_or_clean_eof() {
        let mut input = framed(&[7; 12]);
        input.extend(framed(&[9; 8]));
        for cut in 0..input.len() {
            let (frames, result) = frames_of(input[..cut].to_vec(), 100).await;
            let complete = match cut {
                0 => 0,
                c if c < 16 => 0,
                c if c < 28 => 1,
                _ => 2,
            };
            assert_eq!(frames.len(), complete, "cut at {cut}");
            let clean = cut == 0 || cut == 16;
            assert_eq!(result.is_ok(), clean, "cut at {cut}: {result:?}");
        }
    }

    #[tokio::test]
    async fn lengths_outside_the_limits_are_refused_before_reading() {
        for length in [-1i32, 0, 7, 101, i32::MAX] {
            let (frames, result) = frames_of(length.to_be_bytes().to_vec(), 100).await;
            assert!(frames.is_empty());
            assert!(matches!(result, Err(FrameError::BadLength(..))), "{length}");
        }
    }

    #[test]
    fn the_send_buffer_is_asked_for_only_where_asking_gets_more() {
        let cases = [
            // (wmem_max, tcp_wmem, request): the development VM's values,
            // a common distribution default, and unreadable text.
            ("4194304\n", "4096\t16384\t4194304\n", Some(4_194_304)),
            ("212992\n", "4096\t16384\t4194304\n", None),
            ("2097152", "4096 16384 4194304", None),
            ("16777216", "4096 87380 16777216", Some(16_777_216)),
            ("", "4096 16384 4194304", None),
            ("4194304", "4096 16384", None),
            ("4194304", "a b c", None),
        ];
        for (wmem_max, tcp_wmem, expected) in cases {
            assert_eq!(
                send_buffer_request(wmem_max, tcp_wmem),
                expected,
                "{wmem_max:?} {tcp_wmem:?}"
            );
        }
    }
}
