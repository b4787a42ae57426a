//! A Decryption Secrets Block written by Wireshark's own editcap is read
//! back byte for byte.

use std::process::Command;

use tlsscope_capture::read::{CaptureReader, Event, SECRETS_TLS_KEY_LOG};

#[test]
fn reads_secrets_injected_by_editcap() {
    let ok = Command::new("editcap").arg("-h").output().is_ok_and(|o| o.status.success());
    assert!(ok, "editcap is needed for this test: install it (apt-get install tshark)");
    let dir = std::env::temp_dir().join(format!("tlsscope-dsb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/captures/tcp/http-lo-ethernet.pcap");
    let keys = dir.join("keys.txt");
    let text = "CLIENT_RANDOM 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
                000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f\n\
                SERVER_TRAFFIC_SECRET_0 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100 \
                0f0e0d0c0b0a09080706050403020100\n";
    std::fs::write(&keys, text).unwrap();
    let out = dir.join("with-secrets.pcapng");
    let st = Command::new("editcap")
        .arg("--inject-secrets")
        .arg(format!("tls,{}", keys.display()))
        .arg(&src)
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());

    let mut r = CaptureReader::open(&out).unwrap();
    let mut secrets = Vec::new();
    let mut frames = 0;
    let mut first_frame_after_secrets = None;
    while let Some(ev) = r.next() {
        match ev {
            Event::Secrets { kind, data, .. } => {
                assert_eq!(kind, SECRETS_TLS_KEY_LOG);
                secrets.extend_from_slice(data);
            }
            Event::Frame(_) => {
                frames += 1;
                if !secrets.is_empty() {
                    first_frame_after_secrets.get_or_insert(frames);
                }
            }
            Event::Problem(d) => panic!("{d}"),
            Event::Comment { .. } => {}
        }
    }
    assert_eq!(String::from_utf8(secrets).unwrap(), text);
    assert_eq!(first_frame_after_secrets, Some(1), "the secrets come before the first frame");
    assert!(frames > 10);
    std::fs::remove_dir_all(&dir).ok();
}
