//! The one source contract: a source hands its frames (or whatever it reads: boxes, a clip's
//! samples) one at a time, in order, each a value or the input error that ended it; the consumer
//! gathers them into batches and processes a batch when it says the batch is full and when the
//! source ends. On an input error the frames that came before it are processed and handed on
//! first, then the error is the run's outcome; an error of the processing itself stops the run at
//! once. The detect chain, verify, the quality stage of key frames and the embedding of a
//! collection all read their sources through [`batched`] (ARCHITECTURE.md, "Add a source").
#![forbid(unsafe_code)]

use crate::error::Result;

/// Feeds `source` to a consumer in batches. `take` adds an item to the batch held in `state` and
/// answers whether the batch is full; `flush` processes the batch held (and must do nothing when
/// it is empty). `flush` runs when `take` says the batch is full, when the source ends, and before
/// an input error is returned.
pub fn batched<S, T>(
    source: impl IntoIterator<Item = Result<T>>,
    state: &mut S,
    mut take: impl FnMut(&mut S, T) -> Result<bool>,
    mut flush: impl FnMut(&mut S) -> Result<()>,
) -> Result<()> {
    for item in source {
        match item {
            Ok(item) => {
                if take(state, item)? {
                    flush(state)?;
                }
            }
            Err(input) => {
                // What was read before the input error is still processed and handed on; the
                // input error, which came first, is the outcome.
                if let Err(e) = flush(state) {
                    log::warn!("after the input error ({input}), processing what came before it failed too: {e}");
                }
                return Err(input);
            }
        }
    }
    flush(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn input(n: usize, fail_at: Option<usize>) -> Vec<Result<usize>> {
        (0..n).map(|i| if Some(i) == fail_at { Err(Error::Pipeline(format!("bad frame {i}"))) } else { Ok(i) }).collect()
    }

    /// Runs `batched` with batches of `size`; returns the batches processed and the outcome.
    fn run(items: Vec<Result<usize>>, size: usize, fail_flush: Option<usize>) -> (Vec<Vec<usize>>, Result<()>) {
        let mut state: (Vec<usize>, Vec<Vec<usize>>) = (Vec::new(), Vec::new());
        let outcome = batched(
            items,
            &mut state,
            |s, i| {
                s.0.push(i);
                Ok(s.0.len() == size)
            },
            |s| {
                if s.0.is_empty() {
                    return Ok(());
                }
                if fail_flush.is_some_and(|f| s.0.contains(&f)) {
                    return Err(Error::Pipeline("model failed".into()));
                }
                let b = std::mem::take(&mut s.0);
                s.1.push(b);
                Ok(())
            },
        );
        (state.1, outcome)
    }

    #[test]
    fn full_batches_then_the_short_last_one() {
        let (batches, outcome) = run(input(7, None), 3, None);
        assert!(outcome.is_ok());
        assert_eq!(batches, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
        let (batches, _) = run(input(0, None), 3, None);
        assert!(batches.is_empty(), "an empty source processes nothing");
    }

    #[test]
    fn what_came_before_an_input_error_is_processed_then_the_error() {
        let (batches, outcome) = run(input(9, Some(5)), 3, None);
        assert_eq!(batches, vec![vec![0, 1, 2], vec![3, 4]], "the frames before the error, nothing after it");
        assert!(matches!(outcome, Err(Error::Pipeline(m)) if m == "bad frame 5"));
    }

    #[test]
    fn a_processing_error_stops_at_once() {
        let (batches, outcome) = run(input(9, None), 3, Some(4));
        assert_eq!(batches, vec![vec![0, 1, 2]]);
        assert!(matches!(outcome, Err(Error::Pipeline(m)) if m == "model failed"));
        // After an input error, a failing flush does not hide the input error.
        let (_, outcome) = run(input(9, Some(5)), 3, Some(4));
        assert!(matches!(outcome, Err(Error::Pipeline(m)) if m == "bad frame 5"));
    }
}
