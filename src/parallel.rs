//! Splitting CPU-bound work of one step over the machine's cores.

use std::mem::MaybeUninit;

/// Returns how many threads one step uses: one per core, at most 8.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |count| count.get()).min(8)
}

/// Runs `work` on contiguous chunks of `items` on up to `threads` threads
/// and returns the chunks' results in order. A panic in a chunk resumes on
/// the calling thread.
pub fn map_chunks<T: Sync, R: Send>(items: &[T], threads: usize, work: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    run_each(items.chunks(chunk_size(items.len(), threads)), &work)
}

/// Runs `work` on contiguous chunks of `items` as [`map_chunks`] does, with
/// each chunk lent mutably so the work can move values out of its items.
pub fn map_chunks_mut<T: Send, R: Send>(
    items: &mut [T],
    threads: usize,
    work: impl Fn(&mut [T]) -> R + Sync,
) -> Vec<R> {
    let size = chunk_size(items.len(), threads);
    run_each(items.chunks_mut(size), &work)
}

/// Runs `work` on contiguous chunks of `items` as [`map_chunks_mut`] does,
/// and appends the values that the chunks push to `out`, in chunk order.
///
/// A chunk may push up to `capacity(item)` values for each of its items,
/// straight into the spare capacity of `out`, so the values are never
/// collected in vectors of their own and copied again. Returns the chunks'
/// other results in order. A panic in a chunk resumes on the calling
/// thread, and the values that chunks had pushed are then leaked, not
/// dropped.
pub fn fill_chunks<T: Send, O: Send, R: Send>(
    items: &mut [T],
    threads: usize,
    out: &mut Vec<O>,
    capacity: impl Fn(&T) -> usize,
    work: impl Fn(&mut [T], &mut Slots<'_, O>) -> R + Sync,
) -> Vec<R> {
    let start = out.len();
    let size = chunk_size(items.len(), threads);
    let rooms: Vec<usize> = items.chunks(size).map(|chunk| chunk.iter().map(&capacity).sum()).collect();
    let total: usize = rooms.iter().sum();
    out.reserve_exact(total);
    let mut spare = &mut out.spare_capacity_mut()[..total];
    let mut parts = Vec::with_capacity(rooms.len());
    for &room in &rooms {
        let (part, rest) = std::mem::take(&mut spare).split_at_mut(room);
        parts.push(part);
        spare = rest;
    }
    let chunks = items.chunks_mut(size).zip(parts);
    let results = run_each(chunks, &|(chunk, slots): (&mut [T], &mut [MaybeUninit<O>])| {
        let mut slots = Slots { slots, pushed: 0 };
        let result = work(chunk, &mut slots);
        (slots.pushed, result)
    });

    // Each chunk's values sit at the front of its slots. They move down to
    // follow the previous chunk's values, and the vector then owns them.
    let base = out.as_mut_ptr();
    let (mut from, mut end) = (start, start);
    for ((pushed, _), room) in results.iter().zip(&rooms) {
        // SAFETY: the `pushed` slots from `from` were written by the chunk's
        // `Slots`, and they lie inside the capacity reserved above. `end` is
        // at most `from`, and `ptr::copy` allows the ranges to overlap.
        unsafe { std::ptr::copy(base.add(from), base.add(end), *pushed) };
        end += pushed;
        from += room;
    }
    // SAFETY: every position below `end` now contains an initialized value.
    unsafe { out.set_len(end) };
    results.into_iter().map(|(_, result)| result).collect()
}

/// The slots of one chunk of [`fill_chunks`].
pub struct Slots<'a, O> {
    slots: &'a mut [MaybeUninit<O>],
    pushed: usize,
}

impl<O> Slots<'_, O> {
    /// Appends a value to the chunk's output.
    ///
    /// # Panics
    ///
    /// Panics when the chunk pushes more values than its items have room
    /// for.
    pub fn push(&mut self, value: O) {
        self.slots[self.pushed].write(value);
        self.pushed += 1;
    }
}

fn chunk_size(len: usize, threads: usize) -> usize {
    len.div_ceil(threads.max(1)).max(1)
}

/// Runs `work` on each chunk on a thread of its own and returns the results
/// in order.
fn run_each<C: Send, R: Send>(chunks: impl Iterator<Item = C>, work: &(impl Fn(C) -> R + Sync)) -> Vec<R> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.map(|chunk| scope.spawn(move || work(chunk))).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_chunks_keep_order_and_skip_gaps() {
        let mut items: Vec<usize> = (0..11).collect();
        let mut out = vec!["first".to_owned()];

        let results = fill_chunks(&mut items, 3, &mut out, |_| 1, |chunk, slots| {
            for item in chunk.iter() {
                if item % 3 != 0 {
                    slots.push(item.to_string());
                }
            }
            chunk.len()
        });

        assert_eq!(results, [4, 4, 3]);
        assert_eq!(out, ["first", "1", "2", "4", "5", "7", "8", "10"]);
    }

    #[test]
    fn filled_chunks_take_room_per_item() {
        let mut items: Vec<usize> = (0..7).collect();
        let mut out = Vec::new();

        fill_chunks(&mut items, 2, &mut out, |&item| item % 3, |chunk, slots| {
            for &mut item in chunk {
                for copy in 0..item % 3 {
                    slots.push((item, copy));
                }
            }
        });

        assert_eq!(out, [(1, 0), (2, 0), (2, 1), (4, 0), (5, 0), (5, 1)]);
    }

    #[test]
    #[should_panic(expected = "index out of bounds")]
    fn filled_chunk_rejects_extra_values() {
        let mut items = vec![1, 2];
        let mut out: Vec<String> = Vec::new();

        fill_chunks(&mut items, 1, &mut out, |_| 1, |chunk, slots| {
            for item in chunk.iter() {
                slots.push(item.to_string());
                slots.push(item.to_string());
            }
        });
    }

    #[test]
    fn chunks_come_back_in_order() {
        let items: Vec<usize> = (0..10).collect();

        let chunks = map_chunks(&items, 3, |chunk| chunk.to_vec());

        assert_eq!(chunks, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    }

    #[test]
    fn mutable_chunks_keep_order_and_changes() {
        let mut items: Vec<usize> = (0..5).collect();

        let chunks = map_chunks_mut(&mut items, 2, |chunk| {
            chunk.iter_mut().map(|item| std::mem::replace(item, 0)).collect::<Vec<_>>()
        });

        assert_eq!(chunks, [vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(items, [0; 5]);
    }
}
