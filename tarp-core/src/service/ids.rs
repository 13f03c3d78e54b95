//! Job IDs: random (version 4) UUIDs from a keyed ChaCha20 stream.
//!
//! A job ID is the only thing a client needs to fetch a result, so IDs must not be guessable
//! from earlier ones: a plain seeded PRNG would let one observed ID predict the next. The
//! core has no random source of its own, so the adapter hands in a 32-byte key from the OS
//! and the IDs are the ChaCha20 keystream (RFC 8439) under that key.

/// A generator of version-4 UUID strings from a 32-byte key.
#[derive(Clone)]
pub(crate) struct IdGen {
    key: [u32; 8],
    counter: u64,
    block: [u8; 64],
    used: usize,
}

impl IdGen {
    pub(crate) fn new(seed: [u8; 32]) -> IdGen {
        let mut key = [0u32; 8];
        for (k, chunk) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        IdGen {
            key,
            counter: 0,
            block: [0; 64],
            used: 64,
        }
    }

    /// The next UUID, lowercase hex in the 8-4-4-4-12 form, like Python's `str(uuid.uuid4())`.
    pub(crate) fn next_uuid(&mut self) -> String {
        if self.used == 64 {
            // A 64-bit block counter spread over ChaCha's counter word and first nonce word.
            let nonce = [(self.counter >> 32) as u32, 0, 0];
            self.block = chacha20_block(&self.key, self.counter as u32, &nonce);
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.block[self.used..self.used + 16]);
        self.used += 16;
        b[6] = (b[6] & 0x0f) | 0x40; // version 4
        b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
        let mut s = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            const HEX: &[u8; 16] = b"0123456789abcdef";
            s.push(char::from(HEX[usize::from(byte >> 4)]));
            s.push(char::from(HEX[usize::from(byte & 15)]));
        }
        s
    }
}

fn quarter_round(s: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(16);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(12);
    s[a] = s[a].wrapping_add(s[b]);
    s[d] = (s[d] ^ s[a]).rotate_left(8);
    s[c] = s[c].wrapping_add(s[d]);
    s[b] = (s[b] ^ s[c]).rotate_left(7);
}

/// The ChaCha20 block function of RFC 8439 section 2.3.
fn chacha20_block(key: &[u32; 8], counter: u32, nonce: &[u32; 3]) -> [u8; 64] {
    let mut init = [0u32; 16];
    init[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    init[4..12].copy_from_slice(key);
    init[12] = counter;
    init[13..].copy_from_slice(nonce);
    let mut s = init;
    for _ in 0..10 {
        quarter_round(&mut s, 0, 4, 8, 12);
        quarter_round(&mut s, 1, 5, 9, 13);
        quarter_round(&mut s, 2, 6, 10, 14);
        quarter_round(&mut s, 3, 7, 11, 15);
        quarter_round(&mut s, 0, 5, 10, 15);
        quarter_round(&mut s, 1, 6, 11, 12);
        quarter_round(&mut s, 2, 7, 8, 13);
        quarter_round(&mut s, 3, 4, 9, 14);
    }
    let mut out = [0u8; 64];
    for (i, (w, x)) in s.iter().zip(init.iter()).enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.wrapping_add(*x).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chacha20_matches_rfc8439_test_vector() {
        // RFC 8439 section 2.3.2.
        let key: Vec<u8> = (0u8..32).collect();
        let mut k = [0u32; 8];
        for (w, c) in k.iter_mut().zip(key.chunks_exact(4)) {
            *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        let nonce = [0x0900_0000, 0x4a00_0000, 0];
        let block = chacha20_block(&k, 1, &nonce);
        let expected = "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e\
                        d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";
        let hex: String = block.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn uuids_are_version_4_distinct_and_seeded() {
        let mut a = IdGen::new([7; 32]);
        let mut b = IdGen::new([7; 32]);
        let mut c = IdGen::new([8; 32]);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = a.next_uuid();
            assert_eq!(id, b.next_uuid());
            assert_ne!(id, c.next_uuid());
            assert_eq!(id.len(), 36);
            let bytes = id.as_bytes();
            assert_eq!(
                (bytes[8], bytes[13], bytes[18], bytes[23]),
                (b'-', b'-', b'-', b'-')
            );
            assert_eq!(bytes[14], b'4');
            assert!(matches!(bytes[19], b'8' | b'9' | b'a' | b'b'));
            assert!(id
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            assert!(seen.insert(id));
        }
    }
}
