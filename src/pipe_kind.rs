//! Which kind of session a command without a terminal is (`ssh host CMD`, scp, sftp, rsync),
//! decided from the exact command line sshd passes, parsed without a shell. The pipe policy
//! may let scp, sftp or rsync run unrecorded: such a command must be exactly that program in its
//! server mode, run from its parsed words, never a shell line that merely starts with its name
//! (`scp 2>/dev/null; exec bash -i` is a shell, so it is `exec`).

use std::path::{Path, PathBuf};

/// The kinds the pipe policy tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything else: a command line for the shell.
    Exec,
    /// `scp -t` or `scp -f` (the remote end of a legacy scp).
    Scp,
    /// The configured sftp-server.
    Sftp,
    /// `rsync --server`.
    Rsync,
}

impl Kind {
    /// The name used in the policy, messages and audit events.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Scp => "scp",
            Kind::Sftp => "sftp",
            Kind::Rsync => "rsync",
        }
    }
}

/// Where scp and rsync are looked up: fixed, so that nothing in the session's environment
/// (`PATH`) or a file the user planted picks the program that runs unrecorded.
const TRUSTED_DIRS: [&str; 3] = ["/usr/bin", "/bin", "/usr/local/bin"];

/// A classified command: its kind and, for scp, sftp and rsync, the program and its arguments
/// to run directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The kind.
    pub kind: Kind,
    /// For every kind but `Exec`: the absolute program path and its arguments.
    pub argv: Option<(PathBuf, Vec<String>)>,
}

/// Classifies `command`, with `sftp_server` the configured sftp-server path.
pub fn classify(command: &str, sftp_server: &Path) -> Classified {
    let exec = Classified {
        kind: Kind::Exec,
        argv: None,
    };
    let Some(words) = split(command) else {
        return exec;
    };
    let Some((first, args)) = words.split_first() else {
        return exec;
    };
    let (kind, program) = if Path::new(first) == sftp_server {
        (Kind::Sftp, Some(sftp_server.to_path_buf()))
    } else if is_scp_server(first, args) {
        (Kind::Scp, trusted_program(first, "scp"))
    } else if args.first().map(String::as_str) == Some("--server") {
        (Kind::Rsync, trusted_program(first, "rsync"))
    } else {
        return exec;
    };
    match program {
        Some(p) => Classified {
            kind,
            argv: Some((p, args.to_vec())),
        },
        // `rsync --server` from a program we do not trust to be rsync: a shell command.
        None => exec,
    }
}

/// `scp` with `-t` or `-f` among its options (before `--` or the first operand).
fn is_scp_server(first: &str, args: &[String]) -> bool {
    Path::new(first).file_name().is_some_and(|n| n == "scp")
        && args
            .iter()
            .take_while(|a| a.starts_with('-') && *a != "--")
            .any(|a| {
                a.len() > 1
                    && a[1..].chars().all(|c| "dprtfv".contains(c))
                    && (a.contains('t') || a.contains('f'))
            })
}

/// `word` as the absolute path of `name` in a trusted directory: the bare name looked up there,
/// or an absolute path that is already one of them.
fn trusted_program(word: &str, name: &str) -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = TRUSTED_DIRS
        .iter()
        .map(|d| Path::new(d).join(name))
        .collect();
    if word == name {
        candidates.into_iter().find(|p| p.is_file())
    } else {
        candidates.into_iter().find(|p| p.as_os_str() == word)
    }
}

/// The words of `command` as a shell would split a simple command of plain words: blanks
/// separate, single quotes and double quotes group, a backslash outside quotes takes the next
/// character as it is. `None` as soon as anything else a shell would act on appears (operators,
/// redirections, expansions, globs, comments, assignments, newlines): then it is a shell line.
fn split(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' | '!' => return None,
                        c => w.push(c),
                    }
                }
            }
            '\\' => match chars.next()? {
                '\n' => return None,
                c => word.get_or_insert_with(String::new).push(c),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '$' | '`' | '*' | '?' | '[' | ']' | '{'
            | '}' | '!' | '\n' | '\r' => return None,
            // A comment, a home directory or an assignment only where a word starts.
            '#' | '~' if word.is_none() => return None,
            '=' if words.is_empty() => return None,
            c if c.is_control() => return None,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SFTP: &str = "/usr/lib/openssh/sftp-server";

    fn kind(cmd: &str) -> Kind {
        classify(cmd, Path::new(SFTP)).kind
    }

    #[test]
    fn the_servers_are_recognised_from_their_exact_words() {
        assert_eq!(kind(SFTP), Kind::Sftp);
        assert_eq!(kind("/usr/lib/openssh/sftp-server -l INFO"), Kind::Sftp);
        assert_eq!(kind("echo hello"), Kind::Exec);
        if Path::new("/usr/bin/scp").is_file() {
            assert_eq!(kind("scp -t /tmp"), Kind::Scp);
            assert_eq!(kind("scp -r -p -t -- '/tmp/a dir'"), Kind::Scp);
            assert_eq!(kind("/usr/bin/scp -f /etc/hostname"), Kind::Scp);
            let c = classify("scp -pt '/tmp/it''s'", Path::new(SFTP));
            assert_eq!(
                c.argv,
                Some((
                    PathBuf::from("/usr/bin/scp"),
                    vec!["-pt".into(), "/tmp/its".into()]
                ))
            );
        }
    }

    #[test]
    fn a_shell_line_that_starts_like_a_server_is_exec() {
        for cmd in [
            "scp 2>/dev/null; exec bash -i",
            "scp -t /tmp; bash",
            "scp -t /tmp && sh",
            "scp -t /tmp | sh",
            "scp -t $(sh)",
            "scp -t `sh`",
            "scp -t /tmp\nbash -i",
            "scp -t \"$HOME\"",
            "scp -t *.log",
            "scp -t /tmp # comment",
            "PATH=/tmp scp -t /tmp",
            "scp",
            "scp /etc/passwd",
            "/tmp/scp -t /tmp",
            "./scp -t /tmp",
            "/tmp/rsync --server . /tmp",
            "rsync --server . /tmp; sh",
            "sftp-server",
            "/usr/lib/openssh/sftp-server; sh",
            "bash -c 'scp -t /tmp'",
            "scp -t 'unterminated",
            "",
        ] {
            assert_eq!(kind(cmd), Kind::Exec, "{cmd:?}");
        }
    }

    #[test]
    fn words_split_as_a_shell_splits_plain_words() {
        assert_eq!(
            split(r#"a 'b c' "d e" f\ g 'h'"i""#),
            Some(vec![
                "a".into(),
                "b c".into(),
                "d e".into(),
                "f g".into(),
                "hi".into()
            ])
        );
        assert_eq!(split("a=b"), None);
        assert_eq!(split("cmd a=b"), Some(vec!["cmd".into(), "a=b".into()]));
        assert_eq!(split("cmd a#b ~x"), None);
        assert_eq!(
            split("cmd a#b x~"),
            Some(vec!["cmd".into(), "a#b".into(), "x~".into()])
        );
    }
}
