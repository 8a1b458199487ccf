//! Dataset path prefixes (spec §6): `/{dataset}/{service}/…` and the
//! `/auth/api/…` alias, rewritten before routing.
//!
//! Properties: a stripped path recomposes to the input (`/a/b` + rest), with
//! valid segments and a rest that starts with `/`; every path of that shape
//! outside the server's own prefixes is stripped; the routed path is the rest,
//! or `/api/` + its tail for the alias; a valid URI path stays valid.
#![no_main]

use dsg_core::prefix::{EXEMPT, rewrite_path, segment_ok, strip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let exempt = EXEMPT.iter().any(|e| path.starts_with(e));
    let stripped = strip(path);
    match stripped {
        Some((a, b, rest)) => {
            assert_eq!(format!("/{a}/{b}{rest}"), path, "does not recompose");
            assert!(segment_ok(a) && segment_ok(b), "bad segments {a:?} {b:?}");
            assert!(rest.starts_with('/'));
            assert!(!exempt, "stripped an exempt path");
        }
        None => {
            let mut parts = path.splitn(4, '/');
            if let (Some(""), Some(a), Some(b), Some(_)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                assert!(
                    exempt || !segment_ok(a) || !segment_ok(b),
                    "{path:?} has a prefix but was not stripped"
                );
            }
        }
    }

    let r = rewrite_path(path);
    assert_eq!(r.prefix, stripped.map(|(a, b, _)| (a, b)));
    let rest = stripped.map_or(path, |(_, _, rest)| rest);
    match rest.strip_prefix("/auth/api/") {
        Some(tail) => assert_eq!(r.path, format!("/api/{tail}")),
        None => assert_eq!(r.path, rest),
    }
    if path.starts_with('/')
        && let Ok(pq) = http::uri::PathAndQuery::try_from(path)
        && pq.query().is_none()
    {
        assert!(
            http::uri::PathAndQuery::try_from(r.path.as_ref()).is_ok(),
            "{path:?} routes to the invalid {:?}",
            r.path
        );
    }
});
