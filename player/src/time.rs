//! Times as the reviewer reads and types them, and text made safe to show.

use sessrec_formats::Micros;

/// `H:MM:SS` (or `M:SS` under an hour).
pub fn offset(t: Micros) -> String {
    let s = t / 1_000_000;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// What `g` accepts: an offset (`90`, `90s`, `5m`, `1h`, `1:23:45`, `23:45`), a wall-clock
/// time (`2026-11-26T10:15:00Z`), or a UTC time of day on the recording's first day
/// (`@10:15` or `@10:15:30`).
pub fn parse_goto(text: &str, start: Option<jiff::Timestamp>) -> Result<Micros, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "cannot read {:?}: give an offset (90s, 5m, 1:23:45), a time of day in UTC (@10:15) or a date and time (2026-11-26T10:15:00Z)",
            safe(text)
        )
    };
    let since_start = |at: jiff::Timestamp| -> Result<Micros, String> {
        let start = start.ok_or("the recording has no start time: give an offset")?;
        let us = at.as_microsecond().saturating_sub(start.as_microsecond());
        u64::try_from(us).map_err(|_| "that is before the recording started".to_string())
    };
    if let Some(day_time) = text.strip_prefix('@') {
        let start = start.ok_or("the recording has no start time: give an offset")?;
        // A time of day: HH:MM or HH:MM:SS.
        let secs = match hms(day_time) {
            Some(s) if day_time.matches(':').count() == 1 => Some(s * 60),
            other => other,
        }
        .filter(|s| *s < 86_400)
        .ok_or_else(bad)?;
        // Unix time has no leap seconds: a UTC day starts at a multiple of 86 400.
        let day = start.as_second() - start.as_second().rem_euclid(86_400);
        let at = day + secs as i64;
        return since_start(jiff::Timestamp::from_second(at).map_err(|e| e.to_string())?);
    }
    if let Ok(at) = text.parse::<jiff::Timestamp>() {
        return since_start(at);
    }
    let unit = |suffix: char, scale: u64| {
        text.strip_suffix(suffix)
            .and_then(|n| n.trim().parse::<f64>().ok())
            .filter(|n| *n >= 0.0)
            .map(|n| (n * scale as f64 * 1e6) as Micros)
    };
    if let Some(t) = unit('s', 1).or(unit('m', 60)).or(unit('h', 3600)) {
        return Ok(t);
    }
    if let Ok(n) = text.parse::<f64>()
        && n >= 0.0
    {
        return Ok((n * 1e6) as Micros);
    }
    hms(text)
        .map(|s| s.saturating_mul(1_000_000))
        .ok_or_else(bad)
}

/// Seconds of `H:MM:SS` or `M:SS`.
fn hms(text: &str) -> Option<u64> {
    let parts: Vec<u64> = text
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts[..] {
        [m, s] if s < 60 => m.checked_mul(60)?.checked_add(s),
        [h, m, s] if m < 60 && s < 60 => h.checked_mul(3600)?.checked_add(m * 60 + s),
        _ => None,
    }
}

/// `text` with control, bidirectional and invisible characters shown as visible escapes
/// ([`sessrec_formats::terminal_safe`]): safe to draw on the reviewer's terminal.
pub fn safe(text: &str) -> String {
    sessrec_formats::terminal_safe(text).into_owned()
}

/// Keystrokes as a reviewer reads them: Enter as ⏎, arrows as arrows, controls as ^X.
pub fn keys(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' => out.push('⏎'),
            '\t' => out.push('⇥'),
            '\x7f' | '\x08' => out.push('⌫'),
            '\x1b' => {
                let seq: String = match chars.peek() {
                    Some('[') | Some('O') => {
                        chars.next();
                        let mut s = String::new();
                        while let Some(&n) = chars.peek() {
                            chars.next();
                            s.push(n);
                            if n.is_ascii_alphabetic() || n == '~' {
                                break;
                            }
                        }
                        s
                    }
                    _ => String::new(),
                };
                out.push_str(match seq.as_str() {
                    "A" => "↑",
                    "B" => "↓",
                    "C" => "→",
                    "D" => "←",
                    "" => "⎋",
                    _ => "⎋…",
                });
            }
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push((c as u8 + b'@') as char);
            }
            c => out.push(crate::screen::printable(c)),
        }
    }
    safe(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goto_reads_offsets_and_times() {
        let start: jiff::Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        assert_eq!(parse_goto("90", None), Ok(90_000_000));
        assert_eq!(parse_goto("2m", None), Ok(120_000_000));
        assert_eq!(parse_goto("1:02:03", None), Ok(3_723_000_000));
        assert_eq!(parse_goto("@10:15", Some(start)), Ok(900_000_000));
        assert_eq!(
            parse_goto("2026-11-26T10:00:30Z", Some(start)),
            Ok(30_000_000)
        );
        assert!(parse_goto("2026-11-26T09:00:00Z", Some(start)).is_err());
        assert!(
            parse_goto("soon", None)
                .unwrap_err()
                .contains("cannot read")
        );
    }

    #[test]
    fn keys_and_labels_are_safe() {
        assert_eq!(keys(b"ls\x1b[A\r\x03"), "ls↑⏎^C");
        assert_eq!(
            safe("a\x1b]52;c;x\x07b\u{202E}"),
            "a\\x1b]52;c;x\\x07b\\u{202e}"
        );
    }
}
