//! Inputs on a predicting client: recorded for each predicted tick, and handed to the entities
//! it controls as [`TickInput`] (from the record, also while re-simulating).

use bevy::prelude::*;

use super::tick::PredictedTick;
use crate::{
    client::{InputHistory, send::SeenHistory, session::ClientSession},
    shared::{
        input::{LocalInput, NetInput},
        prediction::{ControlledBy, Predicted, Resimulating, TickInput},
    },
};

/// Records [`LocalInput`] as the input of the tick being simulated (not while re-simulating:
/// the recorded inputs are replayed then).
pub(crate) fn record_input<I: NetInput>(
    predicted: Res<PredictedTick>,
    resimulating: Res<Resimulating>,
    local: Res<LocalInput<I>>,
    mut history: ResMut<InputHistory<I>>,
    mut seen: ResMut<SeenHistory>,
) {
    if resimulating.0 {
        return;
    }
    if let Some(tick) = predicted.tick {
        history.record(tick, local.0.clone());
        seen.record(tick);
    }
}

/// A controlled entity and its input, if it has one yet.
type ControlledInput<I> = (
    Entity,
    &'static ControlledBy,
    Option<&'static mut TickInput<I>>,
);

/// Gives each entity this client predicts and controls its input for the tick.
pub(crate) fn apply_tick_input<I: NetInput>(
    predicted: Res<PredictedTick>,
    history: Res<InputHistory<I>>,
    session: Res<ClientSession>,
    mut commands: Commands,
    mut controlled: Query<ControlledInput<I>, With<Predicted>>,
) {
    let (Some(tick), Some(me)) = (predicted.tick, session.client_id) else {
        return;
    };
    let (input, repeated) = match history.at_or_before(tick) {
        Some((held, input)) => (input.clone(), held != tick),
        None => (I::default(), true),
    };
    for (entity, controller, current) in &mut controlled {
        if controller.client_id != me {
            continue;
        }
        let value = TickInput {
            input: input.clone(),
            tick,
            repeated,
        };
        match current {
            Some(mut current) => *current = value,
            None => {
                commands.entity(entity).insert(value);
            }
        }
    }
}
