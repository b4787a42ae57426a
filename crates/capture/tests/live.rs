//! Live capture on the loopback interface with real traffic: each packet
//! once, kernel timestamps, the kernel prefilter, cooked `any` frames,
//! snapshot lengths and drop counts. Needs CAP_NET_RAW (root, as CI runs);
//! without it these tests fail and say so. Loopback and port 0 only.

#![cfg(target_os = "linux")]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tlsscope_capture::filter::Filter;
use tlsscope_capture::headers::Headers;
use tlsscope_capture::live::{LiveCapture, OpenError, Options, Recv};
use tlsscope_scope::frame::LinkType;

/// A frame copied out of the capture.
#[derive(Debug, Clone)]
struct Got {
    data: Vec<u8>,
    orig_len: u32,
    ts: i64,
    link: LinkType,
    headers: Headers,
    direction: Option<tlsscope_capture::pcapng::Direction>,
}

fn open(iface: &str, opts: &Options) -> LiveCapture {
    match LiveCapture::open(iface, opts) {
        Ok(c) => c,
        Err(e @ OpenError::Permission { .. }) => panic!(
            "{e}: these tests capture on lo and need CAP_NET_RAW: run them as root \
             (./scripts/test does in CI) or give the test binary cap_net_raw,cap_net_admin"
        ),
        Err(e) => panic!("{e}"),
    }
}

/// One TCP connection to `listener`: `payload` up, "bye" down, both close.
fn exchange(listener: &TcpListener, payload: &[u8]) {
    let mut c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    c.write_all(payload).unwrap();
    let mut buf = vec![0; payload.len()];
    s.read_exact(&mut buf).unwrap();
    s.write_all(b"bye").unwrap();
    let mut b = [0; 3];
    c.read_exact(&mut b).unwrap();
    drop(c);
    drop(s);
}

/// Reads frames until `done` says so or 10 s pass.
fn collect(cap: &mut LiveCapture, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && !done(&out) {
        if let Recv::Packet(p) = cap.recv(Duration::from_millis(100)).unwrap() {
            out.push(Got {
                data: p.frame.data.to_vec(),
                orig_len: p.frame.orig_len,
                ts: p.frame.ts.0,
                link: p.frame.link,
                headers: Headers::of(&p.frame),
                direction: p.direction,
            });
        }
    }
    out
}

fn fins(frames: &[Got], port: u16) -> usize {
    frames
        .iter()
        .filter(|g| g.headers.tcp_flags.is_some_and(|f| f.fin()) && has_port(g, port))
        .count()
}

fn has_port(g: &Got, port: u16) -> bool {
    g.headers.ports.is_some_and(|(a, b)| a == port || b == port)
}

fn syns(frames: &[Got], port: u16) -> usize {
    frames
        .iter()
        .filter(|g| g.headers.tcp_flags.is_some_and(|f| f.syn() && !f.ack()) && has_port(g, port))
        .count()
}

fn assert_no_duplicates(frames: &[Got]) {
    let mut seen = HashSet::new();
    for g in frames {
        // The cooked header differs between the two copies (packet type),
        // so compare from the IP header on.
        let ip = if g.link == LinkType::LINUX_SLL2 { &g.data[20..] } else { &g.data[14..] };
        assert!(seen.insert(ip.to_vec()), "packet seen twice: {:?}", g.headers);
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

#[test]
fn loopback_packets_are_seen_once_with_kernel_timestamps() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = Options { filter: Some(Filter::tcp_port(port)), ..Options::default() };
    let mut cap = open("lo", &opts);
    assert_eq!(cap.link_type(), LinkType::ETHERNET);
    assert_eq!(cap.kernel_filter(), (true, true));
    let before = unix_now();
    exchange(&other, b"not for us");
    exchange(&listener, b"hello");
    exchange(&other, b"not for us either");
    let frames = collect(&mut cap, |f| fins(f, port) >= 2);
    let after = unix_now();

    assert_eq!(syns(&frames, port), 1, "{frames:#?}");
    assert_eq!(fins(&frames, port), 2);
    assert!(frames.iter().all(|g| has_port(g, port)), "the filter let another port through");
    assert_no_duplicates(&frames);
    // A TCP connection that exchanged data: SYN, SYN-ACK, ACK, data, ACK,
    // data, ACK, FIN, (FIN-)ACK... at least 8 packets.
    assert!(frames.len() >= 8, "{}", frames.len());
    for (i, g) in frames.iter().enumerate() {
        assert!(
            g.ts >= before - 1_000_000 && g.ts <= after,
            "timestamp {} not in [{before}, {after}]",
            g.ts
        );
        assert_eq!(g.direction, None, "loopback packets have no direction");
        assert_eq!(g.orig_len as usize, g.data.len());
        if i > 0 {
            assert!(g.ts >= frames[i - 1].ts, "timestamps go backwards");
        }
    }
    let payload: Vec<u8> = frames
        .iter()
        .filter(|g| g.headers.payload_len.unwrap_or(0) > 0)
        .flat_map(|g| g.data[g.data.len() - g.headers.payload_len.unwrap() as usize..].to_vec())
        .collect();
    assert_eq!(payload, b"hellobye");

    let stats = cap.stats();
    // The kernel dropped the other port and the outgoing copies: user space
    // saw neither.
    assert_eq!((stats.filtered, stats.loopback_copies, stats.dropped), (0, 0, 0), "{stats:?}");
    assert_eq!(stats.captured, frames.len() as u64);
    assert!(stats.received >= stats.captured, "{stats:?}");
}

#[test]
fn user_space_filter_sees_each_packet_once_too() {
    // Not a single port test, so the kernel only drops loopback copies
    // and user space does the rest.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let f =
        Filter::parse(&format!("(tcp and dst port {port}) or (tcp and src port {port})")).unwrap();
    assert_eq!(f.as_port_match(), None);
    let mut cap = open("lo", &Options { filter: Some(f), ..Options::default() });
    assert_eq!(cap.kernel_filter(), (true, false));
    exchange(&other, b"x");
    exchange(&listener, b"hello");
    let frames = collect(&mut cap, |f| fins(f, port) >= 2);
    assert_eq!(syns(&frames, port), 1);
    assert!(frames.iter().all(|g| has_port(g, port)));
    assert_no_duplicates(&frames);
    let stats = cap.stats();
    assert!(stats.filtered >= 8, "the other connection was filtered in user space: {stats:?}");
    assert_eq!(stats.loopback_copies, 0, "{stats:?}");
}

#[test]
fn any_gives_cooked_frames_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cap =
        open("any", &Options { filter: Some(Filter::tcp_port(port)), ..Options::default() });
    assert_eq!(cap.link_type(), LinkType::LINUX_SLL2);
    assert_eq!(cap.ifindex(), 0);
    exchange(&listener, b"hello any");
    let frames = collect(&mut cap, |f| fins(f, port) >= 2);
    assert_eq!(syns(&frames, port), 1, "{frames:#?}");
    assert_no_duplicates(&frames);
    let lo: u32 =
        std::fs::read_to_string("/sys/class/net/lo/ifindex").unwrap().trim().parse().unwrap();
    for g in &frames {
        // SLL2: protocol IPv4, reserved, interface index of lo,
        // ARPHRD_LOOPBACK, PACKET_HOST (the incoming copy), address length 6.
        assert_eq!(&g.data[..4], &[0x08, 0x00, 0, 0]);
        assert_eq!(u32::from_be_bytes(g.data[4..8].try_into().unwrap()), lo);
        assert_eq!(u16::from_be_bytes([g.data[8], g.data[9]]), 772);
        assert_eq!((g.data[10], g.data[11]), (0, 6));
        assert_eq!(g.orig_len as usize, g.data.len());
    }
}

#[test]
fn snapshot_length_cuts_packets_and_keeps_their_length() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = Options { snaplen: 80, filter: Some(Filter::tcp_port(port)), ..Options::default() };
    let mut cap = open("lo", &opts);
    exchange(&listener, &[7u8; 3000]);
    let frames = collect(&mut cap, |f| fins(f, port) >= 2);
    let big: Vec<&Got> = frames.iter().filter(|g| g.orig_len > 1000).collect();
    assert!(!big.is_empty(), "no large segment: {frames:#?}");
    for g in &frames {
        assert!(g.data.len() <= 80);
    }
    let total: u32 = big.iter().map(|g| g.headers.payload_len.unwrap()).sum();
    assert_eq!(total, 3000, "payload lengths come from the IP header, not the cut frame");
    for g in big {
        assert_eq!(g.data.len(), 80);
    }
}

#[test]
fn kernel_drops_are_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The smallest buffer the kernel allows; nobody reads while we send.
    let opts =
        Options { buffer_size: 1, filter: Some(Filter::tcp_port(port)), ..Options::default() };
    let mut cap = open("lo", &opts);
    let mut c = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    c.set_nodelay(true).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 1 << 16];
        let mut n = 0;
        while n < 200 * 1000 {
            n += s.read(&mut buf).unwrap();
        }
    });
    for _ in 0..200 {
        c.write_all(&[1u8; 1000]).unwrap();
    }
    reader.join().unwrap();
    let stats = cap.stats();
    assert!(stats.dropped > 0, "{stats:?}");
    assert!(stats.received >= stats.dropped);
}

#[test]
fn unknown_interface_lists_the_real_ones() {
    let err = LiveCapture::open("no-such-if0", &Options::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, OpenError::NoSuchInterface { .. }), "{msg}");
    assert!(msg.contains("no interface named \"no-such-if0\""), "{msg}");
    assert!(msg.contains("lo") && msg.contains("any"), "{msg}");
}

#[test]
fn snapshot_length_out_of_range_is_an_error() {
    for snaplen in [0, 262_145] {
        let err = LiveCapture::open("lo", &Options { snaplen, ..Options::default() }).unwrap_err();
        assert!(matches!(err, OpenError::Snaplen(n) if n == snaplen), "{err}");
    }
}

#[test]
fn next_returns_none_when_stopped() {
    let mut cap = open("lo", &Options { filter: Some(Filter::tcp_port(9)), ..Options::default() });
    let stop = cap.stop_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        stop.stop();
    });
    let start = Instant::now();
    assert!(cap.next().is_none());
    assert!(start.elapsed() < Duration::from_secs(2));
    t.join().unwrap();
    let mut cap = open("lo", &Options { filter: Some(Filter::tcp_port(9)), ..Options::default() });
    let start = Instant::now();
    cap.set_deadline(Some(start + Duration::from_millis(300)));
    assert!(cap.next().is_none());
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_burst_of_connections_is_captured_without_loss() {
    // 300 HTTP-sized exchanges back to back, as fast as loopback goes,
    // while this thread reads: every SYN and FIN arrives, nothing dropped.
    const N: usize = 300;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cap =
        open("lo", &Options { filter: Some(Filter::tcp_port(port)), ..Options::default() });
    let traffic = std::thread::spawn(move || {
        for _ in 0..N {
            exchange(&listener, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        }
    });
    let frames = collect(&mut cap, |f| fins(f, port) >= 2 * N);
    traffic.join().unwrap();
    let stats = cap.stats();
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(syns(&frames, port), N);
    assert_eq!(fins(&frames, port), 2 * N);
    assert_no_duplicates(&frames);
}
