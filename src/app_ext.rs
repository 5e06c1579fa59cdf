//! [`NetsyncAppExt`]: the protocol registration calls on `App`.

use core::any::{TypeId, type_name};
use std::sync::Arc;

use bevy::prelude::*;
use serde::{Serialize, de::DeserializeOwned};

use crate::shared::{
    channels::Channel,
    client_ids::{AliasClientIds, AliasedComponents, NamesClients},
    codec::{
        ComponentCodec, MAX_VALUE_BYTES, SerdeCodec, decode_serde, encode_serde,
        write_length_prefixed,
    },
    error::{DecodeError, EncodeError},
    input::{InputIndex, InputRegistry, LocalInput, NetInput, ReceiveInputsFn},
    interpolate::Interpolate,
    messages::{MessageDirection, MessageIndex, MessageKind, MessageRegistry, ToClient, ToServer},
    protocol::ProtocolHash,
    registry::{ReplicatedResource, ReplicationRegistry, ResourceRegistry},
    wire::BitWriter,
};

/// Whether registrations in `app` add the server's side: when [`ServerPlugin`] is in the App,
/// or when none of the crate's plugins is yet (registrations made before the plugins keep both
/// sides, as they always did). A dedicated server without [`ClientPlugin`] has no client side.
///
/// [`ServerPlugin`]: crate::server::ServerPlugin
/// [`ClientPlugin`]: crate::client::ClientPlugin
#[cfg(feature = "server")]
pub(crate) fn serves(app: &App) -> bool {
    app.is_plugin_added::<crate::server::ServerPlugin>()
        || !app.is_plugin_added::<crate::shared::SharedPlugin>()
}

/// Whether registrations in `app` add the client's side; see [`serves`].
#[cfg(feature = "client")]
pub(crate) fn plays(app: &App) -> bool {
    app.is_plugin_added::<crate::client::ClientPlugin>()
        || !app.is_plugin_added::<crate::shared::SharedPlugin>()
}

/// The server's input receiver for `I`, or one that refuses inputs where the server side is not
/// compiled in.
fn receive_inputs_fn<I: NetInput>() -> ReceiveInputsFn {
    #[cfg(feature = "server")]
    {
        crate::server::receive_inputs::<I>
    }
    #[cfg(not(feature = "server"))]
    {
        |_, _, _, _| Err(crate::shared::error::DecodeError::UnknownMessage(u32::MAX))
    }
}

/// Registers the protocol: replicated components and messages.
///
/// Call these in one function that the server and every client run, in the same order: the
/// order gives each type its wire index and goes into the [`ProtocolHash`] checked on connect.
/// They may be called before or after adding [`NetsyncPlugins`](crate::NetsyncPlugins), except
/// in an App with one side only (a plugin of the group disabled): there, after, since the
/// plugins say which side's parts to add. Registering first there is refused at startup with
/// that advice.
pub trait NetsyncAppExt {
    /// Replicates `C` from server to clients with the default [`SerdeCodec`].
    ///
    /// Entities inside `C` (fields marked `#[entities]`, Bevy's `MapEntities`) are mapped to
    /// the client's entities; an entity not replicated to the client (yet) maps to
    /// `Entity::PLACEHOLDER` until it arrives. Immutable components are re-inserted on change;
    /// relationships such as `ChildOf` are inserted once their target exists on the client, so
    /// `app.replicate::<ChildOf>()` replicates hierarchies.
    fn replicate<C>(&mut self) -> &mut Self
    where
        C: Component + Serialize + DeserializeOwned,
    {
        self.replicate_with::<C>(SerdeCodec::<C>::default())
    }

    /// Replicates `C` with a custom codec.
    fn replicate_with<C>(&mut self, codec: impl ComponentCodec<C>) -> &mut Self
    where
        C: Component;

    /// Replicates `C`, a value that names clients by id, with the default [`SerdeCodec`]: each
    /// client sees its own id where it is named and an alias for everyone else's, so no client
    /// learns an id another could connect with (see [`NamesClients`]).
    /// [`ControlledBy`](crate::shared::prediction::ControlledBy) and
    /// [`SpawnedBy`](crate::shared::prediction::SpawnedBy) are replicated this way.
    fn replicate_aliased<C>(&mut self) -> &mut Self
    where
        C: Component + NamesClients + Serialize + DeserializeOwned,
    {
        self.replicate_aliased_with::<C>(SerdeCodec::<C>::default())
    }

    /// Like [`replicate_aliased`](Self::replicate_aliased), with a custom codec.
    fn replicate_aliased_with<C>(&mut self, codec: impl ComponentCodec<C>) -> &mut Self
    where
        C: Component + NamesClients;

    /// Replicates the server's resource `R` to every client (late joiners included): inserted
    /// on clients when it exists on the server, updated when it changes, removed when it is
    /// removed. Values larger than a frame travel in slices like large components.
    fn replicate_resource<R>(&mut self) -> &mut Self
    where
        R: Resource + Serialize + DeserializeOwned;

    /// Lets clients send `M` to the server: clients write `M` with a `MessageWriter<M>`, the
    /// server reads [`FromClient<M>`](crate::shared::messages::FromClient).
    fn add_client_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Clone + Serialize + DeserializeOwned;

    /// Lets the server send `M` to clients: the server writes
    /// [`ToClients<M>`](crate::shared::messages::ToClients), clients read `M` with a
    /// `MessageReader<M>`.
    fn add_server_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned;

    /// Adds a player input type. The game writes [`LocalInput<I>`] every frame; the client
    /// sends it tick-stamped (with the last few ticks for redundancy) and the server hands the
    /// simulation, each tick, the input each client meant for it as
    /// [`ClientInput<I>`](crate::server::ClientInput) on the client's entity.
    fn add_input<I: NetInput>(&mut self) -> &mut Self;

    /// Predicts `C` on the client for the entities it controls (see
    /// [`ControlledBy`](crate::shared::prediction::ControlledBy)): the game's shared
    /// `FixedUpdate` systems move them at once with the client's own input, and when the
    /// server's value for a tick differs from what was predicted for it, the client goes back
    /// to the server's state and simulates the ticks since again. `C` must be replicated first;
    /// values are compared with `==` (see [`predict_with`](Self::predict_with) for lossy codecs).
    ///
    /// # Panics
    /// If `C` is not replicated yet.
    fn predict<C>(&mut self) -> &mut Self
    where
        C: Component<Mutability = bevy::ecs::component::Mutable> + Clone + PartialEq,
    {
        self.predict_with::<C>(|predicted: &C, server: &C| predicted == server)
    }

    /// Like [`predict`](Self::predict), with the game's comparison: `matches(predicted, server)`
    /// says whether a prediction is close enough. For a quantized `Transform`, use the codec's
    /// precision: `app.predict_with::<Transform>(move |a, b| codec.matches(a, b))`.
    ///
    /// # Panics
    /// If `C` is not replicated yet.
    fn predict_with<C>(
        &mut self,
        matches: impl Fn(&C, &C) -> bool + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: Component<Mutability = bevy::ecs::component::Mutable> + Clone;

    /// Draws `C` on clients between server snapshots at the
    /// [`ClientTimeline::interpolation_tick`](crate::client::ClientTimeline) instead of
    /// jumping from value to value. `C` must be replicated first; entities with
    /// [`NoInterpolation`](crate::shared::registry::NoInterpolation) are left alone.
    ///
    /// # Panics
    /// If `C` is not replicated yet: a protocol written out of order is a bug to fix, not a
    /// state to run in.
    fn interpolate<C: Interpolate>(&mut self) -> &mut Self;
}

impl NetsyncAppExt for App {
    fn replicate_aliased_with<C>(&mut self, codec: impl ComponentCodec<C>) -> &mut Self
    where
        C: Component + NamesClients,
    {
        self.replicate_with::<C>(AliasClientIds(codec));
        let index = self.world().resource::<ReplicationRegistry>().len() as u32 - 1;
        self.world_mut()
            .get_resource_or_init::<AliasedComponents>()
            .add::<C>(index);
        self
    }

    fn replicate_with<C>(&mut self, codec: impl ComponentCodec<C>) -> &mut Self
    where
        C: Component,
    {
        let codec_name = format!("{} {}", type_name_of(&codec), codec.settings());
        // One codec, shared by this App's server encoder and client decoder.
        let codec = Arc::new(codec);
        let world = self.world_mut();
        world.init_resource::<ReplicationRegistry>();
        world.resource_scope(|world, mut registry: Mut<ReplicationRegistry>| {
            registry.register::<C, _>(world, &*codec);
        });
        #[cfg(feature = "client")]
        if plays(self) {
            crate::client::add_receiver::<C, _>(self.world_mut(), codec.clone());
        }
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("component {} {}", type_name::<C>(), codec_name));
        #[cfg(feature = "server")]
        if serves(self) {
            crate::server::add_encoder::<C, _>(self.world_mut(), codec);
            crate::server::observe_component::<C>(self);
            let detector = crate::server::detector::<C>(self.world_mut());
            self.world_mut()
                .get_resource_or_init::<crate::server::ChangeDetectors>()
                .detectors
                .push(detector);
        }
        self
    }

    fn replicate_resource<R>(&mut self) -> &mut Self
    where
        R: Resource + Serialize + DeserializeOwned,
    {
        self.world_mut()
            .get_resource_or_init::<ResourceRegistry>()
            .resources
            .push(ReplicatedResource {
                name: type_name::<R>(),
                write: write_resource::<R>,
                changed: |world| {
                    world
                        .get_resource_change_ticks::<R>()
                        .map(|ticks| ticks.changed)
                },
                apply_bytes: apply_resource::<R>,
                remove: |world| {
                    world.remove_resource::<R>();
                },
            });
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("resource {}", type_name::<R>()));
        self
    }

    fn add_client_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Clone + Serialize + DeserializeOwned,
    {
        register_message::<ToServer, M>(self, channel);
        #[cfg(feature = "client")]
        if plays(self) {
            self.add_systems(
                PostUpdate,
                crate::client::send_client_messages::<M>
                    .in_set(crate::client::ClientSendStep::Messages),
            );
        }
        #[cfg(feature = "server")]
        if serves(self) {
            self.add_systems(
                PreUpdate,
                crate::server::forward_local_messages::<M>
                    .in_set(crate::server::ServerSet::Receive),
            );
        }
        self
    }

    fn add_server_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned,
    {
        register_message::<ToClient, M>(self, channel);
        #[cfg(feature = "server")]
        if serves(self) {
            self.world_mut()
                .get_resource_or_init::<crate::server::OutboxResets>()
                .0
                .push(crate::server::MessageOutbox::<M>::clear);
            self.init_resource::<crate::server::MessageOutbox<M>>()
                .add_systems(
                    PostUpdate,
                    (
                        crate::server::queue_server_messages::<M>
                            .in_set(crate::server::SendStep::QueueMessages),
                        crate::server::decide_message_recipients::<M>
                            .in_set(crate::server::SendStep::Recipients),
                        crate::server::send_server_messages::<M>
                            .in_set(crate::server::SendStep::Messages),
                    ),
                );
        }
        self
    }

    fn add_input<I: NetInput>(&mut self) -> &mut Self {
        self.init_resource::<LocalInput<I>>();
        let mut registry = self.world_mut().get_resource_or_init::<InputRegistry>();
        registry
            .inputs
            .push((type_name::<I>(), receive_inputs_fn::<I>()));
        let index = (registry.inputs.len() - 1) as u32;
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("input {}", type_name::<I>()));
        self.insert_resource(InputIndex::<I>::new(index));
        #[cfg(feature = "client")]
        if plays(self) {
            self.init_resource::<crate::client::InputHistory<I>>()
                .add_systems(
                    PostUpdate,
                    crate::client::send_inputs::<I>.in_set(crate::client::ClientSendStep::Inputs),
                )
                .add_systems(
                    FixedPreUpdate,
                    (
                        crate::client::record_input::<I>,
                        crate::client::apply_tick_input::<I>,
                    )
                        .chain()
                        .run_if(resource_exists::<bevy_renet::RenetClient>),
                );
        }
        #[cfg(feature = "server")]
        if serves(self) {
            self.add_systems(
                FixedPreUpdate,
                (
                    (
                        crate::server::apply_inputs::<I>,
                        crate::server::apply_local_input::<I>,
                    ),
                    crate::server::apply_controlled_input::<I>,
                )
                    .chain()
                    .in_set(crate::server::ServerSet::ApplyInputs),
            );
        }
        self
    }

    fn predict_with<C>(
        &mut self,
        matches: impl Fn(&C, &C) -> bool + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: Component<Mutability = bevy::ecs::component::Mutable> + Clone,
    {
        use crate::shared::prediction::{ControlledBy, SpawnedBy};
        let registry = self
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>();
        let needs_controlled = registry.index_of(TypeId::of::<ControlledBy>()).is_none();
        let needs_spawned = registry.index_of(TypeId::of::<SpawnedBy>()).is_none();
        if needs_controlled {
            self.replicate_aliased::<ControlledBy>();
        }
        if needs_spawned {
            self.replicate_aliased::<SpawnedBy>();
        }
        if (!needs_controlled || !needs_spawned)
            && self
                .world()
                .get_resource::<AliasedComponents>()
                .is_none_or(AliasedComponents::is_empty)
        {
            warn!(
                "ControlledBy or SpawnedBy was registered with replicate::<C>() before predict: \
                 every client sees the real client ids in them; register them with \
                 replicate_aliased::<C>() (or let predict do it)"
            );
        }
        let mut registry = self
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>();
        let predicted = registry.set_predicted(TypeId::of::<C>());
        assert!(
            predicted,
            "predict::<{0}>() needs replicate::<{0}>() first",
            type_name::<C>()
        );
        clone_received::<C>(self);
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("predict {}", type_name::<C>()));
        #[cfg(feature = "client")]
        if plays(self) {
            self.world_mut()
                .get_resource_or_init::<crate::client::PredictionRegistry>()
                .components
                .push(Box::new(crate::client::TypedPrediction::<C>::new(
                    std::sync::Arc::new(matches) as crate::client::MatchFn<C>,
                )));
        }
        #[cfg(not(feature = "client"))]
        let _ = matches;
        self
    }

    fn interpolate<C: Interpolate>(&mut self) -> &mut Self {
        let mut registry = self
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>();
        let replicated = registry.set_interpolated(TypeId::of::<C>());
        assert!(
            replicated,
            "interpolate::<{0}>() needs replicate::<{0}>() first",
            type_name::<C>()
        );
        clone_received::<C>(self);
        #[cfg(feature = "client")]
        if plays(self) {
            self.add_systems(
                PreUpdate,
                crate::client::interpolate_components::<C>
                    .in_set(crate::client::ClientSet::Interpolate),
            );
        }
        self
    }
}

/// What registering a message type `M` does in either direction `D`: `M` and the server's
/// side of it ([`MessageDirection::OnServer`]) become Bevy messages, the receiving side's
/// function joins `D`'s registry, whose length gives `M` its wire index, and the protocol hash
/// notes `M` with its channel. The systems that send and receive are each side's own.
fn register_message<D, M>(app: &mut App, channel: Channel)
where
    D: MessageDirection,
    M: Message + DeserializeOwned,
{
    app.add_message::<M>().add_message::<D::OnServer<M>>();
    let mut registry = app.world_mut().get_resource_or_init::<MessageRegistry>();
    let kinds = D::kinds(&mut registry);
    kinds.push(MessageKind {
        name: type_name::<M>(),
        receive: D::receive_fn::<M>(),
    });
    let index = (kinds.len() - 1) as u32;
    app.world_mut()
        .get_resource_or_init::<ProtocolHash>()
        .add(&format!("{} {} {channel:?}", D::NAME, type_name::<M>()));
    app.insert_resource(MessageIndex::<D, M>::new(index, channel));
}

fn type_name_of<T>(_: &T) -> &'static str {
    type_name::<T>()
}

/// Lets the client clone a received `C` (replicated, and `Clone`) instead of decoding it again
/// for each copy it keeps.
fn clone_received<C: Component + Clone>(app: &mut App) {
    #[cfg(feature = "client")]
    if plays(app) {
        let world = app.world_mut();
        let index = world
            .resource::<ReplicationRegistry>()
            .index_of(TypeId::of::<C>());
        if let Some(index) = index {
            world
                .resource_mut::<crate::client::ComponentReceivers>()
                .set_clone::<C>(index);
        }
    }
    #[cfg(not(feature = "client"))]
    let _ = app;
}

/// Writes resource `R` (serde bytes, length-prefixed); `Ok(false)` when it does not exist.
fn write_resource<R: Resource + Serialize>(
    world: &World,
    out: &mut BitWriter,
) -> Result<bool, EncodeError> {
    let Some(resource) = world.get_resource::<R>() else {
        return Ok(false);
    };
    let mut bytes = Vec::new();
    encode_serde(resource, &mut bytes)?;
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(EncodeError {
            type_name: type_name::<R>(),
            detail: format!("the value is larger than the limit of {MAX_VALUE_BYTES} bytes"),
        });
    }
    write_length_prefixed(out, &bytes);
    Ok(true)
}

/// Decodes resource `R` and inserts it (replacing the one the client has).
fn apply_resource<R: Resource + DeserializeOwned>(
    world: &mut World,
    bytes: &[u8],
) -> Result<(), DecodeError> {
    let value: R = decode_serde(bytes)?;
    world.insert_resource(value);
    Ok(())
}
