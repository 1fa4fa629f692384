//! Two things at once on a caller's rayon pool, or one after the other.
//!
//! [`join`] runs its two closures in parallel when called inside a pool (the
//! pipeline runs each photo inside its analyzer's own pool; rayon lets the
//! pool's other thread take `a` while this one runs `b`), and `b` then `a` on
//! this thread outside any pool (one thread asked for, or the photo opened on
//! its own). A panic in `a` is caught and reported as `None`: the caller
//! redoes that work. Never a thread of our own nor rayon's global pool.
use std::panic::{catch_unwind, AssertUnwindSafe};

pub fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (Option<A>, B) {
    let a = move || catch_unwind(AssertUnwindSafe(a)).ok();
    if rayon::current_thread_index().is_none() {
        // `b` first: `a` may wait for what `b` hands it (hemalens-core's field::analyze).
        let rb = b();
        return (a(), rb);
    }
    let (rb, ra) = rayon::join(b, a);
    (ra, rb)
}
