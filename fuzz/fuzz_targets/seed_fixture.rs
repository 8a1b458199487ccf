//! The `dsg seed` fixture reader (shared/spec/fixture-format.md).
//!
//! Properties: parsing never panics; an accepted fixture is a JSON object
//! whose top-level keys are sections or `_`-comments; a JSON object with any
//! other top-level key is refused, with a message naming that key when it
//! is the only fault.
#![no_main]

use dsg_core::seed::parse;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const SECTIONS: [&str; 11] = [
    "permissions",
    "services",
    "datasets",
    "tos",
    "users",
    "groups",
    "memberships",
    "grants",
    "tokens",
    "tos_acceptances",
    "service_accounts",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = parse(text);
    let json = serde_json::from_str::<Value>(text);
    let object = json.as_ref().ok().and_then(Value::as_object);
    let is_unknown = |k: &String| !k.starts_with('_') && !SECTIONS.contains(&k.as_str());
    // The first unknown key in sorted order is the one the message names.
    let unknown = object.and_then(|o| o.keys().filter(|k| is_unknown(k)).min().cloned());
    match &parsed {
        Ok(_) => {
            assert!(object.is_some(), "accepted a non-object: {text:?}");
            assert_eq!(unknown, None, "accepted an unknown top-level key");
        }
        Err(_) => {
            let (Some(o), Some(k)) = (object, unknown) else {
                return;
            };
            // Refused, with an unknown key: when that key is the only fault,
            // the message names it. Checked on the document as `Value` reads
            // it (duplicate keys dropped), with and without the unknown keys.
            let known: Map<String, Value> = o
                .iter()
                .filter(|(k, _)| !is_unknown(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if parse(&Value::Object(known).to_string()).is_ok() {
                let msg = match parse(&Value::Object(o.clone()).to_string()) {
                    Ok(_) => panic!("accepted the unknown key {k:?}"),
                    Err(e) => e.to_string(),
                };
                assert!(
                    msg.contains(&format!("unknown top-level key {k:?}")),
                    "{k:?} refused with {msg}"
                );
            }
        }
    }
});
