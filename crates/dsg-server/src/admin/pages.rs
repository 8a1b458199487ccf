//! The console's pages: askama templates under `templates/admin/`, fed with
//! plain display models built here from an entity description and its rows
//! (so the templates stay generic and everything they print is escaped).

use std::collections::BTreeMap;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use dsg_core::Timestamp;
use dsg_store::console::{
    ConsoleRow, DependentCount, ENTITIES, Edit, Effect, Entity, Field, Kind, ListPage, ListQuery,
};

/// A navigation entry.
pub(crate) struct Nav {
    slug: &'static str,
    title: &'static str,
    current: bool,
}

fn nav(current: &str) -> Vec<Nav> {
    ENTITIES
        .iter()
        .map(|e| Nav {
            slug: e.slug,
            title: e.title,
            current: e.slug == current,
        })
        .collect()
}

/// A displayed value.
pub(crate) struct Cell {
    text: String,
    href: String,
    time: String,
    pre: bool,
}

/// A select option.
pub(crate) struct Opt {
    value: String,
    label: String,
    selected: bool,
}

fn rfc(micros: &str) -> Option<Timestamp> {
    micros.parse::<i64>().ok().map(Timestamp)
}

/// The value of field `i` of a row, for display.
fn cell(f: &Field, row: &ConsoleRow, i: usize, full: bool) -> Cell {
    let v = row.values.get(i).cloned().flatten();
    let mut c = Cell {
        text: String::new(),
        href: String::new(),
        time: String::new(),
        pre: false,
    };
    let Some(v) = v else {
        c.text = "—".into();
        return c;
    };
    match f.kind {
        Kind::Bool => c.text = if v == "true" { "Yes" } else { "No" }.into(),
        Kind::Time => match rfc(&v) {
            Some(t) => {
                c.text = t.utc_text();
                c.time = t.to_rfc3339();
            }
            None => c.text = v,
        },
        Kind::Ref(r) => {
            let label = row.refs.get(i).cloned().flatten().unwrap_or_default();
            c.text = if label.is_empty() {
                format!("#{v}")
            } else {
                label
            };
            c.href = format!("/admin/{r}/{v}");
        }
        Kind::Json => {
            c.text = serde_json::from_str::<serde_json::Value>(&v)
                .ok()
                .and_then(|j| serde_json::to_string_pretty(&j).ok())
                .unwrap_or(v);
            c.pre = full;
            if !full {
                c.text = shorten(&c.text, 60);
            }
        }
        Kind::LongText => {
            c.pre = full;
            c.text = if full { v } else { shorten(&v, 80) };
        }
        _ => c.text = v,
    }
    c
}

fn shorten(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        format!("{}…", one_line.chars().take(n).collect::<String>())
    }
}

fn qs(pairs: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    let out = s.finish();
    if out.is_empty() {
        out
    } else {
        format!("?{out}")
    }
}

fn respond(status: StatusCode, html: Result<String, askama::Error>) -> Response {
    match html {
        Ok(h) => (status, Html(h)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "admin template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

/// A fixed success message for a `done=` id (stateless flash).
pub(crate) fn flash(id: &str) -> Option<&'static str> {
    Some(match id {
        "created" => "Created.",
        "saved" => "Saved.",
        "unchanged" => "Nothing changed.",
        "deleted" => "Deleted.",
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "admin/message.html")]
struct MessageT<'a> {
    email: &'a str,
    nav: Vec<Nav>,
    title: &'a str,
    flash: &'a str,
    message: &'a str,
    /// The way forward: (link, label).
    back: (&'a str, &'a str),
}

/// A status page (errors) with a link back to the console.
pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    message_with_link(
        status,
        title,
        text,
        ("/admin/", "Back to the admin console"),
    )
}

fn message_with_link(status: StatusCode, title: &str, text: &str, back: (&str, &str)) -> Response {
    respond(
        status,
        MessageT {
            email: "",
            nav: Vec::new(),
            title,
            flash: "",
            message: text,
            back,
        }
        .render(),
    )
}

/// 403 for a signed-in user who is not a global admin: the way forward is
/// the web UI, not the console that refused them.
pub(crate) fn denied() -> Response {
    message_with_link(
        StatusCode::FORBIDDEN,
        "Access denied",
        "The admin console is for global administrators only. Ask one of them if you need \
         a change made.",
        ("/web/datasets", "Back to your datasets"),
    )
}

/// 405 for changes to an entity that cannot be changed here.
pub(crate) fn read_only(e: &Entity) -> Response {
    let mut r = message(
        StatusCode::METHOD_NOT_ALLOWED,
        "Read-only",
        &format!("{} cannot be changed here.", e.title),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

/// 404 for an id with no row.
pub(crate) fn no_row() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no row with this id.",
    )
}

#[derive(Template)]
#[template(path = "admin/index.html")]
struct IndexT<'a> {
    email: &'a str,
    nav: Vec<Nav>,
    title: &'a str,
    flash: &'a str,
    entities: Vec<(&'static str, &'static str, &'static str)>,
}

/// The console's start page.
pub(crate) fn index(email: &str) -> Response {
    respond(
        StatusCode::OK,
        IndexT {
            email,
            nav: nav(""),
            title: "Admin console",
            flash: "",
            entities: ENTITIES
                .iter()
                .map(|e| (e.slug, e.title, e.about))
                .collect(),
        }
        .render(),
    )
}

/// A list column header.
pub(crate) struct Col {
    label: &'static str,
    href: String,
    mark: &'static str,
}

/// A list row.
pub(crate) struct LRow {
    href: String,
    id: i64,
    cells: Vec<Cell>,
}

/// A filter select.
pub(crate) struct FilterUi {
    name: &'static str,
    label: &'static str,
    options: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "admin/list.html")]
struct ListT<'a> {
    email: &'a str,
    nav: Vec<Nav>,
    title: &'a str,
    flash: &'a str,
    slug: &'a str,
    about: &'a str,
    can_create: bool,
    search: &'a str,
    searchable: bool,
    hidden: Vec<(String, String)>,
    filters: Vec<FilterUi>,
    cols: Vec<Col>,
    rows: Vec<LRow>,
    info: String,
    prev: String,
    next: String,
    clear: String,
}

/// The list page.
pub(crate) fn list(
    email: &str,
    e: &Entity,
    q: &ListQuery,
    page: &ListPage,
    filter_options: &[(&Field, Vec<(String, String)>)],
    flash: Option<&'static str>,
) -> Response {
    let filter_value = |name: &str| {
        q.filters
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut base: Vec<(String, String)> = vec![("q".into(), q.search.clone())];
    base.extend(q.filters.iter().cloned());
    let sort_pairs = || -> Vec<(String, String)> {
        let mut p = vec![];
        if let Some(s) = &q.sort {
            p.push(("sort".into(), s.clone()));
            if q.desc {
                p.push(("desc".into(), "1".into()));
            }
        }
        p
    };
    let list_fields: Vec<(usize, &Field)> = e
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.list)
        .collect();
    let cols = list_fields
        .iter()
        .map(|(_, f)| {
            let current = q.sort.as_deref() == Some(f.name);
            let mut p = base.clone();
            p.push(("sort".into(), f.name.into()));
            if current && !q.desc {
                p.push(("desc".into(), "1".into()));
            }
            Col {
                label: f.label,
                href: format!("/admin/{}/{}", e.slug, qs(&p)),
                mark: match (current, q.desc) {
                    (true, false) => " ▲",
                    (true, true) => " ▼",
                    _ => "",
                },
            }
        })
        .collect();
    let rows = page
        .rows
        .iter()
        .map(|r| LRow {
            href: format!("/admin/{}/{}", e.slug, r.id),
            id: r.id,
            cells: list_fields
                .iter()
                .map(|(i, f)| cell(f, r, *i, false))
                .collect(),
        })
        .collect();
    let pages = ((page.total + page.per_page - 1) / page.per_page).max(1);
    let page_link = |n: i64| {
        let mut p = base.clone();
        p.extend(sort_pairs());
        p.push(("page".into(), n.to_string()));
        format!("/admin/{}/{}", e.slug, qs(&p))
    };
    let first = (page.page - 1) * page.per_page + 1;
    let last = (first + page.rows.len() as i64 - 1).max(0);
    let info = if page.total == 0 {
        "No rows match.".to_owned()
    } else {
        format!(
            "Rows {first}–{last} of {} · page {} of {pages}",
            page.total, page.page
        )
    };
    let filters = filter_options
        .iter()
        .map(|(f, opts)| {
            let cur = filter_value(f.name);
            FilterUi {
                name: f.name,
                label: f.label,
                options: opts
                    .iter()
                    .map(|(v, l)| Opt {
                        selected: v == cur,
                        value: v.clone(),
                        label: l.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    // Filters on references not offered as selects (links from a row's page) stay in the form.
    let hidden = q
        .filters
        .iter()
        .filter(|(k, _)| !filter_options.iter().any(|(f, _)| f.name == k))
        .cloned()
        .chain(sort_pairs())
        .collect();
    respond(
        StatusCode::OK,
        ListT {
            email,
            nav: nav(e.slug),
            title: e.title,
            flash: flash.unwrap_or(""),
            slug: e.slug,
            about: e.about,
            can_create: e.create,
            search: &q.search,
            searchable: e.fields.iter().any(|f| f.search),
            hidden,
            filters,
            cols,
            rows,
            info,
            prev: if page.page > 1 {
                page_link(page.page - 1)
            } else {
                String::new()
            },
            next: if page.page < pages {
                page_link(page.page + 1)
            } else {
                String::new()
            },
            clear: format!("/admin/{}/", e.slug),
        }
        .render(),
    )
}

/// A related list shown on a row's page.
pub(crate) struct Related {
    label: String,
    href: String,
    note: &'static str,
}

#[derive(Template)]
#[template(path = "admin/view.html")]
struct ViewT<'a> {
    email: &'a str,
    nav: Vec<Nav>,
    title: &'a str,
    flash: &'a str,
    slug: &'a str,
    singular: &'a str,
    id: i64,
    fields: Vec<(&'static str, Cell)>,
    related: Vec<Related>,
    can_edit: bool,
    can_delete: bool,
    delete_word: &'a str,
}

fn delete_word(e: &Entity) -> &'static str {
    match e.slug {
        "grants" | "api_keys" | "sa_tokens" | "sa_grants" => "Revoke",
        "memberships" => "Remove",
        _ => "Delete",
    }
}

fn related(deps: &[DependentCount], id: i64) -> Vec<Related> {
    deps.iter()
        .map(|d| Related {
            label: format!("{} {}", d.count, d.entity.title.to_lowercase()),
            href: format!("/admin/{}/?{}={id}", d.entity.slug, d.column),
            note: match d.effect {
                Effect::Cascade => "deleted with it",
                Effect::SetNull => "unlinked when it is deleted",
            },
        })
        .collect()
}

/// A row's page.
pub(crate) fn view(
    email: &str,
    e: &Entity,
    row: &ConsoleRow,
    deps: &[DependentCount],
    flash: Option<&'static str>,
) -> Response {
    let title = format!("{} {}", capital(e.singular), row.label);
    respond(
        StatusCode::OK,
        ViewT {
            email,
            nav: nav(e.slug),
            title: &title,
            flash: flash.unwrap_or(""),
            slug: e.slug,
            singular: e.singular,
            id: row.id,
            fields: e
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.label, cell(f, row, i, true)))
                .collect(),
            related: related(deps, row.id),
            can_edit: e.editable(),
            can_delete: e.delete,
            delete_word: delete_word(e),
        }
        .render(),
    )
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What a form shows: submitted (or stored) values and errors.
pub(crate) struct FormInput {
    /// Raw values by field name.
    pub values: BTreeMap<String, String>,
    /// Field errors.
    pub errors: dsg_store::console::FieldErrors,
    /// A form-level error.
    pub error: Option<String>,
}

/// A form field as rendered.
pub(crate) struct FField {
    name: &'static str,
    label: &'static str,
    input: &'static str,
    value: String,
    checked: bool,
    options: Vec<Opt>,
    required: bool,
    help: &'static str,
    error: String,
}

/// A stored row as form values.
pub(crate) fn row_values(e: &Entity, row: &ConsoleRow) -> BTreeMap<String, String> {
    e.fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let v = row.values.get(i).cloned().flatten()?;
            let v = match f.kind {
                Kind::Time => rfc(&v).map_or(v, |t| t.to_rfc3339()[0..16].to_owned()),
                Kind::Bool => {
                    if v == "true" {
                        "on".into()
                    } else {
                        String::new()
                    }
                }
                _ => v,
            };
            Some((f.name.to_owned(), v))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/form.html")]
struct FormT<'a> {
    email: &'a str,
    nav: Vec<Nav>,
    title: &'a str,
    flash: &'a str,
    action: String,
    cancel: String,
    csrf: &'a str,
    error: &'a str,
    fields: Vec<FField>,
    fixed: Vec<(&'static str, Cell)>,
    submit: &'a str,
}

/// The create (no `row`) or edit form.
pub(crate) fn form(
    email: &str,
    csrf: &str,
    e: &Entity,
    row: Option<&ConsoleRow>,
    input: &FormInput,
    opts: &BTreeMap<&'static str, Vec<(i64, String)>>,
    status: StatusCode,
) -> Response {
    let creating = row.is_none();
    let fields = e
        .fields
        .iter()
        .filter(|f| f.settable(creating))
        .map(|f| {
            let value = input.values.get(f.name).cloned().unwrap_or_default();
            let (kind_input, options) = match f.kind {
                Kind::Bool => ("checkbox", Vec::new()),
                Kind::LongText => ("textarea", Vec::new()),
                Kind::Email => ("email", Vec::new()),
                Kind::Int => ("number", Vec::new()),
                Kind::Time => ("datetime-local", Vec::new()),
                Kind::Choice(c) => (
                    "select",
                    c.iter()
                        .map(|o| Opt {
                            value: (*o).to_owned(),
                            label: (*o).to_owned(),
                            selected: *o == value,
                        })
                        .collect(),
                ),
                Kind::Ref(_) => {
                    let mut o = vec![Opt {
                        value: String::new(),
                        label: if f.required {
                            "— choose —"
                        } else {
                            "— none —"
                        }
                        .into(),
                        selected: value.is_empty(),
                    }];
                    o.extend(opts.get(f.name).into_iter().flatten().map(|(id, l)| Opt {
                        value: id.to_string(),
                        label: format!("{l} (#{id})"),
                        selected: id.to_string() == value,
                    }));
                    ("select", o)
                }
                _ => ("text", Vec::new()),
            };
            FField {
                name: f.name,
                label: f.label,
                input: kind_input,
                checked: matches!(value.as_str(), "on" | "true" | "1"),
                value,
                options,
                required: f.required && !(creating && f.name == "effective_date"),
                help: f.help,
                error: input.errors.get(f.name).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let fixed = match row {
        Some(r) => e
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.edit == Edit::Create)
            .map(|(i, f)| (f.label, cell(f, r, i, false)))
            .collect(),
        None => Vec::new(),
    };
    let (title, action, cancel, submit) = match row {
        Some(r) => (
            format!("Edit {} {}", e.singular, r.label),
            format!("/admin/{}/{}/edit", e.slug, r.id),
            format!("/admin/{}/{}", e.slug, r.id),
            "Save",
        ),
        None => (
            format!("New {}", e.singular),
            format!("/admin/{}/new", e.slug),
            format!("/admin/{}/", e.slug),
            "Create",
        ),
    };
    respond(
        status,
        FormT {
            email,
            nav: nav(e.slug),
            title: &title,
            flash: "",
            action,
            cancel,
            csrf,
            error: input.error.as_deref().unwrap_or(""),
            fields,
            fixed,
            submit,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "admin/delete.html")]
struct DeleteT<'a> {
    email: &'a str,
    nav: Vec<Nav>,
    title: &'a str,
    flash: &'a str,
    action: String,
    cancel: String,
    csrf: &'a str,
    related: Vec<Related>,
    word: &'a str,
}

/// The delete confirmation, with what the delete takes along.
pub(crate) fn confirm_delete(
    email: &str,
    csrf: &str,
    e: &Entity,
    row: &ConsoleRow,
    deps: &[DependentCount],
) -> Response {
    let word = delete_word(e);
    let title = format!("{word} {} {}?", e.singular, row.label);
    let affected: Vec<DependentCount> = deps.iter().filter(|d| d.count > 0).cloned().collect();
    respond(
        StatusCode::OK,
        DeleteT {
            email,
            nav: nav(e.slug),
            title: &title,
            flash: "",
            action: format!("/admin/{}/{}/delete", e.slug, row.id),
            cancel: format!("/admin/{}/{}", e.slug, row.id),
            csrf,
            related: related(&affected, row.id),
            word,
        }
        .render(),
    )
}

#[derive(Template)]
#[template(path = "admin/secret.html")]
struct SecretT<'a> {
    email: &'a str,
    nav: Vec<Nav>,
    title: &'a str,
    flash: &'a str,
    secret: &'a str,
    href: String,
}

/// The page showing a new token once.
pub(crate) fn secret(email: &str, e: &Entity, id: i64, secret: &str) -> Response {
    respond(
        StatusCode::CREATED,
        SecretT {
            email,
            nav: nav(e.slug),
            title: "Token created",
            flash: "Created.",
            secret,
            href: format!("/admin/{}/{id}", e.slug),
        }
        .render(),
    )
}
