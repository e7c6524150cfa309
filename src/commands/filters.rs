//! `--filter KEY=VALUE` lists as docker reads them for `volume ls` and
//! `network ls`: filters with the same key are alternatives (any may
//! hold), different keys must all hold, and every `label` filter must
//! hold. Each command says which keys it knows and what each one means.

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

/// A `dangling=` filter's value (checked by [`Filters::parse`]).
pub fn truth(value: &str) -> bool {
    matches!(value, "true" | "1")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
