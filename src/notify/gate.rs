//! A send gate: the platform's rate limits for pushes, with interactive replies
//! first. Pushes wait for a token (evenly spaced, `rate` a second overall, no
//! bursts; at most one a second to the same chat; none while the platform asked
//! us to pause);
//! interactive replies take their token at once, even into debt, so pushes slow
//! down behind them and never the other way round.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct Gate {
    rate: f64,
    per_chat: Duration,
    state: Mutex<State>,
}

struct State {
    tokens: f64,
    at: Instant,
    paused_until: Option<Instant>,
    chats: HashMap<String, Instant>,
}

impl Gate {
    /// `rate` sends a second overall, evenly spaced, and at most one per
    /// `per_chat` to one chat.
    pub fn new(rate: u32, per_chat: Duration) -> Gate {
        let rate = f64::from(rate.max(1));
        Gate {
            rate,
            per_chat,
            state: Mutex::new(State {
                tokens: 1.0,
                at: Instant::now(),
                paused_until: None,
                chats: HashMap::new(),
            }),
        }
    }

    fn refill(&self, s: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
        // At most one token in hand: pushes never burst above the rate.
        s.tokens = (s.tokens + elapsed * self.rate).min(1.0);
        s.at = now;
    }

    /// An interactive reply is going out: it takes a token now.
    pub fn interactive(&self) {
        let mut s = self.state.lock().expect("not poisoned");
        self.refill(&mut s, Instant::now());
        s.tokens = (s.tokens - 1.0).max(-self.rate);
    }

    /// The platform asked to slow down: no push goes before `wait` has passed.
    pub fn pause(&self, wait: Duration) {
        let mut s = self.state.lock().expect("not poisoned");
        let until = Instant::now() + wait;
        if s.paused_until.is_none_or(|p| p < until) {
            s.paused_until = Some(until);
        }
    }

    /// Waits until a push to `chat` may go, and takes its token.
    pub async fn push(&self, chat: &str) {
        loop {
            let wait = {
                let mut s = self.state.lock().expect("not poisoned");
                let now = Instant::now();
                self.refill(&mut s, now);
                let paused = s.paused_until.filter(|p| *p > now);
                let chat_free = s
                    .chats
                    .get(chat)
                    .map(|t| *t + self.per_chat)
                    .filter(|t| *t > now);
                if let Some(until) = paused.or(chat_free) {
                    until - now
                } else if s.tokens >= 1.0 {
                    s.tokens -= 1.0;
                    s.chats.insert(chat.to_string(), now);
                    if s.chats.len() > 10_000 {
                        let per_chat = self.per_chat;
                        s.chats.retain(|_, t| *t + per_chat > now);
                    }
                    return;
                } else {
                    Duration::from_secs_f64((1.0 - s.tokens) / self.rate)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pushes_are_spaced_at_the_rate_without_bursts() {
        let gate = Gate::new(10, Duration::from_secs(1));
        let start = Instant::now();
        let mut times = Vec::new();
        for i in 0..30 {
            gate.push(&format!("chat-{i}")).await;
            times.push(start.elapsed());
        }
        // The first at once, then one every 100 ms: never more than 10 in a second.
        assert!(times[29] >= Duration::from_millis(2890), "{:?}", times[29]);
        assert!(times[29] < Duration::from_millis(3000), "{:?}", times[29]);
        for w in times.windows(11) {
            assert!(w[10] - w[0] >= Duration::from_millis(990), "{w:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_chat_gets_at_most_one_push_a_second() {
        let gate = Gate::new(100, Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..3 {
            gate.push("chat").await;
        }
        assert!(start.elapsed() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_push() {
        let gate = Gate::new(100, Duration::ZERO);
        gate.pause(Duration::from_secs(5));
        let start = Instant::now();
        gate.push("a").await;
        gate.push("b").await;
        assert!(start.elapsed() >= Duration::from_secs(5));
        assert!(start.elapsed() < Duration::from_millis(5100));
    }

    #[tokio::test(start_paused = true)]
    async fn interactive_replies_go_first() {
        let gate = Gate::new(10, Duration::ZERO);
        for i in 0..10 {
            gate.push(&i.to_string()).await;
        }
        // The bucket is empty; five replies go out anyway, and the next push
        // waits for their tokens as well as its own: 0.6 s instead of 0.1 s.
        for _ in 0..5 {
            gate.interactive();
        }
        let start = Instant::now();
        gate.push("next").await;
        assert!(
            start.elapsed() >= Duration::from_millis(590),
            "{:?}",
            start.elapsed()
        );
    }
}
