//! What the harness remembers between requests: names and task tokens that earlier
//! requests and responses revealed, and tokens forged from real ones.

use std::sync::{Mutex, MutexGuard};

use super::MAX_SEEN;
use crate::engine::DEFAULT_NAMESPACE;

/// Names and tokens earlier requests and responses revealed, newest last.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub(super) namespaces: Vec<String>,
    pub(super) queues: Vec<String>,
    pub(super) sticky_queues: Vec<String>,
    pub(super) tokens: Vec<Vec<u8>>,
}

impl Seen {
    pub(super) fn lock(seen: &Mutex<Self>) -> MutexGuard<'_, Self> {
        seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn remember<T: PartialEq>(list: &mut Vec<T>, item: T) {
        if let Some(at) = list.iter().position(|x| *x == item) {
            list.remove(at);
        } else if list.len() >= MAX_SEEN {
            list.remove(0);
        }
        list.push(item);
    }

    pub(super) fn namespace(&mut self, name: &str) {
        if !name.is_empty() && name != DEFAULT_NAMESPACE {
            Self::remember(&mut self.namespaces, name.to_owned());
        }
    }

    pub(super) fn queue(&mut self, name: &str) {
        if !name.is_empty() {
            Self::remember(&mut self.queues, name.to_owned());
        }
    }

    pub(super) fn sticky_queue(&mut self, name: &str) {
        if !name.is_empty() {
            Self::remember(&mut self.sticky_queues, name.to_owned());
        }
    }

    pub(super) fn token(&mut self, token: &[u8]) {
        if !token.is_empty() {
            Self::remember(&mut self.tokens, token.to_vec());
        }
    }

    /// The token `given` stands for (see the module docs).
    pub(super) fn resolve_token(&self, given: Vec<u8>) -> Vec<u8> {
        let pick = |i: u8| {
            let n = self.tokens.len();
            (n > 0).then(|| &self.tokens[n - 1 - usize::from(i) % n])
        };
        match given.as_slice() {
            [i] => pick(*i).cloned().unwrap_or(given),
            [i, a, b] => pick(*i)
                .and_then(|token| forge_token(token, Forge::Shift([*a, *b])))
                .unwrap_or(given),
            [i, a, b, _] => pick(*i)
                .and_then(|token| forge_token(token, Forge::Extreme([*a, *b])))
                .unwrap_or(given),
            _ => given,
        }
    }

    /// Every (namespace, queue) a worker might poll, `default` first.
    pub(super) fn poll_targets(&self, sticky: bool) -> Vec<(String, String)> {
        let queues = if sticky {
            &self.sticky_queues
        } else {
            &self.queues
        };
        std::iter::once(DEFAULT_NAMESPACE)
            .chain(self.namespaces.iter().map(String::as_str))
            .flat_map(|ns| queues.iter().map(move |q| (ns.to_owned(), q.clone())))
            .collect()
    }
}

/// Numbers a forged token may carry instead of the real ones.
const EXTREMES: [i64; 6] = [0, -1, i64::MIN, i64::MAX, i32::MIN as i64, i32::MAX as i64];

/// How a forged token changes the first two numbers of a real one.
#[derive(Debug, Clone, Copy)]
enum Forge {
    /// Shifted by these amounts (each an `i8`).
    Shift([u8; 2]),
    /// Replaced by `EXTREMES[x % 6]`.
    Extreme([u8; 2]),
}

/// `token` (JSON) with its first two integers forged.
fn forge_token(token: &[u8], forge: Forge) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(token).ok()?;
    let fields = value
        .as_object_mut()?
        .values_mut()
        .next()?
        .as_object_mut()?;
    let (bytes, extreme) = match forge {
        Forge::Shift(by) => (by, false),
        Forge::Extreme(by) => (by, true),
    };
    let mut bytes = bytes.into_iter();
    for field in fields.values_mut() {
        if let Some(n) = field.as_i64() {
            let Some(b) = bytes.next() else { break };
            *field = if extreme {
                EXTREMES[usize::from(b) % EXTREMES.len()]
            } else {
                n.saturating_add(i64::from(b as i8))
            }
            .into();
        }
    }
    serde_json::to_vec(&value).ok()
}
