//! Dates in tool metadata to Unix time, without a date library in this pure crate.

/// Parses `YYYY-MM-DD HH:MM:SS` optionally followed by `+HH:MM`/`-HH:MM` (or `Z`), with a space
/// or `T` between date and time, into Unix seconds.
pub(crate) fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_at_checked(10)?;
    let rest = rest.strip_prefix([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (time, zone) = rest.split_at_checked(8)?;
    let mut t = time.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    let zone = zone.trim();
    let offset = if zone.is_empty() || zone == "Z" {
        0
    } else {
        let sign = match zone.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let z = zone[1..].replace(':', "");
        let zh: i64 = z.get(..2)?.parse().ok()?;
        let zm: i64 = z.get(2..4).unwrap_or("0").parse().ok()?;
        sign * (zh * 3600 + zm * 60)
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates() {
        assert_eq!(parse_datetime("1970-01-01 00:00:00+00:00"), Some(0));
        assert_eq!(
            parse_datetime("2026-11-26 20:57:07+00:00"),
            Some(1_795_726_627)
        );
        assert_eq!(
            parse_datetime("2026-11-26 21:57:07+01:00"),
            Some(1_795_726_627)
        );
        assert_eq!(parse_datetime("garbage"), None);
    }
}
