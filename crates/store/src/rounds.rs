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
use tracing::{Instrument, Span, error, info_span};

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
    /// The request's span: the round that serves it follows from it, so a trace of the request
    /// leads to the statements that answered it.
    span: Span,
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
        let ask = match line.send(Waiting { ask, answer, span: Span::current() }) {
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
        let span = info_span!("round", kind = std::any::type_name::<R>(), requests = round.len());
        for waiting in &round {
            span.follows_from(&waiting.span);
        }
        serve_round(&*rounds, round).instrument(span).await;
    }
}

async fn serve_round<R: Rounds>(rounds: &R, round: Vec<Waiting<R>>) {
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
                answer.send(alone(rounds, ask).await).ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing::span;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    use super::*;

    /// Echoes its asks and remembers the size of each round; a round of more than one fails when
    /// `fail_together` is set.
    #[derive(Default)]
    struct Echo {
        sizes: Mutex<Vec<usize>>,
        fail_together: bool,
    }

    impl Rounds for Echo {
        type Ask = u32;
        type Answer = u32;
        type Error = Interrupted;

        async fn serve(&self, asks: &[u32]) -> Result<Vec<u32>, Interrupted> {
            self.sizes.lock().unwrap().push(asks.len());
            if self.fail_together && asks.len() > 1 {
                return Err(Interrupted);
            }
            Ok(asks.to_vec())
        }
    }

    #[tokio::test]
    async fn requests_that_arrive_together_share_a_round_and_a_failed_round_serves_each_alone() {
        let line = Line::new(Echo::default());
        let answers = tokio::join!(line.ask(1), line.ask(2), line.ask(3));
        assert_eq!((answers.0.unwrap(), answers.1.unwrap(), answers.2.unwrap()), (1, 2, 3));
        assert_eq!(*line.rounds.sizes.lock().unwrap(), [3], "one round for the three");

        let line = Line::new(Echo { fail_together: true, ..Echo::default() });
        let answers = tokio::join!(line.ask(1), line.ask(2), line.ask(3));
        assert_eq!((answers.0.unwrap(), answers.1.unwrap(), answers.2.unwrap()), (1, 2, 3));
        assert_eq!(*line.rounds.sizes.lock().unwrap(), [3, 1, 1, 1], "each again alone");
    }

    /// Which span followed from which, by name.
    #[derive(Clone, Default)]
    struct FollowsFrom(Arc<Mutex<Vec<(String, String)>>>);

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for FollowsFrom {
        fn on_follows_from(&self, span: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
            let name = |id| ctx.span(id).map(|s| s.name().to_owned()).unwrap_or_default();
            self.0.lock().unwrap().push((name(span), name(follows)));
        }
    }

    /// The process's subscriber, set once: a subscriber set for one thread misses spans while
    /// other tests register the same places without one.
    fn follows_from() -> &'static FollowsFrom {
        static FOLLOWS: OnceLock<FollowsFrom> = OnceLock::new();
        FOLLOWS.get_or_init(|| {
            let follows = FollowsFrom::default();
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(follows.clone()))
                .expect("no other subscriber in this test binary");
            follows
        })
    }

    #[tokio::test]
    async fn a_round_follows_from_the_requests_it_serves() {
        let follows = follows_from();
        let line = Line::new(Echo::default());
        let (a, b) = tokio::join!(
            line.ask(1).instrument(info_span!("claim request")),
            line.ask(2).instrument(info_span!("other request"))
        );
        assert_eq!((a.unwrap(), b.unwrap()), (1, 2));
        let follows = follows.0.lock().unwrap().clone();
        for request in ["claim request", "other request"] {
            assert!(follows.contains(&("round".to_owned(), request.to_owned())), "{request}: {follows:?}");
        }
    }
}
