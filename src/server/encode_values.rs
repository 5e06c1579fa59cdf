//! Step 2 of the send pipeline: encode every value that changed in this send, once, whatever the
//! number of clients. Small values go to the [`ValueCache`] (and, for delta codecs, into the
//! history future deltas are taken against); large ones to the [`BlobStore`]. A value that cannot
//! be encoded (too large, or refused by its codec) is not replicated: the error is logged and
//! [`ValueRefused`] is triggered.

use bevy::prelude::*;

use super::{
    baseline_floors,
    blobs::{BlobKey, BlobStore, LARGE_VALUE_BYTES},
    client_replication::ClientReplication,
    component_encoders::{ComponentEncoders, Encoded},
    local_client::LocalClient,
    replicated_world::{ReplicatedResources, ReplicatedWorld},
    send_plan::SendPlan,
    value_cache::ValueCache,
};
use crate::shared::{
    error::EncodeError,
    registry::{ReplicationRegistry, ResourceRegistry},
    scoped::scoped,
    tick::NetTick,
    wire::BitWriter,
};

/// Triggered on the server when a replicated value cannot be sent: larger than
/// [`MAX_VALUE_BYTES`](crate::shared::codec::MAX_VALUE_BYTES), or refused by its codec (a
/// non-finite `Transform`, say). Clients then lose the component (or resource) until a value
/// that can be sent replaces it.
#[derive(Event, Clone, Debug, PartialEq, Eq)]
pub struct ValueRefused {
    /// The entity, or `None` for a resource.
    pub entity: Option<Entity>,
    /// The component or resource type.
    pub type_name: &'static str,
    /// Why.
    pub error: EncodeError,
}

/// The remote clients' tables, for the slots' baseline floors.
type ClientTables = QueryState<&'static ClientReplication, Without<LocalClient>>;

/// Encodes this send's changed values.
pub(crate) fn encode_values(world: &mut World, mut clients: Local<ClientTables>) {
    let Some(tick) = world.resource::<SendPlan>().tick else {
        return;
    };
    scoped(world, |world, cache: &mut ValueCache| {
        cache.begin(tick);
        scoped(world, |world, blobs: &mut BlobStore| {
            let refused = scoped(world, |world, registry: &mut ReplicationRegistry| {
                scoped(world, |world, encoders: &mut ComponentEncoders| {
                    scoped(world, |world, replicated: &mut ReplicatedWorld| {
                        // On a world at rest nothing changed: no client table to read.
                        if !replicated.changed.is_empty() {
                            let clients: Vec<_> = clients.iter(world).collect();
                            refresh_floors(replicated, &clients, tick);
                        }
                        encode_components(world, registry, encoders, replicated, cache, blobs, tick)
                    })
                })
            });
            let mut refused_resources = Vec::new();
            scoped(world, |world, resources: &mut ReplicatedResources| {
                let registry = world.resource::<ResourceRegistry>();
                for (index, record) in resources.records.iter_mut().enumerate() {
                    if record.changed != Some(tick) {
                        continue;
                    }
                    let key = BlobKey::Resource(index as u32);
                    if !record.present {
                        blobs.remove(key);
                        continue;
                    }
                    let resource = &registry.resources[index];
                    let mut bits = BitWriter::new();
                    match (resource.write)(world, &mut bits) {
                        Ok(true) => {
                            record.whole_bits = bits.bit_len() as u32;
                            record.large = bits.byte_len() > LARGE_VALUE_BYTES;
                            if record.large {
                                blobs.store(key, bits.into_bytes());
                            } else {
                                blobs.remove(key);
                            }
                        }
                        Ok(false) => record.present = false,
                        Err(error) => {
                            record.present = false;
                            refused_resources.push((resource.name, error));
                        }
                    }
                }
            });
            for refusal in refused.into_iter().chain(refused_resources.into_iter().map(
                |(type_name, error)| ValueRefused {
                    entity: None,
                    type_name,
                    error,
                },
            )) {
                error!(
                    "not replicating {}{}: {}",
                    refusal.type_name,
                    refusal
                        .entity
                        .map(|entity| format!(" of {entity}"))
                        .unwrap_or_default(),
                    refusal.error.detail
                );
                world.trigger(refusal);
            }
        });
    });
}

/// Refreshes the baseline floors of the changed slots whose turn it is.
fn refresh_floors(replicated: &mut ReplicatedWorld, clients: &[&ClientReplication], tick: NetTick) {
    for position in 0..replicated.changed.len() {
        let slot = replicated.changed[position];
        if !baseline_floors::due(slot, tick) {
            continue;
        }
        let record = &mut replicated.slots[slot as usize];
        record.baseline_floor =
            baseline_floors::floor(clients.iter().copied(), slot, record.entity);
    }
}

fn encode_components(
    world: &World,
    registry: &ReplicationRegistry,
    encoders: &mut ComponentEncoders,
    replicated: &mut ReplicatedWorld,
    cache: &mut ValueCache,
    blobs: &mut BlobStore,
    tick: NetTick,
) -> Vec<ValueRefused> {
    for &(slot, _) in &replicated.despawned {
        for encoder in &mut encoders.encoders {
            encoder.forget_slot(slot);
        }
        blobs.remove_slot(slot);
    }
    let mut refused = Vec::new();
    for position in 0..replicated.changed.len() {
        let slot = replicated.changed[position];
        // The next changed slot's history comes while this one's values are written.
        let next = replicated.changed.get(position + 1).copied();
        let record = &mut replicated.slots[slot as usize];
        if !record.live {
            continue;
        }
        let entity = record.entity;
        let mut failed = Vec::new();
        for state in &mut record.components {
            if state.changed != tick {
                continue;
            }
            let index = state.index;
            state.encoded = None;
            let key = BlobKey::Component { slot, index };
            let (Ok(component), Some(encoder)) = (
                registry.get(index),
                encoders.encoders.get_mut(index as usize),
            ) else {
                continue;
            };
            if !state.present {
                encoder.forget_slot(slot);
                blobs.remove(key);
                state.large = false;
                continue;
            }
            let start = cache.bits.bit_len();
            let encoded = encoder.encode(world, entity, &mut cache.bits);
            let end = cache.bits.bit_len();
            // Whether the value goes in frames (not in slices), kept as the next baseline.
            let small = match encoded {
                // Kept, not written: a body that needs it whole writes it then.
                Ok(Encoded::Measured(bits)) => {
                    state.whole_bits = bits as u32;
                    state.large = false;
                    true
                }
                Ok(Encoded::Written) => {
                    state.whole_bits = (end - start) as u32;
                    state.large = (end - start).div_ceil(8) > LARGE_VALUE_BYTES;
                    if state.large {
                        let mut blob = BitWriter::with_capacity((end - start).div_ceil(8));
                        blob.append_bits(&cache.bits, start, end - start);
                        blobs.store(key, blob.into_bytes());
                        cache.bits.truncate(start);
                        encoder.forget_slot(slot);
                    } else {
                        state.encoded = ValueCache::encoded_range(start, end);
                    }
                    !state.large
                }
                Ok(Encoded::Absent) => {
                    failed.push(index);
                    false
                }
                Err(error) => {
                    failed.push(index);
                    refused.push(ValueRefused {
                        entity: Some(entity),
                        type_name: component.name,
                        error,
                    });
                    false
                }
            };
            if small {
                blobs.remove(key);
                if component.uses_baselines {
                    if let Some(next) = next {
                        encoder.prefetch_history(next);
                    }
                    let written = (start, cache.bits.bit_len());
                    if let Err(error) =
                        encoder.remember(slot, tick, record.baseline_floor, &cache.bits, written)
                    {
                        // The codec cannot read what it wrote: deltas would be wrong.
                        error!("{} cannot decode its own encoding: {error}", component.name);
                        encoder.forget_slot(slot);
                    }
                }
            }
        }
        for index in failed {
            record.unset(index, tick);
            encoders.encoders[index as usize].forget_slot(slot);
            blobs.remove(BlobKey::Component { slot, index });
        }
        record.may_have_large = record.components.iter().any(|state| state.large);
    }
    refused
}
