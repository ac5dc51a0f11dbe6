//! JetStream limits as the CLI reads and prints them (`extension account`, `extension limits`):
//! sizes such as `2GiB`, `128 MiB` or plain bytes, counts, and `unlimited` (or `-1`) for either.
//!
//! Units are binary (KiB = 1024 bytes) and spelled out: `2GB` is refused rather than guessed, since
//! it could mean 2×10⁹ or 2×2³⁰ bytes.

use std::fmt;

/// The binary units, smallest first.
const UNITS: [(&str, i64); 4] = [
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Why a limit given on the command line is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitValueError {
    #[error("no value given: use a number, or \"unlimited\"")]
    Empty,
    #[error("{0:?} is not a number: use e.g. 2GiB, 512MiB, 1073741824 or \"unlimited\"")]
    NotANumber(String),
    #[error(
        "{input:?} has an unknown unit {unit:?}: use B, KiB, MiB, GiB or TiB (binary: 1 KiB = 1024 bytes)"
    )]
    UnknownUnit { input: String, unit: String },
    #[error("{0:?} is negative: use a positive number, 0, or -1 / \"unlimited\"")]
    Negative(String),
    #[error("{0:?} is not a whole number of bytes")]
    NotWholeBytes(String),
    #[error("{0:?} is not a whole number: a count takes no unit or decimals")]
    NotACount(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// `unlimited` (any case) or `-1`.
fn is_unlimited(text: &str) -> bool {
    text.eq_ignore_ascii_case("unlimited") || text == "-1"
}

/// A size in bytes: `unlimited`/`-1` (-1), or a number with an optional unit (`B`, `KiB`, `MiB`,
/// `GiB`, `TiB`, any case, with or without a space); decimals are fine when the result is whole
/// bytes (`1.5GiB`).
pub fn parse_size(input: &str) -> Result<i64, LimitValueError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(LimitValueError::Empty);
    }
    if is_unlimited(text) {
        return Ok(-1);
    }
    if text.starts_with('-') {
        return Err(LimitValueError::Negative(input.to_owned()));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_ok(whole) || !digits_ok(fraction) {
        return Err(LimitValueError::NotANumber(input.to_owned()));
    }
    let multiplier: i64 = if unit.is_empty() || unit.eq_ignore_ascii_case("b") {
        1
    } else {
        UNITS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(unit))
            .map(|(_, m)| *m)
            .ok_or_else(|| LimitValueError::UnknownUnit {
                input: input.to_owned(),
                unit: unit.to_owned(),
            })?
    };
    // Exactly: whole.fraction × multiplier = digits × multiplier / 10^len(fraction).
    let too_large = || LimitValueError::TooLarge(input.to_owned());
    let fraction = fraction.trim_end_matches('0');
    let digits = format!("{whole}{fraction}");
    let digits: u128 = if digits.chars().all(|c| c == '0') {
        0
    } else {
        digits.parse().map_err(|_| too_large())?
    };
    let scale = 10u128
        .checked_pow(u32::try_from(fraction.len()).map_err(|_| too_large())?)
        .ok_or_else(too_large)?;
    let scaled = digits
        .checked_mul(multiplier as u128)
        .ok_or_else(too_large)?;
    if scaled % scale != 0 {
        return Err(LimitValueError::NotWholeBytes(input.to_owned()));
    }
    i64::try_from(scaled / scale).map_err(|_| too_large())
}

/// A count: `unlimited`/`-1` (-1) or a whole number.
pub fn parse_count(input: &str) -> Result<i64, LimitValueError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(LimitValueError::Empty);
    }
    if is_unlimited(text) {
        return Ok(-1);
    }
    if text.starts_with('-') {
        return Err(LimitValueError::Negative(input.to_owned()));
    }
    if !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(LimitValueError::NotACount(input.to_owned()));
    }
    text.parse()
        .map_err(|_| LimitValueError::TooLarge(input.to_owned()))
}

/// A size for people: `unlimited`, `512 B`, `1.0 GiB`, `1.5 GiB` (one decimal, in the largest unit
/// the value reaches).
pub fn format_size(bytes: i64) -> String {
    if bytes == -1 {
        return "unlimited".into();
    }
    let Some((unit, size)) = UNITS.iter().rev().find(|(_, size)| bytes >= *size) else {
        return format!("{bytes} B");
    };
    format!("{:.1} {unit}", bytes as f64 / *size as f64)
}

/// A size with its exact byte count when the short form rounds: `1.0 GiB`, `1.3 GiB (1395864371 bytes)`.
pub fn format_size_exact(bytes: i64) -> String {
    let short = format_size(bytes);
    if bytes < 1024 || parse_size(&short) == Ok(bytes) {
        short
    } else {
        format!("{short} ({bytes} bytes)")
    }
}

/// A count for people: `unlimited` or the number.
pub fn format_count(n: i64) -> String {
    if n == -1 {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

/// The limits as `label value` lines (the order `extension limits` takes them in).
pub struct LimitsTable<'a>(pub &'a symphony_protocol::jwt::JetStreamLimits);

impl fmt::Display for LimitsTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.0;
        writeln!(
            f,
            "{:<14} {}",
            "disk storage",
            format_size_exact(l.disk_storage)
        )?;
        writeln!(f, "{:<14} {}", "memory", format_size_exact(l.mem_storage))?;
        writeln!(f, "{:<14} {}", "streams", format_count(l.streams))?;
        write!(f, "{:<14} {}", "consumers", format_count(l.consumer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units_or_as_bytes() {
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_size("128mib"), Ok(128 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("0.5 KiB"), Ok(512));
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("000"), Ok(0));
        assert_eq!(parse_size(" 7 "), Ok(7));
        assert_eq!(
            parse_size("1.000000000000000000000000000000000000000000GiB"),
            Ok(1 << 30)
        );
    }

    #[test]
    fn unlimited_is_minus_one() {
        for text in ["unlimited", "Unlimited", "UNLIMITED", "-1", " -1 "] {
            assert_eq!(parse_size(text), Ok(-1), "{text}");
            assert_eq!(parse_count(text), Ok(-1), "{text}");
        }
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        assert_eq!(parse_size(""), Err(LimitValueError::Empty));
        assert_eq!(
            parse_size("lots"),
            Err(LimitValueError::NotANumber("lots".into()))
        );
        assert_eq!(
            parse_size("2GB"),
            Err(LimitValueError::UnknownUnit {
                input: "2GB".into(),
                unit: "GB".into()
            })
        );
        assert_eq!(
            parse_size("-5MiB"),
            Err(LimitValueError::Negative("-5MiB".into()))
        );
        assert_eq!(
            parse_size("1.5"),
            Err(LimitValueError::NotWholeBytes("1.5".into()))
        );
        assert_eq!(
            parse_size("."),
            Err(LimitValueError::NotANumber(".".into()))
        );
        assert_eq!(
            parse_size("1.2.3GiB"),
            Err(LimitValueError::NotANumber("1.2.3GiB".into()))
        );
        assert_eq!(
            parse_size("9000000TiB"),
            Err(LimitValueError::TooLarge("9000000TiB".into()))
        );
        assert_eq!(
            parse_size("99999999999999999999999999999999999999999"),
            Err(LimitValueError::TooLarge(
                "99999999999999999999999999999999999999999".into()
            ))
        );
        let text = parse_size("2GB").unwrap_err().to_string();
        assert!(text.contains("GiB") && text.contains("1024"), "{text}");
    }

    #[test]
    fn counts_are_whole_numbers() {
        assert_eq!(parse_count("100"), Ok(100));
        assert_eq!(parse_count("0"), Ok(0));
        assert_eq!(
            parse_count("1k"),
            Err(LimitValueError::NotACount("1k".into()))
        );
        assert_eq!(
            parse_count("2.5"),
            Err(LimitValueError::NotACount("2.5".into()))
        );
        assert_eq!(
            parse_count("-3"),
            Err(LimitValueError::Negative("-3".into()))
        );
        assert_eq!(
            parse_count("99999999999999999999"),
            Err(LimitValueError::TooLarge("99999999999999999999".into()))
        );
    }

    #[test]
    fn sizes_print_in_the_largest_unit() {
        assert_eq!(format_size(-1), "unlimited");
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.0 KiB");
        assert_eq!(format_size(64 << 20), "64.0 MiB");
        assert_eq!(format_size(1 << 30), "1.0 GiB");
        assert_eq!(format_size(3 << 29), "1.5 GiB");
        assert_eq!(format_size(2 << 40), "2.0 TiB");
        assert_eq!(format_size(5000 << 40), "5000.0 TiB");
        assert_eq!(format_count(-1), "unlimited");
        assert_eq!(format_count(1000), "1000");
    }

    #[test]
    fn rounded_sizes_also_show_the_bytes() {
        assert_eq!(format_size_exact(1 << 30), "1.0 GiB");
        assert_eq!(format_size_exact(500), "500 B");
        assert_eq!(format_size_exact(-1), "unlimited");
        assert_eq!(
            format_size_exact((1 << 30) + 1),
            "1.0 GiB (1073741825 bytes)"
        );
    }

    #[test]
    fn printed_sizes_parse_back() {
        for bytes in [0, 1, 1024, 3 << 29, 64 << 20, 1 << 40, -1] {
            let printed = format_size(bytes);
            assert_eq!(parse_size(&printed), Ok(bytes), "{printed}");
        }
    }
}
