//! A fixed pool of frame buffers. Buffers are allocated once, lent out as [`PooledBuf`], and come
//! back when dropped, so steady-state decoding allocates nothing. When every buffer is lent out,
//! [`FramePool::take`] waits: that is the pipeline's backpressure.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

/// A pool of `count` byte buffers.
#[derive(Debug, Clone)]
pub struct FramePool {
    home: Sender<Vec<u8>>,
    free: Receiver<Vec<u8>>,
    allocations: Arc<AtomicUsize>,
}

/// A buffer lent by a [`FramePool`]; returns to it on drop (or is freed if the pool is gone).
#[derive(Debug)]
pub struct PooledBuf {
    data: Vec<u8>,
    home: Sender<Vec<u8>>,
}

impl FramePool {
    /// A pool of `count` buffers of `len` bytes each, allocated now.
    pub fn new(count: usize, len: usize) -> Self {
        let (home, free) = crossbeam_channel::bounded(count.max(1));
        let pool = Self { home, free, allocations: Arc::new(AtomicUsize::new(0)) };
        for _ in 0..count.max(1) {
            pool.allocations.fetch_add(1, Ordering::Relaxed);
            pool.home.send(vec![0u8; len]).expect("pool channel has room");
        }
        pool
    }

    /// Takes a buffer of exactly `len` bytes, waiting while all are lent out. A buffer of another
    /// length is resized (an allocation only when it grows past its capacity, counted).
    pub fn take(&self, len: usize) -> PooledBuf {
        let mut data = self.free.recv().expect("the pool owns a sender, so recv cannot fail");
        if data.len() != len {
            if data.capacity() < len {
                self.allocations.fetch_add(1, Ordering::Relaxed);
            }
            data.resize(len, 0);
        }
        PooledBuf { data, home: self.home.clone() }
    }

    /// How many buffer allocations the pool has made since it was created.
    pub fn allocations(&self) -> usize {
        self.allocations.load(Ordering::Relaxed)
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let _ = self.home.try_send(std::mem::take(&mut self.data));
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_not_reallocated() {
        let pool = FramePool::new(3, 64);
        for _ in 0..100 {
            let a = pool.take(64);
            let b = pool.take(64);
            assert_eq!(a.len(), 64);
            drop(a);
            drop(b);
        }
        assert_eq!(pool.allocations(), 3);
    }

    #[test]
    fn take_waits_for_a_returned_buffer() {
        let pool = FramePool::new(1, 8);
        let held = pool.take(8);
        let p2 = pool.clone();
        let t = std::thread::spawn(move || p2.take(8).len());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!t.is_finished(), "take must block while the only buffer is lent out");
        drop(held);
        assert_eq!(t.join().unwrap(), 8);
    }
}
