//! Panics inside a scenario belong to the scenario: kept for its report, never printed.
//!
//! cucumber fails a step by panicking with the step's error, and keeps that quiet by swapping
//! the process-wide panic hook for a silent one while it runs, putting the old one back after.
//! Two scenarios running at once (`certify --jobs 2`) race on the swap: the first to finish
//! puts the default hook back while the other still runs, whose next failing step then prints
//! "thread panicked at ..." (with `RUST_BACKTRACE` set, a whole backtrace) in the middle of
//! `certify`'s progress, as if the tool had crashed.
//!
//! [`install`] puts this module's hook in place before any cucumber run, so that the swaps only
//! ever exchange it with cucumber's silent one. It hands a panic on a thread [`Panics::attach`]ed
//! to a scenario to that scenario, with its backtrace, and any other panic to the default hook.

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::{Arc, Mutex, OnceLock};

/// A panic caught on a scenario's thread.
#[derive(Debug)]
pub struct Caught {
    pub message: String,
    pub location: String,
    pub backtrace: Backtrace,
}

/// The panics of one scenario's threads.
#[derive(Debug, Clone, Default)]
pub struct Panics(Arc<Mutex<Vec<Caught>>>);

thread_local! {
    static CURRENT: RefCell<Option<Panics>> = const { RefCell::new(None) };
}

/// Detaches the thread when dropped.
pub struct Attached(());

impl Drop for Attached {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

impl Panics {
    /// Sends the current thread's panics here (instead of stderr) until the guard is dropped.
    pub fn attach(&self) -> Attached {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        Attached(())
    }

    /// Sends the current thread's panics here for the rest of its life (a runtime's worker).
    pub fn attach_thread(&self) {
        std::mem::forget(self.attach());
    }

    pub fn take(&self) -> Vec<Caught> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn push(&self, info: &PanicHookInfo<'_>) {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a message)".into());
        let location = info.location().map(|l| l.to_string()).unwrap_or_default();
        let caught = Caught { message, location, backtrace: Backtrace::force_capture() };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(caught);
    }
}

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Puts the hook in place; the hook it replaces the first time handles panics on threads no
/// scenario is attached to. Call before any scenario runs; calling again is harmless.
pub fn install() {
    static PREVIOUS: OnceLock<Hook> = OnceLock::new();
    PREVIOUS.get_or_init(std::panic::take_hook);
    std::panic::set_hook(Box::new(|info| {
        let attached = CURRENT.with(|c| c.borrow().clone());
        match attached {
            Some(panics) => panics.push(info),
            None => {
                if let Some(previous) = PREVIOUS.get() {
                    previous(info);
                }
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_on_an_attached_thread_is_kept_with_its_backtrace() {
        install();
        let panics = Panics::default();
        let guard = panics.attach();
        let result = std::panic::catch_unwind(|| panic!("index {} out of range", 3));
        drop(guard);
        assert!(result.is_err());
        let caught = panics.take();
        assert_eq!(caught.len(), 1);
        assert_eq!(caught[0].message, "index 3 out of range");
        assert!(caught[0].location.contains("panics.rs"), "{}", caught[0].location);
        assert!(caught[0].backtrace.to_string().contains("panics"), "a backtrace is captured");
        // Detached: another panic is not this scenario's.
        let _ = std::panic::catch_unwind(|| panic!("elsewhere"));
        assert!(panics.take().is_empty());
    }
}
