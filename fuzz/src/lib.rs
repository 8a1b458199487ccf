//! Helpers shared by the fuzz targets: rendered SCIM resources to evaluate
//! filters and apply PATCH operations to, and the line format the
//! multi-field targets read (so seed inputs stay readable text).

use dsg_core::scim::schema::{Kind, USER, USER_EXT};
use serde_json::{Value, json};

/// A resource of `kind` as the SCIM endpoints render it.
pub fn resource(kind: Kind) -> Value {
    match kind {
        Kind::User => json!({
            "schemas": [USER, USER_EXT],
            "id": "12",
            "externalId": "ext-12",
            "userName": "alice@example.org",
            "name": {"givenName": "Alice", "familyName": "Liddell", "formatted": "Alice Liddell"},
            "displayName": "Alice",
            "active": true,
            "emails": [{"value": "alice@example.org", "type": "work", "primary": true}],
            "groups": [{"value": "3", "$ref": "/auth/scim/v2/Groups/3", "display": "lab"}],
            "meta": {
                "resourceType": "User",
                "created": "2026-01-01T00:00:00Z",
                "lastModified": "2026-02-01T12:30:00.5+01:00",
                "location": "/auth/scim/v2/Users/12",
                "version": "W/\"7\""
            },
            USER_EXT: {"admin": false, "pi": "Prof. Hatter", "gdprConsent": true, "serviceAccount": false}
        }),
        Kind::Group => json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "3",
            "displayName": "lab",
            "members": [
                {"value": "12", "$ref": "/auth/scim/v2/Users/12", "display": "alice"},
                {"value": "13", "display": "bob"}
            ],
            "meta": {"resourceType": "Group", "created": "2026-01-01T00:00:00Z",
                     "lastModified": "2026-01-01T00:00:00Z"}
        }),
        Kind::Dataset => json!({
            "schemas": ["urn:ietf:params:scim:schemas:neuroglancer:2.0:Dataset"],
            "id": "5",
            "name": "fish2",
            "description": "Zebrafish",
            "tosId": 9,
            "serviceTables": [{"serviceName": "datastack", "tableName": "t1"}],
            "meta": {"resourceType": "Dataset", "created": "2026-01-01T00:00:00Z",
                     "lastModified": "2026-01-01T00:00:00Z"}
        }),
    }
}

/// The resource kind named by `User`, `Group` or `Dataset`.
pub fn kind(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.name() == name)
}

/// Splits `data` into lines of `field: value` (a line without `": "` is
/// skipped): the input format of the `credentials` target.
pub fn fields(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    data.split(|b| *b == b'\n')
        .filter_map(|line| {
            let at = line.windows(2).position(|w| w == b": ")?;
            Some((&line[..at], &line[at + 2..]))
        })
        .collect()
}
