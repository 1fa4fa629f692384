//! Work spread over a few scoped threads (the pipeline uses at most two): no
//! pool, no global state; each thread brings its own state (vote bins, a pair
//! of engines), items are taken in order from a shared counter, results come
//! back in input order. A thread that panics leaves its items undone; the
//! caller's thread redoes them, so a panic never loses an item silently.
use std::sync::atomic::{AtomicUsize, Ordering};

/// `f(state, item)` for every item, on one scoped thread per state (the
/// caller's thread takes the first); results in input order.
pub(crate) fn map<S: Send, T: Sync, R: Send>(
    items: &[T],
    mut states: Vec<S>,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    if states.is_empty() {
        return Vec::new();
    }
    if states.len() == 1 || items.len() < 2 {
        let s = &mut states[0];
        return items.iter().map(|i| f(s, i)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut first = states.remove(0);
    let work = |s: &mut S| {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, f(s, item)));
        }
        done
    };
    let mut all: Vec<(usize, R)> = if states.len() == 1 {
        // The usual case: the analyzer's second pool thread takes the second state.
        let mut second = states.remove(0);
        let (theirs, mut mine) = crate::helper::join(|| work(&mut second), || work(&mut first));
        mine.extend(theirs.unwrap_or_default());
        mine
    } else {
        std::thread::scope(|sc| {
            let helpers: Vec<_> = states.into_iter().map(|mut s| sc.spawn(move || work(&mut s))).collect();
            let mut mine = work(&mut first);
            for h in helpers {
                if let Ok(v) = h.join() {
                    mine.extend(v);
                }
            }
            mine
        })
    };
    in_order(items, &mut all, |i| f(&mut first, i))
}

/// Results sorted into input order, any missing one made by `redo`.
pub(crate) fn in_order<T, R>(
    items: &[T],
    done: &mut Vec<(usize, R)>,
    mut redo: impl FnMut(&T) -> R,
) -> Vec<R> {
    done.sort_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(items.len());
    let mut it = std::mem::take(done).into_iter().peekable();
    for (i, item) in items.iter().enumerate() {
        match it.next_if(|(j, _)| *j == i) {
            Some((_, r)) => out.push(r),
            None => out.push(redo(item)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order_with_every_thread_count() {
        let items: Vec<u64> = (0..101).collect();
        for n in 1..=3 {
            let out = map(&items, vec![0u64; n], |calls, &x| {
                *calls += 1;
                x * x
            });
            assert_eq!(out, items.iter().map(|x| x * x).collect::<Vec<_>>(), "{n} threads");
        }
        assert!(map(&items, Vec::<()>::new(), |_, &x| x).is_empty());
    }

    #[test]
    fn items_a_panicking_thread_left_are_redone() {
        let items: Vec<u32> = (0..50).collect();
        let pool = crate::helper::pool(2).expect("two threads");
        let out = pool.install(|| {
            let main = std::thread::current().id();
            map(&items, vec![(), ()], |_, &x| {
                // The pool's other thread dies on its first item.
                if std::thread::current().id() != main {
                    panic!("helper");
                }
                x + 1
            })
        });
        assert_eq!(out, (1..51).collect::<Vec<_>>());
    }
}
