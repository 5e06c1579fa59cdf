//! The part of pcapng that captures need: one section with one interface, then enhanced packet
//! blocks, each with a comment (the format:
//! <https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/>).
//!
//! Every block is little-endian (readers learn the byte order from the section header's magic)
//! and a multiple of 32 bits long, its length written at both ends. Timestamps are in
//! microseconds since 1970, the default resolution, so the interface names none.

/// Block type of a section header block.
const SECTION_HEADER: u32 = 0x0A0D_0D0A;
/// Written in the section header in the writer's byte order.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Block type of an interface description block.
const INTERFACE_DESCRIPTION: u32 = 1;
/// Block type of an enhanced packet block.
const ENHANCED_PACKET: u32 = 6;
/// Option codes.
const OPT_COMMENT: u16 = 1;
const IF_NAME: u16 = 2;
const SHB_USER_APPLICATION: u16 = 4;

/// Bytes of a packet a block keeps, at most: Wireshark refuses larger captured lengths for most
/// link types. A longer packet is cut there; its block still says how long it was.
pub(super) const MAX_CAPTURED_BYTES: usize = 262_144;

/// Longest option value: its length is a 16-bit number.
const MAX_OPTION_BYTES: usize = u16::MAX as usize;

/// Appends what opens a file: a section header naming `application`, then the one interface,
/// of link type `link_type`.
pub(super) fn file_header(out: &mut Vec<u8>, link_type: u16, application: &str) {
    block(out, SECTION_HEADER, |out| {
        out.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // major version
        out.extend_from_slice(&0u16.to_le_bytes()); // minor version
        out.extend_from_slice(&(-1i64).to_le_bytes()); // section length: not given
        option(out, SHB_USER_APPLICATION, application.as_bytes());
        end_of_options(out);
    });
    block(out, INTERFACE_DESCRIPTION, |out| {
        out.extend_from_slice(&link_type.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // reserved
        out.extend_from_slice(&(MAX_CAPTURED_BYTES as u32).to_le_bytes()); // snap length
        option(out, IF_NAME, b"bevy_netsync");
        end_of_options(out);
    });
}

/// Appends one enhanced packet block on interface 0: the packet is `parts` end to end (cut at
/// [`MAX_CAPTURED_BYTES`]), stamped `micros` after 1970, with `comment` (cut at 65,535 bytes,
/// on a character boundary; none when empty).
pub(super) fn enhanced_packet(out: &mut Vec<u8>, micros: u64, parts: &[&[u8]], comment: &str) {
    let original: usize = parts.iter().map(|part| part.len()).sum();
    let captured = original.min(MAX_CAPTURED_BYTES);
    block(out, ENHANCED_PACKET, |out| {
        out.extend_from_slice(&0u32.to_le_bytes()); // interface id
        out.extend_from_slice(&((micros >> 32) as u32).to_le_bytes());
        out.extend_from_slice(&(micros as u32).to_le_bytes());
        out.extend_from_slice(&(captured as u32).to_le_bytes());
        out.extend_from_slice(&u32::try_from(original).unwrap_or(u32::MAX).to_le_bytes());
        let mut left = captured;
        for part in parts {
            let take = part.len().min(left);
            out.extend_from_slice(&part[..take]);
            left -= take;
        }
        pad(out);
        if !comment.is_empty() {
            option(out, OPT_COMMENT, cut(comment, MAX_OPTION_BYTES).as_bytes());
            end_of_options(out);
        }
    });
}

/// Appends a block of type `kind` whose body `body` writes; `out` holds whole blocks.
fn block(out: &mut Vec<u8>, kind: u32, body: impl FnOnce(&mut Vec<u8>)) {
    debug_assert!(out.len().is_multiple_of(4), "blocks start on 32 bits");
    let start = out.len();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // the length, written below
    body(out);
    pad(out);
    let length = (out.len() - start + 4) as u32;
    out.extend_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&length.to_le_bytes());
}

/// Appends an option: code, length, the value padded to 32 bits.
fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    pad(out);
}

/// Appends `opt_endofopt`: code 0, length 0.
fn end_of_options(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0; 4]);
}

/// Zeros up to the next multiple of 32 bits.
fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }

    /// Splits `bytes` into blocks, checking that each one's two lengths agree and are whole
    /// 32-bit words.
    fn blocks(bytes: &[u8]) -> Vec<(u32, &[u8])> {
        let mut blocks = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let length = u32_at(bytes, at + 4) as usize;
            assert!(length >= 12 && length.is_multiple_of(4), "length {length}");
            assert_eq!(
                u32_at(bytes, at + length - 4) as usize,
                length,
                "trailing length"
            );
            blocks.push((u32_at(bytes, at), &bytes[at..at + length]));
            at += length;
        }
        assert_eq!(at, bytes.len());
        blocks
    }

    #[test]
    fn a_file_opens_with_a_section_header_and_one_interface() {
        let mut out = Vec::new();
        file_header(&mut out, 147, "test");
        let found = blocks(&out);
        assert_eq!(found.len(), 2);

        let (kind, section) = found[0];
        assert_eq!(kind, 0x0A0D_0D0A);
        assert_eq!(section.len(), 40);
        assert_eq!(u32_at(section, 8), 0x1A2B_3C4D, "byte-order magic");
        assert_eq!(
            (u16_at(section, 12), u16_at(section, 14)),
            (1, 0),
            "version"
        );
        assert_eq!(section[16..24], [0xff; 8], "section length not given");
        assert_eq!(
            (u16_at(section, 24), u16_at(section, 26)),
            (4, 4),
            "shb_userappl"
        );
        assert_eq!(&section[28..32], b"test");
        assert_eq!(section[32..36], [0; 4], "end of options");

        let (kind, interface) = found[1];
        assert_eq!(kind, 1);
        assert_eq!(interface.len(), 40);
        assert_eq!(u16_at(interface, 8), 147, "link type");
        assert_eq!(
            u32_at(interface, 12),
            MAX_CAPTURED_BYTES as u32,
            "snap length"
        );
        assert_eq!(
            (u16_at(interface, 16), u16_at(interface, 18)),
            (2, 12),
            "if_name"
        );
        assert_eq!(&interface[20..32], b"bevy_netsync");
    }

    #[test]
    fn a_packet_and_its_comment_are_padded_to_32_bits() {
        let mut out = Vec::new();
        enhanced_packet(
            &mut out,
            (1 << 32) | 2,
            &[&[1, 2][..], &[3, 4, 5][..]],
            "abc",
        );
        let (kind, packet) = blocks(&out)[0];
        assert_eq!(kind, 6);
        assert_eq!(packet.len(), 52);
        assert_eq!(u32_at(packet, 8), 0, "interface");
        assert_eq!(
            (u32_at(packet, 12), u32_at(packet, 16)),
            (1, 2),
            "timestamp"
        );
        assert_eq!((u32_at(packet, 20), u32_at(packet, 24)), (5, 5), "lengths");
        assert_eq!(packet[28..36], [1, 2, 3, 4, 5, 0, 0, 0]);
        assert_eq!(
            (u16_at(packet, 36), u16_at(packet, 38)),
            (1, 3),
            "opt_comment"
        );
        assert_eq!(&packet[40..44], b"abc\0");
        assert_eq!(packet[44..48], [0; 4], "end of options");

        // A comment of whole words takes no padding; no comment, no options.
        out.clear();
        enhanced_packet(&mut out, 0, &[&[1, 2, 3, 4][..]], "abcd");
        assert_eq!(blocks(&out)[0].1.len(), 28 + 4 + 8 + 4 + 4);
        out.clear();
        enhanced_packet(&mut out, 0, &[&[1][..]], "");
        assert_eq!(blocks(&out)[0].1.len(), 28 + 4 + 4);
    }

    #[test]
    fn long_packets_and_comments_are_cut() {
        let mut out = Vec::new();
        let data = vec![7u8; MAX_CAPTURED_BYTES + 10];
        // Two-byte characters: the cut falls on a boundary, below 65,535.
        let comment = "é".repeat(40_000);
        enhanced_packet(&mut out, 0, &[data.as_slice()], &comment);
        let (_, packet) = blocks(&out)[0];
        assert_eq!(u32_at(packet, 20) as usize, MAX_CAPTURED_BYTES);
        assert_eq!(u32_at(packet, 24) as usize, MAX_CAPTURED_BYTES + 10);
        let option = 28 + MAX_CAPTURED_BYTES;
        assert_eq!(u16_at(packet, option), 1);
        let length = usize::from(u16_at(packet, option + 2));
        assert_eq!(length, 65_534);
        assert!(core::str::from_utf8(&packet[option + 4..option + 4 + length]).is_ok());
    }
}
