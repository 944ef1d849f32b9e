//! FILE_CHECK's reading of a tracked file, pure (the read itself is in [`super::probe`]).
//!
//! keepalived's rules (track_file.c, check_file.c): the file holds an integer (C `strtol`
//! with base 0: optional blanks and sign, `0x` hex, leading-`0` octal, decimal; what follows
//! the number is ignored). A missing or empty file, or text without a number, reads as 0.
//! * weight 0 (the default): 0 means up, any other value down; `reverse` swaps the two;
//! * weight W: the checker stays up and adds value x W (x -1 with `reverse`) to the real
//!   server's weight (the sum kept within 0..=65535).
//!
//! rvs-ctrl reads the file at every run of the checker (every `delay_loop`, at most 1 s
//! apart) where keepalived watches it with inotify. keepalived also takes a server down when
//! value x W reaches its fault threshold; rvs-ctrl does not: a large negative product only
//! brings the weight to 0.

use super::state::Outcome;

/// The number at the start of `text`, as C's `strtol(text, NULL, 0)` reads it; 0 when there
/// is none. None when it does not fit in 32 bits (keepalived ignores such a value).
pub fn parse_value(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if h.bytes().next().is_some_and(|b| b.is_ascii_hexdigit()) {
            (16, h)
        } else {
            (10, &t[..1])
        }
    } else if t.starts_with('0') {
        (8, t)
    } else {
        (10, t)
    };
    let end = digits.bytes().position(|b| !(b as char).is_digit(radix)).unwrap_or(digits.len());
    let digits = &digits[..end];
    if digits.is_empty() {
        return Some(0);
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    let v = if neg { -v } else { v };
    (i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v).then_some(v)
}

/// The outcome of one reading: `content` None when the file could not be read.
pub fn outcome(content: Option<&str>, weight: i32, reverse: bool) -> Outcome {
    let Some(value) = content.map_or(Some(0), parse_value) else {
        return Outcome::Down("the tracked file's number does not fit in 32 bits".into());
    };
    if weight == 0 {
        let failed = (value != 0) != reverse;
        return if failed { Outcome::Down(format!("the tracked file reads {value}")) } else { Outcome::Up };
    }
    let sign = if reverse { -1 } else { 1 };
    Outcome::UpDelta(value * i64::from(weight) * sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_strtol_reads_them() {
        assert_eq!(parse_value("0"), Some(0));
        assert_eq!(parse_value("  42\n"), Some(42));
        assert_eq!(parse_value("-7 apples"), Some(-7));
        assert_eq!(parse_value("+3"), Some(3));
        assert_eq!(parse_value("0x1f"), Some(31));
        assert_eq!(parse_value("010"), Some(8));
        assert_eq!(parse_value("09"), Some(0), "octal stops at 9");
        assert_eq!(parse_value("0x"), Some(0));
        assert_eq!(parse_value(""), Some(0));
        assert_eq!(parse_value("up"), Some(0));
        assert_eq!(parse_value("2147483647"), Some(i64::from(i32::MAX)));
        assert_eq!(parse_value("99999999999"), None);
    }

    #[test]
    fn weight_zero_is_up_down() {
        assert_eq!(outcome(Some("0\n"), 0, false), Outcome::Up);
        assert_eq!(outcome(None, 0, false), Outcome::Up, "a missing file reads 0");
        assert_eq!(outcome(Some("1"), 0, false), Outcome::Down("the tracked file reads 1".into()));
        assert_eq!(outcome(Some("-5"), 0, false), Outcome::Down("the tracked file reads -5".into()));
        assert_eq!(outcome(Some("1"), 0, true), Outcome::Up);
        assert_eq!(outcome(Some("0"), 0, true), Outcome::Down("the tracked file reads 0".into()));
        assert!(matches!(outcome(Some("99999999999"), 0, false), Outcome::Down(_)));
    }

    #[test]
    fn weight_scales_the_value() {
        assert_eq!(outcome(Some("3"), 10, false), Outcome::UpDelta(30));
        assert_eq!(outcome(Some("3"), 10, true), Outcome::UpDelta(-30));
        assert_eq!(outcome(Some("-2"), 5, false), Outcome::UpDelta(-10));
        assert_eq!(outcome(None, 5, false), Outcome::UpDelta(0));
    }
}
