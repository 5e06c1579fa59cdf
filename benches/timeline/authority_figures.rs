//! Client authority figures: what one owned object moving on a 10 m circle at 5 m/s costs its
//! holder upstream, on the clean, P50 and P95 links (payload bytes per second, beside the same
//! client's upstream while it holds nothing), and how smoothly a watcher draws it.

use bevy::prelude::*;
use bevy_netsync::{
    prelude::*,
    server::set_authority,
    testing::{LinkConditioner, TestNet},
};

use crate::authority::{Ball, net, spawn_ball};

const STEPS: usize = 1800;

/// The holder's motion: 10 m circle at 5 m/s.
fn circle(
    mut angle: Local<f32>,
    mut held: Query<&mut Transform, (With<Ball>, With<HasAuthority>)>,
) {
    for mut transform in &mut held {
        *angle += 5.0 / 10.0 / 60.0;
        transform.translation = Vec3::new(angle.cos() * 10.0, 1.0, angle.sin() * 10.0);
        transform.rotation = Quat::from_rotation_y(*angle);
    }
}

struct Figures {
    holding: f64,
    idle: f64,
    watcher_worst_step_mm: f32,
}

fn run(link: LinkConditioner, hold: bool) -> Figures {
    let mut net: TestNet = net(link, 1, f32::INFINITY);
    let holder = net.add_client_with(|app| {
        app.add_systems(FixedUpdate, circle.run_if(not_resimulating));
    });
    let watcher = net.add_client();
    let ball = spawn_ball(&mut net);
    net.run(120);
    if hold {
        let id = net.client_id(holder);
        set_authority(net.server_mut().world_mut(), ball, Some(id));
    }
    net.run(120);
    let before = net.upstream(holder).bytes;
    let mut last: Option<Vec3> = None;
    let mut worst = 0.0f32;
    for _ in 0..STEPS {
        net.step();
        let copy = net
            .client(watcher)
            .world()
            .resource::<ServerEntityMap>()
            .to_client(ball);
        let drawn = copy.and_then(|copy| net.client(watcher).world().get::<Transform>(copy));
        if let Some(drawn) = drawn {
            if let Some(last) = last {
                worst = worst.max(drawn.translation.distance(last));
            }
            last = Some(drawn.translation);
        }
    }
    let bytes = (net.upstream(holder).bytes - before) as f64 / (STEPS as f64 / 60.0);
    Figures {
        holding: bytes,
        idle: 0.0,
        watcher_worst_step_mm: worst * 1000.0,
    }
}

/// Prints the table.
pub fn print() {
    println!();
    println!(
        "Client authority: one client holds an object it moves on a 10 m circle at 5 m/s (TransformCodec, 83 mm a tick); a second client watches; {STEPS} steps. c→s counts the holder's payload bytes (acks and owned values); 'holding nothing' is the same client's upstream with the object left to the server."
    );
    println!();
    println!(
        "| link | c→s B/s holding | c→s B/s holding nothing | owned object B/s | watcher's largest step per frame mm |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, link) in [
        ("clean", LinkConditioner::PERFECT),
        ("P50", LinkConditioner::p50()),
        ("P95", LinkConditioner::p95()),
    ] {
        let mut held = run(link, true);
        held.idle = run(link, false).holding;
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.1} |",
            held.holding,
            held.idle,
            held.holding - held.idle,
            held.watcher_worst_step_mm
        );
    }
}
