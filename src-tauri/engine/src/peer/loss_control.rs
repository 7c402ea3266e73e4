//! Loss-based bitrate control for WebRTC, from the receiver's reports: back
//! off in proportion to heavy loss, hold through light loss, climb slowly
//! back to what the creator chose when the path is clean. Pure: the client
//! feeds it one reading a second.

/// Below this, loss is noise (or already repaired by NACK and FEC).
const CLEAN: f64 = 0.02;
/// Above this, the path cannot carry what we send.
const CONGESTED: f64 = 0.10;
/// Each clean second regains this much.
const CLIMB: f64 = 1.08;

#[derive(Debug, Clone, PartialEq)]
pub struct LossControl {
    ceiling_kbps: u32,
    floor_kbps: u32,
    target_kbps: f64,
}

/// What a reading changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hold,
    Down(u32),
    Up(u32),
}

impl LossControl {
    pub fn new(ceiling_kbps: u32, floor_kbps: u32) -> Self {
        LossControl {
            ceiling_kbps,
            floor_kbps: floor_kbps.min(ceiling_kbps),
            target_kbps: ceiling_kbps as f64,
        }
    }

    pub fn target_kbps(&self) -> u32 {
        self.target_kbps as u32
    }

    /// One second's worst reported loss (0.0 to 1.0), or None when no
    /// report came (no news is not good news: hold).
    pub fn on_second(&mut self, loss: Option<f64>) -> Step {
        let before = self.target_kbps();
        match loss {
            Some(loss) if loss > CONGESTED => {
                self.target_kbps *= 1.0 - 0.5 * loss.min(1.0);
            }
            Some(loss) if loss < CLEAN => self.target_kbps *= CLIMB,
            _ => return Step::Hold,
        }
        self.target_kbps = self
            .target_kbps
            .clamp(self.floor_kbps as f64, self.ceiling_kbps as f64);
        let after = self.target_kbps();
        match after.cmp(&before) {
            std::cmp::Ordering::Less => Step::Down(after),
            std::cmp::Ordering::Greater => Step::Up(after),
            std::cmp::Ordering::Equal => Step::Hold,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_loss_halves_at_worst_and_stops_at_the_floor() {
        let mut control = LossControl::new(2500, 150);
        assert_eq!(control.on_second(Some(0.2)), Step::Down(2250));
        assert_eq!(control.on_second(Some(1.0)), Step::Down(1125));
        for _ in 0..20 {
            control.on_second(Some(0.5));
        }
        assert_eq!(control.target_kbps(), 150);
        assert_eq!(control.on_second(Some(0.5)), Step::Hold);
    }

    #[test]
    fn light_loss_and_silence_hold_clean_seconds_climb_back_to_the_ceiling() {
        let mut control = LossControl::new(1000, 100);
        control.on_second(Some(0.5));
        assert_eq!(control.target_kbps(), 750);
        assert_eq!(control.on_second(Some(0.05)), Step::Hold);
        assert_eq!(control.on_second(None), Step::Hold);
        assert_eq!(control.on_second(Some(0.0)), Step::Up(810));
        for _ in 0..10 {
            control.on_second(Some(0.01));
        }
        assert_eq!(control.target_kbps(), 1000);
        assert_eq!(control.on_second(Some(0.0)), Step::Hold);
    }
}
