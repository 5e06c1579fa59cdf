//! Building one entry body of [`ValueCache`]: the common one-delta body directly, any other
//! from its pieces (removals, blobs, whole values and deltas) laid out after one another.

use bevy::prelude::*;

use super::{Body, BodyKey, EncodeContext, HolderView, KeyView, ValueCache};
use crate::server::{authority::EchoLog, blobs::BlobKey, replicated_world::SlotRecord};
use crate::shared::{
    registry::BASELINE_WINDOW_TICKS,
    tick::NetTick,
    wire::{BitWriter, ValueKind, write_change_tick, write_value_kind},
};

impl ValueCache {
    /// Builds the body of `slot`'s entry for `key` into `chunk` (its ranges are within the
    /// chunk's). `None` when there is nothing to send (no component changed after the
    /// baseline, or a value failed to encode).
    pub(super) fn build(
        &self,
        context: &EncodeContext,
        slot: u32,
        key: BodyKey,
        chunk: &mut ChunkOut,
    ) -> Option<Body> {
        let record = &context.replicated.slots[slot as usize];
        let Some(body) = self.build_single_delta(context, record, slot, key, chunk) else {
            return self.build_pieces(context, record, slot, key, chunk);
        };
        // Every debug build (the tests) checks that the direct way wrote what the general one
        // would have.
        #[cfg(debug_assertions)]
        {
            let mut general = ChunkOut::default();
            let expected = self.build_pieces(context, record, slot, key, &mut general);
            let bits = |chunk: &ChunkOut, body: &Body| {
                let mut out = BitWriter::new();
                out.append_bits(&chunk.bits, body.range.0, body.range.1 - body.range.0);
                (out, body.baseline, self.components_in(chunk, body).to_vec())
            };
            assert_eq!(
                expected.map(|expected| bits(&general, &expected)),
                Some(bits(chunk, &body)),
                "the one-delta body of slot {slot} differs from the general one"
            );
        }
        Some(body)
    }

    /// The component indices of `body`, built into `chunk`.
    #[cfg(debug_assertions)]
    fn components_in<'a>(&self, chunk: &'a ChunkOut, body: &Body) -> &'a [u32] {
        &chunk.components[body.components.0 as usize..body.components.1 as usize]
    }

    /// [`Self::build`] from pieces: any body.
    fn build_pieces(
        &self,
        context: &EncodeContext,
        record: &SlotRecord,
        slot: u32,
        key: BodyKey,
        chunk: &mut ChunkOut,
    ) -> Option<Body> {
        let tick = self.tick;
        let mut body = Body::default();
        let ChunkOut {
            bits: out,
            components,
            scratch,
            pieces,
            ..
        } = chunk;
        scratch.clear();
        pieces.clear();
        let components_start = components.len();
        let uses_baselines = |index: u32| {
            context
                .registry
                .get(index)
                .is_ok_and(|component| component.uses_baselines)
        };
        // The entry names one earlier baseline for all its deltas, so it is used only when every
        // value that may be a delta existed then (both sides then find it in their histories).
        let view = key.view();
        let baselines = match view {
            KeyView::Spawn => None,
            KeyView::Update { base, previous, .. } => {
                let previous = previous.filter(|previous| {
                    tick.diff(*previous) <= BASELINE_WINDOW_TICKS as i32
                        && record
                            .components
                            .iter()
                            .filter(|c| {
                                c.present
                                    && !c.large
                                    && c.changed.is_newer_than(base)
                                    && uses_baselines(c.index)
                            })
                            .all(|c| !c.since.is_newer_than(*previous))
                });
                Some((base, previous))
            }
        };
        // Whole encodings (the encode step's, or made here) and deltas first; the body then
        // lays them out contiguously with their change ticks and kinds.
        for component in &record.components {
            let index = component.index;
            match view {
                KeyView::Spawn => {
                    if !component.present {
                        continue;
                    }
                }
                KeyView::Update { base, holder, .. } => {
                    if !component.changed.is_newer_than(base)
                        || (holder == HolderView::Holds && is_echo(context, record.entity, index))
                    {
                        continue;
                    }
                }
            }
            let piece = if !component.present {
                Piece::Removed(component.changed)
            } else if component.large {
                match context.blobs.get(BlobKey::Component { slot, index }) {
                    Some(blob) => Piece::Blob(component.changed, blob.id),
                    None => continue,
                }
            } else {
                let whole_only = matches!(
                    view,
                    KeyView::Update { holder, .. } if holder != HolderView::None
                ) && is_client_authoritative(context, index);
                match baselines.filter(|_| !whole_only).and_then(|baselines| {
                    self.delta(context, record, slot, index, baselines, scratch)
                }) {
                    Some(range) => Piece::Delta(component.changed, range),
                    None => match component.encoded.filter(|_| component.changed == tick) {
                        Some((start, end)) => Piece::Whole(
                            component.changed,
                            Bits::Cache,
                            (start as usize, end as usize),
                        ),
                        None => match whole(context, record.entity, index, scratch) {
                            Some(range) => Piece::Whole(component.changed, Bits::Scratch, range),
                            // Logged when it failed; the others still go.
                            None => continue,
                        },
                    },
                }
            };
            components.push(index);
            if matches!(piece, Piece::Delta(..)) {
                body.baseline = baselines;
            }
            pieces.push(piece);
        }
        if components.len() == components_start && !key.is_spawn() {
            return None;
        }
        body.components = (components_start as u32, components.len() as u32);
        // Lay out per component: [removed], change tick, [kind, value].
        let start = out.bit_len();
        for (piece, &index) in pieces.iter().zip(&components[components_start..]) {
            let delta_allowed = body.baseline.is_some() && uses_baselines(index);
            if !key.is_spawn() {
                out.write_bool(matches!(piece, Piece::Removed(_)));
            }
            match *piece {
                Piece::Removed(changed) => write_change_tick(out, changed, tick),
                Piece::Blob(changed, id) => {
                    write_change_tick(out, changed, tick);
                    write_value_kind(out, ValueKind::Blob(id), delta_allowed);
                }
                Piece::Whole(changed, bits, (from, to)) => {
                    write_change_tick(out, changed, tick);
                    write_value_kind(out, ValueKind::Whole, delta_allowed);
                    let bits = match bits {
                        Bits::Cache => &self.bits,
                        Bits::Scratch => &*scratch,
                    };
                    out.append_bits(bits, from, to - from);
                }
                Piece::Delta(changed, (from, to)) => {
                    write_change_tick(out, changed, tick);
                    write_value_kind(out, ValueKind::Delta, true);
                    out.append_bits(scratch, from, to - from);
                }
            }
        }
        body.range = (start, out.bit_len());
        Some(body)
    }

    /// The most common body, built without the general path's pieces: one value, changed after
    /// the baseline and written as a delta, for a client that does not hold the entity. `None`
    /// (nothing written) for any other; the general path then builds it, to the same bits.
    fn build_single_delta(
        &self,
        context: &EncodeContext,
        record: &SlotRecord,
        slot: u32,
        key: BodyKey,
        chunk: &mut ChunkOut,
    ) -> Option<Body> {
        let KeyView::Update {
            base,
            previous,
            holder: HolderView::None,
        } = key.view()
        else {
            return None;
        };
        let [component] = record.components.as_slice() else {
            return None;
        };
        let uses_baselines = context
            .registry
            .get(component.index)
            .is_ok_and(|registered| registered.uses_baselines);
        if !component.present
            || component.large
            || !component.changed.is_newer_than(base)
            || !uses_baselines
        {
            return None;
        }
        let tick = self.tick;
        let previous = previous.filter(|previous| {
            tick.diff(*previous) <= BASELINE_WINDOW_TICKS as i32
                && !component.since.is_newer_than(*previous)
        });
        let out = &mut chunk.bits;
        let start = out.bit_len();
        // Not removed, the change tick, a delta.
        out.write_bool(false);
        write_change_tick(out, component.changed, tick);
        write_value_kind(out, ValueKind::Delta, true);
        if self
            .delta(
                context,
                record,
                slot,
                component.index,
                (base, previous),
                out,
            )
            .is_none()
        {
            out.truncate(start);
            return None;
        }
        let components = chunk.components.len() as u32;
        chunk.components.push(component.index);
        Some(Body {
            components: (components, components + 1),
            baseline: Some((base, previous)),
            range: (start, out.bit_len()),
        })
    }

    /// Writes component `index` into `out` as a delta against the client's baselines, when the
    /// codec uses baselines and they are recent enough.
    fn delta(
        &self,
        context: &EncodeContext,
        record: &SlotRecord,
        slot: u32,
        index: u32,
        (base, previous): (NetTick, Option<NetTick>),
        out: &mut BitWriter,
    ) -> Option<(usize, usize)> {
        let component = context.registry.get(index).ok()?;
        let encoder = context.encoders.encoders.get(index as usize)?;
        let state = record.component(index)?;
        let recent = self.tick.diff(base) <= BASELINE_WINDOW_TICKS as i32
            && !state.since.is_newer_than(base);
        if !component.uses_baselines || !recent {
            return None;
        }
        // Bodies are built in slot order: the next slot's baselines come while this is written.
        encoder.prefetch_history(slot.wrapping_add(1));
        let start = out.bit_len();
        match encoder.write_delta(
            context.world,
            record.entity,
            slot,
            state.changed,
            base,
            previous,
            out,
        ) {
            Ok(true) => Some((start, out.bit_len())),
            Ok(false) => None,
            Err(error) => {
                debug!(
                    "{} of {} sent whole: {error}",
                    component.name, record.entity
                );
                None
            }
        }
    }
}

/// What one chunk of bodies is built into.
#[derive(Default)]
pub(super) struct ChunkOut {
    /// The bodies' bits.
    pub(super) bits: BitWriter,
    /// The bodies' component lists.
    pub(super) components: Vec<u32>,
    /// Encodings made while building one body.
    scratch: BitWriter,
    /// One body's pieces, before layout.
    pieces: Vec<Piece>,
    /// Bodies built.
    pub(super) built: usize,
}

impl ChunkOut {
    /// Empties it for another send, keeping its buffers.
    pub(super) fn clear(&mut self) {
        self.bits.clear();
        self.components.clear();
        self.built = 0;
    }
}

/// Where a piece's bits are.
#[derive(Clone, Copy)]
enum Bits {
    /// The cache's, written by the encode step.
    Cache,
    /// The build's scratch.
    Scratch,
}

/// The whole encoding of component `index` of `entity`, written into `out`.
fn whole(
    context: &EncodeContext,
    entity: Entity,
    index: u32,
    out: &mut BitWriter,
) -> Option<(usize, usize)> {
    let component = context.registry.get(index).ok()?;
    let encoder = context.encoders.encoders.get(index as usize)?;
    let start = out.bit_len();
    match encoder.write_whole(context.world, entity, out) {
        Ok(true) => Some((start, out.bit_len())),
        Ok(false) => None,
        Err(error) => {
            error!("not replicating {} of {entity}: {error}", component.name);
            None
        }
    }
}

/// One component's part of a body, before layout.
enum Piece {
    Removed(NetTick),
    Blob(NetTick, u32),
    Whole(NetTick, Bits, (usize, usize)),
    /// In the build's scratch.
    Delta(NetTick, (usize, usize)),
}

/// Whether the component at wire `index` is client-authoritative.
fn is_client_authoritative(context: &EncodeContext, index: u32) -> bool {
    context
        .world
        .get_resource::<crate::shared::authority::AuthorityRegistry>()
        .is_some_and(|registry| registry.contains(index))
}

/// Whether `entity`'s component `index` holds the value its holder sent (not sent back to it).
fn is_echo(context: &EncodeContext, entity: Entity, index: u32) -> bool {
    let (Some(echo), Ok(component)) = (
        context.world.get_resource::<EchoLog>(),
        context.registry.get(index),
    ) else {
        return false;
    };
    !echo.is_empty() && echo.is_echo(context.world, entity, index, component.component_id)
}
