//! Component codecs on untrusted bits: `TransformCodec` whole and against baselines, and
//! serde values of several shapes. A decoded value must encode again.
#![no_main]

use bevy::prelude::*;
use bevy_netsync::shared::{
    codec::{Baseline, ComponentCodec, decode_serde, encode_serde},
    tick::NetTick,
    transform_codec::TransformCodec,
    wire::{BitReader, BitWriter},
};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Value {
    Text(String),
    List(Vec<Value>),
    Pair(u32, Option<Box<Value>>),
    Float(f64),
}

fuzz_target!(|data: &[u8]| {
    let codec = TransformCodec::default();
    let mut reader = BitReader::new(data);
    if let Ok(value) = codec.read(&mut reader) {
        let mut out = BitWriter::new();
        let _ = codec.write(&value, &mut out);
    }
    let base = Transform::from_xyz(1.0, 2.0, 3.0).with_rotation(Quat::from_rotation_y(0.5));
    let previous = Transform::from_xyz(0.9, 2.0, 3.1);
    let baseline = Baseline {
        value: &base,
        tick: NetTick(100),
        previous: Some((&previous, NetTick(98))),
    };
    let mut reader = BitReader::new(data);
    if let Ok(value) = codec.read_delta(&mut reader, NetTick(103), baseline) {
        let mut out = BitWriter::new();
        let _ = codec.write_delta(&value, NetTick(103), baseline, &mut out);
    }
    if let Ok(value) = decode_serde::<Value>(data) {
        let mut out = Vec::new();
        encode_serde(&value, &mut out).expect("a decoded value encodes");
    }
});
