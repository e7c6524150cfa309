//! Unit tests of the network definitions: ids as the parent namespace
//! sees them, subnets, --ip-range, and the rules of create (split from
//! mod.rs, which they made too long).

use super::*;

#[test]
fn ids_as_the_parent_namespace_sees_them() {
    assert_eq!(outer_id("0 1002 1\n1 100000 65536\n", 0), Some(1002));
    assert_eq!(outer_id("0 1002 1\n1 100000 65536\n", 5), Some(100004));
    assert_eq!(
        outer_id("         0          0 4294967295\n", 1002),
        Some(1002)
    );
    assert_eq!(outer_id("0 1002 1\n", 7), None);
}

#[test]
fn subnets() {
    let s = Subnet::parse("10.89.0.0/24").unwrap();
    assert!(s.is_host("10.89.0.1".parse().unwrap()));
    assert!(!s.is_host("10.89.0.0".parse().unwrap()));
    assert!(!s.is_host("10.89.0.255".parse().unwrap()));
    assert!(!s.is_host("10.89.1.1".parse().unwrap()));
    assert_eq!(s.hosts(), 254);
    assert_eq!(s.nth(1), Some("10.89.0.1".parse().unwrap()));
    assert!(s.overlaps(&Subnet::parse("10.0.0.0/8").unwrap()));
    assert!(!s.overlaps(&Subnet::parse("10.89.1.0/24").unwrap()));
    for special in [
        "127.0.0.0/24",
        "224.0.0.0/24",
        "169.254.1.0/24",
        "0.0.0.0/8",
    ] {
        assert!(
            matches!(
                Subnet::parse_new(special),
                Err(NetworkError::SpecialSubnet(_))
            ),
            "{special}"
        );
    }
    assert!(matches!(
        Subnet::parse("10.89.0.5/24"),
        Err(NetworkError::HostBits { .. })
    ));
    for bad in [
        "10.89.0.0",
        "10.89.0.0/33",
        "x/24",
        "10.89.0.0/30",
        "::1/64",
    ] {
        assert!(Subnet::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn ip_range_rules() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path(), crate::image::store::LockMode::Shared).unwrap();
    let req = |name: &str, subnet: Option<&str>, range: &str| CreateRequest {
        name: name.into(),
        subnet: subnet.map(String::from),
        ip_range: Some(range.into()),
        ..Default::default()
    };
    let sub = Some("10.231.0.0/24");
    for (range, bad) in [
        ("10.231.0.128", "BadRange"),
        ("10.231.0.129/25", "BadRange"),
        ("10.231.0.0/33", "BadRange"),
        ("10.231.1.0/25", "RangeOutside"),
        ("10.231.0.0/23", "RangeOutside"),
        ("10.231.0.1/32", "RangeOutside"),
        ("10.231.0.0/31", "RangeOutside"),
    ] {
        let e = create(&store, req("r", sub, range)).unwrap_err();
        assert!(format!("{e:?}").starts_with(bad), "{range}: {e:?}");
    }
    assert!(matches!(
        create(&store, req("r", None, "10.89.0.0/25")),
        Err(NetworkError::RangeWithoutSubnet)
    ));
    assert!(list(t.path()).is_empty(), "nothing written");
    let n = create(&store, req("r", sub, "10.231.0.128/25")).unwrap();
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    assert_eq!(
        n.lease_range(),
        Some((ip("10.231.0.129"), ip("10.231.0.254")))
    );
    assert!(n.leases(ip("10.231.0.200")) && !n.leases(ip("10.231.0.2")));
    // Read back as written; a network without one leases every host.
    let back = read(t.path(), "r").unwrap();
    assert_eq!(back.ip_range, n.ip_range);
    let one = create(&store, req("one", Some("10.231.1.0/24"), "10.231.1.7/32")).unwrap();
    assert_eq!(
        one.lease_range(),
        Some((ip("10.231.1.7"), ip("10.231.1.7")))
    );
    assert_eq!(read(t.path(), "one").unwrap().ip_range, one.ip_range);
    let all = create(
        &store,
        CreateRequest {
            name: "all".into(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(all.lease_range(), None);
    assert!(all.leases(all.subnet.nth(2).unwrap()));
}

#[test]
fn create_rules() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open(t.path(), crate::image::store::LockMode::Shared).unwrap();
    let req = |name: &str, subnet: Option<&str>| CreateRequest {
        name: name.into(),
        subnet: subnet.map(String::from),
        ..Default::default()
    };
    let a = create(&store, req("a", None)).unwrap();
    let b = create(&store, req("b", None)).unwrap();
    assert_ne!(a.subnet, b.subnet);
    assert_eq!(a.gateway, a.subnet.nth(1).unwrap());
    assert!(matches!(
        create(&store, req("a", None)),
        Err(NetworkError::Exists(_))
    ));
    let s = a.subnet.to_string();
    assert!(matches!(
        create(&store, req("c", Some(&s))),
        Err(NetworkError::Overlap { .. })
    ));
    assert!(matches!(
        create(&store, req("host", None)),
        Err(NetworkError::Reserved(_))
    ));
    assert!(matches!(
        create(&store, req("d", Some("10.0.2.0/24"))),
        Err(NetworkError::Overlap { .. })
    ));
    let g = CreateRequest {
        gateway: Some("10.99.1.1".into()),
        ..req("e", Some("10.99.0.0/24"))
    };
    assert!(matches!(
        create(&store, g),
        Err(NetworkError::OutsideSubnet { .. })
    ));
    assert_eq!(list(t.path()).len(), 2);
    assert_eq!(read(t.path(), a.id.short()).unwrap().name, "a");
}
