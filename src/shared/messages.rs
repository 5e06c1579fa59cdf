//! Game messages between clients and the server: [`FromClient`], [`ToClients`], [`SendMode`],
//! and the registry that gives each message type its wire index.

use bevy::prelude::*;
use bevy_renet::renet::ClientId;

use serde::de::DeserializeOwned;

use super::{channels::Channel, codec::decode_serde, error::DecodeError};

/// A message `M` a client sent, as the server reads it (`MessageReader<FromClient<M>>`).
///
/// Written in [`ServerSet::Receive`](crate::server::ServerSet::Receive) (`PreUpdate`).
#[derive(Clone, Debug, PartialEq)]
pub struct FromClient<M> {
    /// The sender's [`ConnectedClient`](crate::server::ConnectedClient) entity.
    pub client: Entity,
    /// The sender's transport id.
    pub client_id: ClientId,
    /// The message.
    pub message: M,
}

/// A message `M` for clients, as the server writes it (`MessageWriter<ToClients<M>>`).
///
/// Sent in [`ServerSet::Send`](crate::server::ServerSet::Send) (`PostUpdate`), stamped with the
/// frame's tick: a client delivers it once it holds that tick's replication, so entities it
/// names already exist there.
#[derive(Clone, Debug, PartialEq)]
pub struct ToClients<M> {
    /// Who receives it.
    pub mode: SendMode,
    /// The message.
    pub message: M,
}

impl<M: Send + Sync + 'static> Message for FromClient<M> {}
impl<M: Send + Sync + 'static> Message for ToClients<M> {}

/// Which clients a [`ToClients`] message goes to. Clients are named by their
/// [`ConnectedClient`](crate::server::ConnectedClient) entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendMode {
    /// Every connected client.
    Broadcast,
    /// Every connected client except one.
    BroadcastExcept(Entity),
    /// One client.
    Direct(Entity),
    /// Every client that sees this replicated entity (with interest management, the clients
    /// it is relevant to; the host's own player sees everything).
    Seeing(Entity),
}

impl SendMode {
    /// Whether the client entity `client` receives a message sent with this mode. For
    /// [`SendMode::Seeing`] this is whether `sees` says the client sees the entity.
    pub fn includes_when(self, client: Entity, sees: impl FnOnce(Entity) -> bool) -> bool {
        match self {
            Self::Broadcast => true,
            Self::BroadcastExcept(except) => except != client,
            Self::Direct(target) => target == client,
            Self::Seeing(entity) => sees(entity),
        }
    }

    /// Whether the client entity `client` receives a message sent with this mode (`false` for
    /// [`SendMode::Seeing`], which needs to know what the client sees).
    pub fn includes(self, client: Entity) -> bool {
        self.includes_when(client, |_| false)
    }
}

/// Decodes a client message and writes it as `FromClient<M>` (server side).
pub(crate) type ServerReceiveFn =
    fn(&mut World, Entity, ClientId, &[u8]) -> Result<(), DecodeError>;

/// Decodes a server message and writes it as `M` (client side).
pub(crate) type ClientReceiveFn = fn(&mut World, &[u8]) -> Result<(), DecodeError>;

/// A registered message type.
pub(crate) struct MessageKind<F> {
    pub(crate) name: &'static str,
    pub(crate) receive: F,
}

/// Registered message types in registration (wire) order, per direction.
#[derive(Resource, Default)]
pub(crate) struct MessageRegistry {
    /// Client → server messages, dispatched on the server.
    pub(crate) from_clients: Vec<MessageKind<ServerReceiveFn>>,
    /// Server → client messages, dispatched on the client.
    pub(crate) from_server: Vec<MessageKind<ClientReceiveFn>>,
}

impl MessageRegistry {
    pub(crate) fn client_message(
        &self,
        index: u32,
    ) -> Result<&MessageKind<ServerReceiveFn>, DecodeError> {
        self.from_clients
            .get(index as usize)
            .ok_or(DecodeError::UnknownMessage(index))
    }

    pub(crate) fn server_message(
        &self,
        index: u32,
    ) -> Result<&MessageKind<ClientReceiveFn>, DecodeError> {
        self.from_server
            .get(index as usize)
            .ok_or(DecodeError::UnknownMessage(index))
    }
}

/// Direction marker for [`MessageIndex`]: client → server.
pub(crate) struct ToServer;
/// Direction marker for [`MessageIndex`]: server → client.
pub(crate) struct ToClient;

/// A direction game messages travel in, [`ToServer`] or [`ToClient`]: what registering a
/// message type needs to know of it.
pub(crate) trait MessageDirection: Send + Sync + 'static {
    /// How the protocol hash names a message type of this direction.
    const NAME: &'static str;

    /// What the server reads or writes for a message `M`: [`FromClient<M>`] or
    /// [`ToClients<M>`] (clients write and read a plain `M`).
    type OnServer<M: Send + Sync + 'static>: Message;

    /// How the receiving side decodes a message and writes it.
    type ReceiveFn;

    /// The receiving side's function for `M`.
    fn receive_fn<M: Message + DeserializeOwned>() -> Self::ReceiveFn;

    /// The message types registered in this direction, in wire order.
    fn kinds(registry: &mut MessageRegistry) -> &mut Vec<MessageKind<Self::ReceiveFn>>;
}

impl MessageDirection for ToServer {
    const NAME: &'static str = "client message";
    type OnServer<M: Send + Sync + 'static> = FromClient<M>;
    type ReceiveFn = ServerReceiveFn;

    fn receive_fn<M: Message + DeserializeOwned>() -> ServerReceiveFn {
        receive_client_message::<M>
    }

    fn kinds(registry: &mut MessageRegistry) -> &mut Vec<MessageKind<ServerReceiveFn>> {
        &mut registry.from_clients
    }
}

impl MessageDirection for ToClient {
    const NAME: &'static str = "server message";
    type OnServer<M: Send + Sync + 'static> = ToClients<M>;
    type ReceiveFn = ClientReceiveFn;

    fn receive_fn<M: Message + DeserializeOwned>() -> ClientReceiveFn {
        receive_server_message::<M>
    }

    fn kinds(registry: &mut MessageRegistry) -> &mut Vec<MessageKind<ClientReceiveFn>> {
        &mut registry.from_server
    }
}

/// Wire index and channel of the message type `M` in direction `D`, for its send system.
#[derive(Resource)]
pub(crate) struct MessageIndex<D: Send + Sync + 'static, M: Send + Sync + 'static> {
    pub(crate) index: u32,
    pub(crate) channel: Channel,
    _marker: core::marker::PhantomData<fn() -> (D, M)>,
}

impl<D: Send + Sync + 'static, M: Send + Sync + 'static> MessageIndex<D, M> {
    pub(crate) fn new(index: u32, channel: Channel) -> Self {
        Self {
            index,
            channel,
            _marker: core::marker::PhantomData,
        }
    }
}

/// Decodes a client message `M` and writes it as [`FromClient<M>`] (server side).
pub(crate) fn receive_client_message<M: DeserializeOwned + Send + Sync + 'static>(
    world: &mut World,
    client: Entity,
    client_id: ClientId,
    payload: &[u8],
) -> Result<(), DecodeError> {
    let message = decode_serde::<M>(payload)?;
    world.write_message(FromClient {
        client,
        client_id,
        message,
    });
    Ok(())
}

/// Decodes a server message `M` and writes it as a plain `M` message (client side).
pub(crate) fn receive_server_message<M: Message + DeserializeOwned>(
    world: &mut World,
    payload: &[u8],
) -> Result<(), DecodeError> {
    let message = decode_serde::<M>(payload)?;
    world.write_message(message);
    Ok(())
}
