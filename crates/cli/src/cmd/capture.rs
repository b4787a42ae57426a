//! `tlsscope capture`: live capture on Linux, like `tcpdump -i IFACE`.
//!
//! Without `-w` it prints one line per packet; with `-w FILE` it writes
//! pcapng (flushed every quarter second, so even a killed capture leaves a
//! readable file). It stops after `-c COUNT` packets, `--duration SECONDS`,
//! or on Ctrl-C / SIGTERM, exits 0, and says on stderr how many packets it
//! captured and how many the kernel dropped.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::Context as _;
use tlsscope_capture::filter::Filter;
use tlsscope_capture::headers::{Headers, proto};
use tlsscope_capture::pcapng::{self, Interface, Packet, Section};
use tlsscope_scope::frame::{Frame, TcpFlags};
use tlsscope_scope::time::Timestamp;

use crate::output::{EXIT_OK, Output};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  tlsscope capture -i lo --port 8443
  tlsscope capture -i lo --port 8443 -w hello.pcapng -c 50
  tlsscope capture -i any -f 'tcp and (port 80 or 443) and not host 10.0.0.1' --duration 30
  tlsscope capture -D

Filters (-f) take a subset of tcpdump's syntax: ip, ip6, tcp, udp, icmp, icmp6,
arp; [src|dst] host ADDR, net CIDR, port N, portrange A-B; and/&&, or/||,
not/!, parentheses (not binds tightest; and/or group left to right, as in tcpdump).

Capturing needs CAP_NET_RAW: run as root, or once
  sudo setcap cap_net_raw,cap_net_admin=eip $(which tlsscope)
Without either, `tlsscope get --record FILE URL` records its own traffic.")]
pub struct Args {
    /// Interface to capture on (lo, eth0...), or `any` for all of them.
    #[arg(short = 'i', long, value_name = "IFACE", required_unless_present = "list_interfaces")]
    interface: Option<String>,

    /// Capture filter, a subset of tcpdump's syntax (see below).
    #[arg(short = 'f', long, value_name = "EXPR", conflicts_with = "port")]
    filter: Option<String>,

    /// Only TCP on this port: short for -f 'tcp port N'.
    #[arg(long, value_name = "N")]
    port: Option<u16>,

    /// Write the packets to FILE as pcapng (`-` for stdout) instead of listing them.
    #[arg(short = 'w', long, value_name = "FILE")]
    write: Option<PathBuf>,

    /// Stop after COUNT packets.
    #[arg(short = 'c', long, value_name = "COUNT")]
    count: Option<u64>,

    /// Stop after SECONDS (fractions allowed).
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,

    /// Bytes kept of each packet (1-262144).
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 262_144)]
    snaplen: u32,

    /// Kernel receive buffer in KiB (as tcpdump's -B); a larger one rides
    /// out longer bursts without drops.
    #[arg(short = 'B', long = "buffer-size", value_name = "KIB", default_value_t = 32_768)]
    buffer_size: usize,

    /// List the interfaces and exit.
    #[arg(short = 'D', long)]
    list_interfaces: bool,
}

/// How often buffered pcapng is written out while capturing.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    imp::run(args, out)
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    pub fn run(_: Args, _: &Output) -> anyhow::Result<ExitCode> {
        Err(tlsscope_lab::Error::new("live capture works on Linux only")
            .with_hint("record a client's own traffic with `tlsscope get --record FILE URL`")
            .into())
    }
}

#[cfg(target_os = "linux")]
pub(crate) mod imp {
    use super::*;
    use tlsscope_capture::live::{self, LiveCapture, OpenError, Options, Recv};

    pub fn run(args: Args, _out: &Output) -> anyhow::Result<ExitCode> {
        if args.list_interfaces {
            return list_interfaces();
        }
        let iface = args.interface.clone().unwrap_or_default();
        let filter = match (&args.filter, args.port) {
            (Some(text), _) => Some(Filter::parse(text).map_err(|e| {
                tlsscope_lab::Error::new(format!("filter {text:?}: {e}")).with_hint(
                    "write the filter in tcpdump's syntax, e.g. -f 'tcp port 8443 and host \
                     127.0.0.1'; `tlsscope capture --help` lists what is supported",
                )
            })?),
            (None, Some(p)) => Some(Filter::tcp_port(p)),
            (None, None) => None,
        };
        let duration = match args.duration {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                return Err(tlsscope_lab::Error::new(format!(
                    "--duration {s}: give a positive number of seconds"
                ))
                .into());
            }
            Some(s) => Some(Duration::from_secs_f64(s.min(1e9))),
            None => None,
        };

        // Before the socket opens, so a signal sent as soon as the banner
        // is out already stops us cleanly.
        let stop = Arc::new(AtomicBool::new(false));
        stop_on_signals(stop.clone())?;

        let opts = Options {
            snaplen: args.snaplen,
            buffer_size: args.buffer_size.saturating_mul(1024),
            filter,
        };
        let mut cap = LiveCapture::open(&iface, &opts).map_err(|e| open_error(&iface, e))?;

        let mut writer = match &args.write {
            Some(path) => Some(PcapngOut::create(path, &cap)?),
            None => None,
        };
        banner(&cap, args.write.as_ref());
        let asked = opts.buffer_size;
        if cap.buffer_size() < asked {
            eprintln!(
                "note: the kernel gave a {} KiB receive buffer, not {} KiB: net.core.rmem_max \
                 caps it unless tlsscope has CAP_NET_ADMIN",
                cap.buffer_size() / 1024,
                asked / 1024
            );
        }

        let start = Instant::now();
        let deadline = duration.map(|d| start + d);
        let progress = writer.is_some() && std::io::stderr().is_terminal();
        let stdout = std::io::stdout();
        let mut lines = std::io::BufWriter::new(stdout.lock());
        let mut first_ts: Option<Timestamp> = None;
        let mut last_flush = Instant::now();
        let mut last_progress = Instant::now();
        let mut captured = 0u64;
        let mut failure = None;
        loop {
            if stop.load(Ordering::SeqCst) || args.count.is_some_and(|c| captured >= c) {
                break;
            }
            let mut wait = FLUSH_EVERY;
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                wait = wait.min(left);
            }
            match cap.recv(wait) {
                Ok(Recv::Packet(p)) => {
                    captured += 1;
                    match &mut writer {
                        Some(w) => w.write(&p)?,
                        None => {
                            let t0 = *first_ts.get_or_insert(p.frame.ts);
                            writeln!(lines, "{}", summary_line(&p.frame, t0))?;
                        }
                    }
                }
                Ok(Recv::Timeout) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                if let Some(w) = &mut writer {
                    w.flush()?;
                }
                lines.flush()?;
                last_flush = Instant::now();
            }
            if progress && last_progress.elapsed() >= Duration::from_millis(500) {
                eprint!("\r{captured} packets captured");
                last_progress = Instant::now();
            }
        }
        lines.flush()?;
        drop(lines);
        if let Some(w) = writer {
            w.finish()?;
        }
        if progress {
            eprint!("\r");
        }
        let stats = cap.stats();
        eprintln!("{} packets captured, {} dropped by kernel", stats.captured, stats.dropped);
        if stats.dropped > 0 {
            eprintln!(
                "hint: the kernel dropped packets because its receive buffer was full: \
                 give a larger one (-B KIB, now {} KiB) or a narrower filter",
                cap.buffer_size() / 1024
            );
        }
        if let Some(e) = failure {
            return Err(tlsscope_lab::Error::new(format!("capture on {iface} stopped: {e}")).into());
        }
        Ok(ExitCode::from(EXIT_OK))
    }

    fn list_interfaces() -> anyhow::Result<ExitCode> {
        let mut out = std::io::stdout().lock();
        for i in live::interfaces() {
            let kind = match i.hw_type {
                Some(libc_arphrd::ETHER) => "ethernet",
                Some(libc_arphrd::LOOPBACK) => "loopback",
                Some(libc_arphrd::NONE) => "raw IP",
                Some(_) => "other (cooked)",
                None => "unknown",
            };
            let state = if i.up { "up" } else { "down" };
            writeln!(out, "{}. {} ({kind}, {state})", i.index, i.name)?;
        }
        writeln!(out, "any (all interfaces, Linux cooked v2 frames)")?;
        Ok(ExitCode::from(EXIT_OK))
    }

    /// ARPHRD_ values shown by `-D`.
    mod libc_arphrd {
        pub const ETHER: u16 = 1;
        pub const LOOPBACK: u16 = 772;
        pub const NONE: u16 = 0xfffe;
    }

    pub(crate) fn open_error(iface: &str, e: OpenError) -> anyhow::Error {
        let msg = e.to_string();
        let err = match e {
            OpenError::Permission { .. } => {
                let exe = std::env::current_exe()
                    .ok()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "$(which tlsscope)".to_string());
                tlsscope_lab::Error::new(msg).with_hint(format!(
                    "run it as root, or let this binary capture once with \
                     `sudo setcap cap_net_raw,cap_net_admin=eip {exe}`; without root, \
                     `tlsscope get --record FILE.pcapng URL` records its own traffic"
                ))
            }
            OpenError::NoSuchInterface { .. } => tlsscope_lab::Error::new(msg)
                .with_hint("pick one of those, e.g. -i lo for traffic on this machine"),
            other => {
                tlsscope_lab::Error::new(other.to_string()).context(format!("capture on {iface}"))
            }
        };
        err.into()
    }

    fn banner(cap: &LiveCapture, write: Option<&PathBuf>) {
        let mut line = format!(
            "capturing on {}, link type {}, snapshot length {} bytes",
            cap.interface(),
            cap.link_type().name(),
            cap.snaplen()
        );
        if let Some(f) = cap.filter() {
            line.push_str(&format!(", filter {:?}", f.text()));
        }
        if let Some(w) = write {
            line.push_str(&format!(", writing {}", w.display()));
        }
        line.push_str(" (Ctrl-C stops)");
        eprintln!("{line}");
    }

    /// SIGINT and SIGTERM set `stop` (tokio's handlers, on a thread of
    /// their own), so the capture loop ends at its next tick and finishes
    /// the file.
    pub(crate) fn stop_on_signals(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (mut int, mut term) = rt.block_on(async {
            anyhow::Ok((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
        })?;
        std::thread::Builder::new().name("signals".into()).spawn(move || {
            rt.block_on(async {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
            stop.store(true, Ordering::SeqCst);
        })?;
        Ok(())
    }

    /// pcapng output: one interface, packets with their direction.
    struct PcapngOut {
        w: pcapng::Writer<std::io::BufWriter<Box<dyn Write>>>,
        iface: pcapng::InterfaceId,
        path: PathBuf,
    }

    impl PcapngOut {
        fn create(path: &PathBuf, cap: &LiveCapture) -> anyhow::Result<PcapngOut> {
            let sink: Box<dyn Write> = if path.as_os_str() == "-" {
                Box::new(std::io::stdout())
            } else {
                // Mode 0644 (umask permitting): no secrets go in here.
                Box::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("{}: cannot create it", path.display()))?,
                )
            };
            let section = Section {
                os: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .ok()
                    .map(|r| format!("Linux {}", r.trim())),
                ..Section::tlsscope()
            };
            // 1 MiB: 64 KiB loopback segments are batched into few writes
            // (BufWriter's default 8 KiB would pass each one straight through).
            let buffered = std::io::BufWriter::with_capacity(1 << 20, sink);
            let mut w = pcapng::Writer::new(buffered, &section)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            let iface = w
                .add_interface(&Interface {
                    name: Some(cap.interface().to_string()),
                    description: Some(match cap.filter() {
                        Some(f) => format!("live capture by tlsscope, filter \"{}\"", f.text()),
                        None => "live capture by tlsscope".to_string(),
                    }),
                    ..Interface::new(cap.link_type(), cap.snaplen())
                })
                .with_context(|| format!("{}: cannot write", path.display()))?;
            // The header blocks go out now: the file is valid from the start.
            let mut out = PcapngOut { w, iface, path: path.clone() };
            out.flush()?;
            Ok(out)
        }

        fn write(&mut self, p: &live::Captured<'_>) -> anyhow::Result<()> {
            let f = &p.frame;
            let ts = UNIX_EPOCH + Duration::from_nanos(u64::try_from(f.ts.0).unwrap_or(0));
            let packet = Packet {
                original_len: (f.orig_len as usize).max(f.data.len()),
                direction: p.direction,
                ..Packet::new(self.iface, ts, f.data)
            };
            self.w
                .write_packet(&packet)
                .with_context(|| format!("{}: cannot write", self.path.display()))
        }

        fn flush(&mut self) -> anyhow::Result<()> {
            self.w.flush().with_context(|| format!("{}: cannot write", self.path.display()))
        }

        fn finish(self) -> anyhow::Result<()> {
            let path = self.path;
            self.w.finish().with_context(|| format!("{}: cannot write", path.display()))?;
            Ok(())
        }
    }
}

/// One line per packet, like tcpdump's:
/// `   3   0.000113 127.0.0.1:41234 → 127.0.0.1:8443 TCP [P.] len 517, 583 bytes`.
fn summary_line(f: &Frame<'_>, t0: Timestamp) -> String {
    let h = Headers::of(f);
    let ep = |ip: std::net::IpAddr, port: Option<u16>| match port {
        Some(p) => std::net::SocketAddr::new(ip, p).to_string(),
        None => ip.to_string(),
    };
    let what = match h.addrs {
        Some((src, dst)) if h.is_arp() => format!("{src} → {dst} ARP"),
        Some((src, dst)) => {
            let (sp, dp) = (h.ports.map(|p| p.0), h.ports.map(|p| p.1));
            let frag = if h.fragment { " (fragment)" } else { "" };
            let body = match h.ip_proto {
                Some(proto::TCP) => match h.tcp_flags {
                    Some(fl) => {
                        format!("TCP [{}] len {}", tcp_flags(fl), h.payload_len.unwrap_or(0))
                    }
                    None => "TCP".to_string(),
                },
                Some(proto::UDP) => match h.payload_len {
                    Some(n) => format!("UDP len {n}"),
                    None => "UDP".to_string(),
                },
                Some(proto::ICMP) => "ICMP".to_string(),
                Some(proto::ICMPV6) => "ICMPv6".to_string(),
                Some(p) => format!("IP protocol {p}"),
                None => "IP".to_string(),
            };
            format!("{} → {} {body}{frag}", ep(src, sp), ep(dst, dp))
        }
        None => match h.ether_type {
            Some(t) => format!("ethertype 0x{t:04x}"),
            None => format!("{} frame", f.link.name()),
        },
    };
    let caplen = f.data.len();
    let wire = (f.orig_len as usize).max(caplen);
    let size = if caplen < wire {
        format!("{wire} bytes ({caplen} captured)")
    } else {
        format!("{wire} bytes")
    };
    format!("{:>4} {:>10.6} {what}, {size}", f.number, f.ts.seconds_since(t0))
}

/// TCP flags as tcpdump writes them: `S`, `S.`, `P.`, `F.`, `R`, `none`.
fn tcp_flags(f: TcpFlags) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (0x01, 'F'),
        (0x02, 'S'),
        (0x04, 'R'),
        (0x08, 'P'),
        (0x10, '.'),
        (0x20, 'U'),
        (0x40, 'E'),
        (0x80, 'W'),
    ] {
        if f.0 & bit != 0 {
            s.push(c);
        }
    }
    if s.is_empty() { "none".to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use tlsscope_scope::frame::LinkType;

    fn frame(data: &[u8], number: u64, ts: i64, orig: u32) -> Frame<'_> {
        Frame {
            number,
            ts: Timestamp(ts),
            link: LinkType::ETHERNET,
            data,
            orig_len: orig,
            file_offset: None,
        }
    }

    #[test]
    fn flags_read_as_in_tcpdump() {
        assert_eq!(tcp_flags(TcpFlags(0x02)), "S");
        assert_eq!(tcp_flags(TcpFlags(0x12)), "S.");
        assert_eq!(tcp_flags(TcpFlags(0x18)), "P.");
        assert_eq!(tcp_flags(TcpFlags(0x11)), "F.");
        assert_eq!(tcp_flags(TcpFlags(0x04)), "R");
        assert_eq!(tcp_flags(TcpFlags(0xc2)), "SEW");
        assert_eq!(tcp_flags(TcpFlags(0)), "none");
    }

    #[test]
    fn summary_lines_show_time_ends_flags_and_sizes() {
        let mut d = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(41234, 8443, 1, 100)
            .psh()
            .ack(5)
            .write(&mut d, &[0; 517])
            .unwrap();
        let n = d.len() as u32;
        let line = summary_line(&frame(&d, 3, 1_000_113_000, n), Timestamp(1_000_000_000));
        assert_eq!(
            line,
            format!("   3   0.000113 127.0.0.1:41234 → 127.0.0.1:8443 TCP [P.] len 517, {n} bytes")
        );
        let cut = summary_line(&frame(&d[..60], 4, 2_000_000_000, n), Timestamp(1_000_000_000));
        assert!(cut.ends_with(&format!("TCP [P.] len 517, {n} bytes (60 captured)")), "{cut}");

        let mut d = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv6([0; 16], [0; 16], 64)
            .udp(5353, 53)
            .write(&mut d, b"abcd")
            .unwrap();
        let line = summary_line(&frame(&d, 1, 0, d.len() as u32), Timestamp(0));
        assert!(line.contains("[::]:5353 → [::]:53 UDP len 4, "), "{line}");

        let line = summary_line(&frame(&[0xff; 14], 1, 0, 14), Timestamp(0));
        assert!(line.ends_with("ethertype 0xffff, 14 bytes"), "{line}");
    }
}
