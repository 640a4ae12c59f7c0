//! `sessrec play`: the review TUI, or with `--dump` the screen at a moment as text.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use sessrec_formats::container::{self, verify};
use sessrec_formats::keys::PublicKey;
use sessrec_formats::{Header, OpenOptions, open_path, open_reader};
use sessrec_player::app::{App, Meta};
use sessrec_player::time::{parse_goto, safe};
use sessrec_player::{LoadOptions, Loading, Player, Verdict, cache, load_then};

use crate::cli::Play;
use crate::exit::Status;
use crate::follow::Tail;
use crate::keyfile::trusted_keys;
use crate::print;

impl Play {
    pub fn run(self) -> Result<Status> {
        if self.ansi && !self.dump {
            bail!("--ansi only goes with --dump (sessrec play FILE --dump --ansi)");
        }
        sessrec_player::keep_heap_compact();
        let (trusted, _) = trusted_keys(&self.keys, &self.config)?;
        // A store's file is read several times (hash, load, verification): from a private copy,
        // so it cannot be rewritten in place between the reads.
        let fetched = crate::fetch::resolve(&self.file, self.store.as_deref(), &self.config)?
            .private_copy()?;
        let path = fetched.path().to_path_buf();
        let reader = if self.follow {
            let tail = Tail::open(&path)
                .with_context(|| format!("cannot read {}", self.file.display()))?;
            open_reader(Box::new(tail), &OpenOptions::default())
        } else {
            open_path(&path, &OpenOptions::default())
        }
        .with_context(|| format!("cannot read {}", self.file.display()))?;
        fetched.check_header(reader.header())?;
        let header = reader.header().clone();
        let start = start_of(&header);
        let at = match &self.at {
            Some(t) => Some(parse_goto(t, start).map_err(|e| anyhow!("--at: {e}"))?),
            None => None,
        };
        let index = index_dir().filter(|_| !self.no_cache);
        // Segments past the memory budget go to an unnamed file: beside the cache, or in the
        // temporary directory when the cache is not to be touched.
        let options = LoadOptions {
            spill_dir: Some(index.clone().unwrap_or_else(std::env::temp_dir)),
            live: self.follow,
        };
        // A live recording's index would be stale at once: it is not cached.
        let cached = match &index {
            Some(dir) if !self.follow => cache::entry(dir, &path),
            _ => None,
        };
        let loading = match cached.as_deref().and_then(cache::load) {
            Some(timeline) => Loading::loaded(header.clone(), timeline),
            None => load_then(reader, options, move |t| {
                if let Some(at) = &cached {
                    // A cache that cannot be written only costs the next start its speed.
                    let _ = cache::save(at, t);
                }
            })
            .context("cannot start loading the recording")?,
        };
        if self.dump {
            // Checked beside the load: a moment after the last checkpoint is no evidence.
            let checking = {
                let (p, t) = (path.clone(), trusted.clone());
                let session = header.session_id().map(str::to_owned);
                std::thread::spawn(move || tail_of(&p, t, session.as_deref()))
            };
            loading.wait();
            let t = loading.timeline();
            let mut player = Player::new(&t);
            player.seek(&t, at.unwrap_or(t.duration));
            if let Some(e) = t.read_error() {
                bail!("{e}; play it again with --no-cache");
            }
            let screen = if self.ansi {
                player.terminal().ansi()
            } else {
                player.terminal().text()
            };
            let mut out = print::stdout();
            out.write_all(screen.as_bytes())
                .and_then(|()| out.flush())
                .context("writing the screen")?;
            let moment = at.unwrap_or(t.duration);
            if let Ok(Some(unproven)) = checking.join()
                && let Some((why, status)) = unproven.at(moment)
            {
                print::warn(format_args!("{}: {why}", self.file.display()));
                return Ok(status);
            }
            if let Some(e) = loading.error() {
                print::note(format_args!(
                    "{}: the recording stops early ({e}); this is the screen as far as it goes",
                    self.file.display()
                ));
                return Ok(Status::Truncated);
            }
            return Ok(Status::Ok);
        }
        if !std::io::stdout().is_terminal() {
            bail!(
                "sessrec play needs a terminal; to print the screen at a moment use --dump [--at T]"
            );
        }
        let meta = meta_of(&header, start);
        check_in_background(
            &path,
            trusted,
            &meta,
            header.session_id().map(str::to_owned),
        );
        let mut app = App::new(loading, meta);
        if let Some(t) = at {
            app.start_at(t);
        }
        if !self.paused {
            app.play();
        }
        if self.follow {
            app.follow_live();
        }
        sessrec_player::run(app).context("the terminal failed")?;
        drop(fetched);
        Ok(Status::Ok)
    }
}

/// Where indexes are cached: `$XDG_CACHE_HOME/sessrec/index` or `~/.cache/sessrec/index`.
fn index_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("sessrec").join("index"))
}

/// When the recording started: the sessrec header's start, else the asciicast timestamp.
fn start_of(header: &Header) -> Option<jiff::Timestamp> {
    let from_meta = header
        .sessrec
        .as_ref()
        .and_then(|m| m.start.as_deref())
        .and_then(|s| s.parse().ok());
    from_meta.or_else(|| {
        header
            .timestamp
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
    })
}

/// Who, where and under which grant, made safe to show.
fn meta_of(header: &Header, start: Option<jiff::Timestamp>) -> Meta {
    let s = header.sessrec.as_ref();
    let field =
        |v: Option<&Value>, key: &str| v.and_then(|v| v.get(key)).and_then(Value::as_str).map(safe);
    Meta {
        user: field(s.and_then(|m| m.identity.as_ref()), "user"),
        host: s.and_then(|m| m.host.as_deref()).map(safe),
        grant: field(s.and_then(|m| m.grant.as_ref()), "id"),
        start,
        verdict: Arc::new(Mutex::new(Verdict::Verifying)),
        unsigned_from: Arc::new(Mutex::new(None)),
    }
}

/// Verifies the recording on a thread and puts the verdict (and where an unsigned tail starts)
/// where the status bar and the timeline read them.
/// `session` is the session the shown header names: a verification pass that reads another
/// (the file rewritten in place since) makes the verdict `altered`.
fn check_in_background(path: &Path, trusted: Vec<PublicKey>, meta: &Meta, session: Option<String>) {
    let path: PathBuf = path.to_path_buf();
    let into = meta.verdict.clone();
    let shown = into.clone();
    let tail = meta.unsigned_from.clone();
    let started = std::thread::Builder::new()
        .name("verify".into())
        .spawn(move || {
            let (verdict, from) = verdict_of(&path, trusted, &into, session.as_deref());
            if let Ok(mut t) = tail.lock() {
                *t = from;
            }
            if let Ok(mut v) = into.lock() {
                *v = verdict;
            }
        });
    if started.is_err()
        && let Ok(mut v) = shown.lock()
    {
        *v = Verdict::NotVerified;
    }
}

/// What of a `.cast.zst` no trusted signature covers.
enum Unproven {
    /// Events after the last checkpoint, from this time (µs).
    Tail(u64),
    /// Altered from this time (µs).
    Altered(u64),
    /// No signatures at all.
    Unsigned,
    /// Signed by a key not trusted here.
    Untrusted,
}

impl Unproven {
    /// Why the screen at `moment` (µs) is no evidence, and the exit status, if it is not.
    fn at(&self, moment: u64) -> Option<(String, Status)> {
        let clock = sessrec_formats::time::clock;
        let past = |what: &str, from: u64| {
            format!(
                "this moment ({}) is past the last checkpoint: {what} {}, so no signature covers \
                 what is shown",
                clock(moment),
                clock(from)
            )
        };
        match *self {
            Unproven::Tail(from) if moment >= from => {
                Some((past("the unsigned tail starts at", from), Status::Truncated))
            }
            Unproven::Altered(from) if moment >= from => {
                Some((past("the recording is altered from", from), Status::Altered))
            }
            Unproven::Unsigned => Some((
                "the recording carries no signatures: nothing shown is proven".into(),
                Status::Unsigned,
            )),
            Unproven::Untrusted => Some((
                "the recording is signed by a key not trusted here (--key, trusted_keys): \
                 nothing shown is proven"
                    .into(),
                Status::UntrustedKey,
            )),
            _ => None,
        }
    }
}

/// Verifies the recording at `path`: `Ok(None)` when it is not a `.cast.zst`. A pass whose
/// header names another session than `session` (the one shown; the file was rewritten since)
/// is reported as altered from the start.
fn report_of(
    path: &Path,
    trusted: Vec<PublicKey>,
    session: Option<&str>,
) -> Result<Option<container::VerifyReport>> {
    let mut file = std::fs::File::open(path)?;
    if !super::verify::is_container(&mut file)? {
        return Ok(None);
    }
    let mut r = verify(file, trusted)?;
    if session.is_some() && r.integrity.session_id.as_deref() != session {
        r.verdict = container::Verdict::Altered;
        r.integrity.verified_end_ms = Some(0);
    }
    Ok(Some(r))
}

/// What no trusted signature covers in the recording at `path`, if it is a `.cast.zst`.
fn tail_of(path: &Path, trusted: Vec<PublicKey>, session: Option<&str>) -> Option<Unproven> {
    let r = report_of(path, trusted, session).ok()??;
    match r.verdict {
        container::Verdict::Altered => Some(Unproven::Altered(
            r.integrity.verified_end_ms.unwrap_or(0) * 1000,
        )),
        container::Verdict::Unsigned => Some(Unproven::Unsigned),
        container::Verdict::UntrustedKey => Some(Unproven::Untrusted),
        _ => unsigned_from(&r).map(Unproven::Tail),
    }
}

/// Where a verified recording's unsigned tail starts: after the last event a checkpoint
/// covers, when events follow it. An unsigned recording is unsigned throughout (its verdict
/// says so), not a tail.
fn unsigned_from(r: &container::VerifyReport) -> Option<u64> {
    let tail = r.unverified_tail_events() > 0
        && r.verdict != container::Verdict::Unsigned
        && r.integrity.session_id.is_some();
    tail.then(|| r.integrity.verified_end_ms.unwrap_or(0) * 1000)
}

fn verdict_of(
    path: &Path,
    trusted: Vec<PublicKey>,
    into: &Mutex<Verdict>,
    session: Option<&str>,
) -> (Verdict, Option<u64>) {
    if path == Path::new("-") {
        return (Verdict::NotVerified, None);
    }
    // A recording still being written is verified once its recorder is done.
    while crate::spool::is_live(path) {
        if let Ok(mut v) = into.lock() {
            *v = Verdict::Recording;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    match report_of(path, trusted, session) {
        Ok(None) => (Verdict::Unsigned, None),
        Ok(Some(r)) => (
            match r.verdict {
                container::Verdict::Intact => Verdict::Signed,
                container::Verdict::UntrustedKey => Verdict::UntrustedKey,
                container::Verdict::Truncated => Verdict::Truncated,
                container::Verdict::Incomplete => Verdict::Incomplete,
                container::Verdict::Altered => Verdict::Altered,
                container::Verdict::Unsigned => Verdict::Unsigned,
            },
            unsigned_from(&r),
        ),
        Err(_) => (Verdict::NotVerified, None),
    }
}
