//! Interop: captures written by the [`Recorder`], read back by tshark (the
//! oracle). A synthetic exchange checks the TCP layer (no analysis warnings,
//! good checksums, the conversation's counts, the exact bytes of each side);
//! a real rustls connection, TLS 1.2 and 1.3, checks that tshark decrypts
//! the HTTP inside from the Decryption Secrets Block alone.
//!
//! These tests fail, never skip, when tshark is missing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tlsscope_lab::cert::{CertSpec, KeyType, generate_self_signed};
use tlsscope_lab::record::Recorder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs tshark (or editcap) and returns its stdout; panics with what to do
/// when the program is missing or fails.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): these interop tests need Wireshark's command-line \
             tools; install them with `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark`"
        )
    });
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark prints UTF-8")
}

fn tshark(file: &Path, args: &[&str]) -> String {
    let mut all = vec!["-r", file.to_str().expect("temp paths are UTF-8")];
    all.extend_from_slice(args);
    run("tshark", &all)
}

/// A fresh temporary directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tlsscope-record-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Bytes that differ from position to position, so a reordering would show.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

/// What the synthetic exchange sent each way.
struct Exchange {
    file: PathBuf,
    sent: Vec<u8>,
    received: Vec<u8>,
}

/// A recorded exchange over an in-memory pipe, with the given addresses:
/// the client writes 5000 bytes, the server answers 3000 then 10 bytes, the
/// client shuts down, the server closes.
async fn synthetic(dir: &Path, client: SocketAddr, server: SocketAddr) -> Exchange {
    let r = Recorder::new();
    r.connecting(SystemTime::now());
    tokio::time::sleep(Duration::from_millis(2)).await;
    r.connected(client, server, SystemTime::now());
    let (c, mut s) = tokio::io::duplex(1 << 20);
    let mut c = r.wrap(c);

    let request = pattern(5000, 1);
    c.write_all(&request).await.unwrap();
    let mut got = vec![0; request.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(got, request);

    let mut received = Vec::new();
    let mut buf = vec![0; 1 << 16];
    for (len, seed) in [(3000, 2), (10, 3)] {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let part = pattern(len, seed);
        s.write_all(&part).await.unwrap();
        // One read takes all of it: the pipe holds it whole.
        let n = c.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &part[..]);
        received.extend_from_slice(&part);
    }
    c.shutdown().await.unwrap();
    drop(s);
    assert_eq!(c.read(&mut buf).await.unwrap(), 0);
    r.closed(SystemTime::now());

    let file = dir.join(format!("{}.pcapng", if client.is_ipv4() { "v4" } else { "v6" }));
    r.write_pcapng(&file).unwrap();
    Exchange { file, sent: request, received }
}

/// The frames the synthetic exchange must produce, by side. Client: SYN,
/// ACK; 4 data segments; 2 ACKs of the 3000 bytes (after two full segments,
/// at the end); 1 ACK of the 10 bytes; FIN,ACK and the last ACK. Server:
/// SYN,ACK; 2 ACKs of the 5000 bytes; 3 + 1 data segments; FIN,ACK.
const CLIENT_FRAMES: u64 = 2 + 4 + 2 + 1 + 2;
const SERVER_FRAMES: u64 = 1 + 2 + 3 + 1 + 1;

const ANALYSIS_PROBLEMS: &str =
    r#"tcp.analysis.flags || tcp.checksum.status == "Bad" || ip.checksum.status == "Bad""#;

fn check_synthetic(x: &Exchange, ip_header: u64) {
    // No retransmissions, lost segments, dup ACKs, window problems, bad
    // checksums: tshark has nothing to say.
    let problems = tshark(
        &x.file,
        &["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-Y", ANALYSIS_PROBLEMS],
    );
    assert_eq!(problems, "", "tshark found TCP problems");

    // The filter above can fail: one flipped payload byte is a bad checksum.
    let mut bytes = std::fs::read(&x.file).unwrap();
    let at = bytes.windows(16).position(|w| w == &x.sent[..16]).expect("payload in the file");
    bytes[at] ^= 0xFF;
    let broken = x.file.with_extension("broken.pcapng");
    std::fs::write(&broken, &bytes).unwrap();
    let problems = tshark(
        &broken,
        &["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-Y", ANALYSIS_PROBLEMS],
    );
    assert_eq!(problems.lines().count(), 1, "one corrupted segment: {problems}");

    // One conversation with the expected frame and byte counts.
    let frame_overhead = 14 + ip_header + 20;
    let client_bytes = CLIENT_FRAMES * frame_overhead + 12 + x.sent.len() as u64;
    let server_bytes = SERVER_FRAMES * frame_overhead + 12 + x.received.len() as u64;
    let conv = tshark(&x.file, &["-q", "-z", "conv,tcp"]);
    let rows: Vec<&str> = conv.lines().filter(|l| l.contains("<->")).collect();
    assert_eq!(rows.len(), 1, "{conv}");
    // "A <-> B  frames bytes-unit  frames bytes-unit  frames bytes-unit ...";
    // the "<-" columns are frames B sent to A, i.e. the server's.
    let cols: Vec<&str> = rows[0].split_whitespace().collect();
    let counts = [cols[3], cols[6], cols[9]].map(|c| c.parse::<u64>().unwrap());
    assert_eq!(counts, [SERVER_FRAMES, CLIENT_FRAMES, SERVER_FRAMES + CLIENT_FRAMES], "{conv}");
    // tshark 4.0 prints bytes with units ("5,278 bytes", "8 kB"): check
    // the exact sums on the frame lengths instead.
    let lens = tshark(&x.file, &["-T", "fields", "-e", "tcp.srcport", "-e", "frame.len"]);
    let client_port = rows[0].split_whitespace().next().unwrap().rsplit(':').next().unwrap();
    let (mut from_client, mut from_server) = (0u64, 0u64);
    for line in lens.lines() {
        let (port, len) = line.split_once('\t').unwrap();
        let len: u64 = len.parse().unwrap();
        if port == client_port { from_client += len } else { from_server += len }
    }
    assert_eq!((from_client, from_server), (client_bytes, server_bytes), "{lens}");

    // Follow the stream: each side's bytes, exactly.
    let follow = tshark(&x.file, &["-q", "-z", "follow,tcp,raw,0"]);
    let (mut node0, mut node1) = (Vec::new(), Vec::new());
    let body = follow.split("Node 1:").nth(1).expect("follow output has nodes");
    for line in body.lines().skip(1) {
        if line.starts_with("====") {
            break;
        }
        let (out, hex) = match line.strip_prefix('\t') {
            Some(h) => (&mut node1, h),
            None => (&mut node0, line),
        };
        out.extend(hex_decode(hex.trim()));
    }
    assert_eq!(node0, x.sent, "client bytes differ");
    assert_eq!(node1, x.received, "server bytes differ");

    // Timestamps never go backwards.
    let times = tshark(&x.file, &["-T", "fields", "-e", "frame.time_epoch"]);
    let times: Vec<f64> = times.lines().map(|t| t.parse().unwrap()).collect();
    assert_eq!(times.len() as u64, CLIENT_FRAMES + SERVER_FRAMES);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("tshark prints hex"))
        .collect()
}

#[tokio::test]
async fn synthetic_ipv4_capture_passes_tshark_analysis() {
    let dir = temp_dir("v4");
    let x = synthetic(&dir, "127.0.0.1:40000".parse().unwrap(), "127.0.0.1:8443".parse().unwrap())
        .await;
    check_synthetic(&x, 20);
    // The handshake's options as tshark decodes them.
    let syn = tshark(
        &x.file,
        &[
            "-Y",
            "tcp.flags.syn == 1",
            "-T",
            "fields",
            "-e",
            "tcp.options.mss_val",
            "-e",
            "tcp.options.sack_perm",
            "-e",
            "tcp.options.wscale.shift",
        ],
    );
    let rows: Vec<&str> = syn.lines().collect();
    assert_eq!(rows.len(), 2, "{syn}");
    for row in rows {
        let fields: Vec<&str> = row.split('\t').collect();
        assert_eq!(fields[0], "1460", "{row}");
        assert!(!fields[1].is_empty(), "SACK permitted: {row}");
        assert_eq!(fields[2], "7", "{row}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn synthetic_ipv6_capture_passes_tshark_analysis() {
    let dir = temp_dir("v6");
    let x = synthetic(&dir, "[::1]:40000".parse().unwrap(), "[::1]:8443".parse().unwrap()).await;
    check_synthetic(&x, 40);
    let mss =
        tshark(&x.file, &["-Y", "tcp.flags.syn == 1", "-T", "fields", "-e", "tcp.options.mss_val"]);
    assert_eq!(mss, "1440\n1440\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Forwards rustls's secrets to the recorder as NSS key log lines.
#[derive(Debug)]
struct ToRecorder(Recorder);

impl rustls::KeyLog for ToRecorder {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        self.0.keylog_line(&format!("{label} {} {}", hex(client_random), hex(secret)));
    }
}

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
                          Connection: close\r\n\r\nHello World!";

/// A real TLS connection on loopback, recorded on the client's socket.
async fn tls_exchange(dir: &Path, version: &'static rustls::SupportedProtocolVersion) -> PathBuf {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

    let cert = generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone())),
        )
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert.cert_der.clone())).unwrap();
    let mut client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed before sending its request");
            request.extend_from_slice(&buf[..n]);
        }
        tls.write_all(RESPONSE).await.unwrap();
        tls.shutdown().await.unwrap();
        request
    });

    let recorder = Recorder::new();
    client_config.key_log = Arc::new(ToRecorder(recorder.clone()));
    recorder.connecting(SystemTime::now());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    recorder.connected(tcp.local_addr().unwrap(), tcp.peer_addr().unwrap(), SystemTime::now());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, recorder.wrap(tcp)).await.unwrap();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.unwrap();
    assert_eq!(response, RESPONSE);
    tls.shutdown().await.unwrap();
    drop(tls);
    recorder.closed(SystemTime::now());
    let request = server.await.unwrap();
    assert!(request.starts_with(b"GET / HTTP/1.1\r\n"));

    let file = dir.join("tls.pcapng");
    recorder.write_pcapng(&file).unwrap();
    file
}

/// tshark, given no key log, decrypts the HTTP inside: the DSB works and
/// the TLS records are intact.
fn check_tls(file: &Path, version: &str) {
    let problems = tshark(
        file,
        &["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-Y", ANALYSIS_PROBLEMS],
    );
    assert_eq!(problems, "", "tshark found TCP problems");

    let http = tshark(
        file,
        &[
            "-Y",
            "http",
            "-T",
            "fields",
            "-e",
            "http.request.method",
            "-e",
            "http.request.uri",
            "-e",
            "http.response.code",
        ],
    );
    assert_eq!(http, "GET\t/\t\n\t\t200\n", "decrypted request and response");
    let body = tshark(file, &["-Y", "http.response", "-T", "fields", "-e", "http.file_data"]);
    let body = body.trim();
    // tshark 4.0 prints file_data as text; some versions print hex.
    assert!(
        body == "Hello World!" || hex_decode(body) == b"Hello World!",
        "decrypted body: {body:?}"
    );
    let versions = tshark(
        file,
        &[
            "-Y",
            "tls.handshake.type == 2",
            "-T",
            "fields",
            "-e",
            "tls.handshake.version",
            "-e",
            "tls.handshake.extensions.supported_version",
        ],
    );
    assert!(versions.contains(version), "ServerHello version {version}: {versions}");

    // Without the DSB tshark sees no HTTP: the secrets came from the file.
    let stripped = file.with_extension("nosecrets.pcapng");
    run("editcap", &["--discard-all-secrets", file.to_str().unwrap(), stripped.to_str().unwrap()]);
    let http = tshark(&stripped, &["-Y", "http"]);
    assert_eq!(http, "", "HTTP visible without secrets?");

    // Wireshark's own tool writes the same DSB, byte for byte, for these
    // secrets, and the same packet blocks.
    let ours = std::fs::read(file).unwrap();
    let dsb = blocks(&ours).into_iter().find(|(t, _)| *t == DSB).expect("a DSB").1;
    let secrets_len = u32::from_le_bytes(dsb[12..16].try_into().unwrap()) as usize;
    let keys = file.with_extension("keys.txt");
    std::fs::write(&keys, &dsb[16..16 + secrets_len]).unwrap();
    let injected = file.with_extension("editcap.pcapng");
    run(
        "editcap",
        &[
            "--inject-secrets",
            &format!("tls,{}", keys.display()),
            stripped.to_str().unwrap(),
            injected.to_str().unwrap(),
        ],
    );
    let theirs = std::fs::read(&injected).unwrap();
    let of = |bytes, kind| -> Vec<Vec<u8>> {
        blocks(bytes).into_iter().filter(|(t, _)| *t == kind).map(|(_, b)| b.to_vec()).collect()
    };
    assert_eq!(of(&theirs, DSB), [dsb.to_vec()], "editcap's DSB differs from ours");
    assert_eq!(of(&theirs, EPB), of(&ours, EPB));
}

const DSB: u32 = 0x0A;
const EPB: u32 = 0x06;

/// `(block type, whole block)` of a little-endian pcapng file.
fn blocks(file: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    let mut rest = file;
    while rest.len() >= 8 {
        let kind = u32::from_le_bytes(rest[0..4].try_into().unwrap());
        let len = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
        let (block, tail) = rest.split_at(len);
        out.push((kind, block));
        rest = tail;
    }
    assert!(rest.is_empty(), "trailing bytes after the last block");
    out
}

#[tokio::test]
async fn tls12_recording_decrypts_in_tshark_from_the_dsb_alone() {
    let dir = temp_dir("tls12");
    let file = tls_exchange(&dir, &rustls::version::TLS12).await;
    check_tls(&file, "0x0303");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn tls13_recording_decrypts_in_tshark_from_the_dsb_alone() {
    let dir = temp_dir("tls13");
    let file = tls_exchange(&dir, &rustls::version::TLS13).await;
    check_tls(&file, "0x0304");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn recording_past_its_limit_says_what_is_missing() {
    let dir = temp_dir("limit");
    let r = Recorder::with_limit(1000);
    r.connecting(SystemTime::now());
    r.connected(
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
        SystemTime::now(),
    );
    let (c, mut s) = tokio::io::duplex(1 << 16);
    let mut c = r.wrap(c);
    c.write_all(&pattern(3000, 0)).await.unwrap();
    let mut buf = vec![0; 3000];
    s.read_exact(&mut buf).await.unwrap();
    s.write_all(b"0123456789").await.unwrap();
    drop(s);
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.unwrap();
    c.shutdown().await.unwrap();
    r.closed(SystemTime::now());
    let file = dir.join("limit.pcapng");
    r.write_pcapng(&file).unwrap();

    // The capture keeps the first 1000 bytes and says the rest is missing.
    let follow = tshark(&file, &["-q", "-z", "follow,tcp,raw,0"]);
    let data: String = follow
        .lines()
        .skip_while(|l| !l.starts_with("Node 1:"))
        .skip(1)
        .take_while(|l| !l.starts_with("===="))
        .collect();
    assert_eq!(hex_decode(&data), pattern(1000, 0));
    let lost =
        tshark(&file, &["-Y", "tcp.analysis.lost_segment", "-T", "fields", "-e", "tcp.srcport"]);
    // The server closed first (the client read end-of-file), then the client.
    assert_eq!(lost, "80\n40000\n", "both FINs follow unrecorded bytes");
    let comments = tshark(&file, &["-Y", "frame.comment", "-T", "fields", "-e", "frame.comment"]);
    assert!(
        comments.contains("2000 bytes from the client and 10 bytes from the server"),
        "{comments}"
    );
    let info = run("capinfos", &[file.to_str().unwrap()]);
    assert!(info.contains("2000 bytes sent and 10 bytes received after it are missing"), "{info}");
    std::fs::remove_dir_all(&dir).unwrap();
}
