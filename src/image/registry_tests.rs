//! Unit tests of the registry client's parsing: pagination links that stay
//! on the registry, authentication challenges, same-origin checks (split
//! from registry.rs, which they made too long).

use super::*;

#[test]
fn next_page_stays_on_the_registry() {
    let base = "https://reg:5000";
    assert_eq!(
        next_page_url(base, "/v2/r/tags/list?last=b").as_deref(),
        Some("https://reg:5000/v2/r/tags/list?last=b")
    );
    assert_eq!(
        next_page_url(base, "https://reg:5000/v2/r/tags/list?last=b").as_deref(),
        Some("https://reg:5000/v2/r/tags/list?last=b")
    );
    // Our credentials must not follow a link to another host.
    assert_eq!(next_page_url(base, "https://evil/v2/r/tags/list"), None);
    assert_eq!(next_page_url(base, "//evil/v2/r/tags/list"), None);
    assert_eq!(next_page_url(base, "http://reg:5000/v2/r/tags/list"), None);
}

#[test]
fn link_next_page() {
    assert_eq!(
        next_page(r#"</v2/r/tags/list?n=2&last=b>; rel="next""#).as_deref(),
        Some("/v2/r/tags/list?n=2&last=b")
    );
    assert_eq!(
        next_page(r#"<https://x/a>; rel="prev", <https://x/b>;rel="next""#).as_deref(),
        Some("https://x/b")
    );
    assert_eq!(next_page(r#"</v2/r/tags/list>; rel="prev""#), None);
    assert_eq!(next_page("garbage"), None);
}

#[test]
fn challenges() {
    let c = parse_challenge(
        r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a,b:pull""#,
    );
    match c {
        Some(Challenge::Bearer { realm, service }) => {
            assert_eq!(realm, "https://auth.docker.io/token");
            assert_eq!(service.as_deref(), Some("registry.docker.io"));
        }
        _ => panic!("not bearer"),
    }
    assert!(matches!(
        parse_challenge(r#"Basic realm="basic-realm""#),
        Some(Challenge::Basic)
    ));
    assert!(parse_challenge("Negotiate").is_none());
    assert!(parse_challenge("Bearer service=x").is_none());
    assert!(same_origin(
        "https://r:5000",
        "https://r:5000/v2/x/blobs/uploads/1?a=b"
    ));
    assert!(same_origin("https://R", "https://r:443/v2/x"));
    for other in [
        "https://r:50001/v2/",
        "https://r:5000.evil/v2/",
        "https://r:5000@evil/v2/",
        "http://r:5000/v2/",
        "https://s3.example/upload",
    ] {
        assert!(!same_origin("https://r:5000", other), "{other}");
    }
    let p = parse_params(r#"a="1,2", b=3"#);
    assert_eq!(p["a"], "1,2");
    assert_eq!(p["b"], "3");
}
