//! The bandwidth estimate that the pacer and the encoder follow. It is worked
//! out from transport-wide feedback, which says when each packet arrived or
//! that it never did. A queue building at a bottleneck shows up first as
//! one-way delay that keeps growing, before anything is lost. At that point
//! the estimate steps down to what actually arrived. Loss steps it down too.
//! A clean path lets it climb back slowly. Pure: every instant is a parameter.
//!
//! What the chain reads as its target is the pacing rate:
//! [`PACING_FACTOR`] times the estimate. The encoder fills the estimate,
//! and a keyframe leaves at the faster pacing rate. If it left at the
//! estimate, the frames behind it would wait a quarter of a second, and the
//! viewer's jitter buffer would drop them as too late.
//!
//! Why not the `Gcc` in the rtc crate (0.21)? On livekit-server its loss half
//! counted every audio packet as lost, because LiveKit gives audio no
//! transport-wide sequence number. Its delay half never moved under a
//! 1.2 Mbit/s bottleneck with a 200 ms queue. The estimate fell to the floor
//! and stayed there.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtc::interceptor::{BandwidthEstimator, PacketReport};

/// The pacing rate over the estimate. libwebrtc uses 2.5, and limits
/// retransmissions on their own; here the pacer is all that limits them,
/// and at 2.5 times the estimate the retransmissions of what a full queue
/// dropped kept it full.
pub const PACING_FACTOR: f64 = 1.5;
/// The delay trend is fitted over packets sent in this long.
const TREND_WINDOW: Duration = Duration::from_millis(500);
/// The empty-queue baseline is the least one-way delay seen in this long.
const BASELINE_WINDOW: Duration = Duration::from_secs(10);
/// The received rate is measured over this long...
const RATE_WINDOW: Duration = Duration::from_millis(500);
/// ...and the loss over this long (5 % random loss must not read as 10 %).
const LOSS_WINDOW: Duration = Duration::from_secs(1);
/// A queue longer than this stops the climb...
const QUEUE_MS: f64 = 40.0;
/// ...and is congestion when it still grows this fast (milliseconds of
/// queue per second sent: sending 1.5 % over the bottleneck's rate).
const GROWING_MS_PER_S: f64 = 15.0;
/// Fewer samples than this make no trend.
const TREND_MIN_SAMPLES: usize = 8;
/// Loss over the loss window that is congestion even without a queue (a
/// policer drops without queueing; 10 % random loss on a radio link, which
/// NACK repairs, is not congestion), and below which the path counts as clean.
const LOSS_CONGESTED: f64 = 0.20;
const LOSS_CLEAN: f64 = 0.02;
/// A step down goes to this share of what arrived.
const DECREASE: f64 = 0.85;
/// After a step down, the queue needs time to drain before it is judged again.
const HOLD_AFTER_DECREASE: Duration = Duration::from_millis(600);
/// A clean path regains this share of the estimate each second...
const CLIMB_PER_S: f64 = 0.08;
/// ...or only this much near the rate where the path last became
/// congested, so the estimate overshoots the bottleneck seldom and little.
const CLIMB_NEAR_CAPACITY_PER_S: f64 = 0.03;
/// "Near" is within this share of that rate.
const NEAR_CAPACITY: f64 = 0.10;

pub struct DelayLossEstimate {
    min_bps: f64,
    max_bps: f64,
    target_bps: f64,
    /// Departures are measured from here.
    epoch: Option<Instant>,
    /// (departure, one-way delay in ms plus the clocks' unknown offset) of
    /// packets that arrived, over the trend window.
    trend: VecDeque<(Instant, f64)>,
    /// The same, kept as a running minimum over the baseline window.
    baseline: VecDeque<(Instant, f64)>,
    /// (arrival on the receiver's clock, bytes) over the rate window.
    arrivals: VecDeque<(Duration, usize)>,
    /// (departure, arrived) of every reported packet over the loss window.
    fates: VecDeque<(Instant, bool)>,
    last_step: Option<Instant>,
    hold_until: Option<Instant>,
    /// What arrived when the path last became congested.
    capacity_bps: Option<f64>,
}

impl DelayLossEstimate {
    /// Starts at `max_bps`: the creator's chosen bitrate until the path says otherwise.
    pub fn new(min_bps: f64, max_bps: f64) -> Self {
        DelayLossEstimate {
            min_bps,
            max_bps,
            target_bps: max_bps,
            epoch: None,
            trend: VecDeque::new(),
            baseline: VecDeque::new(),
            arrivals: VecDeque::new(),
            fates: VecDeque::new(),
            last_step: None,
            hold_until: None,
            capacity_bps: None,
        }
    }

    pub fn estimate_bps(&self) -> f64 {
        self.target_bps
    }

    fn record(&mut self, report: &PacketReport) {
        let epoch = *self.epoch.get_or_insert(report.departure);
        self.fates.push_back((report.departure, report.arrived));
        let Some(arrival) = report.arrival.filter(|_| report.arrived) else {
            return;
        };
        self.arrivals.push_back((arrival, report.size));
        let sent_ms = report
            .departure
            .saturating_duration_since(epoch)
            .as_secs_f64()
            * 1000.0;
        let delay_ms = arrival.as_secs_f64() * 1000.0 - sent_ms;
        self.trend.push_back((report.departure, delay_ms));
        while self.baseline.back().is_some_and(|&(_, d)| d >= delay_ms) {
            self.baseline.pop_back();
        }
        self.baseline.push_back((report.departure, delay_ms));
    }

    fn forget_old(&mut self) {
        let Some(&(latest_sent, _)) = self.fates.back() else {
            return;
        };
        let before = |window: Duration| latest_sent.checked_sub(window).unwrap_or(latest_sent);
        let (trend_from, baseline_from, loss_from) = (
            before(TREND_WINDOW),
            before(BASELINE_WINDOW),
            before(LOSS_WINDOW),
        );
        while self.trend.front().is_some_and(|&(t, _)| t < trend_from) {
            self.trend.pop_front();
        }
        while self
            .baseline
            .front()
            .is_some_and(|&(t, _)| t < baseline_from)
        {
            self.baseline.pop_front();
        }
        while self.fates.front().is_some_and(|&(t, _)| t < loss_from) {
            self.fates.pop_front();
        }
        if let Some(&(latest_arrival, _)) = self.arrivals.back() {
            let from = latest_arrival.saturating_sub(RATE_WINDOW);
            while self.arrivals.front().is_some_and(|&(t, _)| t < from) {
                self.arrivals.pop_front();
            }
        }
    }

    /// Bits per second that arrived over the rate window.
    fn received_bps(&self) -> Option<f64> {
        let (first, last) = (self.arrivals.front()?.0, self.arrivals.back()?.0);
        let span = (last - first).as_secs_f64();
        if span < RATE_WINDOW.as_secs_f64() / 2.0 {
            return None;
        }
        let bytes: usize = self.arrivals.iter().map(|&(_, size)| size).sum();
        Some(bytes as f64 * 8.0 / span)
    }

    fn loss(&self) -> f64 {
        let lost = self.fates.iter().filter(|&&(_, arrived)| !arrived).count();
        lost as f64 / self.fates.len().max(1) as f64
    }

    /// How long the queue is now (ms over the baseline), and how fast it
    /// grows (ms per second, the slope of a least-squares line).
    fn queue(&self) -> Option<(f64, f64)> {
        if self.trend.len() < TREND_MIN_SAMPLES {
            return None;
        }
        let base = self.baseline.front()?.1;
        let t0 = self.trend.front()?.0;
        let points: Vec<(f64, f64)> = self
            .trend
            .iter()
            .map(|&(t, d)| (t.saturating_duration_since(t0).as_secs_f64(), d - base))
            .collect();
        let n = points.len() as f64;
        let (mean_t, mean_q) = points
            .iter()
            .fold((0.0, 0.0), |(st, sq), &(t, q)| (st + t / n, sq + q / n));
        let (mut covariance, mut variance) = (0.0, 0.0);
        for &(t, q) in &points {
            covariance += (t - mean_t) * (q - mean_q);
            variance += (t - mean_t) * (t - mean_t);
        }
        let slope = if variance > 0.0 {
            covariance / variance
        } else {
            0.0
        };
        let recent = &points[points.len().saturating_sub(TREND_MIN_SAMPLES)..];
        let now_q = recent.iter().map(|&(_, q)| q).sum::<f64>() / recent.len() as f64;
        Some((now_q, slope))
    }

    fn step(&mut self, now: Instant) {
        let elapsed = self.last_step.map_or(0.0, |t| {
            now.saturating_duration_since(t).as_secs_f64().min(0.5)
        });
        self.last_step = Some(now);
        if self.hold_until.is_some_and(|until| now < until) {
            return;
        }
        let loss = self.loss();
        let queue = self.queue();
        let growing = queue.is_some_and(|(q, slope)| q > QUEUE_MS && slope > GROWING_MS_PER_S);
        if growing || loss > LOSS_CONGESTED {
            let received = self.received_bps().unwrap_or(self.target_bps);
            self.capacity_bps = Some(received);
            self.target_bps = if growing {
                (received * DECREASE).min(self.target_bps)
            } else {
                // Loss without a growing queue: a full one, or a policer, or a
                // lossy link. A step in proportion to the loss, from what
                // got through.
                received.min(self.target_bps) * (1.0 - 0.5 * loss.min(1.0))
            };
            self.hold_until = Some(now + HOLD_AFTER_DECREASE);
            // The trend restarts: the old queue says nothing about the new rate.
            self.trend.clear();
        } else if loss < LOSS_CLEAN && queue.is_some_and(|(q, _)| q < QUEUE_MS) {
            let climb = match self.capacity_bps {
                Some(capacity) if self.target_bps > capacity * (1.0 + NEAR_CAPACITY) => {
                    // Well past it: the bottleneck has gone.
                    self.capacity_bps = None;
                    CLIMB_PER_S
                }
                Some(capacity) if self.target_bps > capacity * (1.0 - NEAR_CAPACITY) => {
                    CLIMB_NEAR_CAPACITY_PER_S
                }
                _ => CLIMB_PER_S,
            };
            self.target_bps *= 1.0 + climb * elapsed;
        }
        self.target_bps = self.target_bps.clamp(self.min_bps, self.max_bps);
    }
}

impl BandwidthEstimator for DelayLossEstimate {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        // Only packets with a transport-wide sequence number are reported on;
        // the others (LiveKit's audio) would read as lost.
        let tracked: Vec<&PacketReport> = reports.iter().filter(|r| r.is_twcc).collect();
        if tracked.is_empty() {
            return;
        }
        for report in tracked {
            self.record(report);
        }
        self.forget_old();
        self.step(now);
    }

    /// The pacing rate, not the estimate: see the module's comment.
    fn target_bitrate(&self) -> f64 {
        self.target_bps * PACING_FACTOR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: usize = 1200;

    /// A sender pacing at the estimate through a bottleneck of `capacity_bps`
    /// with a queue of `queue_ms`, a base delay of `base_ms` (which may
    /// change), feedback every 100 ms. Returns the estimate at each report.
    struct Path {
        t0: Instant,
        sent: Duration,
        /// When the bottleneck's queue empties, on the sender's time line.
        free_at: Duration,
        next_twcc: u16,
        pending: Vec<PacketReport>,
    }

    impl Path {
        fn new() -> Self {
            Path {
                t0: Instant::now(),
                sent: Duration::ZERO,
                free_at: Duration::ZERO,
                next_twcc: 0,
                pending: Vec::new(),
            }
        }

        /// Sends for `seconds` and feeds the estimator; the estimates after each report.
        fn run(
            &mut self,
            estimate: &mut DelayLossEstimate,
            seconds: f64,
            capacity_bps: f64,
            base_ms: u64,
        ) -> Vec<f64> {
            let until = self.sent + Duration::from_secs_f64(seconds);
            let mut next_report = self.sent + Duration::from_millis(100);
            let mut out = Vec::new();
            while self.sent < until {
                let gap = Duration::from_secs_f64(PACKET as f64 * 8.0 / estimate.estimate_bps());
                self.sent += gap;
                let service = Duration::from_secs_f64(PACKET as f64 * 8.0 / capacity_bps);
                let start = self.free_at.max(self.sent);
                // A 200 ms queue: a packet that would wait longer is dropped.
                let arrived = start - self.sent <= Duration::from_millis(200);
                if arrived {
                    self.free_at = start + service;
                }
                self.pending.push(PacketReport {
                    ssrc: 1,
                    id: u64::from(self.next_twcc),
                    rtp_sequence_number: self.next_twcc,
                    is_twcc: true,
                    twcc_sequence_number: self.next_twcc,
                    size: PACKET,
                    arrived,
                    departure: self.t0 + self.sent,
                    arrival: arrived.then(|| start + service + Duration::from_millis(base_ms)),
                    ecn: Default::default(),
                });
                self.next_twcc = self.next_twcc.wrapping_add(1);
                if self.sent >= next_report {
                    estimate.on_reports(self.t0 + self.sent, &std::mem::take(&mut self.pending));
                    out.push(estimate.estimate_bps());
                    next_report += Duration::from_millis(100);
                }
            }
            out
        }
    }

    #[test]
    fn a_bottleneck_brings_the_estimate_under_it_and_holds_it_near() {
        let mut estimate = DelayLossEstimate::new(200_000.0, 3_750_000.0);
        let mut path = Path::new();
        let clean = path.run(&mut estimate, 5.0, 10_000_000.0, 20);
        assert!(clean.iter().all(|&bps| bps == 3_750_000.0), "{clean:?}");
        let capped = path.run(&mut estimate, 20.0, 1_200_000.0, 20);
        // Under the bottleneck within two seconds...
        assert!(capped[20] < 1_200_000.0, "{:?}", &capped[..20]);
        // ...and then near it: not starved, and not over it for long.
        let settled = &capped[50..];
        let mean = settled.iter().sum::<f64>() / settled.len() as f64;
        assert!(
            (800_000.0..=1_250_000.0).contains(&mean),
            "mean {mean}: {settled:?}"
        );
        // The cap lifted: back to the top (slowly past the old bottleneck,
        // then 8 % a second).
        let lifted = path.run(&mut estimate, 30.0, 10_000_000.0, 20);
        assert_eq!(*lifted.last().unwrap(), 3_750_000.0);
    }

    #[test]
    fn a_longer_path_is_not_a_queue() {
        // A route change adds 200 ms for good: the step reads as a queue
        // growing once, then the delay no longer grows. One step down, a
        // hold until the old baseline ages out, and back to the top.
        let mut estimate = DelayLossEstimate::new(200_000.0, 2_000_000.0);
        let mut path = Path::new();
        path.run(&mut estimate, 3.0, 10_000_000.0, 20);
        let mut longer = vec![estimate.estimate_bps()];
        longer.extend(path.run(&mut estimate, 25.0, 10_000_000.0, 220));
        let steps_down = longer.windows(2).filter(|w| w[1] < w[0]).count();
        assert_eq!(steps_down, 1, "{longer:?}");
        assert_eq!(*longer.last().unwrap(), 2_000_000.0);
    }

    #[test]
    fn packets_without_transport_wide_numbers_are_not_loss() {
        let mut estimate = DelayLossEstimate::new(200_000.0, 2_000_000.0);
        let t0 = Instant::now();
        for batch in 0..30u16 {
            let reports: Vec<PacketReport> = (0..20u16)
                .map(|i| {
                    let n = batch * 20 + i;
                    let departure = Duration::from_millis(u64::from(n) * 5);
                    PacketReport {
                        ssrc: 1,
                        id: u64::from(n),
                        rtp_sequence_number: n,
                        // Every fourth is audio, never reported on.
                        is_twcc: n % 4 != 0,
                        twcc_sequence_number: n,
                        size: PACKET,
                        arrived: n % 4 != 0,
                        departure: t0 + departure,
                        arrival: (n % 4 != 0).then(|| departure + Duration::from_millis(30)),
                        ecn: Default::default(),
                    }
                })
                .collect();
            estimate.on_reports(
                t0 + Duration::from_millis(u64::from(batch + 1) * 100),
                &reports,
            );
        }
        assert_eq!(estimate.estimate_bps(), 2_000_000.0);
    }
}
