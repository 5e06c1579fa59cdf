//! [`DirtySet`]: the slots that may have news for a client, as a bit set read a word at a time
//! in slot (wire) order, which costs nothing to scan when empty.

/// A set of slot numbers.
#[derive(Clone, Debug, Default)]
pub(crate) struct DirtySet {
    words: Vec<u64>,
    len: usize,
}

impl DirtySet {
    /// Makes room for slots below `slots`.
    pub(crate) fn reserve(&mut self, slots: usize) {
        let words = slots.div_ceil(64);
        if self.words.len() < words {
            self.words.resize(words, 0);
        }
    }

    /// Adds `slot`; returns whether it was absent.
    pub(crate) fn insert(&mut self, slot: u32) -> bool {
        let (word, bit) = (slot as usize / 64, slot % 64);
        self.reserve(slot as usize + 1);
        let mask = 1u64 << bit;
        let absent = self.words[word] & mask == 0;
        if absent {
            self.words[word] |= mask;
            self.len += 1;
        }
        absent
    }

    /// Removes `slot`.
    pub(crate) fn remove(&mut self, slot: u32) {
        let (word, bit) = (slot as usize / 64, slot % 64);
        if let Some(word) = self.words.get_mut(word) {
            let mask = 1u64 << bit;
            if *word & mask != 0 {
                *word &= !mask;
                self.len -= 1;
            }
        }
    }

    /// Whether `slot` is in the set.
    #[inline]
    pub(crate) fn contains(&self, slot: u32) -> bool {
        self.words
            .get(slot as usize / 64)
            .is_some_and(|word| word & (1u64 << (slot % 64)) != 0)
    }

    /// Heap bytes held.
    #[cfg_attr(not(feature = "test_utils"), allow(dead_code))]
    pub(crate) fn held_bytes(&self) -> usize {
        self.words.capacity() * core::mem::size_of::<u64>()
    }

    /// Number of slots in the set.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many 64-slot words to read (see [`Self::word`]): none when the set is empty.
    #[inline]
    pub(crate) fn word_count(&self) -> usize {
        if self.len == 0 { 0 } else { self.words.len() }
    }

    /// The slots `64 * index ..` of the set, a bit each (slot `64 * index + n` is bit `n`);
    /// none past the slots it has room for.
    #[inline]
    pub(crate) fn word(&self, index: usize) -> u64 {
        self.words.get(index).copied().unwrap_or(0)
    }
}

/// The slots a word of a slot bit set holds, in ascending order: bit `n` of word `index` is slot
/// `64 * index + n` (as [`DirtySet::word`] reads them).
#[inline]
pub(crate) fn slots_in(index: usize, word: u64) -> impl Iterator<Item = u32> {
    let base = index as u32 * 64;
    let mut members = word;
    core::iter::from_fn(move || {
        (members != 0).then(|| {
            let slot = base + members.trailing_zeros();
            members &= members - 1;
            slot
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_in_order_and_counts() {
        let mut set = DirtySet::default();
        for slot in [130, 3, 64, 3, 0] {
            set.insert(slot);
        }
        assert_eq!(set.len(), 4);
        set.remove(64);
        set.remove(64);
        set.remove(10_000);
        let slots: Vec<u32> = (0..set.word_count())
            .flat_map(|word| slots_in(word, set.word(word)))
            .collect();
        assert_eq!(slots, [0, 3, 130]);
        let mut empty = set.clone();
        for slot in slots {
            empty.remove(slot);
        }
        assert_eq!(empty.word_count(), 0);
        assert!(set.contains(130) && !set.contains(64));
    }
}
