//! Requests served in rounds. The requests that arrive while a round is in the database wait
//! and are served together by the next one, in one transaction: a lone request is a round of
//! one, and under load the statements a request costs are shared by everyone asking at that
//! moment, so the queue keeps up with many agents on few cores. Nothing waits on a timer: a
//! round takes whoever is waiting when the one before it ends.
//!
//! The guarantees stay the database's: a round's statements lock and check what a single
//! request's did, so rounds of two `mend serve` instances are as safe as two requests were.
//! The desk serves its claims and completions this way, and the server its sign-in checks.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use tracing::error;

/// The most requests one round serves; more wait for the next.
const LARGEST_ROUND: usize = 64;

/// What serves a round of requests of one kind.
pub trait Rounds: Send + Sync + 'static {
    type Ask: Send + 'static;
    type Answer: Send + 'static;
    type Error: From<Interrupted> + Send + 'static;

    /// An answer for each of `asks`, in their order; `Err` when the round failed (its
    /// transaction rolled back), and then each request is tried again alone.
    fn serve(&self, asks: &[Self::Ask]) -> impl Future<Output = Result<Vec<Self::Answer>, Self::Error>> + Send;
}

/// A request was cut off before its round answered it (the process is shutting down); asking
/// again is safe.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request was interrupted before it was answered; ask again")]
pub struct Interrupted;

struct Waiting<R: Rounds> {
    ask: R::Ask,
    answer: oneshot::Sender<Result<R::Answer, R::Error>>,
}

/// Where requests line up for their rounds; the task serving them starts with the first.
pub struct Line<R: Rounds> {
    rounds: Arc<R>,
    line: OnceLock<mpsc::UnboundedSender<Waiting<R>>>,
}

impl<R: Rounds> Line<R> {
    pub fn new(rounds: R) -> Self {
        Self { rounds: Arc::new(rounds), line: OnceLock::new() }
    }

    pub async fn ask(&self, ask: R::Ask) -> Result<R::Answer, R::Error> {
        let line = self.line.get_or_init(|| {
            let (line, waiting) = mpsc::unbounded_channel();
            tokio::spawn(serve_rounds(Arc::clone(&self.rounds), waiting));
            line
        });
        let (answer, answered) = oneshot::channel();
        let ask = match line.send(Waiting { ask, answer }) {
            Ok(()) => match answered.await {
                Ok(answer) => return answer,
                Err(_) => return Err(Interrupted.into()),
            },
            Err(mpsc::error::SendError(waiting)) => waiting.ask,
        };
        // The serving task is gone (it panicked): each request is its own round from now on.
        error!("a line of rounds stopped; serving the request alone");
        alone(&*self.rounds, ask).await
    }
}

async fn alone<R: Rounds>(rounds: &R, ask: R::Ask) -> Result<R::Answer, R::Error> {
    rounds.serve(std::slice::from_ref(&ask)).await?.pop().ok_or_else(|| Interrupted.into())
}

async fn serve_rounds<R: Rounds>(rounds: Arc<R>, mut line: mpsc::UnboundedReceiver<Waiting<R>>) {
    while let Some(first) = line.recv().await {
        let mut round = vec![first];
        while round.len() < LARGEST_ROUND
            && let Ok(next) = line.try_recv()
        {
            round.push(next);
        }
        // Nothing is done for a request that went away meanwhile (its client hung up).
        round.retain(|w| !w.answer.is_closed());
        if round.is_empty() {
            continue;
        }
        let (asks, answers): (Vec<R::Ask>, Vec<_>) = round.into_iter().map(|w| (w.ask, w.answer)).unzip();
        match rounds.serve(&asks).await {
            Ok(results) => {
                for (answer, result) in answers.into_iter().zip(results) {
                    answer.send(Ok(result)).ok();
                }
            }
            Err(e) if asks.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    answer.send(Err(e)).ok();
                }
            }
            // Each request of a failed round is tried alone, so each gets its own answer.
            Err(_) => {
                for (ask, answer) in asks.into_iter().zip(answers) {
                    answer.send(alone(&*rounds, ask).await).ok();
                }
            }
        }
    }
}
