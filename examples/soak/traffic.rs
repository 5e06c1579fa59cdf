//! What the soak puts through the network: the replicated components and messages, the churn
//! of entities, and the mail that checks every message's content (and reliable ones' order)
//! on arrival.

use std::collections::HashMap;

use bevy::prelude::*;
use bevy_netsync::{prelude::*, testing::SplitMix64};
use serde::{Deserialize, Serialize};

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub(crate) struct Counter(pub(crate) u64);

#[derive(Component, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub(crate) struct Label(pub(crate) String);

/// A message whose bytes follow from its sequence number and sender, so that the receiver can
/// check them.
#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub(crate) struct Note {
    pub(crate) from: u64,
    pub(crate) seq: u64,
    pub(crate) bytes: Vec<u8>,
}

#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub(crate) struct ReliableUp(pub(crate) Note);
#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub(crate) struct UnreliableUp(pub(crate) Note);
#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub(crate) struct ReliableDown(pub(crate) Note);
#[derive(Message, Serialize, Deserialize, Clone, PartialEq, Debug)]
pub(crate) struct UnreliableDown(pub(crate) Note);

pub(crate) fn note(from: u64, seq: u64, len: usize) -> Note {
    let mut rng = SplitMix64::new(from.wrapping_mul(31).wrapping_add(seq));
    Note {
        from,
        seq,
        bytes: (0..len).map(|_| rng.next_u64() as u8).collect(),
    }
}

pub(crate) fn valid(note: &Note) -> bool {
    *note == self::note(note.from, note.seq, note.bytes.len())
}

pub(crate) fn protocol(app: &mut App) {
    app.replicate::<Counter>()
        .replicate::<Label>()
        .replicate_with::<Transform>(TransformCodec::default())
        .add_client_message::<ReliableUp>(Channel::Reliable)
        .add_client_message::<UnreliableUp>(Channel::Unreliable)
        .add_server_message::<ReliableDown>(Channel::Reliable)
        .add_server_message::<UnreliableDown>(Channel::Unreliable);
}

/// Message checks on one side.
#[derive(Resource, Default)]
pub(crate) struct Mail {
    /// Next reliable sequence expected, by sender.
    pub(crate) expected: HashMap<u64, u64>,
    pub(crate) verified: u64,
    pub(crate) wrong: Vec<String>,
}

impl Mail {
    /// A reliable message on the connection `connection`.
    fn reliable(&mut self, connection: u64, note: &Note) {
        let expected = self.expected.entry(connection).or_insert(0);
        if !valid(note) {
            self.wrong.push(format!(
                "reliable {} from {}: bad bytes",
                note.seq, note.from
            ));
        } else if note.seq != *expected {
            self.wrong.push(format!(
                "reliable from {}: got {}, expected {}",
                note.from, note.seq, expected
            ));
        } else {
            self.verified += 1;
        }
        *expected = note.seq + 1;
    }

    fn unreliable(&mut self, note: &Note) {
        if valid(note) {
            self.verified += 1;
        } else {
            self.wrong.push(format!(
                "unreliable {} from {}: bad bytes",
                note.seq, note.from
            ));
        }
    }
}

pub(crate) fn server_reads(
    mut reliable: MessageReader<FromClient<ReliableUp>>,
    mut unreliable: MessageReader<FromClient<UnreliableUp>>,
    mut mail: ResMut<Mail>,
) {
    for message in reliable.read() {
        mail.reliable(message.client_id, &message.message.0);
    }
    for message in unreliable.read() {
        mail.unreliable(&message.message.0);
    }
}

pub(crate) fn client_reads(
    mut reliable: MessageReader<ReliableDown>,
    mut unreliable: MessageReader<UnreliableDown>,
    state: Res<State<ClientState>>,
    mut mail: ResMut<Mail>,
) {
    if state.is_changed() && *state.get() == ClientState::Connected {
        // A new session: the server numbers its messages from zero again.
        mail.expected.clear();
    }
    for message in reliable.read() {
        mail.reliable(0, &message.0);
    }
    for message in unreliable.read() {
        mail.unreliable(&message.0);
    }
}

/// Per-client sending state (client side).
#[derive(Resource)]
pub(crate) struct Outbox {
    pub(crate) rng: SplitMix64,
    pub(crate) id: u64,
    pub(crate) reliable: u64,
    pub(crate) unreliable: u64,
    pub(crate) sent: u64,
}

pub(crate) fn client_sends(
    state: Res<State<ClientState>>,
    mut outbox: ResMut<Outbox>,
    mut reliable: MessageWriter<ReliableUp>,
    mut unreliable: MessageWriter<UnreliableUp>,
) {
    if *state.get() != ClientState::Connected {
        outbox.reliable = 0;
        outbox.unreliable = 0;
        return;
    }
    if outbox.rng.chance(0.05) {
        let len = (outbox.rng.next_u64() % 2_000) as usize;
        let seq = outbox.reliable;
        outbox.reliable += 1;
        outbox.sent += 1;
        reliable.write(ReliableUp(note(outbox.id, seq, len)));
    }
    if outbox.rng.chance(0.05) {
        let len = (outbox.rng.next_u64() % 1_000) as usize;
        let seq = outbox.unreliable;
        outbox.unreliable += 1;
        outbox.sent += 1;
        unreliable.write(UnreliableUp(note(outbox.id, seq, len)));
    }
}

/// The server's churn of entities and messages.
#[derive(Resource)]
pub(crate) struct World_ {
    pub(crate) rng: SplitMix64,
    pub(crate) entities: Vec<Entity>,
    /// Per client: next reliable and unreliable sequence.
    pub(crate) sequences: HashMap<u64, (u64, u64)>,
    pub(crate) sent: u64,
    pub(crate) spawned: u64,
    pub(crate) despawned: u64,
    pub(crate) calm: bool,
}

pub(crate) fn server_churn(
    mut churn: ResMut<World_>,
    clients: Query<(Entity, &ConnectedClient)>,
    mut reliable: MessageWriter<ToClients<ReliableDown>>,
    mut unreliable: MessageWriter<ToClients<UnreliableDown>>,
    mut transforms: Query<(&mut Transform, &mut Counter)>,
    mut commands: Commands,
) {
    if churn.calm {
        return;
    }
    let churn = &mut *churn;
    // About 200 entities live: spawn and despawn a few, change many.
    for _ in 0..3 {
        if churn.entities.len() < 220 && churn.rng.chance(0.5) {
            let len = (churn.rng.next_u64() % 3_000) as usize;
            let x = churn.rng.next_f64() as f32 * 100.0;
            let entity = commands
                .spawn((
                    Replicated,
                    Counter(0),
                    Label("x".repeat(len)),
                    Transform::from_xyz(x, 0.0, 0.0),
                ))
                .id();
            churn.entities.push(entity);
            churn.spawned += 1;
        }
        if churn.entities.len() > 180 && churn.rng.chance(0.5) {
            let index = (churn.rng.next_u64() % churn.entities.len() as u64) as usize;
            commands.entity(churn.entities.swap_remove(index)).despawn();
            churn.despawned += 1;
        }
    }
    for (mut transform, mut counter) in &mut transforms {
        if churn.rng.chance(0.3) {
            transform.translation.z += 0.05;
            counter.0 += 1;
        }
    }
    for (entity, client) in &clients {
        let (next_reliable, next_unreliable) = churn.sequences.entry(client.id()).or_insert((0, 0));
        if churn.rng.chance(0.03) {
            let len = (churn.rng.next_u64() % 2_000) as usize;
            reliable.write(ToClients {
                mode: SendMode::Direct(entity),
                message: ReliableDown(note(0, *next_reliable, len)),
            });
            *next_reliable += 1;
            churn.sent += 1;
        }
        if churn.rng.chance(0.03) {
            let len = (churn.rng.next_u64() % 1_000) as usize;
            unreliable.write(ToClients {
                mode: SendMode::Direct(entity),
                message: UnreliableDown(note(0, *next_unreliable, len)),
            });
            *next_unreliable += 1;
            churn.sent += 1;
        }
    }
}

/// Why the server closed connections, by reason.
#[derive(Resource, Default)]
pub(crate) struct ServerDrops(pub(crate) HashMap<String, u64>);
