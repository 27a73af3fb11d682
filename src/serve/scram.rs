//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server's side, as Kafka runs
//! them: no channel binding (`n,,` or `y,,`), no `SASLprep` (passwords are their UTF-8
//! bytes), extensions after the nonce are ignored. Pure: the caller supplies the random
//! bytes, so every step is a function of its input.
//!
//! Each user's keys are derived once, when the users are loaded: `SaltedPassword` is
//! PBKDF2 of the password over a random salt, and only `StoredKey` and `ServerKey` are
//! kept for SCRAM. The proof is compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq as _;

/// PBKDF2 iterations for the derived keys: Kafka's minimum, and RFC 7677's for SHA-256.
pub(super) const ITERATIONS: u32 = 4096;

/// The hash a SCRAM mechanism runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Sha512 => {
                let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn pbkdf2(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Self::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// What the server keeps of a password for one SCRAM mechanism.
#[derive(Clone)]
pub(super) struct Keys {
    pub(super) salt: Vec<u8>,
    pub(super) iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Keys {
    /// Derives the keys of `password` over `salt`.
    pub(super) fn derive(hash: Hash, password: &[u8], salt: &[u8], iterations: u32) -> Self {
        let salted = hash.pbkdf2(password, salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.digest(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        }
    }
}

/// The client's first message, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ClientFirst {
    /// The user (its `saslname` decoded).
    pub(super) user: String,
    /// The GS2 header (`n,,` and the like), which the final message echoes in `c=`.
    gs2_header: String,
    /// The message after the GS2 header.
    bare: String,
    nonce: String,
}

/// Parses `n,[a=authzid],n=user,r=nonce[,ext...]`. Channel binding (`p=`) is refused, as
/// is an authorization id other than the user.
pub(super) fn parse_client_first(message: &[u8]) -> Option<ClientFirst> {
    let message = std::str::from_utf8(message).ok()?;
    let mut parts = message.splitn(3, ',');
    let binding = parts.next()?;
    let authzid = parts.next()?;
    let bare = parts.next()?;
    if binding != "n" && binding != "y" {
        return None;
    }
    let mut attributes = bare.split(',');
    let user = decode_name(attributes.next()?.strip_prefix("n=")?)?;
    let nonce = attributes.next()?.strip_prefix("r=")?;
    if user.is_empty() || !printable(nonce) {
        return None;
    }
    if !authzid.is_empty() && decode_name(authzid.strip_prefix("a=")?)? != user {
        return None;
    }
    Some(ClientFirst {
        gs2_header: format!("{binding},{authzid},"),
        bare: bare.to_owned(),
        nonce: nonce.to_owned(),
        user,
    })
}

/// The exchange after the server's first message, waiting for the client's final one.
#[derive(Clone)]
pub(super) struct Exchange {
    hash: Hash,
    first: String,
    gs2_header: String,
    nonce: String,
    /// `None` for an unknown user: the exchange goes on (so that a client cannot tell
    /// users apart) and fails at the proof.
    keys: Option<Keys>,
}

/// Answers the client's first message: the exchange to finish and the server's first
/// message. `keys` are the user's, `salt_if_unknown` stands in for a salt when the user is
/// unknown, and `server_nonce` is random (printable, no comma).
pub(super) fn server_first(
    hash: Hash,
    client: ClientFirst,
    keys: Option<Keys>,
    salt_if_unknown: &[u8],
    server_nonce: &str,
) -> (Exchange, Vec<u8>) {
    let nonce = format!("{}{server_nonce}", client.nonce);
    let (salt, iterations) = keys.as_ref().map_or((salt_if_unknown, ITERATIONS), |k| {
        (&k.salt[..], k.iterations)
    });
    let message = format!("r={nonce},s={},i={iterations}", STANDARD.encode(salt));
    let exchange = Exchange {
        hash,
        first: format!("{},{message}", client.bare),
        gs2_header: client.gs2_header,
        nonce,
        keys,
    };
    (exchange, message.into_bytes())
}

impl Exchange {
    /// Checks the client's final message `c=...,r=...,p=proof`: the server's final
    /// message (`v=signature`) if the proof is the password's, else `None`.
    pub(super) fn finish(&self, message: &[u8]) -> Option<Vec<u8>> {
        let message = std::str::from_utf8(message).ok()?;
        let (without_proof, proof) = message.rsplit_once(",p=")?;
        let mut attributes = without_proof.split(',');
        let binding = STANDARD
            .decode(attributes.next()?.strip_prefix("c=")?)
            .ok()?;
        let nonce = attributes.next()?.strip_prefix("r=")?;
        let proof = STANDARD.decode(proof).ok()?;
        if binding != self.gs2_header.as_bytes() || nonce != self.nonce {
            return None;
        }
        let keys = self.keys.as_ref()?;
        let auth_message = format!("{},{without_proof}", self.first);
        let signature = self.hash.hmac(&keys.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return None;
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        let stored_key = self.hash.digest(&client_key);
        if !bool::from(stored_key.ct_eq(&keys.stored_key)) {
            return None;
        }
        let verifier = self.hash.hmac(&keys.server_key, auth_message.as_bytes());
        Some(format!("v={}", STANDARD.encode(verifier)).into_bytes())
    }
}

/// A `saslname` decoded: `=2C` is a comma, `=3D` an equals sign; any other `=` is invalid.
fn decode_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        out.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// True if `nonce` is RFC 5802's `printable`: ASCII 0x21..=0x7e but the comma.
fn printable(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example, run through the server's side.
    #[test]
    fn the_rfc_7677_example_authenticates() {
        let client = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").expect("parses");
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let keys = Keys::derive(Hash::Sha256, b"pencil", &salt, 4096);
        let (exchange, first) = server_first(
            Hash::Sha256,
            client,
            Some(keys),
            &[],
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
        assert_eq!(
            first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let last = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            exchange.finish(last).expect("the proof is the password's"),
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let mut wrong = last.to_vec();
        let at = wrong.len() - 5;
        wrong[at] = b'A';
        assert_eq!(exchange.finish(&wrong), None);
    }

    #[test]
    fn names_and_headers_are_checked() {
        let first = parse_client_first(b"n,a=a=3Db,n=a=3Db,r=xyz,ext=1").expect("parses");
        assert_eq!(first.user, "a=b");
        for bad in [
            &b"p=tls-unique,,n=u,r=x"[..],
            b"n,,n=u",
            b"n,,n=,r=x",
            b"n,a=other,n=u,r=x",
            b"n,,n=u=2X,r=x",
            b"n,,r=x,n=u",
            b"n,,n=u,r=a b",
        ] {
            assert_eq!(parse_client_first(bad), None, "{bad:?}");
        }
    }
}
