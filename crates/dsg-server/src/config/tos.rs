//! `[tos]`: where the terms-of-service service-check page may send the
//! browser back to after acceptance.

use serde::{Deserialize, Serialize};

/// `[tos]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TosConfig {
    /// Exact origins (`https://neuprint.example.org`) the service-check page
    /// may redirect to after acceptance (`TOS_RETURN_ALLOWED_ORIGINS`,
    /// comma-separated), besides this server's own origin and the ngauth
    /// origins. Grants nothing else (no CORS, no ngauth).
    pub return_allowed_origins: Vec<String>,
}
