//! SASL PLAIN and SCRAM-SHA-256/512: the right password authenticates and the client is
//! served; a wrong one gets `SASL_AUTHENTICATION_FAILED` and is closed; anything but
//! `ApiVersions` and the exchange before authentication closes the connection; the SASL
//! APIs are advertised only with users. SASL over TLS (`SASL_SSL`) too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use brooklet::serve::{SaslUsers, ServeOptions};
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac as _};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use sha2::{Sha256, Sha512};

use crate::harness::{Client, Served, serve, serve_with};
use crate::tls::{Ca, TlsClient, block_on, serve_tls};

const USERS: &str = "# users\nalice:wonder:land\n\nbob:builder\n";

fn serve_sasl() -> Served {
    serve_with(ServeOptions {
        sasl: Some(SaslUsers::parse(USERS).expect("users")),
        ..ServeOptions::default()
    })
}

fn handshake(client: &mut Client, mechanism: &'static str) -> SaslHandshakeResponse {
    client.call(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
    )
}

fn authenticate(client: &mut Client, token: Vec<u8>) -> SaslAuthenticateResponse {
    client.call(
        ApiKey::SaslAuthenticate,
        2,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
    )
}

/// True if the client is served a metadata request.
fn served_metadata(client: &mut Client) -> bool {
    client.send(
        ApiKey::Metadata,
        9,
        &MetadataRequest::default().with_topics(None),
    );
    client.receive_frame().is_some()
}

/// PLAIN with `user` and `password`: the authentication's error code.
fn plain(client: &mut Client, user: &str, password: &str) -> i16 {
    assert_eq!(handshake(client, "PLAIN").error_code, 0);
    authenticate(client, format!("\0{user}\0{password}").into_bytes()).error_code
}

#[test]
fn plain_authenticates_the_right_password_only() {
    let served = serve_sasl();
    let mut client = served.connect();
    assert_eq!(plain(&mut client, "alice", "wonder:land"), 0);
    assert!(served_metadata(&mut client));
    for (user, password) in [
        ("alice", "wonder"),
        ("bob", "builder "),
        ("carol", "builder"),
    ] {
        let mut client = served.connect();
        assert_eq!(plain(&mut client, user, password), 58, "{user}:{password}");
        assert!(client.closed());
    }
    served.stop();
}

/// The SCRAM exchange as a client runs it; the server's two answers' error codes, and
/// whether the server's signature checked out.
fn scram(client: &mut Client, hash: &str, user: &str, password: &str) -> (i16, i16, bool) {
    let mechanism = if hash == "256" {
        "SCRAM-SHA-256"
    } else {
        "SCRAM-SHA-512"
    };
    assert_eq!(handshake(client, mechanism).error_code, 0);
    let first_bare = format!("n={user},r=clientnonce123");
    let first = authenticate(client, format!("n,,{first_bare}").into_bytes());
    if first.error_code != 0 {
        return (first.error_code, 0, false);
    }
    let server_first = String::from_utf8(first.auth_bytes.to_vec()).expect("UTF-8");
    let mut fields = server_first.split(',');
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .expect("r=");
    let salt = STANDARD
        .decode(
            fields
                .next()
                .and_then(|f| f.strip_prefix("s="))
                .expect("s="),
        )
        .expect("salt");
    let iterations: u32 = fields
        .next()
        .and_then(|f| f.strip_prefix("i="))
        .expect("i=")
        .parse()
        .expect("count");
    assert!(nonce.starts_with("clientnonce123") && nonce.len() > 14);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{first_bare},{server_first},{without_proof}");
    let (proof, verifier) = if hash == "256" {
        proof::<Sha256>(password, &salt, iterations, &auth_message)
    } else {
        proof::<Sha512>(password, &salt, iterations, &auth_message)
    };
    let last = format!("{without_proof},p={}", STANDARD.encode(proof));
    let last = authenticate(client, last.into_bytes());
    let signed = last.auth_bytes == format!("v={}", STANDARD.encode(verifier)).as_bytes();
    (0, last.error_code, signed)
}

/// RFC 5802's client proof and the server signature the client expects.
fn proof<D>(password: &str, salt: &[u8], iterations: u32, auth: &str) -> (Vec<u8>, Vec<u8>)
where
    D: sha2::Digest + hmac::EagerHash,
    Hmac<D>: KeyInit + hmac::Mac,
{
    let mut salted = vec![0u8; <D as sha2::Digest>::output_size()];
    pbkdf2::pbkdf2_hmac::<D>(password.as_bytes(), salt, iterations, &mut salted);
    let mac = |key: &[u8], data: &[u8]| {
        let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key).expect("key");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    };
    let client_key = mac(&salted, b"Client Key");
    let stored_key = D::digest(&client_key).to_vec();
    let signature = mac(&stored_key, auth.as_bytes());
    let proof = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = mac(&salted, b"Server Key");
    (proof, mac(&server_key, auth.as_bytes()))
}

#[test]
fn scram_sha_256_and_512_authenticate_the_right_password_only() {
    let served = serve_sasl();
    for hash in ["256", "512"] {
        let mut client = served.connect();
        assert_eq!(scram(&mut client, hash, "bob", "builder"), (0, 0, true));
        assert!(served_metadata(&mut client), "SHA-{hash}");
        for (user, password) in [("bob", "Builder"), ("nobody", "builder")] {
            let mut client = served.connect();
            assert_eq!(scram(&mut client, hash, user, password), (0, 58, false));
            assert!(client.closed(), "SHA-{hash} {user}:{password}");
        }
    }
    served.stop();
}

#[test]
fn requests_before_authentication_close_the_connection() {
    let served = serve_sasl();
    let mut client = served.connect();
    let versions: ApiVersionsResponse =
        client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let keys: Vec<i16> = versions.api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&17) && keys.contains(&36), "{keys:?}");
    assert!(!served_metadata(&mut client));
    // After the handshake, but before the token.
    let mut client = served.connect();
    assert_eq!(handshake(&mut client, "PLAIN").error_code, 0);
    assert!(!served_metadata(&mut client));
    // A mechanism not offered.
    let mut client = served.connect();
    let answer = handshake(&mut client, "GSSAPI");
    assert_eq!(answer.error_code, 33);
    assert_eq!(answer.mechanisms.len(), 3);
    assert!(client.closed());
    // Without users, the SASL APIs are neither advertised nor answered.
    let plain = serve();
    let mut client = plain.connect();
    let versions: ApiVersionsResponse =
        client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert!(
        versions
            .api_keys
            .iter()
            .all(|k| k.api_key != 17 && k.api_key != 36)
    );
    client.send(
        ApiKey::SaslHandshake,
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    assert!(client.closed());
    plain.stop();
    served.stop();
}

#[test]
fn a_version_0_handshake_takes_bare_tokens() {
    let served = serve_sasl();
    let mut client = served.connect();
    let answer: SaslHandshakeResponse = client.call(
        ApiKey::SaslHandshake,
        0,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    assert_eq!(answer.error_code, 0);
    client.send_frame(b"\0alice\0wonder:land");
    assert_eq!(client.receive_frame().expect("an empty token").len(), 0);
    assert!(served_metadata(&mut client));
    let mut client = served.connect();
    let _: SaslHandshakeResponse = client.call(
        ApiKey::SaslHandshake,
        0,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    client.send_frame(b"\0alice\0wonder");
    assert!(client.closed());
    served.stop();
}

#[test]
fn sasl_runs_over_tls() {
    let ca = Ca::new("brooklet test CA");
    let served = serve_tls(
        &ca,
        None,
        ServeOptions {
            sasl: Some(SaslUsers::parse(USERS).expect("users")),
            ..ServeOptions::default()
        },
    );
    block_on(async {
        let mut client = TlsClient::connect(served.addr, &ca, None)
            .await
            .expect("handshake");
        let metadata = MetadataRequest::default().with_topics(None);
        let request =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
        let answer: SaslHandshakeResponse = client
            .call(ApiKey::SaslHandshake, 1, &request)
            .await
            .expect("answered");
        assert_eq!(answer.error_code, 0);
        let token = Bytes::from_static(b"\0bob\0builder");
        let request = SaslAuthenticateRequest::default().with_auth_bytes(token);
        let answer: SaslAuthenticateResponse = client
            .call(ApiKey::SaslAuthenticate, 2, &request)
            .await
            .expect("answered");
        assert_eq!(answer.error_code, 0);
        let response: Option<MetadataResponse> = client.call(ApiKey::Metadata, 9, &metadata).await;
        assert_eq!(response.expect("served").brokers.len(), 1);
    });
    served.stop();
}

#[test]
fn malformed_users_files_are_refused() {
    for (text, needle) in [
        ("", "no user"),
        ("# only a comment\n", "no user"),
        ("alice\n", "line 1: expected user:password"),
        ("alice:a\n:b\n", "line 2"),
        ("alice:\n", "line 1"),
        ("alice:a\nalice:b\n", "twice"),
    ] {
        let error = SaslUsers::parse(text).expect_err("refused");
        assert!(error.to_string().contains(needle), "{text:?}: {error}");
    }
    let users = SaslUsers::parse("a:b\r\nc:d:e\n").expect("parses");
    assert_eq!(users.len(), 2);
}
