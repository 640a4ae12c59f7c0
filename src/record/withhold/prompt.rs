//! Which text left of the cursor is a secret prompt: the built-in patterns (password,
//! passphrase, PIN, token, secret, API/access/encryption key ... ending in `:` or `?`; an
//! inquirer/survey question starting with `?` that names one), the policy's own, and the
//! built-in exceptions that keep ordinary prompts ("Press any key", "[Y/n]", "Access Key ID")
//! out.

use regex::Regex;

/// The words of a secret, as one alternation.
const SECRET_WORDS: &str = r"pass ?(word|phrase|code)|\bpasswd\b|\bpass\b|\bpw\b|\bpin\b|one-time (code|password)|\botp\b|\b2fa\b|\bmfa\b|(verification|security|auth|authentication) code|\btoken\b|\bsecret\b|kennwort|\b(enter|authenticator|totp|recovery|backup|verification|security|auth|authentication|sms|one-time) code\b|\bcode sent to\b|\b(unlock|decryption) key\b|^\s*key\b|senha|has(ł|l)o|wachtwoord|heslo|salasana|jelsz(ó|o)|\bparola\b|(ş|s)ifre|l(ö|o)senord|adgangskode|passord|密码|密碼|パスワード|비밀번호|كلمة المرور|\b(api|access|secret|encryption|decryption|private|master|recovery|license|signing|auth|authentication)[ _-]?key\b|\benter (the |your |same |new |a )*key\b|\bcredentials?\b|mot de passe|passwort|contrase(ñ|n)a|пароль";

/// The prompt patterns.
pub struct Prompts {
    secret: Vec<Regex>,
    not_secret: Regex,
}

impl Prompts {
    /// The built-in patterns plus `extra` (from the policy). Constants that the tests below
    /// compile and exercise; should one ever fail to compile, recording refuses to start
    /// rather than run without it.
    pub fn new(extra: Vec<Regex>) -> Result<Prompts, regex::Error> {
        let ending = Regex::new(&format!(r"(?i)({SECRET_WORDS}).{{0,80}}[:?>=：]\s*$"))?;
        let question = Regex::new(&format!(r"(?i)^\s*[?!]\s.*({SECRET_WORDS})[^:?]{{0,80}}$"))?;
        let not_secret = Regex::new(
            r"(?i)(^|\s)[~./]\S*(pass|pw|mfa|token|secret|key|pin|otp)\S*\s*[>$#%]\s*$|\S@\S.*[>$#%]\s*$|\bany key\b|\bkey id\b|\bkey (file|path|name|type|size)\b|[(\[]\s*y(es)?\s*/\s*no?\s*[)\]]\s*[:?]?\s*$|\bwhere\b.*\bsave\b",
        )?;
        let mut secret = vec![ending, question];
        secret.extend(extra);
        Ok(Prompts { secret, not_secret })
    }

    /// Patterns that match nothing (a tape that records nothing).
    pub fn none() -> Prompts {
        Prompts {
            secret: Vec::new(),
            not_secret: Regex::new("$^").expect("a constant pattern"),
        }
    }

    /// Whether `line` (the text left of the cursor) asks for a secret. Cheap for the common
    /// case: a line that neither ends in `:`, `?`, `>` or `=` nor starts with `?` is not
    /// matched at all.
    pub fn is_secret(&self, line: &str) -> bool {
        let line = line.trim_end();
        let maybe =
            line.ends_with([':', '?', '>', '=', '：']) || line.trim_start().starts_with(['?', '!']);
        if !maybe && self.secret.len() <= 2 {
            return false;
        }
        let tail = tail_chars(line, 200);
        self.secret.iter().any(|p| p.is_match(tail)) && !self.not_secret.is_match(tail)
    }
}

/// The last `n` characters of `s`.
fn tail_chars(s: &str, n: usize) -> &str {
    match s.char_indices().rev().nth(n.saturating_sub(1)) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_prompts_are_caught_and_ordinary_ones_are_not() {
        let p = Prompts::new(Vec::new()).unwrap();
        for yes in [
            "[sudo] password for alice: ",
            "Password: ",
            "Enter passphrase for key '/home/a/.ssh/id_ed25519': ",
            "Enter encryption key: ",
            "Enter same key again: ",
            "x Passphrase: ",
            "? Enter your API token  ",
            "? Paste your authentication token: ",
            "AWS Secret Access Key [None]: ",
            "Enter PIN: ",
            "Verification code (2FA): ",
            "Enter the one-time code: ",
            "Token: ",
            "Client secret: ",
            "Enter pass phrase for server.key:",
            "Mot de passe : ",
            "Password > ",
            "password=",
            "passwd: ",
            "Pass: ",
            "pw: ",
            "Kennwort: ",
            "Verification code: ",
            "Authenticator code: ",
            "Enter the code sent to your phone: ",
            "Key: ",
            "Unlock key: ",
            "Password for 'https://bob@github.com': ",
            "Senha: ",
            "Hasło: ",
            "密码：",
            "パスワード:",
        ] {
            assert!(p.is_secret(yes), "{yes:?}");
        }
        for no in [
            "Press any key to continue",
            "Press any key:",
            "Continue? [Y/n] ",
            "Do you want to store the token? (Y/n) ",
            "AWS Access Key ID [None]: ",
            "Default region name [None]: ",
            "Enter file in which to save the key (/root/.ssh/id_ed25519): ",
            "alice@host:~$ ",
            "~/.password-store> ",
            "bob@host mfa> ",
            ":",
            "Username: ",
            "Are you sure you want to continue connecting (yes/no/[fingerprint])? ",
        ] {
            assert!(!p.is_secret(no), "{no:?}");
        }
    }

    #[test]
    fn policy_patterns_add_to_the_built_in_ones() {
        let p = Prompts::new(vec![Regex::new("Geheimzahl$").unwrap()]).unwrap();
        assert!(p.is_secret("Bitte Geheimzahl"));
        assert!(p.is_secret("Password:"));
    }
}
