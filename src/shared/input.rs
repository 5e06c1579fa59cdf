//! Player inputs: the [`NetInput`] bound and the registry of input types.

use bevy::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

use super::{error::DecodeError, tick::NetTick};

/// What an input type needs: sent by value, compared, and defaulted before the first input.
pub trait NetInput:
    Serialize + DeserializeOwned + Clone + Default + PartialEq + Send + Sync + 'static
{
}

impl<T> NetInput for T where
    T: Serialize + DeserializeOwned + Clone + Default + PartialEq + Send + Sync + 'static
{
}

/// The local player's current input, which the game overwrites every frame: on a client it is
/// recorded for each new [`ClientTimeline::input_tick`](crate::client::ClientTimeline) and sent;
/// on a host it is the input of its [`LocalClient`](crate::server::LocalClient) every tick.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct LocalInput<I>(pub I);

/// Receives one client's inputs of one type (server side): `(client entity, newest tick,
/// encoded inputs newest first)`; returns the newest tick it kept, the only one acknowledged.
pub(crate) type ReceiveInputsFn =
    fn(&mut World, Entity, NetTick, &[&[u8]]) -> Result<Option<NetTick>, DecodeError>;

/// Registered input types in registration (wire) order.
#[derive(Resource, Default)]
pub(crate) struct InputRegistry {
    pub(crate) inputs: Vec<(&'static str, ReceiveInputsFn)>,
}

/// Wire index of input type `I`.
#[derive(Resource)]
pub(crate) struct InputIndex<I> {
    pub(crate) index: u32,
    _marker: core::marker::PhantomData<fn() -> I>,
}

impl<I> InputIndex<I> {
    pub(crate) fn new(index: u32) -> Self {
        Self {
            index,
            _marker: core::marker::PhantomData,
        }
    }
}
