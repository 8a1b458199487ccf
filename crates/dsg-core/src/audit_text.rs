//! Audit rows as sentences people read ("gadmin granted view on fanc to
//! alice"). Pure: the caller hands over the row's action, actor and states,
//! and the names of the users, datasets, groups and service accounts the
//! states refer to by id; what has no name yet (a deleted row) is named by
//! its id.

use std::collections::BTreeMap;

use serde_json::Value;

/// What an audit row's states refer to, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ref {
    /// `user_id`.
    User,
    /// `dataset_id`.
    Dataset,
    /// `group_id`.
    Group,
    /// `service_account_id`.
    ServiceAccount,
}

impl Ref {
    /// The JSON key holding the id.
    pub fn key(self) -> &'static str {
        match self {
            Self::User => "user_id",
            Self::Dataset => "dataset_id",
            Self::Group => "group_id",
            Self::ServiceAccount => "service_account_id",
        }
    }

    /// Every kind.
    pub const ALL: [Ref; 4] = [Self::User, Self::Dataset, Self::Group, Self::ServiceAccount];

    fn unnamed(self, id: i64) -> String {
        match self {
            Self::User => format!("user #{id}"),
            Self::Dataset => format!("dataset #{id}"),
            Self::Group => format!("group #{id}"),
            Self::ServiceAccount => format!("service account #{id}"),
        }
    }
}

/// Names by kind and id.
pub type Names = BTreeMap<(Ref, i64), String>;

/// One audit row, as much as a sentence needs.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// `grant_created`, …
    pub action: &'a str,
    /// Who acted (e-mail, `cli:…`, `sa:…`, `system`).
    pub actor: &'a str,
    /// `Grant`, `User`, …
    pub target_type: &'a str,
    /// The target's id.
    pub target_id: &'a str,
    /// The state after (creations, changes) or before (removals).
    pub state: Option<&'a Value>,
}

/// The ids a row's state refers to, for looking their names up.
pub fn references(state: Option<&Value>) -> Vec<(Ref, i64)> {
    Ref::ALL
        .iter()
        .filter_map(|r| Some((*r, state?.get(r.key())?.as_i64()?)))
        .collect()
}

fn named(state: Option<&Value>, r: Ref, names: &Names) -> Option<String> {
    let id = state?.get(r.key())?.as_i64()?;
    Some(
        names
            .get(&(r, id))
            .cloned()
            .unwrap_or_else(|| r.unnamed(id)),
    )
}

fn text(state: Option<&Value>, key: &str) -> Option<String> {
    match state?.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The row as one sentence.
pub fn sentence(row: Row<'_>, names: &Names) -> String {
    let s = row.state;
    let actor = row.actor;
    let user = || named(s, Ref::User, names).unwrap_or_else(|| "someone".into());
    let dataset = || named(s, Ref::Dataset, names).unwrap_or_else(|| "a dataset".into());
    let group = || named(s, Ref::Group, names).unwrap_or_else(|| "a group".into());
    let account =
        || named(s, Ref::ServiceAccount, names).unwrap_or_else(|| "a service account".into());
    let permission = || text(s, "permission").unwrap_or_else(|| "access".into());
    let email = || text(s, "email").unwrap_or_else(|| "an address".into());
    match row.action {
        "grant_created" => format!(
            "{actor} granted {} on {} to {}",
            permission(),
            dataset(),
            user()
        ),
        "grant_revoked" => format!(
            "{actor} revoked {}'s {} on {}",
            user(),
            permission(),
            dataset()
        ),
        "grant_updated" => format!(
            "{actor} changed the expiry of {}'s {} on {} to {}",
            user(),
            permission(),
            dataset(),
            text(s, "expires_at")
                .and_then(|t| crate::Timestamp::parse(&t))
                .map_or_else(|| "never".to_owned(), crate::Timestamp::utc_text)
        ),
        "member_added" => format!("{actor} added {} to group {}", user(), group()),
        "member_removed" => format!("{actor} removed {} from group {}", user(), group()),
        "group_permission_created" => format!(
            "{actor} gave group {} {} on {}",
            group(),
            permission(),
            dataset()
        ),
        "invitation_created" => format!(
            "{actor} invited {} to {} ({})",
            email(),
            dataset(),
            permission()
        ),
        "invitation_deleted" => format!(
            "{actor} withdrew the invitation of {} to {}",
            email(),
            dataset()
        ),
        "invitation_redeemed" => format!("{} redeemed an invitation to {}", user(), dataset()),
        "sa_grant_created" => format!(
            "{actor} granted {} on {} to service account {}",
            permission(),
            dataset(),
            account()
        ),
        "sa_grant_revoked" => format!(
            "{actor} revoked service account {}'s {} on {}",
            account(),
            permission(),
            dataset()
        ),
        "tos_accepted" => format!(
            "{} accepted terms of service #{}",
            user(),
            text(s, "tos_id").unwrap_or_default()
        ),
        "api_token_created" => format!("{actor} created an API token for {}", user()),
        "api_token_revoked" => format!("{actor} revoked an API token of {}", user()),
        "service_table_removed" => {
            let roots = s
                .and_then(|v| v.get("public_roots"))
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            format!(
                "{actor} removed service table {}/{} of {} with its {roots} public root(s)",
                text(s, "service_name").unwrap_or_default(),
                text(s, "table_name").unwrap_or_default(),
                dataset()
            )
        }
        "public_root_removed" if text(s, "cascade").is_some() => format!(
            "public root {} went with its service table (removed by {actor})",
            text(s, "root_id").unwrap_or_default()
        ),
        "dataset_created" => format!(
            "{actor} created dataset {}",
            text(s, "name").unwrap_or_else(|| row.target_id.into())
        ),
        "dataset_deleted" => format!(
            "{actor} deleted dataset {}",
            text(s, "name").unwrap_or_else(|| row.target_id.into())
        ),
        other => format!(
            "{actor}: {} ({} {})",
            other.replace('_', " "),
            row.target_type,
            row.target_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> Names {
        let mut n = Names::new();
        n.insert((Ref::User, 7), "alice@example.org".into());
        n.insert((Ref::Dataset, 3), "fanc".into());
        n.insert((Ref::Group, 2), "lab".into());
        n
    }

    fn say(action: &str, state: Value) -> String {
        sentence(
            Row {
                action,
                actor: "gadmin@example.org",
                target_type: "Grant",
                target_id: "13",
                state: Some(&state),
            },
            &names(),
        )
    }

    #[test]
    fn grants_read_as_sentences_with_names() {
        let st = json!({"user_id": 7, "dataset_id": 3, "permission": "view"});
        assert_eq!(
            say("grant_created", st.clone()),
            "gadmin@example.org granted view on fanc to alice@example.org"
        );
        assert_eq!(
            say("grant_revoked", st),
            "gadmin@example.org revoked alice@example.org's view on fanc"
        );
        let st = json!({"user_id": 7, "dataset_id": 3, "permission": "view",
                        "expires_at": "2099-01-01T00:00:00.000000Z"});
        assert_eq!(
            say("grant_updated", st),
            "gadmin@example.org changed the expiry of alice@example.org's view on fanc to 2099-01-01 UTC"
        );
        assert_eq!(
            references(Some(&json!({"user_id": 7, "dataset_id": 3}))),
            vec![(Ref::User, 7), (Ref::Dataset, 3)]
        );
    }

    #[test]
    fn missing_names_fall_back_to_ids_and_unknown_actions_still_read() {
        let st = json!({"user_id": 99, "group_id": 2});
        assert_eq!(
            say("member_added", st),
            "gadmin@example.org added user #99 to group lab"
        );
        assert_eq!(
            say("widget_frobbed", json!({})),
            "gadmin@example.org: widget frobbed (Grant 13)"
        );
    }

    #[test]
    fn cascades_say_so() {
        let st = json!({"root_id": 42, "service_table_id": 5, "cascade": "service_table_removed"});
        assert_eq!(
            say("public_root_removed", st),
            "public root 42 went with its service table (removed by gadmin@example.org)"
        );
    }
}
