//! Where recordings go: a URL in the configuration, opened as an `object_store` store.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::multipart::MultipartStore;
use object_store::path::Path;

use crate::clouds::{self, Cloud, StoreSettings};
use crate::{Result, StoreError};

/// Opens a cloud store: (URL, bucket or container, settings).
type OpenCloud = fn(&str, &str, &StoreSettings) -> Result<Cloud>;

/// An opened store and the key prefix inside it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    /// The multipart API of cloud stores (not of a local directory).
    multipart: Option<Arc<dyn MultipartStore>>,
    /// Whether the store's ids of uploaded parts are their MD5s (S3's ETags).
    part_ids_are_md5: bool,
    prefix: Path,
    url: String,
    read_back: bool,
}

impl Store {
    /// Opens `url`: `file:///DIR` (created if missing), `s3://BUCKET[/PREFIX]`,
    /// `az://CONTAINER[/PREFIX]` or `gs://BUCKET[/PREFIX]`.
    pub fn open(url: &str, settings: &StoreSettings) -> Result<Store> {
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
                multipart: None,
                part_ids_are_md5: false,
                prefix: Path::default(),
                url: url.into(),
                read_back: true,
            });
        }
        let clouds: [(&str, &str, OpenCloud); 3] = [
            ("s3://", "BUCKET", |u, b, s| clouds::s3(u, b, &s.s3)),
            ("az://", "CONTAINER", |u, c, s| {
                clouds::azure(u, c, &s.azure)
            }),
            ("gs://", "BUCKET", |u, b, s| clouds::gcs(u, b, &s.gcs)),
        ];
        for (scheme, container, open) in clouds {
            let Some(rest) = url.strip_prefix(scheme) else {
                continue;
            };
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad(&format!(
                    "no {container} name ({scheme}{container}/PREFIX)"
                )));
            }
            let cloud = open(url, bucket, settings)?;
            return Ok(Store {
                inner: cloud.objects,
                multipart: Some(cloud.multipart),
                part_ids_are_md5: scheme == "s3://",
                prefix: Path::from(prefix.trim_matches('/')),
                url: url.into(),
                read_back: scheme == "s3://" && settings.s3.read_back.unwrap_or(false),
            });
        }
        Err(bad(
            "unsupported scheme; use file:///DIR, s3://BUCKET/PREFIX, az://CONTAINER/PREFIX or gs://BUCKET/PREFIX",
        ))
    }

    /// The URL it was opened from.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether uploads are read back even when the store's ETag confirms them: a local
    /// directory (whose ETags are not MD5s anyway), and S3 with `read_back = true`.
    pub fn read_back(&self) -> bool {
        self.read_back
    }

    /// The multipart API, for uploads that resume where they stopped (cloud stores only).
    pub fn multipart(&self) -> Option<&Arc<dyn MultipartStore>> {
        self.multipart.as_ref()
    }

    /// Whether the ids the store gives uploaded parts are their MD5s, as S3's ETags are (then
    /// each part is checked as it is confirmed).
    pub fn part_ids_are_md5(&self) -> bool {
        self.part_ids_are_md5
    }

    /// The object at `at` (or the bytes of `range` of it), read whole into memory: for small
    /// objects and slices only.
    pub async fn read(
        &self,
        at: &Path,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<bytes::Bytes> {
        let opts = object_store::GetOptions {
            range: range.map(object_store::GetRange::Bounded),
            ..object_store::GetOptions::default()
        };
        let what = || format!("reading {at}");
        self.inner
            .get_opts(at, opts)
            .await
            .map_err(|e| StoreError::store(what(), e))?
            .bytes()
            .await
            .map_err(|e| StoreError::store(what(), e))
    }

    /// For a `file://` store: its directory.
    pub fn local_dir(&self) -> Option<&std::path::Path> {
        self.url.strip_prefix("file://").map(std::path::Path::new)
    }

    /// For a `file://` store: its directory and the names on disk of `key`'s parts (see
    /// [`crate::local`], which writes them without following links).
    pub fn local_parts(&self, key: &str) -> Option<(std::path::PathBuf, Vec<String>)> {
        let root = self.local_dir()?.to_path_buf();
        let parts = self
            .path(key)
            .parts()
            .map(|p| p.as_ref().to_string())
            .collect();
        Some((root, parts))
    }

    /// For a `file://` store: the file that holds `key`, as the local store names it (each
    /// part of the key as the object path encodes it, so `%` in a key is `%25` on disk).
    pub fn local_file(&self, key: &str) -> Option<std::path::PathBuf> {
        let mut at = self.local_dir()?.to_path_buf();
        for part in self.path(key).parts() {
            at.push(part.as_ref());
        }
        Some(at)
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
        // Each part as the key had it: the object path percent-encodes (`%` itself as `%25`).
        match path.prefix_match(&self.prefix) {
            Some(parts) => parts
                .map(|p| percent_decoded(p.as_ref()))
                .collect::<Vec<_>>()
                .join("/"),
            None => path.to_string(),
        }
    }
}

/// `%XX` sequences decoded (what `object_store` encodes in a path part).
/// A key component back from its `%XX` escapes (as [`crate::layout::component`] writes them).
pub fn percent_decoded(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_with_percent_escapes_round_trips_through_its_object_path() {
        let store = super::Store::open(
            &format!(
                "file://{}",
                tempfile::TempDir::new().unwrap().path().display()
            ),
            &crate::StoreSettings::default(),
        )
        .unwrap();
        let key = "sessions/2026/12/01/bastion%201/DOMAIN%5Cuser/x.cast.zst";
        assert_eq!(store.key_of(&store.path(key)), key);
        let file = store.local_file(key).unwrap();
        assert!(
            file.to_string_lossy()
                .ends_with("bastion%25201/DOMAIN%255Cuser/x.cast.zst")
        );
    }

    use super::*;

    fn error(url: &str) -> String {
        match Store::open(url, &StoreSettings::default()) {
            Ok(_) => panic!("{url} opened"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bad_urls_say_what_is_expected() {
        assert!(
            error("az:///x").contains("no CONTAINER name"),
            "{}",
            error("az:///x")
        );
        assert!(error("s3://").contains("no BUCKET name"));
        assert!(error("ftp://host/x").contains("unsupported scheme"));
        assert!(error("file://relative").contains("absolute path"));
    }

    #[test]
    fn the_prefix_is_kept_apart_from_the_bucket() {
        let mut settings = StoreSettings::default();
        settings.s3.region = Some("us-east-1".into());
        settings.s3.endpoint = Some("http://127.0.0.1:9".into());
        let store = Store::open("s3://bucket/some/prefix/", &settings).unwrap();
        assert_eq!(store.path("sessions/a").as_ref(), "some/prefix/sessions/a");
        assert_eq!(store.key_of(&store.path("sessions/a")), "sessions/a");
        assert!(!store.read_back());
        settings.s3.read_back = Some(true);
        assert!(Store::open("s3://bucket", &settings).unwrap().read_back());
    }
}
