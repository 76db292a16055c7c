//! The decode thread: a [`Decoder`] on its own thread feeding a bounded channel.
#![forbid(unsafe_code)]

use std::path::Path;

use super::{DecodeStats, Decoder, Frame, FramePool, OutputFormat, Sampling, VideoInfo};
use crate::error::{Error, Result};

/// A decode thread feeding a bounded channel: frames in decode order, then at most one error.
pub struct DecodeThread {
    pub info: VideoInfo,
    pub frames: crossbeam_channel::Receiver<Result<Frame>>,
    handle: std::thread::JoinHandle<DecodeStats>,
    /// Tells a live source's thread (which holds a receiver of its own channel) to stop.
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl DecodeThread {
    /// Waits for the thread and returns its counters.
    pub fn join(self) -> Result<DecodeStats> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(self.frames);
        self.handle.join().map_err(|_| Error::Pipeline("decode thread panicked".into()))
    }
}

/// Opens `path` and decodes it on a new thread. Open errors are returned here, before any frame.
/// `capacity` bounds the channel; the pool holds `capacity + extra` buffers, so the consumer may
/// hold `extra` frames at once (its batch) without starving the decoder.
pub fn spawn(path: &Path, sampling: Sampling, out: OutputFormat, capacity: usize, extra: usize) -> Result<DecodeThread> {
    spawn_selected(path, sampling, out, capacity, extra, None)
}

/// [`spawn`], keeping only the decode indices in `select` when given (see [`Decoder::select`]).
pub fn spawn_selected(
    path: &Path,
    sampling: Sampling,
    out: OutputFormat,
    capacity: usize,
    extra: usize,
    select: Option<std::sync::Arc<std::collections::BTreeSet<u64>>>,
) -> Result<DecodeThread> {
    spawn_with(path, sampling, out, capacity, extra, move |dec| {
        if let Some(sel) = select {
            dec.select(sel);
        }
    })
}

/// [`spawn`], with `setup` applied to the decoder on its thread before the first frame
/// ([`Decoder::select`], [`Decoder::skip_loop_filter`]).
pub fn spawn_with(
    path: &Path,
    sampling: Sampling,
    out: OutputFormat,
    capacity: usize,
    extra: usize,
    setup: impl FnOnce(&mut Decoder) + Send + 'static,
) -> Result<DecodeThread> {
    let (info_tx, info_rx) = crossbeam_channel::bounded::<Result<VideoInfo>>(1);
    let (tx, rx) = crossbeam_channel::bounded::<Result<Frame>>(capacity.max(1));
    // A live source does not wait for a slow pipeline: the oldest queued frame goes, taken by
    // the thread's own receiver (so only `stop` ends it when the consumer is gone).
    let live = super::is_url(path);
    let own_rx = live.then(|| rx.clone());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let path = path.to_path_buf();
    let pool_size = capacity.max(1) + extra + 1;
    let handle = std::thread::Builder::new()
        .name("fovea-decode".into())
        .spawn(move || {
            let mut dec = match Decoder::open(&path, sampling, out) {
                Ok(d) => d,
                Err(e) => {
                    let _ = info_tx.send(Err(e));
                    return DecodeStats::default();
                }
            };
            setup(&mut dec);
            let _ = info_tx.send(Ok(dec.info().clone()));
            let pool = FramePool::new(pool_size);
            let mut dropped = 0u64;
            loop {
                if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match dec.next_frame(&pool) {
                    Ok(Some(f)) if own_rx.is_some() => {
                        let own = own_rx.as_ref().expect("live");
                        let mut item = Ok(f);
                        while let Err(crossbeam_channel::TrySendError::Full(back)) = tx.try_send(item) {
                            if own.try_recv().is_ok() {
                                dropped += 1;
                            }
                            item = back;
                        }
                    }
                    Ok(Some(f)) => {
                        if tx.send(Ok(f)).is_err() {
                            break; // consumer gone
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
            let mut stats = dec.stats().clone();
            stats.pool_allocations = pool.allocations();
            stats.frames_dropped = dropped;
            stats
        })
        .map_err(|e| Error::Pipeline(format!("cannot start decode thread: {e}")))?;
    match info_rx.recv() {
        Ok(Ok(info)) => Ok(DecodeThread { info, frames: rx, handle, stop }),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(Error::Pipeline("decode thread stopped before opening the input".into()))
        }
    }
}
