//! The client's decoders: values decoded once.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use super::*;
use crate::shared::{error::EncodeError, wire::BitWriter};

#[derive(Component, Clone, Copy, Debug, PartialEq)]
struct Hp(u8);

/// Sends `Hp` as a byte and counts its decodes; delta-coded or not.
struct Counting(Arc<AtomicUsize>, bool);

impl ComponentCodec<Hp> for Counting {
    fn encode(&self, value: &Hp, _: Option<&Hp>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(value.0);
        Ok(())
    }
    fn decode(&self, bytes: &[u8], _: Option<&Hp>) -> Result<Hp, DecodeError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Hp(bytes[0]))
    }
    fn uses_baselines(&self) -> bool {
        self.1
    }
}

/// Decodes made to read one value as `copies` values.
fn decodes(clone: bool, delta: bool, copies: usize) -> usize {
    let count = Arc::new(AtomicUsize::new(0));
    let mut receivers = ComponentReceivers::default();
    receivers.receivers.push(ComponentReceiver::new::<Hp, _>(
        &mut World::new(),
        Arc::new(Counting(count.clone(), delta)),
    ));
    if clone {
        receivers.set_clone::<Hp>(0);
    }
    let mut out = BitWriter::new();
    Counting(Arc::default(), delta)
        .write(&Hp(7), &mut out)
        .unwrap();
    let bytes = out.into_bytes();
    let slot = 1;
    let decoder = &mut receivers.get_mut(0).unwrap().decoder;
    let value = ReadValue {
        encoding: ValueEncoding::Whole,
        slot,
        tick: NetTick(5),
        copies,
    };
    let at = decoder.read(&mut BitReader::new(&bytes), value).unwrap();
    let values = decoder.take_erased(at);
    assert_eq!(values.len(), copies);
    assert!(values.iter().all(|value| value.get::<Hp>() == Some(&Hp(7))));
    count.load(Ordering::Relaxed)
}

#[test]
fn a_value_is_decoded_once_when_its_type_is_clone() {
    assert_eq!(decodes(true, true, 2), 1);
    assert_eq!(decodes(true, false, 2), 1);
    assert_eq!(decodes(false, false, 1), 1);
    // Not known to be `Clone` and delta-coded: its baseline copy is decoded again.
    assert_eq!(decodes(false, true, 1), 2);
}

/// Reads `value` for the entity in `slot`, set at `tick`, sent as `encoding`.
fn read_hp(
    decoder: &mut dyn DecodeComponent,
    slot: u32,
    tick: u32,
    encoding: ValueEncoding,
    value: u8,
) -> Result<Hp, ReadError> {
    let mut out = BitWriter::new();
    Counting(Arc::default(), true)
        .write(&Hp(value), &mut out)
        .unwrap();
    let bytes = out.into_bytes();
    let value = ReadValue {
        encoding,
        slot,
        tick: NetTick(tick),
        copies: 1,
    };
    let at = decoder.read(&mut BitReader::new(&bytes), value)?;
    Ok(*decoder.take_erased(at)[0].get::<Hp>().unwrap())
}

#[test]
fn baselines_older_than_the_newest_deltas_name_are_forgotten_early_and_refused() {
    let mut receiver = ComponentReceiver::new::<Hp, _>(
        &mut World::new(),
        Arc::new(Counting(Arc::default(), true)),
    );
    let decoder = &mut *receiver.decoder;
    let slot = 3;
    read_hp(decoder, slot, 0, ValueEncoding::Whole, 0).unwrap();
    for tick in 1..=100u32 {
        let delta = ValueEncoding::Delta {
            base: NetTick(tick - 1),
            previous: (tick > 1).then(|| NetTick(tick - 2)),
        };
        assert_eq!(
            read_hp(decoder, slot, tick, delta, tick as u8),
            Ok(Hp(tick as u8))
        );
    }
    // A frame sent a few ticks before the newest still finds its baselines.
    let recent = ValueEncoding::Delta {
        base: NetTick(96),
        previous: Some(NetTick(90)),
    };
    assert_eq!(read_hp(decoder, slot, 97, recent, 1), Ok(Hp(1)));
    // One sent 40 ticks earlier names what the newest deltas no longer need: refused as
    // missing (the frame stops there), within the window as it is.
    let old = ValueEncoding::Delta {
        base: NetTick(60),
        previous: Some(NetTick(59)),
    };
    assert_eq!(
        read_hp(decoder, slot, 61, old, 1),
        Err(ReadError::MissingBaseline)
    );
    let old_base = ValueEncoding::Delta {
        base: NetTick(60),
        previous: None,
    };
    assert_eq!(
        read_hp(decoder, slot, 61, old_base, 1),
        Err(ReadError::MissingBaseline)
    );
}
