//! `brooklet serve`'s security flags as a user runs them: a non-loopback address needs
//! TLS, bad PEM or users files are refused with one line (exit 2) before listening, and
//! with a certificate the server listens on every address.

use std::io::{BufRead as _, BufReader};

use crate::support::cli::{file_with_topic, p, run, spawn};

#[test]
fn a_non_loopback_address_needs_tls_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = file_with_topic(dir.path(), "served.brooklet", "t", 1);
    let file = p(&file);
    run(&["serve", file, "--listen", "0.0.0.0:0"], None).fails(2, "only loopback");
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    let junk = dir.path().join("junk.pem");
    let users = dir.path().join("users.txt");
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write");
    std::fs::write(&junk, "not a certificate\n").expect("write");
    std::fs::write(&users, "alice\n").expect("write");
    let listen = ["--listen", "0.0.0.0:0"];
    run(
        &[
            &["serve", file, "--tls-cert", p(&junk), "--tls-key", p(&key)][..],
            &listen,
        ]
        .concat(),
        None,
    )
    .fails(2, "no certificate");
    run(
        &[
            &["serve", file, "--tls-cert", p(&cert), "--tls-key", p(&junk)][..],
            &listen,
        ]
        .concat(),
        None,
    )
    .fails(2, "no usable private key");
    run(&["serve", file, "--sasl-users", p(&users)], None)
        .fails(2, "line 1: expected user:password");
    run(
        &["serve", file, "--sasl-users", p(&dir.path().join("none"))],
        None,
    )
    .fails(2, "cannot read");
}

#[test]
fn with_a_certificate_serve_listens_on_every_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = file_with_topic(dir.path(), "served.brooklet", "t", 1);
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let cert = dir.path().join("server.pem");
    let key = dir.path().join("server.key");
    std::fs::write(&cert, certified.cert.pem()).expect("write");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write");
    let mut child = spawn(&[
        "serve",
        p(&file),
        "--listen",
        "0.0.0.0:0",
        "--tls-cert",
        p(&cert),
        "--tls-key",
        p(&key),
    ]);
    let line = BufReader::new(child.stderr.take().expect("stderr"))
        .lines()
        .next()
        .expect("a line")
        .expect("text");
    assert!(
        line.contains("serving") && line.contains("0.0.0.0:") && line.contains("TLS"),
        "{line}"
    );
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    assert!(
        child.wait().expect("wait").success(),
        "serve stops cleanly on SIGTERM"
    );
}
