//! Netsim-style tests of the NAT bookkeeping (`netstack::flow`) with a fake
//! clock and injected loss: events travel over a simulated lossy, duplicating
//! link (a lost FIN or RST is retransmitted later, as TCP would), and the
//! state machines must stay exact: every action happens once, the flow ends
//! exactly when both halves closed or one side reset, and idle UDP flows
//! expire at their deadline whatever was lost before.

use netstack::flow::{Action, Duration, IdleTable, Instant, Side, TcpHalves};

/// Deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Event {
    ContainerFin,
    HostEof,
    Reset(Side),
}

/// Delivers `events` over a link that loses `loss`% of transmissions and
/// duplicates 10%; a lost event is sent again 200 ms later (fake clock).
/// Returns the actions the state machine asked for, with their times.
fn simulate(seed: u64, loss: u64, events: &[Event]) -> (TcpHalves, Vec<(Action, Instant)>) {
    let mut rng = Rng(seed | 1);
    let mut now = Instant::from_millis(0);
    let mut halves = TcpHalves::new(now);
    let mut queue: Vec<(Instant, Event)> = events
        .iter()
        .enumerate()
        .map(|(i, &e)| (Instant::from_millis(i as i64 * 50), e))
        .collect();
    let mut actions = Vec::new();
    let mut sends = 0;
    while let Some(pos) = (0..queue.len()).min_by_key(|&i| queue[i].0) {
        let (at, ev) = queue.remove(pos);
        now = now.max(at);
        sends += 1;
        assert!(sends < 10_000, "the simulation does not converge");
        if rng.chance(loss) {
            queue.push((now + Duration::from_millis(200), ev));
            continue;
        }
        let copies = if rng.chance(10) { 2 } else { 1 };
        for _ in 0..copies {
            let a = match ev {
                Event::ContainerFin => halves.container_eof(),
                Event::HostEof => halves.host_eof(),
                Event::Reset(side) => halves.reset_by(side),
            };
            if a != Action::None {
                actions.push((a, now));
            }
            halves.activity(now);
        }
    }
    (halves, actions)
}

#[test]
fn graceful_close_under_loss_acts_once_per_direction() {
    for seed in 1..500u64 {
        let loss = seed % 60;
        let order = if seed % 2 == 0 {
            [Event::ContainerFin, Event::HostEof]
        } else {
            [Event::HostEof, Event::ContainerFin]
        };
        let (h, actions) = simulate(seed, loss, &order);
        let kinds: Vec<Action> = actions.iter().map(|a| a.0).collect();
        assert_eq!(kinds.len(), 2, "seed {seed}: {actions:?}");
        assert!(kinds.contains(&Action::ShutdownHost), "seed {seed}");
        assert!(kinds.contains(&Action::CloseContainer), "seed {seed}");
        assert!(h.finished() && h.reset().is_none(), "seed {seed}");
    }
}

#[test]
fn first_delivered_reset_wins_and_silences_the_rest() {
    for seed in 1..500u64 {
        let events = [
            Event::ContainerFin,
            Event::Reset(Side::Host),
            Event::Reset(Side::Container),
            Event::HostEof,
        ];
        let (h, actions) = simulate(seed, seed % 50, &events);
        let resets: Vec<&(Action, Instant)> = actions
            .iter()
            .filter(|a| matches!(a.0, Action::Reset(_)))
            .collect();
        assert_eq!(resets.len(), 1, "seed {seed}: {actions:?}");
        let who = h.reset().expect("reset recorded");
        // The reset goes to the side that did not reset.
        let to = if who == Side::Host {
            Side::Container
        } else {
            Side::Host
        };
        assert_eq!(resets[0].0, Action::Reset(to), "seed {seed}");
        // Nothing after the reset.
        assert_eq!(actions.last().unwrap().0, Action::Reset(to), "seed {seed}");
        assert!(h.finished());
    }
}

#[test]
fn udp_flows_expire_on_the_fake_clock_despite_loss() {
    let timeout = Duration::from_secs(60);
    let dns = Duration::from_secs(10);
    for seed in 1..200u64 {
        let mut rng = Rng(seed);
        let mut table = IdleTable::default();
        let mut last_seen = std::collections::HashMap::new();
        let mut now = Instant::from_millis(0);
        // 2 minutes of traffic in 100 ms steps; each flow sends now and
        // then, and 30% of its datagrams are lost before the stack sees
        // them (so they must not count as activity).
        for _ in 0..1200 {
            now += Duration::from_millis(100);
            for flow in 0..8u32 {
                if flow >= 4 && now > Instant::from_millis(30_000) {
                    continue; // flows 4..8 go quiet after 30 s
                }
                if rng.chance(5) && !rng.chance(30) {
                    let t = if flow % 2 == 0 { timeout } else { dns };
                    table.touch(flow, now, t);
                    last_seen.insert(flow, (now, t));
                }
            }
            for gone in table.expire(now) {
                let (seen, t) = last_seen.remove(&gone).expect("expired a known flow");
                assert!(seen + t <= now, "seed {seed}: flow {gone} expired early");
                assert!(
                    now < seen + t + Duration::from_millis(100),
                    "seed {seed}: flow {gone} expired late"
                );
            }
            if let Some(d) = table.next_deadline() {
                assert!(d > now, "seed {seed}: a due flow was kept");
            }
        }
        // The quiet flows are gone by now (30 s quiet + 60 s timeout < 120 s).
        for flow in 4..8u32 {
            assert!(!last_seen.contains_key(&flow), "seed {seed}: {flow} kept");
        }
    }
}
