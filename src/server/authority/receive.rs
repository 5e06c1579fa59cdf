//! Reading what holders send: the owned-values section of their update frames, and their
//! requests to take or release authority. Writes a client may not make are refused and
//! counted ([`Refusals`]).

use core::time::Duration;

use bevy::{platform::collections::HashMap, prelude::*};

use super::{
    AuthorityRequested, AuthoritySettings,
    holders::set_holder,
    inbox::{AuthorityInboxes, ReadValue},
};
use crate::{
    server::{
        MAX_INPUT_LEAD_TICKS, client_replication::ClientReplication, receive::tick_near,
        replicated_world::ReplicatedWorld,
    },
    shared::{
        authority::{AuthorityRegistry, HeldBy, OWNED_HISTORY_TICKS},
        disconnect::DisconnectReason,
        scoped::scoped,
        tick::NetTick,
        wire::{
            AuthorityRequest, BitReader, OwnedAck, read_owned_block_head, read_owned_entry_head,
            read_owned_tick,
        },
    },
};

/// Refused writes per client, and who held what until recently.
#[derive(Resource, Default)]
pub(crate) struct Refusals {
    /// Per client: refusals counted, and when the count was last forgiven.
    counts: HashMap<u64, (u32, Duration)>,
    /// `(former holder, entity, when its authority ended)`.
    revoked: Vec<(u64, Entity, Duration)>,
}

/// Former holders remembered at most (the oldest are forgotten first).
const MAX_REVOKED: usize = 4_096;

impl Refusals {
    /// Notes that `client_id` stopped holding `entity` at `now`.
    pub(super) fn note_revoked(&mut self, client_id: u64, entity: Entity, now: Duration) {
        if self.revoked.len() >= MAX_REVOKED {
            self.revoked.remove(0);
        }
        self.revoked.push((client_id, entity, now));
    }

    /// Whether `client_id` held `entity` until less than `grace` ago.
    fn recently_held(
        &mut self,
        client_id: u64,
        entity: Entity,
        now: Duration,
        grace: Duration,
    ) -> bool {
        self.revoked
            .retain(|(_, _, at)| now.saturating_sub(*at) <= grace);
        self.revoked
            .iter()
            .any(|(held_by, held, _)| *held_by == client_id && *held == entity)
    }

    /// Counts one refused write; past the allowance the client is disconnected.
    fn refuse(
        &mut self,
        client_id: u64,
        now: Duration,
        settings: &AuthoritySettings,
        what: &str,
    ) -> Result<(), DisconnectReason> {
        let (count, forgiven) = self.counts.entry(client_id).or_insert((0, now));
        let step = settings.refusal_forgiveness.max(Duration::from_micros(1));
        let steps = (now.saturating_sub(*forgiven).as_micros() / step.as_micros()) as u32;
        if steps > 0 {
            *count = count.saturating_sub(steps);
            *forgiven = now;
        }
        *count += 1;
        debug!("client {client_id}: refused a write ({what}); {count} counted");
        if *count > settings.refusals_allowed {
            self.counts.remove(&client_id);
            return Err(DisconnectReason::UnauthorizedWrites(format!(
                "more than {} refused writes, the last one {what}",
                settings.refusals_allowed
            )));
        }
        Ok(())
    }

    /// Forgets a client that left.
    pub(super) fn forget_client(&mut self, client_id: u64) {
        self.counts.remove(&client_id);
        self.revoked.retain(|(held_by, _, _)| *held_by != client_id);
    }
}

/// Reads an owned-values section from `client` (its entity) / `client_id`: keeps each value
/// of an entity the client holds in its type's inbox, refuses and counts the rest, and
/// acknowledges the section's tick once read to its end. Malformed bytes are an error.
pub(crate) fn receive_owned_values(
    world: &mut World,
    client: Entity,
    client_id: u64,
    now: NetTick,
    bytes: &[u8],
) -> Result<(), DisconnectReason> {
    let malformed = |error: &dyn core::fmt::Display| {
        DisconnectReason::MalformedData(format!("owned values: {error}"))
    };
    let real_now = world.resource::<Time<Real>>().elapsed();
    let settings = world.resource::<AuthoritySettings>().clone();
    let mut bits = BitReader::new(bytes);
    let tick = tick_near(now, read_owned_tick(&mut bits).map_err(|e| malformed(&e))?);
    if tick.diff(now) > MAX_INPUT_LEAD_TICKS || now.diff(tick) >= OWNED_HISTORY_TICKS as i32 {
        // Too far from now to use: neither kept nor acknowledged.
        return Ok(());
    }
    let complete = scoped(world, |world, inboxes: &mut AuthorityInboxes| {
        scoped(world, |world, refusals: &mut Refusals| {
            while let Some((index, count)) =
                read_owned_block_head(&mut bits).map_err(|e| malformed(&e))?
            {
                if !world.resource::<AuthorityRegistry>().contains(index) {
                    refusals.refuse(
                        client_id,
                        real_now,
                        &settings,
                        "to a type that is not client-authoritative",
                    )?;
                    return Ok(false);
                }
                let Some(owned) = inboxes.get_mut(index) else {
                    return Ok(false);
                };
                let mut previous = None;
                for _ in 0..count {
                    let head =
                        read_owned_entry_head(&mut bits, previous).map_err(|e| malformed(&e))?;
                    previous = Some(head.slot);
                    let entity = world
                        .resource::<ReplicatedWorld>()
                        .slots
                        .get(head.slot as usize)
                        .filter(|record| record.live)
                        .map(|record| record.entity);
                    let holds = entity.is_some_and(|entity| {
                        world.get::<HeldBy>(entity).map(|held| held.client_id) == Some(client_id)
                    });
                    // A slot that is not live any more names an entity that went while the
                    // value was on its way: dropped, not counted.
                    if !holds && entity.is_some() {
                        let in_flight = entity.is_some_and(|entity| {
                            refusals.recently_held(
                                client_id,
                                entity,
                                real_now,
                                settings.revoke_grace,
                            )
                        });
                        if !in_flight {
                            refusals.refuse(
                                client_id,
                                real_now,
                                &settings,
                                "to an entity it does not hold",
                            )?;
                        }
                    }
                    let value_tick = tick.sub(head.age);
                    let read = owned
                        .read(
                            &mut bits,
                            entity,
                            client_id,
                            value_tick,
                            head.baseline_age,
                            head.previous_age,
                            holds,
                        )
                        .map_err(|e| malformed(&e))?;
                    if read == ReadValue::NoBaseline {
                        return Ok(false);
                    }
                }
            }
            bits.finish().map_err(|e| malformed(&e))?;
            Ok(true)
        })
    })?;
    if complete && let Some(mut replication) = world.get_mut::<ClientReplication>(client) {
        match &mut replication.owned_ack {
            Some(ack) => ack.note(tick),
            None => replication.owned_ack = Some(OwnedAck::new(tick)),
        }
    }
    Ok(())
}

/// Handles a client's requests: a request to take an entity is reported to the game as
/// [`AuthorityRequested`] (unless the client holds it already); a release by the holder
/// returns the entity to the server; a spawn becomes a pending entity for the game's rule
/// (see [`spawns`](super::spawns)). Requests naming entities that are not replicated, or
/// releases of entities the client does not hold, are ignored.
pub(crate) fn receive_requests(
    world: &mut World,
    client: Entity,
    client_id: u64,
    requests: &[AuthorityRequest],
) -> Result<(), DisconnectReason> {
    for request in requests {
        let slot = match request {
            AuthorityRequest::Take(slot) | AuthorityRequest::Release(slot) => *slot,
            AuthorityRequest::Spawn {
                tick,
                index,
                values,
            } => {
                super::spawns::receive_spawn(world, client_id, *tick, *index, values)?;
                continue;
            }
        };
        let Some(entity) = world
            .resource::<ReplicatedWorld>()
            .slots
            .get(slot as usize)
            .filter(|record| record.live)
            .map(|record| record.entity)
        else {
            continue;
        };
        let holds = world.get::<HeldBy>(entity).map(|held| held.client_id) == Some(client_id);
        match request {
            AuthorityRequest::Take(_) if !holds => {
                world.write_message(AuthorityRequested {
                    entity,
                    client,
                    client_id,
                });
            }
            AuthorityRequest::Release(_) if holds => set_holder(world, entity, None),
            _ => {}
        }
    }
    Ok(())
}

/// Counts one refused write by `client_id` (see [`Refusals`]).
pub(super) fn refuse(
    world: &mut World,
    client_id: u64,
    what: &str,
) -> Result<(), DisconnectReason> {
    let now = world.resource::<Time<Real>>().elapsed();
    let settings = world.resource::<AuthoritySettings>().clone();
    world
        .resource_mut::<Refusals>()
        .refuse(client_id, now, &settings, what)
}
