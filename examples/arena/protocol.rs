//! What travels between the arena's server and clients. Server and clients call [`plugin`] in
//! the same order.

use bevy::prelude::*;
use bevy_netsync::prelude::*;
use serde::{Deserialize, Serialize};

/// The arena's netcode protocol id: other games' clients are dropped by netcode itself.
pub const PROTOCOL_ID: u64 = 0x4152_454e_415f_3031;

/// A player, one per connected client. Its controller is the crate's [`ControlledBy`]: on that
/// client the player is predicted, everywhere else interpolated.
#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
#[require(Weapon)]
pub struct Player {
    /// The transport id of the client that controls it (on other clients, an alias of it:
    /// see [`NamesClients`]).
    pub client_id: u64,
    /// Display name.
    pub name: String,
    /// Body colour (linear RGB).
    pub color: [f32; 3],
}

impl NamesClients for Player {
    fn map_client_ids(&mut self, map: &mut dyn FnMut(u64) -> u64) {
        self.client_id = map(self.client_id);
    }
}

/// Hit points; 0 means dead and waiting to respawn.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub struct Health(pub u32);

/// Kills and deaths.
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Score {
    pub kills: u32,
    pub deaths: u32,
}

/// A flying projectile, who fired it, and how fast it flies (so that a client predicting it
/// moves it exactly as the server does).
#[derive(Component, Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Projectile {
    #[entities]
    pub owner: Entity,
    /// Metres per second.
    pub velocity: Vec3,
}

/// Not replicated: when a player may fire again. Kept by the server and by the client that
/// predicts the player, from the same inputs.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Weapon {
    pub ready_at: NetTick,
}

/// What a player wants this tick, quantized so that it travels in a few bytes (about 5, and an
/// unchanged input in none: inputs are sent every tick, several ticks deep). Whatever a client
/// sends decodes to a bounded request: no NaN, no infinity, no vector longer than about 1.4,
/// which the server still caps.
#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(into = "WireInput", from = "WireInput")]
pub struct ArenaInput {
    /// Wanted direction on the ground (x, z), in 127ths.
    pub movement: [i8; 2],
    /// Aim direction as a yaw angle, in 65536ths of a turn (0 = towards -z).
    pub aim: u16,
    /// Trigger held.
    pub fire: bool,
    /// Rail gun trigger held (the second button).
    pub rail: bool,
}

/// [`ArenaInput`] as it travels: both triggers in one byte.
#[derive(Serialize, Deserialize, Clone, Copy)]
struct WireInput {
    movement: [i8; 2],
    aim: u16,
    /// Bit 0: fire; bit 1: rail.
    buttons: u8,
}

impl From<ArenaInput> for WireInput {
    fn from(input: ArenaInput) -> Self {
        Self {
            movement: input.movement,
            aim: input.aim,
            buttons: u8::from(input.fire) | u8::from(input.rail) << 1,
        }
    }
}

impl From<WireInput> for ArenaInput {
    fn from(wire: WireInput) -> Self {
        Self {
            movement: wire.movement,
            aim: wire.aim,
            fire: wire.buttons & 1 != 0,
            rail: wire.buttons & 2 != 0,
        }
    }
}

impl ArenaInput {
    /// Quantizes a request: `movement` on the ground (length at most 1; NaN is no movement),
    /// `aim` a yaw angle in radians (NaN is 0).
    pub fn new(movement: Vec2, aim: f32, fire: bool) -> Self {
        let movement = if movement.is_finite() {
            movement.clamp_length_max(1.0)
        } else {
            Vec2::ZERO
        };
        let turns = if aim.is_finite() {
            (aim / core::f32::consts::TAU).rem_euclid(1.0)
        } else {
            0.0
        };
        Self {
            movement: [
                (movement.x * 127.0).round() as i8,
                (movement.y * 127.0).round() as i8,
            ],
            aim: (turns * 65_536.0).round() as u32 as u16,
            fire,
            rail: false,
        }
    }

    /// The same request with the rail gun's trigger `held`.
    pub fn with_rail(self, held: bool) -> Self {
        Self { rail: held, ..self }
    }

    /// The wanted direction on the ground (x, z), as sent (its length may exceed 1 slightly).
    pub fn movement(&self) -> Vec2 {
        Vec2::new(
            f32::from(self.movement[0]) / 127.0,
            f32::from(self.movement[1]) / 127.0,
        )
    }

    /// The aim's yaw angle, radians.
    pub fn aim(&self) -> f32 {
        f32::from(self.aim) / 65_536.0 * core::f32::consts::TAU
    }
}

/// A chat line a player typed.
#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct ChatSend(pub String);

/// A chat line for everyone.
#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub struct ChatLine {
    pub from: String,
    pub text: String,
}

/// Registers the protocol.
pub fn plugin(app: &mut App) {
    let codec = TransformCodec::default();
    app.replicate_aliased::<Player>()
        .replicate::<Health>()
        .replicate::<Score>()
        .replicate::<Projectile>()
        // Quantized: 1 mm positions, 10-bit smallest-three rotations, delta-coded. Written by
        // the server, except on an entity a client holds (the ball): its holder writes it.
        .replicate_client_authoritative_with::<Transform>(codec)
        .interpolate::<Transform>()
        // A prediction is right when it matches the server's within the codec's precision.
        .predict_with::<Transform>(move |predicted, server| codec.matches(predicted, server))
        .add_input::<ArenaInput>()
        .add_client_message::<ChatSend>(Channel::Reliable)
        .add_server_message::<ChatLine>(Channel::Reliable);
}

/// The direction a yaw angle points to on the ground (x, z).
pub fn yaw_direction(yaw: f32) -> Vec2 {
    Vec2::new(-yaw.sin(), -yaw.cos())
}

/// The yaw angle of a ground direction (x, z).
pub fn direction_yaw(direction: Vec2) -> f32 {
    (-direction.x).atan2(-direction.y)
}
