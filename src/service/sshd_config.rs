//! The little the service reads from sshd's configuration: `TrustedUserCAKeys`, the CAs whose
//! user certificates sshd accepts, so that the service trusts exactly those by default. sshd
//! takes the first value of a keyword; `Include` is followed (with `*` globs in the file name);
//! `Match` blocks are not read (a CA set there applies to some logins only: configure
//! `[service] trusted_user_ca_keys` instead).

use std::path::{Path, PathBuf};

/// The files `TrustedUserCAKeys` names in `config` (empty if none or unreadable).
pub fn trusted_user_ca_keys(config: &Path) -> Vec<PathBuf> {
    let mut found = None;
    walk(config, 0, &mut found);
    found.unwrap_or_default()
}

fn walk(file: &Path, depth: usize, found: &mut Option<Vec<PathBuf>>) {
    if depth > 8 || found.is_some() {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(|c: char| c.is_whitespace() || c == '=')
            .map(|(k, v)| {
                (
                    k,
                    v.trim_start_matches(|c: char| c.is_whitespace() || c == '='),
                )
            })
            .unwrap_or((line, ""));
        match key.to_ascii_lowercase().as_str() {
            "match" => return,
            "include" => {
                for pattern in value.split_whitespace() {
                    for f in expand(pattern) {
                        walk(&f, depth + 1, found);
                    }
                }
            }
            "trustedusercakeys" if found.is_none() => {
                *found = Some(if value.eq_ignore_ascii_case("none") {
                    Vec::new()
                } else {
                    value.split_whitespace().map(PathBuf::from).collect()
                });
            }
            _ => {}
        }
        if found.is_some() {
            return;
        }
    }
}

/// An `Include` pattern: relative to /etc/ssh, a `*` allowed in the last component.
fn expand(pattern: &str) -> Vec<PathBuf> {
    let path = Path::new("/etc/ssh").join(pattern);
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Some((pre, post)) = name.split_once('*') else {
        return vec![path.clone()];
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.starts_with(pre) && n.ends_with(post) && n.len() >= pre.len() + post.len()
            })
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_value_before_any_match_block_counts() {
        let dir = tempfile::TempDir::new().unwrap();
        let inc = dir.path().join("inc.conf");
        std::fs::write(&inc, "# drop-in\nTrustedUserCAKeys /etc/ssh/ca-a.pub\n").unwrap();
        let main = dir.path().join("sshd_config");
        std::fs::write(
            &main,
            format!(
                "Port 22\nInclude {}\nTrustedUserCAKeys /etc/ssh/ca-b.pub\n",
                inc.display()
            ),
        )
        .unwrap();
        assert_eq!(
            trusted_user_ca_keys(&main),
            vec![PathBuf::from("/etc/ssh/ca-a.pub")]
        );
        std::fs::write(&main, "Match User x\nTrustedUserCAKeys /x\n").unwrap();
        assert!(trusted_user_ca_keys(&main).is_empty());
        std::fs::write(&main, "trustedusercakeys=/c.pub\n").unwrap();
        assert_eq!(trusted_user_ca_keys(&main), vec![PathBuf::from("/c.pub")]);
    }
}
