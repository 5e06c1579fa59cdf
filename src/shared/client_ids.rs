//! Client ids on the wire: replicated values that name a client ([`ControlledBy`], [`SpawnedBy`],
//! a game's own `Player { client_id }`) carry an alias of the id instead of the id itself.
//!
//! A client id is what a client connects with, and in unsecure mode anyone may claim any id:
//! a player who saw another's id could race that player's reconnect with it. So the server
//! replaces every id in such values with an alias (a keyed hash, the key drawn at random once
//! per server process), and tells each client its own alias in its welcome; a client turns its
//! own alias back into its id as values arrive. A client therefore sees its own id where it is
//! named and, for everyone else, an alias that is the same wherever that client is named (so
//! "same player" comparisons still hold) but is not an id it could connect with.
//!
//! Only replicated components registered this way are aliased: a replicated resource or a
//! server message that holds client ids sends them as they are (put [`client_alias`] in them
//! yourself). Every id is aliased, the host's
//! [`LOCAL_CLIENT_ID`](crate::server::LOCAL_CLIENT_ID) and a game's "nobody" value such as 0
//! too, so compare with such constants on the server.
//!
//! [`ControlledBy`]: super::prediction::ControlledBy
//! [`SpawnedBy`]: super::prediction::SpawnedBy

use std::{
    hash::{BuildHasher, RandomState},
    sync::LazyLock,
};

use bevy::prelude::*;

use super::{
    codec::{Baseline, ComponentCodec},
    erased::ErasedValue,
    error::{DecodeError, EncodeError},
    tick::NetTick,
    wire::{BitReader, BitWriter},
};

/// A replicated value that names clients by id. Register it with
/// [`replicate_aliased`](crate::NetsyncAppExt::replicate_aliased) so other clients see aliases,
/// never the ids themselves (see the [module docs](self)).
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Component, Serialize, Deserialize, Clone)]
/// struct Player {
///     name: String,
///     client_id: u64,
/// }
///
/// impl NamesClients for Player {
///     fn map_client_ids(&mut self, map: &mut dyn FnMut(u64) -> u64) {
///         self.client_id = map(self.client_id);
///     }
/// }
///
/// let mut app = App::new();
/// app.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
/// app.replicate_aliased::<Player>();
/// ```
pub trait NamesClients: Clone {
    /// Replaces every client id in the value with `map(id)`.
    fn map_client_ids(&mut self, map: &mut dyn FnMut(u64) -> u64);
}

/// The key of this process's aliases, drawn once at random (the standard library's
/// `RandomState`: SipHash-1-3 with a 128-bit random key today).
static ALIAS_KEY: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// The alias other clients see for `client_id` in values registered with
/// [`replicate_aliased`](crate::NetsyncAppExt::replicate_aliased): a keyed hash, the same for
/// the same id within one server process; without the key, turning it back into the id takes
/// a search of the id space. For a server's own resources and messages that name clients.
pub fn client_alias(client_id: u64) -> u64 {
    ALIAS_KEY.hash_one(client_id)
}

/// A codec that writes values with every client id replaced by its alias (through `K`), and
/// reads them as written. The client turns its own alias back into its id after decoding
/// ([`AliasedComponents`]).
pub(crate) struct AliasClientIds<K>(pub(crate) K);

/// `value` with every client id replaced by its alias.
fn aliased<C: NamesClients>(value: &C) -> C {
    let mut value = value.clone();
    value.map_client_ids(&mut client_alias);
    value
}

impl<C: NamesClients + 'static, K: ComponentCodec<C>> ComponentCodec<C> for AliasClientIds<K> {
    fn encode(
        &self,
        value: &C,
        baseline: Option<&C>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.0.encode(&aliased(value), baseline, out)
    }

    fn decode(&self, bytes: &[u8], baseline: Option<&C>) -> Result<C, DecodeError> {
        self.0.decode(bytes, baseline)
    }

    fn settings(&self) -> String {
        format!("aliased ids {}", self.0.settings())
    }

    fn uses_baselines(&self) -> bool {
        self.0.uses_baselines()
    }

    fn write(&self, value: &C, out: &mut BitWriter) -> Result<(), EncodeError> {
        self.0.write(&aliased(value), out)
    }

    fn read(&self, reader: &mut BitReader) -> Result<C, DecodeError> {
        self.0.read(reader)
    }

    // Baselines are what clients decoded: aliased already.
    fn write_delta(
        &self,
        value: &C,
        tick: NetTick,
        baseline: Baseline<'_, C>,
        out: &mut BitWriter,
    ) -> Result<(), EncodeError> {
        self.0.write_delta(&aliased(value), tick, baseline, out)
    }

    fn read_delta(
        &self,
        reader: &mut BitReader,
        tick: NetTick,
        baseline: Baseline<'_, C>,
    ) -> Result<C, DecodeError> {
        self.0.read_delta(reader, tick, baseline)
    }
}

/// Turns a client's own alias back into its id in one decoded value.
type Unalias = fn(&mut ErasedValue, Aliasing);

/// A client's own alias and id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Aliasing {
    /// The alias the server uses for this client.
    pub(crate) alias: u64,
    /// This client's id.
    pub(crate) client_id: u64,
}

/// The replicated component types registered with aliased ids, by wire index, with what turns
/// the client's own alias back into its id.
#[derive(Resource, Default)]
pub(crate) struct AliasedComponents {
    unalias: Vec<(u32, Unalias)>,
}

impl AliasedComponents {
    /// Notes that the component at wire `index` is a `C` written with aliases.
    pub(crate) fn add<C: NamesClients + Component>(&mut self, index: u32) {
        self.unalias.push((index, |value, aliasing| {
            if let Some(value) = value.get_mut::<C>() {
                value.map_client_ids(&mut |id| {
                    if id == aliasing.alias {
                        aliasing.client_id
                    } else {
                        id
                    }
                });
            }
        }));
    }

    /// Turns `aliasing.alias` back into the client's id in `values` if the component at wire
    /// `index` carries aliases.
    pub(crate) fn restore(&self, index: u32, values: &mut [ErasedValue], aliasing: Aliasing) {
        if let Some((_, unalias)) = self.unalias.iter().find(|(held, _)| *held == index) {
            for value in values {
                unalias(value, aliasing);
            }
        }
    }

    /// Whether the component at wire `index` carries aliases.
    pub(crate) fn carries(&self, index: u32) -> bool {
        self.unalias.iter().any(|(held, _)| *held == index)
    }

    /// The wire indices of the component types that carry aliases.
    pub(crate) fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.unalias.iter().map(|(index, _)| *index)
    }

    /// Whether no component type carries aliases.
    pub(crate) fn is_empty(&self) -> bool {
        self.unalias.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_is_stable_and_hides_the_id() {
        assert_eq!(client_alias(42), client_alias(42));
        assert_ne!(client_alias(42), 42);
        assert_ne!(client_alias(42), client_alias(43));
    }
}
