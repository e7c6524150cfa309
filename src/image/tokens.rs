//! Bearer tokens a registry client holds, one per scope.
//!
//! Theory of operation: a token server says how long a token lives
//! (`expires_in`, 60 s when it says nothing, as the token spec has it).
//! A cached token is used only until a margin before that end, so a long
//! pull (a slow link, a big layer: Docker Hub's tokens live 300 s) asks for
//! a fresh one instead of sending one the registry will refuse. A registry
//! may still refuse a token early (a clock ahead of ours, a revocation): the
//! client then drops it ([`TokenCache::forget`]) and asks once more. Both
//! paths name the entry by the same scope string, the one the token was
//! fetched for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The lifetime the token spec gives a token whose answer has no
/// `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// Longest margin kept before a token's end.
const MAX_MARGIN: Duration = Duration::from_secs(30);

/// Longest a token is kept, whatever its `expires_in` says: a token server's
/// answer of years (or `u64::MAX` seconds) must not overflow the clock.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Tokens by scope, each with the instant it stops being used.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    /// The token for `scope`, if one is held and not near its end at `now`.
    pub fn get(&self, scope: &str, now: Instant) -> Option<String> {
        let mut tokens = self.tokens.lock().expect("token cache");
        match tokens.get(scope) {
            Some((token, until)) if now < *until => Some(token.clone()),
            Some(_) => {
                tokens.remove(scope);
                None
            }
            None => None,
        }
    }

    /// Holds `token` for `scope`, fetched at `fetched` and living
    /// `expires_in` seconds (`None`: the spec's default).
    pub fn put(&self, scope: &str, token: &str, expires_in: Option<u64>, fetched: Instant) {
        let until = fetched + usable_for(expires_in);
        self.tokens
            .lock()
            .expect("token cache")
            .insert(scope.to_string(), (token.to_string(), until));
    }

    /// Drops the token for `scope` (the registry refused it).
    pub fn forget(&self, scope: &str) {
        self.tokens.lock().expect("token cache").remove(scope);
    }
}

/// How long a token living `expires_in` seconds is used: its life (at most
/// [`MAX_LIFETIME`]) less a fifth of it, at most [`MAX_MARGIN`].
fn usable_for(expires_in: Option<u64>) -> Duration {
    let life = expires_in
        .map_or(DEFAULT_LIFETIME, Duration::from_secs)
        .min(MAX_LIFETIME);
    life - (life / 5).min(MAX_MARGIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_used_until_a_margin_before_its_end() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        cache.put("repository:a:pull", "tok", Some(300), t0);
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(
            cache.get("repository:a:pull", at(0)).as_deref(),
            Some("tok")
        );
        assert_eq!(
            cache.get("repository:a:pull", at(269)).as_deref(),
            Some("tok")
        );
        assert_eq!(cache.get("repository:a:pull", at(270)), None);
        // Gone for good once it is past its time.
        assert_eq!(cache.get("repository:a:pull", at(0)), None);
    }

    #[test]
    fn lifetimes_short_and_missing() {
        assert_eq!(usable_for(None), Duration::from_secs(48));
        assert_eq!(usable_for(Some(10)), Duration::from_secs(8));
        assert_eq!(usable_for(Some(0)), Duration::ZERO);
        assert_eq!(usable_for(Some(3600)), Duration::from_secs(3570));
        // A server's absurd lifetime is capped, not added to the clock
        // (Instant + u64::MAX s panicked).
        assert_eq!(usable_for(Some(u64::MAX)), MAX_LIFETIME - MAX_MARGIN);
        let cache = TokenCache::default();
        let now = Instant::now();
        cache.put("repository:a:pull", "a", Some(u64::MAX), now);
        assert_eq!(cache.get("repository:a:pull", now).as_deref(), Some("a"));
    }

    #[test]
    fn scopes_are_apart_and_forget_drops_one() {
        let cache = TokenCache::default();
        let now = Instant::now();
        cache.put("repository:a:pull", "a", Some(300), now);
        cache.put("repository:b:pull", "b", Some(300), now);
        cache.forget("repository:a:pull");
        assert_eq!(cache.get("repository:a:pull", now), None);
        assert_eq!(cache.get("repository:b:pull", now).as_deref(), Some("b"));
    }
}
