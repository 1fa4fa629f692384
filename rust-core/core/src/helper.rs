//! The pipeline's second thread, kept for the life of the process.
//!
//! A photo's stages hand work to a second thread five or six times, a
//! millisecond or two apart. A fresh thread for each costs 0.1-0.2 ms before
//! it runs (more when the other core has gone idle), and that delay is on the
//! critical path of every hand-off. So one helper thread is started once and
//! waits for work, spinning for a short while after each job (the next one
//! usually comes within it) before it sleeps.
//!
//! [`join`] runs one closure there and one on the calling thread and returns
//! both results; the closures may borrow the caller's data, because `join`
//! does not return (or unwind) before the helper is done with them. When the
//! helper is busy (another photo analysed at the same time) or `join` is
//! called from the helper itself, a scoped thread does the job instead, as
//! before. A panic in the helper's closure is caught and reported as `None`;
//! the caller redoes the work.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the helper, and a caller waiting for it, spin before sleeping.
const SPIN: Duration = Duration::from_micros(400);

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Helper {
    /// The job handed over, if not yet taken.
    slot: Mutex<Option<Job>>,
    wake: Condvar,
    /// A job waits in `slot` (read without the lock while spinning).
    pending: AtomicBool,
    /// The helper has a job (waiting or running): others use a scoped thread.
    busy: AtomicBool,
}

thread_local! {
    static IS_HELPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

static HELPER: OnceLock<Option<&'static Helper>> = OnceLock::new();

fn helper() -> Option<&'static Helper> {
    *HELPER.get_or_init(|| {
        let h: &'static Helper = Box::leak(Box::new(Helper {
            slot: Mutex::new(None),
            wake: Condvar::new(),
            pending: AtomicBool::new(false),
            busy: AtomicBool::new(false),
        }));
        std::thread::Builder::new().name("hemalens-helper".into()).spawn(move || serve(h)).ok().map(|_| h)
    })
}

fn serve(h: &'static Helper) {
    IS_HELPER.with(|c| c.set(true));
    loop {
        let spun = Instant::now();
        while !h.pending.load(Ordering::Acquire) && spun.elapsed() < SPIN {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
        let job = {
            let Ok(mut slot) = h.slot.lock() else { return };
            loop {
                if let Some(job) = slot.take() {
                    h.pending.store(false, Ordering::Release);
                    break job;
                }
                slot = match h.wake.wait(slot) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
        };
        // The job catches its own panics (see `join`).
        job();
    }
}

/// Set when the helper's closure has finished; wakes the caller.
struct Done {
    flag: AtomicBool,
    caller: Thread,
}

/// Waits for the helper's closure on drop, so the borrows it holds outlive
/// it even when the caller's closure unwinds.
struct Wait<'a>(&'a Done);

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let spun = Instant::now();
        while !self.0.flag.load(Ordering::Acquire) {
            if spun.elapsed() < SPIN {
                std::hint::spin_loop();
            } else {
                std::thread::park_timeout(Duration::from_millis(1));
            }
        }
    }
}

/// Runs `a` on the helper thread and `b` on this one; `a`'s result is `None`
/// if it panicked.
pub(crate) fn join<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (Option<A>, B) {
    let h = match helper() {
        Some(h) if !IS_HELPER.with(|c| c.get()) && !h.busy.swap(true, Ordering::AcqRel) => h,
        _ => {
            return std::thread::scope(|s| {
                let t = s.spawn(a);
                let rb = b();
                (t.join().ok(), rb)
            })
        }
    };
    let done = Done { flag: AtomicBool::new(false), caller: std::thread::current() };
    let mut ra: Option<A> = None;
    {
        let (done_ref, ra_ref) = (&done, &mut ra);
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            *ra_ref = catch_unwind(AssertUnwindSafe(a)).ok();
            // Free for the next caller before this one is told.
            h.busy.store(false, Ordering::Release);
            let caller = done_ref.caller.clone();
            done_ref.flag.store(true, Ordering::Release);
            caller.unpark();
        });
        // SAFETY: the job borrows `a`'s captures, `ra` and `done`, all of
        // which outlive it: `wait` below blocks until the job has set
        // `done.flag` (its last use of them) before this scope ends, on the
        // normal path and when `b` unwinds alike.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
        let wait = Wait(&done);
        match h.slot.lock() {
            Ok(mut slot) => {
                *slot = Some(job);
                h.pending.store(true, Ordering::Release);
                h.wake.notify_one();
            }
            // Never happens (nothing panics holding the lock): run it here.
            Err(_) => job(),
        }
        let rb = b();
        drop(wait);
        (ra, rb)
    }
}

#[cfg(test)]
mod tests {
    use super::join;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn both_closures_run_and_may_borrow() {
        let mut left = vec![0u32; 1000];
        let right = vec![1u32; 1000];
        let (a, b) = join(
            || {
                left.iter_mut().enumerate().for_each(|(i, v)| *v = i as u32);
                left.len()
            },
            || right.iter().sum::<u32>(),
        );
        assert_eq!((a, b), (Some(1000), 1000));
        assert_eq!(left[999], 999);
    }

    #[test]
    fn a_panic_on_the_helper_is_none_and_the_helper_lives_on() {
        let (a, b) = join(|| -> u32 { panic!("helper job fails") }, || 7);
        assert_eq!((a, b), (None, 7));
        let (a, b) = join(|| 1, || 2);
        assert_eq!((a, b), (Some(1), 2));
    }

    #[test]
    fn a_panic_here_waits_for_the_helper_first() {
        let finished = AtomicUsize::new(0);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            join(
                || {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    finished.fetch_add(1, Ordering::SeqCst);
                },
                || panic!("caller fails"),
            )
        }));
        assert!(r.is_err());
        assert_eq!(finished.load(Ordering::SeqCst), 1, "the helper's job ended before join unwound");
    }

    #[test]
    fn many_callers_at_once_and_nested_calls_all_complete() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let (a, b) = join(
                            || join(|| 1, || 2),
                            || {
                                total.fetch_add(1, Ordering::Relaxed);
                                3
                            },
                        );
                        assert_eq!(a, Some((Some(1), 2)));
                        assert_eq!(b, 3);
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 400);
    }
}
