//! One WebSocket connection to an edge: the handshake, a reader task that parses frames into
//! a bounded channel (reserving a slot before each read), and a writer half.

use bytes::Bytes;
use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError, WebSocketWrite};
use http_body_util::Empty;
use hyper::Request;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tether_protocol::ws::{ClientMsg, ServerMsg, decode_binary, encode_binary_json};
use tokio::io::WriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What the reader hands over.
#[derive(Debug)]
pub enum Inbound {
    /// A message, with the payload when it came in a binary frame.
    Msg(ServerMsg, Option<Bytes>),
    /// The server closed with this code and reason.
    Closed(u16, String),
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("bad URL {0:?}: expected ws://host:port/path")]
    BadUrl(String),
    #[error("connecting to {0}: {1}")]
    Io(String, std::io::Error),
    #[error("handshake with {url} failed: {message}")]
    Handshake { url: String, message: String, status: Option<u16> },
}

type Writer = WebSocketWrite<WriteHalf<TokioIo<Upgraded>>>;

pub struct Conn {
    wr: Writer,
    reader: tokio::task::JoinHandle<()>,
}

/// The receiving side of a connection, kept apart from the writer so a select loop can wait
/// on it while writing.
pub struct ConnRx {
    pub inbound: mpsc::Receiver<Inbound>,
    /// Pongs owed to the server's pings (the reader cannot write).
    pub pongs: mpsc::Receiver<Vec<u8>>,
}

fn split_url(url: &str) -> Result<(String, String), ConnectError> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| ConnectError::BadUrl(url.into()))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/v1/ws"),
    };
    if host.is_empty() {
        return Err(ConnectError::BadUrl(url.into()));
    }
    Ok((host.to_owned(), path.to_owned()))
}

impl Conn {
    pub async fn connect(url: &str, token: Option<&str>, buffer: usize) -> Result<(Self, ConnRx), ConnectError> {
        let (host, path) = split_url(url)?;
        let tcp = TcpStream::connect(&host).await.map_err(|e| ConnectError::Io(host.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        let mut req = Request::builder()
            .method("GET")
            .uri(&path)
            .header("Host", &host)
            .header("Upgrade", "websocket")
            .header("Connection", "upgrade")
            .header("Sec-WebSocket-Key", fastwebsockets::handshake::generate_key())
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Protocol", tether_protocol::ws::SUBPROTOCOL);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| ConnectError::BadUrl(e.to_string()))?;
        let (ws, _resp) = fastwebsockets::handshake::client(&TokioExecutor::new(), req, tcp).await.map_err(|e| {
            let status = match &e {
                WebSocketError::InvalidStatusCode(s) => Some(*s),
                _ => None,
            };
            ConnectError::Handshake { url: url.into(), message: e.to_string(), status }
        })?;
        let (rd, wr) = ws.split(tokio::io::split);
        let (tx, inbound) = mpsc::channel(buffer);
        let (pong_tx, pong_rx) = mpsc::channel(4);
        let reader = tokio::spawn(read_loop(FragmentCollectorRead::new(rd), tx, pong_tx));
        Ok((Self { wr, reader }, ConnRx { inbound, pongs: pong_rx }))
    }

    pub async fn send(&mut self, msg: &ClientMsg) -> Result<(), WebSocketError> {
        let text = serde_json::to_vec(msg).expect("messages serialise");
        self.wr.write_frame(Frame::text(Payload::Owned(text))).await
    }

    /// Sends `msg` (a publish without `data`) with `payload` in a binary frame.
    pub async fn send_binary(&mut self, msg: &ClientMsg, payload: &[u8]) -> Result<(), WebSocketError> {
        let header = serde_json::to_vec(msg).expect("messages serialise");
        let frame = encode_binary_json(&header, payload);
        self.wr.write_frame(Frame::binary(Payload::Borrowed(&frame))).await
    }

    pub async fn write_pong(&mut self, p: Vec<u8>) -> Result<(), WebSocketError> {
        self.wr.write_frame(Frame::pong(Payload::Owned(p))).await
    }

    pub async fn close(mut self, code: u16) {
        let _ = self.wr.write_frame(Frame::close(code, b"")).await;
        self.reader.abort();
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_loop<R: tokio::io::AsyncRead + Unpin>(
    mut rd: FragmentCollectorRead<R>,
    tx: mpsc::Sender<Inbound>,
    pongs: mpsc::Sender<Vec<u8>>,
) {
    loop {
        let Ok(permit) = tx.reserve().await else { return };
        let mut obligated = |f: Frame<'_>| {
            let pong = (f.opcode == OpCode::Pong).then(|| f.payload.to_vec());
            let pongs = pongs.clone();
            async move {
                if let Some(p) = pong {
                    let _ = pongs.try_send(p);
                }
                Ok::<(), std::io::Error>(())
            }
        };
        let item = match rd.read_frame(&mut obligated).await {
            Ok(f) => match f.opcode {
                OpCode::Text => match serde_json::from_slice::<ServerMsg>(&f.payload) {
                    Ok(m) => Inbound::Msg(m, None),
                    Err(e) => Inbound::Failed(format!("unparsable server message: {e}")),
                },
                OpCode::Binary => match decode_binary(&f.payload) {
                    Ok((h, p)) => match serde_json::from_slice::<ServerMsg>(h) {
                        Ok(m) => Inbound::Msg(m, Some(Bytes::copy_from_slice(p))),
                        Err(e) => Inbound::Failed(format!("unparsable binary header: {e}")),
                    },
                    Err(e) => Inbound::Failed(e.to_string()),
                },
                OpCode::Close => {
                    let code = f.payload.get(..2).map_or(1005, |b| u16::from_be_bytes([b[0], b[1]]));
                    let reason =
                        f.payload.get(2..).map(|r| String::from_utf8_lossy(r).into_owned()).unwrap_or_default();
                    Inbound::Closed(code, reason)
                }
                _ => continue,
            },
            Err(e) => Inbound::Failed(e.to_string()),
        };
        let last = !matches!(item, Inbound::Msg(..));
        permit.send(item);
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(split_url("ws://127.0.0.1:9/v1/ws").unwrap(), ("127.0.0.1:9".into(), "/v1/ws".into()));
        assert_eq!(split_url("ws://h:1").unwrap(), ("h:1".into(), "/v1/ws".into()));
        assert!(split_url("http://h:1").is_err());
    }
}
