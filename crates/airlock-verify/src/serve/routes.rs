//! The request paths `serve` understands, parsed strictly. A path is split into `/`
//! segments and only ever turned into a repository name (checked against the reference
//! grammar, so `..`, `.`, empty and percent-encoded segments are refused) and a parsed
//! digest or tag. Nothing from a path is ever used as a file name.

use crate::digest::Sha256Digest;
use crate::image_ref::{valid_repository, valid_tag};

/// What a manifest request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `/manifests/<tag>`
    Tag(String),
    /// `/manifests/sha256:<hex>`
    Digest(Sha256Digest),
}

/// A parsed request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`: the repositories.
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(String),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(String, Reference),
    /// `/v2/<name>/blobs/<digest>`
    Blob(String, Sha256Digest),
    /// `/v2/<name>/blobs/uploads/...`: writing, which this server never does.
    Upload,
    /// A manifest reference that is neither a tag nor a sha256 digest.
    BadReference,
    /// A blob digest that is not `sha256:` and 64 lower-case hex digits.
    BadDigest,
    /// A repository name outside the reference grammar (traversal, garbage).
    BadName,
    /// Anything else.
    NotFound,
}

/// Longest path looked at; longer ones are not found (a name is at most 255 bytes).
pub const MAX_PATH: usize = 1024;

/// Parse a request path (without the query string).
pub fn parse(path: &str) -> Route {
    if path.len() > MAX_PATH {
        return Route::NotFound;
    }
    let Some(rest) = path.strip_prefix("/v2") else {
        return Route::NotFound;
    };
    if rest.is_empty() || rest == "/" {
        return Route::Base;
    }
    let Some(rest) = rest.strip_prefix('/') else {
        return Route::NotFound;
    };
    if rest == "_catalog" {
        return Route::Catalog;
    }
    let segs: Vec<&str> = rest.split('/').collect();
    let n = segs.len();
    if n < 3 {
        return Route::NotFound;
    }
    let named = |k: usize, route: Route| {
        if valid_repository(&segs[..n - k].join("/")) {
            route
        } else {
            Route::BadName
        }
    };
    let name = |k: usize| segs[..n - k].join("/");
    match (segs[n - 2], segs[n - 1]) {
        ("tags", "list") => named(2, Route::Tags(name(2))),
        ("manifests", r) => {
            let reference = if r.contains(':') {
                match Sha256Digest::parse(r) {
                    Ok(d) => Reference::Digest(d),
                    Err(_) => return named(2, Route::BadReference),
                }
            } else if valid_tag(r) {
                Reference::Tag(r.to_string())
            } else {
                return named(2, Route::BadReference);
            };
            named(2, Route::Manifest(name(2), reference))
        }
        ("blobs", "uploads") => Route::Upload,
        ("blobs", d) => match Sha256Digest::parse(d) {
            Ok(d) => named(2, Route::Blob(name(2), d)),
            Err(_) => named(2, Route::BadDigest),
        },
        _ if segs.contains(&"blobs") && segs.contains(&"uploads") => Route::Upload,
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn parses_the_read_api() {
        let d = Sha256Digest::from_hex(HEX).unwrap();
        assert_eq!(parse("/v2/"), Route::Base);
        assert_eq!(parse("/v2"), Route::Base);
        assert_eq!(parse("/v2/_catalog"), Route::Catalog);
        assert_eq!(parse("/v2/a/b/tags/list"), Route::Tags("a/b".into()));
        assert_eq!(
            parse("/v2/kube-apiserver/manifests/v1.30.2"),
            Route::Manifest("kube-apiserver".into(), Reference::Tag("v1.30.2".into()))
        );
        assert_eq!(
            parse(&format!("/v2/coredns/coredns/manifests/sha256:{HEX}")),
            Route::Manifest("coredns/coredns".into(), Reference::Digest(d))
        );
        assert_eq!(
            parse(&format!("/v2/k8s/pause/blobs/sha256:{HEX}")),
            Route::Blob("k8s/pause".into(), d)
        );
        // A repository may itself contain the words the API uses.
        assert_eq!(
            parse(&format!("/v2/blobs/manifests/blobs/sha256:{HEX}")),
            Route::Blob("blobs/manifests".into(), d)
        );
        assert_eq!(parse("/v2/a/blobs/uploads/"), Route::Upload);
        assert_eq!(parse("/v2/a/blobs/uploads/1234-uuid"), Route::Upload);
    }

    #[test]
    fn refuses_traversal_and_garbage() {
        for p in [
            format!("/v2/../blobs/sha256:{HEX}"),
            format!("/v2/a/../../etc/blobs/sha256:{HEX}"),
            format!("/v2/%2e%2e/blobs/sha256:{HEX}"),
            format!("/v2//a/blobs/sha256:{HEX}"),
            format!("/v2/./a/manifests/sha256:{HEX}"),
            format!("/v2/A/blobs/sha256:{HEX}"),
            "/v2/a b/manifests/v1".to_string(),
        ] {
            assert_eq!(parse(&p), Route::BadName, "{p}");
        }
        // Extra segments make it another (unknown) endpoint, not a blob of `a`.
        assert_eq!(
            parse("/v2/a/blobs/sha256:../../etc/passwd"),
            Route::NotFound
        );
        assert_eq!(
            parse("/v2/a/blobs/sha256:..%2f..%2fetc%2fpasswd"),
            Route::BadDigest
        );
        assert_eq!(parse("/v2/a/blobs/sha512:00"), Route::BadDigest);
        assert_eq!(
            parse(&format!("/v2/a/blobs/sha256:{}", HEX.to_uppercase())),
            Route::BadDigest
        );
        assert_eq!(parse("/v2/a/manifests/sha256:xyz"), Route::BadReference);
        assert_eq!(parse("/v2/a/manifests/.hidden"), Route::BadReference);
        for p in [
            "/",
            "/v1/",
            "/v2x",
            "/v2/a",
            "/v2/a/b",
            "/etc/passwd",
            "/v2/a/blobs",
        ] {
            assert_eq!(parse(p), Route::NotFound, "{p}");
        }
        assert_eq!(parse(&"/v2/".repeat(400)), Route::NotFound);
    }

    proptest::proptest! {
        #[test]
        fn names_that_parse_are_grammar_names(s in "\\PC{0,120}") {
            match parse(&s) {
                Route::Tags(n) | Route::Manifest(n, _) | Route::Blob(n, _) => {
                    proptest::prop_assert!(valid_repository(&n));
                    proptest::prop_assert!(!n.split('/').any(|c| c == ".." || c == "." || c.is_empty()));
                }
                _ => {}
            }
        }

        #[test]
        fn built_paths_round_trip(
            name in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}",
            tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        ) {
            proptest::prop_assert_eq!(
                parse(&format!("/v2/{name}/manifests/{tag}")),
                Route::Manifest(name.clone(), Reference::Tag(tag))
            );
        }
    }
}
