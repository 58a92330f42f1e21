use std::io::{Read, Write};

use rand::{Rng as _, RngCore as _, SeedableRng as _};

use super::*;

fn pass(text: &str) -> SecretString {
    SecretString::new(text.to_string())
}

fn cheap_backup(data: &[u8], passphrase: &str) -> Vec<u8> {
    let mut writer = BackupWriter::with_params(Vec::new(), &pass(passphrase), KdfParams::insecure_for_tests()).unwrap();
    // Uneven writes, to cross chunk boundaries in odd places.
    for piece in data.chunks(10_007) {
        writer.write_all(piece).unwrap();
    }
    writer.finish().unwrap()
}

fn restore(archive: &[u8], passphrase: &str) -> Result<Vec<u8>, CustodyError> {
    let mut reader = BackupReader::new(archive, &pass(passphrase))?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).map_err(CustodyError::from_io_error)?;
    Ok(out)
}

fn random_data(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut data);
    data
}

#[test]
fn round_trip_five_megabytes() {
    let data = random_data(5_000_000, 1);
    let archive = cheap_backup(&data, "correct horse");
    assert!(archive.starts_with(b"WMBACKUP1\n"));
    let chunks = data.len().div_ceil(CHUNK_LEN);
    assert_eq!(archive.len(), HEADER_LEN + data.len() + chunks * (4 + TAG_LEN));
    assert!(restore(&archive, "correct horse").unwrap() == data);
}

#[test]
fn round_trip_sizes_around_chunk_boundaries() {
    for len in [0, 1, CHUNK_LEN - 1, CHUNK_LEN, CHUNK_LEN + 1, 2 * CHUNK_LEN, 3 * CHUNK_LEN + 5] {
        let data = random_data(len, len as u64);
        let archive = cheap_backup(&data, "pw");
        assert_eq!(restore(&archive, "pw").unwrap(), data, "len {len}");
    }
}

#[test]
fn default_params_round_trip() {
    let mut writer = BackupWriter::new(Vec::new(), &pass("strong")).unwrap();
    writer.write_all(b"hello").unwrap();
    let archive = writer.finish().unwrap();
    assert_eq!(&archive[11..15], &(64 * 1024u32).to_be_bytes());
    assert_eq!(restore(&archive, "strong").unwrap(), b"hello");
}

#[test]
fn wrong_passphrase() {
    let archive = cheap_backup(b"secret data", "right");
    assert!(matches!(restore(&archive, "wrong"), Err(CustodyError::WrongPassphrase)));
    assert!(matches!(BackupReader::new(&archive[..], &pass("wrong")), Err(CustodyError::WrongPassphrase)));
}

#[test]
fn empty_passphrase_is_refused() {
    assert!(matches!(BackupWriter::new(Vec::new(), &pass("")), Err(CustodyError::InvalidInput(_))));
}

#[test]
fn every_truncation_is_reported_as_truncated() {
    let data = random_data(2 * CHUNK_LEN + 300, 2);
    let archive = cheap_backup(&data, "pw");
    let frame = 4 + CHUNK_LEN + TAG_LEN;
    let mut cuts: Vec<usize> = (0..HEADER_LEN + 40).collect();
    for boundary in [HEADER_LEN + frame, HEADER_LEN + 2 * frame] {
        cuts.extend(boundary - 20..boundary + 20);
    }
    cuts.extend(archive.len() - 40..archive.len());
    for cut in cuts {
        let result = restore(&archive[..cut], "pw");
        assert!(matches!(&result, Err(CustodyError::BadFormat(what)) if what == "truncated"), "cut {cut}: {result:?}");
    }
}

#[test]
fn flipped_byte_in_the_body_is_tampered() {
    let data = random_data(3 * CHUNK_LEN, 3);
    let archive = cheap_backup(&data, "pw");
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    for _ in 0..200 {
        let mut bad = archive.clone();
        let index = rng.gen_range(HEADER_LEN..bad.len());
        bad[index] ^= 1 << rng.gen_range(0..8);
        let result = restore(&bad, "pw");
        let in_frame_header = (index - HEADER_LEN) % (4 + CHUNK_LEN + TAG_LEN) < 4;
        if in_frame_header {
            assert!(matches!(result, Err(CustodyError::Tampered { .. } | CustodyError::BadFormat(_))), "{index}");
        } else {
            assert!(matches!(result, Err(CustodyError::Tampered { .. })), "{index}: {result:?}");
        }
    }
}

#[test]
fn every_flipped_header_or_frame_byte_fails_without_panic() {
    let data = random_data(CHUNK_LEN + 10, 5);
    let archive = cheap_backup(&data, "pw");
    let second_frame = HEADER_LEN + 4 + CHUNK_LEN + TAG_LEN;
    let positions = (0..HEADER_LEN + 4).chain(second_frame..second_frame + 4).chain(archive.len() - 16..archive.len());
    for index in positions {
        let mut bad = archive.clone();
        bad[index] ^= 0x01;
        let result = restore(&bad, "pw");
        assert!(
            matches!(
                result,
                Err(CustodyError::Tampered { .. } | CustodyError::BadFormat(_) | CustodyError::WrongPassphrase)
            ),
            "byte {index}: {result:?}"
        );
        // Outside the key derivation input, a flip is never mistaken for a wrong passphrase.
        if index >= MAGIC.len() + 1 + 12 + SALT_LEN && index < HEADER_LEN - CHECK_LEN {
            assert!(matches!(result, Err(CustodyError::Tampered { .. })), "nonce prefix byte {index}: {result:?}");
        }
    }
}

#[test]
fn swapped_or_dropped_chunks_fail() {
    let data = random_data(3 * CHUNK_LEN + 7, 6);
    let archive = cheap_backup(&data, "pw");
    let frame = 4 + CHUNK_LEN + TAG_LEN;
    let (head, body) = archive.split_at(HEADER_LEN);
    let mut swapped = head.to_vec();
    swapped.extend_from_slice(&body[frame..2 * frame]);
    swapped.extend_from_slice(&body[..frame]);
    swapped.extend_from_slice(&body[2 * frame..]);
    assert!(matches!(restore(&swapped, "pw"), Err(CustodyError::Tampered { .. })));
    let mut dropped = head.to_vec();
    dropped.extend_from_slice(&body[frame..]);
    assert!(matches!(restore(&dropped, "pw"), Err(CustodyError::Tampered { .. })));
}

#[test]
fn trailing_data_is_refused() {
    let mut archive = cheap_backup(b"abc", "pw");
    archive.push(0);
    assert!(matches!(restore(&archive, "pw"), Err(CustodyError::BadFormat(_))));
}

#[test]
fn absurd_kdf_parameters_are_refused_before_any_work() {
    let mut archive = cheap_backup(b"abc", "pw");
    archive[MAGIC.len() + 1] = 0xff; // m_cost high byte
    let result = restore(&archive, "pw");
    assert!(matches!(&result, Err(CustodyError::BadFormat(what)) if what.contains("out of range")), "{result:?}");
}

#[test]
fn not_a_backup() {
    assert!(matches!(
        restore(
            b"PK\x03\x04 some zip file, long enough to fill a header ................................................",
            "pw"
        ),
        Err(CustodyError::BadFormat(_))
    ));
    assert!(matches!(restore(b"", "pw"), Err(CustodyError::BadFormat(what)) if what == "truncated"));
}

#[test]
fn unfinished_writer_reads_as_truncated() {
    let mut partial = Vec::new();
    let mut writer = BackupWriter::with_params(&mut partial, &pass("pw"), KdfParams::insecure_for_tests()).unwrap();
    writer.write_all(&random_data(3 * CHUNK_LEN, 7)).unwrap();
    writer.flush().unwrap();
    drop(writer); // no finish()
    assert!(partial.len() > HEADER_LEN + 2 * CHUNK_LEN);
    assert!(matches!(restore(&partial, "pw"), Err(CustodyError::BadFormat(what)) if what == "truncated"));
}
