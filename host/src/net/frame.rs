//! Framing: one message per QUIC stream, `kind: u8 | length: u32 LE | payload`.
//!
//! The reader checks the header before reading the payload, so an oversized claim is refused
//! without buffering anything, and the payload is read with `read_to_end(length)`: memory grows
//! only with bytes that actually arrived (bounded by QUIC flow control), never with the claim.

use std::time::Duration;

use quinn::{ReadExactError, ReadToEndError, RecvStream, VarInt};

use super::Kind;

pub const HEADER_LEN: usize = 5;

/// Application error codes used to stop or reset streams; informational for the peer.
pub const STOP_OVERSIZED: VarInt = VarInt::from_u32(1);
pub const STOP_UNKNOWN_KIND: VarInt = VarInt::from_u32(2);
pub const STOP_MALFORMED: VarInt = VarInt::from_u32(3);
pub const RESET_NO_REPLY: VarInt = VarInt::from_u32(4);

/// Why a frame was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    UnknownKind(u8),
    Oversized {
        claimed: u64,
        max: usize,
    },
    /// Truncated, trailing bytes, or too slow.
    Malformed(&'static str),
    /// The stream or connection went away (reset, closed): nothing malformed, nothing counted.
    Aborted,
}

/// `header || payload` in one buffer, so one `write_all` sends it.
pub fn encode(kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER_LEN + payload.len());
    buf.push(kind as u8);
    // Callers check `payload.len() <= max_message`, and max_message fits in u32 (checked at
    // start), so this never saturates in practice; saturating keeps it panic-free regardless.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(payload);
    buf
}

/// Validate a header against the kind table and the size bound.
pub fn check_header(header: [u8; HEADER_LEN], max: usize) -> Result<(Kind, usize), FrameError> {
    let kind = Kind::from_u8(header[0]).ok_or(FrameError::UnknownKind(header[0]))?;
    let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > max {
        return Err(FrameError::Oversized {
            claimed: u64::from(len),
            max,
        });
    }
    Ok((kind, len_usize))
}

/// Read one frame from a stream the peer finishes after it. On a refused header the stream is
/// stopped, so the peer stops sending and we stop receiving.
pub async fn read_frame(
    recv: &mut RecvStream,
    max: usize,
    timeout: Duration,
) -> Result<(Kind, Vec<u8>), FrameError> {
    match tokio::time::timeout(timeout, read_frame_inner(recv, max)).await {
        Ok(result) => {
            let code = match &result {
                Err(FrameError::UnknownKind(_)) => Some(STOP_UNKNOWN_KIND),
                Err(FrameError::Oversized { .. }) => Some(STOP_OVERSIZED),
                Err(FrameError::Malformed(_)) => Some(STOP_MALFORMED),
                _ => None,
            };
            if let Some(code) = code {
                let _ = recv.stop(code);
            }
            result
        }
        Err(_) => {
            let _ = recv.stop(STOP_MALFORMED);
            Err(FrameError::Malformed("stream stalled"))
        }
    }
}

async fn read_frame_inner(
    recv: &mut RecvStream,
    max: usize,
) -> Result<(Kind, Vec<u8>), FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match recv.read_exact(&mut header).await {
        Ok(()) => {}
        Err(ReadExactError::FinishedEarly(_)) => {
            return Err(FrameError::Malformed("truncated header"))
        }
        Err(ReadExactError::ReadError(_)) => return Err(FrameError::Aborted),
    }
    let (kind, len) = check_header(header, max)?;
    match recv.read_to_end(len).await {
        Ok(payload) if payload.len() == len => Ok((kind, payload)),
        Ok(_) => Err(FrameError::Malformed("truncated payload")),
        Err(ReadToEndError::TooLong) => Err(FrameError::Malformed("trailing bytes")),
        Err(ReadToEndError::Read(_)) => Err(FrameError::Aborted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks() {
        let f = encode(Kind::Block, b"abc");
        assert_eq!(f, vec![1, 3, 0, 0, 0, b'a', b'b', b'c']);
        let h: [u8; 5] = [1, 3, 0, 0, 0];
        assert_eq!(check_header(h, 3), Ok((Kind::Block, 3)));
        assert!(matches!(
            check_header(h, 2),
            Err(FrameError::Oversized { claimed: 3, .. })
        ));
        assert_eq!(
            check_header([0, 0, 0, 0, 0], 10),
            Err(FrameError::UnknownKind(0))
        );
        assert_eq!(
            check_header([200, 255, 255, 255, 255], usize::MAX),
            Err(FrameError::UnknownKind(200))
        );
        assert!(check_header([2, 255, 255, 255, 255], 1 << 20).is_err());
    }
}
