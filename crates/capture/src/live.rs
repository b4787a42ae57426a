//! Live capture on Linux through an AF_PACKET socket, without libpcap.
//!
//! How it works, and why:
//!
//! - **Socket.** `socket(AF_PACKET, SOCK_RAW, 0)` on Ethernet and loopback
//!   devices (frames keep their Ethernet header: LINKTYPE_ETHERNET, as
//!   tcpdump writes for `lo`), and on raw-IP devices such as tun
//!   (LINKTYPE_RAW). Everything else, and `any` (all interfaces), uses
//!   `SOCK_DGRAM` ("cooked") and gets a Linux cooked v2 header (LINKTYPE_LINUX_SLL2)
//!   built from the socket address, as `tcpdump -i any` does. The socket is
//!   opened with protocol 0, which receives nothing, and only bound with
//!   ETH_P_ALL after the kernel filter is attached, so no unfiltered packet
//!   of another interface slips in between.
//! - **Each packet once.** On `lo` the kernel hands packet sockets every
//!   packet twice: as it is sent (PACKET_OUTGOING) and as it comes back in.
//!   libpcap drops the outgoing copy of loopback packets; so do we, in the
//!   kernel filter (see [`crate::bpf`]) and again in user space.
//!   PACKET_IGNORE_OUTGOING is not used: on `any` it would also hide what the
//!   host sends on its real interfaces.
//! - **Receiving.** One `recvmsg` per packet, with the kernel's receive
//!   timestamp (`SO_TIMESTAMPNS`, nanoseconds) and `PACKET_AUXDATA` (the
//!   packet's length before the snapshot cut, and VLAN tags the driver
//!   stripped, which we put back into Ethernet frames as libpcap does). A
//!   TPACKET_V3 ring would save the copy and the system call per packet, at
//!   the price of much more unsafe code around a shared mapping. Measured
//!   here, the copy is not what limits us: capturing a 600 MB loopback
//!   download (850 MB/s) to pcapng took 0.42 s of CPU in 0.71 s; drops come
//!   from being scheduled out on a busy machine, which a larger receive
//!   buffer absorbs (32 MiB by default, forced past `rmem_max` when we have
//!   CAP_NET_ADMIN). Drops, if any, are counted and reported.
//! - **Drops.** `PACKET_STATISTICS` reports what the kernel received and
//!   dropped for lack of buffer space; reading it resets it, so we add up.
//!
//! The filter the user gave is always evaluated here, in user space; the
//! kernel program is only a prefilter (and cuts packets to the snapshot
//! length in the kernel, so they take less buffer space).
//!
//! This is the one module of the crate with unsafe code: the system calls.
//! Each `unsafe` block is one call, with a comment saying why it is sound.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::{MaybeUninit, size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tlsscope_scope::diag::{Diagnostic, Location, Severity};
use tlsscope_scope::frame::{Frame, LinkType};
use tlsscope_scope::time::Timestamp;

use crate::bpf::{self, Layout};
use crate::filter::Filter;
use crate::pcapng::Direction;
use crate::read::Event;

/// tcpdump's default and largest snapshot length: whole packets, even
/// 64 KiB loopback segments.
pub const DEFAULT_SNAPLEN: u32 = 262_144;
/// Largest snapshot length accepted (as tcpdump's MAXIMUM_SNAPLEN).
pub const MAX_SNAPLEN: u32 = 262_144;
/// Default socket receive buffer (the kernel takes memory only for what is
/// waiting): room for ~500 64 KiB loopback segments while we are scheduled
/// out. On a busy 2-core machine, 8 MiB dropped a few percent of a 600 MB
/// loopback download at 850 MB/s, 128 MiB none; lab traffic (hundreds of
/// requests, 20 MB downloads) showed no drops at 8 MiB.
pub const DEFAULT_BUFFER: usize = 32 << 20;
/// How long [`LiveCapture::next`] waits before it looks at the stop flag
/// and the deadline again.
const TICK: Duration = Duration::from_millis(100);
/// Room before the packet in the buffer: a cooked v2 header (20 bytes), or
/// a VLAN tag (4 bytes) put back into an Ethernet header.
const HEADROOM: usize = SLL2_LEN;
/// Length of a LINKTYPE_LINUX_SLL2 header.
const SLL2_LEN: usize = 20;
/// Interface name for all interfaces, as tcpdump's `-i any`.
pub const ANY: &str = "any";

/// How to capture.
#[derive(Clone, Debug)]
pub struct Options {
    /// Most bytes kept of each packet (1..=[`MAX_SNAPLEN`]).
    pub snaplen: u32,
    /// Socket receive buffer size in bytes.
    pub buffer_size: usize,
    /// Keep only packets this filter matches.
    pub filter: Option<Filter>,
}

impl Default for Options {
    fn default() -> Self {
        Options { snaplen: DEFAULT_SNAPLEN, buffer_size: DEFAULT_BUFFER, filter: None }
    }
}

/// Why a capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No CAP_NET_RAW (not root, no file capability).
    #[error("capturing on {iface} needs the CAP_NET_RAW capability ({source})")]
    Permission {
        /// The interface asked for.
        iface: String,
        /// The refused system call's error.
        source: io::Error,
    },
    /// No interface has that name.
    #[error("no interface named {name:?} (available: {})", available_list(.available))]
    NoSuchInterface {
        /// The name asked for.
        name: String,
        /// The interfaces there are (plus `any`).
        available: Vec<String>,
    },
    /// Snapshot length out of range.
    #[error("snapshot length {0} is out of range (1-{MAX_SNAPLEN})")]
    Snaplen(u32),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing.
        what: String,
        /// The error.
        source: io::Error,
    },
}

fn available_list(names: &[String]) -> String {
    if names.is_empty() { "none found".to_string() } else { names.join(", ") }
}

/// A network interface, as listed by [`interfaces`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Its name (`lo`, `eth0`).
    pub name: String,
    /// Its index.
    pub index: u32,
    /// Its ARPHRD_ hardware type (1 Ethernet, 772 loopback...), if known.
    pub hw_type: Option<u16>,
    /// Whether it is up.
    pub up: bool,
}

/// The interfaces of this network namespace, from /sys/class/net (names
/// only, from /proc/net/dev, if sysfs is not mounted).
pub fn interfaces() -> Vec<InterfaceInfo> {
    let read = |name: &str, file: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let index = read(&name, "ifindex").and_then(|s| s.parse().ok()).unwrap_or(0);
            let hw_type = read(&name, "type").and_then(|s| s.parse().ok());
            let flags = read(&name, "flags")
                .and_then(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            out.push(InterfaceInfo { name, index, hw_type, up: flags & 1 != 0 });
        }
    } else if let Ok(dev) = std::fs::read_to_string("/proc/net/dev") {
        for line in dev.lines().skip(2) {
            if let Some((name, _)) = line.split_once(':') {
                let name = name.trim().to_string();
                out.push(InterfaceInfo { name, index: 0, hw_type: None, up: false });
            }
        }
    }
    out.sort_by(|a, b| (a.index, &a.name).cmp(&(b.index, &b.name)));
    out
}

/// What the kernel and we counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets the kernel filter passed to the socket (dropped ones included).
    pub received: u64,
    /// Packets the kernel dropped because the receive buffer was full.
    pub dropped: u64,
    /// Packets handed to the caller.
    pub captured: u64,
    /// Packets the user-space filter rejected.
    pub filtered: u64,
    /// Outgoing copies of loopback packets skipped in user space (the
    /// kernel filter normally drops them first).
    pub loopback_copies: u64,
}

/// One captured packet.
#[derive(Clone, Copy, Debug)]
pub struct Captured<'a> {
    /// The frame: numbered from 1, kernel timestamp, link header included.
    pub frame: Frame<'a>,
    /// Sent or received by this host; None on loopback, where it is both.
    pub direction: Option<Direction>,
    /// Index of the interface it was seen on.
    pub ifindex: u32,
}

/// How frames are laid out, from the interface's hardware type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// SOCK_RAW, frames start with an Ethernet header.
    Ethernet,
    /// SOCK_RAW, frames are IP packets.
    RawIp,
    /// SOCK_DGRAM, we prepend a cooked v2 header.
    Cooked,
}

/// Can be handed to another thread (a signal handler's) to stop a capture:
/// [`LiveCapture::next`] then returns None within a tenth of a second.
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks the capture to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A live capture on one interface (or all).
pub struct LiveCapture {
    fd: OwnedFd,
    name: String,
    ifindex: u32,
    lo_index: Option<u32>,
    mode: Mode,
    link: LinkType,
    snaplen: u32,
    filter: Option<Filter>,
    kernel_filter: bool,
    kernel_ports: bool,
    buffer_size: usize,
    buf: Vec<u8>,
    stats: Stats,
    stop: StopHandle,
    deadline: Option<Instant>,
    /// Set after a receive error: the capture is over.
    failed: bool,
    /// Where in `buf` the last packet handed out lies.
    last: Option<Got>,
}

impl std::fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCapture")
            .field("name", &self.name)
            .field("link", &self.link)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The result of [`LiveCapture::recv`].
#[derive(Debug)]
pub enum Recv<'a> {
    /// A packet.
    Packet(Captured<'a>),
    /// Nothing arrived in time (or a signal interrupted the wait).
    Timeout,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> OpenError {
    let what = what.into();
    move |source| OpenError::Io { what, source }
}

impl LiveCapture {
    /// Starts capturing on `iface` (`any` for all interfaces).
    pub fn open(iface: &str, opts: &Options) -> Result<LiveCapture, OpenError> {
        if opts.snaplen == 0 || opts.snaplen > MAX_SNAPLEN {
            return Err(OpenError::Snaplen(opts.snaplen));
        }
        let ifindex = if iface == ANY {
            0
        } else {
            if_index(iface).ok_or_else(|| OpenError::NoSuchInterface {
                name: iface.to_string(),
                available: interfaces()
                    .into_iter()
                    .map(|i| i.name)
                    .chain(std::iter::once(ANY.to_string()))
                    .collect(),
            })?
        };
        let lo_index = if_index("lo");

        // The hardware type decides the socket type, so ask a throwaway
        // raw socket bound to the device with protocol 0 (receives nothing).
        let mode = if ifindex == 0 {
            Mode::Cooked
        } else {
            let probe = packet_socket(libc::SOCK_RAW).map_err(|e| open_error(iface, e))?;
            bind(&probe, ifindex, 0).map_err(io_err(format!("binding to {iface}")))?;
            let hw = bound_hw_type(&probe).map_err(io_err(format!("reading {iface}'s type")))?;
            match hw {
                libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => Mode::Ethernet,
                // ARPHRD_NONE (tun), ARPHRD_RAWIP (519): bare IP packets.
                libc::ARPHRD_NONE | 519 => Mode::RawIp,
                _ => Mode::Cooked,
            }
        };
        let (sock_type, link, layout) = match mode {
            Mode::Ethernet => (libc::SOCK_RAW, LinkType::ETHERNET, Layout::Ethernet),
            Mode::RawIp => (libc::SOCK_RAW, LinkType::RAW, Layout::Network),
            Mode::Cooked => (libc::SOCK_DGRAM, LinkType::LINUX_SLL2, Layout::Network),
        };
        let fd = packet_socket(sock_type).map_err(|e| open_error(iface, e))?;

        // Receive buffer: SO_RCVBUFFORCE goes past net.core.rmem_max but
        // needs CAP_NET_ADMIN; SO_RCVBUF is capped there silently.
        let size = i32::try_from(opts.buffer_size).unwrap_or(i32::MAX);
        if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_err() {
            setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)
                .map_err(io_err("setting the receive buffer size"))?;
        }
        let one: libc::c_int = 1;
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &one)
            .map_err(io_err("asking for kernel timestamps"))?;
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, &one)
            .map_err(io_err("asking for packet lengths (PACKET_AUXDATA)"))?;

        // The kernel filter, before the socket receives anything.
        let skip_outgoing_on = lo_index.filter(|lo| ifindex == 0 || ifindex == *lo);
        let ports = opts.filter.as_ref().and_then(Filter::as_port_match);
        // A cooked header is added after the kernel's cut.
        let header = if mode == Mode::Cooked { SLL2_LEN as u32 } else { 0 };
        let keep = opts.snaplen.saturating_sub(header).max(1);
        let prog = bpf::compile(&bpf::Spec { layout, skip_outgoing_on, ports, keep });
        let kernel_filter = attach_filter(&fd, &prog).is_ok();

        bind(&fd, ifindex, libc::ETH_P_ALL as u16)
            .map_err(io_err(format!("binding to {iface}")))?;
        let buffer_size = getsockopt::<libc::c_int>(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF)
            // The kernel reports twice what it was given (half is bookkeeping).
            .map(|n| usize::try_from(n / 2).unwrap_or(0))
            .unwrap_or(0);

        let mut cap = LiveCapture {
            fd,
            name: iface.to_string(),
            ifindex,
            lo_index,
            mode,
            link,
            snaplen: opts.snaplen,
            filter: opts.filter.clone(),
            kernel_filter,
            kernel_ports: kernel_filter && ports.is_some(),
            buffer_size,
            // `snaplen` is at most MAX_SNAPLEN (checked above).
            buf: vec![0; HEADROOM.saturating_add(opts.snaplen as usize)],
            stats: Stats::default(),
            stop: StopHandle::default(),
            deadline: None,
            failed: false,
            last: None,
        };
        // Counters start at zero now, not at the socket's creation.
        let _ = cap.read_kernel_stats();
        cap.stats = Stats::default();
        Ok(cap)
    }

    /// The interface name given to [`LiveCapture::open`].
    pub fn interface(&self) -> &str {
        &self.name
    }

    /// The interface index (0 for `any`).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The link type of the frames.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// The snapshot length.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// The user's filter, if any.
    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// Whether a kernel prefilter is attached, and whether it tests ports.
    pub fn kernel_filter(&self) -> (bool, bool) {
        (self.kernel_filter, self.kernel_ports)
    }

    /// A handle that stops [`LiveCapture::next`] from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Makes [`LiveCapture::next`] return None at `deadline`.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// The counters so far, with the kernel's received/dropped brought up
    /// to date.
    pub fn stats(&mut self) -> Stats {
        let _ = self.read_kernel_stats();
        self.stats
    }

    fn read_kernel_stats(&mut self) -> io::Result<()> {
        let s: libc::tpacket_stats =
            getsockopt(&self.fd, libc::SOL_PACKET, libc::PACKET_STATISTICS)?;
        self.stats.received = self.stats.received.saturating_add(u64::from(s.tp_packets));
        self.stats.dropped = self.stats.dropped.saturating_add(u64::from(s.tp_drops));
        Ok(())
    }

    /// Waits up to `timeout` for a packet the filter keeps.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Recv<'_>> {
        if !self.wait_for_packet(timeout)? {
            return Ok(Recv::Timeout);
        }
        match (self.last, self.last_frame()) {
            (Some(got), Some(frame)) => {
                Ok(Recv::Packet(Captured { frame, direction: got.direction, ifindex: got.ifindex }))
            }
            _ => Ok(Recv::Timeout),
        }
    }

    /// The next packet as an [`Event`], the shape capture files give:
    /// blocks until a packet arrives; None once stopped (by the
    /// [`StopHandle`] or the deadline). A receive error (the interface went
    /// away) is one [`Event::Problem`], then None.
    #[allow(clippy::should_implement_trait)] // a lending iterator cannot be an Iterator
    pub fn next(&mut self) -> Option<Event<'_>> {
        if self.failed {
            return None;
        }
        loop {
            if self.stop.is_stopped() || self.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            let wait = match self.deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(TICK),
                None => TICK,
            };
            match self.wait_for_packet(wait) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => {
                    self.failed = true;
                    let msg = format!("capture on {} stopped: {e}", self.name);
                    let d =
                        Diagnostic::new(Severity::Error, "capture.recv", Location::default(), msg);
                    return Some(Event::Problem(d));
                }
            }
        }
        self.last_frame().map(Event::Frame)
    }

    /// Receives until a packet passes the filter (true, and `self.last`
    /// says where it is) or `timeout` passes (false).
    fn wait_for_packet(&mut self, timeout: Duration) -> io::Result<bool> {
        // None: too far to say, which is forever.
        let until = Instant::now().checked_add(timeout);
        loop {
            let left = until.map_or(timeout, |u| u.saturating_duration_since(Instant::now()));
            let Some(got) = self.recv_one(left)? else { return Ok(false) };
            if got.loopback_copy {
                self.stats.loopback_copies = self.stats.loopback_copies.saturating_add(1);
                continue;
            }
            let keep = match &self.filter {
                None => true,
                Some(f) => {
                    let data = self.packet(&got).unwrap_or_default();
                    let frame = Frame {
                        number: 0,
                        ts: got.ts,
                        link: self.link,
                        data,
                        orig_len: got.orig_len,
                        file_offset: None,
                    };
                    f.matches(&frame)
                }
            };
            if keep {
                self.stats.captured = self.stats.captured.saturating_add(1);
                self.last = Some(got);
                return Ok(true);
            }
            self.stats.filtered = self.stats.filtered.saturating_add(1);
        }
    }

    /// The bytes of a received packet.
    fn packet(&self, got: &Got) -> Option<&[u8]> {
        self.buf.get(got.start..got.start.checked_add(got.len)?)
    }

    /// The packet `wait_for_packet` found last, as a frame.
    fn last_frame(&self) -> Option<Frame<'_>> {
        let l = self.last.as_ref()?;
        let data = self.packet(l)?;
        Some(Frame {
            number: self.stats.captured,
            ts: l.ts,
            link: self.link,
            data,
            orig_len: l.orig_len,
            file_offset: None,
        })
    }

    /// Receives one packet into `self.buf`, waiting up to `wait`; None when
    /// nothing came (or a signal interrupted the wait).
    fn recv_one(&mut self, wait: Duration) -> io::Result<Option<Got>> {
        loop {
            match self.recvmsg() {
                Ok(got) => return Ok(Some(got)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if wait.is_zero() || !poll_in(&self.fd, wait)? {
                        return Ok(None);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// One non-blocking `recvmsg`: the packet goes to `buf[HEADROOM..]`,
    /// then gets its cooked header or VLAN tag in front.
    fn recvmsg(&mut self) -> io::Result<Got> {
        let room = match self.mode {
            // The kernel cut cooked packets to leave room for the header.
            Mode::Cooked => (self.snaplen as usize).saturating_sub(SLL2_LEN).max(1),
            Mode::Ethernet | Mode::RawIp => self.snaplen as usize,
        };
        let data = self.buf.get_mut(HEADROOM..).and_then(|b| b.get_mut(..room)).unwrap_or_default();
        let mut addr = empty_sockaddr_ll();
        // 8-byte aligned, as control messages are; room for a timespec and
        // a tpacket_auxdata with their headers (72 bytes on 64-bit Linux).
        let mut control = [0u64; 16];
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
        // SAFETY: msghdr is a C struct of integers and pointers, for which
        // all zeroes (null pointers, zero lengths) is a valid value.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&raw mut addr).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control) as _;
        // SAFETY: every pointer in `msg` points to a live local (`addr`,
        // `iov`, `control`) or into `self.buf` (`iov`), each with the length
        // given beside it, and all outlive the call; the kernel writes at
        // most those lengths.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &raw mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = usize::try_from(n).unwrap_or(0).min(room);

        let mut ts = None;
        let mut aux: Option<libc::tpacket_auxdata> = None;
        // SAFETY: `msg` was filled in by recvmsg; CMSG_FIRSTHDR reads only
        // its msg_control and msg_controllen fields.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
        while !cmsg.is_null() {
            // SAFETY: a non-null pointer from CMSG_FIRSTHDR/CMSG_NXTHDR
            // points to a whole cmsghdr inside `control`.
            let hdr = unsafe { std::ptr::read_unaligned(cmsg) };
            // SAFETY: CMSG_DATA only computes an address past the header.
            let payload = unsafe { libc::CMSG_DATA(cmsg) };
            let fits = |n: usize| hdr.cmsg_len as usize >= cmsg_len(n);
            if hdr.cmsg_level == libc::SOL_SOCKET
                && hdr.cmsg_type == libc::SCM_TIMESTAMPNS
                && fits(size_of::<libc::timespec>())
            {
                // SAFETY: cmsg_len says the kernel wrote a whole timespec
                // after the header, inside `control`; unaligned read.
                let t: libc::timespec = unsafe { std::ptr::read_unaligned(payload.cast()) };
                ts = Some(Timestamp::from_parts(t.tv_sec, u32::try_from(t.tv_nsec).unwrap_or(0)));
            } else if hdr.cmsg_level == libc::SOL_PACKET
                && hdr.cmsg_type == libc::PACKET_AUXDATA
                && fits(size_of::<libc::tpacket_auxdata>())
            {
                // SAFETY: as above, a whole tpacket_auxdata (integers only).
                aux = Some(unsafe { std::ptr::read_unaligned(payload.cast()) });
            }
            // SAFETY: `cmsg` is a header inside `msg`'s control buffer;
            // CMSG_NXTHDR returns the next one inside it, or null.
            cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
        }

        let ts = ts.unwrap_or_else(now);
        let wire_len = aux.map_or(len, |a| a.tp_len as usize).max(len);
        let ifindex = u32::try_from(addr.sll_ifindex).unwrap_or(0);
        let outgoing = addr.sll_pkttype == libc::PACKET_OUTGOING;
        let on_lo = Some(ifindex) == self.lo_index;
        let direction = match (on_lo, outgoing) {
            (true, _) => None,
            (false, true) => Some(Direction::Outbound),
            (false, false) => Some(Direction::Inbound),
        };
        let snaplen = self.snaplen as usize;
        let (start, caplen, orig) = match self.mode {
            Mode::Cooked => {
                let hdr = sll2_header(&addr);
                if let Some(h) = self.buf.get_mut(HEADROOM - SLL2_LEN..HEADROOM) {
                    h.copy_from_slice(&hdr);
                }
                // Lengths the kernel gave; `orig` is cut to 32 bits below.
                let caplen = SLL2_LEN.saturating_add(len).min(snaplen);
                (HEADROOM - SLL2_LEN, caplen, SLL2_LEN.saturating_add(wire_len))
            }
            Mode::Ethernet => match aux.and_then(vlan_tag) {
                Some(tag) if len >= 12 => {
                    // Put the stripped 802.1Q tag back after the MAC
                    // addresses: move them 4 bytes to the front.
                    self.buf.copy_within(HEADROOM..HEADROOM + 12, HEADROOM - 4);
                    if let Some(t) = self.buf.get_mut(HEADROOM + 8..HEADROOM + 12) {
                        t.copy_from_slice(&tag);
                    }
                    (HEADROOM - 4, len.saturating_add(4).min(snaplen), wire_len.saturating_add(4))
                }
                _ => (HEADROOM, len, wire_len),
            },
            Mode::RawIp => (HEADROOM, len, wire_len),
        };
        Ok(Got {
            start,
            len: caplen,
            orig_len: u32::try_from(orig).unwrap_or(u32::MAX),
            ts,
            direction,
            ifindex,
            loopback_copy: outgoing && on_lo,
        })
    }
}

/// Where a received packet lies in the buffer, and what the kernel said
/// about it.
#[derive(Clone, Copy, Debug)]
struct Got {
    start: usize,
    len: usize,
    orig_len: u32,
    ts: Timestamp,
    direction: Option<Direction>,
    ifindex: u32,
    loopback_copy: bool,
}

impl crate::Source for LiveCapture {
    fn next_event(&mut self) -> Option<Event<'_>> {
        self.next()
    }
}

fn now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::from_parts(i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos())
}

/// The 4 bytes of an 802.1Q/802.1ad tag the driver stripped, if any.
fn vlan_tag(aux: libc::tpacket_auxdata) -> Option<[u8; 4]> {
    if aux.tp_status & libc::TP_STATUS_VLAN_VALID == 0 {
        return None;
    }
    let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
        aux.tp_vlan_tpid
    } else {
        0x8100
    };
    let [a, b] = tpid.to_be_bytes();
    let [c, d] = aux.tp_vlan_tci.to_be_bytes();
    Some([a, b, c, d])
}

/// A LINKTYPE_LINUX_SLL2 header
/// (<https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html>): protocol,
/// reserved, interface index, ARPHRD type, packet type, address length,
/// address (8 bytes, zero-padded), all big-endian.
fn sll2_header(a: &libc::sockaddr_ll) -> [u8; SLL2_LEN] {
    // sll_protocol is already in network byte order.
    let [p0, p1] = a.sll_protocol.to_ne_bytes();
    let [i0, i1, i2, i3] = u32::try_from(a.sll_ifindex).unwrap_or(0).to_be_bytes();
    let [t0, t1] = a.sll_hatype.to_be_bytes();
    let halen = a.sll_halen.min(8);
    let mut addr = [0u8; 8];
    for (d, s) in addr.iter_mut().zip(a.sll_addr).take(usize::from(halen)) {
        *d = s;
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = addr;
    [p0, p1, 0, 0, i0, i1, i2, i3, t0, t1, a.sll_pkttype, halen, a0, a1, a2, a3, a4, a5, a6, a7]
}

fn empty_sockaddr_ll() -> libc::sockaddr_ll {
    libc::sockaddr_ll {
        sll_family: 0,
        sll_protocol: 0,
        sll_ifindex: 0,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    }
}

/// `CMSG_LEN(n)`: a control message's length with `n` bytes of data.
fn cmsg_len(n: usize) -> usize {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    // SAFETY: CMSG_LEN is arithmetic on its argument (a `const unsafe fn`
    // in libc only because it mirrors a C macro).
    unsafe { libc::CMSG_LEN(n) as usize }
}

fn open_error(iface: &str, e: io::Error) -> OpenError {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => {
            OpenError::Permission { iface: iface.to_string(), source: e }
        }
        Some(libc::EAFNOSUPPORT) => OpenError::Io {
            what: "this kernel has no AF_PACKET sockets (CONFIG_PACKET)".into(),
            source: e,
        },
        _ => OpenError::Io { what: "opening a packet socket".into(), source: e },
    }
}

/// `socket(AF_PACKET, ty, 0)`: protocol 0 receives nothing until bound.
fn packet_socket(ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call with integer arguments.
    let fd = unsafe { libc::socket(libc::AF_PACKET, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor the kernel just created for us; nothing
    // else owns it, so OwnedFd may close it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: &OwnedFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    let addr = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: protocol.to_be(),
        sll_ifindex: i32::try_from(ifindex)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        ..empty_sockaddr_ll()
    };
    // SAFETY: `addr` is a whole sockaddr_ll and we pass its size; the
    // kernel only reads it.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// The ARPHRD_ type of the device a packet socket is bound to.
fn bound_hw_type(fd: &OwnedFd) -> io::Result<u16> {
    let mut addr = empty_sockaddr_ll();
    let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is writable for `len` bytes, and `len` for itself; the
    // kernel writes at most `len` bytes and updates `len`.
    let rc = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut addr).cast(), &raw mut len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(addr.sll_hatype)
}

fn attach_filter(fd: &OwnedFd, prog: &[bpf::Insn]) -> io::Result<()> {
    let mut insns: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k })
        .collect();
    let fprog = libc::sock_fprog {
        len: u16::try_from(insns.len())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        filter: insns.as_mut_ptr(),
    };
    // The kernel copies the program during the call; `insns` outlives it.
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}

/// Interface index by name; None if there is no such interface.
fn if_index(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is NUL-terminated and alive for the call, which only reads it.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Waits until the socket is readable (true) or `wait` passes (false). A
/// signal ends the wait early (false), so callers look at their stop flag.
fn poll_in(fd: &OwnedFd, wait: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // Round up, so a sub-millisecond wait does not spin.
    let ms = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX).max(1);
    // SAFETY: `p` is one valid pollfd, alive for the call.
    let rc = unsafe { libc::poll(&raw mut p, 1, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) };
    }
    Ok(rc > 0)
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a whole, live T and we pass its exact size;
    // the kernel only reads it. Callers pass the C type the option expects.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// C structs made of integers only: any bytes the kernel writes are a valid value.
trait Plain: Copy {}
impl Plain for libc::c_int {}
impl Plain for libc::tpacket_stats {}

fn getsockopt<T: Plain>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int) -> io::Result<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is writable for `len` bytes; the kernel writes at
    // most `len` bytes and stores the count in `len`.
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), level, name, value.as_mut_ptr().cast(), &raw mut len)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: T is `Plain` (integers only), so the zeroed bytes, partly
    // overwritten by the kernel, are a valid T.
    Ok(unsafe { value.assume_init() })
}
