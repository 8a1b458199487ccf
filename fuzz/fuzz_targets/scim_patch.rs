//! SCIM PATCH (RFC 7644 §3.5.2): operation bodies and their paths, including
//! value-filter paths such as `members[value eq "12"].display`.
//!
//! Input: a first line `KIND OP PATH` (KIND `User`, `Group` or `Dataset`; OP
//! any word, sent as the operation's `op`; PATH the rest of the line, absent
//! when empty), then the operation's `value` as JSON (absent when empty).
//! With OP `*` the rest is a whole PatchOp body instead.
//!
//! Properties: applying never panics; a refusal is one of the RFC's
//! `scimType`s; read-only `id` and `meta` never change; the patched resource
//! stays an object and reading its fields back (what the server writes)
//! never panics.
#![no_main]

use dsg_core::scim::fields::{DatasetFields, GroupFields, UserFields};
use dsg_core::scim::patch::apply;
use dsg_core::scim::schema::Kind;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const SCIM_TYPES: [&str; 6] = [
    "invalidSyntax",
    "invalidPath",
    "invalidFilter",
    "noTarget",
    "mutability",
    "invalidValue",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut words = first.splitn(3, ' ');
    let (Some(kind), Some(op)) = (words.next().and_then(dsg_fuzz::kind), words.next()) else {
        return;
    };
    let path = words.next().unwrap_or("");
    let body = if op == "*" {
        match serde_json::from_str::<Value>(rest) {
            Ok(b) => b,
            Err(_) => return,
        }
    } else {
        let mut operation = json!({ "op": op });
        if !path.is_empty() {
            operation["path"] = json!(path);
        }
        if !rest.trim().is_empty() {
            match serde_json::from_str::<Value>(rest) {
                Ok(v) => operation["value"] = v,
                Err(_) => return,
            }
        }
        json!({ "Operations": [operation] })
    };
    let before = dsg_fuzz::resource(kind);
    let mut resource = before.clone();
    let outcome = apply(kind, &mut resource, &body);
    if let Err(e) = &outcome {
        assert!(SCIM_TYPES.contains(&e.scim_type), "unexpected scimType {e}");
    }
    assert_eq!(resource["id"], before["id"], "id changed by {body}");
    assert_eq!(resource["meta"], before["meta"], "meta changed by {body}");
    assert!(resource.is_object());
    if outcome.is_ok() {
        match kind {
            Kind::User => drop(UserFields::from_json(&resource)),
            Kind::Group => drop(GroupFields::from_json(&resource)),
            Kind::Dataset => drop(DatasetFields::from_json(&resource)),
        }
    }
});
