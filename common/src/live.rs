//! A value the running server replaces while sessions use it (the configuration on
//! SIGHUP). Readers take a cheap snapshot (`get`: an `Arc` clone under a read lock
//! held for no longer than that); a session that reads twice may see two versions,
//! each whole. Never held across `.await`.

use std::sync::{Arc, RwLock};

/// The current version of a `T`.
#[derive(Debug)]
pub struct Live<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Live<T> {
    /// Starts with `value`.
    pub fn new(value: Arc<T>) -> Self {
        Live {
            current: RwLock::new(value),
        }
    }

    /// The current version.
    pub fn get(&self) -> Arc<T> {
        match self.current.read() {
            Ok(c) => c.clone(),
            // A writer panicked while replacing it: the value inside is still whole.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces it; readers from now on see `value`.
    pub fn set(&self, value: Arc<T>) {
        match self.current.write() {
            Ok(mut c) => *c = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_their_snapshot() {
        let live = Live::new(Arc::new(1));
        let before = live.get();
        live.set(Arc::new(2));
        assert_eq!((*before, *live.get()), (1, 2));
    }
}
