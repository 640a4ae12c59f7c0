//! Where recordings go: a URL in the configuration, opened as an `object_store` store.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientConfigKey, RetryConfig};

use crate::{Result, StoreError};

/// S3 settings that are not in the URL. Anything left `None` comes from the usual AWS variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The endpoint of an S3-compatible server (MinIO, Garage, Ceph), e.g. `http://10.0.0.5:9000`.
    pub endpoint: Option<String>,
    /// The region (Garage: `garage`).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key.
    pub secret_access_key: Option<String>,
    /// Allow `http://` endpoints (test servers on loopback, private networks).
    pub allow_http: Option<bool>,
    /// Seconds a request may take before it is abandoned and retried (default 120; parts are
    /// 8 MiB).
    pub timeout_secs: Option<u64>,
    /// Read every recording back after uploading it and compare, even when the store's ETag
    /// (the MD5 of the parts it received) already matches (default false).
    pub read_back: Option<bool>,
}

/// An opened store and the key prefix inside it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    url: String,
    read_back: bool,
}

impl Store {
    /// Opens `url`: `file:///DIR` (created if missing) or `s3://BUCKET[/PREFIX]`.
    pub fn open(url: &str, s3: &S3Settings) -> Result<Store> {
        let bad = |why: &str| StoreError::Config(format!("storage URL {url:?}: {why}"));
        if let Some(dir) = url.strip_prefix("file://") {
            if !dir.starts_with('/') {
                return Err(bad(
                    "a file:// URL needs an absolute path (file:///var/lib/...)",
                ));
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::io(format!("creating the store directory {dir}"), e))?;
            let fs = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| StoreError::store(format!("opening {url}"), e))?;
            return Ok(Store {
                inner: Arc::new(fs),
                prefix: Path::default(),
                url: url.into(),
                read_back: true,
            });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name (s3://BUCKET/PREFIX)"));
            }
            let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(e) = &s3.endpoint {
                b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
            }
            if let Some(r) = &s3.region {
                b = b.with_region(r);
            }
            if let Some(k) = &s3.access_key_id {
                b = b.with_access_key_id(k);
            }
            if let Some(k) = &s3.secret_access_key {
                b = b.with_secret_access_key(k);
            }
            // Our own retry loop (with the spool as the buffer) handles long outages; the
            // client's retries only smooth over a blip, so a dead server is reported in seconds.
            b = b
                .with_retry(RetryConfig {
                    max_retries: 2,
                    retry_timeout: Duration::from_secs(20),
                    ..RetryConfig::default()
                })
                // Set key by key: replacing the client options would drop AWS_ALLOW_HTTP & co.
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                    "5 seconds",
                )
                .with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                    format!("{} seconds", s3.timeout_secs.unwrap_or(120)),
                );
            if let Some(allow) = s3.allow_http {
                b = b.with_allow_http(allow);
            }
            let read_back = s3.read_back.unwrap_or(false);
            let s3 = b
                .with_unsigned_payload(true)
                .build()
                .map_err(|e| StoreError::Config(format!("storage URL {url:?}: {e}")))?;
            return Ok(Store {
                inner: Arc::new(s3),
                prefix: Path::from(prefix.trim_matches('/')),
                url: url.into(),
                read_back,
            });
        }
        Err(bad(
            "unsupported scheme; use file:///DIR or s3://BUCKET/PREFIX",
        ))
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether uploads are always read back: a local directory has no MD5 ETags, and S3
    /// stores do when `read_back = true`.
    pub fn read_back(&self) -> bool {
        self.read_back
    }

    /// The object store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// `key` under the store's prefix.
    pub fn path(&self, key: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in key.split('/') {
            p = p.clone().join(part);
        }
        p
    }

    /// The key of `path` relative to the prefix.
    pub fn key_of(&self, path: &Path) -> String {
        match path.prefix_match(&self.prefix) {
            Some(parts) => parts
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }
}
