//! `[ngauth]`: which Neuroglancer origins may use `/token` and `/gcs_token`.

use serde::{Deserialize, Serialize};

/// `[ngauth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NgauthConfig {
    /// Exact allowed Neuroglancer origins (preferred).
    pub allowed_origins: Vec<String>,
    /// Regex of allowed origins (`NGAUTH_ALLOWED_ORIGINS`).
    pub allowed_origins_regex: String,
}

impl Default for NgauthConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_origins_regex: r"^https?://.*\.neuroglancer\.org$".into(),
        }
    }
}
