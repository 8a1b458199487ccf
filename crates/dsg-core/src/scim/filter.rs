//! RFC 7644 §3.4.2.2 filter expressions: a small recursive-descent parser
//! with length and nesting caps (a hostile `?filter=` cannot exhaust the
//! stack), producing a neutral AST that the store turns into SQL and that
//! [`super::eval`] evaluates in memory.
//!
//! Besides the RFC grammar, a value path may be followed by a sub-attribute
//! comparison, `emails[type eq "work"].value eq "a@b.org"`, which means "some
//! element matches the bracket filter and that same element's sub-attribute
//! matches the comparison".

use std::fmt;

/// Longest filter accepted, in bytes.
pub const MAX_LEN: usize = 4096;
/// Deepest nesting of parentheses, brackets and `not`.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons in one filter.
pub const MAX_TERMS: usize = 64;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater or equal
    Ge,
    /// less than
    Lt,
    /// less or equal
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    /// The operator's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A literal compared against.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// JSON string.
    Str(String),
    /// JSON number.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Self::Num(n) => write!(f, "{n}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Null => f.write_str("null"),
        }
    }
}

/// An attribute path as written: optional schema URN, name, optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// Schema URN prefix, if written.
    pub urn: Option<String>,
    /// Attribute name.
    pub name: String,
    /// Sub-attribute name.
    pub sub: Option<String>,
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl AttrPath {
    /// Parses `[urn:]name[.sub]`.
    ///
    /// # Errors
    /// A message when the text is not an attribute path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let urn_prefix = text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        let (urn, rest) = if text.len() > 4 && urn_prefix {
            match text.rfind(':') {
                Some(i) => (Some(text[..i].to_owned()), &text[i + 1..]),
                None => (None, text),
            }
        } else {
            (None, text)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        // RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), plus `$ref`. A name
        // may not start with a digit, `-` or `_`: `-value` would print as a
        // number.
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars().enumerate().all(|(i, c)| {
                    if i == 0 {
                        c.is_ascii_alphabetic() || c == '$'
                    } else {
                        c.is_ascii_alphanumeric() || c == '_' || c == '-'
                    }
                })
        };
        if !ok(name) || sub.is_some_and(|s| !ok(s)) {
            return Err(format!("{text:?} is not an attribute path"));
        }
        Ok(Self {
            urn,
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`.
    Compare(AttrPath, CompareOp, Literal),
    /// `attr pr`.
    Present(AttrPath),
    /// `attr[filter]`, optionally followed by `.sub op value` / `.sub pr`
    /// (folded into the inner filter with `and`).
    Has(AttrPath, Box<Filter>),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Self::Present(p) => write!(f, "{p} pr"),
            Self::Has(p, inner) => write!(f, "{p}[{inner}]"),
            Self::And(a, b) => write!(f, "({a} and {b})"),
            Self::Or(a, b) => write!(f, "({a} or {b})"),
            Self::Not(a) => write!(f, "not ({a})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Word(String),
    Str(String),
    Num(f64),
}

fn tokenize(input: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '[' => {
                out.push(Tok::LBracket);
                i += 1;
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            '"' => {
                // A JSON string: find the closing quote, honouring escapes.
                let start = i;
                i += 1;
                let mut escaped = false;
                while i < chars.len() {
                    if escaped {
                        escaped = false;
                    } else if chars[i] == '\\' {
                        escaped = true;
                    } else if chars[i] == '"' {
                        break;
                    }
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("unterminated string".into());
                }
                let raw: String = chars[start..=i].iter().collect();
                let s: String = serde_json::from_str(&raw)
                    .map_err(|_| format!("invalid string literal {raw}"))?;
                out.push(Tok::Str(s));
                i += 1;
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_digit()
                        || matches!(chars[i], '.' | 'e' | 'E' | '+' | '-'))
                {
                    i += 1;
                }
                let raw: String = chars[start..i].iter().collect();
                let n: f64 = raw.parse().map_err(|_| format!("invalid number {raw}"))?;
                if !n.is_finite() {
                    return Err(format!("invalid number {raw}"));
                }
                out.push(Tok::Num(n));
            }
            c if c.is_ascii_alphabetic()
                || c == '$'
                || c == '_'
                || (c == '.' && out.last() == Some(&Tok::RBracket)) =>
            {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | ':' | '_' | '-' | '$'))
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    terms: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while is_kw(self.peek(), "or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while is_kw(self.peek(), "and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if is_kw(self.peek(), "not") && matches!(self.toks.get(self.pos + 1), Some(Tok::LParen)) {
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        match self.next() {
            Some(Tok::LParen) => {
                self.enter()?;
                let f = self.or()?;
                self.depth -= 1;
                match self.next() {
                    Some(Tok::RParen) => Ok(f),
                    _ => Err("missing \")\"".into()),
                }
            }
            Some(Tok::Word(w)) => {
                let path = AttrPath::parse(&w)?;
                if matches!(self.peek(), Some(Tok::LBracket)) {
                    if path.sub.is_some() {
                        return Err(format!(
                            "{w:?}: a value filter follows an attribute, not a sub-attribute"
                        ));
                    }
                    self.pos += 1;
                    self.enter()?;
                    let inner = self.or()?;
                    self.depth -= 1;
                    if !matches!(self.next(), Some(Tok::RBracket)) {
                        return Err("missing \"]\"".into());
                    }
                    // Optional `.sub op value` after the bracket.
                    if let Some(Tok::Word(next)) = self.peek().cloned()
                        && let Some(sub) = next.strip_prefix('.')
                    {
                        self.pos += 1;
                        let sub_path = AttrPath::parse(sub)?;
                        if sub_path.urn.is_some() || sub_path.sub.is_some() {
                            return Err(format!("{next:?} is not a sub-attribute"));
                        }
                        let tail = self.comparison(sub_path)?;
                        return Ok(Filter::Has(
                            path,
                            Box::new(Filter::And(Box::new(inner), Box::new(tail))),
                        ));
                    }
                    return Ok(Filter::Has(path, Box::new(inner)));
                }
                self.comparison(path)
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end of filter".into()),
        }
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, String> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(format!("more than {MAX_TERMS} comparisons"));
        }
        let op = match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => return Ok(Filter::Present(path)),
            Some(Tok::Word(w)) => {
                CompareOp::parse(&w).ok_or_else(|| format!("unknown operator {w:?}"))?
            }
            _ => return Err(format!("an operator must follow {path}")),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Literal::Str(s),
            Some(Tok::Num(n)) => Literal::Num(n),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(format!("a value must follow {path} {}", op.as_str())),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

/// Parses a filter expression.
///
/// # Errors
/// A message saying what is wrong (shown to the client with `invalidFilter`).
pub fn parse(input: &str) -> Result<Filter, String> {
    if input.len() > MAX_LEN {
        return Err(format!("longer than {MAX_LEN} bytes"));
    }
    let toks = tokenize(input)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        terms: 0,
    };
    let f = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_paths_with_multibyte_text_are_refused_not_a_panic() {
        // Byte 4 falls inside a character: once a slice panic (found by schemathesis).
        for text in ["abc\u{e9}d", "a\u{1F600}", "urn\u{e9}x:y"] {
            assert!(AttrPath::parse(text).is_err(), "{text}");
        }
        assert!(AttrPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:userName").is_ok());
    }

    #[test]
    fn attribute_names_start_with_a_letter() {
        // Found by fuzzing (scim_filter): `.-value` after a value filter was
        // accepted, and the filter printed as `-value sw "alice"`, a number.
        let text = r#"emails[type eq "work"].-value sw "alice""#;
        assert!(parse(text).unwrap_err().contains("not an attribute path"));
        for bad in ["-value", "1st", "_x", "urn:x:9lives", "name.-given"] {
            assert!(AttrPath::parse(bad).is_err(), "{bad}");
        }
        for good in ["$ref", "x509Certificates", "name.given_name-2", "urn:x:a"] {
            assert!(AttrPath::parse(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn parses_precedence_grouping_and_value_paths() {
        let f =
            parse(r#"userName eq "a" or displayName co "b" and not (active eq false)"#).unwrap();
        assert_eq!(
            f.to_string(),
            r#"(userName eq "a" or (displayName co "b" and not (active eq false)))"#
        );
        let f = parse(r#"emails[type eq "work" and value ew ".org"]"#).unwrap();
        assert!(matches!(f, Filter::Has(_, _)));
        let f = parse(r#"emails[type eq "work"].value sw "x""#).unwrap();
        assert_eq!(
            f.to_string(),
            r#"emails[(type eq "work" and value sw "x")]"#
        );
        let f =
            parse(r#"urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User:admin eq true"#)
                .unwrap();
        match f {
            Filter::Compare(p, CompareOp::Eq, Literal::Bool(true)) => {
                assert_eq!(
                    p.urn.as_deref(),
                    Some("urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User")
                );
                assert_eq!(p.name, "admin");
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("meta.lastModified gt \"2026-01-01T00:00:00Z\"").is_ok());
        assert!(parse("name.givenName PR").is_ok());
        assert!(parse("tosId eq 3").is_ok());
    }

    #[test]
    fn rejects_garbage_and_deep_nesting() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName xx \"a\"",
            "(userName eq \"a\"",
            "userName eq \"a",
            "a eq \"b\" c",
            "emails[type eq \"w\"",
            "1 eq 2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}a eq 1{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("nested"));
        let deep_not = format!("{}a eq 1{}", "not (".repeat(40), ")".repeat(40));
        assert!(parse(&deep_not).is_err());
        assert!(parse(&"a eq 1 and ".repeat(1000)).is_err());
    }
}
