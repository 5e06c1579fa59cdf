//! [`BlobAssembly`]: large values arriving in slices, put back together on the client.

use bevy::platform::collections::HashMap;

use crate::shared::{codec::MAX_VALUE_BYTES, error::DecodeError, tick::NetTick, wire::SLICE_BYTES};

/// Most bytes held in unfinished and finished values together (the server keeps less than
/// half of this on its way); beyond, unfinished ones go first, then the oldest finished ones.
const MAX_HELD_BYTES: usize = 8 * MAX_VALUE_BYTES;
/// Values are kept this many ticks after their last slice arrived, finished or not, for the
/// slices still to come and the entries that refer to them: the server counts an acknowledged
/// slice as held, so one dropped too early would leave an entry that can never be applied. A
/// minute covers many round trips on the worst links; memory stays bounded by
/// [`MAX_HELD_BYTES`] whatever the age.
const KEEP_TICKS: i32 = 3_600;

/// A value some of whose slices arrived. Only what arrived is stored (a hostile server
/// announcing 8 MiB and sending one slice costs a slice, not 8 MiB); the value is put together
/// when the last slice comes. Held bytes are still counted at the announced length, so the
/// room kept for values does not depend on the order slices come in.
/// What a value counts against [`MAX_HELD_BYTES`]: its length, but at least 16 slices' worth,
/// so that at most 4,096 values are held (an honest server has at most 256 on their way) and
/// evicting to make room never walks a long list of tiny ones a hostile server sent.
fn charge(total_len: usize) -> usize {
    total_len.max(16 * SLICE_BYTES)
}

#[derive(Debug)]
struct Partial {
    /// Slices received, in arrival order.
    slices: Vec<(u32, Box<[u8]>)>,
    /// One bit per slice.
    received: Vec<u64>,
    total_len: usize,
    touched: NetTick,
}

/// Values arriving in slices, and finished ones waiting for their entry.
#[derive(Debug, Default)]
pub(crate) struct BlobAssembly {
    partial: HashMap<u32, Partial>,
    complete: HashMap<u32, (Vec<u8>, NetTick)>,
    held_bytes: usize,
}

impl BlobAssembly {
    /// Adds slice `index` of value `blob` (`total_len` bytes in all), received at `now`.
    pub(crate) fn add_slice(
        &mut self,
        blob: u32,
        total_len: usize,
        index: u32,
        payload: &[u8],
        now: NetTick,
    ) -> Result<(), DecodeError> {
        if total_len == 0 || total_len > MAX_VALUE_BYTES {
            return Err(DecodeError::UnexpectedEnd("a value within the size limit"));
        }
        if self.complete.contains_key(&blob) {
            return Ok(());
        }
        let slices = total_len.div_ceil(SLICE_BYTES);
        let index = index as usize;
        let start = index * SLICE_BYTES;
        let expected = total_len.saturating_sub(start).min(SLICE_BYTES);
        if index >= slices || payload.len() != expected {
            return Err(DecodeError::UnexpectedEnd("a slice of the announced size"));
        }
        if !self.partial.contains_key(&blob) {
            self.make_room(charge(total_len));
            self.held_bytes += charge(total_len);
            self.partial.insert(
                blob,
                Partial {
                    slices: Vec::new(),
                    received: vec![0; slices.div_ceil(64)],
                    total_len,
                    touched: now,
                },
            );
        }
        let Some(partial) = self.partial.get_mut(&blob) else {
            return Ok(());
        };
        if partial.total_len != total_len {
            return Err(DecodeError::UnexpectedEnd("slices of one length"));
        }
        partial.touched = now;
        let (word, bit) = (index / 64, 1u64 << (index % 64));
        if partial.received[word] & bit == 0 {
            partial.received[word] |= bit;
            partial.slices.push((index as u32, payload.into()));
        }
        if partial.slices.len() == slices
            && let Some(done) = self.partial.remove(&blob)
        {
            let mut bytes = vec![0; done.total_len];
            for (index, slice) in done.slices {
                let start = index as usize * SLICE_BYTES;
                bytes[start..start + slice.len()].copy_from_slice(&slice);
            }
            self.complete.insert(blob, (bytes, now));
        }
        Ok(())
    }

    /// A finished value.
    #[cfg(test)]
    pub(crate) fn get(&self, blob: u32) -> Option<&[u8]> {
        self.complete.get(&blob).map(|(bytes, _)| bytes.as_slice())
    }

    /// Takes a finished value that is being applied (later mentions of it are old news).
    pub(crate) fn take(&mut self, blob: u32) -> Option<Vec<u8>> {
        let (bytes, _) = self.complete.remove(&blob)?;
        self.held_bytes -= charge(bytes.len());
        Some(bytes)
    }

    /// Forgets finished values nobody referred to for a long time.
    pub(crate) fn prune(&mut self, now: NetTick) {
        let mut freed = 0;
        self.complete.retain(|_, (bytes, done)| {
            let keep = now.diff(*done) <= KEEP_TICKS;
            if !keep {
                freed += charge(bytes.len());
            }
            keep
        });
        self.partial.retain(|_, partial| {
            let keep = now.diff(partial.touched) <= KEEP_TICKS;
            if !keep {
                freed += charge(partial.total_len);
            }
            keep
        });
        self.held_bytes -= freed;
    }

    /// Drops the oldest values until `incoming` more bytes fit.
    fn make_room(&mut self, incoming: usize) {
        while self.held_bytes + incoming > MAX_HELD_BYTES {
            let oldest_complete = self
                .complete
                .iter()
                .min_by_key(|(_, (_, done))| done.0)
                .map(|(id, _)| *id);
            let oldest_partial = self
                .partial
                .iter()
                .min_by_key(|(_, partial)| partial.touched.0)
                .map(|(id, _)| *id);
            if let Some(id) = oldest_partial {
                if let Some(partial) = self.partial.remove(&id) {
                    self.held_bytes -= charge(partial.total_len);
                }
            } else if let Some(id) = oldest_complete {
                if let Some((bytes, _)) = self.complete.remove(&id) {
                    self.held_bytes -= charge(bytes.len());
                }
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_in_any_order_make_the_value_and_bad_slices_are_errors() {
        let value: Vec<u8> = (0..2_500u32).map(|i| i as u8).collect();
        let mut assembly = BlobAssembly::default();
        for index in [2u32, 0, 0, 1] {
            let start = index as usize * SLICE_BYTES;
            let end = (start + SLICE_BYTES).min(value.len());
            assert!(assembly.get(9).is_none());
            assembly
                .add_slice(9, value.len(), index, &value[start..end], NetTick(1))
                .unwrap();
        }
        assert_eq!(assembly.get(9), Some(value.as_slice()));
        assert!(assembly.add_slice(1, 10, 1, &[0; 10], NetTick(1)).is_err());
        assert!(assembly.add_slice(1, 10, 0, &[0; 9], NetTick(1)).is_err());
        assert!(
            assembly
                .add_slice(1, MAX_VALUE_BYTES + 1, 0, &[0; SLICE_BYTES], NetTick(1))
                .is_err()
        );
        // One slice of a value announced at the limit stores that slice, not the value.
        assembly
            .add_slice(2, MAX_VALUE_BYTES, 5, &[7; SLICE_BYTES], NetTick(1))
            .unwrap();
        let stored: usize = assembly.partial[&2]
            .slices
            .iter()
            .map(|(_, s)| s.len())
            .sum();
        assert_eq!(stored, SLICE_BYTES);
        assert!(assembly.partial[&2].received.len() * 8 <= 1024);
        assembly.prune(NetTick(1 + KEEP_TICKS as u32));
        assert!(assembly.get(9).is_some(), "kept for a minute");
        assembly.prune(NetTick(2 + KEEP_TICKS as u32));
        assert!(assembly.get(9).is_none());
    }
}
