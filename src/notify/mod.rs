//! Alerts and notifications: rules, the alert lifecycle, the outbox and the channels.
//!
//! - [`actor::Notifier`] subscribes to the bus, evaluates the rules and drives the
//!   [`engine::Engine`]; what it decides is written to `alert_history` and to the outbox
//!   (`notify_deliveries`) in one transaction.
//! - [`dispatch::Dispatcher`] sends what the outbox holds, with retries, a circuit breaker
//!   and a message budget per channel.
//! - [`channel`] speaks to Slack, email, webhooks, DingTalk and Feishu.
//!
//! The dashboard handlers of rules, alerts, silences, channels and deliveries are in
//! `http/api/notify.rs`; the rules they apply (validation, the PATCH merge, channel
//! secrets) are in `service/notify.rs`, which calls [`load_channels`] and [`Notify`].

pub mod actor;
pub mod channel;
pub mod dispatch;
pub mod engine;
pub mod message;
pub mod render;
pub mod rules;

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use atlhyper_actors::messages::Bus;

use crate::config::Settings;
use crate::db::Db;
use crate::secrets::SecretBox;
use channel::ChannelKind;

/// A channel as stored, decrypted and checked.
#[derive(Debug, Clone)]
pub struct LoadedChannel {
    /// Its type.
    pub kind: ChannelKind,
    /// Display name.
    pub name: String,
    /// The enabled flag.
    pub enabled: bool,
    /// The config in clear (never logged, never returned unmasked).
    pub config: serde_json::Value,
    /// What is wrong with the config; empty when valid.
    pub errors: Vec<String>,
    /// When it was last changed.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl LoadedChannel {
    /// The seed's `IsEffective`: enabled **and** valid.
    pub fn effective(&self) -> bool {
        self.enabled && self.errors.is_empty()
    }

    /// A type that has never been configured.
    pub fn unconfigured(kind: ChannelKind) -> Self {
        Self {
            kind,
            name: kind.default_name().to_string(),
            enabled: false,
            config: serde_json::json!({}),
            errors: vec!["not configured".to_string()],
            updated_at: None,
        }
    }
}

/// Every channel type, configured or not, decrypted and validated. A config that cannot be
/// decrypted (a changed secret key) is reported as invalid, never used.
pub async fn load_channels(
    db: &Db,
    secrets: &SecretBox,
) -> Result<Vec<LoadedChannel>, crate::db::DbError> {
    let rows = db.notify().list_channels().await?;
    let mut out: Vec<LoadedChannel> = ChannelKind::ALL
        .iter()
        .map(|k| LoadedChannel::unconfigured(*k))
        .collect();
    for row in rows {
        let Some(kind) = ChannelKind::parse(&row.type_) else {
            continue;
        };
        let (config, errors) = match secrets.decrypt(&row.config) {
            Ok(clear) => match serde_json::from_str::<serde_json::Value>(&clear) {
                Ok(v) => {
                    let errors = channel::validate(kind, &v);
                    (v, errors)
                }
                Err(_) => (
                    serde_json::json!({}),
                    vec!["stored config is not JSON".to_string()],
                ),
            },
            Err(_) => (
                serde_json::json!({}),
                vec!["stored config cannot be decrypted (was the secret key changed?)".to_string()],
            ),
        };
        if let Some(slot) = out.iter_mut().find(|c| c.kind == kind) {
            *slot = LoadedChannel {
                kind,
                name: row.name,
                enabled: row.enabled,
                config,
                errors,
                updated_at: Some(crate::db::from_db(row.updated_at)),
            };
        }
    }
    Ok(out)
}

/// The one stored channel of type `kind`, decrypted and validated, or
/// [`LoadedChannel::unconfigured`] when it has never been set.
pub async fn load_channel(
    db: &Db,
    secrets: &SecretBox,
    kind: ChannelKind,
) -> Result<LoadedChannel, crate::db::DbError> {
    let all = load_channels(db, secrets).await?;
    Ok(all
        .into_iter()
        .find(|c| c.kind == kind)
        .unwrap_or_else(|| LoadedChannel::unconfigured(kind)))
}

/// The dispatcher's breaker and budget state, by channel type.
pub type HealthByChannel = HashMap<String, dispatch::ChannelHealth>;

/// Handles to the notifier actors.
#[derive(Clone, Default)]
pub struct Notify {
    notifier: Option<Addr<actor::Notifier>>,
    dispatcher: Option<Addr<dispatch::Dispatcher>>,
    /// Replicas: a reload is relayed, so that the leader (wherever it runs) reloads too.
    hub: Option<crate::hub::Hub>,
}

impl Notify {
    /// Starts both actors, subscribed to the bus. Runs inside the actix System.
    ///
    /// Replicas: both run on every replica but act only on the leader; the notifier reads
    /// every cluster's inputs then ([`crate::hub::Hub::leader_bus`]) and rebuilds its
    /// alert state from the database whenever it becomes the leader.
    pub fn start(
        db: &Db,
        bus: &Bus,
        settings: &Arc<Settings>,
        secrets: &Arc<SecretBox>,
        hub: &crate::hub::Hub,
        registry: &Addr<atlhyper_actors::registry::Registry>,
    ) -> Self {
        let leader = hub.roles().watch_leader();
        let dispatcher = dispatch::start(db, settings, secrets, leader.clone());
        let notifier = actor::start(
            db,
            &hub.leader_bus(bus),
            settings,
            secrets,
            dispatcher.clone(),
            leader,
            hub.roles().is_replicated().then(|| registry.clone()),
        );
        Self {
            notifier: Some(notifier),
            dispatcher: Some(dispatcher),
            hub: hub.link().is_some().then(|| hub.clone()),
        }
    }

    /// Rules, silences or channels changed: both actors reload them. Returns once the
    /// notifier has applied them.
    pub async fn reload(&self) {
        if let Some(hub) = &self.hub {
            hub.relay(crate::hub::Relay::NotifyReload);
        }
        self.reload_here().await;
    }

    /// [`Notify::reload`] on this replica only (a relayed reload).
    pub async fn reload_here(&self) {
        if let Some(d) = &self.dispatcher {
            let _ = d.send(dispatch::Reload).await;
        }
        if let Some(n) = &self.notifier {
            let (tx, rx) = oneshot::channel();
            if n.send(actor::Reload { done: Some(tx) }).await.is_ok() {
                let _ = rx.await;
            }
        }
    }

    /// Waits until everything received so far is evaluated and written, and the
    /// dispatcher has looked at the outbox (tests, shutdown).
    pub async fn flush(&self) {
        if let Some(n) = &self.notifier {
            let (tx, rx) = oneshot::channel();
            if n.send(actor::Flush { done: tx }).await.is_ok() {
                let _ = rx.await;
            }
        }
        if let Some(d) = &self.dispatcher {
            let _ = d.send(dispatch::Kick).await;
        }
    }

    /// The breaker and budget state of every channel; `None` when the dispatcher is not
    /// running or does not answer.
    pub async fn channel_health(&self) -> Option<HealthByChannel> {
        self.dispatcher()?.send(dispatch::GetHealth).await.ok()
    }

    /// The dispatcher, for test sends through the channels' breakers.
    pub fn dispatcher(&self) -> Option<&Addr<dispatch::Dispatcher>> {
        self.dispatcher.as_ref()
    }
}
