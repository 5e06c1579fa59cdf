//! [`Typed`]: the code each replicated component type brings, behind [`ComponentFns`]: its
//! codec on both sides, the histories delta coding needs, and how its values reach entities.

use super::*;

/// The typed implementation of [`ComponentFns`].
pub(super) struct Typed<C, K> {
    pub(super) codec: K,
    /// `C::clone`, once `C` is known to be `Clone` (see [`ReplicationRegistry::set_clone`]).
    pub(super) clone: Option<fn(&C) -> C>,
    /// Server: values as clients decode them, by slot (delta codecs only).
    pub(super) server_history: Vec<History<C>>,
    /// Client: values received, by server entity (delta codecs only).
    pub(super) client_history: EntityHashMap<History<C>>,
}

/// The baseline in effect at `base`, with the distinct one before it at `previous`.
fn baseline_of<C>(
    history: &History<C>,
    base: NetTick,
    previous: Option<NetTick>,
) -> Option<Baseline<'_, C>> {
    let (tick, value) = history.at(base)?;
    let previous = previous
        .and_then(|previous| history.at(previous))
        .filter(|(older, _)| tick.is_newer_than(*older))
        .map(|(older, value)| (value, older));
    Some(Baseline {
        value,
        tick,
        previous,
    })
}

impl<C: Component, K: ComponentCodec<C>> Typed<C, K> {
    fn decode_once(
        &self,
        reader: &mut BitReader,
        encoding: ValueEncoding,
        remote: Entity,
        tick: NetTick,
    ) -> Result<C, ReadError> {
        match encoding {
            ValueEncoding::Whole => Ok(self.codec.read(reader)?),
            ValueEncoding::Delta { base, previous } => {
                let baseline = self
                    .client_history
                    .get(&remote)
                    .and_then(|history| baseline_of(history, base, previous))
                    .ok_or(ReadError::MissingBaseline)?;
                Ok(self.codec.read_delta(reader, tick, baseline)?)
            }
        }
    }

    /// Turns one decoded `value` into `copies` values, plus the baseline a delta codec keeps:
    /// clones when `C` is `Clone`, else decodes `again` (a delta codec's type that is neither
    /// interpolated nor predicted).
    fn spread<E>(
        &mut self,
        value: C,
        copies: usize,
        remote: Entity,
        tick: NetTick,
        again: impl Fn(&Self) -> Result<C, E>,
    ) -> Result<Vec<ErasedValue>, E> {
        let copy = |this: &Self, value: &C| match this.clone {
            Some(clone) => Ok(clone(value)),
            None => again(this),
        };
        let mut values = Vec::with_capacity(copies);
        for _ in 1..copies {
            values.push(ErasedValue::new(copy(self, &value)?));
        }
        if self.codec.uses_baselines() {
            let kept = copy(self, &value)?;
            self.remember_received(remote, tick, kept);
        }
        if copies > 0 {
            values.push(ErasedValue::new(value));
        }
        Ok(values)
    }

    fn remember_received(&mut self, remote: Entity, tick: NetTick, value: C) {
        let history = self.client_history.entry(remote).or_default();
        history.prune(tick.sub(2 * BASELINE_WINDOW_TICKS));
        history.insert(tick, value);
    }
}

impl<C: Component, K: ComponentCodec<C>> ComponentFns for Typed<C, K> {
    fn write_whole(
        &self,
        world: &World,
        entity: Entity,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError> {
        let Some(value) = world.get::<C>(entity) else {
            return Ok(false);
        };
        let start = out.bit_len();
        if let Err(error) = self.codec.write(value, out) {
            out.truncate(start);
            return Err(error);
        }
        if out.bit_len() - start > MAX_VALUE_BYTES * 8 {
            out.truncate(start);
            return Err(EncodeError {
                type_name: type_name::<C>(),
                detail: format!("the value is larger than the limit of {MAX_VALUE_BYTES} bytes"),
            });
        }
        Ok(true)
    }

    fn remember(
        &mut self,
        slot: u32,
        tick: NetTick,
        written: &BitWriter,
        (start, end): (usize, usize),
    ) -> Result<(), DecodeError> {
        let mut reader = BitReader::with_range(written.as_bytes(), start, end);
        let value = self.codec.read(&mut reader)?;
        let slot = slot as usize;
        if self.server_history.len() <= slot {
            self.server_history.resize_with(slot + 1, History::default);
        }
        let history = &mut self.server_history[slot];
        history.prune(tick.sub(BASELINE_WINDOW_TICKS));
        history.insert(tick, value);
        Ok(())
    }

    fn write_delta(
        &self,
        world: &World,
        entity: Entity,
        slot: u32,
        tick: NetTick,
        base: NetTick,
        previous: Option<NetTick>,
        out: &mut BitWriter,
    ) -> Result<bool, EncodeError> {
        let (Some(value), Some(history)) = (
            world.get::<C>(entity),
            self.server_history.get(slot as usize),
        ) else {
            return Ok(false);
        };
        let Some(baseline) = baseline_of(history, base, previous) else {
            return Ok(false);
        };
        let start = out.bit_len();
        match self.codec.write_delta(value, tick, baseline, out) {
            Ok(()) => Ok(true),
            Err(error) => {
                out.truncate(start);
                Err(error)
            }
        }
    }

    fn forget_slot(&mut self, slot: u32) {
        if let Some(history) = self.server_history.get_mut(slot as usize) {
            *history = History::default();
        }
    }

    fn read(
        &mut self,
        reader: &mut BitReader,
        encoding: ValueEncoding,
        remote: Entity,
        tick: NetTick,
        copies: usize,
    ) -> Result<Vec<ErasedValue>, ReadError> {
        let start = reader.clone();
        let value = self.decode_once(reader, encoding, remote, tick)?;
        self.spread(value, copies, remote, tick, |this| {
            this.decode_once(&mut start.clone(), encoding, remote, tick)
        })
    }

    fn read_blob(
        &mut self,
        bytes: &[u8],
        remote: Entity,
        tick: NetTick,
        copies: usize,
    ) -> Result<Vec<ErasedValue>, DecodeError> {
        let decode = |this: &Self| {
            let mut reader = BitReader::new(bytes);
            let value = this.codec.read(&mut reader)?;
            reader.finish()?;
            Ok::<_, DecodeError>(value)
        };
        let value = decode(self)?;
        self.spread(value, copies, remote, tick, decode)
    }

    fn overwrite(&self, entity: &mut EntityWorldMut, value: ErasedValue) {
        let value = value.take::<C>();
        if <C::Mutability as bevy::ecs::component::ComponentMutability>::MUTABLE {
            // SAFETY: the component is mutable (checked just above).
            if let Some(mut current) = unsafe { entity.get_mut_assume_mutable::<C>() } {
                *current = value;
                return;
            }
        }
        entity.insert(value);
    }

    fn push_snapshot(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue> {
        match entity.get_mut::<SnapshotBuffer<C>>() {
            Some(mut buffer) => {
                buffer.push(tick, value.take::<C>());
                None
            }
            None => Some(value),
        }
    }

    fn new_buffer(&self, tick: NetTick, value: ErasedValue) -> ErasedValue {
        let mut buffer = SnapshotBuffer::<C>::default();
        buffer.push(tick, value.take::<C>());
        ErasedValue::new(buffer)
    }

    fn push_confirmed(
        &self,
        entity: &mut EntityWorldMut,
        tick: NetTick,
        value: ErasedValue,
    ) -> Option<ErasedValue> {
        match entity.get_mut::<Confirmed<C>>() {
            Some(mut confirmed) => {
                confirmed.push(tick, value.take::<C>());
                None
            }
            None => Some(value),
        }
    }

    fn new_confirmed(&self, tick: NetTick, value: ErasedValue) -> ErasedValue {
        let mut confirmed = Confirmed::<C>::default();
        confirmed.push(tick, value.take::<C>());
        ErasedValue::new(confirmed)
    }

    fn remove(&self, entity: &mut EntityWorldMut) {
        entity.remove::<(C, SnapshotBuffer<C>, Confirmed<C>)>();
    }

    fn remap(&self, entity: &mut EntityWorldMut, targets: &[Entity], map: &ServerEntityMap) {
        let mut replay = ReplayMapper {
            targets,
            next: 0,
            map,
        };
        if <C::Mutability as bevy::ecs::component::ComponentMutability>::MUTABLE {
            // SAFETY: the component is mutable (checked just above).
            if let Some(mut current) = unsafe { entity.get_mut_assume_mutable::<C>() } {
                C::map_entities(&mut *current, &mut replay);
            }
        } else if let Some(mut current) = entity.take::<C>() {
            C::map_entities(&mut current, &mut replay);
            entity.insert(current);
        }
    }

    fn forget_remote(&mut self, remote: Entity) {
        self.client_history.remove(&remote);
    }

    fn take_unmapped(
        &self,
        entity: &mut EntityWorldMut,
        targets: &[Entity],
    ) -> Option<ErasedValue> {
        let mut value = entity.take::<C>()?;
        let mut back = TargetsMapper { targets, next: 0 };
        C::map_entities(&mut value, &mut back);
        Some(ErasedValue::new(value))
    }

    fn clear_client(&mut self) {
        self.client_history.clear();
    }

    fn set_clone(&mut self, clone: &dyn Any) {
        if let Some(clone) = clone.downcast_ref::<fn(&C) -> C>() {
            self.clone = Some(*clone);
        }
    }

    fn clear_server(&mut self) {
        self.server_history.clear();
    }
}

/// Puts the `n`-th recorded server entity back as the `n`-th entity a component names.
struct TargetsMapper<'a> {
    targets: &'a [Entity],
    next: usize,
}

impl EntityMapper for TargetsMapper<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        let target = self.targets.get(self.next).copied().unwrap_or(source);
        self.next += 1;
        target
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}

/// Maps the `n`-th entity a component names to the client copy of the `n`-th recorded server
/// entity.
struct ReplayMapper<'a> {
    targets: &'a [Entity],
    next: usize,
    map: &'a ServerEntityMap,
}

impl EntityMapper for ReplayMapper<'_> {
    fn get_mapped(&mut self, source: Entity) -> Entity {
        let Some(&target) = self.targets.get(self.next) else {
            return source;
        };
        self.next += 1;
        self.map.to_client(target).unwrap_or(Entity::PLACEHOLDER)
    }

    fn set_mapped(&mut self, _source: Entity, _target: Entity) {}
}
