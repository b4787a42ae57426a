//! A session's decryption: which secrets it has, which keys protect each
//! direction's records right now, and why decryption failed when it did.
//!
//! The session state machine tells this module what the handshake says
//! (ServerHello, ClientKeyExchange, ChangeCipherSpec, Finished, KeyUpdate)
//! and hands it encrypted records; secrets come from the key log, from
//! `--rsa-key` for static-RSA key exchange, and from earlier sessions of
//! the same capture (resumption by session ID or ticket).

use std::fmt;
use std::sync::Arc;

use crate::flow::{Dir, PerDir};
use crate::tls::decrypt::{CipherSpec, DecryptError, Decryptor, Plaintext, RecordKeys, Side};
use crate::tls::keylog::{KeyLog, Secrets};
use crate::tls::keys::{self, Prf};
use crate::tls::secret::Secret;
use crate::tree::hex;

/// Where secrets come from, besides the key log: filled as a capture is
/// read, shared by all sessions.
#[derive(Default)]
pub struct Keyring {
    /// Key log entries (files given with `--keylog`, and Decryption Secrets
    /// Blocks found in the capture).
    pub keylog: KeyLog,
    /// Private keys for static-RSA key exchange (`--rsa-key`), PEM or DER.
    pub rsa_keys: Vec<Vec<u8>>,
    /// Master secrets of sessions seen so far (TLS 1.2 resumption within
    /// the capture).
    remembered: Remembered,
    /// The servers' certificates seen, and which RSA key is the key of
    /// each (shared by the parts of a capture split over threads).
    pub rsa_use: Arc<std::sync::Mutex<Vec<CertificateUse>>>,
}

/// A server certificate of the capture, as the `--rsa-key` report needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateUse {
    /// SHA-256 of its DER.
    pub sha256: [u8; 32],
    /// Its subject.
    pub subject: String,
    /// The RSA keys (by their place in [`Keyring::rsa_keys`]) it is the
    /// certificate of.
    pub keys: Vec<usize>,
    /// Sessions whose server sent it first.
    pub sessions: u64,
}

/// Distinct server certificates remembered for the `--rsa-key` report:
/// comparing one with the keys costs a key parse each.
pub const MAX_CERTIFICATES_COMPARED: usize = 1024;

/// How many remembered session IDs or tickets are kept: each costs ~100
/// bytes; a capture of millions of sessions would otherwise grow the map
/// without bound. Past it, older entries are forgotten (resumption of a
/// very old session is then reported as missing keys).
pub const MAX_REMEMBERED_SESSIONS: usize = 100_000;

/// What finds a remembered session: its session ID, or the ticket it
/// issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// The session ID a TLS 1.2 ServerHello echoes.
    SessionId,
    /// A TLS 1.2 session ticket (RFC 5077).
    Ticket,
}

impl By {
    /// Of the map by session ID and the map by ticket, the one for `self`.
    pub fn pick<'a, T>(self, by_session_id: &'a mut T, by_ticket: &'a mut T) -> &'a mut T {
        match self {
            By::SessionId => by_session_id,
            By::Ticket => by_ticket,
        }
    }

    /// [`By::pick`], to read.
    pub fn pick_ref<'a, T>(self, by_session_id: &'a T, by_ticket: &'a T) -> &'a T {
        match self {
            By::SessionId => by_session_id,
            By::Ticket => by_ticket,
        }
    }
}

/// Where a keyring keeps the master secrets of earlier sessions when it
/// does not keep them itself: an analysis split over threads shares them
/// between its parts ([`crate::pipeline::threads`]), and decides what a part
/// may see at each step. This module never waits or locks for it.
pub trait SessionMemory: Send {
    /// Remembers `master` under `key` (a session ID or a ticket).
    fn remember(&mut self, by: By, key: &[u8], master: &Secret);
    /// The master secret remembered under `key`, if any.
    fn recall(&self, by: By, key: &[u8]) -> Option<Secret>;
    /// The analysis is about to analyse step `step` of a capture split in
    /// parts; `before` is how many steps each part had been given before it.
    fn at_step(&mut self, step: u64, before: &[u64]);
}

/// Master secrets by session ID and by ticket.
enum Remembered {
    /// This analysis's own.
    Own {
        by_session_id: foldhash::HashMap<Vec<u8>, Secret>,
        by_ticket: foldhash::HashMap<Vec<u8>, Secret>,
    },
    /// Kept elsewhere: see [`SessionMemory`].
    Elsewhere(Box<dyn SessionMemory>),
}

impl Default for Remembered {
    fn default() -> Self {
        Remembered::Own { by_session_id: Default::default(), by_ticket: Default::default() }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sessions, tickets) = match &self.remembered {
            Remembered::Own { by_session_id, by_ticket } => (by_session_id.len(), by_ticket.len()),
            Remembered::Elsewhere(_) => (0, 0),
        };
        f.debug_struct("Keyring")
            .field("keylog", &self.keylog)
            .field("rsa_keys", &self.rsa_keys.len())
            .field("sessions", &sessions)
            .field("tickets", &tickets)
            .finish()
    }
}

impl Keyring {
    /// A keyring with the same key log and RSA keys (shared, not copied)
    /// that remembers sessions in `memory`: for a part of a capture split
    /// over threads.
    pub fn with_memory(&self, memory: Box<dyn SessionMemory>) -> Keyring {
        Keyring {
            keylog: self.keylog.clone(),
            rsa_keys: self.rsa_keys.clone(),
            remembered: Remembered::Elsewhere(memory),
            rsa_use: self.rsa_use.clone(),
        }
    }

    /// Part of a split capture: the step about to be analysed (see
    /// [`SessionMemory::at_step`]).
    pub fn set_position(&mut self, step: u64, before: &[u64]) {
        if let Remembered::Elsewhere(m) = &mut self.remembered {
            m.at_step(step, before);
        }
    }

    /// Remembers a TLS 1.2 session's master secret under its session ID.
    pub fn remember_session(&mut self, session_id: &[u8], master: &Secret) {
        self.remember(By::SessionId, session_id, master);
    }

    /// Remembers a TLS 1.2 session ticket's master secret.
    pub fn remember_ticket(&mut self, ticket: &[u8], master: &Secret) {
        self.remember(By::Ticket, ticket, master);
    }

    fn remember(&mut self, by: By, key: &[u8], master: &Secret) {
        if key.is_empty() {
            return;
        }
        match &mut self.remembered {
            Remembered::Own { by_session_id, by_ticket } => {
                let map = by.pick(by_session_id, by_ticket);
                if map.len() >= MAX_REMEMBERED_SESSIONS {
                    map.clear();
                }
                map.insert(key.to_vec(), master.clone());
            }
            Remembered::Elsewhere(m) => m.remember(by, key, master),
        }
    }

    /// The master secret of an earlier session found by `by` (its session
    /// ID, or the ticket it issued).
    fn recall(&self, by: By, key: &[u8]) -> Option<Secret> {
        match &self.remembered {
            Remembered::Own { by_session_id, by_ticket } => {
                by.pick_ref(by_session_id, by_ticket).get(key).cloned()
            }
            Remembered::Elsewhere(m) => m.recall(by, key),
        }
    }

    /// A session's server sent `der` as its certificate: notes which RSA
    /// keys it is the certificate of (only when RSA keys were given).
    pub fn note_server_certificate(&self, der: &[u8], subject: &str) {
        use sha2::Digest as _;
        if self.rsa_keys.is_empty() {
            return;
        }
        let sha256: [u8; 32] = sha2::Sha256::digest(der).into();
        let mut all = self.rsa_use.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = all.iter_mut().find(|c| c.sha256 == sha256) {
            c.sessions = c.sessions.saturating_add(1);
            return;
        }
        if all.len() >= MAX_CERTIFICATES_COMPARED {
            return;
        }
        let keys = (0..self.rsa_keys.len())
            .filter(|&i| self.rsa_keys.get(i).is_some_and(|k| keys::rsa_public_key_matches(k, der)))
            .collect();
        all.push(CertificateUse { sha256, subject: subject.to_string(), keys, sessions: 1 });
    }

    /// Whether anything at all could decrypt.
    pub fn is_empty(&self) -> bool {
        self.keylog.is_empty() && self.rsa_keys.is_empty()
    }
}

/// The decryption status of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every encrypted record was decrypted.
    Ok,
    /// Some were, some were not.
    Partial,
    /// None was.
    None,
}

impl Status {
    /// `ok`, `partial` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Partial => "partial",
            Status::None => "none",
        }
    }
}

/// Counters per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Protected records seen (encrypted, whether or not keys were known
    /// for them).
    pub records: u64,
    /// Records decrypted (their tag or MAC checked).
    pub decrypted: u64,
    /// Records known to be lost: cut by a gap in the capture, or skipped
    /// (the next record that decrypted had a later sequence number).
    pub lost: u64,
    /// Records decrypted after the first one that failed.
    pub decrypted_after_failure: u64,
    /// Application data bytes decrypted (plaintext).
    pub app_bytes: u64,
}

/// The session keys of one TLS 1.2 session, for the verification checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls12Keys {
    /// The master secret.
    pub master: Secret,
    /// The PRF.
    pub prf: Prf,
}

/// The TLS 1.3 handshake traffic secrets of a session, for the Finished
/// checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls13Secrets {
    /// The suite's hash.
    pub hash: keys::HashAlg,
    /// client_handshake_traffic_secret.
    pub client_handshake: Secret,
    /// server_handshake_traffic_secret.
    pub server_handshake: Secret,
}

/// A session's decryption state.
#[derive(Default)]
pub struct Crypto {
    tls13_secrets: Option<Tls13Secrets>,
    spec: Option<CipherSpec>,
    version: u16,
    tls13: bool,
    /// Keys waiting for ChangeCipherSpec (TLS 1.2) or Finished (TLS 1.3).
    pending: PerDir<Option<Decryptor>>,
    /// Keys in use.
    current: PerDir<Option<Decryptor>>,
    /// TLS 1.3 0-RTT: the client's early traffic keys.
    early: Option<Decryptor>,
    /// The client offered 0-RTT and the key log lacks its early secret.
    early_missing: bool,
    /// TLS 1.2: the master secret once known.
    master: Option<Secret>,
    prf: Option<Prf>,
    /// Keys were found for the session (from the key log, an RSA key or
    /// an earlier session), whether or not they all worked.
    found: bool,
    /// Why keys are missing for the whole session, once known.
    missing: Option<String>,
    /// Why keys are missing for one direction only (a TLS 1.3 key log
    /// without one side's application traffic secret).
    missing_dir: PerDir<Option<String>>,
    /// The first decryption failure per direction: frame and why.
    failure: PerDir<Option<(u64, String)>>,
    /// The frame of the first record lost per direction.
    lost_frame: PerDir<Option<u64>>,
    /// Records cut by gaps since the last one decrypted, per direction
    /// (counted as lost when the next one decrypts, or at the end).
    cut: PerDir<u64>,
    /// A gap was just seen in this direction.
    after_gap: PerDir<bool>,
    /// TLS 1.2 with extended master secret: the premaster secret waiting
    /// for the session hash.
    premaster: Option<Secret>,
    /// Counters per direction.
    pub counts: PerDir<Counts>,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("suite", &self.spec.map(|s| s.name))
            .field("version", &self.version)
            .field("counts", &self.counts)
            .field("missing", &self.missing)
            .field("missing_dir", &self.missing_dir)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

fn side(dir: Dir) -> Side {
    match dir {
        Dir::ClientToServer => Side::Client,
        Dir::ServerToClient => Side::Server,
    }
}

/// What the handshake told us, as the key lookup needs it.
pub struct Hello<'a> {
    /// client_random.
    pub client_random: &'a [u8; 32],
    /// server_random.
    pub server_random: &'a [u8; 32],
    /// The cipher suite.
    pub suite: u16,
    /// The negotiated version.
    pub version: u16,
    /// The ClientHello's session ID.
    pub client_session_id: &'a [u8],
    /// The ServerHello's session ID.
    pub server_session_id: &'a [u8],
    /// The session ticket the client offered (TLS 1.2).
    pub client_ticket: Option<&'a [u8]>,
    /// Extended master secret negotiated.
    pub extended_master_secret: bool,
    /// Encrypt-then-MAC negotiated.
    pub encrypt_then_mac: bool,
    /// The client offered 0-RTT early data.
    pub early_data_offered: bool,
}

impl Crypto {
    /// Takes over the keys in use from the previous session on the same
    /// connection: a renegotiation runs under them until its own
    /// ChangeCipherSpec.
    pub fn inherit(&mut self, old: &mut Crypto) {
        self.current = std::mem::take(&mut old.current);
        self.spec = old.spec;
        self.version = old.version;
    }

    /// Whether keys for this session are known (records can be decrypted).
    pub fn has_keys(&self) -> bool {
        self.pending.0.iter().chain(self.current.0.iter()).any(Option::is_some)
            || self.early.is_some()
    }

    /// Whether `dir`'s records are being decrypted now.
    pub fn active(&self, dir: Dir) -> bool {
        self.current[dir].is_some()
    }

    /// The TLS 1.2 master secret and PRF, once known.
    pub fn tls12_keys(&self) -> Option<Tls12Keys> {
        Some(Tls12Keys { master: self.master.clone()?, prf: self.prf? })
    }

    /// The TLS 1.3 handshake traffic secrets, once known.
    pub fn tls13_secrets(&self) -> Option<&Tls13Secrets> {
        self.tls13_secrets.as_ref()
    }

    /// The suite's record spec.
    pub fn spec(&self) -> Option<&CipherSpec> {
        self.spec.as_ref()
    }

    /// The ServerHello was seen: look up the session's secrets.
    pub fn server_hello(&mut self, ring: &mut Keyring, h: &Hello<'_>) {
        self.version = h.version;
        self.tls13 = h.version == 0x0304;
        let spec = match CipherSpec::from_suite(h.suite) {
            Ok(s) => s,
            Err(e) => {
                self.missing = Some(format!("the cipher suite cannot be decrypted ({e})"));
                return;
            }
        };
        self.spec = Some(spec);
        let found = ring.keylog.lookup(h.client_random);
        let found = found.as_ref();
        // (Nothing is remembered from earlier sessions either: a master
        // secret comes from the key log or an RSA key first.)
        if ring.is_empty() {
            self.missing = Some(
                "no secrets: give a key log with --keylog (SSLKEYLOGFILE), or --rsa-key for static RSA".into(),
            );
            return;
        }
        if self.tls13 {
            self.tls13_keys(found, h, &spec, ring);
            return;
        }
        self.prf = Some(spec.prf(h.version));
        // TLS 1.2: the master secret, from the key log or an earlier
        // session this one resumes.
        let master = found
            .and_then(|s| s.master_secret.clone())
            .or_else(|| {
                (!h.server_session_id.is_empty() && h.server_session_id == h.client_session_id)
                    .then(|| ring.recall(By::SessionId, h.server_session_id))
                    .flatten()
            })
            .or_else(|| ring.keylog.by_session_id(h.server_session_id).cloned())
            .or_else(|| h.client_ticket.and_then(|t| ring.recall(By::Ticket, t)));
        if let Some(m) = master {
            self.set_master(m, h);
            return;
        }
        // The premaster secret (PMS_CLIENT_RANDOM): without extended master
        // secret the master follows now, with it after ClientKeyExchange.
        if let Some(pms) = found.and_then(|s| s.premaster.clone()) {
            if !h.extended_master_secret {
                match keys::master_secret(
                    spec.prf(h.version),
                    pms.as_bytes(),
                    h.client_random,
                    h.server_random,
                ) {
                    Ok(m) => self.set_master(m, h),
                    Err(e) => self.missing = Some(format!("the premaster secret is unusable: {e}")),
                }
            } else {
                self.premaster = Some(pms);
            }
            return;
        }
        self.missing = Some(match found {
            Some(s) if s.has_tls13_traffic() => {
                "the key log has TLS 1.3 secrets for this client random, but the session is TLS 1.2"
                    .into()
            }
            _ => format!(
                "no key log entry for this session's client random {}{}",
                hex(h.client_random),
                cut_note(ring)
            ),
        });
    }

    fn tls13_keys(
        &mut self,
        found: Option<&Secrets>,
        h: &Hello<'_>,
        spec: &CipherSpec,
        ring: &Keyring,
    ) {
        let Some(s) = found else {
            self.missing = Some(format!(
                "no key log entry for this TLS 1.3 session's client random {}{}",
                hex(h.client_random),
                cut_note(ring)
            ));
            return;
        };
        if s.client_handshake.is_none() && s.server_handshake.is_none() {
            let have: Vec<&str> = s.labels().iter().map(|l| l.as_str()).collect();
            self.missing = Some(if s.master_secret.is_some() && s.client_app0.is_none() {
                format!(
                    "TLS 1.3 session, but the key log has only {} for it: TLS 1.3 needs \
                     CLIENT_HANDSHAKE_TRAFFIC_SECRET, SERVER_HANDSHAKE_TRAFFIC_SECRET, \
                     CLIENT_TRAFFIC_SECRET_0 and SERVER_TRAFFIC_SECRET_0 (an SSLKEYLOGFILE \
                     written by a TLS 1.3 client or server has them)",
                    have.join(", ")
                )
            } else {
                format!(
                    "the key log lacks CLIENT_HANDSHAKE_TRAFFIC_SECRET and \
                     SERVER_HANDSHAKE_TRAFFIC_SECRET for this TLS 1.3 session (it has {})",
                    have.join(", ")
                )
            });
            return;
        }
        if let (Some(ch), Some(sh)) = (&s.client_handshake, &s.server_handshake) {
            self.tls13_secrets = Some(Tls13Secrets {
                hash: spec.hash,
                client_handshake: ch.clone(),
                server_handshake: sh.clone(),
            });
        }
        // Each side on its own, as far as its secrets go: its handshake
        // records with its handshake traffic secret, what follows its
        // Finished with its application traffic secret (a side whose
        // Finished cannot be read never gets there).
        for (dir, side, handshake, app) in [
            (Dir::ClientToServer, "CLIENT", &s.client_handshake, &s.client_app0),
            (Dir::ServerToClient, "SERVER", &s.server_handshake, &s.server_app0),
        ] {
            let Some(hs) = handshake else {
                self.missing_dir[dir] = Some(format!(
                    "the key log lacks {side}_HANDSHAKE_TRAFFIC_SECRET for this session"
                ));
                continue;
            };
            match Decryptor::tls13(spec, hs.as_bytes()) {
                Ok(d) => {
                    self.current[dir] = Some(d);
                    self.found = true;
                }
                Err(e) => {
                    self.missing_dir[dir] =
                        Some(format!("its handshake traffic secret does not fit the suite: {e}"));
                    continue;
                }
            }
            match app.as_ref().map(|sec| Decryptor::tls13(spec, sec.as_bytes())) {
                Some(Ok(d)) => self.pending[dir] = Some(d),
                Some(Err(e)) => {
                    self.missing_dir[dir] =
                        Some(format!("its application traffic secret does not fit the suite: {e}"))
                }
                None => {
                    self.missing_dir[dir] =
                        Some(format!("the key log lacks {side}_TRAFFIC_SECRET_0 for this session"))
                }
            }
        }
        if h.early_data_offered {
            match &s.client_early {
                Some(e) => self.early = Decryptor::tls13(spec, e.as_bytes()).ok(),
                None => self.early_missing = true,
            }
        }
    }

    fn set_master(&mut self, master: Secret, h: &Hello<'_>) {
        let Some(spec) = self.spec else { return };
        match spec.key_block(h.version, master.as_bytes(), h.client_random, h.server_random) {
            Ok(kb) => {
                for dir in [Dir::ClientToServer, Dir::ServerToClient] {
                    let keys = RecordKeys::from_key_block(&kb, side(dir));
                    match Decryptor::new(&spec, &keys, h.version, h.encrypt_then_mac) {
                        Ok(d) => self.pending[dir] = Some(d),
                        Err(e) => self.missing = Some(format!("{e}")),
                    }
                }
                self.master = Some(master);
                self.missing = None;
                self.found = true;
            }
            Err(e) => self.missing = Some(format!("deriving the key block: {e}")),
        }
    }
}

impl Crypto {
    /// The ClientKeyExchange was seen: static RSA premaster from the key
    /// log or a private key, and the extended master secret now that the
    /// session hash is known. `transcript` is every handshake message so
    /// far (through the ClientKeyExchange), `certificate` the server's leaf.
    pub fn client_key_exchange(
        &mut self,
        ring: &Keyring,
        h: &Hello<'_>,
        rsa_encrypted: Option<&[u8]>,
        certificate: Option<&[u8]>,
        transcript: &[&[u8]],
    ) {
        if self.master.is_some() || self.tls13 {
            return;
        }
        let Some(spec) = self.spec else { return };
        let mut pms = self.premaster.take();
        if pms.is_none()
            && let Some(enc) = rsa_encrypted
        {
            if let Some(prefix) = enc.get(..8).and_then(|p| <&[u8; 8]>::try_from(p).ok()) {
                pms = ring.keylog.rsa_premaster(prefix).cloned();
            }
            if pms.is_none() {
                for key in &ring.rsa_keys {
                    if let Some(cert) = certificate
                        && !keys::rsa_public_key_matches(key, cert)
                    {
                        continue;
                    }
                    match keys::rsa_decrypt_premaster(key, enc) {
                        Ok(p) => {
                            pms = Some(p);
                            break;
                        }
                        Err(e) => {
                            self.missing = Some(format!(
                                "the RSA key did not decrypt the premaster secret: {e}"
                            ))
                        }
                    }
                }
                if pms.is_none() && !ring.rsa_keys.is_empty() && self.missing.is_none() {
                    self.missing = Some("no --rsa-key matches the server's certificate".into());
                }
            }
        }
        let Some(pms) = pms else { return };
        let prf = spec.prf(h.version);
        let master = if h.extended_master_secret {
            let session_hash = prf.transcript_hash(transcript);
            keys::extended_master_secret(prf, pms.as_bytes(), &session_hash)
        } else {
            keys::master_secret(prf, pms.as_bytes(), h.client_random, h.server_random)
        };
        match master {
            Ok(m) => self.set_master(m, h),
            Err(e) => self.missing = Some(format!("deriving the master secret: {e}")),
        }
    }

    /// TLS 1.2 ChangeCipherSpec from `dir`: its next records use the new keys.
    pub fn change_cipher_spec(&mut self, dir: Dir) {
        if self.tls13 {
            return;
        }
        if let Some(d) = self.pending[dir].take() {
            self.current[dir] = Some(d);
        } else {
            self.current[dir] = None;
        }
    }

    /// TLS 1.3: `dir` sent its Finished; its next records use the
    /// application traffic keys.
    pub fn finished(&mut self, dir: Dir) {
        if self.tls13 {
            self.current[dir] = self.pending[dir].take();
        }
    }

    /// TLS 1.3 KeyUpdate from `dir`: its next records use the next
    /// traffic secret.
    pub fn key_update(&mut self, dir: Dir, frame: u64) {
        if let Some(d) = self.current[dir].as_mut()
            && let Err(e) = d.key_update()
        {
            self.failure[dir].get_or_insert((frame, format!("the KeyUpdate there: {e}")));
            self.current[dir] = None;
        }
    }

    /// The client sent EndOfEarlyData: 0-RTT is over.
    pub fn end_of_early_data(&mut self) {
        self.early = None;
    }

    /// A gap in `dir`'s stream: how many records were lost is unknown, so
    /// the next record's sequence number is searched for.
    pub fn gap(&mut self, dir: Dir) {
        self.after_gap[dir] = true;
    }

    /// A protected record from `dir` was seen (whether or not it can be
    /// decrypted): what the status counts against.
    pub fn protected(&mut self, dir: Dir) {
        self.counts[dir].records = self.counts[dir].records.saturating_add(1);
    }

    /// A protected record from `dir` was cut by a gap in the capture.
    pub fn record_cut(&mut self, dir: Dir, frame: u64) {
        self.cut[dir] = self.cut[dir].saturating_add(1);
        self.lost_frame[dir].get_or_insert(frame);
    }

    /// Protected records of `dir` known to be lost: skipped by the
    /// sequence numbers, or cut by a gap (and none decrypted since).
    pub fn lost_records(&self, dir: Dir) -> u64 {
        self.counts[dir].lost.saturating_add(self.cut[dir])
    }

    /// The master secret of a TLS 1.2 session (to remember for resumption).
    pub fn master(&self) -> Option<&Secret> {
        self.master.as_ref()
    }

    /// Decrypts a record from `dir`: `original` is the record body as
    /// captured, left as it is; the plaintext is written to `body`, which
    /// must be as long (what it holds on entry does not matter, and after a
    /// failure neither does what it holds then). Every attempt (0-RTT
    /// keys, the next sequence numbers) reads `original` again. `None` when
    /// the direction is not encrypted (yet) or no keys are known;
    /// `Some(Err)` when the keys did not fit the record.
    pub fn decrypt<'a>(
        &mut self,
        dir: Dir,
        header: &[u8; 5],
        body: &'a mut [u8],
        original: &[u8],
        frame: u64,
    ) -> Option<Result<Plaintext<'a>, DecryptError>> {
        if self.current[dir].is_none() && !(dir == Dir::ClientToServer && self.early.is_some()) {
            return None;
        }
        if original.len() != body.len() {
            return Some(Err(DecryptError::BadLength));
        }
        // 0-RTT: the client's first encrypted records may be early data.
        if dir == Dir::ClientToServer
            && let Some(early) = self.early.as_mut()
        {
            let base = body.as_ptr() as usize;
            // Not early data (or it was rejected): try the handshake keys;
            // once they work, 0-RTT is over.
            if let Ok(v) = view(early.decrypt_into(header, original, &mut *body), base) {
                self.decrypted(dir, 0, false);
                return Some(Ok(v.into_plaintext(body)));
            }
        }
        let after_gap = std::mem::take(&mut self.after_gap[dir]);
        let version = self.version;
        let d = self.current[dir].as_mut()?;
        let seq = d.seq();
        // After a gap the sequence number is unknown: try the next ones. A
        // missing record now and then (a capture that dropped one) is
        // tried for too. TLS 1.0 CBC chains IVs across records, so there a
        // search cannot work.
        let chained = d.spec().bulk.block_len() > 0 && version <= 0x0301;
        let tries: u64 = if chained {
            1
        } else if after_gap {
            256
        } else {
            4
        };
        let mut last = DecryptError::TagMismatch;
        for k in 0..tries {
            d.set_seq(seq.wrapping_add(k));
            let base = body.as_ptr() as usize;
            match view(d.decrypt_into(header, original, &mut *body), base) {
                Ok(v) => {
                    if dir == Dir::ClientToServer {
                        self.early = None;
                    }
                    self.decrypted(dir, k, after_gap);
                    if k > 0 {
                        self.lost_frame[dir].get_or_insert(frame);
                    }
                    return Some(Ok(v.into_plaintext(body)));
                }
                Err(
                    e @ (DecryptError::Unsupported(_)
                    | DecryptError::TooShort
                    | DecryptError::BadLength),
                ) => {
                    last = e;
                    break;
                }
                Err(e) => last = e,
            }
        }
        if let Some(d) = self.current[dir].as_mut() {
            d.set_seq(seq);
            d.skip_record();
        }
        self.failure[dir].get_or_insert((frame, last.to_string()));
        Some(Err(last))
    }

    /// Counts a record from `dir` decrypted `skipped` sequence numbers
    /// past the expected one (records missing from the capture).
    fn decrypted(&mut self, dir: Dir, skipped: u64, after_gap: bool) {
        let c = &mut self.counts[dir];
        c.decrypted = c.decrypted.saturating_add(1);
        if self.failure[dir].is_some() {
            c.decrypted_after_failure = c.decrypted_after_failure.saturating_add(1);
        }
        if after_gap {
            // The records the gap cut (reported by the record layer) are
            // among those the sequence number skipped.
            c.lost = c.lost.saturating_add(skipped.max(self.cut[dir]));
            self.cut[dir] = 0;
        } else {
            c.lost = c.lost.saturating_add(skipped);
        }
    }

    /// About how many plaintext bytes a protected record of `len` bytes
    /// carries (its length less the suite's nonce and tag or MAC, when the
    /// suite is known).
    pub fn plaintext_estimate(&self, len: u16) -> u64 {
        let Some(spec) = &self.spec else { return u64::from(len) };
        let overhead = spec
            .record_iv_len(self.version)
            .saturating_add(spec.mac_len())
            .saturating_add(spec.bulk.tag_len())
            .saturating_add(usize::from(self.tls13));
        u64::from(len).saturating_sub(overhead as u64)
    }

    /// Records application data bytes decrypted.
    pub fn app_bytes(&mut self, dir: Dir, n: usize) {
        self.counts[dir].app_bytes = self.counts[dir].app_bytes.saturating_add(n as u64);
    }

    /// The status and the reason when it is not ok: "ok" only when every
    /// protected record of both directions was decrypted and none was
    /// lost; otherwise what was not decrypted, per direction, and why.
    pub fn status(&self, seen: &Seen) -> (Status, Option<String>) {
        let decrypted: u64 = self.counts.0.iter().map(|c| c.decrypted).sum();
        let records: u64 = self.counts.0.iter().map(|c| c.records).sum();
        let [client, server] = [Dir::ClientToServer, Dir::ServerToClient].map(|dir| {
            let c = &self.counts[dir];
            let undecrypted = c.records.saturating_sub(c.decrypted);
            let why = (undecrypted > 0).then(|| self.why_undecrypted(dir, seen));
            (dir, undecrypted, why)
        });
        let mut parts = Vec::new();
        match (&client, &server) {
            // The same reason for both sides: said once.
            ((_, cu, Some(cw)), (_, su, Some(sw))) if cw == sw => {
                let (cr, sr) = (self.counts[client.0].records, self.counts[server.0].records);
                parts.push(format!(
                    "{} of the {} encrypted records not decrypted (client {cu} of {cr}, server \
                     {su} of {sr}): {cw}",
                    cu.saturating_add(*su),
                    cr.saturating_add(sr)
                ));
            }
            _ => {
                for (dir, undecrypted, why) in [&client, &server] {
                    if let Some(why) = why {
                        let n = self.counts[*dir].records;
                        parts.push(format!(
                            "{undecrypted} of the {}'s {n} encrypted record{} not decrypted: {why}",
                            dir.sender(),
                            if n == 1 { "" } else { "s" }
                        ));
                    }
                }
            }
        }
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let lost = self.lost_records(dir);
            if lost > 0 {
                let frame =
                    self.lost_frame[dir].map(|f| format!(" (from frame {f})")).unwrap_or_default();
                parts.push(format!(
                    "{lost} record{} from the {} lost in gaps in the capture{frame}",
                    if lost == 1 { "" } else { "s" },
                    dir.sender()
                ));
            }
        }
        if parts.is_empty() {
            if records == 0 && !self.found {
                // Nothing was encrypted, and nothing could have been
                // decrypted either: say why rather than "ok".
                return (Status::None, Some(self.why_no_keys(seen)));
            }
            return (Status::Ok, None);
        }
        let status = if decrypted == 0 { Status::None } else { Status::Partial };
        (status, Some(parts.join("; ")))
    }

    /// Why some of `dir`'s protected records were not decrypted.
    fn why_undecrypted(&self, dir: Dir, seen: &Seen) -> String {
        let c = &self.counts[dir];
        match &self.failure[dir] {
            Some((frame, e)) => {
                let mut why = format!("the record at frame {frame} failed: {e}");
                let after = c.decrypted_after_failure;
                if after > 0 {
                    why.push_str(&format!(
                        "; {after} record{} after it decrypted",
                        if after == 1 { "" } else { "s" }
                    ));
                } else if c.decrypted == 0 {
                    why.push_str("; none decrypted: wrong secrets for this session?");
                }
                why
            }
            None => self.why_no_keys_dir(dir, seen),
        }
    }

    /// Why records of `dir` that no decryption was attempted for were
    /// left so.
    fn why_no_keys_dir(&self, dir: Dir, seen: &Seen) -> String {
        if let Some(m) = &self.missing_dir[dir] {
            return m.clone();
        }
        if dir == Dir::ClientToServer && self.early_missing && self.found {
            return "the client's 0-RTT early data: the key log lacks CLIENT_EARLY_TRAFFIC_SECRET \
                    for this session"
                .into();
        }
        if self.found && self.missing.is_none() {
            return format!(
                "no keys were in use for them (the {}'s ChangeCipherSpec or Finished was not seen)",
                dir.sender()
            );
        }
        self.why_no_keys(seen)
    }

    /// Why the session has no keys.
    fn why_no_keys(&self, seen: &Seen) -> String {
        if let Some(m) = &self.missing {
            return m.clone();
        }
        if !seen.client_hello {
            return "the ClientHello is not in the capture, so the key log cannot be searched \
                    for its client random"
                .into();
        }
        if !seen.server_hello {
            return "the ServerHello is not in the capture (the cipher suite and the server \
                    random are unknown)"
                .into();
        }
        "no keys were found for this session".into()
    }
}

/// Said after "no key log entry" when the key logs were not read whole.
fn cut_note(ring: &Keyring) -> &'static str {
    if ring.keylog.not_kept() > 0 {
        " (the key logs were not read whole: the memory budget was used up)"
    } else {
        ""
    }
}

/// What the session saw of the handshake, for the status's reasons.
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen {
    /// The ClientHello was read.
    pub client_hello: bool,
    /// The ServerHello was read.
    pub server_hello: bool,
}

/// A plaintext as positions in the record buffer, so the buffer's borrow
/// can end between attempts.
struct View {
    content_type: u8,
    start: usize,
    len: usize,
    padding: usize,
}

impl View {
    fn into_plaintext(self, body: &[u8]) -> Plaintext<'_> {
        Plaintext {
            content_type: self.content_type,
            data: body.get(self.start..self.start.saturating_add(self.len)).unwrap_or_default(),
            padding: self.padding,
        }
    }
}

/// The plaintext's position in the buffer that starts at address `base`.
fn view(r: Result<Plaintext<'_>, DecryptError>, base: usize) -> Result<View, DecryptError> {
    r.map(|p| View {
        content_type: p.content_type,
        start: (p.data.as_ptr() as usize).saturating_sub(base),
        len: p.data.len(),
        padding: p.padding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: Dir = Dir::ClientToServer;
    const S: Dir = Dir::ServerToClient;
    const SEEN: Seen = Seen { client_hello: true, server_hello: true };

    /// A session's state after `records` protected records per side
    /// ([client, server]) of which `decrypted` were decrypted.
    fn after(records: [u64; 2], decrypted: [u64; 2]) -> Crypto {
        let mut c = Crypto { found: true, ..Crypto::default() };
        for (dir, i) in [(C, 0), (S, 1)] {
            for _ in 0..records[i] {
                c.protected(dir);
            }
            c.counts[dir].decrypted = decrypted[i];
        }
        c
    }

    #[test]
    fn ok_only_when_every_record_of_both_sides_decrypted() {
        assert_eq!(after([3, 4], [3, 4]).status(&SEEN), (Status::Ok, None));
        let (status, reason) = after([3, 4], [3, 0]).status(&SEEN);
        assert_eq!(status, Status::Partial);
        assert!(reason.unwrap().starts_with("4 of the server's 4 encrypted records not decrypted"));
        assert_eq!(after([3, 4], [0, 0]).status(&SEEN).0, Status::None);
    }

    #[test]
    fn a_side_without_its_secret_is_named_with_the_label() {
        let mut c = after([2, 5], [2, 1]);
        c.missing_dir[S] =
            Some("the key log lacks SERVER_TRAFFIC_SECRET_0 for this session".into());
        assert_eq!(
            c.status(&SEEN),
            (
                Status::Partial,
                Some(
                    "4 of the server's 5 encrypted records not decrypted: the key log lacks \
                     SERVER_TRAFFIC_SECRET_0 for this session"
                        .into()
                )
            )
        );
    }

    #[test]
    fn a_failed_record_says_where_and_how_many_after_it_decrypted() {
        let mut c = after([0, 6], [0, 5]);
        c.failure[S] = Some((24, DecryptError::TagMismatch.to_string()));
        c.counts[S].decrypted_after_failure = 3;
        let reason = c.status(&SEEN).1.unwrap();
        assert!(reason.contains("the record at frame 24 failed: authentication tag mismatch"));
        assert!(reason.ends_with("; 3 records after it decrypted"), "{reason}");
        // None after it: the secrets are suspect.
        c.counts[S].decrypted_after_failure = 0;
        c.counts[S].decrypted = 0;
        let (status, reason) = c.status(&SEEN);
        assert_eq!(status, Status::None);
        assert!(reason.unwrap().ends_with("none decrypted: wrong secrets for this session?"));
    }

    #[test]
    fn the_same_reason_for_both_sides_is_said_once() {
        let mut c = after([2, 3], [0, 0]);
        c.found = false;
        let seen = Seen { client_hello: false, server_hello: true };
        let (status, reason) = c.status(&seen);
        assert_eq!(status, Status::None);
        assert_eq!(
            reason.unwrap(),
            "5 of the 5 encrypted records not decrypted (client 2 of 2, server 3 of 3): the \
             ClientHello is not in the capture, so the key log cannot be searched for its \
             client random"
        );
    }

    #[test]
    fn records_lost_in_gaps_keep_it_from_being_ok() {
        let mut c = after([4, 4], [4, 4]);
        c.record_cut(S, 37);
        assert_eq!(c.lost_records(S), 1);
        let (status, reason) = c.status(&SEEN);
        assert_eq!(status, Status::Partial);
        assert_eq!(
            reason.unwrap(),
            "1 record from the server lost in gaps in the capture (from frame 37)"
        );
    }

    #[test]
    fn nothing_encrypted_is_ok_only_when_keys_were_found() {
        assert_eq!(after([0, 0], [0, 0]).status(&SEEN), (Status::Ok, None));
        let c = Crypto {
            missing: Some("no key log entry for this session's client random 00".into()),
            ..Crypto::default()
        };
        assert_eq!(
            c.status(&SEEN),
            (Status::None, Some("no key log entry for this session's client random 00".into()))
        );
    }
}
