//! A small HBONE peer on hyperium's `h2` crate, client and server, for interop tests of Ambit's framer.
//!
//! `hbone-peer server --ca CA --cert CERT --key KEY [--stall-ms N]` listens on 127.0.0.1 (a free port,
//! printed as `listening <port>`) for mTLS HTTP/2 CONNECTs. The CONNECT's port picks the behaviour:
//!   1 echo: every byte back, then END_STREAM after the client's END_STREAM
//!   2 reset: read the first chunk, then RST_STREAM(CANCEL)
//!   3 stalled hash: read nothing for --stall-ms, then read all and answer the SHA-256 (hex) of it
//!   4 hash: read all, answer the SHA-256 (hex) of it
//!   5 drain: begin a graceful shutdown (GOAWAY) of the connection, then echo as 1
//!   6 speak first: send "hello" with END_STREAM at once, then read the client's bytes to their end
//!
//! `hbone-peer client --addr HOST:PORT --ca CA --cert CERT --key KEY --streams N --bytes M [--reset]`
//! opens N concurrent CONNECT streams (authority 10.0.0.1:1) on one connection, sends M pattern bytes on
//! each, ends them and checks the echo byte for byte (SHA-256); with --reset it resets each stream after
//! the first echoed chunk instead. Prints one JSON line with what it saw, exits 0 when all went as asked.

use bytes::Bytes;
use h2::{Reason, RecvStream, SendStream};
use sha2::{Digest, Sha256};
// futures-util rather than std::future::poll_fn: Debian bookworm's rustc (1.63) predates the latter.
use futures_util::future::poll_fn;
use std::io::BufReader;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_rustls::rustls;

const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;
const MAX_FRAME: u32 = (1 << 20) - 1;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn required(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| panic!("missing {name}"))
}

fn certs(path: &str) -> Vec<rustls::Certificate> {
    let mut reader = BufReader::new(std::fs::File::open(path).expect("certificate file"));
    rustls_pemfile::certs(&mut reader).expect("PEM certificates").into_iter().map(rustls::Certificate).collect()
}

fn key(path: &str) -> rustls::PrivateKey {
    let mut reader = BufReader::new(std::fs::File::open(path).expect("key file"));
    let keys = rustls_pemfile::pkcs8_private_keys(&mut reader).expect("PKCS#8 key");
    rustls::PrivateKey(keys.into_iter().next().expect("one key"))
}

fn roots(path: &str) -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    for cert in certs(path) {
        store.add(&cert).expect("root certificate");
    }
    store
}

/// The bytes stream `index` sends: a pattern that differs per stream, so crossed streams would show.
fn pattern(index: usize, length: usize) -> Bytes {
    (0..length).map(|i| ((i * 31 + index * 7) % 251) as u8).collect::<Vec<u8>>().into()
}

/// Sends `data` as flow control allows (waits for window instead of buffering it all inside h2).
async fn send_all(send: &mut SendStream<Bytes>, mut data: Bytes) -> Result<(), BoxError> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let capacity = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(capacity) => capacity?,
            None => return Err("stream closed while sending".into()),
        };
        if capacity == 0 {
            continue;
        }
        send.send_data(data.split_to(capacity.min(data.len())), false)?;
    }
    Ok(())
}

/// Reads one chunk and gives its window back.
async fn next_chunk(body: &mut RecvStream) -> Option<Result<Bytes, h2::Error>> {
    let chunk = body.data().await?;
    if let Ok(bytes) = &chunk {
        let _ = body.flow_control().release_capacity(bytes.len());
    }
    Some(chunk)
}

async fn serve_stream(
    request: http::Request<RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    stall_ms: u64,
    drain: Arc<Notify>,
) -> Result<(), BoxError> {
    let mode = request.uri().port_u16().unwrap_or(1);
    let mut body = request.into_body();
    if mode == 5 {
        drain.notify_one();
    }
    let mut send = respond.send_response(http::Response::builder().status(200).body(())?, false)?;
    match mode {
        2 => {
            let _ = next_chunk(&mut body).await;
            send.send_reset(Reason::CANCEL);
        }
        3 | 4 => {
            if mode == 3 {
                tokio::time::sleep(std::time::Duration::from_millis(stall_ms)).await;
            }
            let mut hash = Sha256::new();
            while let Some(chunk) = next_chunk(&mut body).await {
                hash.update(&chunk?);
            }
            let hex: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
            send_all(&mut send, Bytes::from(hex)).await?;
            send.send_data(Bytes::new(), true)?;
        }
        6 => {
            // Our half closes first; the client's half stays open until it ends it.
            send.send_data(Bytes::from_static(b"hello"), true)?;
            while let Some(chunk) = next_chunk(&mut body).await {
                chunk?;
            }
        }
        _ => {
            while let Some(chunk) = next_chunk(&mut body).await {
                send_all(&mut send, chunk?).await?;
            }
            send.send_data(Bytes::new(), true)?;
        }
    }
    Ok(())
}

async fn serve_connection(tls: tokio_rustls::server::TlsStream<TcpStream>, stall_ms: u64) -> Result<(), BoxError> {
    let mut connection = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .max_concurrent_streams(1000)
        .handshake::<_, Bytes>(tls)
        .await?;
    let drain = Arc::new(Notify::new());
    loop {
        tokio::select! {
            accepted = connection.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    let drain = drain.clone();
                    tokio::spawn(async move {
                        if let Err(error) = serve_stream(request, respond, stall_ms, drain).await {
                            eprintln!("stream: {error}");
                        }
                    });
                }
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            },
            _ = drain.notified() => connection.graceful_shutdown(),
        }
    }
}

async fn server(args: Vec<String>) -> Result<(), BoxError> {
    let stall_ms: u64 = arg(&args, "--stall-ms").map(|v| v.parse().expect("--stall-ms")).unwrap_or(1000);
    let verifier = rustls::server::AllowAnyAuthenticatedClient::new(roots(&required(&args, "--ca")));
    let mut config = rustls::ServerConfig::builder()
        .with_safe_defaults()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&required(&args, "--cert")), key(&required(&args, "--key")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor.accept(tcp).await {
                Ok(tls) => {
                    if let Err(error) = serve_connection(tls, stall_ms).await {
                        eprintln!("connection: {error}");
                    }
                }
                Err(error) => eprintln!("tls: {error}"),
            }
        });
    }
}

struct StreamResult {
    status: u16,
    echoed: usize,
    intact: bool,
    reset: Option<String>,
}

async fn client_stream(
    mut sender: h2::client::SendRequest<Bytes>,
    index: usize,
    length: usize,
    reset: bool,
) -> Result<StreamResult, BoxError> {
    let request = http::Request::builder().method(http::Method::CONNECT).uri("10.0.0.1:1").body(())?;
    sender = sender.ready().await?;
    let (response, mut send) = sender.send_request(request, false)?;
    let response = response.await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let data = pattern(index, length);
    let expected = Sha256::digest(&data);
    let writer = tokio::spawn(async move {
        let result = send_all(&mut send, data).await;
        if result.is_ok() && !reset {
            let _ = send.send_data(Bytes::new(), true);
        }
        (send, result)
    });
    let mut hash = Sha256::new();
    let mut echoed = 0;
    let mut reset_seen = None;
    while let Some(chunk) = next_chunk(&mut body).await {
        match chunk {
            Ok(bytes) => {
                echoed += bytes.len();
                hash.update(&bytes);
                if reset {
                    break;
                }
            }
            Err(error) => {
                reset_seen = Some(error.reason().map(|r| format!("{r:?}")).unwrap_or_else(|| error.to_string()));
                break;
            }
        }
    }
    if reset {
        writer.abort();
        // Dropping the send half and the body of an unfinished stream resets it (RST_STREAM CANCEL).
        drop(body);
        return Ok(StreamResult { status, echoed, intact: true, reset: reset_seen });
    }
    let (_send, written) = writer.await?;
    written?;
    Ok(StreamResult { status, echoed, intact: hash.finalize() == expected, reset: reset_seen })
}

async fn client(args: Vec<String>) -> Result<bool, BoxError> {
    let streams: usize = arg(&args, "--streams").map(|v| v.parse().expect("--streams")).unwrap_or(1);
    let length: usize = arg(&args, "--bytes").map(|v| v.parse().expect("--bytes")).unwrap_or(1 << 20);
    let reset = args.iter().any(|a| a == "--reset");
    let mut config = rustls::ClientConfig::builder()
        .with_safe_defaults()
        .with_root_certificates(roots(&required(&args, "--ca")))
        .with_single_cert(certs(&required(&args, "--cert")), key(&required(&args, "--key")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(required(&args, "--addr")).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::ServerName::try_from("hbone.ambit.internal")?;
    let tls = connector.connect(name, tcp).await?;
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME)
        .handshake::<_, Bytes>(tls)
        .await?;
    let driver = tokio::spawn(async move { connection.await });
    let tasks: Vec<_> =
        (0..streams).map(|i| tokio::spawn(client_stream(sender.clone(), i, length, reset))).collect();
    let (mut ok, mut intact, mut echoed, mut resets) = (0, 0, 0usize, Vec::new());
    for task in tasks {
        match task.await? {
            Ok(result) => {
                if result.status == 200 {
                    ok += 1;
                }
                if result.intact {
                    intact += 1;
                }
                echoed += result.echoed;
                if let Some(reason) = result.reset {
                    resets.push(reason);
                }
            }
            Err(error) => resets.push(error.to_string()),
        }
    }
    drop(sender);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), driver).await;
    println!(
        "{{\"streams\":{streams},\"status200\":{ok},\"intact\":{intact},\"echoed\":{echoed},\"errors\":{:?}}}",
        resets
    );
    Ok(ok == streams && intact == streams && (reset || resets.is_empty()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("server") => server(args).await.map(|_| true),
        Some("client") => client(args).await,
        _ => Err("usage: hbone-peer server|client ...".into()),
    };
    match outcome {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("hbone-peer: {error}");
            std::process::exit(2);
        }
    }
}
