//! The session's side of the creator's platform: runs the platform flow at
//! Go Live (with the journal that makes it crash-safe), polls the status
//! hook while live, and ends the platform's session once at the end.

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::cancel::Cancel;

use crate::destination::Destination;
use crate::error::{ErrorCode, OnairError};
use crate::events::{Event, EventSink, HealthCode};
use crate::platform::client::HookClient;
use crate::platform::flow::{Declared, Flow, Next, Obtained, Step};
use crate::platform::hooks::{Context, Hook, PlatformHooks, READ_URL};
use crate::platform::status::{Reading, StatusPoller};
use crate::platform::{check_reachable, ingest_key_account, KeptIngest, PlatformPlan};

/// Readings in a row that must say "not live" before the creator is told
/// (a platform takes a moment to notice a new stream).
const NOT_LIVE_READINGS: u32 = 2;

pub struct PlatformSide {
    flow: Option<Flow>,
    ctx: Context,
    poller: Option<StatusPoller>,
    readings_tx: Sender<Reading>,
    pub readings: Receiver<Reading>,
    /// The sink counts viewers itself (LiveKit presence wins).
    presence: bool,
    not_live_streak: u32,
    disagreeing: bool,
    last: (Option<bool>, Option<u32>),
}

impl PlatformSide {
    pub fn new() -> Self {
        let (readings_tx, readings) = unbounded();
        PlatformSide {
            flow: None,
            ctx: Context::default(),
            poller: None,
            readings_tx,
            readings,
            presence: false,
            not_live_streak: 0,
            disagreeing: false,
            last: (None, None),
        }
    }

    /// Preflight, then the platform's part of Go Live: end what a crash left
    /// open, start (clearing a stuck session once), get the token or key.
    pub fn go_live(
        &mut self,
        plan: &PlatformPlan,
        destination: &Destination,
        events: &dyn EventSink,
        cancel: &Cancel,
    ) -> Result<Obtained, OnairError> {
        let hooks = &plan.hooks;
        check_templates(hooks, plan)?;
        crate::platform::client::check_secret_transport(hooks, &plan.destination)?;
        let url_from_platform = [&hooks.token, &hooks.ingress]
            .into_iter()
            .flatten()
            .any(|h| h.read.contains_key(READ_URL));
        if !url_from_platform {
            if let Destination::Rtmp(url) | Destination::LiveKit(url) | Destination::Whip(url) =
                destination
            {
                let url = url.clone();
                cancel
                    .run_blocking("onair-reach", move || check_reachable(&url), |_| {})
                    .unwrap_or_else(|| Err(stopped()))?;
            }
        }
        let account = ingest_key_account(&plan.destination);
        let kept = match hooks.ingress {
            Some(_) => plan.keychain.get(&account).map_err(keychain_error)?,
            None => None,
        }
        .and_then(|stored| KeptIngest::from_secret(&stored));
        let declared = Declared {
            start: hooks.start.is_some(),
            end: hooks.end.is_some(),
            token: hooks.token.is_some(),
            ingress: hooks.ingress.is_some() && kept.is_none(),
        };
        let stale = plan
            .journal
            .stale(&plan.destination)
            .map(|entry| entry.captures);
        let mut flow = Flow::new(declared, stale);
        self.ctx = Context {
            vars: hooks.vars.clone(),
            secret: plan.bearer.clone(),
        };
        let client = HookClient::new()?.cancelled_by(cancel.clone());
        let mut next = flow.begin();
        let outcome = loop {
            let step = match next {
                Next::Call(step) => step,
                Next::Ready => break Ok(flow.obtained()),
                Next::Failed(e) => break Err(e),
            };
            let hook = hook_for(hooks, step).expect("the flow calls declared hooks only");
            let ctx = match (step, flow.stale_captures()) {
                (Step::EndStale, Some(stale)) => self.with_vars(stale),
                _ => self.ctx.clone(),
            };
            let answer = client.call(hook, &ctx);
            if cancel.is_cancelled() {
                flow.on_cancelled(step);
                if flow.end_owed() {
                    remember(plan, &flow);
                }
                break Err(stopped());
            }
            let answered = answer.is_ok();
            next = flow.on_answer(step, answer);
            if step == Step::EndStale && answered {
                plan.journal.clear(&plan.destination);
            }
            self.ctx.vars.extend(flow.captures());
            if step == Step::Start && flow.end_owed() {
                remember(plan, &flow);
            }
            for note in flow.take_notes() {
                health(events, HealthCode::PlatformSession, note);
            }
        };
        if outcome.is_ok() && !declared.start && flow.end_owed() {
            remember(plan, &flow);
        }
        self.flow = Some(flow);
        let mut obtained = outcome?;
        if let Some(url) = &obtained.url {
            // Checked before anything is kept: a refused server never
            // becomes the home of a kept key.
            destination.from_platform(url)?;
        }
        // The token will go to the server the platform named (RTMP ingest
        // URLs carry their key in clear by design and are not checked).
        if let (Some(url), Some(_)) = (&obtained.url, &obtained.token) {
            crate::net::policy::answered_url_may_carry_secret(url, "Your platform's answer")?;
        }
        match (&obtained.key, &obtained.url, kept) {
            // Asked for once: the next Go Live uses the same key, with the
            // server it was issued for.
            (Some(key), Some(url), _) if declared.ingress => {
                let fresh = KeptIngest {
                    url: url.clone(),
                    key: key.clone(),
                };
                plan.keychain
                    .set(&account, &fresh.to_secret())
                    .map_err(keychain_error)?;
            }
            (None, _, Some(kept)) => {
                obtained.url = Some(kept.url);
                obtained.key = Some(kept.key);
            }
            _ => {}
        }
        Ok(obtained)
    }

    /// A kept ingest key the server refused is forgotten, so the next Go
    /// Live asks the platform for a new one.
    pub fn on_failure(&self, plan: &PlatformPlan, error: &OnairError) {
        if error.code == ErrorCode::KeyRejected && plan.hooks.ingress.is_some() {
            let _ = plan.keychain.delete(&ingest_key_account(&plan.destination));
        }
    }

    fn with_vars(&self, extra: &std::collections::BTreeMap<String, String>) -> Context {
        let mut ctx = self.ctx.clone();
        ctx.vars.extend(extra.clone());
        ctx
    }

    /// Polls the status hook while live; the first reading comes at once.
    pub fn watch_status(&mut self, plan: &PlatformPlan, presence: bool, events: &dyn EventSink) {
        let Some(hook) = plan.hooks.status.clone() else {
            return;
        };
        self.presence = presence;
        let tx = self.readings_tx.clone();
        match StatusPoller::start(hook, self.ctx.clone(), true, move |r| {
            let _ = tx.send(r);
        }) {
            Ok(poller) => self.poller = Some(poller),
            Err(e) => events.emit(Event::Platform {
                live: None,
                viewers: None,
                stale: true,
                detail: Some(e.message),
                destination: None,
            }),
        }
    }

    pub fn on_reading(&mut self, reading: Reading, events: &dyn EventSink) {
        let (live, viewers) = match reading {
            Reading::Stale { detail } => {
                events.emit(Event::Platform {
                    live: self.last.0,
                    viewers: self.last.1,
                    stale: true,
                    detail: Some(detail),
                    destination: None,
                });
                return;
            }
            Reading::Status { live, viewers } => (live, viewers),
        };
        self.last = (live, viewers);
        events.emit(Event::Platform {
            live,
            viewers,
            stale: false,
            detail: None,
            destination: None,
        });
        if let (false, Some(count)) = (self.presence, viewers) {
            events.emit(Event::Viewers {
                count,
                destination: None,
                total: None,
            });
        }
        match live {
            Some(false) => {
                self.not_live_streak += 1;
                if self.not_live_streak >= NOT_LIVE_READINGS && !self.disagreeing {
                    self.disagreeing = true;
                    health(
                        events,
                        HealthCode::PlatformNotLive,
                        "You are sending, but your platform says the stream is not live. Check the platform's dashboard: viewers may not see you.".into(),
                    );
                }
            }
            Some(true) => {
                self.not_live_streak = 0;
                if std::mem::take(&mut self.disagreeing) {
                    health(
                        events,
                        HealthCode::PlatformLive,
                        "Your platform shows the stream live again.".into(),
                    );
                }
            }
            None => {}
        }
    }

    /// Stops polling and ends the platform's session, once, if one is owed.
    pub fn end(&mut self, plan: &PlatformPlan, events: &dyn EventSink) {
        self.poller = None;
        let Some(flow) = self.flow.as_mut() else {
            return;
        };
        let Some(step) = flow.teardown() else {
            return;
        };
        let hook = hook_for(&plan.hooks, step).expect("end is owed only when declared");
        let result = HookClient::new()
            .map_err(|e| crate::platform::flow::CallFailure {
                status: None,
                detail: e.message,
            })
            .and_then(|client| client.call(hook, &self.ctx));
        match result {
            Ok(_) => plan.journal.clear(&plan.destination),
            // The platform answered: nothing to end later.
            Err(f) if f.status.is_some_and(|s| s < 500) => {
                plan.journal.clear(&plan.destination);
                health(
                    events,
                    HealthCode::PlatformSession,
                    crate::platform::flow::failure(step, &f).message,
                );
            }
            Err(f) => health(
                events,
                HealthCode::PlatformSession,
                format!(
                    "{} Onair will end that session the next time you go live.",
                    crate::platform::flow::failure(step, &f).message
                ),
            ),
        }
    }
}

/// What a step interrupted by Stop returns; the runner reads Stop, not this.
fn stopped() -> OnairError {
    OnairError::internal("stopped before the platform was ready")
}

fn keychain_error(e: crate::keys::KeychainError) -> OnairError {
    crate::keys::KeysError::from(e).into()
}

fn hook_for(hooks: &PlatformHooks, step: Step) -> Option<&Hook> {
    match step {
        Step::Start => hooks.start.as_ref(),
        Step::Token => hooks.token.as_ref(),
        Step::Ingress => hooks.ingress.as_ref(),
        Step::Status => hooks.status.as_ref(),
        Step::EndStale | Step::ClearConflict | Step::End => hooks.end.as_ref(),
    }
}

fn remember(plan: &PlatformPlan, flow: &Flow) {
    // Without the journal a crash could leave the session stuck; going live
    // is still right, so a failure to write is not fatal.
    let _ = plan.journal.record(&plan.destination, &flow.captures());
}

fn health(events: &dyn EventSink, code: HealthCode, message: String) {
    events.emit(Event::health(code, message));
}

/// Preflight for the declarations: every template fills in with the vars,
/// the names the hooks read, and the bearer.
fn check_templates(hooks: &PlatformHooks, plan: &PlatformPlan) -> Result<(), OnairError> {
    let mut ctx = Context {
        vars: hooks.vars.clone(),
        secret: plan.bearer.clone(),
    };
    for hook in hooks.declared() {
        for name in hook.read.keys() {
            ctx.vars.entry(name.clone()).or_insert_with(|| "x".into());
        }
    }
    for hook in hooks.declared() {
        hook.render(&ctx).map_err(|e| {
            OnairError::new(
                ErrorCode::InvalidDestination,
                format!(
                    "{}'s platform hooks cannot be filled in: {e}. Fix the hooks file and add the destination again.",
                    plan.destination
                ),
            )
        })?;
    }
    Ok(())
}
