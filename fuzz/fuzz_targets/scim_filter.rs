//! SCIM filter expressions (`?filter=`, RFC 7644 §3.4.2.2).
//!
//! Properties: parsing never panics; a parsed filter prints (`Display`, the
//! form used in logs and tests) as text that parses back to the same filter
//! and prints the same again, unless the printed form only exceeds the length
//! or nesting caps (printing adds parentheses); binding to each resource kind
//! and evaluating on a rendered resource never panics.
#![no_main]

use dsg_core::scim::cond::bind;
use dsg_core::scim::filter::parse;
use dsg_core::scim::schema::Kind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = parse(text) else {
        return;
    };
    let shown = filter.to_string();
    match parse(&shown) {
        Ok(again) => {
            assert_eq!(again, filter, "{text:?} printed as {shown:?}");
            assert_eq!(again.to_string(), shown, "printing is not stable");
        }
        Err(e) => assert!(
            e.contains("nested deeper") || e.contains("longer than"),
            "{text:?} printed as {shown:?}, which does not parse: {e}"
        ),
    }
    for kind in Kind::ALL {
        if let Ok(cond) = bind(kind, &filter, None) {
            let _ = cond.matches(&dsg_fuzz::resource(kind));
        }
    }
});
