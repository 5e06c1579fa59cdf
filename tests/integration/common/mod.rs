//! Protocol and helpers shared by the integration tests.

#![allow(dead_code)]

pub mod authority;
pub mod orbit;
pub mod shooting;
pub mod transforms;
pub mod udp;

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::TestNet};
use serde::{Deserialize, Serialize};

#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Health(pub u32);

#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Position(pub Vec3);

/// Names another entity; mapped on the client.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Target(#[entities] pub Entity);

/// A player, spawned by the game for each connected client.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Player(pub u64);

/// Not replicated: must never appear on clients.
#[derive(Component, Clone, Copy, PartialEq, Debug)]
pub struct ServerOnly;

#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Chat(pub String);

#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Ping(pub u32);

#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct ChatLine(pub String);

#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Pong(pub u32);

/// The protocol every test App registers.
pub fn protocol(app: &mut App) {
    app.replicate::<Health>()
        .replicate::<Position>()
        .replicate::<Target>()
        .replicate::<Player>()
        .add_client_message::<Chat>(Channel::Reliable)
        .add_client_message::<Ping>(Channel::Unreliable)
        .add_client_message::<Nested>(Channel::Reliable)
        .add_server_message::<ChatLine>(Channel::Reliable)
        .add_server_message::<Pong>(Channel::Unreliable);
}

/// A recursive client message: a hostile client can nest it as deep as its bytes allow.
#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct Nested(pub Option<Box<Nested>>);

/// A test network with the shared protocol.
pub fn net() -> TestNet {
    TestNet::new(protocol)
}

/// One entity's replicated state; `target` holds the server entity's bits (or the
/// placeholder's when the client could not map it).
#[derive(Clone, PartialEq, Debug)]
pub struct EntityState {
    pub health: Option<Health>,
    pub position: Option<Position>,
    pub target: Option<u64>,
}

/// Replicated entities by server entity bits.
pub type Snapshot = BTreeMap<u64, EntityState>;

/// The server's replicated entities.
pub fn server_snapshot(app: &mut App) -> Snapshot {
    let world = app.world_mut();
    let mut query = world.query_filtered::<
        (Entity, Option<&Health>, Option<&Position>, Option<&Target>),
        With<Replicated>,
    >();
    // A reference to an entity clients do not have (never replicated, or despawned since)
    // can only be the placeholder there.
    let replicated = |entity: Entity| {
        world
            .get_entity(entity)
            .is_ok_and(|entity| entity.contains::<Replicated>())
    };
    query
        .iter(world)
        .map(|(entity, health, position, target)| {
            (
                entity.to_bits(),
                EntityState {
                    health: health.copied(),
                    position: position.copied(),
                    target: target.map(|target| {
                        if replicated(target.0) {
                            target.0.to_bits()
                        } else {
                            Entity::PLACEHOLDER.to_bits()
                        }
                    }),
                },
            )
        })
        .collect()
}

/// A client's replicated entities, keyed by the server entities they mirror.
pub fn client_snapshot(app: &mut App) -> Snapshot {
    let world = app.world_mut();
    let map = world.resource::<ServerEntityMap>();
    let pairs: Vec<(Entity, Entity)> = map.iter().collect();
    let mut snapshot = Snapshot::new();
    for (server_entity, client_entity) in pairs {
        let entity = world.entity(client_entity);
        assert!(
            entity.contains::<FromServer>(),
            "mapped entity lacks FromServer"
        );
        let map = world.resource::<ServerEntityMap>();
        snapshot.insert(
            server_entity.to_bits(),
            EntityState {
                health: entity.get::<Health>().copied(),
                position: entity.get::<Position>().copied(),
                target: entity.get::<Target>().map(|target| {
                    map.to_server(target.0)
                        .unwrap_or(Entity::PLACEHOLDER)
                        .to_bits()
                }),
            },
        );
    }
    let mirrored = world
        .query_filtered::<(), With<FromServer>>()
        .iter(world)
        .count();
    assert_eq!(
        mirrored,
        snapshot.len(),
        "client has unmapped FromServer entities"
    );
    snapshot
}

/// Asserts that `client` holds exactly the server's replicated world.
pub fn assert_converged(net: &mut TestNet, client: usize) {
    let server = server_snapshot(net.server_mut());
    let mirrored = client_snapshot(net.client_mut(client));
    assert_eq!(mirrored, server, "client {client} differs from the server");
}

/// Number of connected clients on the server.
pub fn connected_clients(net: &mut TestNet) -> usize {
    let world = net.server_mut().world_mut();
    world.query::<&ConnectedClient>().iter(world).count()
}

/// The client's connection state.
pub fn client_state(net: &TestNet, client: usize) -> ClientState {
    *net.client(client)
        .world()
        .resource::<State<ClientState>>()
        .get()
}

/// Collects every `M` an App reads into [`Collected<M>`].
#[derive(Resource)]
pub struct Collected<M>(pub Vec<M>);

pub fn collect<M: Message + Clone>(app: &mut App) {
    app.insert_resource(Collected::<M>(Vec::new())).add_systems(
        Update,
        |mut reader: MessageReader<M>, mut collected: ResMut<Collected<M>>| {
            collected.0.extend(reader.read().cloned());
        },
    );
}

pub fn collected<M: Message + Clone>(app: &App) -> Vec<M> {
    app.world().resource::<Collected<M>>().0.clone()
}
