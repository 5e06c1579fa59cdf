//! The arena's layout, read from `assets/arena.json` by server and clients alike, and the
//! collision queries the simulation needs.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use serde::Deserialize;

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

/// The arena.
#[derive(Resource, Deserialize, Clone, Debug, PartialEq)]
pub struct Level {
    /// Half size of the floor (x, z).
    pub half_size: Vec2,
    /// Floor colour (linear RGB).
    pub floor_color: [f32; 3],
    /// Walls and obstacles.
    pub blocks: Vec<Block>,
    /// Spawn points on the ground (x, z).
    pub spawns: Vec<Vec2>,
}

/// Where the arena file is.
pub fn default_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/arena.json")
}

impl Level {
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

/// Loads the level into the App (server and clients), or exits with the reason.
pub fn plugin(app: &mut App) {
    match Level::load(&default_path()) {
        Ok(level) => {
            app.insert_resource(level);
        }
        Err(error) => {
            eprintln!("arena: {error}");
            std::process::exit(2);
        }
    }
}
