//! Exact decimal time handling: no float accumulation on read, error-diffused millisecond
//! quantisation on write (so absolute times never drift).

use crate::model::Micros;

/// Parses a non-negative JSON number of seconds into microseconds, exactly for plain decimals
/// (digits past the sixth decimal are truncated). Exponent forms fall back to f64.
pub fn parse_seconds(text: &str) -> Option<Micros> {
    let text = text.trim();
    if text.contains(['e', 'E']) {
        let v: f64 = text.parse().ok()?;
        if !(v.is_finite() && (0.0..1.0e12).contains(&v)) {
            return None;
        }
        return Some((v * 1_000_000.0).round() as Micros);
    }
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, f),
        None => (text, ""),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = int.parse().ok()?;
    let mut micros: u64 = 0;
    for b in frac.bytes().chain(std::iter::repeat(b'0')).take(6) {
        micros = micros * 10 + u64::from(b - b'0');
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

/// Formats microseconds as seconds with six decimals, trailing zeros stripped (one kept).
pub fn format_micros(us: Micros, out: &mut Vec<u8>) {
    use std::io::Write;
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    if frac == 0 {
        let _ = write!(out, "{secs}.0");
        return;
    }
    let mut digits = format!("{frac:06}");
    while digits.ends_with('0') {
        digits.pop();
    }
    let _ = write!(out, "{secs}.{digits}");
}

/// Formats milliseconds as seconds with exactly three decimals (asciicast v3 style).
pub fn format_millis(ms: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
}

/// Turns absolute microsecond times into millisecond intervals whose running sum always equals the
/// rounded absolute time: rounding errors diffuse into the next interval instead of adding up.
#[derive(Debug, Clone, Default)]
pub struct Quantizer {
    last_ms: u64,
}

impl Quantizer {
    /// The interval in milliseconds to write for an event at `time`. Times that go backwards
    /// give 0.
    pub fn interval_ms(&mut self, time: Micros) -> u64 {
        let abs_ms = time.saturating_add(500) / 1000;
        let abs_ms = abs_ms.max(self.last_ms);
        let interval = abs_ms - self.last_ms;
        self.last_ms = abs_ms;
        interval
    }

    /// The absolute time, in milliseconds, of the last event quantised.
    pub fn last_ms(&self) -> u64 {
        self.last_ms
    }
}

/// Formats a duration as `HH:MM:SS.mmm`, for messages.
pub fn clock(us: Micros) -> String {
    let ms = us / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(parse_seconds("0.1"), Some(100_000));
        assert_eq!(parse_seconds("1.3786"), Some(1_378_600));
        assert_eq!(parse_seconds("12"), Some(12_000_000));
        assert_eq!(parse_seconds("0.0000019"), Some(1));
        assert_eq!(parse_seconds("1e-3"), Some(1000));
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("1.2.3"), None);
        assert_eq!(parse_seconds(""), None);
        assert_eq!(parse_seconds("99999999999999999999"), None);
    }

    #[test]
    fn formats_times() {
        let mut v = Vec::new();
        format_micros(1_378_600, &mut v);
        assert_eq!(v, b"1.3786");
        v.clear();
        format_micros(2_000_000, &mut v);
        assert_eq!(v, b"2.0");
        v.clear();
        format_millis(1_234, &mut v);
        assert_eq!(v, b"1.234");
        assert_eq!(clock(3_723_250_000), "01:02:03.250");
    }

    #[test]
    fn quantizer_never_drifts() {
        let mut q = Quantizer::default();
        let mut sum = 0;
        for i in 1..=10_000u64 {
            sum += q.interval_ms(i * 1_400);
        }
        assert_eq!(sum, (10_000 * 1_400 + 500) / 1000);
    }
}
