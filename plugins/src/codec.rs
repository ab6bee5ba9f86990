//! JAM's binary codec (Gray Paper appendix C) via `jam-codec`, plus the bounded decode every
//! boundary uses.
//!
//! `jam-codec` is Parity's SCALE fork with JAM's variable-length naturals, the encoding the
//! public JAM vectors are written in, so one codec serves the wire, the ABI and conformance.

pub use jam_codec::{Compact, Decode, Encode, Error as CodecError, Input};

use jam_codec::DecodeLimit;

/// Nesting bound for decoding untrusted bytes: deep enough for every type here, shallow enough
/// that crafted input cannot exhaust the stack.
pub const MAX_DEPTH: u32 = 64;

/// Decodes a value from untrusted bytes, rejecting trailing bytes and deep nesting.
pub fn decode_exact<T: Decode>(mut bytes: &[u8]) -> Result<T, CodecError> {
    let value = T::decode_with_depth_limit(MAX_DEPTH, &mut bytes)?;
    if !bytes.is_empty() {
        return Err(CodecError::from("trailing bytes after value"));
    }
    Ok(value)
}

/// Reads JAM's variable-length natural (GP eq. C.6) from the front of `input`.
///
/// The vectors' `.bin` files prefix every sequence with one; conformance readers that walk a
/// file without a full schema use this.
pub fn read_natural(input: &mut &[u8]) -> Result<u64, CodecError> {
    let Compact(n) = Compact::<u64>::decode(input)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn natural_matches_graypaper_examples() {
        // GP C.6: values below 2^7 are one byte; 2^7..2^14 two bytes with prefix 0b10.
        assert_eq!(Compact(0u64).encode(), vec![0]);
        assert_eq!(Compact(127u64).encode(), vec![127]);
        assert_eq!(Compact(128u64).encode(), vec![0x80, 0x80]);
        assert_eq!(Compact(1023u64).encode(), vec![0x83, 0xff]);
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = 5u32.encode();
        bytes.push(0);
        assert!(decode_exact::<u32>(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn natural_roundtrip(n in any::<u64>()) {
            let bytes = Compact(n).encode();
            let mut input = &bytes[..];
            prop_assert_eq!(read_natural(&mut input).ok(), Some(n));
            prop_assert!(input.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_exact::<Vec<Vec<u8>>>(&bytes);
            let _ = decode_exact::<crate::types::Header>(&bytes);
            let _ = decode_exact::<crate::consensus::Event>(&bytes);
        }
    }
}
