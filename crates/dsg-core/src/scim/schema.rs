//! The SCIM schemas DatasetGateway serves (RFC 7643 §7), as static
//! descriptors. They drive the `/Schemas` payload, attribute-path resolution
//! (case-insensitive names, URN prefixes), filter typing and case rules, and
//! PATCH, so what is published is exactly what is enforced.

use serde_json::{Value, json};

/// Core user schema URN.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Neuroglancer user extension URN.
pub const USER_EXT: &str = "urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User";
/// Core group schema URN.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Dataset schema URN (DatasetGateway's own resource).
pub const DATASET: &str = "urn:ietf:params:scim:schemas:neuroglancer:2.0:Dataset";
/// ListResponse message URN.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// Error message URN.
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// PatchOp message URN.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An attribute's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// string
    String,
    /// boolean
    Boolean,
    /// dateTime
    DateTime,
    /// integer
    Integer,
    /// reference
    Reference,
    /// complex
    Complex,
}

impl AttrType {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::DateTime => "dateTime",
            Self::Integer => "integer",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

/// RFC 7643 mutability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// readOnly
    ReadOnly,
    /// readWrite
    ReadWrite,
    /// immutable
    Immutable,
}

impl Mutability {
    fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
        }
    }
}

/// One attribute (or sub-attribute).
#[derive(Debug)]
pub struct Attr {
    /// Canonical name.
    pub name: &'static str,
    /// Type.
    pub ty: AttrType,
    /// Multi-valued.
    pub multi: bool,
    /// Case-sensitive comparisons.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// Required.
    pub required: bool,
    /// Returned only when requested by `attributes=`.
    pub on_request: bool,
    /// Uniqueness (`none` or `server`).
    pub unique: bool,
    /// Description.
    pub description: &'static str,
    /// Sub-attributes of a complex attribute.
    pub sub: &'static [Attr],
    /// Canonical values.
    pub canonical: &'static [&'static str],
    /// Resource types a reference may point to.
    pub refs: &'static [&'static str],
}

const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        required: false,
        on_request: false,
        unique: false,
        description,
        sub: &[],
        canonical: &[],
        refs: &[],
    }
}

impl Attr {
    const fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    const fn unique(mut self) -> Self {
        self.unique = true;
        self
    }
    const fn multi(mut self, sub: &'static [Attr]) -> Self {
        self.multi = true;
        self.sub = sub;
        self
    }
    const fn complex(mut self, sub: &'static [Attr]) -> Self {
        self.sub = sub;
        self
    }
    const fn on_request(mut self) -> Self {
        self.on_request = true;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical = values;
        self
    }
    const fn refs(mut self, to: &'static [&'static str]) -> Self {
        self.refs = to;
        self
    }

    /// A sub-attribute by name (case-insensitive).
    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 attribute definition.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.ty.as_str(),
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "mutability": self.mutability.as_str(),
            "returned": if self.on_request { "request" } else { "default" },
        });
        if matches!(self.ty, AttrType::String | AttrType::Reference) {
            v["caseExact"] = json!(self.case_exact);
            v["uniqueness"] = json!(if self.unique { "server" } else { "none" });
        }
        if !self.canonical.is_empty() {
            v["canonicalValues"] = json!(self.canonical);
        }
        if !self.refs.is_empty() {
            v["referenceTypes"] = json!(self.refs);
        }
        if self.ty == AttrType::Complex {
            v["subAttributes"] = Value::Array(self.sub.iter().map(Attr::to_json).collect());
        }
        v
    }
}

use AttrType as T;

static NAME_SUB: [Attr; 3] = [
    attr(
        "formatted",
        T::String,
        "The full name, formatted for display.",
    ),
    attr("familyName", T::String, "The family name."),
    attr("givenName", T::String, "The given name."),
];
static EMAIL_SUB: [Attr; 3] = [
    attr("value", T::String, "The e-mail address (the userName).").read_only(),
    attr("type", T::String, "Always \"work\".")
        .read_only()
        .canonical(&["work"]),
    attr("primary", T::Boolean, "Always true.").read_only(),
];
static USER_GROUP_SUB: [Attr; 3] = [
    attr("value", T::String, "The group's id.")
        .read_only()
        .exact(),
    attr("$ref", T::Reference, "The group's URI.")
        .read_only()
        .exact()
        .refs(&["Group"]),
    attr("display", T::String, "The group's name.").read_only(),
];
static USER_ATTRS: [Attr; 6] = [
    attr(
        "userName",
        T::String,
        "The user's e-mail address, used to sign in. Unique, case-insensitively.",
    )
    .required()
    .unique(),
    attr("name", T::Complex, "The components of the user's name.").complex(&NAME_SUB),
    attr("displayName", T::String, "The name shown to other people."),
    attr(
        "active",
        T::Boolean,
        "Whether the user may sign in. Always present (true when not sent).",
    )
    .required(),
    attr(
        "emails",
        T::Complex,
        "The user's e-mail address (mirrors userName).",
    )
    .multi(&EMAIL_SUB)
    .read_only(),
    attr("groups", T::Complex, "The groups the user belongs to.")
        .multi(&USER_GROUP_SUB)
        .read_only(),
];
static USER_EXT_ATTRS: [Attr; 4] = [
    attr(
        "admin",
        T::Boolean,
        "Global administrator. Always present (false when not sent).",
    )
    .required(),
    attr("pi", T::String, "Principal investigator."),
    attr(
        "gdprConsent",
        T::Boolean,
        "GDPR consent given. Always present (false when not sent).",
    )
    .required(),
    attr(
        "serviceAccount",
        T::Boolean,
        "A legacy user linked to a parent user.",
    )
    .read_only(),
];
static MEMBER_SUB: [Attr; 3] = [
    attr("value", T::String, "The member user's id.")
        .immutable()
        .exact(),
    attr("$ref", T::Reference, "The member user's URI.")
        .immutable()
        .exact()
        .refs(&["User"]),
    attr("display", T::String, "The member's name.")
        .read_only()
        .on_request(),
];
static GROUP_ATTRS: [Attr; 2] = [
    attr("displayName", T::String, "The group's name. Unique.")
        .required()
        .unique(),
    attr("members", T::Complex, "The users in the group.").multi(&MEMBER_SUB),
];
static SERVICE_TABLE_SUB: [Attr; 2] = [
    attr("serviceName", T::String, "The CAVE service (namespace).")
        .required()
        .exact(),
    attr("tableName", T::String, "The table name.")
        .required()
        .exact(),
];
static DATASET_ATTRS: [Attr; 4] = [
    attr("name", T::String, "The dataset's name. Unique.")
        .required()
        .exact()
        .unique(),
    attr("description", T::String, "Free text."),
    attr(
        "tosId",
        T::Integer,
        "Id of the terms-of-service document that gates the dataset.",
    ),
    attr(
        "serviceTables",
        T::Complex,
        "CAVE service tables mapped to this dataset.",
    )
    .multi(&SERVICE_TABLE_SUB),
];

static META_SUB: [Attr; 5] = [
    attr("resourceType", T::String, "Resource type.")
        .read_only()
        .exact(),
    attr("created", T::DateTime, "Creation time.").read_only(),
    attr("lastModified", T::DateTime, "Last change.").read_only(),
    attr("location", T::Reference, "The resource's URI.")
        .read_only()
        .exact(),
    attr("version", T::String, "The resource's entity tag.")
        .read_only()
        .exact(),
];
/// Attributes every resource has (RFC 7643 §3.1).
pub static COMMON: [Attr; 3] = [
    attr("id", T::String, "Server-assigned identifier.")
        .read_only()
        .exact()
        .unique(),
    attr(
        "externalId",
        T::String,
        "The provisioning client's identifier.",
    )
    .exact(),
    attr("meta", T::Complex, "Resource metadata.")
        .complex(&META_SUB)
        .read_only(),
];

/// A schema.
#[derive(Debug)]
pub struct Schema {
    /// URN.
    pub id: &'static str,
    /// Name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Attributes.
    pub attrs: &'static [Attr],
}

/// User core schema.
pub static USER_SCHEMA: Schema = Schema {
    id: USER,
    name: "User",
    description: "User Account",
    attrs: &USER_ATTRS,
};
/// Neuroglancer user extension.
pub static USER_EXT_SCHEMA: Schema = Schema {
    id: USER_EXT,
    name: "NeuroglancerUser",
    description: "DatasetGateway user attributes",
    attrs: &USER_EXT_ATTRS,
};
/// Group core schema.
pub static GROUP_SCHEMA: Schema = Schema {
    id: GROUP,
    name: "Group",
    description: "Group",
    attrs: &GROUP_ATTRS,
};
/// Dataset schema.
pub static DATASET_SCHEMA: Schema = Schema {
    id: DATASET,
    name: "Dataset",
    description: "A dataset whose access DatasetGateway controls",
    attrs: &DATASET_ATTRS,
};

/// Every schema, in `/Schemas` order.
pub static SCHEMAS: [&Schema; 4] = [
    &USER_SCHEMA,
    &USER_EXT_SCHEMA,
    &GROUP_SCHEMA,
    &DATASET_SCHEMA,
];

impl Schema {
    /// The RFC 7643 §7 schema resource (without `meta`).
    pub fn to_json(&self) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attrs.iter().map(Attr::to_json).collect::<Vec<_>>(),
        })
    }
}

/// The three resource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `/Users`
    User,
    /// `/Groups`
    Group,
    /// `/Datasets`
    Dataset,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::User, Kind::Group, Kind::Dataset];

    /// Resource type name.
    pub fn name(self) -> &'static str {
        match self {
            Self::User => "User",
            Self::Group => "Group",
            Self::Dataset => "Dataset",
        }
    }

    /// Endpoint path segment.
    pub fn endpoint(self) -> &'static str {
        match self {
            Self::User => "Users",
            Self::Group => "Groups",
            Self::Dataset => "Datasets",
        }
    }

    /// The core schema.
    pub fn schema(self) -> &'static Schema {
        match self {
            Self::User => &USER_SCHEMA,
            Self::Group => &GROUP_SCHEMA,
            Self::Dataset => &DATASET_SCHEMA,
        }
    }

    /// Schema extensions.
    pub fn extensions(self) -> &'static [&'static Schema] {
        static USER_EXTENSIONS: [&Schema; 1] = [&USER_EXT_SCHEMA];
        match self {
            Self::User => &USER_EXTENSIONS,
            _ => &[],
        }
    }

    /// The `/ResourceTypes` entry (without `meta`).
    pub fn resource_type_json(self) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name(),
            "name": self.name(),
            "endpoint": format!("/{}", self.endpoint()),
            "description": self.schema().description,
            "schema": self.schema().id,
            "schemaExtensions": self.extensions().iter()
                // Optional (spec §9.6, RFC 7643 §6): clients may omit the extension.
                .map(|s| json!({"schema": s.id, "required": false}))
                .collect::<Vec<_>>(),
        })
    }
}

/// Where a resolved attribute lives.
#[derive(Debug, Clone, Copy)]
pub struct AttrRef {
    /// `Some(urn)` for an extension attribute (nested under that key in JSON).
    pub extension: Option<&'static str>,
    /// Top-level attribute.
    pub attr: &'static Attr,
    /// Sub-attribute.
    pub sub: Option<&'static Attr>,
}

impl AttrRef {
    /// The attribute's type (the sub-attribute's when there is one).
    pub fn leaf(&self) -> &'static Attr {
        self.sub.unwrap_or(self.attr)
    }

    /// A stable key: `name`, `name.sub`, or `urn:name` for extensions.
    pub fn key(&self) -> String {
        let mut k = match self.extension {
            Some(u) => format!("{u}:{}", self.attr.name),
            None => self.attr.name.to_owned(),
        };
        if let Some(s) = self.sub {
            k.push('.');
            k.push_str(s.name);
        }
        k
    }
}

/// Resolves `[urn:]name[.sub]` for a resource kind (names case-insensitive;
/// extension attributes also without their URN).
///
/// # Errors
/// A message naming the unknown attribute.
pub fn resolve(
    kind: Kind,
    urn: Option<&str>,
    name: &str,
    sub: Option<&str>,
) -> Result<AttrRef, String> {
    let core = kind.schema();
    let find = |attrs: &'static [Attr]| attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name));
    let (extension, attr) = match urn {
        Some(u) if u.eq_ignore_ascii_case(core.id) => {
            (None, find(core.attrs).or_else(|| find(&COMMON)))
        }
        Some(u) => match kind
            .extensions()
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(u))
        {
            Some(s) => (Some(s.id), find(s.attrs)),
            None => return Err(format!("unknown schema {u:?}")),
        },
        None => match find(core.attrs).or_else(|| find(&COMMON)) {
            Some(a) => (None, Some(a)),
            None => kind
                .extensions()
                .iter()
                .find_map(|s| find(s.attrs).map(|a| (Some(s.id), Some(a))))
                .unwrap_or((None, None)),
        },
    };
    let Some(attr) = attr else {
        return Err(format!("unknown attribute {name:?}"));
    };
    let sub = match sub {
        Some(s) => Some(
            attr.sub_attr(s)
                .ok_or_else(|| format!("unknown sub-attribute {name}.{s}"))?,
        ),
        None => None,
    };
    Ok(AttrRef {
        extension,
        attr,
        sub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_case_insensitively_and_by_urn() {
        let r = resolve(Kind::User, None, "USERNAME", None).unwrap();
        assert_eq!(r.key(), "userName");
        let r = resolve(Kind::User, Some(USER), "name", Some("GIVENNAME")).unwrap();
        assert_eq!(r.key(), "name.givenName");
        let r = resolve(Kind::User, Some(USER_EXT), "admin", None).unwrap();
        assert_eq!(r.key(), format!("{USER_EXT}:admin"));
        let r = resolve(Kind::User, None, "gdprconsent", None).unwrap();
        assert_eq!(r.extension, Some(USER_EXT));
        assert_eq!(
            resolve(Kind::Group, None, "meta", Some("lastmodified"))
                .unwrap()
                .key(),
            "meta.lastModified"
        );
        assert!(resolve(Kind::Group, None, "userName", None).is_err());
        assert!(resolve(Kind::User, Some("urn:x"), "userName", None).is_err());
        assert!(resolve(Kind::User, None, "name", Some("nope")).is_err());
    }

    #[test]
    fn schemas_serialise() {
        for s in SCHEMAS {
            let v = s.to_json();
            assert_eq!(v["id"], s.id);
            assert!(v["attributes"].as_array().is_some_and(|a| !a.is_empty()));
        }
    }
}
