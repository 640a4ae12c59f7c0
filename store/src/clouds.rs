//! The cloud stores behind `s3://`, `az://` and `gs://` URLs, and their settings. Anything a
//! setting leaves out comes from the provider's usual environment variables.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::multipart::MultipartStore;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};

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

/// Azure Blob Storage settings (`az://CONTAINER/PREFIX`). Anything left `None` comes from the
/// usual variables (`AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY`, `AZURE_CLIENT_ID`,
/// ...), or a managed identity.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSettings {
    /// The storage account.
    pub account: Option<String>,
    /// The account's access key.
    pub access_key: Option<String>,
    /// The account's blob endpoint, for Azure Stack or Azurite, e.g.
    /// `http://127.0.0.1:10000/devstoreaccount1` (default `https://ACCOUNT.blob.core.windows.net`).
    pub endpoint: Option<String>,
    /// Allow an `http://` endpoint.
    pub allow_http: Option<bool>,
    /// Seconds a request may take (default 120).
    pub timeout_secs: Option<u64>,
}

/// Google Cloud Storage settings (`gs://BUCKET/PREFIX`). Anything left `None` comes from
/// `GOOGLE_SERVICE_ACCOUNT`, `GOOGLE_APPLICATION_CREDENTIALS` or the instance's metadata server.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsSettings {
    /// A service account's JSON key file.
    pub service_account: Option<String>,
    /// Seconds a request may take (default 120).
    pub timeout_secs: Option<u64>,
}

/// The settings of every kind of store; the URL picks which apply.
#[derive(Debug, Clone, Default)]
pub struct StoreSettings {
    /// For `s3://`.
    pub s3: S3Settings,
    /// For `az://`.
    pub azure: AzureSettings,
    /// For `gs://`.
    pub gcs: GcsSettings,
}

/// Our own retry loop (with the spool as the buffer) handles long outages; the client's retries
/// only smooth over a blip, so a dead server is reported in seconds.
fn retries() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    }
}

fn timeout(secs: Option<u64>) -> String {
    format!("{} seconds", secs.unwrap_or(120))
}

/// A cloud store, as an object store and through its multipart API (for uploads that resume).
pub(crate) struct Cloud {
    pub objects: Arc<dyn ObjectStore>,
    pub multipart: Arc<dyn MultipartStore>,
}

fn built<T: ObjectStore + MultipartStore>(
    url: &str,
    store: object_store::Result<T>,
) -> Result<Cloud> {
    match store {
        Ok(s) => {
            let s = Arc::new(s);
            Ok(Cloud {
                objects: s.clone(),
                multipart: s,
            })
        }
        Err(e) => Err(StoreError::Config(format!("storage URL {url:?}: {e}"))),
    }
}

/// An S3 bucket.
pub(crate) fn s3(url: &str, bucket: &str, s3: &S3Settings) -> Result<Cloud> {
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
    if let Some(allow) = s3.allow_http {
        b = b.with_allow_http(allow);
    }
    // Set key by key: replacing the client options would drop AWS_ALLOW_HTTP & co.
    let b = b
        .with_retry(retries())
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5 seconds",
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            timeout(s3.timeout_secs),
        )
        // Bodies are not signed (as AWS's SDKs do over HTTPS): TLS protects them in transit,
        // and the MD5 ETag of what the store received confirms them end to end.
        .with_unsigned_payload(true);
    built(url, b.build())
}

/// An Azure Blob Storage container.
pub(crate) fn azure(url: &str, container: &str, az: &AzureSettings) -> Result<Cloud> {
    let mut b = MicrosoftAzureBuilder::from_env().with_container_name(container);
    if let Some(a) = &az.account {
        b = b.with_account(a);
    }
    if let Some(k) = &az.access_key {
        b = b.with_access_key(k);
    }
    if let Some(e) = &az.endpoint {
        b = b.with_endpoint(e.clone());
    }
    if let Some(allow) = az.allow_http {
        b = b.with_allow_http(allow);
    }
    let b = b
        .with_retry(retries())
        .with_config(
            AzureConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5 seconds",
        )
        .with_config(
            AzureConfigKey::Client(ClientConfigKey::Timeout),
            timeout(az.timeout_secs),
        );
    built(url, b.build())
}

/// A Google Cloud Storage bucket.
pub(crate) fn gcs(url: &str, bucket: &str, gs: &GcsSettings) -> Result<Cloud> {
    let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
    if let Some(p) = &gs.service_account {
        b = b.with_service_account_path(p);
    }
    let b = b
        .with_retry(retries())
        .with_config(
            GoogleConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "5 seconds",
        )
        .with_config(
            GoogleConfigKey::Client(ClientConfigKey::Timeout),
            timeout(gs.timeout_secs),
        );
    built(url, b.build())
}
