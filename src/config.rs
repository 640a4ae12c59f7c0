//! The system policy, `/etc/sessrec/config.toml`. In login-shell mode it is the only source of
//! the shell, spool, key and policy: nothing the recorded user controls (environment, dotfiles,
//! flags) is read for them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// Where the policy lives. Fixed: a recorded user must not be able to point sessrec elsewhere.
pub const CONFIG_PATH: &str = "/etc/sessrec/config.toml";

/// What to do when the recording cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// No recording, no session: a session whose recording fails is ended.
    Strict,
    /// The session goes on unrecorded, and an alert is raised.
    BestEffort,
}

/// What to do with sessions that have no terminal (scp, sftp, rsync, `ssh host cmd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipePolicy {
    /// Record the bytes both ways.
    Record,
    /// Let it run unrecorded (an audit event says so).
    Allow,
    /// Refuse it.
    Deny,
}

/// Per kind of non-interactive session.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipeConfig {
    /// `ssh host cmd`.
    pub exec: PipePolicy,
    /// scp.
    pub scp: PipePolicy,
    /// sftp (configure sshd's `Subsystem sftp /usr/lib/openssh/sftp-server`: `internal-sftp`
    /// never reaches a login shell).
    pub sftp: PipePolicy,
    /// rsync.
    pub rsync: PipePolicy,
    /// The sftp-server sshd runs for the sftp subsystem: a command of exactly this path is
    /// the `sftp` kind.
    pub sftp_server: PathBuf,
}

impl Default for PipeConfig {
    fn default() -> Self {
        PipeConfig {
            exec: PipePolicy::Record,
            scp: PipePolicy::Record,
            sftp: PipePolicy::Record,
            rsync: PipePolicy::Record,
            sftp_server: PathBuf::from("/usr/lib/openssh/sftp-server"),
        }
    }
}

/// The recording service (`sessrec daemon`) and how login clients reach it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// The service's socket; its directory also holds the running sessions' files.
    pub socket: PathBuf,
    /// Programs that start login shells (running as root): a client whose parent runs one of
    /// these is a login; anything else that is not inside a recorded session is refused.
    pub launchers: Vec<PathBuf>,
    /// Files of CA public keys trusted for user certificates; unset: sshd's own
    /// `TrustedUserCAKeys`, read from `sshd_config`.
    pub trusted_user_ca_keys: Option<Vec<PathBuf>>,
    /// sshd's configuration, for `TrustedUserCAKeys` and for `doctor`.
    pub sshd_config: PathBuf,
    /// Where sessions' cgroups are made (a delegated cgroup v2 directory); unset: beside the
    /// service's own cgroup.
    pub cgroup_parent: Option<PathBuf>,
    /// At most this many connections (sessions, or clients not yet past their checks) of one
    /// user at a time: a user cannot fill the host with the service's processes.
    pub max_sessions_per_user: usize,
    /// At most this many in all.
    pub max_sessions: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            socket: PathBuf::from("/run/sessrec/sessrec.sock"),
            launchers: [
                "/usr/sbin/sshd",
                "/usr/lib/openssh/sshd-session",
                "/usr/libexec/openssh/sshd-session",
                "/usr/bin/login",
                "/bin/login",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
            trusted_user_ca_keys: None,
            sshd_config: PathBuf::from("/etc/ssh/sshd_config"),
            cgroup_parent: None,
            max_sessions_per_user: 64,
            max_sessions: 2048,
        }
    }
}

/// The policy file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The real shell users get.
    pub shell: PathBuf,
    /// Where recordings are written.
    pub spool: PathBuf,
    /// The host's signing key (PKCS#8 PEM, readable by the sessrec group only).
    pub signing_key: Option<PathBuf>,
    /// What happens when the recording cannot be written.
    pub failure_policy: FailurePolicy,
    /// Record keystrokes (never at password prompts).
    pub capture_input: bool,
    /// Extra password-prompt patterns (regular expressions matched against the end of the
    /// output); the built-in pattern stays.
    pub password_prompts: Vec<String>,
    /// age X25519 recipients (`age1...`, from `age-keygen`) withheld keystrokes are encrypted
    /// to, so the security team can recover them with `sessrec unseal`; empty: withheld
    /// keystrokes are dropped.
    pub escrow_recipients: Vec<String>,
    /// What withheld runs that look like work rather than a password (echo off at a shell
    /// prompt, several lines, over 256 bytes or 60 s) get: `escrow` (the default; dropped
    /// without recipients), `record` (in the clear) or `drop`. They are always marked and
    /// alerted on.
    pub withhold_suspicious: crate::record::withhold::SuspiciousPolicy,
    /// Refuse sessions without a valid grant.
    pub require_grant: bool,
    /// Instead of refusing, ask for a reason, record it and raise an alert.
    pub break_glass: bool,
    /// Where the access system writes grants, one `USER.json` per user, owned by root.
    pub grant_dir: PathBuf,
    /// Take the grant from `SESSREC_GRANT_ID` / `SESSREC_GRANT_EXPIRES` in the environment.
    /// Only for setups where the environment is set by something trusted.
    pub trust_env_grant: bool,
    /// The banner shown at the start (`{session}`, `{grant}`, `{expires}` are filled in);
    /// empty for none.
    pub banner: String,
    /// The audit log (JSON lines).
    pub audit_log: PathBuf,
    /// Also send audit events to syslog.
    pub syslog: bool,
    /// Sessions without a terminal.
    pub pipe: PipeConfig,
    /// Below this much free space in the spool (MiB), new sessions follow the failure policy;
    /// 0 turns the check off.
    pub min_free_mb: u64,
    /// Once short, sessions are accepted again only above this much (MiB).
    pub resume_free_mb: u64,
    /// Where `sessrec upload` ships recordings: `file:///DIR`, `s3://BUCKET/PREFIX`,
    /// `az://CONTAINER/PREFIX` or `gs://BUCKET/PREFIX`.
    pub storage: String,
    /// Endpoint, region and credentials for `s3://` storage (else the usual AWS variables).
    pub s3: sessrec_store::S3Settings,
    /// Account and credentials for `az://` storage (else the usual Azure variables).
    pub azure: sessrec_store::AzureSettings,
    /// Credentials and endpoint for `gs://` storage (else the usual Google variables).
    pub gcs: sessrec_store::GcsSettings,
    /// Public keys (`.pub` files) a reviewer trusts: `verify` and `play` use them when no
    /// `--key` is given.
    pub trusted_keys: Vec<PathBuf>,
    /// The recording service.
    pub service: ServiceConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            shell: PathBuf::from("/bin/bash"),
            spool: PathBuf::from("/var/spool/sessrec"),
            signing_key: Some(PathBuf::from("/etc/sessrec/signing.key")),
            failure_policy: FailurePolicy::Strict,
            capture_input: true,
            password_prompts: Vec::new(),
            escrow_recipients: Vec::new(),
            withhold_suspicious: crate::record::withhold::SuspiciousPolicy::Escrow,
            require_grant: false,
            break_glass: false,
            grant_dir: PathBuf::from("/run/sessrec/grants"),
            trust_env_grant: false,
            banner: "This session is recorded by sessrec (session {session}, grant {grant}, expires {expires})."
                .into(),
            audit_log: PathBuf::from("/var/log/sessrec/audit.log"),
            syslog: true,
            pipe: PipeConfig::default(),
            min_free_mb: 256,
            resume_free_mb: 512,
            storage: "file:///var/lib/sessrec/store".into(),
            s3: sessrec_store::S3Settings::default(),
            azure: sessrec_store::AzureSettings::default(),
            gcs: sessrec_store::GcsSettings::default(),
            trusted_keys: Vec::new(),
            service: ServiceConfig::default(),
        }
    }
}

impl Config {
    /// The settings `Store::open` needs for any kind of storage URL.
    pub fn store_settings(&self) -> sessrec_store::StoreSettings {
        sessrec_store::StoreSettings {
            s3: self.s3.clone(),
            azure: self.azure.clone(),
            gcs: self.gcs.clone(),
        }
    }

    /// Reads the policy. A missing file means the defaults; an unreadable or invalid one is an
    /// error (the caller refuses the session: a broken policy must not open the door).
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let config: Config =
            toml::from_str(&text).with_context(|| format!("{} is invalid", path.display()))?;
        config
            .escrow()
            .with_context(|| format!("{} is invalid", path.display()))?;
        Ok(config)
    }

    /// The escrow recipients, parsed (`None` when there are none).
    pub fn escrow(&self) -> Result<Option<crate::escrow::Recipients>> {
        if self.escrow_recipients.is_empty() {
            return Ok(None);
        }
        crate::escrow::Recipients::parse(&self.escrow_recipients).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_policy_and_rejects_typos() {
        let c: Config = toml::from_str(
            "shell = \"/bin/zsh\"\nrequire_grant = true\nfailure_policy = \"best_effort\"\n[pipe]\nscp = \"deny\"\n",
        )
        .unwrap();
        assert_eq!(c.shell, PathBuf::from("/bin/zsh"));
        assert!(c.require_grant);
        assert_eq!(c.failure_policy, FailurePolicy::BestEffort);
        assert_eq!(c.pipe.scp, PipePolicy::Deny);
        assert_eq!(c.pipe.exec, PipePolicy::Record);
        assert!(toml::from_str::<Config>("requre_grant = true").is_err());
    }
}
