//! Group commit for `serve`: the writes of requests that arrive together go to the database
//! in one transaction, and each request still waits for, and gets, its own outcome.
//!
//! Requests hand their item to one writer task and wait; the writer takes what is waiting at
//! that moment (at most [`MAX_GROUP`]), writes it in one go and answers each. Nothing is
//! answered before its write has committed, so a response never reports what a crash could
//! still undo; under load, one commit serves many requests instead of one each.

use std::future::Future;
use tokio::sync::{mpsc, oneshot};

/// The most items one write takes; more wait for the next.
pub const MAX_GROUP: usize = 64;

type Job<T, R> = (T, oneshot::Sender<R>);

/// The handle requests submit to; cloned into every request's state.
pub struct GroupCommit<T, R> {
    jobs: mpsc::Sender<Job<T, R>>,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            jobs: self.jobs.clone(),
        }
    }
}

/// The writer task is gone (the runtime is shutting down): nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("the database writer has stopped")]
pub struct WriterGone;

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the writer task. `write` gets the items waiting together, in the order they
    /// came, and returns one outcome per item, in the same order.
    pub fn start<F, Fut>(mut write: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send,
    {
        let (jobs, mut waiting) = mpsc::channel::<Job<T, R>>(MAX_GROUP * 16);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(MAX_GROUP);
            while waiting.recv_many(&mut group, MAX_GROUP).await > 0 {
                let (items, answers): (Vec<T>, Vec<oneshot::Sender<R>>) = group.drain(..).unzip();
                let outcomes = write(items).await;
                debug_assert_eq!(outcomes.len(), answers.len());
                for (answer, outcome) in answers.into_iter().zip(outcomes) {
                    // A request that gave up (its client went away) no longer listens.
                    let _ = answer.send(outcome);
                }
            }
        });
        Self { jobs }
    }

    /// Hands `item` to the writer and waits until it is written.
    pub async fn submit(&self, item: T) -> Result<R, WriterGone> {
        let (answer, outcome) = oneshot::channel();
        self.jobs
            .send((item, answer))
            .await
            .map_err(|_| WriterGone)?;
        outcome.await.map_err(|_| WriterGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn items_that_wait_together_are_written_together_and_each_gets_its_own_outcome() {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let doubler = GroupCommit::start(move |items: Vec<u32>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                // Slow enough that the others queue up behind the first write.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                items.into_iter().map(|i| i * 2).collect::<Vec<_>>()
            }
        });
        let tasks: Vec<_> = (0..100u32)
            .map(|i| {
                let d = doubler.clone();
                tokio::spawn(async move { (i, d.submit(i).await.unwrap()) })
            })
            .collect();
        for t in tasks {
            let (i, doubled) = t.await.unwrap();
            assert_eq!(doubled, i * 2);
        }
        let writes = writes.load(Ordering::SeqCst);
        assert!((2..100).contains(&writes), "{writes} writes for 100 items");
    }
}
