//! What a server reads from clients: every client frame (hello, update with acks, inputs and
//! optional sections, message, goodbye, authority requests), and the inputs and messages inside
//! decoded as game types.
#![no_main]

use bevy_netsync::{
    shared::codec::decode_serde,
    testing::wire::{ClientFrame, ack_ranges},
};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Input {
    movement: [i8; 2],
    aim: u16,
    fire: bool,
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
enum Message {
    Chat(String),
    Nested(Option<Box<Message>>),
    Numbers(Vec<u64>),
}

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = ClientFrame::decode(data) else {
        return;
    };
    match frame {
        ClientFrame::Update { acks, inputs, .. } => {
            let ids: Vec<u16> = acks.iter().flat_map(|range| range.ids()).take(10_000).collect();
            if let Some(&newest) = ids.first() {
                let _ = ack_ranges(&ids, newest);
            }
            for block in inputs {
                for input in block.inputs() {
                    let _ = decode_serde::<Input>(input);
                }
            }
        }
        ClientFrame::Message { payload, .. } => {
            let _ = decode_serde::<Message>(payload);
            let _ = decode_serde::<String>(payload);
        }
        ClientFrame::Hello { .. } | ClientFrame::Goodbye | ClientFrame::Authority(_) => {}
    }
});
