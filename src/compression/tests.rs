use super::*;
use proptest::prelude::*;

/// Structured text with repeating field names, as the benchmark's events.
fn events(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        v.extend_from_slice(
            format!(
                r#"{{"event":"order_placed","id":{i},"user":"user-{}","amount":{}.{:02},"currency":"EUR"}}"#,
                i % 97,
                i * 7 % 1000,
                i % 100
            )
            .as_bytes(),
        );
    }
    v
}

fn codecs() -> Vec<Compression> {
    let available = Compression::available();
    if available.len() == 1 {
        eprintln!("compression tests: no codec feature compiled in; only `none` is checked");
    }
    available
}

#[test]
fn every_available_codec_round_trips_and_shrinks_text() {
    for codec in codecs() {
        for input in [Vec::new(), b"x".to_vec(), events(1), events(500)] {
            let mut packed = b"head".to_vec();
            compress(codec, Levels::default(), &input, &mut packed).unwrap();
            assert_eq!(&packed[..4], b"head", "{codec}: appended");
            let mut back = b"front".to_vec();
            decompress(codec, &packed[4..], input.len(), &mut back).unwrap();
            assert_eq!(&back[5..], &input[..], "{codec}");
            if codec != Compression::None && input.len() > 10_000 {
                assert!(
                    packed.len() * 3 < input.len(),
                    "{codec}: {} of {}",
                    packed.len(),
                    input.len()
                );
            }
        }
    }
}

#[test]
fn a_bound_one_byte_short_is_too_large_and_leaves_the_output_alone() {
    let input = events(200);
    for codec in codecs() {
        let mut packed = Vec::new();
        compress(codec, Levels::default(), &input, &mut packed).unwrap();
        let mut out = b"kept".to_vec();
        assert_eq!(
            decompress(codec, &packed, input.len() - 1, &mut out),
            Err(CodecError::TooLarge {
                max: input.len() - 1
            }),
            "{codec}"
        );
        assert_eq!(out, b"kept", "{codec}");
    }
}

#[test]
fn lengths_claiming_gigabytes_are_refused_before_any_allocation() {
    if Compression::Lz4.is_available() {
        let mut claim = u32::MAX.to_le_bytes().to_vec();
        claim.extend_from_slice(&[0x10, b'a']);
        let mut out = Vec::new();
        assert_eq!(
            decompress(Compression::Lz4, &claim, 1 << 20, &mut out),
            Err(CodecError::TooLarge { max: 1 << 20 })
        );
        assert_eq!(out.capacity(), 0);
    }
    if Compression::Snappy.is_available() {
        // Preamble: a varint of 2^32 - 1.
        let claim = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        let mut out = Vec::new();
        assert!(decompress(Compression::Snappy, &claim, 1 << 20, &mut out).is_err());
        assert_eq!(out.capacity(), 0);
    }
    if Compression::Zstd.is_available() {
        // A real frame of 10 MB of zeros: small, and over the bound.
        let zeros = vec![0u8; 10 << 20];
        let mut packed = Vec::new();
        compress(Compression::Zstd, Levels::default(), &zeros, &mut packed).unwrap();
        assert!(packed.len() < 4096);
        let mut out = Vec::new();
        assert_eq!(
            decompress(Compression::Zstd, &packed, 1 << 20, &mut out),
            Err(CodecError::TooLarge { max: 1 << 20 })
        );
        assert!(out.capacity() <= 1 << 20);
    }
    if Compression::Gzip.is_available() {
        let zeros = vec![0u8; 10 << 20];
        let mut packed = Vec::new();
        compress(Compression::Gzip, Levels::default(), &zeros, &mut packed).unwrap();
        let mut out = Vec::new();
        assert_eq!(
            decompress(Compression::Gzip, &packed, 1 << 20, &mut out),
            Err(CodecError::TooLarge { max: 1 << 20 })
        );
        assert!(out.capacity() <= 4 << 20, "{}", out.capacity());
    }
}

#[test]
fn unavailable_codecs_say_which_feature_they_need() {
    for codec in Compression::ALL {
        let mut out = Vec::new();
        if codec.is_available() {
            assert!(codec.check_available().is_ok());
            continue;
        }
        let e = decompress(codec, b"abc", 10, &mut out).unwrap_err();
        assert_eq!(e, CodecError::Unavailable(codec));
        assert!(e.to_string().contains(&format!("`{codec}` feature")), "{e}");
        assert!(codec.check_available().is_err());
    }
}

#[test]
fn names_parse_back_and_ids_are_kafkas() {
    for (codec, id) in Compression::ALL.into_iter().zip(0..) {
        assert_eq!(codec.id(), id);
        assert_eq!(Compression::from_id(id), Some(codec));
        assert_eq!(codec.name().parse::<Compression>().unwrap(), codec);
        assert_eq!(
            codec.name().to_uppercase().parse::<Compression>().unwrap(),
            codec
        );
    }
    assert_eq!(Compression::from_id(5), None);
    assert!("brotli".parse::<Compression>().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_round_trip_and_garbage_never_panics(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        noise in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        for codec in Compression::available() {
            let mut packed = Vec::new();
            compress(codec, Levels::default(), &data, &mut packed).unwrap();
            let mut back = Vec::new();
            decompress(codec, &packed, data.len(), &mut back).unwrap();
            prop_assert_eq!(&back, &data);
            // Garbage, and the packed bytes with noise over their front.
            let mut damaged = packed.clone();
            for (d, n) in damaged.iter_mut().zip(&noise) {
                *d ^= n;
            }
            for bytes in [&noise[..], &damaged[..]] {
                let mut out = Vec::new();
                if decompress(codec, bytes, 4096, &mut out).is_ok() {
                    prop_assert!(out.len() <= 4096);
                }
            }
        }
    }
}

#[cfg(feature = "zstd")]
#[test]
fn a_zstd_frame_without_its_size_is_decoded_as_a_stream_up_to_the_bound() {
    let input = events(300);
    let packed = ::zstd::stream::encode_all(&input[..], 3).unwrap();
    assert!(
        matches!(::zstd::zstd_safe::get_frame_content_size(&packed), Ok(None)),
        "a streamed frame"
    );
    let mut out = Vec::new();
    decompress(Compression::Zstd, &packed, input.len(), &mut out).unwrap();
    assert_eq!(out, input);
    let mut out = b"kept".to_vec();
    assert_eq!(
        decompress(Compression::Zstd, &packed, input.len() - 1, &mut out),
        Err(CodecError::TooLarge {
            max: input.len() - 1
        })
    );
    assert_eq!(out, b"kept");
}
