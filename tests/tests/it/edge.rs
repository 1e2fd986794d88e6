//! `tether-edge` in front of `tether-state`: the WebSocket protocol (backlog then live,
//! verdicts, sessions, publishes), JWT refusals, the HTTP proxy, slow consumers and drain.

use std::time::Duration;

use tether_client::conn::{Conn, ConnRx, Inbound};
use tether_edge::auth::mint_hs256;
use tether_protocol::ws::{ClientMsg, CloseCode, ErrorCode, From, ResetReason, ServerMsg, Verdict};
use tether_protocol::{Offset, StreamName};
use tether_tests::{EdgeProcess, StateProcess};

pub const SECRET: &str = "test-secret-of-enough-length-0123456789";

/// How long any single expected message may take before the test fails (not a sleep).
const WAIT: Duration = Duration::from_secs(20);

pub fn token(sub: &str, read: &[&str], write: &[&str], ttl: Duration) -> String {
    mint_hs256(SECRET.as_bytes(), sub, read, write, ttl, None, None)
}

pub fn name(s: &str) -> StreamName {
    StreamName::parse(s).expect("valid name")
}

/// An embedded state service and one edge using the test secret.
pub struct Stack {
    pub state: StateProcess,
    pub edge: EdgeProcess,
    _dir: tempfile::TempDir,
}

pub fn stack(edge_extra: &[&str]) -> Stack {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = StateProcess::start(&dir.path().join("state"), &[], &[]);
    let edge =
        EdgeProcess::start(&[&state.url], edge_extra, &[("TETHER_JWT_SECRET", SECRET)], &dir.path().join("edge.log"));
    Stack { state, edge, _dir: dir }
}

/// A raw protocol connection: every message the server sends is visible.
pub struct Raw {
    pub conn: Conn,
    pub rx: ConnRx,
}

impl Raw {
    pub async fn open(url: &str, token: Option<&str>) -> Raw {
        let (conn, rx) = Conn::connect(url, token, 1024).await.expect("connect");
        Raw { conn, rx }
    }

    /// Opens and consumes the welcome.
    pub async fn welcomed(url: &str, token: &str) -> (Raw, tether_protocol::SessionId) {
        let mut raw = Raw::open(url, Some(token)).await;
        match raw.next().await {
            ServerMsg::Welcome { session, .. } => (raw, session),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, m: ClientMsg) {
        self.conn.send(&m).await.expect("send");
    }

    pub async fn inbound(&mut self) -> Inbound {
        loop {
            let got = tokio::time::timeout(WAIT, async {
                tokio::select! {
                    m = self.rx.inbound.recv() => Some(m.expect("reader alive")),
                    p = self.rx.pongs.recv() => {
                        if let Some(p) = p { let _ = self.conn.write_pong(p).await; }
                        None
                    }
                }
            })
            .await
            .expect("a message within the deadline");
            if let Some(m) = got {
                return m;
            }
        }
    }

    pub async fn next(&mut self) -> ServerMsg {
        match self.inbound().await {
            Inbound::Msg(m, _) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The close code the server ends with (skipping messages before it).
    pub async fn close_code(&mut self) -> u16 {
        loop {
            match self.inbound().await {
                Inbound::Msg(..) => continue,
                Inbound::Closed(code, _) => return code,
                Inbound::Failed(e) => panic!("connection failed instead of closing: {e}"),
            }
        }
    }
}

async fn append(c: &reqwest::Client, url: &str, body: &str) -> String {
    let r = c.post(url).header("content-type", "text/plain").body(body.to_owned()).send().await.expect("append");
    assert!(r.status().is_success(), "append: {}", r.status());
    r.headers()["stream-next-offset"].to_str().expect("ascii").to_owned()
}

async fn create(c: &reqwest::Client, url: &str) {
    let r = c.put(url).header("content-type", "text/plain").send().await.expect("create");
    assert!(r.status().is_success(), "create: {}", r.status());
}

/// Collects chunk payloads of `stream` until `n` arrived; checks each continues the last.
async fn chunks(raw: &mut Raw, stream: &StreamName, n: usize, mut next: Offset) -> (Vec<String>, Offset) {
    let mut got = Vec::new();
    while got.len() < n {
        match raw.next().await {
            ServerMsg::Chunk { stream: s, offset, next: after, data } if &s == stream => {
                assert_eq!(offset, next, "chunks continue exactly where the last ended");
                next = after;
                got.push(data.expect("text chunk"));
            }
            ServerMsg::CaughtUp { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    (got, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_then_live_then_closed() {
    let s = stack(&[]);
    let c = reqwest::Client::new();
    let url = s.state.stream_url("chat/1");
    create(&c, &url).await;
    for i in 0..50 {
        append(&c, &url, &format!("old-{i}")).await;
    }
    let t = token("alice", &["chat/*"], &[], Duration::from_secs(600));
    let (mut raw, _) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    let stream = name("chat/1");
    raw.send(ClientMsg::Subscribe { id: 1, stream: stream.clone(), from: From::Start, binary: false }).await;
    let start = match raw.next().await {
        ServerMsg::Subscribed { id: Some(1), verdict: Verdict::Started, from, .. } => from,
        other => panic!("{other:?}"),
    };
    assert_eq!(start, Offset::ZERO);
    let (old, next) = chunks(&mut raw, &stream, 50, start).await;
    assert_eq!(old, (0..50).map(|i| format!("old-{i}")).collect::<Vec<_>>());
    // Live appends while subscribed arrive in order, without a gap or a repeat.
    let writer = tokio::spawn({
        let (c, url) = (c.clone(), url.clone());
        async move {
            for i in 0..200 {
                append(&c, &url, &format!("new-{i}")).await;
            }
            let r = c.post(&url).header("stream-closed", "true").send().await.expect("close");
            assert_eq!(r.status(), 204);
        }
    });
    let (new, next) = chunks(&mut raw, &stream, 200, next).await;
    assert_eq!(new, (0..200).map(|i| format!("new-{i}")).collect::<Vec<_>>());
    writer.await.expect("writer");
    loop {
        match raw.next().await {
            ServerMsg::Closed { stream: s, next: end } => {
                assert_eq!(s, stream);
                assert_eq!(end, next);
                break;
            }
            ServerMsg::CaughtUp { .. } => {}
            other => panic!("expected closed, got {other:?}"),
        }
    }
    // A closed stream stays replayable, from any offset.
    let mut again = Raw::welcomed(&s.edge.ws_url(), &t).await.0;
    again.send(ClientMsg::Subscribe { id: 2, stream: stream.clone(), from: From::At(start), binary: false }).await;
    assert!(matches!(again.next().await, ServerMsg::Subscribed { verdict: Verdict::Resumed, .. }));
    let (replayed, end) = chunks(&mut again, &stream, 250, start).await;
    assert_eq!(replayed.len(), 250);
    assert!(matches!(again.next().await, ServerMsg::Closed { next, .. } if next == end));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_and_missing_permissions_get_nothing() {
    let s = stack(&["--auth-timeout", "300ms"]);
    let c = reqwest::Client::new();
    create(&c, &s.state.stream_url("secret/1")).await;
    append(&c, &s.state.stream_url("secret/1"), "classified").await;
    let ws = s.edge.ws_url();
    // Expired and forged tokens are refused at the upgrade with 401.
    let expired_claims = past_token("bob");
    let forged =
        mint_hs256(b"not-the-secret-not-the-secret-000", "bob", &["**"], &[], Duration::from_secs(600), None, None);
    for bad in [&expired_claims, &forged, &"not.a.jwt".to_owned()] {
        match Conn::connect(&ws, Some(bad), 8).await {
            Err(tether_client::conn::ConnectError::Handshake { status: Some(401), .. }) => {}
            Err(e) => panic!("expected 401, got {e}"),
            Ok(_) => panic!("a bad token was accepted"),
        }
        let r =
            c.get(format!("{}/v1/stream/secret/1?offset=-1", s.edge.url)).bearer_auth(bad).send().await.expect("get");
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let body: serde_json::Value = r.json().await.expect("json error body");
        assert!(body["error"]["code"].as_str().expect("code").starts_with("token_"));
    }
    // No token and no auth frame: closed with the auth-timeout code.
    let mut raw = Raw::open(&ws, None).await;
    assert_eq!(raw.close_code().await, CloseCode::AuthTimeout.code());
    // A token without read permission: the reply names the stream, no data follows.
    let t = token("bob", &["public/**"], &[], Duration::from_secs(600));
    let (mut raw, _) = Raw::welcomed(&ws, &t).await;
    let stream = name("secret/1");
    raw.send(ClientMsg::Subscribe { id: 7, stream: stream.clone(), from: From::Start, binary: false }).await;
    match raw.next().await {
        ServerMsg::Error { id: Some(7), code: ErrorCode::Forbidden, stream: Some(s), .. } => assert_eq!(s, stream),
        other => panic!("expected forbidden, got {other:?}"),
    }
    raw.send(ClientMsg::Publish {
        id: 8,
        stream: stream.clone(),
        data: Some("x".into()),
        producer: None,
        content_type: None,
    })
    .await;
    assert!(matches!(raw.next().await, ServerMsg::Error { id: Some(8), code: ErrorCode::Forbidden, .. }));
    // Over HTTP: 403 with the stream named, for reads and writes.
    let r = c.get(format!("{}/v1/stream/secret/1?offset=-1", s.edge.url)).bearer_auth(&t).send().await.expect("get");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("secret/1"));
    // First-frame auth works when the upgrade had no token.
    let mut raw = Raw::open(&ws, None).await;
    raw.send(ClientMsg::Auth { id: None, token: token("carol", &["secret/**"], &[], Duration::from_secs(600)) }).await;
    assert!(matches!(raw.next().await, ServerMsg::Welcome { sub, .. } if sub == "carol"));
    raw.send(ClientMsg::Subscribe { id: 1, stream: stream.clone(), from: From::Start, binary: false }).await;
    assert!(matches!(raw.next().await, ServerMsg::Subscribed { .. }));
    let (got, _) = chunks(&mut raw, &stream, 1, Offset::ZERO).await;
    assert_eq!(got, ["classified"]);
}

/// A well-formed HS256 token that expired an hour ago.
fn past_token(sub: &str) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let claims = serde_json::json!({"sub": sub, "exp": now - 3600, "iat": now - 7200, "tether": {"read": ["**"]}});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resume_ends_in_a_verdict() {
    let s = stack(&[]);
    let c = reqwest::Client::new();
    let url = s.state.stream_url("v/1");
    create(&c, &url).await;
    let old = append(&c, &url, "a").await;
    append(&c, &url, "b").await;
    let t = token("dan", &["v/**"], &[], Duration::from_secs(600));
    let (mut raw, _) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    let stream = name("v/1");
    let at = Offset::parse(&old).expect("offset");
    raw.send(ClientMsg::Subscribe { id: 1, stream: stream.clone(), from: From::At(at), binary: false }).await;
    assert!(matches!(raw.next().await, ServerMsg::Subscribed { verdict: Verdict::Resumed, from, .. } if from == at));
    let (got, _) = chunks(&mut raw, &stream, 1, at).await;
    assert_eq!(got, ["b"]);
    raw.send(ClientMsg::Unsubscribe { id: 2, stream: stream.clone() }).await;
    loop {
        if let ServerMsg::Ok { id: 2 } = raw.next().await {
            break;
        }
    }
    // Deleted and recreated: the old offset belongs to another epoch.
    assert_eq!(c.delete(&url).send().await.expect("delete").status(), 204);
    create(&c, &url).await;
    raw.send(ClientMsg::Subscribe { id: 3, stream: stream.clone(), from: From::At(at), binary: false }).await;
    assert!(matches!(
        raw.next().await,
        ServerMsg::Reset { id: Some(3), reason: ResetReason::EpochChanged, requested: Some(r), .. } if r == old
    ));
    // Never existed.
    raw.send(ClientMsg::Subscribe { id: 4, stream: name("v/none"), from: From::Start, binary: false }).await;
    assert!(matches!(raw.next().await, ServerMsg::Reset { id: Some(4), reason: ResetReason::NotFound, .. }));
    // Deleted while followed: the live subscription ends with a verdict too.
    raw.send(ClientMsg::Subscribe { id: 5, stream: stream.clone(), from: From::Now, binary: false }).await;
    assert!(matches!(raw.next().await, ServerMsg::Subscribed { id: Some(5), verdict: Verdict::Started, .. }));
    assert!(matches!(raw.next().await, ServerMsg::CaughtUp { .. }));
    assert_eq!(c.delete(&url).send().await.expect("delete").status(), 204);
    assert!(matches!(raw.next().await, ServerMsg::Reset { reason: ResetReason::StreamDeleted, .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_at_acked_cursors_for_their_own_user_only() {
    let s = stack(&[]);
    let c = reqwest::Client::new();
    for n in ["s/a", "s/b"] {
        create(&c, &s.state.stream_url(n)).await;
        for i in 0..5 {
            append(&c, &s.state.stream_url(n), &format!("{n}-{i}")).await;
        }
    }
    let t = token("erin", &["s/*"], &[], Duration::from_secs(600));
    let (mut raw, session) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    let (a, b) = (name("s/a"), name("s/b"));
    raw.send(ClientMsg::Subscribe { id: 1, stream: a.clone(), from: From::Start, binary: false }).await;
    assert!(matches!(raw.next().await, ServerMsg::Subscribed { .. }));
    let (_, after3) = chunks(&mut raw, &a, 3, Offset::ZERO).await;
    raw.send(ClientMsg::Ack { id: Some(9), stream: a.clone(), offset: after3 }).await;
    loop {
        if let ServerMsg::Ok { id: 9 } = raw.next().await {
            break;
        }
    }
    raw.send(ClientMsg::Subscribe { id: 2, stream: b.clone(), from: From::Now, binary: false }).await;
    loop {
        if let ServerMsg::Subscribed { id: Some(2), .. } = raw.next().await {
            break;
        }
    }
    drop(raw);
    // Someone else cannot resume it.
    let other = token("mallory", &["**"], &[], Duration::from_secs(600));
    let (mut m, _) = Raw::welcomed(&s.edge.ws_url(), &other).await;
    m.send(ClientMsg::Resume { id: 1, session: session.clone() }).await;
    assert!(matches!(m.next().await, ServerMsg::Error { id: Some(1), code: ErrorCode::SessionNotFound, .. }));
    // Its owner resumes both subscriptions where they were acknowledged.
    let (mut raw, _) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    raw.send(ClientMsg::Resume { id: 3, session: session.clone() }).await;
    let mut verdicts = 0;
    let mut a_data = Vec::new();
    let mut resumed = false;
    while verdicts < 2 || a_data.len() < 2 || !resumed {
        match raw.next().await {
            ServerMsg::Subscribed { id: None, verdict: Verdict::Resumed, stream, from } => {
                verdicts += 1;
                if stream == a {
                    assert_eq!(from, after3);
                }
            }
            ServerMsg::Chunk { stream, data, .. } => {
                assert_eq!(stream, a, "s/b resumes at its tail");
                a_data.push(data.expect("text"));
            }
            ServerMsg::Resumed { id: 3, session: got, streams } => {
                assert_eq!(got, session);
                assert_eq!(streams.len(), 2);
                resumed = true;
            }
            ServerMsg::CaughtUp { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(a_data, ["s/a-3", "s/a-4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_are_exactly_once_under_retries() {
    let s = stack(&[]);
    let t = token("fay", &["p/**"], &["p/**"], Duration::from_secs(600));
    let (mut raw, _) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    let stream = name("p/1");
    let producer = Some(tether_protocol::ws::Producer { id: "fay-1".into(), epoch: 0, seq: 0 });
    let publish = |id, data: &str| ClientMsg::Publish {
        id,
        stream: stream.clone(),
        data: Some(data.into()),
        producer: producer.clone(),
        content_type: Some("text/plain".into()),
    };
    raw.send(publish(1, "hello")).await;
    assert!(matches!(raw.next().await, ServerMsg::Published { id: 1, duplicate: false, .. }));
    raw.send(publish(2, "hello")).await;
    assert!(matches!(raw.next().await, ServerMsg::Published { id: 2, duplicate: true, .. }));
    // Binary payloads travel in binary frames, both ways.
    let bin = ClientMsg::Publish {
        id: 3,
        stream: name("p/bin"),
        data: None,
        producer: None,
        content_type: Some("application/octet-stream".into()),
    };
    raw.conn.send_binary(&bin, &[0, 159, 146, 150, 255]).await.expect("send");
    assert!(matches!(raw.next().await, ServerMsg::Published { id: 3, .. }));
    raw.send(ClientMsg::Subscribe { id: 4, stream: name("p/bin"), from: From::Start, binary: false }).await;
    assert!(matches!(raw.next().await, ServerMsg::Subscribed { .. }));
    match raw.inbound().await {
        Inbound::Msg(ServerMsg::Chunk { data: None, .. }, Some(p)) => assert_eq!(&p[..], &[0, 159, 146, 150, 255]),
        other => panic!("expected a binary chunk, got {other:?}"),
    }
    let body = reqwest::get(format!("{}?offset=-1", s.state.stream_url("p/1")))
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert_eq!(body, "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_detached_and_caught_up_without_slowing_others() {
    let s = stack(&["--fanout-buffer", "16", "--client-queue", "8"]);
    let c = reqwest::Client::new();
    let url = s.state.stream_url("fan/1");
    create(&c, &url).await;
    let t = token("gus", &["fan/*"], &[], Duration::from_secs(600));
    let stream = name("fan/1");
    let (mut fast, _) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    let (mut slow, _) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    for r in [&mut fast, &mut slow] {
        r.send(ClientMsg::Subscribe { id: 1, stream: stream.clone(), from: From::Start, binary: false }).await;
        assert!(matches!(r.next().await, ServerMsg::Subscribed { .. }));
        assert!(matches!(r.next().await, ServerMsg::CaughtUp { .. }));
    }
    // 24 MB: more than loopback socket buffers absorb, so the unread client must fall behind.
    const N: usize = 4000;
    let payload = "x".repeat(6000);
    let writer = tokio::spawn({
        let (c, url, payload) = (c.clone(), url.clone(), payload.clone());
        async move {
            for i in 0..N {
                append(&c, &url, &format!("{i:06}{payload}")).await;
            }
        }
    });
    // The fast client sees everything while the slow one reads nothing at all.
    let (got, _) = chunks(&mut fast, &stream, N, Offset::ZERO).await;
    assert!(got.iter().enumerate().all(|(i, g)| g.starts_with(&format!("{i:06}"))));
    writer.await.expect("writer");
    let (got, _) = chunks(&mut slow, &stream, N, Offset::ZERO).await;
    assert!(got.iter().enumerate().all(|(i, g)| g.starts_with(&format!("{i:06}"))));
    let detached = tether_tests::metric(&c, &s.edge.url, "tether_edge_detached_total ").await.expect("detach metric");
    assert!(detached >= 1.0, "the slow client was detached and caught up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_clients_to_reconnect_and_exits() {
    let mut s = stack(&["--drain-grace", "5s", "--drain-retry-spread", "2s"]);
    let t = token("hal", &["**"], &[], Duration::from_secs(600));
    let (mut raw, _) = Raw::welcomed(&s.edge.ws_url(), &t).await;
    let exit = tokio::task::spawn_blocking(move || s.edge.terminate());
    match raw.next().await {
        ServerMsg::Reconnect { retry_after_ms, .. } => assert!(retry_after_ms < 2000),
        other => panic!("expected reconnect, got {other:?}"),
    }
    assert_eq!(raw.close_code().await, CloseCode::Restarting.code());
    assert!(exit.await.expect("join"), "the edge exits cleanly after draining");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_tokens_are_warned_then_closed_unless_refreshed() {
    let s = stack(&["--jwt-leeway", "0s", "--token-warning", "2s"]);
    let short = token("ivy", &["**"], &[], Duration::from_secs(3));
    let (mut raw, _) = Raw::welcomed(&s.edge.ws_url(), &short).await;
    assert!(matches!(raw.next().await, ServerMsg::TokenExpiring { .. }));
    assert_eq!(raw.close_code().await, CloseCode::TokenExpired.code());
    // Refreshed in time, the connection lives on; another user's token is refused.
    let short = token("ivy", &["**"], &[], Duration::from_secs(3));
    let (mut raw, _) = Raw::welcomed(&s.edge.ws_url(), &short).await;
    assert!(matches!(raw.next().await, ServerMsg::TokenExpiring { .. }));
    raw.send(ClientMsg::Auth { id: Some(1), token: token("ivy", &["**"], &[], Duration::from_secs(600)) }).await;
    assert!(matches!(raw.next().await, ServerMsg::Ok { id: 1 }));
    raw.send(ClientMsg::Auth { id: Some(2), token: token("someone-else", &["**"], &[], Duration::from_secs(600)) })
        .await;
    assert_eq!(raw.close_code().await, CloseCode::SubjectChanged.code());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_refuse_with_clear_codes() {
    let s = stack(&[
        "--max-connections-per-ip",
        "2",
        "--max-subscriptions",
        "1",
        "--max-frame-bytes",
        "1024",
        "--max-message-bytes",
        "1024",
        "--publish-rate",
        "1",
        "--publish-burst",
        "1",
    ]);
    let t = token("lim", &["**"], &["**"], Duration::from_secs(600));
    let ws = s.edge.ws_url();
    let (mut a, _) = Raw::welcomed(&ws, &t).await;
    let (mut b, _) = Raw::welcomed(&ws, &t).await;
    // A third connection from the same address: 429.
    match Conn::connect(&ws, Some(&t), 8).await {
        Err(tether_client::conn::ConnectError::Handshake { status: Some(429), .. }) => {}
        Err(e) => panic!("expected 429, got {e}"),
        Ok(_) => panic!("over the per-IP limit"),
    }
    // One subscription per connection.
    a.send(ClientMsg::Subscribe { id: 1, stream: name("l/1"), from: From::Now, binary: false }).await;
    a.send(ClientMsg::Subscribe { id: 2, stream: name("l/2"), from: From::Now, binary: false }).await;
    loop {
        match a.next().await {
            ServerMsg::Error { id: Some(2), code, .. } => {
                assert_eq!(code, ErrorCode::TooManySubscriptions);
                break;
            }
            _ => continue,
        }
    }
    // Publish rate: the second publish inside the same second is refused with a retry hint.
    let publish = |id| ClientMsg::Publish {
        id,
        stream: name("l/p"),
        data: Some("x".into()),
        producer: None,
        content_type: Some("text/plain".into()),
    };
    b.send(publish(1)).await;
    b.send(publish(2)).await;
    let mut refused = false;
    let mut published = false;
    while !(refused && published) {
        match b.next().await {
            ServerMsg::Published { id: 1, .. } => published = true,
            ServerMsg::Error { id: Some(2), code: ErrorCode::RateLimited, retry_after_ms: Some(ms), .. } => {
                assert!(ms > 0);
                refused = true;
            }
            other => panic!("{other:?}"),
        }
    }
    // An oversized message closes with 1009.
    b.send(ClientMsg::Auth { id: None, token: "x".repeat(4096) }).await;
    assert_eq!(b.close_code().await, CloseCode::MessageTooBig.code());
    let metrics = reqwest::get(format!("{}/metrics", s.edge.url)).await.expect("metrics").text().await.expect("text");
    for reason in ["per_ip", "subscriptions", "publish_rate"] {
        assert!(
            metrics.contains(&format!("tether_edge_connections_refused_total{{reason=\"{reason}\"}} 1")),
            "metric for {reason}"
        );
    }
    assert!(metrics.contains("tether_edge_connections_closed_total{reason=\"too_big\"} 1"));
}
