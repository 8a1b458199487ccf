//! Permission levels: `view` < `edit` < `manage` < `admin`.
//!
//! Holding a level implies every lower one. Names outside these four may exist
//! in the permission table; they count as level 0 and imply nothing.

use std::fmt;

/// One of the four known permission levels, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Read access.
    View = 1,
    /// Write access.
    Edit = 2,
    /// May manage other people's access ("team lead").
    Manage = 3,
    /// Dataset administrator.
    Admin = 4,
}

impl Level {
    /// All levels, lowest first.
    pub const ALL: [Level; 4] = [Level::View, Level::Edit, Level::Manage, Level::Admin];

    /// Parses a permission name (exact, lower-case).
    pub fn parse(name: &str) -> Option<Level> {
        match name {
            "view" => Some(Level::View),
            "edit" => Some(Level::Edit),
            "manage" => Some(Level::Manage),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }

    /// The permission name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::View => "view",
            Level::Edit => "edit",
            Level::Manage => "manage",
            Level::Admin => "admin",
        }
    }

    /// The numeric level of the legacy `permissions` map (1–4).
    pub fn number(self) -> u8 {
        self as u8
    }

    /// This level and every lower one.
    pub fn implied(self) -> impl Iterator<Item = Level> {
        Level::ALL.into_iter().filter(move |l| *l <= self)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Numeric level of a permission name; unknown names are 0.
pub fn number_of(name: &str) -> u8 {
    Level::parse(name).map_or(0, Level::number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_every_level_and_view_only_itself() {
        assert_eq!(Level::Admin.implied().count(), 4);
        assert_eq!(Level::View.implied().collect::<Vec<_>>(), vec![Level::View]);
        assert_eq!(number_of("owner"), 0);
        assert_eq!(number_of("manage"), 3);
    }
}
