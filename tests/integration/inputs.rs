//! Tick-stamped inputs: redundancy against loss, and a lead that adapts to the link.

use std::collections::BTreeMap;

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::InputStats,
    testing::{LinkConditioner, TestNet},
};
use serde::{Deserialize, Serialize};

/// An input that names the frame the client sampled it in.
#[derive(Serialize, Deserialize, Clone, Copy, Default, PartialEq, Debug)]
struct Sampled(u32);

fn protocol(app: &mut App) {
    app.add_input::<Sampled>();
}

/// What the client meant for each tick: the input its simulation step of that tick saw.
#[derive(Resource, Default)]
struct Intended {
    by_tick: BTreeMap<u32, Sampled>,
    frame: u32,
}

fn sample_input(mut local: ResMut<LocalInput<Sampled>>, mut intended: ResMut<Intended>) {
    intended.frame += 1;
    local.0 = Sampled(intended.frame);
}

fn note_intended(
    predicted: Res<PredictedTick>,
    local: Res<LocalInput<Sampled>>,
    mut intended: ResMut<Intended>,
) {
    if let Some(tick) = predicted.tick() {
        intended.by_tick.insert(tick.0, local.0);
    }
}

/// What the server applied at each tick.
#[derive(Resource, Default)]
struct Applied(BTreeMap<u32, ClientInput<Sampled>>);

fn record_applied(inputs: Query<&ClientInput<Sampled>>, mut applied: ResMut<Applied>) {
    for input in &inputs {
        applied.0.insert(input.tick.0, input.clone());
    }
}

fn net(link: LinkConditioner, seed: u64) -> TestNet {
    let mut net = TestNet::new(protocol)
        .with_seed(seed)
        .with_default_link(link);
    net.server_mut()
        .init_resource::<Applied>()
        .add_systems(FixedUpdate, record_applied);
    let client = net.add_client();
    net.client_mut(client)
        .init_resource::<Intended>()
        .add_systems(Update, sample_input)
        .add_systems(FixedPostUpdate, note_intended);
    net
}

fn stats(net: &mut TestNet) -> InputStats {
    let world = net.server_mut().world_mut();
    *world.query::<&InputStats>().single(world).unwrap()
}

#[test]
fn with_ten_percent_loss_every_tick_gets_the_right_input() {
    let mut net = net(LinkConditioner::new(30, 0, 0.1), 5);
    net.run(600);
    let first_checked = {
        let applied = &net.server().world().resource::<Applied>().0;
        applied.keys().next().copied().unwrap() + 120
    };
    let intended = net.client(0).world().resource::<Intended>().by_tick.clone();
    let applied = net.server().world().resource::<Applied>().0.clone();
    let checked: Vec<_> = applied.range(first_checked..).collect();
    assert!(checked.len() > 400, "only {} ticks checked", checked.len());
    for (tick, input) in checked {
        assert!(!input.repeated, "tick {tick}: input missing, repeated");
        assert_eq!(Some(&input.input), intended.get(tick), "tick {tick}");
    }
    assert!(net.upstream(0).dropped > 20, "the link did drop packets");
}

#[test]
fn the_lead_adapts_when_the_link_gets_slower_and_late_inputs_stop() {
    let mut net = net(LinkConditioner::new(20, 0, 0.0), 9);
    net.run(300);
    let settled = stats(&mut net);
    assert_eq!(settled.late, 0);
    let lead = settled.recent_min_lead.unwrap();
    assert!(
        (0..=3).contains(&lead),
        "lead {lead} ticks on a steady link"
    );

    // The uplink suddenly takes 80 ms more: inputs arrive late for a moment.
    net.set_links(
        0,
        LinkConditioner::new(20, 0, 0.0),
        LinkConditioner::new(100, 0, 0.0),
    );
    net.run(300);
    let adapted = stats(&mut net);
    assert!(adapted.late > settled.late, "the change went unnoticed");
    net.run(300);
    let later = stats(&mut net);
    assert_eq!(later.late, adapted.late, "inputs are still late");
    assert_eq!(later.repeated, adapted.repeated, "ticks still miss inputs");
    let lead = later.recent_min_lead.unwrap();
    assert!(
        (0..=3).contains(&lead),
        "lead {lead} ticks: should be small again"
    );
}

#[test]
fn far_future_inputs_are_dropped_not_stored() {
    let mut net = net(LinkConditioner::PERFECT, 1);
    net.run(60);
    let now = net.server().world().resource::<ServerTick>().0;
    let payload = {
        let mut bytes = Vec::new();
        bevy_netsync::shared::codec::encode_serde(&Sampled(1), &mut bytes).unwrap();
        bytes
    };
    // Inputs carry the low 16 bits of their tick; the server rebuilds the tick nearest its own.
    let payloads = [payload];
    let frame = bevy_netsync::testing::wire::encode_update(
        &[],
        &[bevy_netsync::testing::wire::InputsOut {
            index: 0,
            newest: now.add(1_000).0 as u16,
            inputs: &payloads,
        }],
    );
    net.send_raw(0, bevy_netsync::shared::channels::UNRELIABLE_CHANNEL, frame);
    net.run(2);
    assert_eq!(stats(&mut net).too_early, 1);
}
