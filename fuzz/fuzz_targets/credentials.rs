//! Credential extraction (spec §3.2: cookie → `Authorization: Bearer` →
//! query parameter) and the token text rules it relies on.
//!
//! Input: lines `cookie: VALUE`, `authorization: VALUE` and `query: VALUE`
//! (raw bytes; several cookie lines are several `Cookie` headers; the last
//! authorization line wins, as a client sends one).
//!
//! Properties:
//! * an extracted token is one `token::presented` accepts, taken verbatim
//!   from a cookie or the bearer header, or percent-decoded from the query;
//! * a cookie that is present decides, whatever the other sources say;
//! * header values are read as text exactly when `http` reads them so;
//! * round trips: a token sent as `Bearer`, as a cookie or percent-encoded in
//!   the query is extracted unchanged;
//! * token hashes parse back from their hex form; literal tokens pass
//!   `presented`.
#![no_main]

use dsg_core::credentials::{Credential, cookie, extract, header_text, query_param};
use dsg_core::token::{ApiToken, TokenHash, presented};
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

fn check(v: &str) -> Credential {
    match presented(v) {
        Some(_) => Credential::Token(v.to_owned()),
        None => Credential::Malformed,
    }
}

fuzz_target!(|data: &[u8]| {
    let names = vec!["dsg_token".to_owned(), "middle_auth_token".to_owned()];
    let mut cookies: Vec<&[u8]> = Vec::new();
    let mut authorization = None;
    let mut query = None;
    for (field, value) in dsg_fuzz::fields(data) {
        match field {
            b"cookie" => cookies.push(value),
            b"authorization" => authorization = Some(value),
            b"query" => query = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }
    let got = extract(&cookies, authorization, query.as_deref(), &names, &names);

    if let Credential::Token(t) = &got {
        assert_eq!(
            presented(t),
            Some(t.as_str()),
            "extracted a token presented() refuses"
        );
        let in_headers = cookies
            .iter()
            .chain(authorization.iter())
            .any(|h| h.windows(t.len()).any(|w| w == t.as_bytes()));
        let in_query = query.as_deref().is_some_and(|q| {
            names
                .iter()
                .any(|n| query_param(q, n).as_deref() == Some(t))
        });
        assert!(in_headers || in_query, "{t:?} is in no source");
    }
    if let Some(v) = names.iter().find_map(|n| cookie(&cookies, n)) {
        assert_eq!(got, check(&v), "a present cookie must decide");
    }

    for raw in cookies.iter().chain(authorization.iter()) {
        if let Ok(hv) = http::HeaderValue::from_bytes(raw) {
            assert_eq!(
                header_text(raw),
                hv.to_str().ok(),
                "header text differs from http's"
            );
        }
    }

    // Round trips, with each value taken as a token to send.
    for raw in cookies.iter().chain(authorization.iter()) {
        let Ok(text) = std::str::from_utf8(raw) else {
            continue;
        };
        let no_cookies: [&[u8]; 0] = [];
        if presented(text).is_some() {
            let bearer = format!("Bearer {text}");
            assert_eq!(
                extract(&no_cookies, Some(bearer.as_bytes()), None, &names, &names),
                Credential::Token(text.to_owned()),
                "bearer round trip"
            );
            if !text.contains(';') && !text.starts_with('"') && !text.ends_with('"') {
                let header = format!("theme=dark; middle_auth_token={text}");
                assert_eq!(
                    cookie([header.as_bytes()], "middle_auth_token").as_deref(),
                    Some(text),
                    "cookie round trip"
                );
            }
        }
        let q = format!(
            "a=1&dsg_token={}&b",
            utf8_percent_encode(text, NON_ALPHANUMERIC)
        );
        assert_eq!(
            query_param(&q, "dsg_token").as_deref(),
            Some(text),
            "query round trip"
        );

        if let Some(h) = TokenHash::from_hex(text) {
            assert_eq!(h.to_hex(), text.to_ascii_lowercase());
            assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        }
        if let Ok(t) = ApiToken::from_literal(text) {
            assert_eq!(presented(t.expose()), Some(text));
            assert_eq!(t.hash(), TokenHash::of(text));
        }
    }
});
