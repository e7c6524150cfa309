//! `--filter KEY=VALUE` lists as docker reads them for `volume ls` and
//! `network ls`: filters with the same key are alternatives (any may
//! hold), different keys must all hold, and every `label` filter must
//! hold. Each command says which keys it knows and what each one means.
//!
//! The prunes' `--filter`s ([`PruneFilter`]) are docker's `label=`,
//! `label!=` and `until=`: an object is pruned when it has every `label=`
//! one, not every `label!=` one (when any is given), and was made before
//! `until`.
//!
//! The create commands' `--label` (and `volume create`'s `--opt`) lists,
//! KEY=VALUE or KEY alone, are read here too ([`key_values`]).

use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// The parsed filters, in the order given.
pub struct Filters(Vec<(String, String)>);

impl Filters {
    /// Parses `items`, refusing keys not in `keys` and a `dangling` value
    /// that is not a boolean.
    pub fn parse(items: &[String], keys: &[&str]) -> Result<Filters> {
        let mut out = Vec::new();
        for f in items {
            let Some((k, v)) = f.split_once('=') else {
                bail!("bad filter {f:?}: use KEY=VALUE");
            };
            if !keys.contains(&k) {
                bail!("unknown filter {k:?}: use {}", keys.join(", "));
            }
            if k == "dangling" && !["true", "false", "1", "0"].contains(&v) {
                bail!("invalid filter dangling={v:?}: use true or false");
            }
            out.push((k.to_string(), v.to_string()));
        }
        Ok(Filters(out))
    }

    /// Whether an object passes, `one(key, value)` telling whether it
    /// passes one filter.
    pub fn keeps(&self, one: impl Fn(&str, &str) -> bool) -> bool {
        let mut keys: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter().all(|&key| {
            let mut values = self.0.iter().filter(|(k, _)| k == key);
            if key == "label" {
                values.all(|(_, val)| one(key, val))
            } else {
                values.any(|(_, val)| one(key, val))
            }
        })
    }
}

/// A `label=KEY` or `label=KEY=VALUE` filter's value against `labels`.
pub fn has_label(labels: &BTreeMap<String, String>, value: &str) -> bool {
    match value.split_once('=') {
        Some((k, want)) => labels.get(k).is_some_and(|have| have == want),
        None => labels.contains_key(value),
    }
}

/// `items` (`--label`s, `--opt`s: KEY=VALUE, or KEY for an empty value)
/// as a map, a later KEY winning; `what` names them in errors.
pub fn key_values(what: &str, items: &[String]) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !kv.is_empty() => Ok((kv.clone(), String::new())),
            _ => bail!("invalid {what} {kv:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// `container prune`'s and `network prune`'s arguments (`image prune`'s
/// and `volume prune`'s have more, and their own words).
#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not ask (rless never asks).
    #[arg(short, long)]
    pub force: bool,
    /// Prune only what matches: label=KEY[=VALUE], label!=KEY[=VALUE],
    /// until=TIME (made before it: a duration such as 24h, a date, unix
    /// seconds), as docker's.
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `--filter`s of `container prune`, `image prune`, `volume prune`,
/// `network prune` and `system prune`.
#[derive(Default)]
pub struct PruneFilter {
    labels: Vec<String>,
    not_labels: Vec<String>,
    /// Unix seconds.
    until: Option<i64>,
}

impl PruneFilter {
    /// Parses `items` for the prune of `what` (named in errors).
    pub fn parse(items: &[String], what: &str) -> Result<PruneFilter> {
        let mut f = PruneFilter::default();
        for item in items {
            if let Some(v) = item.strip_prefix("label!=") {
                f.not_labels.push(v.to_string());
            } else if let Some(v) = item.strip_prefix("label=") {
                f.labels.push(v.to_string());
            } else if let Some(v) = item.strip_prefix("until=") {
                let t = super::logs::time_value(v).ok_or_else(|| {
                    anyhow::anyhow!("invalid filter until={v:?}: use a duration (24h), a date or time (2006-01-02T15:04:05) or unix seconds")
                })?;
                f.until = Some(i64::try_from(t.div_euclid(1_000_000_000)).unwrap_or(i64::MAX));
            } else {
                bail!("invalid {what} prune filter {item:?}: use label=, label!= or until=");
            }
        }
        Ok(f)
    }

    /// Whether an object made at `created` (unix seconds), whose labels
    /// `has` tests (a `KEY` or `KEY=VALUE`), is to be pruned.
    pub fn prunes(&self, has: impl Fn(&str) -> bool, created: i64) -> bool {
        self.labels.iter().all(|l| has(l))
            && (self.not_labels.is_empty() || !self.not_labels.iter().all(|l| has(l)))
            && self.until.is_none_or(|u| created < u)
    }
}

/// A `dangling=` filter's value (checked by [`Filters::parse`]).
pub fn truth(value: &str) -> bool {
    matches!(value, "true" | "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_of_labels() {
        let items: Vec<String> = ["a=b", "c", "d=", "a=z=y"].map(String::from).to_vec();
        let got = key_values("label", &items).unwrap();
        let want: BTreeMap<String, String> = [("a", "z=y"), ("c", ""), ("d", "")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        assert_eq!(got, want);
        for bad in ["=x", ""] {
            let e = key_values("option", &[bad.to_string()]).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("invalid option {bad:?}: expected KEY=VALUE")
            );
        }
    }

    fn f(items: &[&str]) -> Filters {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        Filters::parse(&items, &["name", "label", "dangling"]).unwrap()
    }

    #[test]
    fn same_keys_are_alternatives_and_labels_all_hold() {
        let labels: BTreeMap<String, String> = [("a".into(), "1".into())].into();
        let obj = |key: &str, v: &str| match key {
            "name" => "web".contains(v),
            "label" => has_label(&labels, v),
            _ => false,
        };
        assert!(f(&[]).keeps(obj));
        assert!(f(&["name=we", "name=zz"]).keeps(obj));
        assert!(!f(&["name=zz"]).keeps(obj));
        assert!(f(&["label=a", "label=a=1"]).keeps(obj));
        assert!(!f(&["label=a", "label=b"]).keeps(obj));
        assert!(!f(&["name=web", "label=a=2"]).keeps(obj));
        let bad = |s: &str| {
            Filters::parse(&[s.to_string()], &["name", "dangling"])
                .err()
                .unwrap()
                .to_string()
        };
        assert!(bad("nope").contains("KEY=VALUE"));
        assert!(bad("color=red").contains("unknown filter"));
        assert!(bad("dangling=maybe").contains("true or false"));
    }

    #[test]
    fn prune_filters() {
        let labels: BTreeMap<String, String> = [("keep".into(), "yes".into())].into();
        let has = |l: &str| has_label(&labels, l);
        let p = |items: &[&str]| {
            let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
            PruneFilter::parse(&items, "image").unwrap()
        };
        assert!(p(&[]).prunes(has, 0));
        assert!(!p(&["label!=keep"]).prunes(has, 0));
        assert!(p(&["label!=keep=no"]).prunes(has, 0));
        assert!(p(&["label=keep=yes"]).prunes(has, 0));
        assert!(!p(&["label=other"]).prunes(has, 0));
        assert!(p(&["until=1000"]).prunes(has, 999));
        assert!(!p(&["until=1000"]).prunes(has, 1000));
        let e = PruneFilter::parse(&["dangling=true".into()], "image")
            .err()
            .unwrap();
        assert!(e.to_string().contains("invalid image prune filter"), "{e}");
    }
}
