//! A response frame as it goes to the socket: encoded bytes, interleaved with
//! ranges of segment files that are sent with `sendfile(2)`, so fetched
//! records go from the page cache to the socket without passing through our
//! memory. Most responses are one piece of bytes.

use bytes::{BufMut, BytesMut};
use log::FileRange;
use std::io;
use std::os::unix::fs::FileExt;
use tokio::io::Interest;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// File ranges shorter than this are copied into the frame: for small
/// records one `write` beats a `write` plus a `sendfile` per partition.
pub(crate) const SENDFILE_MIN_BYTES: u64 = 16 * 1024;
/// Largest single `sendfile` call, so one huge range cannot hog a worker.
const SENDFILE_STEP_BYTES: u64 = 1 << 20;

#[derive(Debug)]
enum Part {
    Bytes(BytesMut),
    File(FileRange),
}

/// A complete frame, length prefix included.
#[derive(Debug)]
pub(crate) struct Frame {
    parts: Vec<Part>,
}

impl From<BytesMut> for Frame {
    fn from(bytes: BytesMut) -> Frame {
        Frame {
            parts: vec![Part::Bytes(bytes)],
        }
    }
}

impl Frame {
    /// Writes the frame to `socket`.
    pub(crate) async fn write_to<W: AsRef<TcpStream> + AsyncWrite + Unpin>(
        &self,
        socket: &mut W,
    ) -> io::Result<()> {
        for part in &self.parts {
            match part {
                Part::Bytes(bytes) => socket.write_all(bytes).await?,
                Part::File(range) => send_file(socket.as_ref(), range).await?,
            }
        }
        Ok(())
    }

    /// The frame's bytes, file ranges read into memory (for tests).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for part in &self.parts {
            match part {
                Part::Bytes(bytes) => out.extend_from_slice(bytes),
                Part::File(range) => out.extend(range.to_vec()?),
            }
        }
        Ok(out)
    }
}

/// Builds a frame from encoded pieces and file ranges; the length prefix is
/// filled in by [`FrameBuilder::finish`].
pub(crate) struct FrameBuilder {
    parts: Vec<Part>,
    current: BytesMut,
    len: u64,
}

impl FrameBuilder {
    pub(crate) fn new() -> FrameBuilder {
        let mut current = BytesMut::with_capacity(4096);
        current.put_i32(0); // length prefix, set by finish()
        FrameBuilder {
            parts: Vec::new(),
            current,
            len: 0,
        }
    }

    /// Where encoded bytes go.
    pub(crate) fn bytes(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// Appends a file range: copied now when small, sent from the file
    /// later otherwise.
    pub(crate) fn file(&mut self, range: FileRange) -> io::Result<()> {
        if range.len == 0 {
            return Ok(());
        }
        if range.len < SENDFILE_MIN_BYTES {
            let start = self.current.len();
            self.current.resize(start + range.len as usize, 0);
            return range
                .file
                .read_exact_at(&mut self.current[start..], range.position);
        }
        self.len += range.len;
        let bytes = std::mem::take(&mut self.current);
        self.len += bytes.len() as u64;
        self.parts.push(Part::Bytes(bytes));
        self.parts.push(Part::File(range));
        Ok(())
    }

    /// Sets the length prefix. Fails when the frame exceeds what an i32
    /// length can say.
    pub(crate) fn finish(mut self) -> Result<Frame, String> {
        let bytes = std::mem::take(&mut self.current);
        self.len += bytes.len() as u64;
        if !bytes.is_empty() {
            self.parts.push(Part::Bytes(bytes));
        }
        let size = i32::try_from(self.len - 4)
            .map_err(|_| format!("response of {} bytes is too large", self.len))?;
        let Some(Part::Bytes(first)) = self.parts.first_mut() else {
            unreachable!("the length prefix starts the first part");
        };
        first[..4].copy_from_slice(&size.to_be_bytes());
        Ok(Frame { parts: self.parts })
    }
}

/// Sends `range` from its file straight to the socket.
async fn send_file(socket: &TcpStream, range: &FileRange) -> io::Result<()> {
    let mut offset = range.position;
    let end = range.position + range.len;
    while offset < end {
        socket.writable().await?;
        let step = (end - offset).min(SENDFILE_STEP_BYTES) as usize;
        let sent = socket.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(socket, &*range.file, Some(&mut offset), step)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment file ended inside a fetched range",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A frame with bytes, a range sent by sendfile, a range copied inline
    /// and an empty range arrives over a real socket exactly as `to_vec`
    /// says, length prefix included.
    #[tokio::test]
    async fn a_frame_crosses_a_socket_byte_for_byte() {
        let mut file = tempfile::tempfile().unwrap();
        let contents: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        file.write_all(&contents).unwrap();
        let file = Arc::new(file);
        let range = |position: u64, len: u64| FileRange {
            file: file.clone(),
            position,
            len,
        };
        let mut builder = FrameBuilder::new();
        builder.bytes().put_slice(b"head");
        builder.file(range(10, 2_500_000)).unwrap();
        builder.bytes().put_slice(b"mid");
        builder.file(range(7, SENDFILE_MIN_BYTES - 1)).unwrap();
        builder.file(range(0, 0)).unwrap();
        builder.bytes().put_slice(b"tail");
        let frame = builder.finish().unwrap();
        let expected = frame.to_vec().unwrap();
        assert_eq!(expected.len(), 4 + 4 + 2_500_000 + 3 + 16 * 1024 - 1 + 4);
        assert_eq!(&expected[..4], &((expected.len() - 4) as i32).to_be_bytes());

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).await.unwrap();
            got
        });
        let socket = TcpStream::connect(address).await.unwrap();
        let (_, mut writer) = socket.into_split();
        frame.write_to(&mut writer).await.unwrap();
        writer.shutdown().await.unwrap();
        drop(writer);
        assert_eq!(reader.await.unwrap(), expected);
    }
}
