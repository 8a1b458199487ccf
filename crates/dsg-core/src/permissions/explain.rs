//! One access decision with its reasons: `check-access` answers with the
//! decision, `explain-access` with the decision plus every rule that
//! contributed (which grant, which group, the public flag, a missing TOS, an
//! expiry, a token limit), so an administrator can answer "why can't she see it".
//!
//! The rules are the cache document's (spec §4 with the §18 bugs fixed):
//! levels imply lower ones, `read_only` users lose `edit`, version-scoped
//! grants count only for their version, expired grants and memberships count
//! for nothing, TOS dates are honoured, token scopes narrow. Two shortcuts of
//! the original's check-access are kept: global admins are always allowed,
//! and dataset admins are allowed regardless of TOS.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Catalog, EvalContext, GrantFact, MembershipFact, MissingTos, expand};
use crate::Timestamp;

/// A direct grant with what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    /// Grant id.
    pub id: i64,
    /// The grant.
    pub fact: GrantFact,
    /// Group scope name, if any.
    pub group: Option<String>,
}

/// Who is asking about.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// A service account (grants only; no TOS, groups or admin).
    pub service_account: bool,
    /// Global administrator.
    pub admin: bool,
    /// Loses `edit`.
    pub read_only: bool,
    /// Direct grants (all datasets; filtered here).
    pub grants: Vec<GrantRow>,
    /// Group memberships.
    pub memberships: Vec<MembershipFact>,
    /// Accepted TOS ids.
    pub accepted_tos: BTreeSet<i64>,
}

/// The question.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    /// Dataset id.
    pub dataset_id: i64,
    /// Version name, if the question is about one version.
    pub version: Option<&'a str>,
    /// Permission level asked for.
    pub permission: &'a str,
}

/// How a rule bears on the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Supplies the asked level.
    Allows,
    /// Supplies a level, but not the one asked for.
    Insufficient,
    /// Prevents access.
    Blocks,
    /// Considered, changes nothing.
    NoEffect,
}

/// A decision's reason ([`Decision::reason`]) in words, for people.
pub fn reason_text(reason: &str) -> &'static str {
    match reason {
        "admin" => "a global administrator may do everything",
        "dataset_admin" => "an administrator of this dataset",
        "tos_required" => "the dataset's terms of service must be accepted first",
        "group_permission" => "a permission of a group they belong to",
        "direct_grant" => "a grant made to them on this dataset",
        "service_account_grant" => "a grant made to the service account",
        "no_permission" => "no grant, group permission or public access reaches this level",
        "token_scope" => "the token used is limited to other datasets",
        "token_read_only" => "the token used is read-only",
        "read_only" => "the account is read-only",
        _ => "another rule",
    }
}

/// A rule's name ([`Rule::rule`]) in words, for people.
pub fn rule_text(rule: &str) -> &'static str {
    match rule {
        "global_admin" => "global administrator",
        "dataset_admin" => "dataset administrator",
        "group_permission" => "group permission",
        "direct_grant" => "direct grant",
        "service_account_grant" => "service account grant",
        "expired_grant" => "grant that has expired",
        "expired_membership" => "group membership that has expired",
        "version_mismatch" => "grant for another version",
        "service_mismatch" => "grant for another service",
        "translation" => "version translation",
        "tos_required" => "terms of service not yet accepted",
        "tos_accepted" => "terms of service accepted",
        "tos_not_in_force" => "terms of service not in force",
        "read_only" => "read-only account",
        "token_read_only" => "read-only token",
        "token_scope" => "token limited to other datasets",
        "public_dataset" => "public dataset",
        _ => "other rule",
    }
}

/// One rule that was considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// `global_admin`, `dataset_admin`, `group_permission`, `direct_grant`,
    /// `service_account_grant`, `expired_grant`, `expired_membership`,
    /// `version_mismatch`, `service_mismatch`, `translation`, `tos_required`,
    /// `tos_accepted`, `tos_not_in_force`, `read_only`, `token_read_only`,
    /// `token_scope`, `public_dataset`.
    pub rule: &'static str,
    /// Its effect.
    pub effect: Effect,
    /// Grant, group or TOS id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Group or TOS name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Level the rule supplies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Version scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Expiry (in the past for expired rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Service: of a service TOS, or the service a grant or group
    /// permission is scoped to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// How a version row reaches the version asked about, when not by its
    /// own name: `ordinal` (a grant on ordinal n covers the lower ordinals
    /// of its branch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<&'static str>,
}

impl Rule {
    fn new(rule: &'static str, effect: Effect) -> Self {
        Self {
            rule,
            effect,
            id: None,
            name: None,
            level: None,
            version: None,
            expires_at: None,
            service: None,
            coverage: None,
        }
    }

    /// The client's name that was translated to the dataset (and version)
    /// asked about, for a service's vocabulary.
    pub fn translation(service: &str, client_name: &str, client_version: Option<&str>) -> Self {
        let mut r = Self::new("translation", Effect::NoEffect);
        r.service = Some(service.to_owned());
        r.name = Some(client_name.to_owned());
        r.version = client_version.map(str::to_owned);
        r
    }
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// The original's reason words (`admin`, `dataset_admin`, `tos_required`,
    /// `group_permission`, `direct_grant`, `service_account_grant`,
    /// `no_permission`) plus `token_scope`, `token_read_only`, `read_only`.
    pub reason: &'static str,
    /// The TOS to accept when `reason = tos_required`.
    pub tos: Option<MissingTos>,
    /// Every rule considered, in evaluation order.
    pub rules: Vec<Rule>,
}

/// Does a grant on `grant_version` (`None`: dataset-wide) reach the version
/// asked about? `None`: no; `Some(None)`: by name (or dataset-wide);
/// `Some(Some("ordinal"))`: by ordinal reach on its branch.
fn version_reach(
    catalog: &Catalog,
    question: &Question<'_>,
    grant_version: Option<&str>,
) -> Option<Option<&'static str>> {
    let Some(gv) = grant_version else {
        return Some(None);
    };
    let asked = question.version?;
    if asked == gv {
        return Some(None);
    }
    let row = catalog.version_named(question.dataset_id, gv)?;
    let target = match catalog.version_named(question.dataset_id, asked) {
        Some(v) => super::decide::Target::Version(v),
        None if !asked.is_empty() && asked.bytes().all(|b| b.is_ascii_digit()) => {
            super::decide::Target::Ordinal {
                branch: "main",
                ordinal: asked.parse().ok()?,
            }
        }
        None => return None,
    };
    super::decide::covers(Some(row), target).then_some(Some("ordinal"))
}

fn expiry(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

/// Decides `question` for `subject`, listing every rule considered.
pub fn explain(
    catalog: &Catalog,
    subject: &Subject,
    question: &Question<'_>,
    ctx: &EvalContext<'_>,
) -> Decision {
    let now = ctx.now;
    let wanted = question.permission;
    let mut rules = Vec::new();
    let dataset = catalog.datasets.get(&question.dataset_id);
    let name = dataset.map(|d| d.name.as_str()).unwrap_or_default();
    let deny = |reason, rules| Decision {
        allowed: false,
        reason,
        tos: None,
        rules,
    };

    if let Some(allowed) = &ctx.scope.datasets
        && !allowed.contains(name)
    {
        rules.push(Rule::new("token_scope", Effect::Blocks));
        return deny("token_scope", rules);
    }
    if ctx.scope.read_only && wanted != "view" {
        rules.push(Rule::new("token_read_only", Effect::Blocks));
        return deny("token_read_only", rules);
    }
    if subject.admin && !subject.service_account {
        rules.push(Rule::new("global_admin", Effect::Allows));
        return Decision {
            allowed: true,
            reason: "admin",
            tos: None,
            rules,
        };
    }
    if dataset.is_some_and(|d| d.public) && !subject.service_account {
        rules.push(Rule::new("public_dataset", Effect::NoEffect));
    }

    // Contributions: (source rule, levels it supplies).
    let strip_edit = subject.read_only && !subject.service_account;
    let view_only = ctx.scope.read_only;
    let supplies = |name: &str| -> Vec<String> {
        expand(&BTreeSet::from([name.to_owned()]), strip_edit, view_only)
    };
    let mut held: BTreeSet<String> = BTreeSet::new();
    let mut via_group = false;
    let mut via_grant = false;
    // Would a contribution supply the level if the user were not read-only?
    let mut stripped = false;
    let unstripped = |name: &str| -> bool {
        expand(&BTreeSet::from([name.to_owned()]), false, view_only)
            .iter()
            .any(|l| l == wanted)
    };
    if !subject.service_account {
        for m in &subject.memberships {
            let perms: Vec<_> = catalog
                .group_permissions
                .get(&m.group_id)
                .into_iter()
                .flatten()
                .filter(|p| p.dataset_id == question.dataset_id)
                .collect();
            for p in perms {
                let mut r = Rule::new("group_permission", Effect::NoEffect);
                r.id = Some(m.group_id);
                r.name = Some(m.group_name.clone());
                r.level = Some(p.permission.clone());
                r.expires_at = expiry(m.expires_at);
                r.service = p.service.clone();
                if m.expires_at.is_some_and(|t| t <= now) {
                    r.rule = "expired_membership";
                } else if !p.serves(ctx.service) {
                    r.rule = "service_mismatch";
                } else {
                    let levels = supplies(&p.permission);
                    if levels.iter().any(|l| l == wanted) {
                        r.effect = Effect::Allows;
                        via_group = true;
                    } else {
                        r.effect = Effect::Insufficient;
                        stripped |= strip_edit && unstripped(&p.permission);
                    }
                    held.extend(levels);
                }
                rules.push(r);
            }
        }
    }
    let grant_rule = if subject.service_account {
        "service_account_grant"
    } else {
        "direct_grant"
    };
    for g in subject
        .grants
        .iter()
        .filter(|g| g.fact.dataset_id == question.dataset_id)
    {
        let mut r = Rule::new(grant_rule, Effect::NoEffect);
        r.id = Some(g.id);
        r.name = g.group.clone();
        r.level = Some(g.fact.permission.clone());
        r.version = g.fact.version.clone();
        r.expires_at = expiry(g.fact.expires_at);
        r.service = g.fact.service.clone();
        let reach = version_reach(catalog, question, g.fact.version.as_deref());
        if g.fact.expires_at.is_some_and(|t| t <= now) {
            r.rule = "expired_grant";
        } else if !g.fact.serves(ctx.service) {
            r.rule = "service_mismatch";
        } else if reach.is_none() {
            r.rule = "version_mismatch";
        } else {
            r.coverage = reach.flatten();
            let levels = supplies(&g.fact.permission);
            if levels.iter().any(|l| l == wanted) {
                r.effect = Effect::Allows;
                via_grant = true;
            } else {
                r.effect = Effect::Insufficient;
                stripped |= strip_edit && unstripped(&g.fact.permission);
            }
            held.extend(levels);
        }
        rules.push(r);
    }

    if subject.service_account {
        return if via_grant {
            Decision {
                allowed: true,
                reason: "service_account_grant",
                tos: None,
                rules,
            }
        } else {
            deny("no_permission", rules)
        };
    }
    // Dataset admins pass regardless of TOS (the original's rule), but a
    // read-only user or token still gets only what the document shows.
    if held.contains("admin") && held.contains(wanted) {
        rules.push(Rule::new("dataset_admin", Effect::Allows));
        return Decision {
            allowed: true,
            reason: "dataset_admin",
            tos: None,
            rules,
        };
    }

    // Terms of service: dataset-wide, then the named version's, then the service's.
    let mut gates = Vec::new();
    if let Some(d) = dataset {
        if let Some(t) = catalog.dataset_tos(d) {
            gates.push((t, None, None));
        }
        if let Some(v) = question.version {
            let mut docs: Vec<_> = catalog.version_tos(d.id, v).collect();
            docs.sort_by_key(|t| t.id);
            gates.extend(docs.into_iter().map(|t| (t, Some(v.to_owned()), None)));
        }
        if let Some(s) = ctx.service {
            let mut docs: Vec<_> = catalog.service_tos(s, d.id).collect();
            docs.sort_by_key(|t| t.id);
            gates.extend(docs.into_iter().map(|t| (t, None, Some(s.to_owned()))));
        }
    }
    let mut missing = None;
    for (t, version, service) in gates {
        let mut r = Rule::new("tos_accepted", Effect::NoEffect);
        r.id = Some(t.id);
        r.name = Some(t.name.clone());
        r.version = version.clone();
        r.service = service.clone();
        if !t.in_force(now) {
            r.rule = "tos_not_in_force";
        } else if !subject.accepted_tos.contains(&t.id) {
            r.rule = "tos_required";
            r.effect = Effect::Blocks;
            if missing.is_none()
                && let Some(d) = dataset
            {
                missing = Some(MissingTos {
                    dataset_id: d.id,
                    dataset_name: d.name.clone(),
                    tos_id: t.id,
                    tos_name: t.name.clone(),
                    service,
                    version,
                });
            }
        }
        rules.push(r);
    }
    if let Some(m) = missing {
        return Decision {
            allowed: false,
            reason: "tos_required",
            tos: Some(m),
            rules,
        };
    }
    if stripped && !via_group && !via_grant {
        rules.push(Rule::new("read_only", Effect::Blocks));
        return deny("read_only", rules);
    }
    if via_group {
        Decision {
            allowed: true,
            reason: "group_permission",
            tos: None,
            rules,
        }
    } else if via_grant {
        Decision {
            allowed: true,
            reason: "direct_grant",
            tos: None,
            rules,
        }
    } else {
        deny("no_permission", rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::{DatasetInfo, GroupPermission, TokenScope, TosInfo};

    const NOW: Timestamp = Timestamp(1_000_000_000_000);

    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.datasets.insert(
            1,
            DatasetInfo {
                id: 1,
                name: "fish2".into(),
                tos_id: None,
                public: false,
            },
        );
        c
    }

    fn grant(id: i64, permission: &str, version: Option<&str>) -> GrantRow {
        GrantRow {
            id,
            fact: GrantFact {
                buckets: Vec::new(),
                service: None,
                dataset_id: 1,
                version: version.map(Into::into),
                permission: permission.into(),
                expires_at: None,
            },
            group: None,
        }
    }

    fn ask(c: &Catalog, s: &Subject, perm: &str, version: Option<&str>) -> Decision {
        explain(
            c,
            s,
            &Question {
                dataset_id: 1,
                version,
                permission: perm,
            },
            &EvalContext {
                now: NOW,
                service: None,
                scope: &TokenScope::default(),
            },
        )
    }

    #[test]
    fn higher_levels_answer_lower_questions_and_read_only_loses_edit() {
        let c = catalog();
        let mut s = Subject {
            grants: vec![grant(5, "manage", None)],
            ..Subject::default()
        };
        let d = ask(&c, &s, "view", None);
        assert_eq!((d.allowed, d.reason), (true, "direct_grant"));
        assert_eq!(
            reason_text(d.reason),
            "a grant made to them on this dataset"
        );
        assert!(d.rules.iter().all(|r| rule_text(r.rule) != "other rule"));
        assert_eq!(d.rules[0].id, Some(5));
        assert!(!ask(&c, &s, "admin", None).allowed);
        s.read_only = true;
        assert_eq!(ask(&c, &s, "edit", None).reason, "read_only");
        assert!(ask(&c, &s, "manage", None).allowed);
    }

    #[test]
    fn version_grants_count_for_their_version_only() {
        let c = catalog();
        let s = Subject {
            grants: vec![grant(5, "edit", Some("v1"))],
            ..Subject::default()
        };
        assert!(ask(&c, &s, "edit", Some("v1")).allowed);
        let d = ask(&c, &s, "view", Some("v2"));
        assert!(!d.allowed);
        assert_eq!(d.rules[0].rule, "version_mismatch");
        assert!(!ask(&c, &s, "view", None).allowed);
    }

    #[test]
    fn expired_memberships_and_tos_are_explained() {
        let mut c = catalog();
        c.group_permissions.insert(
            3,
            vec![GroupPermission {
                service: None,
                dataset_id: 1,
                permission: "view".into(),
            }],
        );
        c.tos.insert(
            9,
            TosInfo {
                id: 9,
                name: "Terms".into(),
                dataset_id: Some(1),
                service: None,
                version: None,
                effective_at: Timestamp(0),
                retired_at: None,
            },
        );
        if let Some(d) = c.datasets.get_mut(&1) {
            d.tos_id = Some(9);
        }
        let mut s = Subject {
            memberships: vec![MembershipFact {
                group_id: 3,
                group_name: "lab".into(),
                is_admin: false,
                expires_at: Some(NOW),
            }],
            ..Subject::default()
        };
        let d = ask(&c, &s, "view", None);
        assert_eq!(d.rules[0].rule, "expired_membership");
        assert_eq!(d.reason, "tos_required");
        s.memberships[0].expires_at = None;
        s.accepted_tos.insert(9);
        assert_eq!(ask(&c, &s, "view", None).reason, "group_permission");
    }
}
