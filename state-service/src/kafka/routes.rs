//! Ingest routes: which Kafka topics feed which streams, and the stream-name templates that
//! pick one stream per message (`assessment/{payload./assessmentId}`, `market/btc`).
//!
//! A template is literal text with placeholders: `{key}`, `{topic}`, `{partition}`,
//! `{header.NAME}` and `{payload./json/pointer}` (RFC 6901); `{{` and `}}` are literal braces.
//! A placeholder's value must be one path segment (no `/`), so a message can never steer its
//! data outside the prefix its route chose. The rendered name must be a valid stream name.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tether_protocol::{ProducerId, StreamName};

/// One `[[kafka_route]]` table of the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// An exact topic name (give this or `topic_pattern`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// A regular expression over topic names, anchored at the start (`^trading\..*`); also the
    /// subscription, so topics created later are picked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_pattern: Option<String>,
    /// Stream name template.
    pub stream: String,
    /// Content type of streams this route creates (and of its appends).
    #[serde(default = "default_content_type")]
    pub content_type: String,
}

fn default_content_type() -> String {
    "application/octet-stream".to_owned()
}

/// A consumed Kafka record, detached from the consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    pub payload: Option<Bytes>,
}

/// Why a message cannot be delivered to a stream; the stable text goes into the dead letter's
/// `tether-dlq-reason` header and the `reason` label of the dead-letter metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    NoRoute,
    MissingKey,
    MissingHeader,
    MissingField,
    InvalidField,
    InvalidJson,
    InvalidStreamName,
    Oversize,
    EmptyPayload,
    StreamClosed,
    StreamDeleted,
    ContentTypeMismatch,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoRoute => "no_route",
            Reason::MissingKey => "missing_key",
            Reason::MissingHeader => "missing_header",
            Reason::MissingField => "missing_field",
            Reason::InvalidField => "invalid_field",
            Reason::InvalidJson => "invalid_json",
            Reason::InvalidStreamName => "invalid_stream_name",
            Reason::Oversize => "oversize",
            Reason::EmptyPayload => "empty_payload",
            Reason::StreamClosed => "stream_closed",
            Reason::StreamDeleted => "stream_deleted",
            Reason::ContentTypeMismatch => "content_type_mismatch",
        }
    }
}

/// A message no stream can take, with a human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unroutable {
    pub reason: Reason,
    pub detail: String,
}

fn unroutable(reason: Reason, detail: impl Into<String>) -> Unroutable {
    Unroutable { reason, detail: detail.into() }
}

/// Where one message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub stream: StreamName,
    /// Index of the route in configuration order (its content type and JSON mode).
    pub route: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Key,
    Topic,
    Partition,
    Header(String),
    Pointer(String),
}

/// A parsed stream-name template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(format!("template {raw:?} has an unmatched '}}' (write '}}}}' for a literal one)")),
                '{' => {
                    let mut inner = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => inner.push(c),
                            None => return Err(format!("template {raw:?} has an unclosed '{{'")),
                        }
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(placeholder(raw, &inner)?);
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts.is_empty() {
            return Err("stream template is empty".into());
        }
        for p in &parts {
            if let Part::Literal(l) = p
                && let Some(bad) = l.chars().find(|c| !(c.is_ascii_alphanumeric() || "._~:/-".contains(*c)))
            {
                return Err(format!("template {raw:?} contains {bad:?}, which no stream name may"));
            }
        }
        let t = Template { parts };
        if let Some(fixed) = t.fixed() {
            StreamName::parse(&fixed).map_err(|e| format!("template {raw:?}: {e}"))?;
        }
        Ok(t)
    }

    /// The stream name when the template has no placeholder.
    pub fn fixed(&self) -> Option<String> {
        match self.parts.as_slice() {
            [Part::Literal(l)] => Some(l.clone()),
            _ => None,
        }
    }

    /// True when rendering needs the payload parsed as JSON.
    pub fn needs_json(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Pointer(_)))
    }

    /// Fills the template from `msg` (`json`: the parsed payload, when [`Self::needs_json`]).
    pub fn render(&self, msg: &IngestMessage, json: Option<&serde_json::Value>) -> Result<StreamName, Unroutable> {
        let mut out = String::new();
        for part in &self.parts {
            let value = match part {
                Part::Literal(l) => {
                    out.push_str(l);
                    continue;
                }
                Part::Topic => msg.topic.clone(),
                Part::Partition => msg.partition.to_string(),
                Part::Key => {
                    let key =
                        msg.key.as_ref().ok_or_else(|| unroutable(Reason::MissingKey, "the message has no key"))?;
                    utf8(key, "the key")?
                }
                Part::Header(name) => {
                    let value = msg
                        .headers
                        .iter()
                        .find(|(k, _)| k == name)
                        .and_then(|(_, v)| v.as_ref())
                        .ok_or_else(|| unroutable(Reason::MissingHeader, format!("no header {name:?}")))?;
                    utf8(value, &format!("header {name:?}"))?
                }
                Part::Pointer(ptr) => {
                    let doc = json.ok_or_else(|| unroutable(Reason::InvalidJson, "the payload is not JSON"))?;
                    scalar(doc.pointer(ptr), ptr)?
                }
            };
            if value.is_empty() || value.contains('/') {
                return Err(unroutable(
                    Reason::InvalidStreamName,
                    format!("placeholder value {value:?} must be one non-empty path segment"),
                ));
            }
            out.push_str(&value);
        }
        StreamName::parse(&out).map_err(|e| unroutable(Reason::InvalidStreamName, format!("{out:?}: {e}")))
    }
}

fn placeholder(raw: &str, inner: &str) -> Result<Part, String> {
    Ok(match inner {
        "key" => Part::Key,
        "topic" => Part::Topic,
        "partition" => Part::Partition,
        _ => {
            if let Some(name) = inner.strip_prefix("header.").filter(|n| !n.is_empty()) {
                Part::Header(name.to_owned())
            } else if let Some(ptr) = inner.strip_prefix("payload.").filter(|p| p.starts_with('/')) {
                Part::Pointer(ptr.to_owned())
            } else {
                return Err(format!(
                    "template {raw:?}: unknown placeholder {{{inner}}} (use key, topic, partition, header.NAME, \
                     payload./json/pointer)"
                ));
            }
        }
    })
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, Unroutable> {
    String::from_utf8(bytes.to_vec()).map_err(|_| unroutable(Reason::InvalidField, format!("{what} is not UTF-8")))
}

fn scalar(value: Option<&serde_json::Value>, ptr: &str) -> Result<String, Unroutable> {
    match value {
        None | Some(serde_json::Value::Null) => Err(unroutable(Reason::MissingField, format!("no value at {ptr}"))),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Ok(b.to_string()),
        Some(_) => Err(unroutable(Reason::InvalidField, format!("the value at {ptr} is not a string or number"))),
    }
}

/// Which topics a route covers.
#[derive(Clone, Debug)]
enum Matcher {
    Exact(String),
    /// The anchored source (the librdkafka subscription) and its compiled form.
    Pattern(String, regex_lite::Regex),
}

/// A compiled route.
#[derive(Clone, Debug)]
pub struct Route {
    matcher: Matcher,
    pub template: Template,
    pub content_type: String,
    /// JSON routes validate every payload (a chunk of a JSON stream is one JSON message).
    pub json: bool,
}

/// Every route, in configuration order (the first match wins).
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

/// Kafka's own rule for topic names: 1-249 of `[A-Za-z0-9._-]`.
pub fn check_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 249 || !topic.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(format!("{topic:?} is not a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -)"));
    }
    Ok(())
}

impl Routes {
    pub fn compile(configs: &[RouteConfig]) -> Result<Self, String> {
        let mut routes = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            let at = |e: String| format!("route {}: {e}", i + 1);
            let matcher = match (&c.topic, &c.topic_pattern) {
                (Some(t), None) => {
                    check_topic_name(t).map_err(at)?;
                    Matcher::Exact(t.clone())
                }
                (None, Some(p)) => {
                    let anchored = if p.starts_with('^') { p.clone() } else { format!("^{p}") };
                    let re = regex_lite::Regex::new(&anchored).map_err(|e| at(format!("topic_pattern: {e}")))?;
                    Matcher::Pattern(anchored, re)
                }
                _ => return Err(at("give exactly one of topic and topic_pattern".into())),
            };
            let template = Template::parse(&c.stream).map_err(at)?;
            let content_type = c.content_type.trim().to_owned();
            if content_type.is_empty() || http::HeaderValue::from_str(&content_type).is_err() {
                return Err(at(format!("content_type {content_type:?} is not a valid header value")));
            }
            let json = crate::store::is_json_content_type(&content_type);
            routes.push(Route { matcher, template, content_type, json });
        }
        Ok(Self { routes })
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn get(&self, i: usize) -> &Route {
        &self.routes[i]
    }

    /// The first route covering `topic`.
    pub fn find(&self, topic: &str) -> Option<usize> {
        self.routes.iter().position(|r| match &r.matcher {
            Matcher::Exact(t) => t == topic,
            Matcher::Pattern(_, re) => re.is_match(topic),
        })
    }

    /// Topics and patterns to subscribe to, deduplicated, in configuration order.
    pub fn subscription(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.routes {
            let s = match &r.matcher {
                Matcher::Exact(t) => t.clone(),
                Matcher::Pattern(p, _) => p.clone(),
            };
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// The stream `msg` goes to, or why it cannot go anywhere.
    pub fn route(&self, msg: &IngestMessage, max_bytes: usize) -> Result<Target, Unroutable> {
        let i = self.find(&msg.topic).ok_or_else(|| unroutable(Reason::NoRoute, "no route covers the topic"))?;
        let route = &self.routes[i];
        let payload = msg
            .payload
            .as_ref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| unroutable(Reason::EmptyPayload, "the message has no payload (tombstone)"))?;
        if payload.len() > max_bytes {
            return Err(unroutable(Reason::Oversize, format!("{} bytes; the limit is {max_bytes}", payload.len())));
        }
        let json = if route.template.needs_json() {
            let doc = serde_json::from_slice::<serde_json::Value>(payload)
                .map_err(|e| unroutable(Reason::InvalidJson, format!("payload: {e}")))?;
            Some(doc)
        } else {
            if route.json {
                serde_json::from_slice::<serde::de::IgnoredAny>(payload)
                    .map_err(|e| unroutable(Reason::InvalidJson, format!("payload: {e}")))?;
            }
            None
        };
        Ok(Target { stream: route.template.render(msg, json.as_ref())?, route: i })
    }
}

/// Longest producer id (the protocol's limit).
const MAX_ID: usize = tether_protocol::producer::MAX_PRODUCER_ID_BYTES;

/// The idempotent-producer id of one partition: `kafka:{topic}:{partition}`. Topic names too
/// long for the limit keep a prefix and a hash of the whole name (`kafka:{prefix}#{fnv}:{p}`).
pub fn producer_id(topic: &str, partition: i32) -> ProducerId {
    let plain = format!("{}{topic}:{partition}", super::PRODUCER_PREFIX);
    let id = if plain.len() <= MAX_ID {
        plain
    } else {
        let hash =
            topic.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        // Kafka topic names are ASCII; `get` only guards against a caller passing something else.
        format!("{}{}#{hash:016x}:{partition}", super::PRODUCER_PREFIX, topic.get(..200).unwrap_or(""))
    };
    ProducerId::parse(&id).expect("a bounded, non-empty id")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(topic: &str, key: Option<&str>, headers: &[(&str, &str)], payload: &str) -> IngestMessage {
        IngestMessage {
            topic: topic.into(),
            partition: 3,
            offset: 7,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Some(Bytes::copy_from_slice(v.as_bytes()))))
                .collect(),
            payload: Some(Bytes::copy_from_slice(payload.as_bytes())),
        }
    }

    fn route(topic: &str, stream: &str, ct: &str) -> RouteConfig {
        RouteConfig { topic: Some(topic.into()), topic_pattern: None, stream: stream.into(), content_type: ct.into() }
    }

    #[test]
    fn templates_render_every_placeholder() {
        let t = Template::parse("u/{key}/{header.tenant}/{payload./a/b}/{topic}-{partition}").unwrap();
        let m = msg("orders", Some("k1"), &[("tenant", "acme")], r#"{"a":{"b":42}}"#);
        let doc: serde_json::Value = serde_json::from_slice(m.payload.as_ref().unwrap()).unwrap();
        assert_eq!(t.render(&m, Some(&doc)).unwrap().as_str(), "u/k1/acme/42/orders-3");
    }

    #[test]
    fn template_errors_are_reported_at_load() {
        for bad in ["", "a/{nope}", "a/{header.}", "a/{payload.x}", "a}b", "a/{key", "a b", "/lead", "a//b"] {
            assert!(Template::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Template::parse("market/btc").unwrap().fixed().as_deref(), Some("market/btc"));
    }

    #[test]
    fn routing_failures_have_reasons() {
        let routes = Routes::compile(&[
            route("by-key", "k/{key}", "text/plain"),
            route("by-field", "a/{payload./id}", "application/json"),
            route("by-header", "h/{header.user}", "text/plain"),
            route("json", "fixed/json", "application/json"),
        ])
        .unwrap();
        let reason = |m: &IngestMessage| routes.route(m, 64).unwrap_err().reason;
        assert_eq!(reason(&msg("other", None, &[], "x")), Reason::NoRoute);
        assert_eq!(reason(&msg("by-key", None, &[], "x")), Reason::MissingKey);
        assert_eq!(reason(&msg("by-key", Some("a/b"), &[], "x")), Reason::InvalidStreamName);
        assert_eq!(reason(&msg("by-key", Some("a b"), &[], "x")), Reason::InvalidStreamName);
        assert_eq!(reason(&msg("by-field", None, &[], "{]")), Reason::InvalidJson);
        assert_eq!(reason(&msg("by-field", None, &[], r#"{"x":1}"#)), Reason::MissingField);
        assert_eq!(reason(&msg("by-field", None, &[], r#"{"id":[1]}"#)), Reason::InvalidField);
        assert_eq!(reason(&msg("by-header", None, &[("other", "x")], "x")), Reason::MissingHeader);
        assert_eq!(reason(&msg("json", None, &[], "not json")), Reason::InvalidJson);
        assert_eq!(reason(&msg("by-key", Some("k"), &[], &"x".repeat(65))), Reason::Oversize);
        let mut tomb = msg("by-key", Some("k"), &[], "");
        tomb.payload = None;
        assert_eq!(reason(&tomb), Reason::EmptyPayload);
        let ok = routes.route(&msg("by-field", None, &[], r#"{"id":"a-1"}"#), 64).unwrap();
        assert_eq!((ok.stream.as_str(), ok.route), ("a/a-1", 1));
    }

    #[test]
    fn patterns_are_anchored_and_first_match_wins() {
        let mut p = route("x", "p/{topic}", "text/plain");
        p.topic = None;
        p.topic_pattern = Some(r"trading\..*".into());
        let routes = Routes::compile(&[route("trading.ticks", "market/btc", "text/plain"), p]).unwrap();
        assert_eq!(routes.find("trading.ticks"), Some(0));
        assert_eq!(routes.find("trading.orders"), Some(1));
        assert_eq!(routes.find("x.trading.orders"), None);
        assert_eq!(routes.subscription(), vec!["trading.ticks".to_owned(), r"^trading\..*".to_owned()]);
    }

    #[test]
    fn producer_ids_fit_the_limit() {
        assert_eq!(producer_id("orders", 2).as_str(), "kafka:orders:2");
        let long = "t".repeat(249);
        let id = producer_id(&long, i32::MAX);
        assert!(id.as_str().len() <= MAX_ID);
        assert_ne!(id, producer_id(&format!("{}u", &long[..248]), i32::MAX), "the hash tells long names apart");
    }

    proptest! {
        /// Rendering never yields an invalid name and never lets a value add a path segment.
        #[test]
        fn rendered_names_stay_under_their_prefix(key in "[ -~]{0,20}") {
            let t = Template::parse("user/{key}/feed").unwrap();
            if let Ok(name) = t.render(&msg("t", Some(&key), &[], "x"), None) {
                prop_assert_eq!(name.as_str().split('/').count(), 3);
                prop_assert!(name.as_str().starts_with("user/") && name.as_str().ends_with("/feed"));
            }
        }
    }
}
