//! A server message never reaches a client before the replication of the changes made in the
//! same frame: whatever the send interval, the tick rate against the frame rate, or the link.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

use crate::common::{self, *};

/// Announces that `entity` (server bits) now has `Health(health)`.
#[derive(Message, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct Announce {
    entity: u64,
    health: u32,
}

/// The same on the unreliable channel.
#[derive(Message, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
struct AnnounceQuickly(Announce);

/// Server side: spawns and changes made in `Update`, each announced in the same frame.
#[derive(Resource, Default)]
struct Script {
    active: bool,
    frame: u32,
    spawned: Vec<Entity>,
    sent: u32,
}

/// Client side: messages received, and those that came before what they announce.
#[derive(Resource, Default)]
struct Check {
    reliable: u32,
    unreliable: u32,
    too_early: Vec<Announce>,
}

fn announce(
    mut script: ResMut<Script>,
    mut commands: Commands,
    mut healths: Query<&mut Health>,
    mut reliable: MessageWriter<ToClients<Announce>>,
    mut unreliable: MessageWriter<ToClients<AnnounceQuickly>>,
) {
    if !script.active {
        return;
    }
    script.frame += 1;
    let frame = script.frame;
    let mut announced = Vec::new();
    if frame.is_multiple_of(3) {
        let entity = commands.spawn((Replicated, Health(frame))).id();
        script.spawned.push(entity);
        announced.push(Announce {
            entity: entity.to_bits(),
            health: frame,
        });
    }
    if frame.is_multiple_of(5) && !script.spawned.is_empty() {
        // Health only grows, so a client holding the announced value or more is in order.
        let entity = script.spawned[(frame as usize / 5) % script.spawned.len()];
        if let Ok(mut health) = healths.get_mut(entity) {
            health.0 = frame + 1_000_000;
            announced.push(Announce {
                entity: entity.to_bits(),
                health: health.0,
            });
        }
    }
    for message in announced {
        script.sent += 1;
        reliable.write(ToClients {
            mode: SendMode::Broadcast,
            message,
        });
        unreliable.write(ToClients {
            mode: SendMode::Broadcast,
            message: AnnounceQuickly(message),
        });
    }
}

fn check(
    mut reliable: MessageReader<Announce>,
    mut unreliable: MessageReader<AnnounceQuickly>,
    map: Res<ServerEntityMap>,
    healths: Query<&Health>,
    mut check: ResMut<Check>,
) {
    let reliable: Vec<Announce> = reliable.read().copied().collect();
    let unreliable: Vec<Announce> = unreliable.read().map(|quick| quick.0).collect();
    check.reliable += reliable.len() as u32;
    check.unreliable += unreliable.len() as u32;
    for announce in reliable.into_iter().chain(unreliable) {
        let in_order = map
            .to_client(Entity::from_bits(announce.entity))
            .and_then(|copy| healths.get(copy).ok())
            .is_some_and(|health| health.0 >= announce.health);
        if !in_order {
            check.too_early.push(announce);
        }
    }
}

/// Runs the script for 400 frames, lets it settle, and returns what was sent and seen.
fn run(send_interval_ticks: u32, tick_rate_hz: f64, link: LinkConditioner) -> (u32, Check) {
    let protocol = move |app: &mut App| {
        common::protocol(app);
        app.add_server_message::<Announce>(Channel::Reliable)
            .add_server_message::<AnnounceQuickly>(Channel::Unreliable)
            .insert_resource(Time::<Fixed>::from_hz(tick_rate_hz));
    };
    let mut net = TestNet::new(protocol).with_default_link(link).with_seed(12);
    net.server_mut()
        .insert_resource(ServerConfig {
            send_interval_ticks,
            ..default()
        })
        .init_resource::<Script>()
        .add_systems(Update, announce);
    let client = net.add_client_with(|app| {
        app.init_resource::<Check>().add_systems(Update, check);
    });
    // Broadcasts go to the clients connected at the time: start once the client is in.
    net.run(30);
    assert_eq!(client_state(&net, client), ClientState::Connected);
    net.server_mut().world_mut().resource_mut::<Script>().active = true;
    net.run(400);
    net.server_mut().world_mut().resource_mut::<Script>().active = false;
    net.run(180);
    let sent = net.server().world().resource::<Script>().sent;
    let check = net
        .client_mut(client)
        .world_mut()
        .remove_resource::<Check>()
        .unwrap();
    (sent, check)
}

#[test]
fn messages_never_overtake_the_changes_they_announce() {
    let lossy = LinkConditioner::new(40, 10, 0.08)
        .with_duplicate(0.05)
        .with_reorder(0.1);
    // Send every tick or every few; 60 Hz frames against a 60 or a 30 Hz server (then half the
    // frames run no tick at all).
    for (interval, rate) in [(1, 60.0), (2, 60.0), (3, 60.0), (1, 30.0), (2, 30.0)] {
        for link in [LinkConditioner::PERFECT, lossy] {
            let (sent, check) = run(interval, rate, link);
            assert!(
                check.too_early.is_empty(),
                "interval {interval}, {rate} Hz, {link:?}: {} messages came first: {:?}",
                check.too_early.len(),
                &check.too_early[..check.too_early.len().min(5)]
            );
            assert_eq!(
                check.reliable, sent,
                "interval {interval}, {rate} Hz, {link:?}: every reliable message arrives"
            );
            assert!(check.unreliable > sent / 2, "unreliable ones mostly arrive");
        }
    }
}
