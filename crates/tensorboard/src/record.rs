//! TFRecord framing: how an event file strings records together.
//!
//! ```text
//! u64 length (little-endian) | u32 masked CRC-32C of those 8 bytes
//! data (length bytes)        | u32 masked CRC-32C of the data
//! ```

use crate::crc32c::masked_crc32c;

/// Bytes a record adds around its data.
pub const FRAMING_BYTES: usize = 8 + 4 + 4;

/// Appends `data` framed as one TFRecord to `out`.
///
/// ```
/// let mut out = Vec::new();
/// tensorboard::frame_record(b"abc", &mut out);
/// assert_eq!(out.len(), 3 + tensorboard::FRAMING_BYTES);
/// assert_eq!(&out[..8], &3u64.to_le_bytes());
/// ```
pub fn frame_record(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.reserve(data.len() + FRAMING_BYTES);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Event, EventKind};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The bytes TensorBoard's own `RecordWriter` writes for this event
    /// (tensorboard 2.21, `tensorboard.summary.writer.record_writer`).
    #[test]
    fn framed_scalar_event_matches_tensorboards_writer() {
        let values = [("cpu/process_percent", 85.2f32)];
        let mut data = Vec::new();
        Event {
            wall_time: 1_735_812_001.5,
            step: 3,
            kind: EventKind::Scalars(&values),
        }
        .encode(&mut data);
        let mut out = Vec::new();
        frame_record(&data, &mut out);
        assert_eq!(
            hex(&out),
            "290000000000000037ff5f00\
             09000060e898ddd94110032a1c0a1a0a136370752f70726f636573735f70657263656e74156666aa42\
             a8f42993"
        );
    }

    #[test]
    fn framed_file_version_matches_tensorboards_writer() {
        let mut data = Vec::new();
        Event {
            wall_time: 1_735_812_000.0,
            step: 0,
            kind: EventKind::FileVersion("brain.Event:2"),
        }
        .encode(&mut data);
        let mut out = Vec::new();
        frame_record(&data, &mut out);
        assert_eq!(
            hex(&out),
            "1800000000000000a37f4b22\
             09000000e898ddd9411a0d627261696e2e4576656e743a32\
             abefc5f0"
        );
    }
}
