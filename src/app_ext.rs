//! [`NetsyncAppExt`]: the protocol registration calls on `App`.

use core::any::type_name;

use bevy::{ecs::component::Mutable, prelude::*};
use serde::{Serialize, de::DeserializeOwned};

use crate::shared::{
    channels::Channel,
    codec::{ComponentCodec, SerdeCodec},
    messages::{
        FromClient, MessageIndex, MessageKind, MessageRegistry, ToClient, ToClients, ToServer,
        receive_client_message, receive_server_message,
    },
    protocol::ProtocolHash,
    registry::ReplicationRegistry,
};

/// Registers the protocol: replicated components and messages.
///
/// Call these in one function that the server and every client run, in the same order: the
/// order gives each type its wire index and goes into the [`ProtocolHash`] checked on connect.
/// They may be called before or after adding [`NetsyncPlugins`](crate::NetsyncPlugins).
pub trait NetsyncAppExt {
    /// Replicates `C` from server to clients with the default [`SerdeCodec`].
    ///
    /// Entities inside `C` (fields marked `#[entities]`, Bevy's `MapEntities`) are mapped to
    /// the client's entities.
    fn replicate<C>(&mut self) -> &mut Self
    where
        C: Component<Mutability = Mutable> + Serialize + DeserializeOwned,
    {
        self.replicate_with::<C>(SerdeCodec::<C>::default())
    }

    /// Replicates `C` with a custom codec.
    fn replicate_with<C>(&mut self, codec: impl ComponentCodec<C>) -> &mut Self
    where
        C: Component<Mutability = Mutable>;

    /// Lets clients send `M` to the server: clients write `M` with a `MessageWriter<M>`, the
    /// server reads [`FromClient<M>`].
    fn add_client_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Clone + Serialize + DeserializeOwned;

    /// Lets the server send `M` to clients: the server writes [`ToClients<M>`], clients read
    /// `M` with a `MessageReader<M>`.
    fn add_server_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned;
}

impl NetsyncAppExt for App {
    fn replicate_with<C>(&mut self, codec: impl ComponentCodec<C>) -> &mut Self
    where
        C: Component<Mutability = Mutable>,
    {
        let codec_name = type_name_of(&codec);
        let index = self
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>()
            .register::<C, _>(codec);
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("component {} {}", type_name::<C>(), codec_name));
        #[cfg(feature = "server")]
        {
            crate::server::observe_component::<C>(self, index);
            let detector = crate::server::detector::<C>(self.world_mut());
            self.world_mut()
                .get_resource_or_init::<crate::server::ChangeDetectors>()
                .detectors
                .push(detector);
        }
        #[cfg(not(feature = "server"))]
        let _ = index;
        self
    }

    fn add_client_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Clone + Serialize + DeserializeOwned,
    {
        self.add_message::<M>().add_message::<FromClient<M>>();
        let mut registry = self.world_mut().get_resource_or_init::<MessageRegistry>();
        registry.from_clients.push(MessageKind {
            name: type_name::<M>(),
            receive: receive_client_message::<M>,
        });
        let index = (registry.from_clients.len() - 1) as u32;
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("client message {} {channel:?}", type_name::<M>()));
        self.insert_resource(MessageIndex::<ToServer, M>::new(index, channel));
        #[cfg(feature = "client")]
        self.add_systems(
            PostUpdate,
            crate::client::send_client_messages::<M>
                .in_set(crate::client::ClientSendStep::Messages),
        );
        #[cfg(feature = "server")]
        self.add_systems(
            PreUpdate,
            crate::server::forward_local_messages::<M>.in_set(crate::server::ServerSet::Receive),
        );
        self
    }

    fn add_server_message<M>(&mut self, channel: Channel) -> &mut Self
    where
        M: Message + Serialize + DeserializeOwned,
    {
        self.add_message::<M>().add_message::<ToClients<M>>();
        let mut registry = self.world_mut().get_resource_or_init::<MessageRegistry>();
        registry.from_server.push(MessageKind {
            name: type_name::<M>(),
            receive: receive_server_message::<M>,
        });
        let index = (registry.from_server.len() - 1) as u32;
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("server message {} {channel:?}", type_name::<M>()));
        self.insert_resource(MessageIndex::<ToClient, M>::new(index, channel));
        #[cfg(feature = "server")]
        self.add_systems(
            PostUpdate,
            crate::server::send_server_messages::<M>.in_set(crate::server::SendStep::Messages),
        );
        self
    }
}

fn type_name_of<T>(_: &T) -> &'static str {
    type_name::<T>()
}
