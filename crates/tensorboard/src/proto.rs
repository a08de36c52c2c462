//! The few protobuf messages an event file of scalars needs, encoded by hand.
//!
//! From TensorBoard's `tensorboard/compat/proto/event.proto` and
//! `summary.proto` (the same numbers as TensorFlow's):
//!
//! ```text
//! message Event   { double wall_time = 1; int64 step = 2;
//!                   oneof what { string file_version = 3; Summary summary = 5; … } }
//! message Summary { repeated Value value = 1; }
//! message Value   { string tag = 1; oneof value { float simple_value = 2; … } }
//! ```
//!
//! Encoding follows proto3 as protobuf's own serialisers do: `wall_time` and
//! `step` are left out when zero; members of a `oneof` (`file_version`,
//! `summary`, `simple_value`) are always written, even when zero, because
//! their presence is what a reader looks at.

/// Wire type of varints (`int64`).
const VARINT: u8 = 0;
/// Wire type of 8-byte values (`double`).
const I64: u8 = 1;
/// Wire type of length-delimited values (strings, messages).
const LEN: u8 = 2;
/// Wire type of 4-byte values (`float`).
const I32: u8 = 5;

/// The `file_version` every event file starts with.
pub const FILE_VERSION: &str = "brain.Event:2";

/// What an [`Event`] carries besides its time and step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind<'a> {
    /// The first event of a file: `file_version`.
    FileVersion(&'a str),
    /// A summary of scalar values (`simple_value`), one per tag.
    Scalars(&'a [(&'a str, f32)]),
}

/// One `tensorboard.Event` message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event<'a> {
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
    /// The x coordinate TensorBoard plots against by default.
    pub step: i64,
    /// The payload.
    pub kind: EventKind<'a>,
}

impl Event<'_> {
    /// Appends the message's protobuf encoding to `out`.
    ///
    /// ```
    /// use tensorboard::{Event, EventKind};
    /// let mut out = Vec::new();
    /// Event { wall_time: 0.0, step: 0, kind: EventKind::FileVersion("v") }.encode(&mut out);
    /// assert_eq!(out, [0x1a, 0x01, b'v']);
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) {
        if self.wall_time.to_bits() != 0 {
            put_key(out, 1, I64);
            out.extend_from_slice(&self.wall_time.to_le_bytes());
        }
        if self.step != 0 {
            put_key(out, 2, VARINT);
            // int64 is a plain two's-complement varint (10 bytes when negative).
            put_varint(out, self.step as u64);
        }
        match self.kind {
            EventKind::FileVersion(version) => put_bytes(out, 3, version.as_bytes()),
            EventKind::Scalars(values) => {
                let summary_len: usize = values
                    .iter()
                    .map(|(tag, _)| {
                        let len = value_len(tag);
                        1 + varint_len(len as u64) + len
                    })
                    .sum();
                put_key(out, 5, LEN);
                put_varint(out, summary_len as u64);
                for &(tag, value) in values {
                    put_key(out, 1, LEN);
                    put_varint(out, value_len(tag) as u64);
                    put_bytes(out, 1, tag.as_bytes());
                    put_key(out, 2, I32);
                    out.extend_from_slice(&value.to_le_bytes());
                }
            }
        }
    }
}

/// Encoded length of `Value { tag, simple_value }`.
fn value_len(tag: &str) -> usize {
    1 + varint_len(tag.len() as u64) + tag.len() + 1 + 4
}

fn put_key(out: &mut Vec<u8>, field: u8, wire_type: u8) {
    // Field numbers here are all below 16: the key is one byte.
    out.push((field << 3) | wire_type);
}

fn put_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(event: Event<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        event.encode(&mut out);
        out
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // The expected bytes below are what TensorBoard's own protobuf classes
    // (`tensorboard.compat.proto.event_pb2.Event(...).SerializeToString()`,
    // tensorboard 2.21) produce for the same messages.

    #[test]
    fn scalar_event_matches_protobuf() {
        let values = [("cpu/process_percent", 85.2f32)];
        let bytes = encode(Event {
            wall_time: 1_735_812_001.5,
            step: 3,
            kind: EventKind::Scalars(&values),
        });
        assert_eq!(
            hex(&bytes),
            "09000060e898ddd94110032a1c0a1a0a136370752f70726f636573735f70657263656e74156666aa42"
        );
    }

    #[test]
    fn file_version_event_matches_protobuf() {
        let bytes = encode(Event {
            wall_time: 1_735_812_000.0,
            step: 0,
            kind: EventKind::FileVersion(FILE_VERSION),
        });
        assert_eq!(
            hex(&bytes),
            "09000000e898ddd9411a0d627261696e2e4576656e743a32"
        );
    }

    #[test]
    fn negative_step_and_zero_value_match_protobuf() {
        let values = [("x", 0.0f32)];
        let bytes = encode(Event {
            wall_time: 1.0,
            step: -1,
            kind: EventKind::Scalars(&values),
        });
        assert_eq!(
            hex(&bytes),
            "09000000000000f03f10ffffffffffffffffff012a0a0a080a01781500000000"
        );
    }

    #[test]
    fn varint_lengths() {
        for value in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out.len(), varint_len(value), "{value}");
        }
    }

    #[test]
    fn long_tags_get_multi_byte_lengths() {
        let tag = "t".repeat(200);
        let values = [(tag.as_str(), 1.0f32), ("b", 2.0)];
        let bytes = encode(Event {
            wall_time: 0.0,
            step: 0,
            kind: EventKind::Scalars(&values),
        });
        // summary key, 2-byte summary length, value key, 2-byte value length, …
        let value_len = 1 + 2 + 200 + 1 + 4;
        let summary_len = (1 + 2 + value_len) + (1 + 1 + (1 + 1 + 1 + 1 + 4));
        assert_eq!(bytes.len(), 1 + 2 + summary_len);
        assert_eq!(bytes[0], 0x2a);
        assert_eq!(
            usize::from(bytes[1] & 0x7f) | (usize::from(bytes[2]) << 7),
            summary_len
        );
    }
}
