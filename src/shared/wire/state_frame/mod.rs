//! The state frame: one client's share of a server tick, bit-packed.
//!
//! ```text
//! kind byte (STATE), then bits:
//!   seq: 16            frame id the client acknowledges
//!   tick: 32           server tick
//!   part: golomb       index of this frame among the tick's frames
//!   last: 1            whether it is the tick's last frame; if so:
//!     lag: golomb        tick − watermark (every change up to the watermark is held once all
//!                        of the tick's frames arrived)
//!     input ack: 1 (+ signed golomb, input tick − tick)
//!   despawns: golomb count, then per entity (ascending index, repeats allowed): index minus the previous one, generation, freeze: 1
//!   resources: golomb count, then per resource: index, removed: 1, change tick, [value]
//!   entities, each after a 1 bit (a 0 bit ends the frame):
//!     op: 1              0 update, 1 spawn
//!     slot gap: golomb   slot − previous slot − 1 (the first: the slot)
//!     spawn only: entity index, generation
//!     shape: 1           0 = the previous entry's; 1 = count, component indices, baselines
//!     per component: [update: removed: 1], change tick, [value kind, value]
//! ```
//!
//! A change tick is `0` when it is the frame's tick, else `1` and how many ticks earlier. A value
//! is a delta (`0`), whole (`10`) or a finished slice transfer (`11` + blob id) when the entity's
//! shape names baselines and the component's codec uses them; else whole (`0`) or blob (`1`).
//! Values themselves are written by the component's codec.

use bevy::ecs::entity::{Entity, EntityGeneration, EntityIndex};

use super::{BitReader, BitWriter, golomb_code, server_kind};
use crate::shared::{error::DecodeError, tick::NetTick};

mod owned_ack;
mod shape;

pub use owned_ack::OwnedAck;
pub use shape::{Shape, read_shape_into, write_shape_parts};
#[cfg(test)]
pub use shape::{read_shape, write_shape};

/// Largest state frame the server packs (one renet packet); an entity too large for one goes
/// in a frame of its own, which renet slices.
pub const MAX_STATE_FRAME_BYTES: usize = 1_150;

/// Bits a frame header may take, at most.
pub const MAX_STATE_HEADER_BITS: usize = 8 + 16 + 32 + 65 + 1 + 65 + 1 + 66 + 1 + 66 + 32;

/// The header of a state frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateHeader {
    /// Per-client frame id, acknowledged by the client.
    pub seq: u16,
    /// The server tick of the frame.
    pub tick: NetTick,
    /// Index of this frame among the tick's frames.
    pub part: u32,
    /// Present on the tick's last frame.
    pub last: Option<LastPart>,
}

/// What only the last frame of a tick says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastPart {
    /// Every change up to this tick is held by a client that received all of the tick's frames.
    pub watermark: NetTick,
    /// The newest input tick the server received from this client.
    pub input_ack: Option<NetTick>,
    /// The ticks of owned-value sections the server read (client authority).
    pub owned_ack: Option<OwnedAck>,
}

/// Writes the kind byte and the header.
pub fn write_state_header(out: &mut BitWriter, header: &StateHeader) {
    out.write_bits(u64::from(server_kind::STATE), 8);
    out.write_bits(u64::from(header.seq), 16);
    out.write_bits(u64::from(header.tick.0), 32);
    out.write_golomb(u64::from(header.part), 0);
    out.write_bool(header.last.is_some());
    if let Some(last) = header.last {
        let lag = header.tick.diff(last.watermark).max(0) as u64;
        out.write_golomb(lag, 0);
        out.write_bool(last.input_ack.is_some());
        if let Some(input) = last.input_ack {
            out.write_signed_golomb(i64::from(input.diff(header.tick)), 2);
        }
        out.write_bool(last.owned_ack.is_some());
        if let Some(owned) = last.owned_ack {
            out.write_signed_golomb(i64::from(owned.newest.diff(header.tick)), 2);
            out.write_bits(u64::from(owned.earlier), 32);
        }
    }
}

/// Reads a header written by [`write_state_header`] (the kind byte included).
pub fn read_state_header(reader: &mut BitReader) -> Result<StateHeader, DecodeError> {
    let kind = reader.read_bits(8)? as u8;
    if kind != server_kind::STATE {
        return Err(DecodeError::UnknownKind {
            frame: "state frame",
            kind,
        });
    }
    let seq = reader.read_bits(16)? as u16;
    let tick = NetTick(reader.read_bits(32)? as u32);
    let part = u32::try_from(reader.read_golomb(0)?).map_err(|_| DecodeError::VarintOverflow)?;
    if part >= MAX_PARTS_PER_TICK {
        return Err(DecodeError::TooMany {
            what: "parts of a tick",
            count: part as usize + 1,
            limit: MAX_PARTS_PER_TICK as usize,
        });
    }
    let last = if reader.read_bool()? {
        let lag = u32::try_from(reader.read_golomb(0)?).map_err(|_| DecodeError::VarintOverflow)?;
        let input_ack = if reader.read_bool()? {
            let offset = i32::try_from(reader.read_signed_golomb(2)?)
                .map_err(|_| DecodeError::VarintOverflow)?;
            Some(NetTick(tick.0.wrapping_add_signed(offset)))
        } else {
            None
        };
        let owned_ack = if reader.read_bool()? {
            let offset = i32::try_from(reader.read_signed_golomb(2)?)
                .map_err(|_| DecodeError::VarintOverflow)?;
            Some(OwnedAck {
                newest: NetTick(tick.0.wrapping_add_signed(offset)),
                earlier: reader.read_bits(32)? as u32,
            })
        } else {
            None
        };
        Some(LastPart {
            watermark: tick.sub(lag),
            input_ack,
            owned_ack,
        })
    } else {
        None
    };
    Ok(StateHeader {
        seq,
        tick,
        part,
        last,
    })
}

/// An entity the client must drop: despawned, or (`freeze`) kept as it is but no longer updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DespawnEntry {
    /// The server entity.
    pub entity: Entity,
    /// Keep the entity, frozen, instead of despawning it.
    pub freeze: bool,
}

/// Writes the despawn section; `despawns` must be sorted by entity index. An index may appear
/// more than once: entities of several generations that lived in one index can all be waiting
/// for their despawn to be acknowledged (a long round trip and quick reuse).
pub fn write_despawns(out: &mut BitWriter, despawns: &[DespawnEntry]) {
    out.write_golomb(despawns.len() as u64, 0);
    let mut previous: Option<u32> = None;
    for despawn in despawns {
        let index = despawn.entity.index_u32();
        debug_assert!(
            previous.is_none_or(|previous| index >= previous),
            "despawns out of order"
        );
        let gap = previous.map_or(index, |previous| index.wrapping_sub(previous));
        out.write_golomb(u64::from(gap), 0);
        out.write_golomb(u64::from(despawn.entity.generation().to_bits()), 0);
        out.write_bool(despawn.freeze);
        previous = Some(index);
    }
}

/// Reads the despawn section.
pub fn read_despawns(reader: &mut BitReader) -> Result<Vec<DespawnEntry>, DecodeError> {
    let count = reader.read_count(3)?;
    if count > MAX_DESPAWNS_PER_FRAME {
        return Err(DecodeError::TooMany {
            what: "despawns",
            count,
            limit: MAX_DESPAWNS_PER_FRAME,
        });
    }
    let mut despawns = Vec::with_capacity(count);
    let mut previous: Option<u32> = None;
    for _ in 0..count {
        let gap = read_u32(reader)?;
        let index = match previous {
            None => gap,
            Some(previous) => previous
                .checked_add(gap)
                .ok_or(DecodeError::VarintOverflow)?,
        };
        let generation = read_u32(reader)?;
        let freeze = reader.read_bool()?;
        despawns.push(DespawnEntry {
            entity: entity_from_parts(index, generation)?,
            freeze,
        });
        previous = Some(index);
    }
    Ok(despawns)
}

/// Writes a count of items of a section (resources).
pub fn write_count(out: &mut BitWriter, count: usize) {
    out.write_golomb(count as u64, 0);
}

/// Writes a small index (a resource index).
pub fn write_index(out: &mut BitWriter, index: u32) {
    out.write_golomb(u64::from(index), 0);
}

/// Reads a small index.
pub fn read_index(reader: &mut BitReader) -> Result<u32, DecodeError> {
    read_u32(reader)
}

/// The start of an entity entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryHead {
    /// The entity's slot (its id on the wire).
    pub slot: u32,
    /// For spawns, the server entity; `None` for updates.
    pub spawn: Option<Entity>,
}

/// Writes the head of an entity entry; `previous` is the slot of the frame's previous entry.
#[inline]
pub fn write_entry_head(out: &mut BitWriter, head: &EntryHead, previous: Option<u32>) {
    debug_assert!(
        previous.is_none_or(|previous| head.slot > previous),
        "entries out of order"
    );
    let gap = previous.map_or(head.slot, |previous| {
        head.slot.wrapping_sub(previous).wrapping_sub(1)
    });
    // "An entry", whether it spawns, and the gap, in one write when the gap's code leaves room.
    let flags = 1 | u64::from(head.spawn.is_some()) << 1;
    match golomb_code(u64::from(gap), 0) {
        Some((code, len)) if len <= 62 => out.write_bits(flags | code << 2, len + 2),
        _ => {
            out.write_bits(flags, 2);
            out.write_golomb(u64::from(gap), 0);
        }
    }
    if let Some(entity) = head.spawn {
        out.write_golomb(u64::from(entity.index_u32()), 0);
        out.write_golomb(u64::from(entity.generation().to_bits()), 0);
    }
}

/// Ends the entity entries.
pub fn write_entries_end(out: &mut BitWriter) {
    out.write_bool(false);
}

/// Most replicated entities a server has at once: slots are dense indices below this. A frame
/// naming a slot beyond it is malformed (a client sizes its slot table by the slots it sees).
pub const MAX_SLOTS: u32 = 1 << 24;

/// Most frames (parts) one tick's replication is split into; a higher part number is
/// malformed. The server opens a part only when the previous one is full, and renet carries
/// at most [`RENET_BYTES_PER_UPDATE`](crate::shared::channels::RENET_BYTES_PER_UPDATE) a
/// frame: an honest tick has under 450 parts. The cap bounds what a client keeps per tick.
pub const MAX_PARTS_PER_TICK: u32 = 4_096;

/// Most despawns in one state frame (the server sends the rest in later frames); a frame with
/// more is malformed.
pub const MAX_DESPAWNS_PER_FRAME: usize = 256;

/// Most ticks a state frame may be ahead of the newest tick a client saw (in its welcome or a
/// frame). Between honest frames there are at most the connection's keep-alive timeout (5 s by
/// default, 300 ticks at 60 Hz) and a few heartbeats; 16,384 ticks is 4.5 minutes at 60 Hz. A
/// frame further ahead would make every later frame look stale: the client disconnects with
/// [`MalformedData`](crate::shared::disconnect::DisconnectReason::MalformedData) instead.
pub const MAX_TICK_LEAP: i32 = 1 << 14;

/// Reads the next entry's head, or `None` at the end of the entries.
#[inline]
pub fn read_entry_head(
    reader: &mut BitReader,
    previous: Option<u32>,
) -> Result<Option<EntryHead>, DecodeError> {
    if !reader.read_bool()? {
        return Ok(None);
    }
    let spawn = reader.read_bool()?;
    let gap = read_u32(reader)?;
    let slot = match previous {
        None => gap,
        Some(previous) => previous
            .checked_add(gap)
            .and_then(|slot| slot.checked_add(1))
            .ok_or(DecodeError::VarintOverflow)?,
    };
    if slot >= MAX_SLOTS {
        return Err(DecodeError::UnexpectedEnd("a slot below MAX_SLOTS"));
    }
    let spawn = if spawn {
        let index = read_u32(reader)?;
        let generation = read_u32(reader)?;
        Some(entity_from_parts(index, generation)?)
    } else {
        None
    };
    Ok(Some(EntryHead { slot, spawn }))
}

/// Writes the tick a value was set at, relative to the frame's tick.
#[inline]
pub fn write_change_tick(out: &mut BitWriter, changed: NetTick, tick: NetTick) {
    let age = tick.diff(changed).max(0) as u64;
    if age == 0 {
        out.write_bool(false);
    } else {
        out.write_bool(true);
        out.write_golomb(age - 1, 0);
    }
}

/// Reads a change tick written by [`write_change_tick`].
#[inline]
pub fn read_change_tick(reader: &mut BitReader, tick: NetTick) -> Result<NetTick, DecodeError> {
    if !reader.read_bool()? {
        return Ok(tick);
    }
    let age = read_u32(reader)?
        .checked_add(1)
        .ok_or(DecodeError::VarintOverflow)?;
    Ok(tick.sub(age))
}

/// How a value follows its change tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A difference from the entry's baselines, written by the codec.
    Delta,
    /// Whole, written by the codec.
    Whole,
    /// A value that arrived in slices, by blob id.
    Blob(u32),
}

/// Writes a value kind; `delta_allowed` must match what the reader will pass.
#[inline]
pub fn write_value_kind(out: &mut BitWriter, kind: ValueKind, delta_allowed: bool) {
    if delta_allowed {
        match kind {
            ValueKind::Delta => out.write_bool(false),
            ValueKind::Whole => out.write_bits(0b01, 2),
            ValueKind::Blob(id) => {
                out.write_bits(0b11, 2);
                out.write_bits(u64::from(id), 32);
            }
        }
    } else {
        match kind {
            ValueKind::Delta | ValueKind::Whole => out.write_bool(false),
            ValueKind::Blob(id) => {
                out.write_bool(true);
                out.write_bits(u64::from(id), 32);
            }
        }
    }
}

/// Reads a value kind written by [`write_value_kind`].
#[inline]
pub fn read_value_kind(
    reader: &mut BitReader,
    delta_allowed: bool,
) -> Result<ValueKind, DecodeError> {
    if !reader.read_bool()? {
        return Ok(if delta_allowed {
            ValueKind::Delta
        } else {
            ValueKind::Whole
        });
    }
    if delta_allowed && !reader.read_bool()? {
        return Ok(ValueKind::Whole);
    }
    Ok(ValueKind::Blob(reader.read_bits(32)? as u32))
}

#[inline]
fn read_u32(reader: &mut BitReader) -> Result<u32, DecodeError> {
    u32::try_from(reader.read_golomb(0)?).map_err(|_| DecodeError::VarintOverflow)
}

fn entity_from_parts(index: u32, generation: u32) -> Result<Entity, DecodeError> {
    let index =
        EntityIndex::from_raw_u32(index).ok_or(DecodeError::InvalidEntity(u64::from(index)))?;
    Ok(Entity::from_index_and_generation(
        index,
        EntityGeneration::from_bits(generation),
    ))
}

#[cfg(test)]
mod tests;
