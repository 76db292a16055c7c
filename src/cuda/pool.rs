//! A fixed pool of staging buffers for frames on their way to the GPU.
//!
//! Frames are written into page-locked (pinned) host buffers, from which the copy engine uploads
//! them asynchronously; a buffer is written again only after the copy that last read it has
//! finished (the buffer's own fence, see [`Staging::writable`]). The pool allocates its slots
//! once; in steady state it never allocates. Frames larger than a slot are an error unless the
//! caller re-provisions the pool ([`StagingPool::provision`]), which is counted, so tests can check
//! that a clip of one resolution allocates exactly once.
//!
//! The logic is generic over the allocator so it is tested on machines without a GPU
//! ([`HeapStaging`]); on a GPU the slots are cudarc `PinnedHostSlice<u8>`s, whose event is the
//! fence ([`crate::cuda::input`]).
#![forbid(unsafe_code)]

use crate::error::{Error, Result};

/// A host buffer a device copy may be reading.
pub trait StagingBuf: Send {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's bytes, once no copy scheduled from it is still running (waits for it).
    fn writable(&mut self) -> Result<&mut [u8]>;
}

/// Makes staging buffers.
pub trait Staging {
    type Buf: StagingBuf;

    fn allocate(&self, bytes: usize) -> Result<Self::Buf>;
}

/// Plain heap memory: for tests and for the CPU (no copy engine, nothing to wait for).
#[derive(Debug, Default, Clone, Copy)]
pub struct HeapStaging;

impl StagingBuf for Vec<u8> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn writable(&mut self) -> Result<&mut [u8]> {
        Ok(self.as_mut_slice())
    }
}

impl Staging for HeapStaging {
    type Buf = Vec<u8>;

    fn allocate(&self, bytes: usize) -> Result<Vec<u8>> {
        Ok(vec![0; bytes])
    }
}

/// `slots` staging buffers of `slot_bytes` each, handed out round-robin.
#[derive(Debug)]
pub struct StagingPool<S: Staging> {
    staging: S,
    slots: Vec<S::Buf>,
    slot_bytes: usize,
    next: usize,
    allocations: u64,
}

impl<S: Staging> StagingPool<S> {
    /// Allocates every slot now.
    pub fn new(staging: S, slots: usize, slot_bytes: usize) -> Result<Self> {
        if slots == 0 {
            return Err(Error::InvalidOption { option: "pool", reason: "a frame pool needs at least one slot".into() });
        }
        let mut pool = Self { staging, slots: Vec::with_capacity(slots), slot_bytes: 0, next: 0, allocations: 0 };
        pool.fill(slots, slot_bytes)?;
        Ok(pool)
    }

    fn fill(&mut self, slots: usize, slot_bytes: usize) -> Result<()> {
        self.slots.clear();
        for _ in 0..slots {
            self.slots.push(self.staging.allocate(slot_bytes)?);
            self.allocations += 1;
        }
        self.slot_bytes = slot_bytes;
        self.next = 0;
        Ok(())
    }

    /// Re-allocates every slot at `slot_bytes` if they are smaller (a larger resolution); returns
    /// whether it did.
    pub fn provision(&mut self, slot_bytes: usize) -> Result<bool> {
        if slot_bytes <= self.slot_bytes {
            return Ok(false);
        }
        let n = self.slots.len();
        self.fill(n, slot_bytes)?;
        Ok(true)
    }

    /// The next slot for a frame of `bytes`: its index and its bytes (after waiting for the copy
    /// that last read it).
    pub fn acquire(&mut self, bytes: usize) -> Result<(usize, &mut [u8])> {
        if bytes > self.slot_bytes {
            return Err(Error::InvalidOption {
                option: "pool",
                reason: format!("a frame of {bytes} bytes does not fit the pool's slots of {} bytes", self.slot_bytes),
            });
        }
        let i = self.next;
        self.next = (self.next + 1) % self.slots.len();
        let buf = self.slots[i].writable()?;
        Ok((i, &mut buf[..bytes]))
    }

    /// Slot `i`, to schedule a copy from.
    pub fn slot(&self, i: usize) -> &S::Buf {
        &self.slots[i]
    }

    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    pub fn slot_bytes(&self) -> usize {
        self.slot_bytes
    }

    /// Buffers allocated since the pool was made.
    pub fn allocations(&self) -> u64 {
        self.allocations
    }

    pub fn staging(&self) -> &S {
        &self.staging
    }
}

/// Copies `height` rows of `row_bytes` from `src` (rows `stride` bytes apart) into packed `dst`.
pub fn pack_rows(src: &[u8], stride: usize, row_bytes: usize, height: usize, dst: &mut [u8]) {
    if stride == row_bytes {
        dst[..row_bytes * height].copy_from_slice(&src[..row_bytes * height]);
        return;
    }
    for (y, row) in dst.chunks_exact_mut(row_bytes).take(height).enumerate() {
        row.copy_from_slice(&src[y * stride..y * stride + row_bytes]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Heap buffers that count how often a writer had to wait for them.
    #[derive(Default, Clone)]
    struct Counting {
        waits: Arc<AtomicU64>,
    }

    struct CountingBuf(Vec<u8>, Arc<AtomicU64>);

    impl StagingBuf for CountingBuf {
        fn len(&self) -> usize {
            self.0.len()
        }

        fn writable(&mut self) -> Result<&mut [u8]> {
            self.1.fetch_add(1, Ordering::Relaxed);
            Ok(&mut self.0)
        }
    }

    impl Staging for Counting {
        type Buf = CountingBuf;

        fn allocate(&self, bytes: usize) -> Result<CountingBuf> {
            Ok(CountingBuf(vec![0; bytes], self.waits.clone()))
        }
    }

    #[test]
    fn steady_state_never_allocates_and_every_write_waits_for_its_slot() {
        let staging = Counting::default();
        let waits = staging.waits.clone();
        let frame = 1920 * 1080 * 3;
        let mut pool = StagingPool::new(staging, 4, frame).unwrap();
        assert_eq!(pool.allocations(), 4);
        let mut order = Vec::new();
        for n in 0..750usize {
            let (i, buf) = pool.acquire(if n % 3 == 0 { frame } else { 640 * 360 * 3 }).unwrap();
            buf[0] = n as u8;
            order.push(i);
        }
        assert_eq!(pool.allocations(), 4, "750 frames after start-up allocated nothing");
        assert_eq!(waits.load(Ordering::Relaxed), 750, "every write went through the slot's fence");
        assert_eq!(&order[..6], &[0, 1, 2, 3, 0, 1], "round-robin");
        assert_eq!(pool.slot(749 % 4).0[0], 749u32 as u8);
    }

    #[test]
    fn a_larger_frame_is_an_error_until_provisioned_and_that_is_counted() {
        let mut pool = StagingPool::new(HeapStaging, 2, 100).unwrap();
        let e = pool.acquire(101).unwrap_err().to_string();
        assert!(e.contains("101 bytes does not fit the pool's slots of 100 bytes"), "{e}");
        assert!(!pool.provision(80).unwrap(), "smaller needs nothing");
        assert!(pool.provision(300).unwrap());
        assert_eq!((pool.allocations(), pool.slot_bytes(), pool.slots()), (4, 300, 2));
        assert_eq!(pool.acquire(300).unwrap().1.len(), 300);
        assert!(StagingPool::new(HeapStaging, 0, 10).unwrap_err().to_string().contains("at least one slot"));
    }

    #[test]
    fn rows_are_packed_from_padded_images() {
        let src: Vec<u8> = (0..4 * 8).map(|v| v as u8).collect(); // 4 rows, stride 8, 6 bytes used
        let mut dst = vec![0u8; 24];
        pack_rows(&src, 8, 6, 4, &mut dst);
        assert_eq!(&dst[6..12], &[8, 9, 10, 11, 12, 13]);
        assert_eq!(&dst[18..24], &[24, 25, 26, 27, 28, 29]);
        let mut same = vec![0u8; 32];
        pack_rows(&src, 8, 8, 4, &mut same);
        assert_eq!(same, src);
    }
}
