//! The local catalog: an SQLite index of the store's manifests, so that listing and filtering
//! 100 000 sessions does not list the bucket. It can be deleted and rebuilt at any time.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::Result;
use crate::manifest::Manifest;

/// Filters of `sessrec ls`; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// OS user.
    pub user: Option<String>,
    /// Bastion host.
    pub host: Option<String>,
    /// Grant id.
    pub grant: Option<String>,
    /// Sessions that started at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Sessions that started before this time (RFC 3339).
    pub until: Option<String>,
}

/// An open catalog.
pub struct Catalog {
    db: Connection,
}

impl Catalog {
    /// Opens (or creates) the catalog at `path`.
    pub fn open(path: &Path) -> Result<Catalog> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS sessions (
                 session_id TEXT PRIMARY KEY,
                 user TEXT, host TEXT, grant_id TEXT,
                 start_us INTEGER, start TEXT,
                 manifest TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS by_start ON sessions (start_us);
             CREATE INDEX IF NOT EXISTS by_user ON sessions (user, start_us);
             CREATE INDEX IF NOT EXISTS by_host ON sessions (host, start_us);
             CREATE INDEX IF NOT EXISTS by_grant ON sessions (grant_id, start_us);",
        )?;
        Ok(Catalog { db })
    }

    /// Replaces everything with `manifests` (one transaction: readers see the old or the new).
    pub fn replace_all(&mut self, manifests: &[Manifest]) -> Result<()> {
        let tx = self.db.transaction()?;
        tx.execute("DELETE FROM sessions", [])?;
        for m in manifests {
            insert(&tx, m)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sessions matching `filter`, oldest first. Only the given filters go into the query, so
    /// each can use its index.
    pub fn query(&self, filter: &Filter) -> Result<Vec<Manifest>> {
        let mut clauses = Vec::new();
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        for (column, value) in [
            ("user", &filter.user),
            ("host", &filter.host),
            ("grant_id", &filter.grant),
        ] {
            if let Some(v) = value {
                args.push(v.clone().into());
                clauses.push(format!("{column} = ?{}", args.len()));
            }
        }
        if let Some(t) = &filter.since {
            args.push(micros(t)?.into());
            clauses.push(format!("start_us >= ?{}", args.len()));
        }
        if let Some(t) = &filter.until {
            args.push(micros(t)?.into());
            clauses.push(format!("start_us < ?{}", args.len()));
        }
        let sql = format!(
            "SELECT manifest FROM sessions {} {} ORDER BY start_us, session_id",
            if clauses.is_empty() { "" } else { "WHERE" },
            clauses.join(" AND ")
        );
        let mut stmt = self.db.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            let json = json?;
            let m = serde_json::from_str(&json).map_err(|e| {
                crate::StoreError::Recording(format!("a catalog entry is not valid: {e}"))
            })?;
            out.push(m);
        }
        Ok(out)
    }

    /// One session by id.
    pub fn get(&self, session_id: &str) -> Result<Option<Manifest>> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT manifest FROM sessions WHERE session_id = ?1")?;
        let mut rows = stmt.query_map(params![session_id], |r| r.get::<_, String>(0))?;
        match rows.next() {
            Some(json) => Ok(Some(serde_json::from_str(&json?).map_err(|e| {
                crate::StoreError::Recording(format!("a catalog entry is not valid: {e}"))
            })?)),
            None => Ok(None),
        }
    }

    /// How many sessions it holds.
    pub fn len(&self) -> Result<u64> {
        Ok(self
            .db
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))?)
    }

    /// Whether it holds no session.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

fn insert(db: &Connection, m: &Manifest) -> Result<()> {
    let start_us = m.start.as_deref().and_then(|s| micros(s).ok());
    let json = serde_json::to_string(m).expect("a manifest serialises");
    db.execute(
        "INSERT OR REPLACE INTO sessions (session_id, user, host, grant_id, start_us, start, manifest)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![m.session_id, m.user, m.host, m.grant, start_us, m.start, json],
    )?;
    Ok(())
}

/// Microseconds since the epoch of an RFC 3339 time, or of a date (`2026-11-26`, midnight UTC).
/// A time as the filters take it: RFC 3339, or a date (midnight UTC).
pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse::<jiff::Timestamp>()
        .or_else(|_| format!("{s}T00:00:00Z").parse::<jiff::Timestamp>())
        .ok()
}

fn micros(s: &str) -> Result<i64> {
    let t = parse_time(s).ok_or_else(|| {
        crate::StoreError::Config(format!(
            "{s:?} is not a time: use RFC 3339 (2026-11-26T10:00:00Z) or a date (2026-11-26)"
        ))
    })?;
    Ok(t.as_microsecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &str, user: &str, start: &str) -> Manifest {
        Manifest {
            manifest: 1,
            session_id: id.into(),
            key: format!("k/{id}"),
            host: Some("b1".into()),
            user: Some(user.into()),
            grant: Some(format!("G-{user}")),
            start: Some(start.into()),
            duration_ms: 1,
            size: 1,
            sha256: "00".into(),
            verdict: crate::manifest::ShippedVerdict::Intact,
            key_id: None,
            identity: None,
            grant_detail: None,
            uploaded: start.into(),
            attestation: Default::default(),
            claimed: None,
            problem: None,
        }
    }

    #[test]
    fn filters_by_user_grant_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        c.replace_all(&[
            manifest("a", "alice", "2026-11-26T10:00:00Z"),
            manifest("b", "bob", "2026-11-26T11:00:00Z"),
            manifest("c", "alice", "2026-11-27T09:00:00Z"),
        ])
        .unwrap();
        let ids = |f: Filter| -> Vec<String> {
            c.query(&f)
                .unwrap()
                .into_iter()
                .map(|m| m.session_id)
                .collect()
        };
        assert_eq!(ids(Filter::default()), ["a", "b", "c"]);
        let alice = Filter {
            user: Some("alice".into()),
            ..Default::default()
        };
        assert_eq!(ids(alice), ["a", "c"]);
        let grant = Filter {
            grant: Some("G-bob".into()),
            ..Default::default()
        };
        assert_eq!(ids(grant), ["b"]);
        let day = Filter {
            since: Some("2026-11-26".into()),
            until: Some("2026-11-27".into()),
            ..Default::default()
        };
        assert_eq!(ids(day), ["a", "b"]);
        let bad = Filter {
            since: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(c.query(&bad).is_err());
    }
}
