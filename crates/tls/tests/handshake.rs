//! Both ends of fvs-tls against each other with certificates from `ovs-pki`: mutual
//! authentication, refusal of strangers and of garbage, and a session shared by a reading
//! and a writing thread.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use fvs_test_support::Pki;
use fvs_tls::{HandshakeError, TlsConfig, TlsError, TlsFiles, TlsSource, TlsStream};

const T: Duration = Duration::from_secs(5);

/// The switch's and the controller's configurations from one PKI.
fn configs(pki: &Pki) -> (TlsConfig, TlsConfig) {
    let sw = pki.switch("sw");
    let ctl = pki.controller("ctl");
    let switch = TlsConfig::load(&TlsFiles {
        private_key: sw.private_key,
        certificate: sw.certificate,
        ca_cert: pki.controllerca(),
    })
    .expect("switch config");
    let controller = TlsConfig::load(&TlsFiles {
        private_key: ctl.private_key,
        certificate: ctl.certificate,
        ca_cert: pki.switchca(),
    })
    .expect("controller config");
    (switch, controller)
}

/// Accepts one connection on a thread and runs the server handshake with `config`.
fn serve_one(config: TlsConfig) -> (u16, thread::JoinHandle<Result<TlsStream, HandshakeError>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = thread::spawn(move || {
        let (s, _) = l.accept().expect("accept");
        TlsStream::accept(&config, s, T)
    });
    (port, h)
}

#[test]
fn both_ends_authenticate_and_a_reader_and_a_writer_share_the_session() {
    let pki = Pki::new("tls1");
    let (switch, controller) = configs(&pki);
    let (port, server) = serve_one(switch);
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut client = TlsStream::connect(&controller, sock, T).expect("client handshake");
    let mut server = server.join().expect("join").expect("server handshake");

    // The server reads with a short timeout, as the daemons do: timeouts leave the session
    // usable.
    server
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let e = server.read(&mut buf).expect_err("nothing sent yet");
    assert!(matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));

    // A writer clone on another thread while this one reads.
    let mut writer = client.try_clone().expect("clone");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sent = big.clone();
    let w = thread::spawn(move || writer.write_all(&sent).expect("write"));
    let mut got = Vec::new();
    server.set_read_timeout(Some(T)).expect("timeout");
    while got.len() < big.len() {
        let n = server.read(&mut buf).expect("read");
        assert_ne!(n, 0, "closed early after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    w.join().expect("writer");
    assert_eq!(got, big);

    server.write_all(b"pong").expect("reply");
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).expect("read reply");
    assert_eq!(&reply, b"pong");

    // An orderly close reads as the end of the stream.
    server.close_notify();
    assert_eq!(client.read(&mut buf).expect("eof"), 0);
}

/// A writer blocked on a peer that does not read holds the socket, not the session: the
/// other end's messages are still read meanwhile, and once the peer reads, it gets
/// everything in order.
#[test]
fn a_writer_blocked_on_a_peer_that_does_not_read_leaves_the_reader_free() {
    let pki = Pki::new("tls2");
    let (switch, controller) = configs(&pki);
    let (port, server) = serve_one(switch);
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut client = TlsStream::connect(&controller, sock, T).expect("client handshake");
    let mut server = server.join().expect("join").expect("server handshake");
    // Far more than the sockets' buffers hold: the writer blocks until the client reads.
    let big: Vec<u8> = (0..16_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut writer = server.try_clone().expect("clone");
    let sent = big.clone();
    let w = thread::spawn(move || writer.write_all(&sent).expect("write"));
    thread::sleep(Duration::from_millis(500));
    assert!(!w.is_finished(), "the writer is blocked");
    // The client, not reading, still writes; the server reads it at once.
    client.write_all(b"echo").expect("client write");
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut four = [0u8; 4];
    server
        .read_exact(&mut four)
        .expect("read while the writer is blocked");
    assert_eq!(&four, b"echo");
    // The client reads everything, in order.
    client.set_read_timeout(Some(T)).expect("timeout");
    let mut got = Vec::with_capacity(big.len());
    let mut buf = vec![0u8; 65536];
    while got.len() < big.len() {
        let n = client.read(&mut buf).expect("read");
        assert_ne!(n, 0, "closed early after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    w.join().expect("writer");
    assert!(got == big, "the bytes arrive whole and in order");
}

#[test]
fn a_client_from_another_ca_is_refused_by_the_server() {
    let pki = Pki::new("tls2");
    let stranger = Pki::new("tls3");
    let (switch, _) = configs(&pki);
    let (_, intruder) = configs(&stranger);
    let (port, server) = serve_one(switch);
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // The intruder trusts its own switchca, so it refuses the server too, or, in TLS 1.3,
    // learns of the server's refusal only later: either way no data flows.
    let client = TlsStream::connect(&intruder, sock, T);
    let err = server
        .join()
        .expect("join")
        .expect_err("server must refuse");
    assert!(matches!(err, HandshakeError::Tls(_)), "{err:?}");
    assert_eq!(err.errno_text(), "Protocol error");
    if let Ok(mut c) = client {
        let mut buf = [0u8; 8];
        assert!(!matches!(c.read(&mut buf), Ok(n) if n > 0));
    }
}

#[test]
fn a_server_from_another_ca_is_refused_by_the_client() {
    let pki = Pki::new("tls4");
    let stranger = Pki::new("tls5");
    let (_, controller) = configs(&pki);
    let (impostor, _) = configs(&stranger);
    let (port, server) = serve_one(impostor);
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let err = TlsStream::connect(&controller, sock, T).expect_err("client must refuse");
    let HandshakeError::Tls(rustls::Error::InvalidCertificate(_)) = &err else {
        panic!("expected an invalid certificate, got {err:?}");
    };
    assert!(server.join().expect("join").is_err());
}

#[test]
fn garbage_instead_of_a_hello_fails_the_handshake_at_once() {
    let pki = Pki::new("tls6");
    let (switch, _) = configs(&pki);
    let (port, server) = serve_one(switch);
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    sock.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("garbage");
    let started = std::time::Instant::now();
    let err = server.join().expect("join").expect_err("not TLS");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, HandshakeError::Tls(_)), "{err:?}");
}

#[test]
fn a_silent_peer_times_out() {
    let pki = Pki::new("tls7");
    let (switch, _) = configs(&pki);
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let _peer = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    let err = TlsStream::accept(&switch, s, Duration::from_millis(300)).expect_err("silent peer");
    assert!(matches!(err, HandshakeError::Io(_)), "{err:?}");
}

#[test]
fn the_source_says_what_is_missing_and_reloads_changed_files() {
    let pki = Pki::new("tls8");
    let sw = pki.switch("sw");
    let other = pki.switch("sw2");
    let source = TlsSource::new();
    assert_eq!(
        source.config().expect_err("nothing").messages(),
        [
            "Private key must be configured to use SSL",
            "Certificate must be configured to use SSL",
            "CA certificate must be configured to use SSL"
        ]
    );
    source.set(Some(sw.private_key.clone()), None, Some(pki.controllerca()));
    let e = source.config().expect_err("no certificate");
    assert_eq!(e.to_string(), "Certificate must be configured to use SSL");
    assert_eq!(e.errno_text(), "Protocol not available");

    source.set(
        Some(sw.private_key.clone()),
        Some(sw.certificate.clone()),
        Some(pki.controllerca()),
    );
    let first = source.config().expect("config");
    assert!(Arc::ptr_eq(&first, &source.config().expect("again")));

    // The key replaced by another one: the certificate no longer matches.
    thread::sleep(Duration::from_millis(20));
    std::fs::copy(&other.private_key, &sw.private_key).expect("replace key");
    assert!(matches!(source.config(), Err(TlsError::KeyMismatch(_))));
    // And the matching certificate put beside it: a new configuration.
    std::fs::copy(&other.certificate, &sw.certificate).expect("replace cert");
    let second = source.config().expect("reloaded");
    assert!(!Arc::ptr_eq(&first, &second));

    source.set(
        Some(pki.dir().join("absent.pem")),
        Some(sw.certificate),
        Some(pki.controllerca()),
    );
    assert!(matches!(source.config(), Err(TlsError::Read { .. })));
}

#[test]
fn bootstrapping_saves_the_servers_ca_then_verifies_against_it() {
    let pki = Pki::new("tls9");
    let sw = pki.switch("sw");
    let ctl = pki.controller("ctl");
    // The controller sends its CA after its own certificate.
    let chain = pki.dir().join("ctl-chain.pem");
    let mut text = std::fs::read_to_string(&ctl.certificate).expect("cert");
    text.push_str(&std::fs::read_to_string(pki.controllerca()).expect("ca"));
    std::fs::write(&chain, text).expect("chain");
    let controller = TlsConfig::load(&TlsFiles {
        private_key: ctl.private_key,
        certificate: chain,
        ca_cert: pki.switchca(),
    })
    .expect("controller config");

    let saved = pki.dir().join("bootstrapped-ca.pem");
    let source = TlsSource::new();
    source.set(
        Some(sw.private_key),
        Some(sw.certificate),
        Some(saved.clone()),
    );
    source.set_bootstrap(true);

    // First connection: the CA is saved and the connection failed on purpose.
    let (port, server) = serve_one(controller.clone());
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let err = TlsStream::connect(&source.config().expect("bootstrap config"), sock, T)
        .expect_err("the bootstrapping connection fails");
    assert!(err.to_string().contains("bootstrapped"), "{err}");
    assert_eq!(err.errno_text(), "Protocol error");
    let _ = server.join();
    let der = |p: &std::path::Path| {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_file(p)
            .expect("pem")
            .as_ref()
            .to_vec()
    };
    assert_eq!(der(&saved), der(&pki.controllerca()));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&saved).expect("saved").permissions(),
    );
    assert_eq!(mode & 0o777, 0o444);

    // Next connection: verified against the saved CA, and it works.
    let (port, server) = serve_one(controller);
    let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut client = TlsStream::connect(&source.config().expect("config"), sock, T)
        .expect("verified connection");
    let mut server = server.join().expect("join").expect("server handshake");
    server.write_all(b"ok").expect("write");
    let mut buf = [0u8; 2];
    client.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"ok");
}
