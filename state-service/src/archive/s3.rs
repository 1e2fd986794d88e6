//! S3 archive (any S3-compatible store): conditional `If-None-Match: *` puts for segments,
//! plain puts for manifests. Credentials come from the standard AWS chain.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;

use super::{Archive, ArchiveError, PutOutcome};

/// Where the archive lives.
#[derive(Clone, Debug)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    /// Custom endpoint for S3-compatible stores (`None`: AWS).
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    /// Key prefix inside the bucket (may be empty).
    pub prefix: String,
    /// Bound of one S3 operation including retries, so an outage fails fast.
    pub operation_timeout: Duration,
}

pub struct S3Archive {
    client: Client,
    bucket: String,
    prefix: String,
}

fn unavailable<E: std::fmt::Debug + ProvideErrorMetadata>(what: &str, e: &SdkError<E>) -> ArchiveError {
    let detail = match e {
        SdkError::ServiceError(s) => s.err().message().unwrap_or("service error").to_owned(),
        other => format!("{other:?}").chars().take(200).collect(),
    };
    ArchiveError::Unavailable(format!("S3 {what}: {detail}"))
}

fn status<E>(e: &SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

impl S3Archive {
    pub async fn connect(s: &S3Settings) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(s.operation_timeout)
            .connect_timeout(Duration::from_secs(3))
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(s.region.clone()))
            .timeout_config(timeouts);
        if let Some(endpoint) = &s.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let shared = loader.load().await;
        let conf = aws_sdk_s3::config::Builder::from(&shared).force_path_style(s.force_path_style).build();
        let prefix =
            if s.prefix.is_empty() || s.prefix.ends_with('/') { s.prefix.clone() } else { format!("{}/", s.prefix) };
        Self { client: Client::from_conf(conf), bucket: s.bucket.clone(), prefix }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Checks that the bucket is reachable (used by readiness).
    pub async fn ping(&self) -> Result<(), ArchiveError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("head_bucket", &e))
    }
}

#[async_trait::async_trait]
impl Archive for S3Archive {
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, ArchiveError> {
        let res = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .if_none_match("*")
            .body(ByteStream::from(data))
            .send()
            .await;
        match res {
            Ok(_) => Ok(PutOutcome::Created),
            // 412: the key exists. 409: a concurrent conditional put on the same key is in flight.
            Err(e) if matches!(status(&e), Some(412) | Some(409)) => Ok(PutOutcome::Exists),
            Err(e) => Err(unavailable("put_object (conditional)", &e)),
        }
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), ArchiveError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .body(ByteStream::from(data))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable("put_object", &e))
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, ArchiveError> {
        match self.client.get_object().bucket(&self.bucket).key(self.key(key)).send().await {
            Ok(out) => {
                let body = out.body.collect().await.map_err(|e| ArchiveError::Unavailable(format!("S3 body: {e}")))?;
                Ok(Some(body.into_bytes()))
            }
            Err(e) if status(&e) == Some(404) || e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(unavailable("get_object", &e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), ArchiveError> {
        for chunk in self.list(prefix).await?.chunks(1000) {
            let ids = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(self.key(k)).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ArchiveError::Unavailable(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .map_err(|e| ArchiveError::Unavailable(e.to_string()))?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| unavailable("delete_objects", &e))?;
        }
        Ok(())
    }

    fn tier(&self) -> &'static str {
        "s3"
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        let mut out = Vec::new();
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(self.key(prefix)).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unavailable("list_objects_v2", &e))?;
            for obj in page.contents() {
                if let Some(k) = obj.key().and_then(|k| k.strip_prefix(&self.prefix)) {
                    out.push(k.to_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
