//! Wall-clock times as the command writes them: the stamp of a file name
//! (`2026-12-02 17-40-00`, UTC), without a time-zone database.

use std::time::{SystemTime, UNIX_EPOCH};

/// The UTC calendar date and time of `t`: (year, month, day, hour, minute,
/// second, millisecond). Times before 1970 read as 1970-01-01.
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3_600) as u32,
        (rem % 3_600 / 60) as u32,
        (rem % 60) as u32,
        since.subsec_millis(),
    )
}

/// `2026-12-02 17-40-00` (UTC), for a file name.
pub(super) fn file_stamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}-{mi:02}-{s:02}")
}

/// `2026-12-02T17:40:00.123Z`: RFC 3339, UTC, to the millisecond.
pub(super) fn rfc3339_millis(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_the_calendar_s() {
        let at = |secs: u64, ms: u64| UNIX_EPOCH + Duration::from_millis(secs * 1000 + ms);
        assert_eq!(file_stamp(at(0, 0)), "1970-01-01 00-00-00");
        assert_eq!(file_stamp(at(951_782_400, 5)), "2000-02-29 00-00-00");
        assert_eq!(file_stamp(at(1_796_233_200, 999)), "2026-12-02 17-40-00");
        assert_eq!(file_stamp(at(4_102_444_799, 999)), "2099-12-31 23-59-59");
        assert_eq!(civil(at(1_796_233_200, 123)).6, 123);
        assert_eq!(
            rfc3339_millis(at(1_796_233_200, 7)),
            "2026-12-02T17:40:00.007Z"
        );
        assert_eq!(rfc3339_millis(at(0, 999)), "1970-01-01T00:00:00.999Z");
    }
}
