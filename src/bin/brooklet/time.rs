//! Parsing `--since TIME`: milliseconds since the Unix epoch, an RFC 3339 date and time
//! (`2026-11-26T10:00:00Z`, `2026-11-26T10:00:00.250+01:00`), or a date (midnight UTC).

/// Parses TIME into milliseconds since the Unix epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("time {text:?} is out of range"));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "expected milliseconds since the epoch, an RFC 3339 time such as \
             2026-11-26T10:00:00Z, or a date such as 2026-11-26; got {text:?}"
        )
    })
}

/// Parses `group reset --to`: `earliest`, `latest`, an offset (digits), or a time: RFC 3339,
/// a date, or `@MS` (milliseconds since the epoch; plain digits are an offset).
pub fn parse_reset_to(text: &str) -> Result<brooklet::Position, String> {
    let text = text.trim();
    match text {
        "earliest" => return Ok(brooklet::Position::Beginning),
        "latest" => return Ok(brooklet::Position::End),
        _ => {}
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(brooklet::Position::Offset)
            .map_err(|_| format!("offset {text:?} is out of range"));
    }
    if let Some(ms) = text.strip_prefix('@')
        && !ms.is_empty()
        && ms.bytes().all(|b| b.is_ascii_digit())
    {
        return ms
            .parse()
            .map(brooklet::Position::Timestamp)
            .map_err(|_| format!("time {text:?} is out of range"));
    }
    parse_rfc3339(text)
        .map(brooklet::Position::Timestamp)
        .ok_or_else(|| {
            format!(
                "expected earliest, latest, an offset, an RFC 3339 time such as \
                 2026-11-26T10:00:00Z, a date such as 2026-11-26, or @MS (milliseconds since \
                 the epoch); got {text:?}"
            )
        })
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let year = digits(bytes, 0, 4)?;
    expect(bytes, 4, b'-')?;
    let month = digits(bytes, 5, 2)?;
    expect(bytes, 7, b'-')?;
    let day = digits(bytes, 8, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let date_ms = days_from_civil(year, month, day) * 86_400_000;
    if bytes.len() == 10 {
        return Some(date_ms);
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(bytes, 11, 2)?;
    expect(bytes, 13, b':')?;
    let minute = digits(bytes, 14, 2)?;
    expect(bytes, 16, b':')?;
    let second = digits(bytes, 17, 2)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0;
    if bytes.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == start {
            return None;
        }
        // Keep milliseconds; finer digits are truncated.
        let fraction = &text[start..pos.min(start + 3)];
        let scale = 10i64.pow(u32::try_from(3 - fraction.len()).ok()?);
        millis = fraction.parse::<i64>().ok()? * scale;
    }
    let offset_min = match bytes.get(pos)? {
        b'Z' | b'z' if pos + 1 == bytes.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == bytes.len() => {
            let oh = digits(bytes, pos + 1, 2)?;
            expect(bytes, pos + 3, b':')?;
            let om = digits(bytes, pos + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let total = oh * 60 + om;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let time_ms = ((hour * 60 + minute - offset_min) * 60 + second) * 1000 + millis;
    Some(date_ms + time_ms)
}

fn digits(bytes: &[u8], at: usize, count: usize) -> Option<i64> {
    let slice = bytes.get(at..at + count)?;
    if !slice.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(slice.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
}

fn expect(bytes: &[u8], at: usize, want: u8) -> Option<()> {
    (bytes.get(at) == Some(&want)).then_some(())
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats milliseconds since the epoch as RFC 3339 in UTC, for humans.
pub fn format_time(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    // Inverse of days_from_civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_epoch_millis_and_rfc3339() {
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(parse_time("1764151200000"), Ok(1_764_151_200_000));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2026-11-26T10:00:00Z"), Ok(1_795_687_200_000));
        assert_eq!(
            parse_time("2026-11-26T11:00:00+01:00"),
            parse_time("2026-11-26T10:00:00Z")
        );
        assert_eq!(parse_time("2000-02-29T00:00:00.5Z"), Ok(951_782_400_500));
        assert_eq!(parse_time("2000-02-29"), Ok(951_782_400_000));
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-11-26T10:00Z",
            "-5",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_reset_targets() {
        use brooklet::Position;
        assert_eq!(parse_reset_to("earliest"), Ok(Position::Beginning));
        assert_eq!(parse_reset_to("latest"), Ok(Position::End));
        assert_eq!(parse_reset_to("42"), Ok(Position::Offset(42)));
        assert_eq!(parse_reset_to("@5"), Ok(Position::Timestamp(5)));
        assert_eq!(
            parse_reset_to("2026-11-26T10:00:00Z"),
            Ok(Position::Timestamp(1_795_687_200_000))
        );
        assert_eq!(
            parse_reset_to("2000-02-29"),
            Ok(Position::Timestamp(951_782_400_000))
        );
        for bad in ["", "first", "@", "@x", "-1", "99999999999999999999999"] {
            assert!(parse_reset_to(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for ms in [0, 951_782_400_500, 1_795_687_200_000] {
            assert_eq!(parse_time(&format_time(ms)), Ok(ms));
        }
    }
}
