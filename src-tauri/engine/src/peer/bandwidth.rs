//! The congestion controller's estimate, made visible. The estimator lives
//! inside the interceptor chain; wrapping it is the one place its number can
//! be read, right after the two calls that may change it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, PacketReport};

pub struct ReportingEstimator<E> {
    inner: E,
    /// Bits per second, as f64 bits.
    shared: Arc<AtomicU64>,
}

impl<E: BandwidthEstimator> ReportingEstimator<E> {
    pub fn new(inner: E) -> (Self, Arc<AtomicU64>) {
        let shared = Arc::new(AtomicU64::new(inner.target_bitrate().to_bits()));
        (
            ReportingEstimator {
                inner,
                shared: shared.clone(),
            },
            shared,
        )
    }

    fn share(&self) {
        if std::env::var_os("ONAIR_DEBUG_GCC").is_some() { let st = self.inner.stats(); eprintln!("gcc delay {:?} loss {:?} lossfrac {:?}", st.delay_based_bitrate, st.loss_based_bitrate, st.packet_loss); }
        self.shared
            .store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for ReportingEstimator<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.share();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.share();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}
