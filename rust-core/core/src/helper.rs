//! The pipeline's second thread: a rayon pool that each
//! [`Analyzer`](crate::field::Analyzer) owns and sizes, never a thread of our
//! own nor rayon's global pool.
//!
//! [`join`] (from `hemalens-photo`, whose decoder uses the same pool) runs its
//! two closures in parallel inside a pool and one after the other outside it.
pub(crate) use hemalens_photo::parallel::join;

/// A pool of `threads` for one analyzer (`None` for one thread, or when the
/// system refuses threads: everything then runs on the caller's thread).
pub(crate) fn pool(threads: usize) -> Option<rayon::ThreadPool> {
    (threads >= 2)
        .then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("hemalens-{i}"))
                .build()
                .ok()
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_run_in_a_pool_and_outside_one_and_a_panic_in_a_is_none() {
        let p = pool(2).unwrap();
        let (a, b) = p.install(|| join(|| 1 + 1, || "b"));
        assert_eq!((a, b), (Some(2), "b"));
        let (a, b) = join(|| 3, || 4);
        assert_eq!((a, b), (Some(3), 4));
        let (a, b): (Option<u8>, _) = p.install(|| join(|| panic!("helper"), || 5));
        assert_eq!((a, b), (None, 5));
        // Outside a pool `b` runs first: `a` may wait for what `b` sends.
        let (tx, rx) = std::sync::mpsc::channel();
        let (got, ()) = join(move || rx.recv().ok(), move || tx.send(9).unwrap_or(()));
        assert_eq!(got, Some(Some(9)));
        assert!(pool(1).is_none());
    }

    #[test]
    fn many_callers_at_once_and_nested_calls_all_complete() {
        let p = pool(2).unwrap();
        let sums: Vec<u64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6u64)
                .map(|k| {
                    let p = &p;
                    s.spawn(move || {
                        p.install(|| {
                            let (x, y) = join(|| join(|| k, || k + 1), || join(|| k + 2, || k + 3));
                            let (x, y) = (x.unwrap_or((None, 0)), y);
                            x.0.unwrap_or(0) + x.1 + y.0.unwrap_or(0) + y.1
                        })
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).collect()
        });
        assert_eq!(sums, (0..6u64).map(|k| 4 * k + 6).collect::<Vec<_>>());
    }
}
