//! Which entities this client predicts: the ones it controls ([`ControlledBy`] names it).

use bevy::prelude::*;

use crate::{
    client::session::ClientSession,
    shared::{
        prediction::{ControlledBy, Predicted},
        registry::NoInterpolation,
    },
};

/// Marks an entity [`Predicted`] (and not interpolated) when this client controls it.
pub(crate) fn mark_predicted(
    event: On<Insert, ControlledBy>,
    controlled: Query<&ControlledBy>,
    session: Res<ClientSession>,
    mut commands: Commands,
) {
    let (Some(me), Ok(controller)) = (session.client_id, controlled.get(event.entity)) else {
        return;
    };
    if controller.client_id == me {
        commands
            .entity(event.entity)
            .insert((Predicted, NoInterpolation));
    } else {
        commands.entity(event.entity).remove::<Predicted>();
    }
}
