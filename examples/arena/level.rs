//! The level's layout, read from `assets/<name>.json` by server and clients alike (the server
//! says which: [`LevelName`] replicates), and the collision queries the simulation needs.
//! Levels: `arena` (the default, small) and `field` (a large map where each client's view
//! radius matters).

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy_netsync::prelude::*;
use serde::{Deserialize, Serialize};

/// A solid box standing on the floor.
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct Block {
    /// Centre on the ground (x, z).
    pub center: Vec2,
    /// Half extents on the ground (x, z).
    pub half: Vec2,
    /// Height.
    pub height: f32,
    /// Colour (linear RGB).
    pub color: [f32; 3],
}

/// The level.
#[derive(Resource, Deserialize, Clone, Debug, PartialEq)]
pub struct Level {
    /// The name it was loaded by.
    #[serde(skip)]
    pub name: String,
    /// Half size of the floor (x, z).
    pub half_size: Vec2,
    /// Floor colour (linear RGB).
    pub floor_color: [f32; 3],
    /// Walls and obstacles.
    pub blocks: Vec<Block>,
    /// Spawn points on the ground (x, z).
    pub spawns: Vec<Vec2>,
    /// Where health pickups lie (x, z).
    #[serde(default)]
    pub pickups: Vec<Vec2>,
    /// How far each client sees, metres; none: everything (interest management off).
    #[serde(default)]
    pub view_radius: Option<f32>,
}

/// The level the server plays, by name: replicated, so that clients load the same one.
#[derive(Resource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LevelName(pub String);

/// The level every App starts with.
pub const DEFAULT_LEVEL: &str = "arena";

/// Where the file of the level `name` is.
pub fn path_of(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/{name}.json"))
}

impl Level {
    /// Loads the level `name` (`assets/<name>.json`), with an error that says which file and
    /// what is wrong. Names are plain words: a server cannot make a client read other files.
    pub fn named(name: &str) -> Result<Self, String> {
        let plain = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !plain {
            return Err(format!(
                "`{name}` is not a level name (letters, digits, - and _)"
            ));
        }
        let mut level = Self::load(&path_of(name))?;
        level.name = name.to_string();
        Ok(level)
    }

    /// Reads a level file, with an error that says which file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let level: Level = serde_json::from_str(&text)
            .map_err(|error| format!("{} is not a valid level: {error}", path.display()))?;
        if level.spawns.is_empty() {
            return Err(format!("{} has no spawn points", path.display()));
        }
        Ok(level)
    }

    /// A spawn point, chosen by `seed`.
    pub fn spawn_point(&self, seed: u64) -> Vec2 {
        self.spawns[(seed % self.spawns.len() as u64) as usize]
    }

    /// Moves a circle of `radius` at `position` out of every block and back inside the floor.
    pub fn resolve_circle(&self, mut position: Vec2, radius: f32) -> Vec2 {
        for _ in 0..3 {
            for block in &self.blocks {
                let closest = position.clamp(block.center - block.half, block.center + block.half);
                let offset = position - closest;
                let distance = offset.length();
                if distance >= radius {
                    continue;
                }
                if distance > 1e-5 {
                    position = closest + offset / distance * radius;
                } else {
                    // Centre inside the box: leave by the nearest face.
                    let local = position - block.center;
                    let room = block.half - local.abs();
                    if room.x < room.y {
                        position.x = block.center.x + local.x.signum() * (block.half.x + radius);
                    } else {
                        position.y = block.center.y + local.y.signum() * (block.half.y + radius);
                    }
                }
            }
        }
        let limit = self.half_size - Vec2::splat(radius);
        position.clamp(-limit, limit)
    }

    /// How far a beam from `origin` along `direction` (unit length, on the ground) goes before
    /// a block or the floor's edge stops it, at most `max`.
    pub fn ray_length(&self, origin: Vec2, direction: Vec2, max: f32) -> f32 {
        let mut length = max;
        // The floor's edge, from inside.
        for axis in 0..2 {
            if direction[axis].abs() > f32::EPSILON {
                let edge = self.half_size[axis] * direction[axis].signum();
                length = length.min(((edge - origin[axis]) / direction[axis]).max(0.0));
            }
        }
        for block in &self.blocks {
            let (low, high) = (block.center - block.half, block.center + block.half);
            let (mut near, mut far) = (0.0f32, length);
            let mut crossed = true;
            for axis in 0..2 {
                if direction[axis].abs() < f32::EPSILON {
                    crossed &= origin[axis] >= low[axis] && origin[axis] <= high[axis];
                    continue;
                }
                let t1 = (low[axis] - origin[axis]) / direction[axis];
                let t2 = (high[axis] - origin[axis]) / direction[axis];
                near = near.max(t1.min(t2));
                far = far.min(t1.max(t2));
            }
            if crossed && near <= far {
                length = length.min(near);
            }
        }
        length
    }

    /// Whether a circle of `radius` at `position` touches a block or leaves the floor.
    pub fn blocks_circle(&self, position: Vec2, radius: f32) -> bool {
        let outside = position
            .abs()
            .cmpgt(self.half_size - Vec2::splat(radius))
            .any();
        outside
            || self.blocks.iter().any(|block| {
                let closest = position.clamp(block.center - block.half, block.center + block.half);
                position.distance_squared(closest) < radius * radius
            })
    }
}

/// Loads the default level into the App (server and clients), or exits with the reason; a
/// client then follows the server's [`LevelName`].
pub fn plugin(app: &mut App) {
    match Level::named(DEFAULT_LEVEL) {
        Ok(level) => {
            app.insert_resource(level);
        }
        Err(error) => {
            eprintln!("arena: {error}");
            std::process::exit(2);
        }
    }
    app.replicate_resource::<LevelName>()
        .add_systems(PreUpdate, follow_server_level.after(ClientSet::Receive));
}

/// Server side: plays the level `name` (and tells clients which it is).
pub fn choose(app: &mut App, name: &str) -> Result<(), String> {
    let level = Level::named(name)?;
    app.insert_resource(level)
        .insert_resource(LevelName(name.to_string()));
    Ok(())
}

/// Client side: loads the level the server announced, if it is not the one loaded. A level
/// this client does not have ends the session with the reason on screen.
fn follow_server_level(
    announced: Option<Res<LevelName>>,
    level: Res<Level>,
    mut last: ResMut<LastDisconnect>,
    mut commands: Commands,
) {
    let Some(announced) = announced.filter(|announced| announced.is_changed()) else {
        return;
    };
    if announced.0 == level.name {
        return;
    }
    match Level::named(&announced.0) {
        Ok(level) => {
            info!("the server plays the level `{}`", level.name);
            commands.insert_resource(level);
        }
        Err(error) => {
            error!("cannot play the server's level: {error}");
            last.0 = Some(DisconnectReason::Transport(format!(
                "the server plays a level this client does not have: {error}"
            )));
        }
    }
}
