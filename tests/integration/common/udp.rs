//! Apps talking over real UDP on loopback, with time stepped by hand.

use std::time::Duration;

use bevy::{prelude::*, time::TimeUpdateStrategy};
use bevy_netsync::{
    prelude::*,
    transport::{self, ClientSettings, ServerAddresses, ServerSettings},
};

use super::{Player, protocol};

/// One 60 Hz frame.
pub const FRAME: Duration = Duration::from_nanos(16_666_667);

/// A headless App with the test protocol and hand-stepped time.
pub fn app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, NetsyncPlugins::default()))
        .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
    protocol(&mut app);
    app.finish();
    app.cleanup();
    bevy_netsync::single_threaded(&mut app);
    app
}

/// Settings for a server on a free loopback port.
pub fn loopback_server() -> ServerSettings {
    ServerSettings {
        bind: "127.0.0.1:0".into(),
        ..default()
    }
}

/// A server App that gives every connected client a replicated [`Player`].
pub fn server(settings: &ServerSettings) -> (App, ServerAddresses) {
    let mut app = app();
    app.add_observer(
        |event: On<Add, ConnectedClient>,
         clients: Query<&ConnectedClient>,
         mut commands: Commands| {
            let id = clients
                .get(event.entity)
                .map(|c| c.id())
                .unwrap_or_default();
            commands.spawn((Replicated, Player(id)));
        },
    )
    .add_observer(
        |event: On<ClientDisconnected>,
         players: Query<(Entity, &Player)>,
         mut commands: Commands| {
            for (entity, player) in &players {
                if player.0 == event.client_id {
                    commands.entity(entity).despawn();
                }
            }
        },
    );
    let addresses = transport::start_server(app.world_mut(), settings).expect("server starts");
    (app, addresses)
}

/// Unsecure client settings for `server` with a short connect timeout.
pub fn client_settings(server: &ServerAddresses) -> ClientSettings {
    ClientSettings {
        connect_timeout: Duration::from_secs(1),
        ..ClientSettings::unsecure(server.local.to_string())
    }
}

/// A client App connecting with `settings`.
pub fn client(settings: ClientSettings) -> App {
    let mut app = app();
    transport::connect(app.world_mut(), settings).expect("connect starts");
    app
}

/// Updates every App once, in order.
pub fn step(apps: &mut [&mut App]) {
    for app in apps.iter_mut() {
        app.update();
    }
    // Loopback delivery is immediate, but give the kernel a moment anyway.
    std::thread::sleep(Duration::from_micros(200));
}

/// Steps until `done` holds, at most `max` times; returns the steps taken or panics.
pub fn step_until(
    apps: &mut [&mut App],
    max: usize,
    mut done: impl FnMut(&mut [&mut App]) -> bool,
) -> usize {
    for taken in 1..=max {
        step(apps);
        if done(apps) {
            return taken;
        }
    }
    panic!("condition not reached in {max} steps");
}

pub fn state(app: &App) -> ClientState {
    *app.world().resource::<State<ClientState>>().get()
}

pub fn last_disconnect(app: &App) -> Option<DisconnectReason> {
    app.world().resource::<LastDisconnect>().0.clone()
}

pub fn connected_count(app: &mut App) -> usize {
    let world = app.world_mut();
    world.query::<&ConnectedClient>().iter(world).count()
}
