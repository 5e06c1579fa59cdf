//! Frames the server sends: welcome, disconnect reason, structure, update, tick, input timing.

use bevy::prelude::Entity;

use super::{Reader, write_entity, write_signed_varint, write_tick, write_varint};
use crate::shared::{
    codec::{decode_serde, encode_serde},
    disconnect::DisconnectReason,
    error::DecodeError,
    tick::NetTick,
};

/// Kind bytes of frames the server sends.
pub mod server_kind {
    /// Handshake accepted.
    pub const WELCOME: u8 = 0;
    /// The server is about to close the connection, and why.
    pub const DISCONNECT: u8 = 1;
    /// One tick's spawns, despawns, inserts and removes (reliable channel).
    pub const STRUCTURE: u8 = 2;
    /// Component values of one tick (unreliable channel).
    pub const UPDATE: u8 = 3;
    /// A game message.
    pub const MESSAGE: u8 = 4;
    /// The current tick, when nothing else carried it lately (unreliable channel).
    pub const TICK: u8 = 5;
    /// How early the client's inputs arrive (unreliable channel).
    pub const INPUT_TIMING: u8 = 6;
}

const OP_DESPAWN: u8 = 0;
const OP_SPAWN: u8 = 1;
const OP_CHANGE: u8 = 2;

/// A replicated component value on the wire: registry index and encoded bytes.
pub type ComponentBytes<'a> = (u32, &'a [u8]);

/// One entity's entry in a [`server_kind::STRUCTURE`] frame.
#[derive(Debug, PartialEq, Eq)]
pub enum StructureEntry<'a> {
    /// The entity stopped being replicated (or was despawned) on the server.
    Despawn(Entity),
    /// The entity started being replicated, with all its replicated components.
    Spawn {
        /// The server's entity.
        entity: Entity,
        /// Every replicated component it has.
        components: Vec<ComponentBytes<'a>>,
    },
    /// Components were inserted into or removed from an entity the client already has.
    Change {
        /// The server's entity.
        entity: Entity,
        /// Components added (with their values).
        inserted: Vec<ComponentBytes<'a>>,
        /// Registry indices of components removed.
        removed: Vec<u32>,
    },
}

/// One entity's values in a [`server_kind::UPDATE`] frame.
#[derive(Debug, PartialEq, Eq)]
pub struct EntityUpdate<'a> {
    /// The server's entity.
    pub entity: Entity,
    /// Values of the components that changed since the client's last acknowledged update.
    pub components: Vec<ComponentBytes<'a>>,
}

/// Header of a [`server_kind::UPDATE`] frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateHeader {
    /// Per-client id the client acknowledges.
    pub update_id: u32,
    /// Server tick of the values.
    pub tick: NetTick,
    /// The client must have applied the structure frame of this tick before these values.
    pub required_structure: NetTick,
}

/// A decoded frame from the server. Slices borrow from the received bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerFrame<'a> {
    /// Handshake accepted.
    Welcome {
        /// The id the server knows this client by.
        client_id: u64,
        /// The server tick when it accepted.
        tick: NetTick,
    },
    /// The server closes the connection.
    Disconnect(DisconnectReason),
    /// Structural changes of one tick, applied all at once.
    Structure {
        /// Server tick of the changes.
        tick: NetTick,
        /// The entries, in order.
        entries: Vec<StructureEntry<'a>>,
    },
    /// Component values of one tick.
    Update {
        /// Ids and ticks.
        header: UpdateHeader,
        /// Entities and values.
        entities: Vec<EntityUpdate<'a>>,
    },
    /// A game message.
    Message {
        /// Index in the server-message registry.
        index: u32,
        /// Encoded message.
        payload: &'a [u8],
    },
    /// The server's current tick.
    Tick(NetTick),
    /// How early the client's inputs arrived lately.
    InputTiming {
        /// The smallest lead (ticks before needed) of the inputs of the last window; negative
        /// when some were late.
        min_lead: i32,
        /// Inputs that arrived after their tick was simulated.
        late: u32,
    },
}

impl<'a> ServerFrame<'a> {
    /// Decodes a whole frame; any malformed byte is an error.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let frame = match reader.u8()? {
            server_kind::WELCOME => {
                let client_id = reader.varint()?;
                let tick = reader.tick()?;
                reader.finish()?;
                Self::Welcome { client_id, tick }
            }
            server_kind::DISCONNECT => Self::Disconnect(decode_serde(reader.remaining())?),
            server_kind::STRUCTURE => {
                let tick = reader.tick()?;
                let mut entries = Vec::new();
                while !reader.is_empty() {
                    entries.push(read_structure_entry(&mut reader)?);
                }
                Self::Structure { tick, entries }
            }
            server_kind::UPDATE => {
                let header = read_update_header(&mut reader)?;
                let mut entities = Vec::new();
                while !reader.is_empty() {
                    let entity = reader.entity()?;
                    let components = read_components(&mut reader)?;
                    entities.push(EntityUpdate { entity, components });
                }
                Self::Update { header, entities }
            }
            server_kind::MESSAGE => Self::Message {
                index: reader.varint_u32()?,
                payload: reader.remaining(),
            },
            server_kind::TICK => {
                let tick = reader.tick()?;
                reader.finish()?;
                Self::Tick(tick)
            }
            server_kind::INPUT_TIMING => {
                let min_lead = i32::try_from(reader.signed_varint()?)
                    .map_err(|_| DecodeError::VarintOverflow)?;
                let late = reader.varint_u32()?;
                reader.finish()?;
                Self::InputTiming { min_lead, late }
            }
            kind => {
                return Err(DecodeError::UnknownKind {
                    frame: "server frame",
                    kind,
                });
            }
        };
        Ok(frame)
    }
}

/// Reads only the header of an update frame (the client buffers frames by it).
pub fn peek_update_header(bytes: &[u8]) -> Result<UpdateHeader, DecodeError> {
    let mut reader = Reader::new(bytes);
    match reader.u8()? {
        server_kind::UPDATE => read_update_header(&mut reader),
        kind => Err(DecodeError::UnknownKind {
            frame: "update frame",
            kind,
        }),
    }
}

fn read_update_header(reader: &mut Reader) -> Result<UpdateHeader, DecodeError> {
    Ok(UpdateHeader {
        update_id: reader.varint_u32()?,
        tick: reader.tick()?,
        required_structure: reader.tick()?,
    })
}

fn read_structure_entry<'a>(reader: &mut Reader<'a>) -> Result<StructureEntry<'a>, DecodeError> {
    let entity = reader.entity()?;
    match reader.u8()? {
        OP_DESPAWN => Ok(StructureEntry::Despawn(entity)),
        OP_SPAWN => Ok(StructureEntry::Spawn {
            entity,
            components: read_components(reader)?,
        }),
        OP_CHANGE => {
            let inserted = read_components(reader)?;
            let count = reader.count()?;
            let removed = (0..count)
                .map(|_| reader.varint_u32())
                .collect::<Result<_, _>>()?;
            Ok(StructureEntry::Change {
                entity,
                inserted,
                removed,
            })
        }
        kind => Err(DecodeError::UnknownKind {
            frame: "structure entry",
            kind,
        }),
    }
}

fn read_components<'a>(reader: &mut Reader<'a>) -> Result<Vec<ComponentBytes<'a>>, DecodeError> {
    let count = reader.count()?;
    (0..count)
        .map(|_| Ok((reader.varint_u32()?, reader.bytes()?)))
        .collect()
}

/// Starts a [`server_kind::WELCOME`] frame.
pub fn encode_welcome(client_id: u64, tick: NetTick) -> Vec<u8> {
    let mut out = vec![server_kind::WELCOME];
    write_varint(&mut out, client_id);
    write_tick(&mut out, tick);
    out
}

/// Encodes a [`server_kind::DISCONNECT`] frame.
pub fn encode_disconnect(reason: &DisconnectReason) -> Vec<u8> {
    let mut out = vec![server_kind::DISCONNECT];
    // Our own plain enum always encodes; fall back to an empty reason rather than panic.
    if encode_serde(reason, &mut out).is_err() {
        out.truncate(1);
    }
    out
}

/// Starts a [`server_kind::STRUCTURE`] frame for `tick`; entries follow.
pub fn write_structure_header(out: &mut Vec<u8>, tick: NetTick) {
    out.push(server_kind::STRUCTURE);
    write_tick(out, tick);
}

/// Appends a despawn entry.
pub fn write_despawn(out: &mut Vec<u8>, entity: Entity) {
    write_entity(out, entity);
    out.push(OP_DESPAWN);
}

/// Appends the head of a spawn entry; `count` component values must follow.
pub fn write_spawn_head(out: &mut Vec<u8>, entity: Entity, count: usize) {
    write_entity(out, entity);
    out.push(OP_SPAWN);
    write_varint(out, count as u64);
}

/// Appends the head of a change entry; `inserted` component values and then a removal list
/// (written with [`write_removals`]) must follow.
pub fn write_change_head(out: &mut Vec<u8>, entity: Entity, inserted: usize) {
    write_entity(out, entity);
    out.push(OP_CHANGE);
    write_varint(out, inserted as u64);
}

/// Appends the removal list that ends a change entry.
pub fn write_removals(out: &mut Vec<u8>, removed: &[u32]) {
    write_varint(out, removed.len() as u64);
    for index in removed {
        write_varint(out, (*index).into());
    }
}

/// Appends one component value: registry index, then the length-prefixed bytes.
pub fn write_component(out: &mut Vec<u8>, index: u32, bytes: &[u8]) {
    write_varint(out, index.into());
    super::write_bytes(out, bytes);
}

/// Starts a [`server_kind::UPDATE`] frame; entities follow, each as
/// [`write_entity`], a count and that many [`write_component`] values.
pub fn write_update_header(out: &mut Vec<u8>, header: UpdateHeader) {
    out.push(server_kind::UPDATE);
    write_varint(out, header.update_id.into());
    write_tick(out, header.tick);
    write_tick(out, header.required_structure);
}

/// Encodes a [`server_kind::TICK`] frame.
pub fn encode_tick(tick: NetTick) -> Vec<u8> {
    let mut out = vec![server_kind::TICK];
    write_tick(&mut out, tick);
    out
}

/// Encodes a [`server_kind::INPUT_TIMING`] frame.
pub fn encode_input_timing(min_lead: i32, late: u32) -> Vec<u8> {
    let mut out = vec![server_kind::INPUT_TIMING];
    write_signed_varint(&mut out, min_lead.into());
    write_varint(&mut out, late.into());
    out
}

#[cfg(test)]
mod tests {
    use bevy::prelude::Entity;

    use crate::shared::{disconnect::DisconnectReason, tick::NetTick, wire::*};

    fn entity(index: u32) -> Entity {
        Entity::from_raw_u32(index).unwrap()
    }

    #[test]
    fn input_timing_roundtrip_keeps_the_sign() {
        for min_lead in [0, 1, -1, 7, -60, i32::MAX, i32::MIN] {
            let bytes = encode_input_timing(min_lead, 3);
            let frame = ServerFrame::decode(&bytes).unwrap();
            assert_eq!(frame, ServerFrame::InputTiming { min_lead, late: 3 });
        }
        // A lead beyond i32 is refused, not wrapped.
        let mut out = vec![server_kind::INPUT_TIMING];
        write_signed_varint(&mut out, i64::from(i32::MAX) + 1);
        write_varint(&mut out, 0);
        assert!(ServerFrame::decode(&out).is_err());
    }

    #[test]
    fn structure_roundtrip() {
        let mut out = Vec::new();
        write_structure_header(&mut out, NetTick(42));
        write_spawn_head(&mut out, entity(1), 2);
        write_component(&mut out, 0, &[1, 2, 3]);
        write_component(&mut out, 3, &[]);
        write_despawn(&mut out, entity(2));
        write_change_head(&mut out, entity(3), 1);
        write_component(&mut out, 1, &[9]);
        write_removals(&mut out, &[0, 2]);

        let frame = ServerFrame::decode(&out).unwrap();
        assert_eq!(
            frame,
            ServerFrame::Structure {
                tick: NetTick(42),
                entries: vec![
                    StructureEntry::Spawn {
                        entity: entity(1),
                        components: vec![(0, &[1, 2, 3][..]), (3, &[][..])],
                    },
                    StructureEntry::Despawn(entity(2)),
                    StructureEntry::Change {
                        entity: entity(3),
                        inserted: vec![(1, &[9][..])],
                        removed: vec![0, 2],
                    },
                ],
            }
        );
    }

    #[test]
    fn update_roundtrip() {
        let header = UpdateHeader {
            update_id: 300,
            tick: NetTick(70_000),
            required_structure: NetTick(69_990),
        };
        let mut out = Vec::new();
        write_update_header(&mut out, header);
        write_entity(&mut out, entity(5));
        write_varint(&mut out, 1);
        write_component(&mut out, 2, &[4, 4]);
        assert_eq!(peek_update_header(&out).unwrap(), header);
        assert_eq!(
            ServerFrame::decode(&out).unwrap(),
            ServerFrame::Update {
                header,
                entities: vec![EntityUpdate {
                    entity: entity(5),
                    components: vec![(2, &[4, 4][..])],
                }],
            }
        );
    }

    #[test]
    fn control_frames_roundtrip() {
        assert_eq!(
            ServerFrame::decode(&encode_welcome(99, NetTick(5))).unwrap(),
            ServerFrame::Welcome {
                client_id: 99,
                tick: NetTick(5)
            }
        );
        let reason = DisconnectReason::ProtocolMismatch {
            server: 1,
            client: 2,
        };
        assert_eq!(
            ServerFrame::decode(&encode_disconnect(&reason)).unwrap(),
            ServerFrame::Disconnect(reason)
        );
    }

    #[test]
    fn every_truncation_of_a_valid_frame_is_an_error_or_a_shorter_frame() {
        let mut out = Vec::new();
        write_structure_header(&mut out, NetTick(1));
        write_spawn_head(&mut out, entity(1), 1);
        write_component(&mut out, 0, &[1, 2, 3, 4]);
        for len in 0..out.len() {
            // Must never panic; a cut inside an entry is an error.
            let result = ServerFrame::decode(&out[..len]);
            if len > 2 {
                assert!(result.is_err(), "prefix of {len} bytes decoded");
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic fuzz: every decoder sees pseudo-random bytes.
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state >> ((i % 8) * 8)) as u8 ^ i as u8)
                .collect();
            let _ = ServerFrame::decode(&bytes);
            let _ = ClientFrame::decode(&bytes);
            let _ = peek_update_header(&bytes);
        }
    }
}
