//! Per-client work spread over the threads of Bevy's [`ComputeTaskPool`] and the calling
//! thread, for the send steps whose clients are independent of each other.
//!
//! `Query::par_iter_mut` would do the same, but it runs on one thread whenever the pool has
//! only one (Bevy's default on 2 cores), although the thread that waits for the pool helps.

use std::sync::Mutex;

use bevy::tasks::ComputeTaskPool;

/// Fewest items worth handing to other threads.
const MIN_PARALLEL_ITEMS: usize = 4;
/// Least work (in the caller's units: entities, entries, bodies) worth waking other threads
/// for; below it the wake-ups cost more than they save (25–40 µs per call on 2 cores: the
/// benchmark's arena, 1,024 entries per send, runs about a third faster serial).
pub(crate) const MIN_PARALLEL_WORK: usize = 2_048;
/// Chunks per thread, so that a thread that finishes early takes more.
const CHUNKS_PER_THREAD: usize = 4;

/// Runs `job` on every item, each chunk of items with its own state made by `init`; returns
/// the chunks' states in item order (chunks are contiguous). Items are spread over the compute
/// pool's threads and this one when `parallel` is set (see
/// [`ServerConfig::parallel_send`](super::ServerConfig::parallel_send)), there are enough of
/// them, `work` (an estimate of the whole job) reaches [`MIN_PARALLEL_WORK`] and there is a
/// pool; otherwise they run here, in order, as one chunk.
pub(crate) fn for_each_parallel<T, S>(
    items: &mut [T],
    parallel: bool,
    work: usize,
    init: impl Fn() -> S + Sync,
    job: impl Fn(&mut S, &mut T) + Sync,
) -> Vec<S>
where
    T: Send,
    S: Send + 'static,
{
    let threads = ComputeTaskPool::try_get().map_or(0, |pool| pool.thread_num());
    if !parallel || threads == 0 || items.len() < MIN_PARALLEL_ITEMS || work < MIN_PARALLEL_WORK {
        let mut state = init();
        items.iter_mut().for_each(|item| job(&mut state, item));
        return vec![state];
    }
    // The calling thread works too while it waits for the scope.
    let chunks = (threads + 1) * CHUNKS_PER_THREAD;
    let chunk_len = items.len().div_ceil(chunks);
    let (init, job) = (&init, &job);
    // The scope returns what the tasks return in the order they were spawned.
    ComputeTaskPool::get().scope(|scope| {
        for chunk in items.chunks_mut(chunk_len) {
            scope.spawn(async move {
                let mut state = init();
                chunk.iter_mut().for_each(|item| job(&mut state, item));
                state
            });
        }
    })
}

/// States of [`for_each_parallel`] kept from one send to the next, so that their buffers are
/// allocated once rather than every send: `init` takes one, the states returned are put back.
pub(crate) struct SpareStates<S>(Mutex<Vec<S>>);

impl<S> Default for SpareStates<S> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<S: Default> SpareStates<S> {
    /// A kept state, or a new one.
    pub(crate) fn take(&self) -> S {
        self.0
            .lock()
            .map(|mut spares| spares.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Keeps `states` for the next send.
    pub(crate) fn put_back(&mut self, states: impl IntoIterator<Item = S>) {
        if let Ok(spares) = self.0.get_mut() {
            spares.extend(states);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::tasks::TaskPool;

    #[test]
    fn every_item_is_visited_once_with_or_without_a_pool() {
        let mut items: Vec<u32> = (0..100).collect();
        let states = for_each_parallel(
            &mut items,
            true,
            MIN_PARALLEL_WORK,
            Vec::new,
            |seen, item| {
                seen.push(*item);
                *item += 1;
            },
        );
        // Another test may have made the pool already: one chunk or several, in order.
        assert_eq!(states.concat(), (0..100).collect::<Vec<u32>>());
        ComputeTaskPool::get_or_init(TaskPool::new);
        let states = for_each_parallel(
            &mut items,
            true,
            MIN_PARALLEL_WORK,
            Vec::new,
            |seen, item| {
                seen.push(*item);
                *item *= 2;
            },
        );
        assert_eq!(items, (0..100).map(|i| (i + 1) * 2).collect::<Vec<_>>());
        // The chunks' states come back in item order.
        assert_eq!(states.concat(), (1..=100).collect::<Vec<u32>>());
    }
}
