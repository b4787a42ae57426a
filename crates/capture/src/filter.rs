//! Capture filters: a subset of the pcap-filter(7) language that tcpdump and
//! Wireshark's capture filters use, parsed here and evaluated in user space
//! on a frame's [`Headers`].
//!
//! Supported:
//!
//! - protocols: `ip`, `ip6`, `tcp`, `udp`, `icmp`, `icmp6`, `arp`;
//! - `host ADDR`, `net CIDR` (also `net 10.1` for 10.1.0.0/16), `port N`,
//!   `portrange A-B`, each optionally after `src`, `dst`, `src or dst`,
//!   `src and dst`, and after a protocol (`ip6 host ::1`, `tcp dst port 443`);
//! - `and`/`&&`, `or`/`||`, `not`/`!`, parentheses;
//! - pcap's abbreviations: a bare value repeats the qualifiers before it
//!   (`port 80 or 443`, `host 10.0.0.1 and not 10.0.0.2`), and a bare address
//!   is a `host`.
//!
//! Precedence is pcap's, so a filter means here what it means to tcpdump:
//! `not` binds tightest; `and` and `or` have *equal* precedence and group left
//! to right (`a or b and c` is `(a or b) and c`; tcpdump -d shows it).
//!
//! Host names and service names are not looked up: addresses and port
//! numbers only. Everything else (`ether`, `vlan`, `tcp[13]`, `less`...) is a
//! [`FilterError`] that names the token and its column.

use std::fmt;
use std::net::IpAddr;

use tlsscope_scope::frame::Frame;

use crate::headers::{Headers, proto};

/// A parsed capture filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    expr: Expr,
    text: String,
}

/// Why a filter expression was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at column {column})")]
pub struct FilterError {
    /// What is wrong, naming the offending token.
    pub message: String,
    /// 1-based column of the token in the expression.
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Expr {
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Prim(Prim),
}

/// A protocol name usable alone or as a qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Ip,
    Ip6,
    Tcp,
    Udp,
    Icmp,
    Icmp6,
    Arp,
}

impl Proto {
    fn parse(w: &str) -> Option<Proto> {
        Some(match w {
            "ip" => Proto::Ip,
            "ip6" => Proto::Ip6,
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "icmp" => Proto::Icmp,
            "icmp6" => Proto::Icmp6,
            "arp" => Proto::Arp,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Proto::Ip => "ip",
            Proto::Ip6 => "ip6",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Icmp6 => "icmp6",
            Proto::Arp => "arp",
        }
    }

    fn matches(self, h: &Headers) -> bool {
        match self {
            Proto::Ip => h.is_ipv4(),
            Proto::Ip6 => h.is_ipv6(),
            Proto::Tcp => h.is_ip_proto(proto::TCP),
            Proto::Udp => h.is_ip_proto(proto::UDP),
            Proto::Icmp => h.is_ipv4() && h.ip_proto == Some(proto::ICMP),
            Proto::Icmp6 => h.is_ipv6() && h.ip_proto == Some(proto::ICMPV6),
            Proto::Arp => h.is_arp(),
        }
    }
}

/// Which end of a packet a `host`, `net` or `port` primitive tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `src`: the source.
    Src,
    /// `dst`: the destination.
    Dst,
    /// `src or dst` (the default): either.
    SrcOrDst,
    /// `src and dst`: both.
    SrcAndDst,
}

impl Dir {
    fn test<T: Copy>(self, (src, dst): (T, T), f: impl Fn(T) -> bool) -> bool {
        match self {
            Dir::Src => f(src),
            Dir::Dst => f(dst),
            Dir::SrcOrDst => f(src) || f(dst),
            Dir::SrcAndDst => f(src) && f(dst),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Host,
    Net,
    Port,
    PortRange,
}

impl Kind {
    fn parse(w: &str) -> Option<Kind> {
        Some(match w {
            "host" => Kind::Host,
            "net" => Kind::Net,
            "port" => Kind::Port,
            "portrange" => Kind::PortRange,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Net => "net",
            Kind::Port => "port",
            Kind::PortRange => "portrange",
        }
    }
}

/// An IP network: address and prefix length, host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn contains(self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let host_bits = 32u32.checked_sub(u32::from(self.prefix));
                let mask = host_bits.and_then(|b| u32::MAX.checked_shl(b)).unwrap_or(0);
                u32::from(a) & mask == u32::from(n)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let host_bits = 128u32.checked_sub(u32::from(self.prefix));
                let mask = host_bits.and_then(|b| u128::MAX.checked_shl(b)).unwrap_or(0);
                u128::from(a) & mask == u128::from(n)
            }
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prim {
    Proto(Proto),
    Host { proto: Option<Proto>, dir: Dir, addr: IpAddr },
    Net { proto: Option<Proto>, dir: Dir, net: Cidr },
    Ports { proto: Option<Proto>, dir: Dir, lo: u16, hi: u16 },
}

impl Prim {
    fn matches(self, h: &Headers) -> bool {
        match self {
            Prim::Proto(p) => p.matches(h),
            Prim::Host { proto, dir, addr } => {
                addr_proto_ok(proto, h) && h.addrs.is_some_and(|a| dir.test(a, |x| x == addr))
            }
            Prim::Net { proto, dir, net } => {
                addr_proto_ok(proto, h) && h.addrs.is_some_and(|a| dir.test(a, |x| net.contains(x)))
            }
            Prim::Ports { proto, dir, lo, hi } => {
                let proto_ok = match proto {
                    Some(p) => p.matches(h),
                    None => h.is_ip_proto(proto::TCP) || h.is_ip_proto(proto::UDP),
                };
                proto_ok && h.ports.is_some_and(|p| dir.test(p, |x| (lo..=hi).contains(&x)))
            }
        }
    }
}

/// `host`/`net` with no protocol test IPv4, IPv6 and ARP addresses, as pcap's do.
fn addr_proto_ok(proto: Option<Proto>, h: &Headers) -> bool {
    match proto {
        Some(p) => p.matches(h),
        None => h.is_ipv4() || h.is_ipv6() || h.is_arp(),
    }
}

impl Expr {
    fn matches(&self, h: &Headers) -> bool {
        match self {
            Expr::Not(e) => !e.matches(h),
            Expr::And(a, b) => a.matches(h) && b.matches(h),
            Expr::Or(a, b) => a.matches(h) || b.matches(h),
            Expr::Prim(p) => p.matches(h),
        }
    }
}

/// A port test simple enough to run in the kernel (see `bpf`): the filter is
/// exactly one `port`/`portrange` primitive, possibly with `tcp`/`udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMatch {
    /// TCP segments can match.
    pub tcp: bool,
    /// UDP datagrams can match.
    pub udp: bool,
    /// Which port is tested.
    pub dir: Dir,
    /// Lowest port, inclusive.
    pub lo: u16,
    /// Highest port, inclusive.
    pub hi: u16,
}

impl Filter {
    /// Parses a filter expression.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens: &tokens,
            pos: 0,
            last: None,
            end: text.chars().count().saturating_add(1),
        };
        if tokens.is_empty() {
            return Err(FilterError { message: "empty filter expression".into(), column: 1 });
        }
        let expr = p.expr()?;
        if let Some(t) = p.peek() {
            let message = match t.tok {
                Tok::RParen => "unmatched `)`".to_string(),
                _ => format!("expected `and` or `or` before `{}`", t.text),
            };
            return Err(FilterError { message, column: t.column });
        }
        Ok(Filter { expr, text: text.trim().to_string() })
    }

    /// `tcp port N`, what `--port N` means.
    pub fn tcp_port(port: u16) -> Filter {
        Filter {
            expr: Expr::Prim(Prim::Ports {
                proto: Some(Proto::Tcp),
                dir: Dir::SrcOrDst,
                lo: port,
                hi: port,
            }),
            text: format!("tcp port {port}"),
        }
    }

    /// The expression as given (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a frame passes the filter.
    pub fn matches(&self, frame: &Frame<'_>) -> bool {
        self.matches_headers(&Headers::of(frame))
    }

    /// Whether headers already read pass the filter.
    pub fn matches_headers(&self, h: &Headers) -> bool {
        self.expr.matches(h)
    }

    /// The filter as a single port test, when it is one (`port 443`,
    /// `tcp dst portrange 8000-8999`, `tcp and port 443`).
    pub fn as_port_match(&self) -> Option<PortMatch> {
        let ports = |proto: Option<Proto>, dir, lo, hi| {
            let (tcp, udp) = match proto {
                None => (true, true),
                Some(Proto::Tcp) => (true, false),
                Some(Proto::Udp) => (false, true),
                Some(_) => return None,
            };
            Some(PortMatch { tcp, udp, dir, lo, hi })
        };
        match &self.expr {
            Expr::Prim(Prim::Ports { proto, dir, lo, hi }) => ports(*proto, *dir, *lo, *hi),
            Expr::And(a, b) => match (&**a, &**b) {
                (
                    Expr::Prim(Prim::Proto(p)),
                    Expr::Prim(Prim::Ports { proto: None, dir, lo, hi }),
                )
                | (
                    Expr::Prim(Prim::Ports { proto: None, dir, lo, hi }),
                    Expr::Prim(Prim::Proto(p)),
                ) => ports(Some(*p), *dir, *lo, *hi),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Filter, FilterError> {
        Filter::parse(s)
    }
}

// ---------------------------------------------------------------- tokens

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Word,
    LParen,
    RParen,
    Not,
    And,
    Or,
}

#[derive(Clone, Debug)]
struct Token<'a> {
    tok: Tok,
    text: &'a str,
    column: usize,
}

const SUPPORTED: &str = "supported: ip, ip6, tcp, udp, icmp, icmp6, arp, [src|dst] host ADDR, \
                         net CIDR, port N, portrange A-B, and/&&, or/||, not/!, parentheses";

/// pcap-filter words we do not implement, so they get "not supported"
/// rather than "not an address".
const PCAP_KEYWORDS: &[&str] = &[
    "ether",
    "vlan",
    "mpls",
    "proto",
    "protochain",
    "less",
    "greater",
    "len",
    "broadcast",
    "multicast",
    "gateway",
    "inbound",
    "outbound",
    "ifname",
    "on",
    "sctp",
    "igmp",
    "rarp",
    "pppoes",
    "pppoed",
    "geneve",
    "type",
    "subtype",
    "wlan",
    "link",
    "llc",
    "decnet",
    "atalk",
    "aarp",
    "iso",
    "stp",
    "ipx",
    "netbeui",
    "lat",
    "moprc",
    "mopdl",
    "ah",
    "esp",
    "pim",
    "vrrp",
    "carp",
    "icmptype",
    "icmp6type",
    "tcpflags",
    "mask",
    "fddi",
    "tr",
    "radio",
];

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '-' | '_')
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let mut out = Vec::new();
    // Columns count characters from 1.
    let mut it = (1usize..).zip(text.char_indices()).peekable();
    while let Some((column, (at, c))) = it.next() {
        let single = |tok, len: usize| Token {
            tok,
            text: text.get(at..).and_then(|t| t.get(..len)).unwrap_or(""),
            column,
        };
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(single(Tok::LParen, 1)),
            ')' => out.push(single(Tok::RParen, 1)),
            '!' if it.peek().is_some_and(|(_, (_, n))| *n == '=') => {
                return Err(unsupported("!=", column));
            }
            '!' => out.push(single(Tok::Not, 1)),
            '&' | '|' => {
                if it.peek().is_some_and(|(_, (_, n))| *n == c) {
                    it.next();
                    out.push(single(if c == '&' { Tok::And } else { Tok::Or }, 2));
                } else {
                    return Err(unsupported(&c.to_string(), column));
                }
            }
            c if is_word_char(c) => {
                while it.next_if(|&(_, (_, n))| is_word_char(n)).is_some() {}
                // The word ends where the next character starts.
                let end = it.peek().map_or(text.len(), |&(_, (i, _))| i);
                let word = text.get(at..end).unwrap_or("");
                let tok = match word {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    _ => Tok::Word,
                };
                out.push(Token { tok, text: word, column });
            }
            other => return Err(unsupported(&other.to_string(), column)),
        }
    }
    Ok(out)
}

fn unsupported(token: &str, column: usize) -> FilterError {
    FilterError { message: format!("`{token}` is not supported ({SUPPORTED})"), column }
}

// ---------------------------------------------------------------- parser

struct Parser<'t, 'a> {
    tokens: &'t [Token<'a>],
    pos: usize,
    /// Qualifiers of the last primitive with a value, for abbreviations.
    last: Option<(Option<Proto>, Dir, Kind)>,
    /// Column just past the end, for "at the end" errors.
    end: usize,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Token<'a>> {
        self.tokens.get(self.pos..)?.get(n)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.pos).cloned();
        if t.is_some() {
            // Below the number of tokens: no overflow.
            self.pos = self.pos.saturating_add(1);
        }
        t
    }

    fn err(&self, message: String, column: usize) -> FilterError {
        FilterError { message, column }
    }

    /// expr := unary (("and" | "or") unary)*, left to right, one precedence.
    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while let Some(op) = self.peek().map(|t| t.tok).filter(|t| matches!(t, Tok::And | Tok::Or))
        {
            self.next();
            let right = self.unary()?;
            left = match op {
                Tok::And => Expr::And(Box::new(left), Box::new(right)),
                _ => Expr::Or(Box::new(left), Box::new(right)),
            };
        }
        Ok(left)
    }

    /// unary := "not" unary | "(" expr ")" | primitive
    fn unary(&mut self) -> Result<Expr, FilterError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.err(
                "the expression ends where a primitive (e.g. `tcp`, `port 443`) should be".into(),
                self.end,
            ));
        };
        match t.tok {
            Tok::Not => {
                self.next();
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Tok::LParen => {
                self.next();
                let e = self.expr()?;
                match self.next() {
                    Some(Token { tok: Tok::RParen, .. }) => Ok(e),
                    Some(other) => Err(self.err(
                        format!(
                            "expected `)` (for the `(` at column {}) before `{}`",
                            t.column, other.text
                        ),
                        other.column,
                    )),
                    None => Err(self
                        .err(format!("missing `)` for the `(` at column {}", t.column), self.end)),
                }
            }
            Tok::Word => self.primitive().map(Expr::Prim),
            Tok::RParen | Tok::And | Tok::Or => Err(self.err(
                format!(
                    "expected a primitive (e.g. `tcp`, `port 443`, `host 10.0.0.1`) before `{}`",
                    t.text
                ),
                t.column,
            )),
        }
    }

    fn is_value_next(&self) -> bool {
        self.peek().is_some_and(|t| {
            t.tok == Tok::Word
                && Proto::parse(t.text).is_none()
                && Kind::parse(t.text).is_none()
                && !matches!(t.text, "src" | "dst")
        })
    }

    /// primitive := [proto] [dir] [kind] value | proto | value
    fn primitive(&mut self) -> Result<Prim, FilterError> {
        let first = self.peek().cloned();
        let proto = match self.peek().and_then(|t| Proto::parse(t.text)) {
            Some(p) => {
                self.next();
                Some(p)
            }
            None => None,
        };
        let dir = self.dir();
        let kind = match self.peek().and_then(|t| Kind::parse(t.text)) {
            Some(k) => {
                self.next();
                Some(k)
            }
            None => None,
        };
        if let (Some(p), None, None) = (proto, dir, kind)
            && !self.is_value_next()
        {
            return Ok(Prim::Proto(p));
        }
        let Some(value) = self.peek().cloned().filter(|_| self.is_value_next()) else {
            let after = self.tokens.get(self.pos.wrapping_sub(1)).map_or("", |t| t.text);
            return Err(match self.peek() {
                Some(t) => self
                    .err(format!("expected a value after `{after}`, found `{}`", t.text), t.column),
                None => self.err(format!("expected a value after `{after}`"), self.end),
            });
        };
        if PCAP_KEYWORDS.contains(&value.text) {
            return Err(unsupported(value.text, value.column));
        }
        // A bare value: pcap repeats the previous qualifiers, or takes an
        // address as `host`.
        let (proto, dir, kind) = if proto.is_none() && dir.is_none() && kind.is_none() {
            match self.last {
                Some(q) => q,
                None if looks_like_address(value.text) => (None, Dir::SrcOrDst, Kind::Host),
                None => {
                    let f = first.map_or(value.column, |t| t.column);
                    return Err(if value.text.starts_with(|c: char| c.is_ascii_digit()) {
                        self.err(
                            format!(
                                "`{}` needs a qualifier before it (e.g. `port {}`)",
                                value.text, value.text
                            ),
                            f,
                        )
                    } else {
                        unsupported(value.text, f)
                    });
                }
            }
        } else {
            (proto, dir.unwrap_or(Dir::SrcOrDst), kind.unwrap_or(Kind::Host))
        };
        self.next();
        let prim = self.build(proto, dir, kind, &value)?;
        if kind == Kind::Net
            && let Some(t) = self.peek().filter(|t| t.text == "mask")
        {
            return Err(self.err(
                format!(
                    "`mask` is not supported: write the network as CIDR (`net {}/LEN`)",
                    value.text
                ),
                t.column,
            ));
        }
        self.last = Some((proto, dir, kind));
        Ok(prim)
    }

    /// dir := "src" | "dst" | "src or dst" | "src and dst" | "dst or src" | "dst and src"
    fn dir(&mut self) -> Option<Dir> {
        let first = self.peek()?.text;
        let d = match first {
            "src" => Dir::Src,
            "dst" => Dir::Dst,
            _ => return None,
        };
        self.next();
        let other = if d == Dir::Src { "dst" } else { "src" };
        if let (Some(op), Some(w)) = (self.peek(), self.peek_at(1))
            && matches!(op.tok, Tok::And | Tok::Or)
            && w.tok == Tok::Word
            && w.text == other
        {
            let both = if op.tok == Tok::Or { Dir::SrcOrDst } else { Dir::SrcAndDst };
            // The `and`/`or` and the other direction.
            self.next();
            self.next();
            return Some(both);
        }
        Some(d)
    }

    fn build(
        &self,
        proto: Option<Proto>,
        dir: Dir,
        kind: Kind,
        value: &Token<'_>,
    ) -> Result<Prim, FilterError> {
        let v = value.text;
        let col = value.column;
        match kind {
            Kind::Host | Kind::Net => {
                let (addr, prefix) = if kind == Kind::Host {
                    let addr: IpAddr = v.parse().map_err(|_| {
                        self.err(
                            format!(
                                "`{v}` is not an IP address (host names are not looked up: give an \
                                 IPv4 or IPv6 address)"
                            ),
                            col,
                        )
                    })?;
                    (addr, if addr.is_ipv4() { 32 } else { 128 })
                } else {
                    parse_net(v).map_err(|m| self.err(m, col))?
                };
                match (proto, addr) {
                    (None, _)
                    | (Some(Proto::Ip | Proto::Arp), IpAddr::V4(_))
                    | (Some(Proto::Ip6), IpAddr::V6(_)) => {}
                    (Some(p @ (Proto::Ip | Proto::Arp)), IpAddr::V6(_)) => {
                        return Err(self.err(
                            format!("`{} {}`: `{v}` is an IPv6 address", p.name(), kind.name()),
                            col,
                        ));
                    }
                    (Some(Proto::Ip6), IpAddr::V4(_)) => {
                        return Err(self
                            .err(format!("`ip6 {}`: `{v}` is an IPv4 address", kind.name()), col));
                    }
                    (Some(p), _) => {
                        return Err(self.err(
                            format!(
                                "`{} {}` is not supported: {} takes ip, ip6 or arp (write `{} and {} {v}`)",
                                p.name(),
                                kind.name(),
                                kind.name(),
                                p.name(),
                                kind.name()
                            ),
                            col,
                        ));
                    }
                }
                if kind == Kind::Host {
                    Ok(Prim::Host { proto, dir, addr })
                } else {
                    Ok(Prim::Net { proto, dir, net: Cidr { addr, prefix } })
                }
            }
            Kind::Port | Kind::PortRange => {
                if let Some(p) = proto.filter(|p| !matches!(p, Proto::Tcp | Proto::Udp)) {
                    return Err(self.err(
                        format!(
                            "`{} {}` is not supported: {} takes tcp or udp (write `{} and {} {v}`)",
                            p.name(),
                            kind.name(),
                            kind.name(),
                            p.name(),
                            kind.name()
                        ),
                        col,
                    ));
                }
                let (lo, hi) = if kind == Kind::Port {
                    let p = parse_port(v).map_err(|m| self.err(m, col))?;
                    (p, p)
                } else {
                    let (a, b) = v.split_once('-').ok_or_else(|| {
                        self.err(
                            format!(
                                "`portrange {v}`: write the range as LOW-HIGH (e.g. 8000-8999)"
                            ),
                            col,
                        )
                    })?;
                    let a = parse_port(a).map_err(|m| self.err(m, col))?;
                    let b = parse_port(b).map_err(|m| self.err(m, col))?;
                    // pcap accepts the ends in either order.
                    (a.min(b), a.max(b))
                };
                Ok(Prim::Ports { proto, dir, lo, hi })
            }
        }
    }
}

fn looks_like_address(v: &str) -> bool {
    v.parse::<IpAddr>().is_ok()
}

fn parse_port(v: &str) -> Result<u16, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "`{v}` is not a port number (service names are not looked up: give 0-65535)"
        ));
    }
    v.parse().map_err(|_| format!("`{v}` is not a port number (0-65535)"))
}

/// `10.0.0.0/8`, `fd00::/8`, an address alone (a /32 or /128), or pcap's
/// short IPv4 forms `10`, `10.1`, `10.1.2` (/8, /16, /24).
fn parse_net(v: &str) -> Result<(IpAddr, u8), String> {
    let (addr_s, len_s) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let (addr, implied): (IpAddr, u8) = match addr_s.parse::<IpAddr>() {
        Ok(a) => (a, if a.is_ipv4() { 32 } else { 128 }),
        Err(_) => {
            let parts: Vec<&str> = addr_s.split('.').collect();
            let octets: Option<Vec<u8>> = parts.iter().map(|p| p.parse::<u8>().ok()).collect();
            match octets {
                Some(o) if (1..=3).contains(&o.len()) => {
                    let mut b = [0u8; 4];
                    for (dst, src) in b.iter_mut().zip(&o) {
                        *dst = *src;
                    }
                    // 1 to 3 octets: 8 to 24 bits.
                    (IpAddr::from(b), 8u8.saturating_mul(o.len() as u8))
                }
                _ => {
                    return Err(format!(
                        "`{v}` is not a network (write CIDR, e.g. 10.0.0.0/8 or fd00::/8)"
                    ));
                }
            }
        }
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match len_s {
        None => implied,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => return Err(format!("`{v}`: the prefix length must be 0-{max}")),
        },
    };
    let net = Cidr { addr, prefix };
    // Host bits set is almost always a typo; pcap rejects it too.
    if !net.contains(addr) {
        return Err(format!("`{v}`: the address has bits set beyond the /{prefix} prefix"));
    }
    Ok((addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use tlsscope_scope::frame::LinkType;
    use tlsscope_scope::time::Timestamp;

    fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut d = Vec::new();
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4(src, dst, 64)
            .tcp(sport, dport, 1, 100)
            .write(&mut d, b"x")
            .unwrap();
        d
    }

    fn udp6(sport: u16, dport: u16) -> Vec<u8> {
        let mut d = Vec::new();
        let mut src = [0u8; 16];
        src[15] = 1;
        PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv6(src, [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 64)
            .udp(sport, dport)
            .write(&mut d, b"x")
            .unwrap();
        d
    }

    fn m(filter: &str, data: &[u8]) -> bool {
        let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let frame = Frame {
            number: 1,
            ts: Timestamp(0),
            link: LinkType::ETHERNET,
            data,
            orig_len: 0,
            file_offset: None,
        };
        f.matches(&frame)
    }

    fn err(filter: &str) -> FilterError {
        Filter::parse(filter).expect_err(filter)
    }

    /// 10.0.0.1:40000 → 10.0.0.2:443 over TCP.
    fn web() -> Vec<u8> {
        tcp4([10, 0, 0, 1], 40000, [10, 0, 0, 2], 443)
    }

    #[test]
    fn protocols() {
        let (t, u) = (web(), udp6(53, 5353));
        for (f, tm, um) in [
            ("tcp", true, false),
            ("udp", false, true),
            ("ip", true, false),
            ("ip6", false, true),
            ("icmp", false, false),
            ("icmp6", false, false),
            ("arp", false, false),
        ] {
            assert_eq!((m(f, &t), m(f, &u)), (tm, um), "{f}");
        }
    }

    #[test]
    fn ports_and_directions() {
        let t = web();
        assert!(m("port 443", &t));
        assert!(m("port 40000", &t));
        assert!(!m("port 80", &t));
        assert!(m("dst port 443", &t));
        assert!(!m("src port 443", &t));
        assert!(m("src port 40000", &t));
        assert!(m("src or dst port 443", &t));
        assert!(!m("src and dst port 443", &t));
        assert!(m("dst and src portrange 443-40000", &t));
        assert!(m("tcp port 443", &t));
        assert!(!m("udp port 443", &t));
        assert!(m("tcp dst port 443", &t));
        assert!(m("portrange 400-500", &t));
        assert!(m("portrange 500-400", &t), "ends in either order");
        assert!(!m("portrange 444-39999", &t));
        assert!(m("udp portrange 5000-6000", &udp6(53, 5353)));
    }

    #[test]
    fn hosts_and_nets() {
        let t = web();
        assert!(m("host 10.0.0.1", &t));
        assert!(m("src host 10.0.0.1", &t));
        assert!(!m("dst host 10.0.0.1", &t));
        assert!(m("dst 10.0.0.2", &t), "dir alone means host");
        assert!(m("10.0.0.2", &t), "a bare address is a host");
        assert!(m("ip host 10.0.0.2", &t));
        assert!(!m("ip6 host ::1", &t));
        assert!(m("net 10.0.0.0/8", &t));
        assert!(m("net 10", &t));
        assert!(m("net 10.0.0", &t));
        assert!(m("src net 10.0.0.0/31", &t));
        assert!(!m("net 10.0.1.0/24", &t));
        assert!(m("net 0.0.0.0/0", &t));
        let u = udp6(1, 2);
        assert!(m("host ::1", &u));
        assert!(m("dst net fd00::/8", &u));
        assert!(!m("src net fd00::/8", &u));
        assert!(m("ip6 src host ::1", &u));
        assert!(m("src and dst net ::/0", &u));
    }

    #[test]
    fn boolean_operators_in_both_spellings() {
        let t = web();
        for (f, want) in [
            ("tcp and port 443", true),
            ("tcp && port 80", false),
            ("udp or port 443", true),
            ("udp || port 80", false),
            ("not udp", true),
            ("! tcp", false),
            ("!tcp", false),
            ("not not tcp", true),
            ("(udp or tcp) and (port 443)", true),
            ("((tcp))", true),
            ("tcp&&!udp", true),
        ] {
            assert_eq!(m(f, &t), want, "{f}");
        }
    }

    #[test]
    fn not_binds_tighter_than_and_and_or() {
        let t = web();
        // (not udp) and tcp, not: not (udp and tcp).
        assert!(m("not udp and tcp", &t));
        // (not tcp) or port 443.
        assert!(m("not tcp or port 443", &t));
        assert!(!m("not tcp or port 80", &t));
    }

    #[test]
    fn and_and_or_group_left_to_right_as_in_pcap() {
        let t = web();
        // pcap: (tcp or udp) and port 80 → false; with `and` binding
        // tighter it would be tcp or (udp and port 80) → true.
        assert!(!m("tcp or udp and port 80", &t));
        assert!(m("tcp or (udp and port 80)", &t));
        // (udp and port 80) or tcp → true either way.
        assert!(m("udp and port 80 or tcp", &t));
        // (port 80 or tcp) and not ip → false.
        assert!(!m("port 80 or tcp and not ip", &t));
    }

    #[test]
    fn bare_values_repeat_the_previous_qualifiers() {
        let t = web();
        assert!(m("port 80 or 443", &t));
        assert!(!m("port 80 or 8443", &t));
        assert!(!m("tcp dst port 40000 or 1", &t), "`1` is `tcp dst port 1`");
        assert!(m("host 10.0.0.9 or 10.0.0.1", &t));
        assert!(!m("host 10.0.0.1 and not 10.0.0.2", &t));
        assert!(m("src host 10.0.0.1 and not 10.0.0.2", &t), "`not src host 10.0.0.2`");
    }

    #[test]
    fn tcp_port_is_the_port_shorthand() {
        let f = Filter::tcp_port(443);
        assert_eq!(f, Filter::parse("tcp port 443").unwrap());
        assert_eq!(f.to_string(), "tcp port 443");
        assert!(f.matches_headers(&Headers::of(&Frame {
            number: 1,
            ts: Timestamp(0),
            link: LinkType::ETHERNET,
            data: &web(),
            orig_len: 0,
            file_offset: None,
        })));
    }

    #[test]
    fn simple_port_filters_become_port_matches() {
        let pm = |f: &str| Filter::parse(f).unwrap().as_port_match();
        let tcp443 = PortMatch { tcp: true, udp: false, dir: Dir::SrcOrDst, lo: 443, hi: 443 };
        assert_eq!(pm("tcp port 443"), Some(tcp443));
        assert_eq!(pm("tcp and port 443"), Some(tcp443));
        assert_eq!(pm("port 443 and tcp"), Some(tcp443));
        assert_eq!(
            pm("dst portrange 1-2"),
            Some(PortMatch { tcp: true, udp: true, dir: Dir::Dst, lo: 1, hi: 2 })
        );
        assert_eq!(
            pm("udp and src port 5"),
            Some(PortMatch { tcp: false, udp: true, dir: Dir::Src, lo: 5, hi: 5 })
        );
        for f in [
            "port 1 or port 2",
            "not port 1",
            "tcp",
            "host ::1",
            "ip and port 1",
            "tcp and udp port 1",
        ] {
            assert_eq!(pm(f), None, "{f}");
        }
    }

    #[test]
    fn errors_name_the_token_and_column() {
        let e = err("ether host 1.2.3.4");
        assert!(e.message.contains("`ether` is not supported"), "{e}");
        assert_eq!(e.column, 1);
        let e = err("tcp[13] & 2 != 0");
        assert!(e.message.contains("`[`"), "{e}");
        assert_eq!(e.column, 4);
        let e = err("port https");
        assert!(e.message.contains("`https` is not a port number"), "{e}");
        assert_eq!(e.column, 6);
        assert!(err("port 70000").message.contains("`70000`"));
        assert!(err("host example.com").message.contains("host names are not looked up"));
        assert!(err("(tcp or udp").message.contains("missing `)`"));
        let e = err("tcp or udp)");
        assert_eq!((e.message.as_str(), e.column), ("unmatched `)`", 11));
        assert!(err("tcp and").message.contains("ends where a primitive"));
        assert!(err("and tcp").message.contains("before `and`"));
        assert!(err("tcp udp").message.contains("expected `and` or `or` before `udp`"));
        assert!(err("port").message.contains("expected a value after `port`"));
        assert!(err("80").message.contains("`80` needs a qualifier"));
        assert!(err("tcp host 1.2.3.4").message.contains("`tcp host` is not supported"));
        assert!(err("icmp port 1").message.contains("`icmp port` is not supported"));
        assert!(err("ip host ::1").message.contains("IPv6 address"));
        assert!(err("ip6 net 10.0.0.0/8").message.contains("IPv4 address"));
        assert!(err("net 10.0.0.0 mask 255.0.0.0").message.contains("`mask` is not supported"));
        assert!(err("net 10.0.0.1/8").message.contains("bits set beyond"));
        assert!(err("net 10.0.0.0/33").message.contains("0-32"));
        assert!(err("portrange 1").message.contains("LOW-HIGH"));
        assert!(err("tcp port 1 | udp").message.contains("`|`"));
        assert!(err("ip proto 6").message.contains("`proto`"), "{}", err("ip proto 6"));
        assert!(err("greater 100").message.contains("`greater` is not supported"));
        assert_eq!(err("   ").message, "empty filter expression");
        let shown = err("vlan").to_string();
        assert!(shown.starts_with("`vlan` is not supported (supported: ip, ip6, tcp"), "{shown}");
        assert!(shown.ends_with("(at column 1)"), "{shown}");
    }

    #[test]
    fn never_panics_on_odd_input() {
        for f in [
            "",
            "(",
            ")",
            "!",
            "not",
            "src",
            "src or",
            "src or dst",
            "portrange -",
            "net /",
            "host ::",
            "é",
            "((((",
            "port 1 or",
            "a-b-c",
        ] {
            let _ = Filter::parse(f);
        }
    }
}
