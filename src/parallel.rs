//! Splitting CPU-bound work of one step over the machine's cores.

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
