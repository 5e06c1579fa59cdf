//! Receiving from the server: the welcome, structure frames (applied atomically, in order),
//! update frames (applied when fresh, acknowledged), and game messages.

use bevy::prelude::*;
use bevy_renet::{RenetClient, renet::Bytes};

use super::{
    connection::ClientState,
    session::{ClientSession, Handshake, MAX_BUFFERED_UPDATES},
    timeline::ClientTimeline,
};
use crate::shared::{
    channels::{RELIABLE_CHANNEL, UNRELIABLE_CHANNEL},
    disconnect::DisconnectReason,
    entity_map::ServerEntityMap,
    error::DecodeError,
    messages::MessageRegistry,
    registry::{ApplyContext, ReplicationRegistry},
    tick::NetTick,
    wire::{self, ComponentBytes, EntityUpdate, ServerFrame, StructureEntry},
};

/// Marks a client entity that mirrors a server entity. Its server entity is in
/// [`ServerEntityMap`]. Inserted by [`ClientSet::Receive`](super::ClientSet::Receive).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Default, Reflect)]
#[reflect(Component)]
pub struct FromServer;

/// Drains both channels and applies what arrived. Malformed data from the server disconnects
/// with [`DisconnectReason::MalformedData`].
pub(crate) fn receive_from_server(world: &mut World) {
    world.resource_scope(|world, mut client: Mut<RenetClient>| {
        if !client.is_connected() {
            return;
        }
        if let Err(reason) = receive_all(world, &mut client) {
            error!("disconnecting from the server: {reason}");
            world.resource_mut::<ClientSession>().closing_reason = Some(reason);
            client.disconnect();
        }
    });
}

fn receive_all(world: &mut World, client: &mut RenetClient) -> Result<(), DisconnectReason> {
    for channel in [RELIABLE_CHANNEL, UNRELIABLE_CHANNEL] {
        while let Some(bytes) = client.receive_message(channel) {
            handle_frame(world, bytes, channel == RELIABLE_CHANNEL)?;
        }
    }
    Ok(())
}

fn handle_frame(world: &mut World, bytes: Bytes, reliable: bool) -> Result<(), DisconnectReason> {
    let malformed = |error: DecodeError| DisconnectReason::MalformedData(error.to_string());
    match ServerFrame::decode(&bytes).map_err(malformed)? {
        ServerFrame::Welcome { client_id, tick } if reliable => {
            debug!("welcomed as client {client_id} at tick {}", tick.0);
            world.resource_mut::<ClientTimeline>().observe(tick);
            world.resource_mut::<ClientSession>().handshake = Handshake::Welcomed;
            world
                .resource_mut::<NextState<ClientState>>()
                .set(ClientState::Connected);
        }
        ServerFrame::Disconnect(reason) if reliable => return Err(reason),
        ServerFrame::Structure { tick, entries } if reliable => {
            world.resource_mut::<ClientTimeline>().observe(tick);
            apply_structure(world, tick, &entries).map_err(malformed)?;
            apply_waiting_updates(world).map_err(malformed)?;
        }
        ServerFrame::Welcome { .. }
        | ServerFrame::Disconnect(_)
        | ServerFrame::Structure { .. } => {
            return Err(DisconnectReason::MalformedData(
                "a control frame on the unreliable channel".into(),
            ));
        }
        ServerFrame::Update { header, entities } => {
            queue_update(world, header, &entities, &bytes).map_err(malformed)?;
        }
        ServerFrame::Message { index, payload } => {
            receive_message(world, index, payload).map_err(malformed)?;
        }
        ServerFrame::Tick(tick) => world.resource_mut::<ClientTimeline>().observe(tick),
        ServerFrame::InputTiming { min_lead, late } => world
            .resource_mut::<ClientTimeline>()
            .observe_input_feedback(f64::from(min_lead), late),
    }
    Ok(())
}

fn receive_message(world: &mut World, index: u32, payload: &[u8]) -> Result<(), DecodeError> {
    let kind = world.resource::<MessageRegistry>().server_message(index)?;
    let (name, receive) = (kind.name, kind.receive);
    receive(world, payload).map_err(|error| match error {
        // Name the registered message, not the decoder's view of it.
        DecodeError::Codec { detail, .. } => DecodeError::Codec {
            type_name: name,
            detail,
        },
        other => other,
    })
}

/// Applies a decoded update now if its structure frame arrived, else keeps its bytes for later.
fn queue_update(
    world: &mut World,
    header: wire::UpdateHeader,
    entities: &[EntityUpdate],
    bytes: &Bytes,
) -> Result<(), DecodeError> {
    world.resource_mut::<ClientTimeline>().observe(header.tick);
    let ready = world
        .resource::<ClientSession>()
        .last_structure
        .is_some_and(|applied| !header.required_structure.is_newer_than(applied));
    if ready {
        return apply_entities(world, header, entities);
    }
    let mut session = world.resource_mut::<ClientSession>();
    if session.waiting_updates.len() >= MAX_BUFFERED_UPDATES {
        session.waiting_updates.remove(0);
    }
    session.waiting_updates.push((header, bytes.clone()));
    Ok(())
}

/// Applies waiting updates whose structure frame has now arrived.
fn apply_waiting_updates(world: &mut World) -> Result<(), DecodeError> {
    let mut session = world.resource_mut::<ClientSession>();
    let Some(applied) = session.last_structure else {
        return Ok(());
    };
    let (ready, waiting): (Vec<_>, Vec<_>) = session
        .waiting_updates
        .drain(..)
        .partition(|(header, _)| !header.required_structure.is_newer_than(applied));
    session.waiting_updates = waiting;
    for (_, bytes) in ready {
        apply_update(world, &bytes)?;
    }
    Ok(())
}

/// Decodes a buffered update frame and applies it.
fn apply_update(world: &mut World, bytes: &[u8]) -> Result<(), DecodeError> {
    let ServerFrame::Update { header, entities } = ServerFrame::decode(bytes)? else {
        return Err(DecodeError::UnknownKind {
            frame: "update frame",
            kind: bytes.first().copied().unwrap_or_default(),
        });
    };
    apply_entities(world, header, &entities)
}

/// Applies the fresh values of an update frame's entities and queues its ack.
fn apply_entities(
    world: &mut World,
    header: wire::UpdateHeader,
    entities: &[EntityUpdate],
) -> Result<(), DecodeError> {
    with_replication(world, |world, registry, map, session| {
        for update in entities {
            // Unknown: despawned by a structure frame that overtook this update.
            let Some(entity) = map.to_client(update.entity) else {
                continue;
            };
            for &(index, value) in &update.components {
                registry.get(index)?;
                if session.is_fresh(entity, index, header.tick) {
                    apply_value(
                        world,
                        registry,
                        map,
                        session,
                        entity,
                        (index, value),
                        header.tick,
                    )?;
                }
            }
        }
        session.acks.push(header.update_id);
        Ok(())
    })
}

/// Applies one tick's structure frame: spawns are mapped first, so entities named by values in
/// the same frame resolve.
fn apply_structure(
    world: &mut World,
    tick: NetTick,
    entries: &[StructureEntry],
) -> Result<(), DecodeError> {
    with_replication(world, |world, registry, map, session| {
        for entry in entries {
            if let StructureEntry::Spawn { entity, .. } = entry
                && map.to_client(*entity).is_none()
            {
                let client_entity = world.spawn(FromServer).id();
                map.insert(*entity, client_entity);
            }
        }
        for entry in entries {
            match entry {
                StructureEntry::Despawn(server_entity) => {
                    if let Some(entity) = map.remove_by_server(*server_entity) {
                        session.confirmed.remove(&entity);
                        if let Ok(entity) = world.get_entity_mut(entity) {
                            entity.despawn();
                        }
                    }
                }
                StructureEntry::Spawn { entity, components } => {
                    let Some(entity) = map.to_client(*entity) else {
                        continue;
                    };
                    for &value in components {
                        apply_value(world, registry, map, session, entity, value, tick)?;
                    }
                }
                StructureEntry::Change {
                    entity,
                    inserted,
                    removed,
                } => {
                    let Some(entity) = map.to_client(*entity) else {
                        continue;
                    };
                    for &value in inserted {
                        apply_value(world, registry, map, session, entity, value, tick)?;
                    }
                    for &index in removed {
                        let remove = registry.get(index)?.remove;
                        if let Ok(mut entity) = world.get_entity_mut(entity) {
                            remove(&mut entity);
                        }
                        session.confirm(entity, index, tick);
                    }
                }
            }
        }
        session.last_structure = Some(tick);
        Ok(())
    })
}

fn apply_value(
    world: &mut World,
    registry: &ReplicationRegistry,
    map: &ServerEntityMap,
    session: &mut ClientSession,
    entity: Entity,
    (index, bytes): ComponentBytes,
    tick: NetTick,
) -> Result<(), DecodeError> {
    let component = registry.get(index)?;
    // An entity the game despawned locally simply stops receiving values.
    if let Ok(mut target) = world.get_entity_mut(entity) {
        let context = ApplyContext {
            tick,
            interpolated: component.interpolated,
        };
        (component.apply)(&mut target, bytes, map, context)?;
    }
    session.confirm(entity, index, tick);
    Ok(())
}

/// Runs `f` with the registry, entity map and session taken out of the world.
fn with_replication<T>(
    world: &mut World,
    f: impl FnOnce(&mut World, &ReplicationRegistry, &mut ServerEntityMap, &mut ClientSession) -> T,
) -> T {
    world.resource_scope(|world, registry: Mut<ReplicationRegistry>| {
        world.resource_scope(|world, mut map: Mut<ServerEntityMap>| {
            world.resource_scope(|world, mut session: Mut<ClientSession>| {
                f(world, &registry, &mut map, &mut session)
            })
        })
    })
}
