//! Lifetimes given on the command line (`--expires-in 30d`): the one parser
//! every command that takes a duration uses. A shared helper: any command
//! module may import it; it imports no command.

use anyhow::{Context, Result, bail};

/// Parses `30d`, `12h`, `90m`, `3600s`, `3600` or `never` into seconds.
pub fn parse_duration(s: &str) -> Result<Option<i64>> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{s:?} is not a duration like 30d, 12h, 90m or never"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{s:?}: unknown unit {unit:?} (use s, m, h or d)"),
    };
    if n <= 0 {
        bail!("{s:?}: a lifetime must be positive");
    }
    Ok(Some(n.saturating_mul(mult)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("never").unwrap(), None);
        assert_eq!(parse_duration("30d").unwrap(), Some(30 * 86_400));
        assert_eq!(parse_duration("90m").unwrap(), Some(5400));
        assert_eq!(parse_duration("10").unwrap(), Some(10));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
