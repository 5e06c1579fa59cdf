//! Building the Apps of a [`TestNet`](super::TestNet): the crate's plugins (one side or
//! both), the protocol, and time stepped by hand.

use bevy::{prelude::*, time::TimeUpdateStrategy};

use super::{Protocol, STEP};
use crate::NetsyncPlugins;

/// Which of the crate's plugins the Apps of a [`TestNet`](super::TestNet) carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plugins {
    /// All of [`NetsyncPlugins`](crate::NetsyncPlugins) in every App.
    Both,
    /// Only the App's own side's plugin (besides the shared ones).
    OwnSide,
}

/// Which end of a [`TestNet`](super::TestNet) an App is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Server,
    Client,
}

pub(super) fn base_app(protocol: &Protocol, plugins: Plugins, side: Side) -> App {
    let group = NetsyncPlugins::default().build();
    let group = match (plugins, side) {
        (Plugins::Both, _) => group,
        (Plugins::OwnSide, Side::Server) => group.disable::<crate::client::ClientPlugin>(),
        (Plugins::OwnSide, Side::Client) => group.disable::<crate::server::ServerPlugin>(),
    };
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, group))
        .insert_resource(TimeUpdateStrategy::ManualDuration(STEP));
    protocol(&mut app);
    app
}

pub(super) fn finish(app: &mut App) {
    app.finish();
    app.cleanup();
    crate::single_threaded(app);
}
