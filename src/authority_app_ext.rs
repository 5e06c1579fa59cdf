//! [`AuthorityAppExt`]: registering client-authoritative component types and their rules.

use core::any::{TypeId, type_name};
use std::sync::Arc;

use bevy::{ecs::component::Mutable, prelude::*};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    NetsyncAppExt,
    shared::{
        authority::{AuthorityRegistry, AuthorityRule, HeldBy, Proposal, Verdict},
        codec::{Baseline, ComponentCodec, SerdeCodec},
        error::{DecodeError, EncodeError},
        prediction::SpawnedBy,
        protocol::ProtocolHash,
        registry::ReplicationRegistry,
        tick::NetTick,
        wire::{BitReader, BitWriter},
    },
};

/// Registers component types a client may write while it holds an entity (client authority).
///
/// A client-authoritative type is replicated like any other; in addition, the client the
/// server granted authority over an entity ([`HeldBy`]) simulates that entity's value itself
/// and sends it upstream, and the server applies it (after the type's rule, see
/// [`validate_authority`](Self::validate_authority)) and replicates it to everyone else.
/// Call these with the other registrations, in the same order on every side.
///
/// ```
/// use bevy::prelude::*;
/// use bevy_netsync::prelude::*;
///
/// let mut app = App::new();
/// app.add_plugins((MinimalPlugins, NetsyncPlugins::default()));
/// app.replicate_client_authoritative_with::<Transform>(TransformCodec::default())
///     // Holders may move a ball at most 20 m/s (60 ticks per second).
///     .validate_authority::<Transform>(|proposal| {
///         let Some(current) = proposal.current else {
///             return Verdict::Accept;
///         };
///         let limit = 20.0 / 60.0 * proposal.ticks as f32;
///         let step = proposal.proposed.translation - current.translation;
///         if step.length() <= limit {
///             Verdict::Accept
///         } else {
///             let mut clamped = *proposal.proposed;
///             clamped.translation = current.translation + step.clamp_length_max(limit);
///             Verdict::Correct(clamped)
///         }
///     });
/// ```
pub trait AuthorityAppExt {
    /// Replicates `C` and lets the holder of an entity write it, with the default
    /// [`SerdeCodec`].
    fn replicate_client_authoritative<C>(&mut self) -> &mut Self
    where
        C: Component<Mutability = Mutable> + Clone + Serialize + DeserializeOwned,
    {
        self.replicate_client_authoritative_with::<C>(SerdeCodec::<C>::default())
    }

    /// Like [`replicate_client_authoritative`](Self::replicate_client_authoritative), with a
    /// codec (which codes the holder's values upstream too, against the values the server
    /// acknowledged when it [uses baselines](ComponentCodec::uses_baselines)).
    fn replicate_client_authoritative_with<C>(
        &mut self,
        codec: impl ComponentCodec<C>,
    ) -> &mut Self
    where
        C: Component<Mutability = Mutable> + Clone;

    /// Sets the server's rule for values of `C` that holders send: it accepts a value, applies
    /// a corrected one instead (which the holder then takes over), or rejects it. Without a
    /// rule every value from the holder is accepted. The server-side code of a game only; a
    /// client never calls it.
    ///
    /// # Panics
    /// If `C` is not client-authoritative yet.
    fn validate_authority<C>(
        &mut self,
        rule: impl Fn(&Proposal<C>) -> Verdict<C> + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: Component<Mutability = Mutable> + Clone;
}

impl AuthorityAppExt for App {
    fn replicate_client_authoritative_with<C>(&mut self, codec: impl ComponentCodec<C>) -> &mut Self
    where
        C: Component<Mutability = Mutable> + Clone,
    {
        let holder_known = self
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>()
            .index_of(TypeId::of::<HeldBy>())
            .is_some();
        if !holder_known {
            self.replicate_aliased::<HeldBy>();
        }
        // Entities clients spawn to own are keyed like predicted spawns.
        let spawned_known = self
            .world()
            .resource::<ReplicationRegistry>()
            .index_of(TypeId::of::<SpawnedBy>())
            .is_some();
        if !spawned_known {
            self.replicate_aliased::<SpawnedBy>();
        }
        let codec = Arc::new(codec);
        self.replicate_with::<C>(SharedCodec(codec.clone()));
        let index = self.world().resource::<ReplicationRegistry>().len() as u32 - 1;
        self.world_mut()
            .get_resource_or_init::<AuthorityRegistry>()
            .indices
            .push(index);
        self.world_mut()
            .get_resource_or_init::<ProtocolHash>()
            .add(&format!("client authority {}", type_name::<C>()));
        #[cfg(feature = "server")]
        if crate::app_ext::serves(self) {
            crate::server::add_authority::<C, _>(self.world_mut(), index, codec.clone());
        }
        #[cfg(feature = "client")]
        if crate::app_ext::plays(self) {
            crate::client::add_authority::<C, _>(self, index, codec);
        }
        self
    }

    fn validate_authority<C>(
        &mut self,
        rule: impl Fn(&Proposal<C>) -> Verdict<C> + Send + Sync + 'static,
    ) -> &mut Self
    where
        C: Component<Mutability = Mutable> + Clone,
    {
        let registry = self
            .world_mut()
            .get_resource_or_init::<ReplicationRegistry>();
        let index = registry.index_of(TypeId::of::<C>());
        let authoritative = index.is_some_and(|index| {
            self.world()
                .get_resource::<AuthorityRegistry>()
                .is_some_and(|registry| registry.contains(index))
        });
        assert!(
            authoritative,
            "validate_authority::<{0}>() needs replicate_client_authoritative::<{0}>() first",
            type_name::<C>()
        );
        #[cfg(feature = "server")]
        {
            let rule: AuthorityRule<C> = Box::new(rule);
            self.insert_resource(crate::server::RuleOf::<C>(Arc::new(rule)));
        }
        #[cfg(not(feature = "server"))]
        let _ = rule;
        self
    }
}

/// One codec shared by replication and the upstream path.
struct SharedCodec<K>(Arc<K>);

impl<C, K: ComponentCodec<C>> ComponentCodec<C> for SharedCodec<K> {
    fn encode(
        &self,
        value: &C,
        baseline: Option<&C>,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.0.encode(value, baseline, out)
    }

    fn decode(&self, bytes: &[u8], baseline: Option<&C>) -> Result<C, DecodeError> {
        self.0.decode(bytes, baseline)
    }

    fn settings(&self) -> String {
        format!("{} {}", type_name::<K>(), self.0.settings())
    }

    fn uses_baselines(&self) -> bool {
        self.0.uses_baselines()
    }

    fn write(&self, value: &C, out: &mut BitWriter) -> Result<(), EncodeError> {
        self.0.write(value, out)
    }

    fn read(&self, reader: &mut BitReader) -> Result<C, DecodeError> {
        self.0.read(reader)
    }

    fn write_delta(
        &self,
        value: &C,
        tick: NetTick,
        baseline: Baseline<'_, C>,
        out: &mut BitWriter,
    ) -> Result<(), EncodeError> {
        self.0.write_delta(value, tick, baseline, out)
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
