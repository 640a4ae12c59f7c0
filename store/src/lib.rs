//! Shipping recordings: the object store behind a URL (`file://`, `s3://`, `az://`, `gs://`), the object keys
//! and manifests, the upload of sealed spool files, and the local catalog that `sessrec ls`
//! queries.
//!
//! The store is the source of truth: everything in the catalog can be rebuilt from it.

pub mod catalog;
mod check;
mod clouds;
pub mod guard;
pub mod layout;
pub mod live;
mod local;
pub mod location;
pub mod manifest;
mod resumable;
pub mod sealed;
mod sent;
pub mod upload;

pub use catalog::{Catalog, Filter};
pub use clouds::{AzureSettings, GcsSettings, S3Settings, StoreSettings};
pub use location::Store;
pub use manifest::{Manifest, ShippedVerdict};
pub use sealed::{Attestation, Attested, Sealed, SealedState};
pub use upload::probe;

/// Errors of the store crate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage URL or its settings are wrong.
    #[error("{0}")]
    Config(String),
    /// The store refused or failed a request (network, credentials, server error).
    #[error("{what}")]
    Store {
        /// What was being done.
        what: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// Reading a local file failed.
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A recording could not be read or verified.
    #[error("{0}")]
    Recording(String),
    /// What the store holds differs from what was sent.
    #[error("{0}")]
    Mismatch(String),
    /// The store already holds different bytes under this key: they are never replaced.
    #[error("{0}")]
    Exists(String),
    /// The catalog database failed.
    #[error("the catalog")]
    Catalog(#[from] rusqlite::Error),
}

impl StoreError {
    pub(crate) fn store(what: impl Into<String>, source: object_store::Error) -> Self {
        StoreError::Store {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            what: what.into(),
            source,
        }
    }

    /// Whether trying again later may succeed (the store or the network), as opposed to a
    /// problem with the file itself.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Store { .. } | StoreError::Mismatch(_))
    }
}

/// The result type of the store crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
