//! Instance handlers (docs/protocol.md §12.2) and commands (§12.3): handlers served on plain NATS
//! subscriptions rather than micro endpoints — one subscription per instance on
//! `cirata.extensions.<P>.instance.<I>.>` without a queue group, one per command in the queue group
//! `commands` — and answered like endpoints (`handler.rs`). The registry (`service.rs`) starts them when
//! the run starts and moves them with the services at a renewal.

use std::sync::{Arc, Mutex};

use async_nats::{Client, Message, Subscriber};
use futures::StreamExt;
use symphony_protocol::manifest::{CommandSpec, Manifest, validate_handler_name};
use symphony_protocol::{ErrorCode, KeyId, subjects};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{Error, Result};
use crate::handler::{self, DynHandler, Request};

/// A command as it was added.
struct CommandDef {
    name: String,
    description: String,
    handler: Arc<DynHandler>,
}

/// The handlers, in the order they were first added (the manifest's order).
#[derive(Default)]
struct Table {
    instance_handlers: Vec<(String, Arc<DynHandler>)>,
    commands: Vec<CommandDef>,
}

/// The instance handlers and commands of one extension, shared by its registry and the request loops
/// (which look a handler up per request, so a replaced handler takes over at once).
#[derive(Default)]
pub(crate) struct Listeners {
    table: Arc<Mutex<Table>>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.table.lock().expect("listener lock");
        f.debug_struct("Listeners")
            .field(
                "instance_handlers",
                &table
                    .instance_handlers
                    .iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>(),
            )
            .field(
                "commands",
                &table.commands.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Listeners {
    /// Adds (or replaces) instance handler `name` (1-64 of `[A-Za-z0-9_-]`, `invalid_endpoint` otherwise).
    pub(crate) fn add_instance_handler(&self, name: &str, handler: Arc<DynHandler>) -> Result<()> {
        validate_handler_name("instance handler", name).map_err(Error::Invalid)?;
        let mut table = self.table.lock().expect("listener lock");
        match table.instance_handlers.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = handler,
            None => table.instance_handlers.push((name.to_owned(), handler)),
        }
        Ok(())
    }

    /// Adds (or replaces) command `name`, with the rule of
    /// [`add_instance_handler`](Self::add_instance_handler).
    pub(crate) fn add_command(
        &self,
        name: &str,
        description: &str,
        handler: Arc<DynHandler>,
    ) -> Result<()> {
        validate_handler_name("command", name).map_err(Error::Invalid)?;
        let mut table = self.table.lock().expect("listener lock");
        let def = CommandDef {
            name: name.to_owned(),
            description: description.to_owned(),
            handler,
        };
        match table.commands.iter_mut().find(|c| c.name == name) {
            Some(slot) => *slot = def,
            None => table.commands.push(def),
        }
        Ok(())
    }

    /// Whether anything is to be served.
    pub(crate) fn is_empty(&self) -> bool {
        let table = self.table.lock().expect("listener lock");
        table.instance_handlers.is_empty() && table.commands.is_empty()
    }

    /// Declares the commands and instance handlers in `manifest`.
    pub(crate) fn declare(&self, manifest: &mut Manifest) {
        let table = self.table.lock().expect("listener lock");
        manifest.instance_handlers = table
            .instance_handlers
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        manifest.commands = table
            .commands
            .iter()
            .map(|c| CommandSpec {
                name: c.name.clone(),
                description: c.description.clone(),
            })
            .collect();
    }

    /// Subscribes everything there is to serve on `on` and starts a request loop per subscription; the
    /// loops end when `drain` turns `true` (after answering what nats-server routed to them before) or
    /// the connection closes. Then waits for nats-server to have the subscriptions (a round trip).
    pub(crate) async fn start(
        &self,
        target: &Target,
        on: &Client,
        drain: impl Fn() -> watch::Receiver<bool>,
    ) -> Result<Vec<JoinHandle<()>>> {
        let (has_handlers, commands) = {
            let table = self.table.lock().expect("listener lock");
            let commands: Vec<String> = table.commands.iter().map(|c| c.name.clone()).collect();
            (!table.instance_handlers.is_empty(), commands)
        };
        let mut loops = Vec::new();
        if has_handlers {
            let subject = format!(
                "{}.>",
                subjects::instance_prefix(&target.prefix, &target.instance)
            );
            let sub = on
                .subscribe(subject.clone())
                .await
                .map_err(|e| subscribe_failed(&subject, &e))?;
            loops.push((sub, Route::InstanceHandler));
        }
        for name in commands {
            let subject = subjects::command_subject(&target.prefix, &name);
            let sub = on
                .queue_subscribe(subject.clone(), subjects::COMMANDS_QUEUE.to_owned())
                .await
                .map_err(|e| subscribe_failed(&subject, &e))?;
            loops.push((sub, Route::Command(name)));
        }
        if !loops.is_empty() {
            crate::service::round_trip(on).await;
        }
        Ok(loops
            .into_iter()
            .map(|(sub, route)| {
                tokio::spawn(serve(
                    sub,
                    Served {
                        route,
                        table: self.table.clone(),
                        target: target.clone(),
                        on: on.clone(),
                    },
                    drain(),
                ))
            })
            .collect())
    }
}

fn subscribe_failed(subject: &str, e: &dyn std::fmt::Display) -> Error {
    Error::Service {
        name: subject.to_owned(),
        detail: format!("could not subscribe: {e}"),
    }
}

/// Whose subjects the listeners serve, and what their handlers get.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) prefix: String,
    pub(crate) instance: KeyId,
    /// The session's connection, which handlers get (`Request::nc`).
    pub(crate) nc: Client,
    /// The platform's public caller-signing key.
    pub(crate) caller_key: Option<Arc<str>>,
}

/// Which handler a subscription's messages go to.
#[derive(Clone)]
enum Route {
    /// The instance subscription: the subject's last token names the handler.
    InstanceHandler,
    /// One command's subscription.
    Command(String),
}

/// What one request loop serves.
#[derive(Clone)]
struct Served {
    route: Route,
    table: Arc<Mutex<Table>>,
    target: Target,
    /// The connection the subscription lives on: replies go out on it.
    on: Client,
}

impl Served {
    /// The handler for `subject` and its name.
    fn handler(&self, subject: &str) -> (String, Option<Arc<DynHandler>>) {
        let table = self.table.lock().expect("listener lock");
        match &self.route {
            Route::InstanceHandler => {
                let name = subject.rsplit('.').next().unwrap_or_default().to_owned();
                let handler = table
                    .instance_handlers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, h)| h.clone());
                (name, handler)
            }
            Route::Command(name) => {
                let handler = table
                    .commands
                    .iter()
                    .find(|c| c.name == *name)
                    .map(|c| c.handler.clone());
                (name.clone(), handler)
            }
        }
    }
}

/// Reads requests until the subscription ends; each runs in its own task. When `drain` turns `true`
/// the subscription is drained: every request nats-server routed to it before the unsubscribe is still
/// answered, then the loop ends.
async fn serve(mut sub: Subscriber, served: Served, mut drain: watch::Receiver<bool>) {
    let mut in_flight = JoinSet::new();
    let mut draining = false;
    loop {
        tokio::select! {
            message = sub.next() => {
                let Some(message) = message else { break };
                in_flight.spawn(answer(message, served.clone()));
                while in_flight.try_join_next().is_some() {}
            }
            changed = drain.changed(), if !draining => {
                draining = true;
                if changed.is_ok() && *drain.borrow() && sub.drain().await.is_err() {
                    break;
                }
            }
        }
    }
    while in_flight.join_next().await.is_some() {}
}

async fn answer(message: Message, served: Served) {
    let (name, handler) = served.handler(&message.subject);
    let reply = match handler {
        Some(handler) => {
            let req = Request::new(
                &message,
                served.target.nc.clone(),
                served.target.caller_key.clone(),
            );
            match handler::outcome(&handler, req).await {
                Ok(body) => (None, body),
                Err(why) => {
                    let (headers, body) = handler::failure_reply(&why);
                    (Some(headers), body)
                }
            }
        }
        None => {
            let (headers, body) = handler::error_reply(
                ErrorCode::NotFound,
                404,
                &format!("this instance has no handler named {name:?}"),
            );
            (Some(headers), body)
        }
    };
    let Some(to) = message.reply else {
        // A plain publish: the handler ran, nobody waits for the answer.
        return;
    };
    let sent = match reply {
        (None, body) => served.on.publish(to, body).await,
        (Some(headers), body) => served.on.publish_with_headers(to, headers, body).await,
    };
    if let Err(e) = sent {
        tracing::debug!(subject = %message.subject, error = %e, "could not send the reply");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Arc<DynHandler> {
        handler::erase(|_req: Request| async { Ok::<_, crate::HandlerError>("") })
    }

    #[test]
    fn names_follow_the_handler_rule_and_a_repeat_replaces() {
        let listeners = Listeners::default();
        for bad in ["", "a.b", "a b", "a>", &"x".repeat(65)] {
            let e = listeners.add_instance_handler(bad, noop()).unwrap_err();
            assert_eq!(
                e.server_error().map(|b| b.code),
                Some(ErrorCode::InvalidEndpoint),
                "{bad:?}"
            );
            let e = listeners.add_command(bad, "", noop()).unwrap_err();
            assert_eq!(
                e.server_error().map(|b| b.code),
                Some(ErrorCode::InvalidEndpoint),
                "{bad:?}"
            );
        }
        assert!(listeners.is_empty());
        listeners
            .add_instance_handler("local-status", noop())
            .unwrap();
        listeners.add_instance_handler("b_2", noop()).unwrap();
        listeners
            .add_instance_handler("local-status", noop())
            .unwrap();
        listeners.add_command("reindex", "Rebuild", noop()).unwrap();
        listeners
            .add_command("reindex", "Rebuild the index", noop())
            .unwrap();
        let mut m = crate::Extension::new("X", "x").manifest();
        listeners.declare(&mut m);
        assert_eq!(m.instance_handlers, ["local-status", "b_2"]);
        assert_eq!(
            m.commands,
            [CommandSpec {
                name: "reindex".into(),
                description: "Rebuild the index".into()
            }]
        );
        m.validate().expect("a valid manifest");
    }
}
