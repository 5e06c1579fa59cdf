//! [`Replay`]: the payload sequences one client sent lately, so that the server transport
//! drops duplicates (on the way, or replayed) before netcode decrypts and logs them.

/// Payload sequences remembered per client.
const REPLAY_WINDOW: u64 = 256;

/// Payload sequences received from one client, for dropping duplicates before netcode.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub(crate) client_id: u64,
    /// The key the peer seals its packets with, when known (checked before netcode).
    pub(crate) key: Option<[u8; 32]>,
    newest: u64,
    seen: [u64; 4],
}

impl Replay {
    /// Nothing received yet from a peer whose packets `key` seals.
    pub(crate) fn with_key(key: Option<[u8; 32]>) -> Self {
        Self {
            key,
            ..Self::default()
        }
    }

    /// Nothing received yet from `client_id`.
    pub(crate) fn new(client_id: u64) -> Self {
        Self {
            client_id,
            ..Self::default()
        }
    }

    pub(crate) fn received(&self, sequence: u64) -> bool {
        if sequence > self.newest {
            return false;
        }
        let age = self.newest - sequence;
        age >= REPLAY_WINDOW
            || self.seen[(sequence % REPLAY_WINDOW / 64) as usize] & bit(sequence) != 0
    }

    pub(crate) fn note(&mut self, sequence: u64) {
        if sequence > self.newest {
            // Forget the sequences that leave the window.
            let forward = sequence - self.newest;
            if forward >= REPLAY_WINDOW {
                self.seen = [0; 4];
            } else {
                for skipped in self.newest + 1..=sequence {
                    self.seen[(skipped % REPLAY_WINDOW / 64) as usize] &= !bit(skipped);
                }
            }
            self.newest = sequence;
        }
        self.seen[(sequence % REPLAY_WINDOW / 64) as usize] |= bit(sequence);
    }
}

const fn bit(sequence: u64) -> u64 {
    1 << (sequence % 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_window_drops_what_it_saw_and_what_is_too_old() {
        let mut replay = Replay::default();
        for sequence in [1, 2, 5, 300] {
            assert!(!replay.received(sequence));
            replay.note(sequence);
            assert!(replay.received(sequence));
        }
        assert!(!replay.received(299), "inside the window, never seen");
        assert!(replay.received(2), "out of the window: treated as seen");
        replay.note(299);
        assert!(replay.received(299));
        assert!(!replay.received(301));
        replay.note(1_000);
        assert!(!replay.received(999));
        assert!(replay.received(300));
    }
}
