//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Terminal session recorder for bastion hosts: signed, crash-safe, asciicast-compatible
/// recordings that auditors can verify offline.
#[derive(Debug, Parser)]
#[command(name = "sessrec", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Rec(Rec),
    Convert(Convert),
    Info(Info),
    Verify(Verify),
    Keygen(Keygen),
    Upload(Upload),
    Ls(Ls),
    Index(Index),
    Export(Export),
    Doctor(Doctor),
    Play(Play),
    Unseal(Unseal),
    Daemon(Daemon),
}

/// Show the escrowed keystrokes of a recording: what was typed at its password prompts,
/// encrypted to the policy's escrow recipients.
///
/// Needs an identity of one of the recipients (the security team's age key, kept offline).
/// The recording is verified first: only escrowed input a trusted signature covers is shown.
/// Before anything is shown, an `escrow.unsealed` audit event says who unsealed what; when it
/// cannot be written, nothing is shown.
#[derive(Debug, clap::Args)]
pub struct Unseal {
    /// Recording file, a store URL, or a session id from the catalog.
    pub file: PathBuf,
    /// The age identity file (AGE-SECRET-KEY-1... lines, as `age-keygen` writes it).
    #[arg(long, short = 'i', value_name = "KEYFILE")]
    pub identity: PathBuf,
    /// A trusted public key of the recorder; repeatable (default: the policy's `trusted_keys`).
    #[arg(long = "key", value_name = "PUBKEY")]
    pub keys: Vec<PathBuf>,
    /// The store to look session ids up in (default: `storage` of the policy).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The audit log to write the `escrow.unsealed` event to (default: the policy's
    /// `audit_log`).
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// The policy file.
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
}

/// Run the recording service (root): login shells hand their sessions to it.
///
/// It listens on `[service] socket` (default /run/sessrec/sessrec.sock), checks that each
/// client was started by sshd or login, starts the user's shell on a PTY it owns, records and
/// signs, and writes the spool and the audit log. Each session lives in its own process:
/// stopping the service ends no session. dist/sessrec.service runs it under systemd.
#[derive(Debug, clap::Args)]
pub struct Daemon {
    /// The policy file.
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
}

/// Review a recording: a player with seek, speed, search and markers, or the screen at a
/// moment as text.
///
/// Press ? in the player for its keys (the same table as docs/player.md). Plays sessrec
/// .cast.zst, asciicast v1/v2/v3 and their gzip.
/// Recorded escape sequences never reach this terminal: they drive a virtual terminal.
#[derive(Debug, clap::Args)]
#[command(after_long_help = sessrec_player::keys::help_text())]
pub struct Play {
    /// Recording file, - for standard input, a store URL (s3://, az://, gs://BUCKET/KEY), or a
    /// session id from the catalog.
    pub file: PathBuf,
    /// The store to look session ids up in (default: `storage` of /etc/sessrec/config.toml).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// A trusted public key, for the verdict in the status bar; repeatable (default: the
    /// policy's `trusted_keys`).
    #[arg(long = "key", value_name = "PUBKEY")]
    pub keys: Vec<PathBuf>,
    /// The policy file (store settings, and `trusted_keys` when no --key is given).
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
    /// Start at (or with --dump: show) this moment: an offset (90s, 5m, 1:23:45), a UTC time
    /// of day (@10:15) or a date and time (2026-11-26T10:15:00Z). --dump defaults to the end.
    #[arg(long, value_name = "T")]
    pub at: Option<String>,
    /// Print the screen at --at as text and exit (no terminal needed).
    #[arg(long)]
    pub dump: bool,
    /// With --dump: keep colours and attributes (SGR sequences only).
    #[arg(long)]
    pub ansi: bool,
    /// Start paused.
    #[arg(long)]
    pub paused: bool,
    /// Follow a recording that is still being written, at its live end, until its recorder
    /// ends (for other recorders' files: until it has not grown for 5 s).
    #[arg(long, conflicts_with = "dump")]
    pub follow: bool,
    /// Do not use or save the index cache (~/.cache/sessrec/index).
    #[arg(long)]
    pub no_cache: bool,
}

/// What suspicious withheld runs get.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SuspiciousArg {
    /// Recorded in the clear.
    Record,
    /// Escrowed (dropped without escrow recipients).
    Escrow,
    /// Dropped.
    Drop,
}

impl From<SuspiciousArg> for crate::record::withhold::SuspiciousPolicy {
    fn from(a: SuspiciousArg) -> Self {
        match a {
            SuspiciousArg::Record => Self::Record,
            SuspiciousArg::Escrow => Self::Escrow,
            SuspiciousArg::Drop => Self::Drop,
        }
    }
}

/// Record a terminal session into a signed .cast.zst.
///
/// Starts CMD (default: $SHELL) on a pseudo-terminal and records what it prints, what is typed
/// (except at password prompts) and window size changes, until it exits. Exits with its status.
#[derive(Debug, clap::Args)]
pub struct Rec {
    /// The recording (default: sessrec-SESSION_ID.cast.zst in the current directory). A
    /// directory is taken as a spool: DIR/SESSION_ID.cast.zst, with the signed sealed manifest
    /// the uploader expects beside it (DIR/SESSION_ID.manifest.json).
    #[arg(short, long, value_name = "FILE|DIR")]
    pub output: Option<PathBuf>,
    /// Sign the recording with this secret key (from `sessrec keygen`).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Do not record keystrokes.
    #[arg(long)]
    pub no_input: bool,
    /// Encrypt withheld keystrokes (password prompts) to this age recipient (age1..., from
    /// `age-keygen`) instead of dropping them; repeatable. `sessrec unseal` shows them.
    #[arg(long = "escrow-to", value_name = "RECIPIENT")]
    pub escrow_to: Vec<String>,
    /// What withheld runs that look like work rather than a password get (echo off at a shell
    /// prompt, several lines, over 256 bytes or 60 s): always marked as suspicious, and
    /// escrowed (dropped without --escrow-to), recorded in the clear, or dropped.
    #[arg(long, value_enum, value_name = "HOW", default_value = "escrow")]
    pub withhold_suspicious: SuspiciousArg,
    /// Replace the output if it exists.
    #[arg(long)]
    pub force: bool,
    /// When the recording cannot be written (a full disk): keep the session going unrecorded,
    /// the recording sealed with a signed note that it stopped (default: end the session).
    #[arg(long)]
    pub keep_going: bool,
    /// No messages before and after the session.
    #[arg(short, long)]
    pub quiet: bool,
    /// The command and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// Convert a recording between formats.
///
/// The input format is detected: asciicast v1/v2/v3, sessrec .cast.zst, gzip of any of these,
/// ttyrec (ttyrec, termrec), util-linux script typescript + timing file, tlog JSON.
/// Exit status 3 when the input was cut short (everything before the cut is converted), 4 when a
/// .cast.zst input is altered or damaged (everything before the damage is converted).
#[derive(Debug, clap::Args)]
pub struct Convert {
    /// Input file, or - for standard input.
    pub input: PathBuf,
    /// Output file, or - for standard output. Written to a temporary file and renamed when done.
    pub output: PathBuf,
    /// Output format. Default: from the output's name (.cast.zst/.zst: zst, .txt: txt,
    /// .raw: raw), else asciicast v3.
    #[arg(long, value_enum)]
    pub to: Option<Target>,
    /// Timing file of a script typescript (default: INPUT.tm, INPUT.timing or INPUT.tim).
    #[arg(long, value_name = "FILE")]
    pub timing: Option<PathBuf>,
    /// Sign the .cast.zst with this secret key (from `sessrec keygen`).
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Replace the output if it exists.
    #[arg(long)]
    pub force: bool,
    /// Keep the events after a .cast.zst's last checkpoint, which no signature covers (left
    /// out by default: a crash leaves a short tail, and so does a cut copy with invented events
    /// appended).
    #[arg(long)]
    pub keep_unsigned_tail: bool,
}

/// Output formats of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// asciicast v2 (absolute times; for asciinema 2.x and older players).
    V2,
    /// asciicast v3.
    V3,
    /// sessrec .cast.zst: compressed, hash-chained, signed with --sign-key.
    Zst,
    /// Plain transcript of what the user saw (rendered through a virtual terminal).
    Txt,
    /// The output bytes, exactly as recorded.
    Raw,
}

/// Show a recording's header, metadata, duration, event counts, sizes and integrity status.
#[derive(Debug, clap::Args)]
pub struct Info {
    /// Recording file, - for standard input, a store URL (s3://, az://, gs://BUCKET/KEY), or a
    /// session id from the catalog.
    pub file: PathBuf,
    /// The store to look session ids up in (default: `storage` of /etc/sessrec/config.toml).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Timing file of a script typescript.
    #[arg(long, value_name = "FILE")]
    pub timing: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The policy file (store settings for URLs and session ids).
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
}

/// Verify a .cast.zst (hash chain, checkpoints, signatures and trailer), a host's audit chain
/// (every line linked to the one before, from seq 1, signed by the host key), or an export
/// bundle (SHA256SUMS and its signature, every recording and chain, and completeness).
///
/// Exit status: 0 intact and signed by a trusted key (--key, else the policy's trusted_keys); 3
/// truncated (consistent up to the cut; for an audit chain, lines missing or its last lines not
/// signed yet); 4 altered or damaged; 5 unsigned or not a sessrec recording; 6 signed by a key
/// that is not trusted; 7 incomplete (a recording stopped before its session ended; a bundle
/// missing a session its audit chains started); 1 error.
#[derive(Debug, clap::Args)]
pub struct Verify {
    /// The .cast.zst file, a store URL (s3://, az://, gs://BUCKET/KEY), or a session id from
    /// the catalog; or a host's audit chain: its audit log, a shipped segment, or a directory
    /// of segments (audit/HOST/); or an export bundle's directory.
    pub file: PathBuf,
    /// The store to look session ids up in (default: `storage` of /etc/sessrec/config.toml).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// A trusted public key (the .pub file from `sessrec keygen`); repeatable (default: the
    /// policy's `trusted_keys`).
    #[arg(long = "key", value_name = "PUBKEY")]
    pub keys: Vec<PathBuf>,
    /// The policy file (store settings, and `trusted_keys` when no --key is given).
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Generate an ed25519 key pair for signing recordings.
///
/// Writes the secret key to PATH (PKCS#8 PEM, mode 0600; never printed) and the public key to
/// PATH.pub (minisign format).
#[derive(Debug, clap::Args)]
pub struct Keygen {
    /// Where to write the secret key.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
}

/// Ship finished recordings from the spool to the store.
///
/// Every recording that is no longer being written (including one whose recorder died) is
/// verified, uploaded, confirmed by the store (the ETag of its parts, else read back and
/// compared), described by a manifest beside it, and only then deleted from the spool. Live
/// sessions are shipped in parts while they run. Runs as a service (every 2 s) unless `--once`. Failures are retried
/// with backoff; a store that is down never loses a file; a file that cannot be read is moved to
/// SPOOL/quarantine with the reason.
#[derive(Debug, clap::Args)]
pub struct Upload {
    /// Ship what is there now, then exit (status 1 if anything could not be shipped).
    #[arg(long)]
    pub once: bool,
    /// Show what is in the spool and its state, then exit.
    #[arg(long, conflicts_with = "once")]
    pub status: bool,
    /// The policy file (storage, spool, key).
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
}

/// Where the store and catalog are, for `ls` and `index`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// The store: file:///DIR, s3://BUCKET/PREFIX, az://CONTAINER/PREFIX or gs://BUCKET/PREFIX
    /// (default: `storage` of the policy file; credentials from its [s3], [azure] or [gcs]
    /// table or the provider's usual variables).
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// The catalog database (default: one per store in ~/.cache/sessrec).
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// The policy file to take the store from.
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
    /// A recording host's public key (repeatable): manifests signed by it show their verdict,
    /// any other shows "unverified" (default: the policy's `trusted_keys`). Given, the catalog
    /// is rebuilt.
    #[arg(long = "key", value_name = "PUBKEY")]
    pub keys: Vec<PathBuf>,
}

/// List recorded sessions from the catalog (built from the store on first use).
#[derive(Debug, clap::Args)]
pub struct Ls {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this OS user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only this bastion host.
    #[arg(long)]
    pub host: Option<String>,
    /// Only sessions under this grant.
    #[arg(long)]
    pub grant: Option<String>,
    /// Only sessions that started at or after this time (2026-11-26 or 2026-11-26T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only sessions that started before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Rebuild the catalog from the store first.
    #[arg(long)]
    pub refresh: bool,
    /// One JSON manifest per line.
    #[arg(long)]
    pub json: bool,
}

/// Export sessions for an auditor: a directory that proves itself offline.
///
/// The recordings and manifests exactly as stored, the hosts' audit chains and public keys,
/// manifest.json and manifest.csv (one row per session), a transcript and a plain asciicast per
/// session, README.txt, and SHA256SUMS signed in minisign's format with --sign-key, so that
/// `sha256sum -c` and `minisign -V` check it without sessrec (docs/export.md).
#[derive(Debug, clap::Args)]
pub struct Export {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The bundle directory to write (new, or empty).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Only sessions under this grant.
    #[arg(long)]
    pub grant: Option<String>,
    /// Only this OS user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only this bastion host.
    #[arg(long)]
    pub host: Option<String>,
    /// Only sessions that started at or after this time (2026-11-26 or 2026-11-26T10:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only sessions that started before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this session (repeatable); each must be in the store.
    #[arg(long = "session", value_name = "ID")]
    pub sessions: Vec<String>,
    /// The exporter's signing key (`sessrec keygen`), to sign SHA256SUMS.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
}

/// Rebuild the catalog from the store (the store is the source of truth).
#[derive(Debug, clap::Args)]
pub struct Index {
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Check this host's sessrec setup and say exactly what to fix.
///
/// Checks the policy, that the binary carries no privilege bit, the shell, the spool's and the
/// signing key's owners and modes, the key pair, free space, the clock, that the recording
/// service answers, and that the store takes, returns and deletes an object. With --user, also
/// sshd's effective settings for that recorded user (`sshd -T`: forwarding, tunnels,
/// internal-sftp, user environment, AcceptEnv) and that they cannot chsh away from sessrec.
/// Exit status 1 if anything must be fixed.
#[derive(Debug, clap::Args)]
pub struct Doctor {
    /// The policy file.
    #[arg(long, value_name = "FILE", default_value = "/etc/sessrec/config.toml")]
    pub config: PathBuf,
    /// A recorded user whose sshd settings and login shell to check.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// sshd's configuration file (default: `[service] sshd_config` of the policy).
    #[arg(long, value_name = "FILE")]
    pub sshd_config: Option<PathBuf>,
}
