//! A bounded pool of frame buffers. Buffers are allocated on first need, at most `count` of them,
//! lent out as [`PooledBuf`], and come back when dropped, so steady-state decoding allocates
//! nothing (and a single image allocates one buffer, however large). When all `count` buffers are
//! lent out, [`FramePool::take`] waits: that is the pipeline's backpressure.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

/// A pool of at most `count` byte buffers.
#[derive(Debug, Clone)]
pub struct FramePool {
    home: Sender<Vec<u8>>,
    free: Receiver<Vec<u8>>,
    allocations: Arc<AtomicUsize>,
    created: Arc<AtomicUsize>,
    count: usize,
}

/// Bytes every pooled buffer has past its length. swscale's vector code stores whole vectors, so
/// converting into a buffer of exactly `width * height * 3` bytes writes past its last row for many
/// widths (heap corruption on e.g. 426x240 yuv420p); FFmpeg's own buffers carry padding for the
/// same reason (`AV_INPUT_BUFFER_PADDING_SIZE`). 64 RGB pixels plus a cache line covers every
/// store width swscale uses (up to 512-bit vectors).
pub const SLACK: usize = 64 * 3 + 64;

/// A buffer lent by a [`FramePool`]; returns to it on drop (or is freed if the pool is gone).
/// It derefs to its `len` bytes; [`SLACK`] more bytes after them belong to it and may be
/// scribbled on by writers that overshoot (see [`PooledBuf::as_mut_ptr_padded`]).
#[derive(Debug)]
pub struct PooledBuf {
    /// `len + SLACK` bytes.
    data: Vec<u8>,
    len: usize,
    home: Sender<Vec<u8>>,
}

impl FramePool {
    /// A pool of at most `count` buffers (allocated when first needed).
    pub fn new(count: usize) -> Self {
        let count = count.max(1);
        let (home, free) = crossbeam_channel::bounded(count);
        Self { home, free, allocations: Arc::new(AtomicUsize::new(0)), created: Arc::new(AtomicUsize::new(0)), count }
    }

    /// Takes a buffer of exactly `len` bytes (plus [`SLACK`]): a returned one if any, else a new
    /// one while fewer than `count` exist, else waits for one to come back. A reused buffer of
    /// another length is resized (an allocation only when it grows past its capacity, counted).
    pub fn take(&self, len: usize) -> PooledBuf {
        let full = len + SLACK;
        let mut data = match self.free.try_recv() {
            Ok(d) => d,
            Err(_) if self.created.fetch_add(1, Ordering::Relaxed) < self.count => {
                self.allocations.fetch_add(1, Ordering::Relaxed);
                return PooledBuf { data: vec![0u8; full], len, home: self.home.clone() };
            }
            Err(_) => {
                self.created.fetch_sub(1, Ordering::Relaxed);
                self.free.recv().expect("the pool owns a sender, so recv cannot fail")
            }
        };
        if data.len() != full {
            if data.capacity() < full {
                self.allocations.fetch_add(1, Ordering::Relaxed);
            }
            data.resize(full, 0);
        }
        PooledBuf { data, len, home: self.home.clone() }
    }

    /// Most buffers the pool holds.
    pub fn capacity(&self) -> usize {
        self.count
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

impl PooledBuf {
    /// A pointer to the first byte, valid for writes of `len() + SLACK` bytes: for writers such
    /// as swscale that may store past the end of the last row.
    pub fn as_mut_ptr_padded(&mut self) -> *mut u8 {
        self.data.as_mut_ptr()
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_not_reallocated() {
        let pool = FramePool::new(3);
        for _ in 0..100 {
            let a = pool.take(64);
            let b = pool.take(64);
            assert_eq!(a.len(), 64);
            drop(a);
            drop(b);
        }
        assert_eq!(pool.allocations(), 2, "two in use at most: two allocated, on first need");
        let held: Vec<_> = (0..3).map(|_| pool.take(64)).collect();
        assert_eq!(pool.allocations(), 3);
        drop(held);
    }

    #[test]
    fn buffers_have_slack_past_their_length() {
        let pool = FramePool::new(1);
        let mut b = pool.take(30);
        drop(b);
        b = pool.take(10);
        assert_eq!(b.len(), 10);
        // SAFETY: the buffer owns len + SLACK bytes; this writes the last of them.
        unsafe { b.as_mut_ptr_padded().add(10 + SLACK - 1).write(7) };
        assert_eq!(b.len(), 10, "the slack is not part of the slice");
        drop(b);
        let b = pool.take(30);
        assert_eq!(b.len(), 30);
        assert_eq!(pool.allocations(), 1, "sizes within the first buffer's capacity reuse it");
    }

    #[test]
    fn take_waits_for_a_returned_buffer() {
        let pool = FramePool::new(1);
        let held = pool.take(8);
        let p2 = pool.clone();
        let t = std::thread::spawn(move || p2.take(8).len());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!t.is_finished(), "take must block while the only buffer is lent out");
        drop(held);
        assert_eq!(t.join().unwrap(), 8);
    }
}
