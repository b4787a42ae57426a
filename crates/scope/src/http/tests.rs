//! Tests of the whole decoder: hand-built HTTP/1 and HTTP/2 conversations,
//! split and truncation sweeps, gaps, limits, and real captures (made by
//! testdata/http/make-fixtures.sh) checked against tshark's decoding.

use std::io::Write;

use super::h2::{flag, kind};
use super::hpack::{Indexing, encode_indexed, encode_int, encode_literal};
use super::*;
use crate::flow::{Chunk, ConnInfo, EndReason, Limits, Reassembler, StreamSink};
use crate::frame::{Frame, LinkType};
use crate::tree::check_invariants;

const C: Dir = Dir::ClientToServer;
const S: Dir = Dir::ServerToClient;

/// Runs a conversation: piece `i` is carried by frame `i + 1`; `None`
/// bytes with a length are a gap.
fn run_with(conn: &mut HttpConn, script: &[(Dir, &[u8])]) -> Vec<HttpEvent> {
    let mut events = Vec::new();
    for (i, (dir, bytes)) in script.iter().enumerate() {
        conn.push(*dir, bytes, i as u64 + 1, Timestamp(i as i64), &mut |e| events.push(e));
    }
    conn.finish(&mut |e| events.push(e));
    events
}

fn run(opts: HttpOptions, script: &[(Dir, &[u8])]) -> Vec<HttpEvent> {
    run_with(&mut HttpConn::new(opts), script)
}

fn trees() -> HttpOptions {
    HttpOptions { trees: true, ..HttpOptions::default() }
}

fn exchanges(events: &[HttpEvent]) -> Vec<&Exchange> {
    events
        .iter()
        .filter_map(|e| match e {
            HttpEvent::Exchange(x) => Some(&**x),
            _ => None,
        })
        .collect()
}

fn frames(events: &[HttpEvent]) -> Vec<&H2FrameInfo> {
    events
        .iter()
        .filter_map(|e| match e {
            HttpEvent::H2Frame(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn diags(events: &[HttpEvent]) -> Vec<&Diagnostic> {
    events
        .iter()
        .filter_map(|e| match e {
            HttpEvent::Diagnostic(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn raw(events: &[HttpEvent], dir: Dir) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        if let HttpEvent::Raw { dir: d, data, .. } = e
            && *d == dir
        {
            out.extend_from_slice(data);
        }
    }
    out
}

/// Events with raw pieces merged per direction (splitting a piece splits
/// its raw event; nothing else may change).
fn normalized(events: Vec<HttpEvent>) -> Vec<HttpEvent> {
    let mut out: Vec<HttpEvent> = Vec::new();
    for e in events {
        if let HttpEvent::Raw { dir, data, frame } = &e
            && let Some(HttpEvent::Raw { dir: d, data: prev, frame: f }) = out.last_mut()
            && d == dir
            && f == frame
        {
            prev.extend_from_slice(data);
            continue;
        }
        out.push(e);
    }
    out
}

fn check_trees(events: &[HttpEvent]) {
    for e in events {
        match e {
            HttpEvent::H2Frame(f) => {
                check_invariants(&f.tree, None).unwrap_or_else(|e| panic!("{}: {e}", f.summary));
                if let Some(last) = f.tree.last() {
                    assert!(last.span.end() <= 9 + f.length, "{}: {:?}", f.summary, last.span);
                }
            }
            HttpEvent::Exchange(x) => {
                check_invariants(&x.request_tree, None).unwrap();
                check_invariants(&x.response_tree, None).unwrap();
            }
            _ => {}
        }
    }
}

/// Feeding every piece in two at every split point, and byte by byte,
/// gives the same events.
fn split_sweep(opts: HttpOptions, script: &[(Dir, &[u8])]) {
    let whole = normalized(run(opts, script));
    for (i, (dir, bytes)) in script.iter().enumerate() {
        for cut in 1..bytes.len() {
            let mut conn = HttpConn::new(opts);
            let mut events = Vec::new();
            for (j, (d, b)) in script.iter().enumerate() {
                let (f, ts) = (j as u64 + 1, Timestamp(j as i64));
                if i == j {
                    conn.push(*dir, &bytes[..cut], f, ts, &mut |e| events.push(e));
                    conn.push(*dir, &bytes[cut..], f, ts, &mut |e| events.push(e));
                } else {
                    conn.push(*d, b, f, ts, &mut |e| events.push(e));
                }
            }
            conn.finish(&mut |e| events.push(e));
            assert_eq!(normalized(events), whole, "piece {i} split at {cut}");
        }
    }
    let mut conn = HttpConn::new(opts);
    let mut events = Vec::new();
    for (j, (d, b)) in script.iter().enumerate() {
        for byte in b.chunks(1) {
            conn.push(*d, byte, j as u64 + 1, Timestamp(j as i64), &mut |e| events.push(e));
        }
    }
    conn.finish(&mut |e| events.push(e));
    assert_eq!(normalized(events), whole, "byte by byte");
}

/// Every prefix of the conversation (the capture ending anywhere) is
/// decoded without a panic, reports what it has, and keeps the trees valid.
fn prefix_sweep(opts: HttpOptions, script: &[(Dir, &[u8])]) {
    let total: usize = script.iter().map(|(_, b)| b.len()).sum();
    for n in 0..=total {
        let mut left = n;
        let mut cut: Vec<(Dir, &[u8])> = Vec::new();
        for (d, b) in script {
            let take = left.min(b.len());
            cut.push((*d, &b[..take]));
            left -= take;
        }
        let events = run(opts, &cut);
        check_trees(&events);
        for x in exchanges(&events) {
            assert!(x.response_body.bytes.len() as u64 <= x.response_body.len);
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn h(x: &Exchange, name: &str) -> Option<String> {
    header(&x.response_headers, name).map(|v| String::from_utf8_lossy(v).into_owned())
}

// ---------------------------------------------------------------------------
// HTTP/1

const REQ1: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
const RESP1: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nHello World!";
const REQ2: &[u8] = b"POST /echo HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n";
const RESP2: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Check: 1\r\n\r\n";

#[test]
fn keep_alive_with_two_requests() {
    let events = run(trees(), &[(C, REQ1), (S, RESP1), (C, REQ2), (S, RESP2)]);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 2, "{events:#?}");
    let a = xs[0];
    assert_eq!(a.version, "HTTP/1.1");
    assert_eq!(a.method.as_deref(), Some("GET"));
    assert_eq!(a.path.as_deref(), Some("/"));
    assert_eq!(a.authority.as_deref(), Some("example.com"));
    assert_eq!(a.status, Some(200));
    assert_eq!(a.reason.as_deref(), Some("OK"));
    assert_eq!(a.response_body.bytes, b"Hello World!");
    assert_eq!(a.response_body.len, 12);
    assert_eq!((a.request_frame, a.response_frame, a.end_frame), (Some(1), Some(2), Some(2)));
    assert_eq!((a.request_offset, a.response_offset), (Some(0), Some(0)));
    assert!(a.complete);
    assert_eq!(a.request_headers[0], ("Host".to_string(), b"example.com".to_vec()));
    let b = xs[1];
    assert_eq!(b.method.as_deref(), Some("POST"));
    assert_eq!(b.request_body.bytes, b"hello world");
    assert_eq!(b.request_trailers, vec![("X-Sum".to_string(), b"11".to_vec())]);
    assert_eq!(b.response_body.bytes, b"Wikipedia in\r\n\r\nchunks.");
    assert_eq!(b.response_trailers.len(), 2);
    assert_eq!(
        (b.request_offset, b.response_offset),
        (Some(REQ1.len() as u64), Some(RESP1.len() as u64))
    );
    assert!(b.complete);
    assert!(diags(&events).is_empty(), "{:?}", diags(&events));
    check_trees(&events);
    // The request tree: request line, headers, chunked body with chunks.
    let t = &b.request_tree;
    assert_eq!(t[0].key, "request_line");
    assert_eq!(t[0].children[0].value, "POST");
    let body = t.iter().find(|f| f.key == "body").unwrap();
    assert_eq!(body.label, "Chunked body: 3 chunks");
    assert_eq!(body.span.end() as usize, REQ2.len());
    let c1 = &body.children[0];
    assert_eq!(&REQ2[c1.span.start as usize..c1.span.end() as usize], b"5\r\nhello\r\n");
    let d = &c1.children[1];
    assert_eq!(&REQ2[d.span.start as usize..d.span.end() as usize], b"hello");
    let hdr = &t[1].children[0];
    assert_eq!(&REQ2[hdr.span.start as usize..hdr.span.end() as usize], b"Host: example.com");
    let st = &a.response_tree[0];
    assert_eq!(st.children[1].value, "200");
    assert_eq!(
        &RESP1[st.children[2].span.start as usize..st.children[2].span.end() as usize],
        b"OK"
    );
}

#[test]
fn bodies_are_decoded_for_display() {
    let text = b"Hello, compressed world! ".repeat(40);
    let mut script_bytes = Vec::new();
    for (enc, body) in [
        ("gzip", gzip(&text)),
        ("br", brotli(&text)),
        ("deflate", zlib(&text)),
        ("identity", text.clone()),
    ] {
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: {enc}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend_from_slice(&body);
        script_bytes.push((format!("GET /{enc} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(), resp));
    }
    let script: Vec<(Dir, &[u8])> =
        script_bytes.iter().flat_map(|(q, r)| [(C, &q[..]), (S, &r[..])]).collect();
    let events = run(HttpOptions::default(), &script);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 4);
    for x in &xs[..3] {
        assert_eq!(x.response_body.decoded.as_deref(), Some(&text[..]), "{:?}", x.path);
        assert!(x.response_body.decode_error.is_none());
        assert!(x.response_body.len < text.len() as u64);
    }
    assert!(xs[3].response_body.decoded.is_none());
    // Raw deflate (no zlib wrapper), as some servers send it.
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    raw.write_all(&text).unwrap();
    let mut b =
        Body { bytes: raw.finish().unwrap(), encoding: Some("deflate".into()), ..Body::default() };
    b.decode(1 << 20, &mut usize::MAX.clone(), &Budget::default());
    assert_eq!(b.decoded.as_deref(), Some(&text[..]));
}

#[test]
fn a_connection_of_decompression_bombs_decodes_a_bounded_amount_and_says_so() {
    // 200 responses of a few hundred bytes, each inflating to 1 MiB.
    let bomb = brotli(&vec![0u8; 1 << 20]);
    let mut script_bytes = Vec::new();
    for i in 0..200 {
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: {}\r\n\r\n",
            bomb.len()
        )
        .into_bytes();
        resp.extend_from_slice(&bomb);
        script_bytes.push((format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(), resp));
    }
    let script: Vec<(Dir, &[u8])> =
        script_bytes.iter().flat_map(|(q, r)| [(C, &q[..]), (S, &r[..])]).collect();
    let opts = HttpOptions::default();
    let events = run(opts, &script);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 200);
    let decoded: usize =
        xs.iter().filter_map(|x| x.response_body.decoded.as_ref()).map(Vec::len).sum();
    assert_eq!(decoded, opts.max_decoded_per_conn, "decoding stops at the connection's limit");
    let cut = xs.iter().filter(|x| x.response_body.decoded_cut).count();
    assert_eq!(cut * opts.max_decoded, opts.max_decoded_per_conn);
    assert!(xs.iter().all(|x| x.response_body.decoded.is_none() || x.response_body.decoded_cut));
    let notes: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            HttpEvent::Diagnostic(d) => Some(d.code),
            _ => None,
        })
        .collect();
    assert_eq!(notes.iter().filter(|c| **c == "http.body_limit").count(), cut);
    assert_eq!(notes.iter().filter(|c| **c == "http.decode_limit").count(), 1);
}

#[test]
fn a_connection_keeps_header_lists_up_to_its_limit_then_pseudo_headers_only() {
    let mut script_bytes = Vec::new();
    for i in 0..10 {
        let q = format!("GET /{i} HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n", "c".repeat(1000));
        script_bytes.push((q.into_bytes(), b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()));
    }
    let script: Vec<(Dir, &[u8])> =
        script_bytes.iter().flat_map(|(q, r)| [(C, &q[..]), (S, &r[..])]).collect();
    let opts = HttpOptions { max_headers_per_conn: 5000, ..HttpOptions::default() };
    let events = run(opts, &script);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 10);
    let kept = xs.iter().filter(|x| !x.request_headers.is_empty()).count();
    assert_eq!(kept, 4, "about 1 KiB each: four fit in 5000 bytes");
    // What the exchanges are is still known.
    assert!(xs.iter().all(|x| x.method.as_deref() == Some("GET") && x.status == Some(204)));
    let notes: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            HttpEvent::Diagnostic(d) if d.code == "http.header_limit" => Some(d.message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "said once: {notes:?}");
    assert!(notes[0].contains("request headers of GET /4"), "{notes:?}");
}

#[test]
fn decoder_work_counts_a_cut_brotli_body_as_its_window_read_twice() {
    for lgwin in [16u32, 18, 22, 24] {
        let mut z = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut z, 4096, 5, lgwin);
            w.write_all(&[0u8; 1000]).unwrap();
        }
        let whole = (z.len() + 100) as u64;
        assert_eq!(super::decoder_work("br", &z, 100, true), 2 * (1 << lgwin) + whole, "{lgwin}");
        // Decoded whole: only what was passed over.
        assert_eq!(super::decoder_work("br", &z, 100, false), whole);
    }
    assert_eq!(super::decoder_work("gzip", &[0; 10], 90, true), 2 * (32 << 10) + 100);
}

#[test]
fn decoding_is_bounded_and_reports_problems() {
    // A decompression bomb stops at max_decoded.
    let zeros = vec![0u8; 10 << 20];
    let mut b = Body { bytes: gzip(&zeros), encoding: Some("gzip".into()), ..Body::default() };
    b.decode(1 << 20, &mut usize::MAX.clone(), &Budget::default());
    assert_eq!(b.decoded.as_ref().map(Vec::len), Some(1 << 20));
    assert!(b.decoded_cut && b.shown_in_part(), "what is shown is not all of it");
    assert!(b.decode_error.as_deref().unwrap().contains("kept for display"));
    // What the connection may still decode bounds it too, and is used up.
    let mut left = 1000;
    let mut b = Body { bytes: gzip(&zeros), encoding: Some("gzip".into()), ..Body::default() };
    b.decode(1 << 20, &mut left, &Budget::default());
    assert_eq!((b.decoded.as_ref().map(Vec::len), left, b.decoded_cut), (Some(1000), 0, true));
    let mut b = Body { bytes: gzip(b"small"), encoding: Some("gzip".into()), ..Body::default() };
    b.decode(1 << 20, &mut left, &Budget::default());
    assert!(b.decoded.is_none() && b.decode_error.unwrap().contains("not decoded"));
    // A truncated body decodes to a prefix and says why.
    let text = b"abcdefghij".repeat(1000);
    let z = gzip(&text);
    let mut b = Body {
        bytes: z[..z.len() / 2].to_vec(),
        encoding: Some("gzip".into()),
        truncated: true,
        ..Body::default()
    };
    b.decode(1 << 20, &mut usize::MAX.clone(), &Budget::default());
    let d = b.decoded.unwrap();
    assert!(!d.is_empty() && text.starts_with(&d));
    assert!(b.decode_error.unwrap().contains("cut short"));
    // Unknown codings are named; stacked codings are undone in order.
    let mut b = Body { bytes: vec![1, 2, 3], encoding: Some("zstd".into()), ..Body::default() };
    b.decode(100, &mut usize::MAX.clone(), &Budget::default());
    assert!(b.decode_error.unwrap().contains("zstd"));
    let mut b = Body {
        bytes: brotli(&gzip(b"twice")),
        encoding: Some("gzip, br".into()),
        ..Body::default()
    };
    b.decode(100, &mut usize::MAX.clone(), &Budget::default());
    assert_eq!(b.decoded.as_deref(), Some(&b"twice"[..]));
    // Garbage is an error, not a panic.
    let mut b =
        Body { bytes: b"not gzip".to_vec(), encoding: Some("gzip".into()), ..Body::default() };
    b.decode(100, &mut usize::MAX.clone(), &Budget::default());
    assert!(b.decode_error.is_some());
}

#[test]
fn head_304_204_and_interim_responses_have_no_body() {
    let script: &[(Dir, &[u8])] = &[
        (C, b"HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        (C, b"GET /cached HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\n\r\n"),
        (S, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: \"a\"\r\n\r\n"),
        (C, b"DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n"),
        (S, b"HTTP/1.1 204 No Content\r\n\r\n"),
        (C, b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
        (S, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (C, b"data"),
        (S, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
    ];
    let events = run(trees(), script);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 4, "{:#?}", diags(&events));
    assert_eq!((xs[0].status, xs[0].response_body.len), (Some(200), 0));
    assert_eq!((xs[1].status, xs[1].response_body.len), (Some(304), 0));
    assert_eq!((xs[2].status, xs[2].response_body.len), (Some(204), 0));
    assert_eq!(xs[3].interim, vec![100]);
    assert_eq!(xs[3].status, Some(201));
    assert_eq!(xs[3].request_body.bytes, b"data");
    assert_eq!(xs[3].response_body.bytes, b"ok");
    assert_eq!(xs[3].response_frame, Some(10));
    assert!(xs.iter().all(|x| x.complete));
    assert!(diags(&events).is_empty());
    split_sweep(HttpOptions::default(), script);
}

#[test]
fn pipelined_requests_pair_in_order() {
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for i in 0..5 {
        reqs.extend_from_slice(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        resps.extend_from_slice(
            format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{i}").as_bytes(),
        );
    }
    let events = run(HttpOptions::default(), &[(C, &reqs), (S, &resps)]);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 5);
    for (i, x) in xs.iter().enumerate() {
        assert_eq!(x.path.as_deref(), Some(&*format!("/{i}")));
        assert_eq!(x.response_body.bytes, i.to_string().as_bytes());
    }
    // Over the pipeline limit the oldest is given up.
    let opts = HttpOptions { max_pipeline: 2, ..HttpOptions::default() };
    let events = run(opts, &[(C, &reqs)]);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 5);
    assert!(xs.iter().all(|x| !x.complete && x.status.is_none()));
    assert!(diags(&events).iter().any(|d| d.code == "http1.limit"));
}

#[test]
fn bodies_until_close_and_http10() {
    let script: &[(Dir, &[u8])] = &[
        (C, b"GET /old HTTP/1.0\r\n\r\n"),
        (S, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, "),
        (S, b"second part"),
    ];
    let events = run(HttpOptions::default(), script);
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 1);
    assert_eq!(xs[0].version, "HTTP/1.0");
    assert_eq!(xs[0].response_body.bytes, b"first part, second part");
    assert!(xs[0].complete);
    assert_eq!(xs[0].end_frame, Some(3));
    split_sweep(HttpOptions::default(), script);
}

#[test]
fn bodies_are_kept_up_to_max_body() {
    let body = vec![b'x'; 1000];
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec();
    resp.extend_from_slice(&body);
    let opts = HttpOptions { max_body: 100, ..HttpOptions::default() };
    let events = run(opts, &[(C, REQ1), (S, &resp)]);
    let x = exchanges(&events)[0];
    assert_eq!((x.response_body.bytes.len(), x.response_body.len), (100, 1000));
    assert!(x.response_body.truncated && x.complete);
}

#[test]
fn http1_split_sweep() {
    split_sweep(trees(), &[(C, REQ1), (S, RESP1), (C, REQ2), (S, RESP2)]);
}

#[test]
fn http1_prefix_sweep() {
    prefix_sweep(trees(), &[(C, REQ1), (S, RESP1), (C, REQ2), (S, RESP2)]);
}

#[test]
fn a_gap_inside_a_body_is_counted_and_the_next_exchange_is_fine() {
    let mut conn = HttpConn::new(HttpOptions::default());
    let mut ev = Vec::new();
    let mut out = |e| ev.push(e);
    conn.push(C, REQ1, 1, Timestamp(0), &mut out);
    conn.push(S, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 2, Timestamp(0), &mut out);
    conn.gap(S, 4, &mut out);
    conn.push(S, b"hij", 3, Timestamp(0), &mut out);
    conn.push(C, REQ1, 4, Timestamp(0), &mut out);
    conn.push(S, RESP1, 5, Timestamp(0), &mut out);
    conn.finish(&mut out);
    let xs = exchanges(&ev);
    assert_eq!(xs.len(), 2);
    assert_eq!(xs[0].response_body.len, 10);
    assert_eq!(xs[0].response_body.missing, 4);
    assert_eq!(xs[0].response_body.bytes, b"abc");
    assert!(!xs[0].complete);
    assert!(xs[1].complete && xs[1].response_body.bytes == b"Hello World!");
    assert_eq!(diags(&ev).iter().filter(|d| d.code == "http1.gap").count(), 1);
}

#[test]
fn a_gap_in_a_head_resynchronises_on_the_next_message() {
    let mut conn = HttpConn::new(HttpOptions::default());
    let mut ev = Vec::new();
    let mut out = |e| ev.push(e);
    conn.push(C, b"GET /first HTTP/1.1\r\nHo", 1, Timestamp(0), &mut out);
    conn.gap(C, 30, &mut out);
    // The rest of the lost request, then the next one.
    conn.push(C, b"ue\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n", 2, Timestamp(0), &mut out);
    conn.push(S, RESP1, 3, Timestamp(0), &mut out);
    conn.push(S, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 4, Timestamp(0), &mut out);
    conn.finish(&mut out);
    let xs = exchanges(&ev);
    assert_eq!(xs.len(), 2, "{ev:#?}");
    assert_eq!(xs[0].path.as_deref(), Some("/first"));
    assert!(!xs[0].complete);
    assert_eq!(xs[0].status, Some(200));
    assert_eq!(xs[1].path.as_deref(), Some("/second"));
    assert_eq!(xs[1].status, Some(404));
    assert!(xs[1].complete);
    assert!(diags(&ev).iter().any(|d| d.code == "http1.resync"));
    // A server-side gap that eats a response's head.
    let mut conn = HttpConn::new(HttpOptions::default());
    let mut ev = Vec::new();
    let mut out = |e| ev.push(e);
    conn.push(C, REQ1, 1, Timestamp(0), &mut out);
    conn.push(C, REQ1, 2, Timestamp(0), &mut out);
    conn.push(S, b"HTTP/1.1 200", 3, Timestamp(0), &mut out);
    conn.gap(S, 100, &mut out);
    conn.push(
        S,
        b"garbage\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        4,
        Timestamp(0),
        &mut out,
    );
    conn.finish(&mut out);
    let xs = exchanges(&ev);
    assert_eq!(xs.len(), 2);
    assert!(!xs[0].complete);
    assert_eq!((xs[1].status, xs[1].response_body.bytes.as_slice()), (Some(201), &b"ok"[..]));
}

#[test]
fn malformed_heads_and_limits_are_diagnosed() {
    let opts = HttpOptions { max_header_bytes: 80, ..HttpOptions::default() };
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(100));
    let events = run(
        opts,
        &[
            (C, long.as_bytes()),
            (C, REQ1),
            (S, b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n"),
            (S, RESP1),
        ],
    );
    assert!(diags(&events).iter().any(|d| d.message.contains("over the limit of 80")));
    let xs = exchanges(&events);
    // The over-long request is reported cut (its first line shown); the
    // next one is found.
    assert_eq!(xs.len(), 2);
    assert_eq!(
        (xs[0].path.as_deref(), xs[0].status, xs[0].complete),
        (Some("/"), Some(431), false)
    );
    assert_eq!((xs[1].path.as_deref(), xs[1].status, xs[1].complete), (Some("/"), Some(200), true));
    let events = run(
        HttpOptions::default(),
        &[
            (C, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nbody"),
        ],
    );
    assert!(diags(&events).iter().any(|d| d.message.contains("not a number")));
    assert_eq!(exchanges(&events)[0].response_body.bytes, b"body");
    let events = run(
        HttpOptions::default(),
        &[
            (C, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            (S, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ],
    );
    assert!(diags(&events).iter().any(|d| d.message.contains("chunk-size")));
}

#[test]
fn connect_and_websocket_upgrades_become_raw() {
    let events = run(
        HttpOptions::default(),
        &[
            (C, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01"),
            (S, b"HTTP/1.1 200 Connection established\r\n\r\n"),
            (S, b"\x16\x03\x03server"),
            (C, b"client"),
        ],
    );
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 1);
    assert_eq!(xs[0].method.as_deref(), Some("CONNECT"));
    assert_eq!(raw(&events, C), b"\x16\x03\x01client");
    assert_eq!(raw(&events, S), b"\x16\x03\x03server");
    let events = run(
        HttpOptions::default(),
        &[
            (C, b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
            (S, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi"),
            (C, b"\x81\x82abcd\x09\x0b"),
        ],
    );
    assert_eq!(exchanges(&events)[0].status, Some(101));
    assert_eq!(raw(&events, S), b"\x81\x02hi");
    assert_eq!(raw(&events, C), b"\x81\x82abcd\x09\x0b");
    // An upgrade the server does not take: the next request is HTTP/1.
    let events = run(
        HttpOptions::default(),
        &[
            (C, b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"),
            (S, RESP1),
            (C, REQ1),
            (S, RESP1),
        ],
    );
    assert_eq!(exchanges(&events).len(), 2);
    assert!(exchanges(&events).iter().all(|x| x.complete));
}

#[test]
fn other_protocols_are_passed_on_raw_up_to_the_limit() {
    let opts = HttpOptions { max_raw: 10, ..HttpOptions::default() };
    let mut conn = HttpConn::new(opts);
    let events =
        run_with(&mut conn, &[(S, b"220 smtp.example.com ESMTP\r\n"), (C, b"EHLO me\r\n")]);
    assert_eq!(conn.protocol(), Protocol::Raw);
    assert_eq!(raw(&events, S), b"220 smtp.e");
    assert_eq!(raw(&events, C), b"");
    assert_eq!((conn.raw_bytes(S), conn.raw_bytes(C)), (28, 9));
    assert_eq!(diags(&events).len(), 1);
    // Binary from the client.
    let events = run(HttpOptions::default(), &[(C, b"\x00\x01binary"), (S, b"reply")]);
    assert_eq!(raw(&events, C), b"\x00\x01binary");
    assert_eq!(raw(&events, S), b"reply");
    // Too little to tell at the end: shown raw.
    let events = run(HttpOptions::default(), &[(C, b"GE")]);
    assert_eq!(raw(&events, C), b"GE");
}

// ---------------------------------------------------------------------------
// HTTP/2

fn h2frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    h2frame(kind::SETTINGS, 0, 0, &p)
}

fn block(fields: &[(&str, &str)], huffman: bool) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        encode_literal(n.as_bytes(), v.as_bytes(), Indexing::Without, huffman, &mut b);
    }
    b
}

/// A conversation using every frame type: returns (script pieces).
fn h2_conversation() -> Vec<(Dir, Vec<u8>)> {
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[(2, 0), (4, 65535)]));
    client.extend(h2frame(kind::WINDOW_UPDATE, 0, 0, &1_000_000u32.to_be_bytes()));
    // Stream 1: HEADERS with PRIORITY and PADDED, continued in CONTINUATION.
    let mut req = Vec::new();
    encode_indexed(2, &mut req); // :method GET
    encode_indexed(7, &mut req); // :scheme https
    encode_literal(b":path", b"/index.html", Indexing::Incremental, true, &mut req);
    encode_literal(b":authority", b"example.com", Indexing::Incremental, false, &mut req);
    encode_literal(b"accept-encoding", b"gzip", Indexing::Never, false, &mut req);
    let (first, rest) = req.split_at(10);
    let mut p = vec![3]; // pad length
    p.extend_from_slice(&0x8000_0000u32.to_be_bytes()); // exclusive, depends on 0
    p.push(15); // weight 16
    p.extend_from_slice(first);
    p.extend_from_slice(&[0, 0, 0]);
    client.extend(h2frame(kind::HEADERS, flag::END_STREAM | flag::PADDED | flag::PRIORITY, 1, &p));
    client.extend(h2frame(kind::CONTINUATION, flag::END_HEADERS, 1, rest));
    client.extend(h2frame(kind::PRIORITY, 0, 3, &[0, 0, 0, 1, 200]));
    client.extend(h2frame(kind::PING, 0, 0, b"01234567"));
    // Stream 3: a POST with a padded DATA body, reset by the server.
    let mut post = block(&[(":method", "POST"), (":path", "/upload"), (":scheme", "https")], false);
    encode_indexed(62, &mut post); // :authority example.com, newest in the dynamic table
    client.extend(h2frame(kind::HEADERS, flag::END_HEADERS, 3, &post));
    let mut d = vec![2];
    d.extend_from_slice(b"part");
    d.extend_from_slice(&[0, 0]);
    client.extend(h2frame(kind::DATA, flag::PADDED, 3, &d));
    client.extend(h2frame(0xb, 0x7, 0, b"extension")); // unknown type: ignored

    let mut server = settings(&[(3, 100), (4, 65535), (1, 4096)]);
    server.extend(h2frame(kind::SETTINGS, flag::ACK, 0, &[]));
    server.extend(h2frame(kind::PING, flag::ACK, 0, b"01234567"));
    // A push of /style.css on stream 1, then the responses.
    let mut pp = 2u32.to_be_bytes().to_vec();
    pp.extend(block(
        &[
            (":method", "GET"),
            (":path", "/style.css"),
            (":scheme", "https"),
            (":authority", "example.com"),
        ],
        true,
    ));
    server.extend(h2frame(kind::PUSH_PROMISE, flag::END_HEADERS, 1, &pp));
    let gz = gzip(b"<html>hello</html>");
    let mut resp = Vec::new();
    encode_indexed(8, &mut resp); // :status 200
    encode_literal(b"content-encoding", b"gzip", Indexing::Incremental, true, &mut resp);
    server.extend(h2frame(kind::HEADERS, flag::END_HEADERS, 1, &resp));
    let (a, b) = gz.split_at(5);
    server.extend(h2frame(kind::DATA, 0, 1, a));
    server.extend(h2frame(kind::DATA, 0, 1, b));
    server.extend(h2frame(
        kind::HEADERS,
        flag::END_HEADERS | flag::END_STREAM,
        1,
        &block(&[("grpc-status", "0")], false),
    ));
    server.extend(h2frame(
        kind::HEADERS,
        flag::END_HEADERS,
        2,
        &block(&[(":status", "200")], false),
    ));
    server.extend(h2frame(kind::DATA, flag::END_STREAM, 2, b"body{}"));
    server.extend(h2frame(kind::RST_STREAM, 0, 3, &8u32.to_be_bytes()));
    server.extend(h2frame(kind::WINDOW_UPDATE, 0, 1, &100u32.to_be_bytes()));
    let mut ga = 3u32.to_be_bytes().to_vec();
    ga.extend_from_slice(&0u32.to_be_bytes());
    ga.extend_from_slice(b"bye");
    server.extend(h2frame(kind::GOAWAY, 0, 0, &ga));
    let mut ack = h2frame(kind::SETTINGS, flag::ACK, 0, &[]);
    // Cut the client's bytes where a real client's writes would be.
    let mut out = vec![(C, client), (S, server)];
    out.push((C, std::mem::take(&mut ack)));
    out
}

fn script_of(pieces: &[(Dir, Vec<u8>)]) -> Vec<(Dir, &[u8])> {
    pieces.iter().map(|(d, b)| (*d, &b[..])).collect()
}

#[test]
fn every_frame_type_in_a_hand_built_conversation() {
    let pieces = h2_conversation();
    let events = run(trees(), &script_of(&pieces));
    assert!(diags(&events).is_empty(), "{:#?}", diags(&events));
    check_trees(&events);
    let fs = frames(&events);
    let names: Vec<&str> = fs.iter().map(|f| f.name).collect();
    for n in [
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
        "unknown",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let summaries: Vec<&str> = fs.iter().map(|f| f.summary.as_str()).collect();
    for s in [
        "SETTINGS: ENABLE_PUSH=0, INITIAL_WINDOW_SIZE=65535",
        "SETTINGS: MAX_CONCURRENT_STREAMS=100, INITIAL_WINDOW_SIZE=65535, HEADER_TABLE_SIZE=4096",
        "SETTINGS: ACK",
        "WINDOW_UPDATE: +1000000",
        "HEADERS stream 1: header block continues, depends on 0 (exclusive), weight 16 [END_STREAM, PADDED, PRIORITY]",
        "CONTINUATION stream 1: end of header block: GET /index.html [END_HEADERS]",
        "PRIORITY stream 3: depends on 1, weight 201",
        "PING: 3031323334353637",
        "PING ACK: 3031323334353637",
        "HEADERS stream 3: POST /upload [END_HEADERS]",
        "DATA stream 3: 4 bytes, 2 bytes of padding [PADDED]",
        "unknown: 9 bytes",
        "PUSH_PROMISE stream 1: promises stream 2: GET /style.css [END_HEADERS]",
        "HEADERS stream 1: 200 [END_HEADERS]",
        "HEADERS stream 1: 1 fields (trailers) [END_STREAM, END_HEADERS]",
        "RST_STREAM stream 3: CANCEL (0x8)",
        "WINDOW_UPDATE stream 1: +100",
        "GOAWAY: last stream 3, NO_ERROR (0x0), debug data \"bye\"",
    ] {
        assert!(summaries.contains(&s), "{s:?} not in {summaries:#?}");
    }
    // Frame numbers and offsets: the client's first frame follows the preface.
    let first = fs.iter().find(|f| f.dir == C).unwrap();
    assert_eq!((first.offset, first.frame, first.first_frame), (24, 1, 1));

    let xs = exchanges(&events);
    assert_eq!(xs.len(), 3, "{xs:#?}");
    let push = xs.iter().find(|x| x.stream == Some(2)).unwrap();
    assert!(push.pushed && push.complete);
    assert_eq!(push.path.as_deref(), Some("/style.css"));
    assert_eq!(push.response_body.bytes, b"body{}");
    let main = xs.iter().find(|x| x.stream == Some(1)).unwrap();
    assert_eq!(main.version, "HTTP/2");
    assert_eq!(main.method.as_deref(), Some("GET"));
    assert_eq!(main.scheme.as_deref(), Some("https"));
    assert_eq!(main.authority.as_deref(), Some("example.com"));
    assert_eq!(main.path.as_deref(), Some("/index.html"));
    assert_eq!(main.status, Some(200));
    assert_eq!(main.request_headers[0], (":method".to_string(), b"GET".to_vec()));
    assert_eq!(main.response_body.decoded.as_deref(), Some(&b"<html>hello</html>"[..]));
    assert_eq!(main.response_trailers, vec![("grpc-status".to_string(), b"0".to_vec())]);
    assert!(main.complete);
    let post = xs.iter().find(|x| x.stream == Some(3)).unwrap();
    assert_eq!(post.authority.as_deref(), Some("example.com"));
    assert_eq!(post.request_body.bytes, b"part");
    assert_eq!(post.reset, Some(8));
    assert!(!post.complete);

    // The HEADERS+CONTINUATION tree lists the fields; the single-frame one
    // points at each representation.
    let h3 = fs.iter().find(|f| f.summary.starts_with("HEADERS stream 3")).unwrap();
    let frag = h3.tree.iter().find(|f| f.key == "header_block_fragment").unwrap();
    assert_eq!(frag.children.len(), 4);
    assert_eq!(frag.children[3].label, ":authority: example.com");
    assert_eq!(frag.children[3].value, "indexed (dynamic 62)");
    assert_eq!(frag.children[3].span.len, 1);
    let cont = fs.iter().find(|f| f.name == "CONTINUATION").unwrap();
    let frag = cont.tree.iter().find(|f| f.key == "header_block_fragment").unwrap();
    assert_eq!(frag.children.len(), 5);
    assert_eq!(frag.children[2].label, ":path: /index.html");
    assert_eq!(
        frag.children[2].value,
        "literal with incremental indexing (literal name, Huffman, value Huffman)"
    );
}

#[test]
fn http2_split_sweep() {
    let pieces = h2_conversation();
    split_sweep(trees(), &script_of(&pieces));
}

#[test]
fn http2_prefix_sweep() {
    let pieces = h2_conversation();
    prefix_sweep(trees(), &script_of(&pieces));
}

#[test]
fn header_table_size_applies_when_acknowledged() {
    // The server allows the client's encoder only 100 bytes of table.
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[]));
    let mut b = Vec::new();
    encode_int(4096, 5, 0x20, &mut b); // size update to 4096: fine before the ACK
    encode_indexed(2, &mut b);
    encode_indexed(4, &mut b);
    client.extend(h2frame(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 1, &b));
    let server = settings(&[(1, 100)]);
    let ack = h2frame(kind::SETTINGS, flag::ACK, 0, &[]);
    // After its ACK the client must shrink the table first thing.
    let mut late = Vec::new();
    encode_indexed(2, &mut late);
    let late = h2frame(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 3, &late);
    let mut ok = Vec::new();
    encode_int(100, 5, 0x20, &mut ok);
    encode_indexed(2, &mut ok);
    let ok = h2frame(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 5, &ok);
    let mut big = Vec::new();
    encode_int(4096, 5, 0x20, &mut big);
    let big = h2frame(kind::HEADERS, flag::END_HEADERS | flag::END_STREAM, 7, &big);
    let events = run(
        HttpOptions::default(),
        &[(C, &client), (S, &server), (C, &ack), (C, &late), (C, &ok), (C, &big)],
    );
    let hp: Vec<&Diagnostic> =
        diags(&events).into_iter().filter(|d| d.code == "http2.hpack").collect();
    assert_eq!(hp.len(), 2, "{hp:#?}");
    assert!(hp[0].message.contains("lowered to 100") && hp[0].location.frame == Some(4));
    assert!(hp[1].message.contains("over the limit of 100") && hp[1].location.frame == Some(6));
}

#[test]
fn a_gap_inside_data_is_counted_and_elsewhere_stops_the_direction() {
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[]));
    client.extend(h2frame(
        kind::HEADERS,
        flag::END_HEADERS | flag::END_STREAM,
        1,
        &block(&[(":method", "GET"), (":path", "/a")], false),
    ));
    let mut server = settings(&[]);
    server.extend(h2frame(
        kind::HEADERS,
        flag::END_HEADERS,
        1,
        &block(&[(":status", "200")], false),
    ));
    let data = h2frame(kind::DATA, flag::END_STREAM, 1, &[7u8; 100]);
    let mut conn = HttpConn::new(HttpOptions::default());
    let mut ev = Vec::new();
    let mut out = |e| ev.push(e);
    conn.push(C, &client, 1, Timestamp(0), &mut out);
    conn.push(S, &server, 2, Timestamp(0), &mut out);
    conn.push(S, &data[..50], 3, Timestamp(0), &mut out);
    conn.gap(S, 30, &mut out);
    conn.push(S, &data[80..], 4, Timestamp(0), &mut out);
    // Then a gap between frames: the server's direction is lost.
    conn.gap(S, 5, &mut out);
    conn.push(S, &h2frame(kind::PING, 0, 0, b"01234567"), 5, Timestamp(0), &mut out);
    conn.finish(&mut out);
    let xs = exchanges(&ev);
    assert_eq!(xs.len(), 1);
    assert_eq!((xs[0].response_body.len, xs[0].response_body.missing), (100, 30));
    assert_eq!(xs[0].response_body.bytes, vec![7u8; 41]);
    assert!(!xs[0].complete);
    assert!(
        frames(&ev)
            .iter()
            .any(|f| f.summary == "DATA stream 1: 100 bytes, 30 bytes not captured [END_STREAM]")
    );
    assert!(!frames(&ev).iter().any(|f| f.name == "PING"));
    let gaps: Vec<_> = diags(&ev).into_iter().filter(|d| d.code == "http2.gap").collect();
    assert_eq!(gaps.len(), 2);
    assert!(gaps[1].message.contains("not decoded"));
}

#[test]
fn hpack_errors_and_protocol_errors_are_diagnosed() {
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[(5, 10)])); // MAX_FRAME_SIZE out of range
    client.extend(h2frame(kind::HEADERS, flag::END_HEADERS, 1, &[0xbe])); // index 62: empty table
    client.extend(h2frame(kind::HEADERS, flag::END_HEADERS, 3, &[0x82])); // not decoded: state lost
    client.extend(h2frame(kind::PING, 0, 0, b"short"));
    client.extend(h2frame(kind::SETTINGS, 0, 1, &[]));
    client.extend(h2frame(kind::DATA, flag::PADDED, 5, &[9, 1, 2]));
    client.extend(h2frame(kind::CONTINUATION, flag::END_HEADERS, 7, &[0x82]));
    let events = run(trees(), &[(C, &client)]);
    check_trees(&events);
    let ds = diags(&events);
    let text: Vec<&str> = ds.iter().map(|d| d.message.as_str()).collect();
    assert!(text.iter().any(|m| m.contains("SETTINGS_MAX_FRAME_SIZE 10")), "{text:#?}");
    assert!(text.iter().any(|m| m.contains("COMPRESSION_ERROR: index 62")), "{text:#?}");
    assert!(text.iter().any(|m| m.contains("PING payload is 5 bytes")), "{text:#?}");
    assert!(text.iter().any(|m| m.contains("SETTINGS frame on stream 1")), "{text:#?}");
    assert!(text.iter().any(|m| m.contains("padding of 9 bytes")), "{text:#?}");
    assert!(text.iter().any(|m| m.contains("CONTINUATION on stream 7")), "{text:#?}");
    let fs = frames(&events);
    let h3 = fs.iter().find(|f| f.stream == 3).unwrap();
    assert!(h3.summary.contains("HPACK state was lost at frame 1"), "{}", h3.summary);
    let ping = fs.iter().find(|f| f.name == "PING").unwrap();
    assert!(ping.tree.iter().any(|f| f.key == "malformed"));
}

#[test]
fn streams_are_bounded() {
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[]));
    for i in 0..10u32 {
        client.extend(h2frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            2 * i + 1,
            &block(&[(":method", "GET")], false),
        ));
    }
    let opts = HttpOptions { max_streams: 3, ..HttpOptions::default() };
    let events = run(opts, &[(C, &client)]);
    assert_eq!(exchanges(&events).len(), 10);
    assert_eq!(diags(&events).iter().filter(|d| d.code == "http2.limit").count(), 1);
}

#[test]
fn h2c_upgrade_continues_as_http2() {
    let req = b"GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    let mut server =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    server.extend(settings(&[]));
    server.extend(h2frame(
        kind::HEADERS,
        flag::END_HEADERS,
        1,
        &block(&[(":status", "200")], true),
    ));
    server.extend(h2frame(kind::DATA, flag::END_STREAM, 1, b"upgraded!"));
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[]));
    client.extend(h2frame(kind::SETTINGS, flag::ACK, 0, &[]));
    let script: &[(Dir, &[u8])] = &[(C, req), (S, &server), (C, &client)];
    let events = run(trees(), script);
    assert!(diags(&events).is_empty(), "{:#?}", diags(&events));
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 1);
    let x = xs[0];
    assert_eq!((x.version, x.stream, x.status), ("HTTP/2", Some(1), Some(200)));
    assert_eq!(x.method.as_deref(), Some("GET"));
    assert_eq!(x.path.as_deref(), Some("/up"));
    assert_eq!(x.interim, vec![101]);
    assert_eq!(x.response_body.bytes, b"upgraded!");
    assert!(x.complete);
    assert_eq!(frames(&events).iter().filter(|f| f.dir == C).count(), 2);
    split_sweep(HttpOptions::default(), script);
}

#[test]
fn server_settings_before_the_preface_are_held() {
    // Over TLS with ALPN h2 the server's SETTINGS can come first.
    let mut client = PREFACE.to_vec();
    client.extend(settings(&[]));
    let events = run(HttpOptions::default(), &[(S, &settings(&[(3, 100)])), (C, &client)]);
    let fs = frames(&events);
    assert_eq!(fs.len(), 2);
    // Replayed with its own frame number.
    assert_eq!(fs.iter().find(|f| f.dir == S).unwrap().frame, 1);
}

// ---------------------------------------------------------------------------
// Real captures (crates/scope/testdata/http), against tshark.

/// Frames of a classic little-endian pcap.
fn pcap_frames(bytes: &[u8]) -> Vec<(u64, Timestamp, Vec<u8>)> {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian microsecond pcap");
    let mut out = Vec::new();
    let mut at = 24;
    let mut n = 0;
    while at + 16 <= bytes.len() {
        let u = |o: usize| u32::from_le_bytes(bytes[at + o..at + o + 4].try_into().unwrap());
        let (secs, usecs, incl) = (u(0), u(4), u(8) as usize);
        n += 1;
        out.push((
            n,
            Timestamp::from_parts(secs.into(), usecs * 1000),
            bytes[at + 16..at + 16 + incl].to_vec(),
        ));
        at += 16 + incl;
    }
    out
}

struct Sink {
    opts: HttpOptions,
    events: Vec<HttpEvent>,
}

impl StreamSink<Option<HttpConn>> for Sink {
    fn open(&mut self, _info: &ConnInfo, user: &mut Option<HttpConn>) {
        *user = Some(HttpConn::new(self.opts));
    }
    fn data(&mut self, _info: &ConnInfo, user: &mut Option<HttpConn>, dir: Dir, chunk: Chunk<'_>) {
        if let Some(c) = user {
            c.push(dir, chunk.data, chunk.frame, chunk.ts, &mut |e| self.events.push(e));
        }
    }
    fn gap(
        &mut self,
        _: &ConnInfo,
        user: &mut Option<HttpConn>,
        dir: Dir,
        _: u64,
        len: u64,
        _: u64,
    ) {
        if let Some(c) = user {
            c.gap(dir, len, &mut |e| self.events.push(e));
        }
    }
    fn close(&mut self, _info: &ConnInfo, user: Option<HttpConn>, _reason: EndReason) {
        if let Some(mut c) = user {
            c.finish(&mut |e| self.events.push(e));
        }
    }
}

fn decode_capture(name: &str, opts: HttpOptions) -> Vec<HttpEvent> {
    let path = format!("{}/testdata/http/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut r = Reassembler::<Option<HttpConn>>::new(Limits::default());
    let mut sink = Sink { opts, events: Vec::new() };
    for (number, ts, data) in pcap_frames(&bytes) {
        let f = Frame::whole(number, ts, LinkType::ETHERNET, &data);
        r.push_frame(&mut sink, &f);
    }
    r.finish_all(&mut sink);
    sink.events
}

fn tshark_lines(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/testdata/http/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Our frames and header lists in tshark's shape: per capture frame, the
/// HTTP/2 frames' types, streams, flags and lengths, and the header names
/// and values of its HEADERS frames, comma-joined.
fn ours_as_tshark(events: &[HttpEvent]) -> Vec<Vec<String>> {
    let mut rows: Vec<(u64, Vec<&H2FrameInfo>)> = Vec::new();
    for f in frames(events) {
        match rows.last_mut() {
            Some((n, v)) if *n == f.frame => v.push(f),
            _ => rows.push((f.frame, vec![f])),
        }
    }
    let xs = exchanges(events);
    rows.into_iter()
        .map(|(n, fs)| {
            let join = |f: &dyn Fn(&H2FrameInfo) -> String| {
                fs.iter().map(|x| f(x)).collect::<Vec<_>>().join(",")
            };
            let mut names = Vec::new();
            let mut values = Vec::new();
            for f in fs.iter().filter(|f| f.name == "HEADERS") {
                let x = xs
                    .iter()
                    .find(|x| {
                        let at = if f.dir == C { x.request_frame } else { x.response_frame };
                        x.stream == Some(f.stream) && at == Some(f.first_frame)
                    })
                    .unwrap();
                let hs = if f.dir == C { &x.request_headers } else { &x.response_headers };
                for (k, v) in hs {
                    names.push(k.clone());
                    values.push(String::from_utf8_lossy(v).into_owned());
                }
            }
            vec![
                n.to_string(),
                join(&|f| f.kind.to_string()),
                join(&|f| f.stream.to_string()),
                join(&|f| format!("0x{:02x}", f.flags)),
                join(&|f| f.length.to_string()),
                names.join(","),
                values.join(","),
            ]
        })
        .collect()
}

#[test]
fn curl_h2c_capture_matches_tshark() {
    let events = decode_capture("h2c-curl.pcap", trees());
    assert!(diags(&events).is_empty(), "{:#?}", diags(&events));
    check_trees(&events);
    assert_eq!(ours_as_tshark(&events), tshark_lines("h2c-curl.tshark"));
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 3);
    assert!(xs.iter().all(|x| x.complete && x.version == "HTTP/2" && x.status == Some(200)));
    assert_eq!(xs[0].response_body.bytes, b"Hello World!");
    assert_eq!(xs[1].path.as_deref(), Some("/bytes/100000"));
    assert_eq!((xs[1].response_body.len, xs[1].response_body.bytes.len()), (100_000, 64 << 10));
    assert_eq!(h(xs[1], "content-length").as_deref(), Some("100000"));
    assert_eq!(xs[2].method.as_deref(), Some("POST"));
    assert_eq!(xs[2].request_body.bytes, vec![b'x'; 3000]);
    assert!(String::from_utf8_lossy(&xs[2].response_body.bytes).starts_with("POST /echo"));
}

#[test]
fn nghttp_h2c_capture_matches_tshark() {
    let events = decode_capture("h2c-nghttp.pcap", trees());
    assert!(diags(&events).is_empty(), "{:#?}", diags(&events));
    check_trees(&events);
    assert_eq!(ours_as_tshark(&events), tshark_lines("h2c-nghttp.tshark"));
    let xs = exchanges(&events);
    assert_eq!(xs.len(), 2);
    assert!(xs.iter().all(|x| x.complete));
    assert_eq!(xs[1].response_body.len, 20_000);
    // nghttp announces its priority tree with PRIORITY frames, and says goodbye.
    let fs = frames(&events);
    assert!(fs.iter().filter(|f| f.name == "PRIORITY").count() >= 5);
    assert!(fs.iter().any(|f| f.name == "GOAWAY"));
}

#[test]
fn curl_http1_capture_matches_tshark() {
    let events = decode_capture("h1-curl.pcap", trees());
    assert!(diags(&events).is_empty(), "{:#?}", diags(&events));
    check_trees(&events);
    let xs = exchanges(&events);
    let mut ours = Vec::new();
    for x in &xs {
        ours.push(vec![
            x.request_end_frame.unwrap().to_string(),
            x.method.clone().unwrap(),
            x.path.clone().unwrap(),
            String::new(),
            if x.request_body.len > 0 { x.request_body.len.to_string() } else { String::new() },
        ]);
        ours.push(vec![
            x.end_frame.unwrap().to_string(),
            String::new(),
            String::new(),
            x.status.unwrap().to_string(),
            h(x, "content-length").unwrap_or_default(),
        ]);
    }
    assert_eq!(ours, tshark_lines("h1-curl.tshark"));
    assert!(xs.iter().all(|x| x.complete && x.version == "HTTP/1.1"));
    // HEAD: a Content-Length but no body.
    let head = xs.iter().find(|x| x.method.as_deref() == Some("HEAD")).unwrap();
    assert_eq!(head.response_body.len, 0);
}

#[test]
fn captures_decode_the_same_byte_by_byte() {
    // The reassembler hands over whole segments; feeding each stream one
    // byte at a time must not change a thing.
    for name in ["h2c-curl.pcap", "h2c-nghttp.pcap", "h1-curl.pcap"] {
        let whole = normalized(decode_capture(name, trees()));
        struct ByteSink(Sink);
        impl StreamSink<Option<HttpConn>> for ByteSink {
            fn open(&mut self, info: &ConnInfo, user: &mut Option<HttpConn>) {
                self.0.open(info, user)
            }
            fn data(
                &mut self,
                _: &ConnInfo,
                user: &mut Option<HttpConn>,
                dir: Dir,
                chunk: Chunk<'_>,
            ) {
                if let Some(c) = user {
                    for b in chunk.data.chunks(1) {
                        c.push(dir, b, chunk.frame, chunk.ts, &mut |e| self.0.events.push(e));
                    }
                }
            }
            fn gap(
                &mut self,
                i: &ConnInfo,
                u: &mut Option<HttpConn>,
                d: Dir,
                o: u64,
                l: u64,
                f: u64,
            ) {
                self.0.gap(i, u, d, o, l, f)
            }
            fn close(&mut self, info: &ConnInfo, user: Option<HttpConn>, reason: EndReason) {
                self.0.close(info, user, reason)
            }
        }
        let path = format!("{}/testdata/http/{name}", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).unwrap();
        let mut r = Reassembler::<Option<HttpConn>>::new(Limits::default());
        let mut sink = ByteSink(Sink { opts: trees(), events: Vec::new() });
        for (number, ts, data) in pcap_frames(&bytes) {
            let f = Frame::whole(number, ts, LinkType::ETHERNET, &data);
            r.push_frame(&mut sink, &f);
        }
        r.finish_all(&mut sink);
        assert_eq!(normalized(sink.0.events), whole, "{name}");
    }
}

/// Found by fuzzing: a 49-letter "method" read as one piece was a request
/// line, read byte by byte it was not. Every prefix of a line must get
/// the line's verdict or "wait".
#[test]
fn request_line_verdicts_agree_with_their_prefixes() {
    let long_method = format!("{}GET / HTTP/1.1\r\n", "L".repeat(49));
    let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(200));
    let lines: [&[u8]; 8] = [
        b"GET / HTTP/1.1\r\n",
        b"OPTIONS * HTTP/1.0\n",
        b"GET / HTTP/2.0\r\n",
        b"GET  / HTTP/1.1\r\n",
        b"GET / HTTP/1.1\rX",
        b"\x16\x03\x01",
        long_method.as_bytes(),
        long_target.as_bytes(),
    ];
    for line in lines {
        let whole = request_line_verdict(line, 100);
        for n in 0..line.len() {
            let v = request_line_verdict(&line[..n], 100);
            assert!(
                v == Verdict::Wait || v == whole,
                "{:?}: prefix {n} says {v:?}, the line {whole:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    assert_eq!(request_line_verdict(lines[0], 100), Verdict::Yes);
    assert_eq!(request_line_verdict(lines[6], 100), Verdict::No);
    assert_eq!(request_line_verdict(lines[7], 100), Verdict::No);
}

/// Found by fuzzing: client bytes held after a CONNECT (waiting for the
/// answer) are replayed with their own frame numbers when the wait is
/// given up; the direction's latest frame must not go back with them.
#[test]
fn replayed_held_bytes_keep_the_latest_frame() {
    let opts = HttpOptions { max_header_bytes: 64, ..HttpOptions::default() };
    let tail = format!("GET /b HTTP/1.1\r\nX: {}", "y".repeat(40));
    let script: &[(Dir, &[u8])] = &[
        (C, b"CONNECT h:443 HTTP/1.1\r\n\r\n"),
        (C, b"GET /a HTTP/1.1\r\n\r\n"),
        (C, tail.as_bytes()),
    ];
    let events = run(opts, script);
    let end = diags(&events).into_iter().find(|d| d.message.contains("ended inside")).unwrap();
    assert_eq!(end.location.frame, Some(3));
    assert_eq!(exchanges(&events).len(), 3);
    split_sweep(opts, script);
}
