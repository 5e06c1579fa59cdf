//! Lag compensation over the test network: shots at what the shooter saw register on every
//! link, shots beside it miss (the scenario is in `common/shooting.rs`).

use crate::common::shooting::{RADIUS, links, run};

#[test]
fn shots_at_what_the_shooter_saw_register_on_every_link() {
    for (seed, (name, link)) in links().into_iter().enumerate() {
        let shots = run(link, seed as u64 + 1, 0.0);
        println!("{name}: {shots:?}");
        // Fire inputs that arrived in time (late ones are repeats, not shots).
        assert!(shots.fired >= 100, "{name}: {shots:?}");
        assert!(
            shots.compensated * 100 >= shots.fired * 99,
            "{name}: only {} of {} shots registered",
            shots.compensated,
            shots.fired
        );
        if name != "clean" {
            assert!(
                shots.uncompensated * 2 < shots.fired,
                "{name}: without compensation {} of {} would hit",
                shots.uncompensated,
                shots.fired
            );
        }
    }
}

#[test]
fn shots_beside_what_the_shooter_saw_miss() {
    let (_, link) = links()[2];
    let shots = run(link, 9, 1.5 * RADIUS * 2.0);
    assert!(shots.fired >= 150);
    assert_eq!(shots.compensated, 0, "{shots:?}");
}
