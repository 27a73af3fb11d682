//! SASL authentication (`SaslHandshake`, `SaslAuthenticate`) with PLAIN, SCRAM-SHA-256 and
//! SCRAM-SHA-512 against a fixed set of users, as Kafka's broker runs it.
//!
//! When the server has users, a connection starts unauthenticated: it may send
//! `ApiVersions`, `SaslHandshake` and then the mechanism's tokens (in `SaslAuthenticate`
//! requests, or as bare length-framed tokens after a version 0 handshake). Anything else
//! before a successful authentication closes it; a failed authentication is answered with
//! `SASL_AUTHENTICATION_FAILED` and then closes it. Passwords and proofs are compared in
//! constant time.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use subtle::ConstantTimeEq as _;

use super::frame::{self, decode};
use super::scram::{self, Exchange, Hash, Keys};
use super::versions;
use crate::error::{Error, Result};

/// The mechanisms offered, in `SaslHandshake`'s answer.
const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The users a server with SASL accepts: names and passwords, with each password's SCRAM
/// keys derived once. Set it as [`ServeOptions::sasl`](super::ServeOptions::sasl).
#[derive(Clone)]
pub struct SaslUsers {
    users: Arc<BTreeMap<String, Credentials>>,
}

struct Credentials {
    password: Vec<u8>,
    sha256: Keys,
    sha512: Keys,
}

impl fmt::Debug for SaslUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslUsers")
            .field("count", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl SaslUsers {
    /// Reads a users file: one `user:password` a line (the password is everything after
    /// the first colon); blank lines and lines starting with `#` are skipped. A file that
    /// cannot be read, a malformed line, a repeated user or no user at all is
    /// [`Error::InvalidArgument`].
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| match e {
            Error::InvalidArgument(msg) => Error::invalid(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// As [`SaslUsers::from_file`], from the file's text.
    pub fn parse(text: &str) -> Result<Self> {
        let mut users = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let Some((user, password)) = line.split_once(':') else {
                return Err(Error::invalid(format!(
                    "line {number}: expected user:password"
                )));
            };
            if user.is_empty() || password.is_empty() {
                return Err(Error::invalid(format!(
                    "line {number}: the user and the password must not be empty"
                )));
            }
            if users.contains_key(user) {
                return Err(Error::invalid(format!(
                    "line {number}: user {user} is given twice"
                )));
            }
            users.insert(user.to_owned(), Credentials::new(password.as_bytes())?);
        }
        if users.is_empty() {
            return Err(Error::invalid("no user:password line"));
        }
        Ok(Self {
            users: Arc::new(users),
        })
    }

    /// The number of users.
    #[must_use]
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Always false: a set of users has at least one.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// PLAIN: true if `user` has `password` (compared in constant time).
    fn plain(&self, user: &str, password: &[u8]) -> bool {
        self.users
            .get(user)
            .is_some_and(|c| bool::from(c.password.ct_eq(password)))
    }

    fn keys(&self, user: &str, hash: Hash) -> Option<Keys> {
        self.users.get(user).map(|c| match hash {
            Hash::Sha256 => c.sha256.clone(),
            Hash::Sha512 => c.sha512.clone(),
        })
    }
}

impl Credentials {
    fn new(password: &[u8]) -> Result<Self> {
        let salt = random::<16>()?;
        Ok(Self {
            password: password.to_vec(),
            sha256: Keys::derive(Hash::Sha256, password, &salt, scram::ITERATIONS),
            sha512: Keys::derive(Hash::Sha512, password, &salt, scram::ITERATIONS),
        })
    }
}

/// `N` bytes from the operating system's random source.
fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::invalid(format!("no random bytes for SASL: {e}")))?;
    Ok(bytes)
}

/// A SASL mechanism.
#[derive(Clone, Copy)]
enum Mechanism {
    Plain,
    Scram(Hash),
}

/// Where a connection is in its authentication.
enum State {
    /// Waiting for `SaslHandshake`.
    Start,
    /// Handshaken: waiting for the mechanism's first token. `raw` after a version 0
    /// handshake: tokens come as bare frames, not in `SaslAuthenticate`.
    Handshaken { mechanism: Mechanism, raw: bool },
    /// SCRAM: waiting for the client's final message.
    Scram { exchange: Box<Exchange>, raw: bool },
    /// Authenticated, or no SASL: requests are served.
    Done,
    /// Failed: the connection closes once the answer is written.
    Failed,
}

/// What a token gets.
enum Step {
    /// A challenge: the exchange goes on.
    Challenge(Vec<u8>),
    /// The last server message: authenticated.
    Success(Vec<u8>),
    /// The credentials are wrong or the token is malformed.
    Failure,
}

/// What the connection does with a frame.
pub(super) enum Outcome {
    /// Serve it as a request: authenticated, no SASL, or `ApiVersions`.
    Serve,
    /// Write this frame (an answer of the exchange).
    Respond(BytesMut),
    /// Close the connection.
    Close,
}

/// One connection's authentication.
pub(super) struct Session<'a> {
    users: Option<&'a SaslUsers>,
    state: State,
}

impl<'a> Session<'a> {
    /// A session that must authenticate if `users` is set.
    pub(super) fn new(users: Option<&'a SaslUsers>) -> Self {
        let state = if users.is_some() {
            State::Start
        } else {
            State::Done
        };
        Self { users, state }
    }

    /// True once the connection must close (after the answer just written).
    pub(super) fn failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// Sorts one frame: to be served as the server does once authenticated (or
    /// `ApiVersions`), else answered as a step of the authentication.
    pub(super) fn check(&mut self, frame: &Bytes) -> Outcome {
        let (users, raw) = match (&self.state, self.users) {
            (State::Done, _) | (_, None) => return Outcome::Serve,
            (State::Failed, Some(_)) => return Outcome::Close,
            (State::Handshaken { raw, .. } | State::Scram { raw, .. }, Some(users)) => {
                (users, *raw)
            }
            (State::Start, Some(users)) => (users, false),
        };
        if raw {
            return match self.step(users, frame) {
                Step::Challenge(token) | Step::Success(token) => raw_frame(&token),
                Step::Failure => Outcome::Close,
            };
        }
        let mut body = frame.clone();
        let Some((header, key)) = frame::request_header(&mut body) else {
            return Outcome::Close;
        };
        let version = header.request_api_version;
        let served = versions::SASL
            .iter()
            .any(|&(k, min, max)| k == key && (min..=max).contains(&version));
        match key {
            ApiKey::ApiVersions => Outcome::Serve,
            ApiKey::SaslHandshake if served && matches!(self.state, State::Start) => {
                self.handshake(&header, body)
            }
            ApiKey::SaslAuthenticate if served && !matches!(self.state, State::Start) => {
                self.authenticate(users, &header, body)
            }
            _ => Outcome::Close,
        }
    }

    /// `SaslHandshake`: picks the mechanism, or answers `UNSUPPORTED_SASL_MECHANISM` and
    /// closes.
    fn handshake(&mut self, header: &RequestHeader, mut body: Bytes) -> Outcome {
        let version = header.request_api_version;
        let Some(request) = decode::<SaslHandshakeRequest>(&mut body, version) else {
            return Outcome::Close;
        };
        let mechanism = match &*request.mechanism {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-256" => Some(Mechanism::Scram(Hash::Sha256)),
            "SCRAM-SHA-512" => Some(Mechanism::Scram(Hash::Sha512)),
            _ => None,
        };
        let mut response = SaslHandshakeResponse::default();
        response.mechanisms = MECHANISMS
            .iter()
            .map(|m| StrBytes::from_static_str(m))
            .collect();
        self.state = if let Some(mechanism) = mechanism {
            State::Handshaken {
                mechanism,
                raw: version == 0,
            }
        } else {
            response.error_code = ResponseError::UnsupportedSaslMechanism.code();
            State::Failed
        };
        let header_version = ApiKey::SaslHandshake.response_header_version(version);
        encode(header.correlation_id, header_version, &response, version)
    }

    /// `SaslAuthenticate`: one token of the exchange.
    fn authenticate(
        &mut self,
        users: &SaslUsers,
        header: &RequestHeader,
        mut body: Bytes,
    ) -> Outcome {
        let version = header.request_api_version;
        let Some(request) = decode::<SaslAuthenticateRequest>(&mut body, version) else {
            return Outcome::Close;
        };
        let mut response = SaslAuthenticateResponse::default();
        match self.step(users, &request.auth_bytes) {
            Step::Challenge(token) | Step::Success(token) => {
                response.auth_bytes = Bytes::from(token);
            }
            Step::Failure => {
                response.error_code = ResponseError::SaslAuthenticationFailed.code();
                response.error_message = Some(StrBytes::from_static_str(
                    "Authentication failed: invalid credentials",
                ));
            }
        }
        let header_version = ApiKey::SaslAuthenticate.response_header_version(version);
        encode(header.correlation_id, header_version, &response, version)
    }

    /// Takes one client token and moves the state on.
    fn step(&mut self, users: &SaslUsers, token: &[u8]) -> Step {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let (step, next) = match state {
            State::Handshaken {
                mechanism: Mechanism::Plain,
                ..
            } => {
                if plain(users, token) {
                    (Step::Success(Vec::new()), State::Done)
                } else {
                    (Step::Failure, State::Failed)
                }
            }
            State::Handshaken {
                mechanism: Mechanism::Scram(hash),
                raw,
            } => match scram_first(users, hash, token) {
                Some((exchange, message)) => (
                    Step::Challenge(message),
                    State::Scram {
                        exchange: Box::new(exchange),
                        raw,
                    },
                ),
                None => (Step::Failure, State::Failed),
            },
            State::Scram { exchange, .. } => match exchange.finish(token) {
                Some(message) => (Step::Success(message), State::Done),
                None => (Step::Failure, State::Failed),
            },
            State::Start | State::Done | State::Failed => (Step::Failure, State::Failed),
        };
        self.state = next;
        step
    }
}

/// PLAIN's one token, `authzid NUL user NUL password`: true if the password is the user's
/// (and the authorization id, if any, is the user).
fn plain(users: &SaslUsers, token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(user) = std::str::from_utf8(user) else {
        return false;
    };
    (authzid.is_empty() || authzid == user.as_bytes()) && users.plain(user, password)
}

/// SCRAM's first client message: the exchange and the server's first message.
fn scram_first(users: &SaslUsers, hash: Hash, token: &[u8]) -> Option<(Exchange, Vec<u8>)> {
    let client = scram::parse_client_first(token)?;
    let keys = users.keys(&client.user, hash);
    let salt_if_unknown = random::<16>().ok()?;
    let nonce = random::<18>().ok()?;
    let nonce = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, nonce);
    Some(scram::server_first(
        hash,
        client,
        keys,
        &salt_if_unknown,
        &nonce,
    ))
}

/// A bare token frame (after a version 0 handshake): its length, then its bytes.
fn raw_frame(token: &[u8]) -> Outcome {
    let Ok(length) = i32::try_from(token.len()) else {
        return Outcome::Close;
    };
    let mut buf = BytesMut::with_capacity(token.len() + 4);
    buf.put_i32(length);
    buf.put_slice(token);
    Outcome::Respond(buf)
}

/// Encodes a response frame: the length, the response header, the body.
fn encode<T: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &T,
    version: i16,
) -> Outcome {
    frame::encode(correlation_id, header_version, body, version)
        .map_or(Outcome::Close, Outcome::Respond)
}
