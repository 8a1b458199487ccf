//! The per-entity descriptions the admin console is built from: one
//! [`Entity`] per table of the data model (spec §2), with its fields, which
//! of them are listed, searched, filtered, sorted and edited, what a delete
//! takes with it, and which cached answers a change invalidates.

/// What a field holds, which decides parsing, display and query binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of text.
    Text,
    /// Several lines of text.
    LongText,
    /// An e-mail address.
    Email,
    /// Letters, digits, `-` and `_`.
    Slug,
    /// A whole number.
    Int,
    /// Yes / no.
    Bool,
    /// An instant (Unix microseconds in the database).
    Time,
    /// One of a fixed list.
    Choice(&'static [&'static str]),
    /// The id of a row of another entity (by slug).
    Ref(&'static str),
    /// JSON text (audit states).
    Json,
}

/// When a field may be set from a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Never (shown only).
    No,
    /// Only when creating.
    Create,
    /// When creating and when editing.
    Always,
}

/// One column of an entity.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Column name (also the form field name).
    pub name: &'static str,
    /// Human label.
    pub label: &'static str,
    /// Type.
    pub kind: Kind,
    /// Must be given.
    pub required: bool,
    /// Editability.
    pub edit: Edit,
    /// Shown as a list column.
    pub list: bool,
    /// Matched by the list's search box.
    pub search: bool,
    /// Offered as a list filter.
    pub filter: bool,
    /// The list can be sorted by it.
    pub sort: bool,
    /// Short help shown under the form field.
    pub help: &'static str,
}

const fn f(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        required: false,
        edit: Edit::Always,
        list: false,
        search: false,
        filter: false,
        sort: false,
        help: "",
    }
}

impl Field {
    const fn req(mut self) -> Self {
        self.required = true;
        self
    }
    const fn list(mut self) -> Self {
        self.list = true;
        self.sort = true;
        self
    }
    const fn search(mut self) -> Self {
        self.search = true;
        self
    }
    const fn filter(mut self) -> Self {
        self.filter = true;
        self
    }
    const fn ro(mut self) -> Self {
        self.edit = Edit::No;
        self
    }
    const fn once(mut self) -> Self {
        self.edit = Edit::Create;
        self
    }
    const fn help(mut self, help: &'static str) -> Self {
        self.help = help;
        self
    }

    /// Settable in this mode (`creating` or editing).
    pub fn settable(&self, creating: bool) -> bool {
        match self.edit {
            Edit::No => false,
            Edit::Create => creating,
            Edit::Always => true,
        }
    }
}

/// Which cached answers a change to a row invalidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidate {
    /// Shared facts: drop everything.
    All,
    /// The row is a user.
    SelfUser,
    /// The user named by this column.
    UserCol(&'static str),
    /// The row is a service account.
    SelfSa,
    /// The service account named by this column.
    SaCol(&'static str),
}

/// What deleting a row does to rows pointing at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// They are deleted too.
    Cascade,
    /// Their reference becomes empty.
    SetNull,
}

/// Rows of another entity pointing at this one.
#[derive(Debug, Clone, Copy)]
pub struct Dependent {
    /// The other entity's slug.
    pub entity: &'static str,
    /// Its column holding our id.
    pub column: &'static str,
    /// What a delete does to them.
    pub effect: Effect,
}

const fn dep(entity: &'static str, column: &'static str) -> Dependent {
    Dependent {
        entity,
        column,
        effect: Effect::Cascade,
    }
}

const fn nulls(entity: &'static str, column: &'static str) -> Dependent {
    Dependent {
        entity,
        column,
        effect: Effect::SetNull,
    }
}

/// One entity of the data model as the console shows it.
#[derive(Debug)]
pub struct Entity {
    /// URL segment: `/admin/{slug}/`.
    pub slug: &'static str,
    /// Plural title.
    pub title: &'static str,
    /// Singular noun.
    pub singular: &'static str,
    /// Table.
    pub table: &'static str,
    /// Audit `target_type`.
    pub target_type: &'static str,
    /// Audit action prefix (`<prefix>_updated`, `<prefix>_deleted`).
    pub audit_prefix: &'static str,
    /// SQL expression naming a row; `{a}` is the row's alias.
    pub label: &'static str,
    /// Columns (the id is implicit).
    pub fields: &'static [Field],
    /// New rows can be made here.
    pub create: bool,
    /// Rows can be deleted (or revoked) here.
    pub delete: bool,
    /// Has an `updated` column to bump.
    pub has_updated: bool,
    /// Newest first by default.
    pub newest_first: bool,
    /// Cache invalidation rule.
    pub invalidate: Invalidate,
    /// What points at a row.
    pub dependents: &'static [Dependent],
    /// One sentence about the entity.
    pub about: &'static str,
}

impl Entity {
    /// Some field can be edited after creation.
    pub fn editable(&self) -> bool {
        self.fields.iter().any(|f| f.edit == Edit::Always)
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The label expression for alias `a`.
    pub fn label_sql(&self, a: &str) -> String {
        self.label.replace("{a}", a)
    }
}

/// The entity with this slug.
pub fn entity(slug: &str) -> Option<&'static Entity> {
    ENTITIES.iter().find(|e| e.slug == slug)
}

const SOURCES: &[&str] = &["manual", "self_service"];
const ACCESS_MODES: &[&str] = &["closed", "public"];
const EVAL_MODES: &[&str] = &["linear", "dag"];

/// Every entity, in the order the console's index lists them.
pub static ENTITIES: &[Entity] = &[
    Entity {
        slug: "users",
        title: "Users",
        singular: "user",
        table: "dsg_user",
        target_type: "User",
        audit_prefix: "user",
        label: "{a}.email",
        fields: &[
            f("email", "E-mail", Kind::Email).req().list().search(),
            f("name", "Name", Kind::Text).list().search(),
            f("display_name", "Display name", Kind::Text).search(),
            f("admin", "Global admin", Kind::Bool).list().filter(),
            f("is_active", "Active", Kind::Bool)
                .list()
                .filter()
                .help("Inactive users cannot authenticate."),
            f("read_only", "Read-only", Kind::Bool)
                .filter()
                .help("Strips edit from every permission."),
            f("gdpr_consent", "GDPR consent", Kind::Bool),
            f("pi", "Principal investigator", Kind::Text),
            f("notes", "Notes", Kind::LongText),
            f("picture_url", "Picture URL", Kind::Text),
            f("parent_id", "Legacy parent user", Kind::Ref("users"))
                .help("Legacy user-as-service-account link; leave empty."),
            f("created", "Created", Kind::Time).ro().list(),
            f("last_login", "Last login", Kind::Time).ro(),
        ],
        create: true,
        delete: true,
        has_updated: true,
        newest_first: false,
        invalidate: Invalidate::SelfUser,
        dependents: &[
            dep("affiliations", "user_id"),
            dep("memberships", "user_id"),
            dep("grants", "user_id"),
            dep("api_keys", "user_id"),
            dep("tos_acceptances", "user_id"),
            dep("users", "parent_id"),
            nulls("grants", "granted_by_id"),
            nulls("service_accounts", "created_by_id"),
            nulls("sa_grants", "granted_by_id"),
        ],
        about: "People who log in; the admin flag makes a global administrator.",
    },
    Entity {
        slug: "affiliations",
        title: "Affiliations",
        singular: "affiliation",
        table: "affiliation",
        target_type: "Affiliation",
        audit_prefix: "affiliation",
        label: "{a}.name",
        fields: &[
            f("user_id", "User", Kind::Ref("users"))
                .req()
                .once()
                .list()
                .search()
                .filter(),
            f("name", "Affiliation", Kind::Text).req().list().search(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::UserCol("user_id"),
        dependents: &[],
        about: "Institutions a user belongs to (listed in the permission cache).",
    },
    Entity {
        slug: "groups",
        title: "Groups",
        singular: "group",
        table: "dsg_group",
        target_type: "Group",
        audit_prefix: "group",
        label: "{a}.name",
        fields: &[
            f("name", "Name", Kind::Text).req().list().search(),
            f("created", "Created", Kind::Time).ro().list(),
        ],
        create: true,
        delete: true,
        has_updated: true,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[
            dep("memberships", "group_id"),
            dep("group_permissions", "group_id"),
            dep("grants", "group_id"),
        ],
        about: "Sets of users; group permissions give every member access.",
    },
    Entity {
        slug: "memberships",
        title: "Memberships",
        singular: "membership",
        table: "user_group",
        target_type: "UserGroup",
        audit_prefix: "member",
        label: "COALESCE((SELECT email FROM dsg_user WHERE id = {a}.user_id), '?') || ' in ' || \
                COALESCE((SELECT name FROM dsg_group WHERE id = {a}.group_id), '?')",
        fields: &[
            f("user_id", "User", Kind::Ref("users"))
                .req()
                .once()
                .list()
                .search()
                .filter(),
            f("group_id", "Group", Kind::Ref("groups"))
                .req()
                .once()
                .list()
                .search()
                .filter(),
            f("is_admin", "Group admin", Kind::Bool).list().filter(),
            f("expires_at", "Expires (UTC)", Kind::Time)
                .list()
                .help("Empty: never."),
            f("created", "Created", Kind::Time).ro(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::UserCol("user_id"),
        dependents: &[],
        about: "Users in groups. Removing a member also revokes the grants scoped to that group.",
    },
    Entity {
        slug: "permissions",
        title: "Permissions",
        singular: "permission",
        table: "permission",
        target_type: "Permission",
        audit_prefix: "permission",
        label: "{a}.name",
        fields: &[f("name", "Name", Kind::Text).ro().list()],
        create: false,
        delete: false,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "The permission levels (view, edit, manage, admin); fixed.",
    },
    Entity {
        slug: "datasets",
        title: "Datasets",
        singular: "dataset",
        table: "dataset",
        target_type: "Dataset",
        audit_prefix: "dataset",
        label: "{a}.name",
        fields: &[
            f("name", "Name", Kind::Slug).req().list().search(),
            f("description", "Description", Kind::LongText),
            f("access_mode", "Access mode", Kind::Choice(ACCESS_MODES))
                .req()
                .list()
                .filter()
                .help("public: anyone may self-serve view access by accepting the TOS."),
            f("tos_id", "Terms of service", Kind::Ref("tos_documents"))
                .list()
                .help("The dataset-wide TOS that gates every permission."),
            f("created", "Created", Kind::Time).ro(),
        ],
        create: true,
        delete: true,
        has_updated: true,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[
            dep("buckets", "dataset_id"),
            dep("versions", "dataset_id"),
            dep("group_permissions", "dataset_id"),
            dep("grants", "dataset_id"),
            dep("sa_grants", "dataset_id"),
            dep("service_tables", "dataset_id"),
            dep("tos_documents", "dataset_id"),
        ],
        about: "Datasets whose access the gateway decides.",
    },
    Entity {
        slug: "buckets",
        title: "Buckets",
        singular: "bucket",
        table: "dataset_bucket",
        target_type: "DatasetBucket",
        audit_prefix: "bucket",
        label: "{a}.name",
        fields: &[
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .req()
                .list()
                .search()
                .filter(),
            f("name", "Bucket name", Kind::Text)
                .req()
                .list()
                .search()
                .help("GCS bucket name without gs://"),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "Google Cloud Storage buckets holding a dataset.",
    },
    Entity {
        slug: "versions",
        title: "Versions",
        singular: "version",
        table: "dataset_version",
        target_type: "DatasetVersion",
        audit_prefix: "version",
        label: "COALESCE((SELECT name FROM dataset WHERE id = {a}.dataset_id), '?') || ' ' || {a}.version",
        fields: &[
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .req()
                .list()
                .search()
                .filter(),
            f("version", "Version", Kind::Text).req().list().search(),
            f("branch", "Branch", Kind::Text)
                .list()
                .filter()
                .help("Release line; ordinals compare only within one (empty: main)"),
            f("ordinal", "Ordinal", Kind::Int)
                .list()
                .help("Position on the branch: access to ordinal n reaches the lower ones"),
            f("prefix", "Prefix", Kind::Text),
            f("is_public", "Public", Kind::Bool).list().filter(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[
            dep("grants", "dataset_version_id"),
            dep("sa_grants", "dataset_version_id"),
            dep("tos_documents", "dataset_version_id"),
        ],
        about: "Versions of a dataset; grants may be limited to one.",
    },
    Entity {
        slug: "group_permissions",
        title: "Group permissions",
        singular: "group permission",
        table: "group_dataset_permission",
        target_type: "GroupDatasetPermission",
        audit_prefix: "group_permission",
        label: "COALESCE((SELECT name FROM dsg_group WHERE id = {a}.group_id), '?') || ': ' || \
                COALESCE((SELECT name FROM permission WHERE id = {a}.permission_id), '?') || ' on ' || \
                COALESCE((SELECT name FROM dataset WHERE id = {a}.dataset_id), '?')",
        fields: &[
            f("group_id", "Group", Kind::Ref("groups"))
                .req()
                .list()
                .search()
                .filter(),
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .req()
                .list()
                .search()
                .filter(),
            f("permission_id", "Permission", Kind::Ref("permissions"))
                .req()
                .list()
                .filter(),
            f("service_id", "Service scope", Kind::Ref("services"))
                .list()
                .filter()
                .once()
                .help("Counts only for requests naming this service. Empty: every service."),
            f("created", "Created", Kind::Time).ro(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "Dataset-wide permissions every member of a group holds.",
    },
    Entity {
        slug: "grants",
        title: "Grants",
        singular: "grant",
        table: "dataset_grant",
        target_type: "Grant",
        audit_prefix: "grant",
        label: "COALESCE((SELECT email FROM dsg_user WHERE id = {a}.user_id), '?') || ': ' || \
                COALESCE((SELECT name FROM permission WHERE id = {a}.permission_id), '?') || ' on ' || \
                COALESCE((SELECT name FROM dataset WHERE id = {a}.dataset_id), '?')",
        fields: &[
            f("user_id", "User", Kind::Ref("users"))
                .req()
                .once()
                .list()
                .search()
                .filter(),
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .req()
                .once()
                .list()
                .search()
                .filter(),
            f("dataset_version_id", "Version", Kind::Ref("versions"))
                .list()
                .help("Empty: every version."),
            f("permission_id", "Permission", Kind::Ref("permissions"))
                .req()
                .list()
                .filter(),
            f("service_id", "Service scope", Kind::Ref("services"))
                .list()
                .filter()
                .once()
                .help("Counts only for requests naming this service. Empty: every service."),
            f("group_id", "Group scope", Kind::Ref("groups"))
                .filter()
                .help("Set for grants made from a group dashboard."),
            f("source", "Source", Kind::Choice(SOURCES))
                .req()
                .list()
                .filter(),
            f("expires_at", "Expires (UTC)", Kind::Time)
                .list()
                .help("Empty: never."),
            f("granted_by_id", "Granted by", Kind::Ref("users")).ro(),
            f("created", "Created", Kind::Time).ro(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: true,
        invalidate: Invalidate::UserCol("user_id"),
        dependents: &[],
        about: "Direct permissions of one user on a dataset.",
    },
    Entity {
        slug: "services",
        title: "Services",
        singular: "service",
        table: "service",
        target_type: "Service",
        audit_prefix: "service",
        label: "{a}.name",
        fields: &[
            f("name", "Name", Kind::Slug).req().list().search(),
            f("display_name", "Display name", Kind::Text)
                .list()
                .search(),
            f("base_url", "Base URL", Kind::Text).list(),
            f(
                "version_eval_mode",
                "Version evaluation",
                Kind::Choice(EVAL_MODES),
            )
            .list()
            .help("linear: ordinals on a branch; dag: the service evaluates ancestry"),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[dep("tos_documents", "service_id")],
        about: "Downstream services that may have their own terms of service.",
    },
    Entity {
        slug: "service_tables",
        title: "Service tables",
        singular: "service table",
        table: "service_table",
        target_type: "ServiceTable",
        audit_prefix: "service_table",
        label: "{a}.service_name || '/' || {a}.table_name",
        fields: &[
            f("service_name", "Service", Kind::Text)
                .req()
                .list()
                .search(),
            f("table_name", "Table", Kind::Text).req().list().search(),
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .req()
                .list()
                .search()
                .filter(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[dep("public_roots", "service_table_id")],
        about: "Maps a CAVE service table to its dataset.",
    },
    Entity {
        slug: "public_roots",
        title: "Public roots",
        singular: "public root",
        table: "public_root",
        target_type: "PublicRoot",
        audit_prefix: "public_root",
        label: "CAST({a}.root_id AS TEXT)",
        fields: &[
            f(
                "service_table_id",
                "Service table",
                Kind::Ref("service_tables"),
            )
            .req()
            .list()
            .filter(),
            f("root_id", "Root id", Kind::Int).req().list().search(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "Root ids anyone may read in a service table.",
    },
    Entity {
        slug: "translations",
        title: "Translations",
        singular: "translation",
        table: "dataset_translation",
        target_type: "DatasetTranslation",
        audit_prefix: "translation",
        label: "COALESCE((SELECT name FROM service WHERE id = {a}.service_id), '?') || ':' || {a}.client_name",
        fields: &[
            f("service_id", "Service", Kind::Ref("services"))
                .req()
                .list()
                .filter()
                .once(),
            f("client_name", "Service's dataset name", Kind::Text)
                .req()
                .list()
                .search()
                .once(),
            f("client_version", "Service's version name", Kind::Text)
                .list()
                .once()
                .help("With a version below; empty for a name-level translation"),
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .req()
                .list()
                .filter()
                .once(),
            f("dataset_version_id", "Version", Kind::Ref("versions"))
                .list()
                .once(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "A service's own names for a dataset (and a version of it), used by /api/dsg/v1.",
    },
    Entity {
        slug: "tos_documents",
        title: "TOS documents",
        singular: "TOS document",
        table: "tos_document",
        target_type: "TOSDocument",
        audit_prefix: "tos_document",
        label: "{a}.name",
        fields: &[
            f("name", "Name", Kind::Text).req().list().search(),
            f("text", "Text (Markdown)", Kind::LongText).req(),
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .list()
                .filter()
                .help("A document with a dataset and no service becomes that dataset's TOS."),
            f("dataset_version_id", "Version", Kind::Ref("versions")).list(),
            f("service_id", "Service", Kind::Ref("services"))
                .list()
                .filter(),
            f("effective_date", "Effective (UTC)", Kind::Time)
                .req()
                .list()
                .help("Empty on create: now."),
            f("retired_date", "Retired (UTC)", Kind::Time).list(),
            f("invite_token", "Invitation token", Kind::Text).ro(),
            f("created", "Created", Kind::Time).ro(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[
            dep("tos_acceptances", "tos_document_id"),
            nulls("datasets", "tos_id"),
        ],
        about: "Terms of service users accept before a dataset opens.",
    },
    Entity {
        slug: "tos_acceptances",
        title: "TOS acceptances",
        singular: "TOS acceptance",
        table: "tos_acceptance",
        target_type: "TOSAcceptance",
        audit_prefix: "tos_acceptance",
        label: "COALESCE((SELECT email FROM dsg_user WHERE id = {a}.user_id), '?') || ' accepted ' || \
                COALESCE((SELECT name FROM tos_document WHERE id = {a}.tos_document_id), '?')",
        fields: &[
            f("user_id", "User", Kind::Ref("users"))
                .req()
                .once()
                .list()
                .search()
                .filter(),
            f(
                "tos_document_id",
                "TOS document",
                Kind::Ref("tos_documents"),
            )
            .req()
            .once()
            .list()
            .filter(),
            f("accepted_at", "Accepted", Kind::Time).ro().list(),
            f("ip_address", "IP address", Kind::Text).ro(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: true,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "Who accepted which terms, and when.",
    },
    Entity {
        slug: "service_accounts",
        title: "Service accounts",
        singular: "service account",
        table: "service_account",
        target_type: "ServiceAccount",
        audit_prefix: "service_account",
        label: "{a}.name",
        fields: &[
            f("name", "Name", Kind::Slug).req().once().list().search(),
            f("description", "Description", Kind::LongText).search(),
            f("is_active", "Active", Kind::Bool).list().filter(),
            f("created_by_id", "Created by", Kind::Ref("users"))
                .ro()
                .list(),
            f("created", "Created", Kind::Time).ro().list(),
        ],
        create: true,
        delete: true,
        has_updated: true,
        newest_first: false,
        invalidate: Invalidate::SelfSa,
        dependents: &[
            dep("sa_tokens", "service_account_id"),
            dep("sa_grants", "service_account_id"),
        ],
        about: "Non-human principals with their own tokens and grants.",
    },
    Entity {
        slug: "sa_tokens",
        title: "Service-account tokens",
        singular: "service-account token",
        table: "service_account_token",
        target_type: "ServiceAccountToken",
        audit_prefix: "sa_token",
        label: "COALESCE((SELECT name FROM service_account WHERE id = {a}.service_account_id), '?') || ' ' || {a}.key_prefix || '…'",
        fields: &[
            f(
                "service_account_id",
                "Service account",
                Kind::Ref("service_accounts"),
            )
            .req()
            .once()
            .list()
            .search()
            .filter(),
            f("description", "Description", Kind::Text).list().search(),
            f("key_prefix", "Starts with", Kind::Text).ro().list(),
            f("created", "Created", Kind::Time).ro().list(),
            f("last_used", "Last used", Kind::Time).ro().list(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: true,
        invalidate: Invalidate::SaCol("service_account_id"),
        dependents: &[],
        about: "Bearer tokens of service accounts; the secret is shown once, at creation.",
    },
    Entity {
        slug: "sa_grants",
        title: "Service-account grants",
        singular: "service-account grant",
        table: "service_account_grant",
        target_type: "ServiceAccountGrant",
        audit_prefix: "sa_grant",
        label: "COALESCE((SELECT name FROM service_account WHERE id = {a}.service_account_id), '?') || ': ' || \
                COALESCE((SELECT name FROM permission WHERE id = {a}.permission_id), '?') || ' on ' || \
                COALESCE((SELECT name FROM dataset WHERE id = {a}.dataset_id), '?')",
        fields: &[
            f(
                "service_account_id",
                "Service account",
                Kind::Ref("service_accounts"),
            )
            .req()
            .once()
            .list()
            .search()
            .filter(),
            f("dataset_id", "Dataset", Kind::Ref("datasets"))
                .req()
                .once()
                .list()
                .search()
                .filter(),
            f("dataset_version_id", "Version", Kind::Ref("versions"))
                .list()
                .help("Empty: every version."),
            f("permission_id", "Permission", Kind::Ref("permissions"))
                .req()
                .list()
                .filter(),
            f("service_id", "Service scope", Kind::Ref("services"))
                .list()
                .filter()
                .once()
                .help("Counts only for requests naming this service. Empty: every service."),
            f("expires_at", "Expires (UTC)", Kind::Time).list(),
            f("granted_by_id", "Granted by", Kind::Ref("users")).ro(),
            f("created", "Created", Kind::Time).ro(),
        ],
        create: true,
        delete: true,
        has_updated: false,
        newest_first: true,
        invalidate: Invalidate::SaCol("service_account_id"),
        dependents: &[],
        about: "Permissions of service accounts on datasets.",
    },
    Entity {
        slug: "registered_clients",
        title: "Registered clients",
        singular: "registered client",
        table: "registered_client",
        target_type: "RegisteredClient",
        audit_prefix: "registered_client",
        label: "{a}.name || ' (' || {a}.origin || ')'",
        fields: &[
            f("origin", "Origin", Kind::Text)
                .req()
                .list()
                .search()
                .once()
                .help("Exact origin, e.g. https://coda.example.org (no path, no trailing slash)"),
            f("name", "Name", Kind::Text).req().list().search(),
            f("owner", "Owner (contact)", Kind::Text).list(),
            f("enabled", "Enabled", Kind::Bool)
                .list()
                .filter()
                .help("Disabled: no new keys and no remembered delivery; live keys keep working"),
            f("created", "Created", Kind::Time).ro().list(),
        ],
        create: true,
        delete: false,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "Web applications at an exact origin that may receive delegated keys through the \
                sign-in popup. Disable one to stop it; revoke its users' keys under API keys.",
    },
    Entity {
        slug: "oidc_clients",
        title: "OpenID clients",
        singular: "OpenID client",
        table: "oidc_client",
        target_type: "OidcClient",
        audit_prefix: "oidc_client",
        label: "{a}.name || ' (' || {a}.client_id || ')'",
        fields: &[
            f("client_id", "Client id", Kind::Text).ro().list().search(),
            f("name", "Name", Kind::Text).req().list().search(),
            f("redirect_uris", "Redirect URIs", Kind::LongText)
                .req()
                .once()
                .help("One exact URI per line, e.g. https://wk.example.org/api/auth/oidc/callback"),
            f(
                "post_logout_redirect_uris",
                "Post-logout URIs",
                Kind::LongText,
            )
            .once()
            .help("One exact URI per line (may be empty)"),
            f("scopes", "Scopes", Kind::Text).once().help(
                "Space-separated subset of: openid email profile groups datasets (empty: all)",
            ),
            f("public", "Public (PKCE, no secret)", Kind::Bool)
                .once()
                .list(),
            f("enabled", "Enabled", Kind::Bool).list().filter(),
            f("created", "Created", Kind::Time).ro().list(),
        ],
        create: true,
        delete: false,
        has_updated: false,
        newest_first: false,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "Tools that sign people in with DSG (WebKnossos, JupyterHub, Grafana). The secret \
                is shown once; the datasets a client serves and secret rotation: \
                `dsg oidc-client` or /api/v1/oidc-clients.",
    },
    Entity {
        slug: "api_keys",
        title: "API keys",
        singular: "API key",
        table: "api_key",
        target_type: "APIKey",
        audit_prefix: "api_token",
        label: "COALESCE((SELECT email FROM dsg_user WHERE id = {a}.user_id), '?') || ' ' || {a}.key_prefix || '…'",
        fields: &[
            f("user_id", "User", Kind::Ref("users"))
                .ro()
                .list()
                .search()
                .filter(),
            f("description", "Description", Kind::Text)
                .ro()
                .list()
                .search(),
            f("key_prefix", "Starts with", Kind::Text).ro().list(),
            f("created", "Created", Kind::Time).ro().list(),
            f("last_used", "Last used", Kind::Time).ro().list(),
            f("expires_at", "Expires", Kind::Time).ro().list(),
            f("scope_read_only", "Read-only scope", Kind::Bool)
                .ro()
                .filter(),
            f("scope_datasets", "Limited to datasets", Kind::Bool).ro(),
            f("long_lived", "Long-lived token", Kind::Bool)
                .ro()
                .filter(),
            f(
                "delegated_client_id",
                "Delegated to",
                Kind::Ref("registered_clients"),
            )
            .ro()
            .list()
            .filter(),
        ],
        create: false,
        delete: true,
        has_updated: false,
        newest_first: true,
        invalidate: Invalidate::UserCol("user_id"),
        dependents: &[],
        about: "Users' tokens: metadata only (the secrets are never stored); revoke here.",
    },
    Entity {
        slug: "audit_log",
        title: "Audit log",
        singular: "audit entry",
        table: "audit_log",
        target_type: "AuditLog",
        audit_prefix: "audit",
        label: "{a}.action || ' ' || {a}.target_type || ' ' || {a}.target_id",
        fields: &[
            f("timestamp", "When", Kind::Time).ro().list(),
            f("actor", "Actor", Kind::Text).ro().list().search(),
            f("actor_id", "Actor user", Kind::Ref("users")).ro(),
            f("action", "Action", Kind::Text)
                .ro()
                .list()
                .filter()
                .search(),
            f("target_type", "Target type", Kind::Text)
                .ro()
                .list()
                .filter(),
            f("target_id", "Target id", Kind::Text).ro().list().search(),
            f("before_state", "Before", Kind::Json).ro(),
            f("after_state", "After", Kind::Json).ro(),
            f("request_id", "Request id", Kind::Text).ro().search(),
        ],
        create: false,
        delete: false,
        has_updated: false,
        newest_first: true,
        invalidate: Invalidate::All,
        dependents: &[],
        about: "Every change, append-only: it cannot be edited or deleted, here or anywhere.",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_dependents_name_real_entities_and_columns() {
        for e in ENTITIES {
            for f in e.fields {
                if let Kind::Ref(r) = f.kind {
                    assert!(entity(r).is_some(), "{}.{} -> {r}", e.slug, f.name);
                }
            }
            for d in e.dependents {
                let other = entity(d.entity).unwrap_or_else(|| panic!("{}", d.entity));
                assert!(other.field(d.column).is_some(), "{}.{}", d.entity, d.column);
            }
            if let Invalidate::UserCol(c) | Invalidate::SaCol(c) = e.invalidate {
                assert!(e.field(c).is_some(), "{}: {c}", e.slug);
            }
        }
    }
}
