//! Client inputs on the server: a short per-client queue, handing the simulation each tick the
//! input meant for it, and telling clients how early their inputs arrive.

use std::collections::VecDeque;

use bevy::prelude::*;
use bevy_renet::{RenetServer, renet::Bytes};

use super::{
    connected_client::ConnectedClient, local_client::LocalClient, outgoing::send_to_client,
};
use crate::shared::{
    capture::NetCapture,
    channels::UNRELIABLE_CHANNEL,
    codec::decode_serde,
    error::DecodeError,
    input::{LocalInput, NetInput},
    prediction::{ControlledBy, TickInput},
    tick::{NetTick, ServerTick},
    wire,
};

/// Inputs further ahead of the server than this many ticks (2 s at 60 Hz) are dropped, so a
/// client cannot fill the server's memory with far-future ticks.
pub const MAX_INPUT_LEAD_TICKS: i32 = 120;
/// Ticks between two [`wire::server_kind::INPUT_TIMING`] reports to a client.
const TIMING_REPORT_TICKS: u32 = 10;
/// Repeated ticks remembered to recognise late inputs.
const MISSED_MEMORY: usize = 64;

/// The input a client meant for the tick being simulated, on its
/// [`ConnectedClient`](super::ConnectedClient) entity. Written in `FixedPreUpdate`
/// ([`ServerSet::ApplyInputs`](super::ServerSet::ApplyInputs)); read it in `FixedUpdate`.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct ClientInput<I> {
    /// The input.
    pub input: I,
    /// The tick it is applied at.
    pub tick: NetTick,
    /// The client's input for this tick had not arrived: this is its last input, repeated.
    pub repeated: bool,
}

/// How a client's inputs fared, on its [`ConnectedClient`](super::ConnectedClient) entity.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputStats {
    /// Ticks simulated with the client's own input for that tick.
    pub on_time: u64,
    /// Ticks simulated with a repeated input because the client's had not arrived.
    pub repeated: u64,
    /// Inputs that arrived after their tick was simulated (dropped).
    pub late: u64,
    /// Inputs too far in the future (dropped).
    pub too_early: u64,
    /// Ticks to spare of the least early input in the last report window (negative: late).
    /// Updated every few ticks when the server reports it to the client.
    pub recent_min_lead: Option<i32>,
}

impl InputStats {
    /// Share of simulated ticks that had the client's own input, 0 to 1.
    pub fn on_time_share(&self) -> f64 {
        let total = self.on_time + self.repeated;
        if total == 0 {
            1.0
        } else {
            self.on_time as f64 / total as f64
        }
    }
}

/// Per-client queue of inputs of type `I` not simulated yet.
#[derive(Component)]
pub(crate) struct InputQueue<I> {
    pending: VecDeque<(NetTick, I)>,
    missed: VecDeque<NetTick>,
}

impl<I> Default for InputQueue<I> {
    fn default() -> Self {
        Self {
            pending: VecDeque::new(),
            missed: VecDeque::new(),
        }
    }
}

/// Lead of a client's inputs over the current window, for its timing report.
#[derive(Component, Default, Debug)]
pub(crate) struct InputTiming {
    min_lead: Option<i32>,
    late: u32,
}

/// Queues the inputs of one input block of a client's update frame (server side). Returns the newest
/// tick it holds from them (queued now or before): the only tick the client may be told
/// arrived. Inputs dropped as too early or too late are not acknowledged, so the client sends
/// them again while its clock adapts.
pub(crate) fn receive_inputs<I: NetInput>(
    world: &mut World,
    client: Entity,
    newest: NetTick,
    inputs: &[&[u8]],
) -> Result<Option<NetTick>, DecodeError> {
    // Newest first; an input with the newer one's bytes is the newer one, decoded once.
    let mut decoded: Vec<I> = Vec::with_capacity(inputs.len());
    for (position, bytes) in inputs.iter().enumerate() {
        let input = match decoded.last() {
            Some(newer) if inputs[position - 1] == *bytes => newer.clone(),
            _ => decode_serde::<I>(bytes)?,
        };
        decoded.push(input);
    }
    let now = world.resource::<ServerTick>().0;
    // The game may have despawned the client's entity; its inputs then have nowhere to go.
    let Ok(mut entity) = world.get_entity_mut(client) else {
        return Ok(None);
    };
    if !entity.contains::<InputQueue<I>>() {
        entity.insert((
            InputQueue::<I>::default(),
            ClientInput::<I>::default(),
            InputStats::default(),
            InputTiming::default(),
        ));
    }
    let (mut queue, mut stats, mut timing) = entity
        .get_components_mut::<(&mut InputQueue<I>, &mut InputStats, &mut InputTiming)>()
        .map_err(|_| DecodeError::UnexpectedEnd("input state"))?;
    // Lead of the newest input: ticks to spare before the server simulates it.
    let lead = newest.diff(now).saturating_sub(1);
    timing.min_lead = Some(timing.min_lead.map_or(lead, |min| min.min(lead)));
    let mut kept = None;
    for (age, input) in decoded.into_iter().enumerate() {
        let tick = newest.sub(age as u32);
        if !tick.is_newer_than(now) {
            if let Some(position) = queue.missed.iter().position(|missed| *missed == tick) {
                queue.missed.remove(position);
                stats.late += 1;
                timing.late += 1;
            }
            continue;
        }
        if tick.diff(now) > MAX_INPUT_LEAD_TICKS {
            stats.too_early += 1;
            continue;
        }
        // Newest first: the first tick kept is the newest held.
        kept.get_or_insert(tick);
        let position = queue
            .pending
            .iter()
            .position(|(held, _)| !tick.is_newer_than(*held));
        match position {
            Some(index) if queue.pending[index].0 == tick => {}
            Some(index) => queue.pending.insert(index, (tick, input)),
            None => queue.pending.push_back((tick, input)),
        }
    }
    Ok(kept)
}

/// Hands each client the input meant for this tick, repeating the last one when it is missing.
pub(crate) fn apply_inputs<I: NetInput>(
    tick: Res<ServerTick>,
    mut clients: Query<(&mut InputQueue<I>, &mut ClientInput<I>, &mut InputStats)>,
) {
    let now = tick.0;
    for (mut queue, mut current, mut stats) in &mut clients {
        while queue
            .pending
            .front()
            .is_some_and(|(held, _)| now.is_newer_than(*held))
        {
            queue.pending.pop_front();
        }
        let due = match queue.pending.front() {
            Some((held, _)) if *held == now => queue.pending.pop_front(),
            _ => None,
        };
        if let Some((_, input)) = due {
            *current = ClientInput {
                input,
                tick: now,
                repeated: false,
            };
            stats.on_time += 1;
        } else {
            current.tick = now;
            current.repeated = true;
            stats.repeated += 1;
            queue.missed.push_back(now);
            if queue.missed.len() > MISSED_MEMORY {
                queue.missed.pop_front();
            }
        }
    }
}

/// The host's own player: its [`LocalInput`] is its input for every tick.
pub(crate) fn apply_local_input<I: NetInput>(
    tick: Res<ServerTick>,
    local: Option<Res<LocalInput<I>>>,
    mut commands: Commands,
    mut clients: Query<(Entity, Option<&mut ClientInput<I>>), With<LocalClient>>,
) {
    let Some(local) = local else {
        return;
    };
    for (entity, current) in &mut clients {
        let input = ClientInput {
            input: local.0.clone(),
            tick: tick.0,
            repeated: false,
        };
        match current {
            Some(mut current) => *current = input,
            None => {
                commands.entity(entity).insert(input);
            }
        }
    }
}

/// Tells each client how early its inputs arrived over the last window.
pub(crate) fn send_input_timing(
    tick: Res<ServerTick>,
    mut server: ResMut<RenetServer>,
    mut clients: Query<(&ConnectedClient, &mut InputTiming, &mut InputStats), Without<LocalClient>>,
    mut capture: Option<ResMut<NetCapture>>,
) {
    if !tick.0.0.is_multiple_of(TIMING_REPORT_TICKS) {
        return;
    }
    for (client, mut timing, mut stats) in &mut clients {
        if let Some(min_lead) = timing.min_lead.take() {
            stats.recent_min_lead = Some(min_lead);
            let frame = wire::encode_input_timing(min_lead, timing.late);
            timing.late = 0;
            trace!(
                "send input timing to client {}: {} bytes",
                client.id(),
                frame.len()
            );
            send_to_client(
                &mut server,
                capture.as_deref_mut(),
                client.id(),
                UNRELIABLE_CHANNEL,
                Bytes::from(frame),
            );
        }
    }
}

/// Hands each controlled entity ([`ControlledBy`]) its controller's input for this tick as
/// [`TickInput`], so shared simulation systems read the same thing on server and client.
pub(crate) fn apply_controlled_input<I: NetInput>(
    tick: Res<ServerTick>,
    clients: Query<(Entity, &ConnectedClient), With<ClientInput<I>>>,
    inputs: Query<&ClientInput<I>>,
    mut commands: Commands,
    mut controlled: Query<(Entity, &ControlledBy, Option<&mut TickInput<I>>)>,
    mut by_id: Local<bevy::platform::collections::HashMap<u64, Entity>>,
) {
    // Each controller's entity by id, so each controlled entity finds its input at once.
    by_id.clear();
    by_id.extend(clients.iter().map(|(entity, client)| (client.id(), entity)));
    for (entity, controller, current) in &mut controlled {
        let input = by_id
            .get(&controller.client_id)
            .and_then(|client| inputs.get(*client).ok());
        let value = match input {
            Some(input) => TickInput {
                input: input.input.clone(),
                tick: tick.0,
                repeated: input.repeated,
            },
            None => TickInput {
                input: I::default(),
                tick: tick.0,
                repeated: true,
            },
        };
        match current {
            Some(mut current) => *current = value,
            None => {
                commands.entity(entity).insert(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::codec::encode_serde;

    #[test]
    fn only_inputs_kept_are_acknowledged() {
        let mut world = World::new();
        world.insert_resource(ServerTick(NetTick(100)));
        let client = world.spawn_empty().id();
        let mut bytes = Vec::new();
        encode_serde(&7u32, &mut bytes).unwrap();
        let three: [&[u8]; 3] = [&bytes, &bytes, &bytes];
        let lead = MAX_INPUT_LEAD_TICKS as u32;
        let receive = |world: &mut World, newest: NetTick| {
            receive_inputs::<u32>(world, client, newest, &three).unwrap()
        };
        assert_eq!(
            receive(&mut world, NetTick(100 + lead + 3)),
            None,
            "all too early"
        );
        assert_eq!(
            receive(&mut world, NetTick(100 + lead + 1)),
            Some(NetTick(100 + lead)),
            "the newest of those kept"
        );
        assert_eq!(receive(&mut world, NetTick(100)), None, "all late");
        assert_eq!(receive(&mut world, NetTick(101)), Some(NetTick(101)));
        world.despawn(client);
        assert_eq!(receive(&mut world, NetTick(101)), None, "no entity");
    }
}
