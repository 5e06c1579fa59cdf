//! An entry's shape: which components its values are for, and the acknowledged ticks its
//! deltas are taken against; one bit when it repeats the previous entry's.

use super::read_u32;
use crate::shared::{
    error::DecodeError,
    tick::NetTick,
    wire::{BitReader, BitWriter},
};

/// Which components an entry carries, and the baselines its deltas use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Registry indices, in the order their values follow (a spawn may have none).
    pub components: Vec<u32>,
    /// The acknowledged ticks deltas are taken against: the newest, and the one before.
    pub baseline: Option<(NetTick, Option<NetTick>)>,
}

/// Writes a shape: one bit when it equals `previous`.
#[cfg(test)]
pub fn write_shape(
    out: &mut BitWriter,
    shape: &Shape,
    previous: Option<&Shape>,
    index_bits: u32,
    tick: NetTick,
) {
    if previous == Some(shape) {
        out.write_bool(false);
    } else {
        write_shape_parts(out, &shape.components, shape.baseline, index_bits, tick);
    }
}

/// Writes a shape that differs from the previous entry's, from its parts.
pub fn write_shape_parts(
    out: &mut BitWriter,
    components: &[u32],
    baseline: Option<(NetTick, Option<NetTick>)>,
    index_bits: u32,
    tick: NetTick,
) {
    out.write_bool(true);
    out.write_golomb(components.len() as u64, 0);
    for &index in components {
        out.write_bits(u64::from(index), index_bits);
    }
    out.write_bool(baseline.is_some());
    if let Some((base, previous)) = baseline {
        out.write_golomb(tick.diff(base).max(0) as u64, 0);
        out.write_bool(previous.is_some());
        if let Some(previous) = previous {
            out.write_golomb(base.diff(previous).saturating_sub(1).max(0) as u64, 0);
        }
    }
}

/// Reads a shape written by [`write_shape`]; component indices must be below `registry_len`.
#[cfg(test)]
pub fn read_shape(
    reader: &mut BitReader,
    previous: Option<&Shape>,
    index_bits: u32,
    registry_len: usize,
    tick: NetTick,
) -> Result<Shape, DecodeError> {
    let mut shape = previous.cloned().unwrap_or_default();
    read_shape_into(
        reader,
        &mut shape,
        previous.is_some(),
        index_bits,
        registry_len,
        tick,
    )?;
    Ok(shape)
}

/// Reads a shape written by `write_shape` over the previous entry's shape in `shape` (when
/// `repeatable`: else a repeat is an error), reusing its list, so a frame of entries alike
/// allocates nothing per entry. Component indices must be below `registry_len`.
pub fn read_shape_into(
    reader: &mut BitReader,
    shape: &mut Shape,
    repeatable: bool,
    index_bits: u32,
    registry_len: usize,
    tick: NetTick,
) -> Result<(), DecodeError> {
    if !reader.read_bool()? {
        return if repeatable {
            Ok(())
        } else {
            Err(DecodeError::UnexpectedEnd("a shape to repeat"))
        };
    }
    let count = reader.read_golomb(0)?;
    if count > registry_len as u64 {
        return Err(DecodeError::UnexpectedEnd("a component list"));
    }
    let components = &mut shape.components;
    components.clear();
    components.reserve(count as usize);
    for _ in 0..count {
        let index = reader.read_bits(index_bits)? as u32;
        if index as usize >= registry_len {
            return Err(DecodeError::UnknownComponent(index));
        }
        if components.contains(&index) {
            // One value per component and entity: found by the `from_server` fuzz target.
            return Err(DecodeError::UnexpectedEnd(
                "a component list without repeats",
            ));
        }
        components.push(index);
    }
    shape.baseline = if reader.read_bool()? {
        let base = tick.sub(read_u32(reader)?);
        let previous = if reader.read_bool()? {
            let gap = read_u32(reader)?
                .checked_add(1)
                .ok_or(DecodeError::VarintOverflow)?;
            Some(base.sub(gap))
        } else {
            None
        };
        Some((base, previous))
    } else {
        None
    };
    Ok(())
}
