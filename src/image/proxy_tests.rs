use super::*;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[test]
fn the_schemes_own_variable_then_all_proxy() {
    let e = env(&[
        ("HTTPS_PROXY", "http://s:1"),
        ("HTTP_PROXY", "http://p:2"),
        ("ALL_PROXY", "http://all:3"),
    ]);
    assert_eq!(
        choose(&e, "https", "reg.site").as_deref(),
        Some("http://s:1")
    );
    assert_eq!(
        choose(&e, "http", "reg.site").as_deref(),
        Some("http://p:2")
    );
    // Lower case when upper is unset; ALL_PROXY only when the scheme's is.
    let e = env(&[
        ("https_proxy", "http://low:1"),
        ("ALL_PROXY", "http://all:3"),
    ]);
    assert_eq!(
        choose(&e, "https", "reg.site").as_deref(),
        Some("http://low:1")
    );
    assert_eq!(
        choose(&e, "http", "reg.site").as_deref(),
        Some("http://all:3")
    );
    let e = env(&[("HTTPS_PROXY", ""), ("https_proxy", "http://low:1")]);
    assert_eq!(
        choose(&e, "https", "reg.site").as_deref(),
        Some("http://low:1")
    );
    assert_eq!(choose(&env(&[]), "https", "reg.site"), None);
}

#[test]
fn loopback_never_goes_through_a_proxy() {
    let e = env(&[("HTTPS_PROXY", "http://s:1"), ("HTTP_PROXY", "http://s:1")]);
    for host in [
        "localhost:5000",
        "127.0.0.1:5000",
        "127.8.9.1",
        "[::1]:5000",
        "[::1]",
    ] {
        assert_eq!(choose(&e, "https", host), None, "{host}");
        assert_eq!(choose(&e, "http", host), None, "{host}");
    }
}

#[test]
fn no_proxy_as_go_reads_it() {
    let e = |list: &str| env(&[("HTTPS_PROXY", "http://s:1"), ("NO_PROXY", list)]);
    let direct = |list: &str, host: &str| choose(&e(list), "https", host).is_none();
    // A name covers itself and its subdomains, not look-alikes.
    assert!(direct("corp.example", "corp.example"));
    assert!(direct("corp.example", "reg.corp.example:5000"));
    assert!(!direct("corp.example", "othercorp.example"));
    // A leading dot or `*.`: subdomains only.
    assert!(direct(".corp.example", "reg.corp.example"));
    assert!(!direct(".corp.example", "corp.example"));
    assert!(direct("*.corp.example", "reg.corp.example"));
    assert!(!direct("*.corp.example", "corp.example"));
    // Only `*.` is a wildcard: `*name` is a name no host has.
    assert!(!direct("*corp.example", "corp.example"));
    assert!(!direct("*corp.example", "reg.corp.example"));
    assert!(!direct("*corp.example", "othercorp.example"));
    // Entries are trimmed and case does not matter.
    assert!(direct("a.invalid, Reg.Site ", "reg.site"));
    // A port: that port only (the scheme's default when none is written).
    assert!(direct("reg.site:5000", "reg.site:5000"));
    assert!(!direct("reg.site:5000", "reg.site:5001"));
    assert!(direct("reg.site:443", "reg.site"));
    // IP addresses and CIDR blocks match IP literal hosts.
    assert!(direct("10.0.0.0/8", "10.1.2.3:5000"));
    assert!(!direct("10.0.0.0/8", "11.1.2.3"));
    assert!(!direct("10.0.0.0/8", "ten.site"));
    assert!(direct("192.168.1.7", "192.168.1.7:5000"));
    assert!(direct("fd00::/8", "[fd00::5]:5000"));
    assert!(!direct("fd00::/8", "[fe80::5]"));
    assert!(direct("*", "anything.site"));
    // Lower case `no_proxy` when `NO_PROXY` is unset.
    let e = env(&[("HTTPS_PROXY", "http://s:1"), ("no_proxy", "reg.site")]);
    assert_eq!(choose(&e, "https", "reg.site"), None);
    assert!(choose(&e, "https", "other.site").is_some());
}

#[test]
fn names_for_ureq_and_the_built_proxy() {
    let list: Vec<String> = [
        "corp.example",
        ".sub.example",
        "*.w.example",
        "*x.example",
        "10.0.0.0/8",
        "h:80",
        "*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        ureq_no_proxy(&list),
        [
            "corp.example",
            ".corp.example",
            ".sub.example",
            ".w.example",
            "*"
        ]
    );
    let p = ureq::Proxy::new("http://user:pw@proxy.site:3128").unwrap();
    assert_eq!((p.host(), p.port()), ("proxy.site", 3128));
}

#[test]
fn a_direct_host_keeps_the_proxy_for_the_others() {
    let e = env(&[
        ("HTTPS_PROXY", "http://proxy.site:3128"),
        ("NO_PROXY", "reg.corp:443,10.0.0.0/8,fd00::/8"),
    ]);
    let is_direct = |p: &ureq::Proxy, url: &str| p.is_no_proxy(&url.parse().unwrap());
    // The registry goes direct; storage it redirects to takes the proxy.
    for (host, url) in [
        ("reg.corp", "https://reg.corp/v2/"),
        ("10.1.2.3:5000", "https://10.1.2.3:5000/v2/"),
        ("[fd00::5]:5000", "https://[fd00::5]:5000/v2/"),
        ("localhost:5000", "https://localhost:5000/v2/"),
    ] {
        let p = agent_proxy(&e, "https", host).expect(host);
        assert_eq!((p.host(), p.port()), ("proxy.site", 3128));
        assert!(is_direct(&p, url), "{host}");
        assert!(
            !is_direct(&p, "https://s3.amazonaws.example/blob"),
            "{host}"
        );
        assert!(is_direct(&p, "http://localhost:8080/token"), "{host}");
    }
    // A proxied host is not among the direct ones.
    let p = agent_proxy(&e, "https", "quay.example").unwrap();
    assert!(!is_direct(&p, "https://quay.example/v2/"));
    // No proxy configured: none.
    assert!(agent_proxy(&env(&[("NO_PROXY", "reg.corp")]), "https", "reg.corp").is_none());
}
