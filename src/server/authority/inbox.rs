//! Each client-authoritative type's inbox: the values holders sent, by entity and tick (the
//! baselines later values are coded against), applied at their tick after the type's rule.

use std::sync::Arc;

use bevy::{
    ecs::component::{ComponentId, Mutable},
    platform::collections::HashMap,
    prelude::*,
};

use super::echo::EchoLog;
use crate::shared::{
    authority::{AuthorityRule, HeldBy, OWNED_HISTORY_TICKS, Proposal, Verdict},
    codec::{Baseline, ComponentCodec},
    error::DecodeError,
    scoped::scoped,
    tick::{NetTick, ServerTick},
    tick_buffer::{SameTick, TickBuffer},
    wire::BitReader,
};

/// [`Proposal::ticks`] at most: a holder that sat still does not bank a long time's allowance
/// for one move.
const MAX_PROPOSAL_TICKS: i32 = 8;

/// What became of one value read from a section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadValue {
    /// Decoded and kept.
    Kept,
    /// Decoded and dropped (nobody to keep it for).
    Dropped,
    /// Coded against a value the server does not hold: the rest of the section cannot be read.
    NoBaseline,
}

/// One client-authoritative type's typed work, behind the registry's wire index.
pub(super) trait OwnedType: Send + Sync {
    /// The type's wire index.
    fn index(&self) -> u32;

    /// Reads one value coded against the value of `tick - baseline_age` (whole when `0`) and
    /// the one `previous_age` before that (none when `0`). Kept for `entity` from `client_id`
    /// when `keep`.
    #[allow(clippy::too_many_arguments)]
    fn read(
        &mut self,
        bits: &mut BitReader,
        entity: Option<Entity>,
        client_id: u64,
        tick: NetTick,
        baseline_age: u32,
        previous_age: u32,
        keep: bool,
    ) -> Result<ReadValue, DecodeError>;

    /// Applies, for every held entity, the newest value due by `now`.
    fn apply(&mut self, world: &mut World, now: NetTick, echo: &mut EchoLog);

    /// Forgets what `entity`'s holder sent.
    fn forget(&mut self, entity: Entity);

    /// Reads one whole value and inserts it on `entity` (a client's spawn).
    fn insert_whole(
        &self,
        bits: &mut BitReader,
        entity: &mut EntityWorldMut,
    ) -> Result<(), DecodeError>;
}

/// Every client-authoritative type's inbox, in registration order.
#[derive(Resource, Default)]
pub(crate) struct AuthorityInboxes {
    pub(super) types: Vec<Box<dyn OwnedType>>,
}

impl AuthorityInboxes {
    /// The inbox of the type at wire `index`.
    pub(super) fn get_mut(&mut self, index: u32) -> Option<&mut Box<dyn OwnedType>> {
        self.types.iter_mut().find(|owned| owned.index() == index)
    }

    /// Forgets `entity` in every inbox.
    pub(super) fn forget(&mut self, entity: Entity) {
        for owned in &mut self.types {
            owned.forget(entity);
        }
    }
}

/// What one holder sent for one entity.
struct Inbox<C> {
    holder: u64,
    received: TickBuffer<C, OWNED_HISTORY_TICKS>,
    /// The tick of the value applied last.
    applied: Option<NetTick>,
    /// The server tick the last value was accepted at.
    accepted_at: Option<NetTick>,
}

struct TypedInbox<C, K> {
    index: u32,
    component_id: ComponentId,
    codec: Arc<K>,
    entities: HashMap<Entity, Inbox<C>>,
}

impl<C, K> OwnedType for TypedInbox<C, K>
where
    C: Component<Mutability = Mutable> + Clone,
    K: ComponentCodec<C>,
{
    fn index(&self) -> u32 {
        self.index
    }

    fn read(
        &mut self,
        bits: &mut BitReader,
        entity: Option<Entity>,
        client_id: u64,
        tick: NetTick,
        baseline_age: u32,
        previous_age: u32,
        keep: bool,
    ) -> Result<ReadValue, DecodeError> {
        let inbox = entity.and_then(|entity| self.entities.get(&entity));
        let inbox = inbox.filter(|inbox| inbox.holder == client_id);
        let value = if baseline_age == 0 {
            self.codec.read(bits)?
        } else {
            let base_tick = tick.sub(baseline_age);
            let Some(base) = inbox.and_then(|inbox| inbox.received.get(base_tick)) else {
                return Ok(ReadValue::NoBaseline);
            };
            let previous = match previous_age {
                0 => None,
                age => {
                    let previous_tick = base_tick.sub(age);
                    let Some(value) = inbox.and_then(|inbox| inbox.received.get(previous_tick))
                    else {
                        return Ok(ReadValue::NoBaseline);
                    };
                    Some((value, previous_tick))
                }
            };
            let baseline = Baseline {
                value: base,
                tick: base_tick,
                previous,
            };
            self.codec.read_delta(bits, tick, baseline)?
        };
        let Some(entity) = entity.filter(|_| keep) else {
            return Ok(ReadValue::Dropped);
        };
        let inbox = self.entities.entry(entity).or_insert_with(|| Inbox {
            holder: client_id,
            received: TickBuffer::default(),
            applied: None,
            accepted_at: None,
        });
        if inbox.holder != client_id {
            *inbox = Inbox {
                holder: client_id,
                received: TickBuffer::default(),
                applied: None,
                accepted_at: None,
            };
        }
        inbox.received.insert(tick, value, SameTick::Replace);
        Ok(ReadValue::Kept)
    }

    fn apply(&mut self, world: &mut World, now: NetTick, echo: &mut EchoLog) {
        let rule = world.get_resource::<RuleOf<C>>().map(|rule| rule.0.clone());
        for (&entity, inbox) in &mut self.entities {
            if world.get::<HeldBy>(entity).map(|held| held.client_id) != Some(inbox.holder) {
                continue;
            }
            let Some((tick, value)) = inbox.received.at_or_before(now) else {
                continue;
            };
            if inbox
                .applied
                .is_some_and(|applied| !tick.is_newer_than(applied))
            {
                continue;
            }
            inbox.applied = Some(tick);
            let ticks = inbox
                .accepted_at
                .map_or(1, |at| now.diff(at).clamp(1, MAX_PROPOSAL_TICKS) as u32);
            let Ok(mut target) = world.get_entity_mut(entity) else {
                continue;
            };
            let verdict = match &rule {
                Some(rule) => rule(&Proposal {
                    entity,
                    client_id: inbox.holder,
                    current: target.get::<C>(),
                    proposed: value,
                    ticks,
                }),
                None => Verdict::Accept,
            };
            match verdict {
                Verdict::Accept => {
                    inbox.accepted_at = Some(now);
                    write(&mut target, value.clone());
                    if let Some(ticks) = target.get_change_ticks_by_id(self.component_id) {
                        echo.note(entity, self.index, ticks.changed);
                    }
                }
                Verdict::Correct(corrected) => {
                    inbox.accepted_at = Some(now);
                    write(&mut target, corrected);
                    echo.forget_one(entity, self.index);
                }
                Verdict::Reject => {
                    // The holder is sent the server's value back.
                    if let Some(mut current) = target.get_mut::<C>() {
                        current.set_changed();
                    }
                    echo.forget_one(entity, self.index);
                }
            }
        }
    }

    fn forget(&mut self, entity: Entity) {
        self.entities.remove(&entity);
    }

    fn insert_whole(
        &self,
        bits: &mut BitReader,
        entity: &mut EntityWorldMut,
    ) -> Result<(), DecodeError> {
        let value = self.codec.read(bits)?;
        entity.insert(value);
        Ok(())
    }
}

/// Writes `value` over the entity's `C` (inserts it when missing).
fn write<C: Component<Mutability = Mutable>>(entity: &mut EntityWorldMut, value: C) {
    match entity.get_mut::<C>() {
        Some(mut current) => *current = value,
        None => {
            entity.insert(value);
        }
    }
}

/// Adds `C`'s inbox (at wire `index`, read with `codec`).
pub(crate) fn add_authority<C, K>(world: &mut World, index: u32, codec: Arc<K>)
where
    C: Component<Mutability = Mutable> + Clone,
    K: ComponentCodec<C>,
{
    let component_id = world.register_component::<C>();
    world
        .get_resource_or_init::<AuthorityInboxes>()
        .types
        .push(Box::new(TypedInbox::<C, K> {
            index,
            component_id,
            codec,
            entities: HashMap::default(),
        }));
}

/// `C`'s rule, set by [`validate_authority`](crate::AuthorityAppExt::validate_authority).
#[derive(Resource)]
pub(crate) struct RuleOf<C>(pub(crate) Arc<AuthorityRule<C>>);

/// Applies every type's values due at this tick (`FixedPreUpdate`, beside the inputs).
pub(crate) fn apply_owned_values(world: &mut World) {
    let now = world.resource::<ServerTick>().0;
    scoped(world, |world, inboxes: &mut AuthorityInboxes| {
        scoped(world, |world, echo: &mut EchoLog| {
            for owned in &mut inboxes.types {
                owned.apply(world, now, echo);
            }
        });
    });
}
