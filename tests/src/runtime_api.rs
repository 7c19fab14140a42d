//! A minimal Lambda Runtime API on 127.0.0.1, enough to drive a function
//! binary outside Lambda: it hands out queued events on
//! `GET /2018-06-01/runtime/invocation/next` and records what comes back.
//! Used to measure cold start and memory of the real release binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

/// What the function did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeCall {
    /// The function asked for the next event (at this instant).
    Next(Instant),
    /// The function answered an invocation.
    Response { request_id: String, body: String },
    /// The function reported an invocation error.
    InvocationError { request_id: String, body: String },
    /// The function reported an init error.
    InitError { body: String },
}

/// The server; dropping it leaves the listener thread to die with the process.
#[derive(Debug)]
pub struct RuntimeApi {
    pub address: String,
    events: Sender<String>,
    pub calls: Receiver<RuntimeCall>,
}

impl RuntimeApi {
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let (event_tx, event_rx) = channel::<String>();
        let (call_tx, call_rx) = channel::<RuntimeCall>();
        let queue = Arc::new(Mutex::new(event_rx));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let queue = Arc::clone(&queue);
                let calls = call_tx.clone();
                thread::spawn(move || serve(stream, &queue, &calls));
            }
        });
        Ok(Self {
            address,
            events: event_tx,
            calls: call_rx,
        })
    }

    /// Queues an event for the next `/next` request.
    pub fn push(&self, event: String) {
        let _ = self.events.send(event);
    }
}

fn serve(stream: TcpStream, queue: &Mutex<Receiver<String>>, calls: &Sender<RuntimeCall>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut counter = 0u64;
    while let Some((path, body)) = read_request(&mut reader) {
        let reply = if path.ends_with("/invocation/next") {
            let _ = calls.send(RuntimeCall::Next(Instant::now()));
            let Some(event) = queue.lock().ok().and_then(|queue| queue.recv().ok()) else {
                return;
            };
            counter += 1;
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-{counter}\r\n\
                 Lambda-Runtime-Deadline-Ms: 4102444800000\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:authorizer\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                 Content-Length: {}\r\n\r\n{event}",
                event.len()
            )
        } else {
            let _ = calls.send(posted_call(&path, body));
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_owned()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request's path and body; `None` once the connection ends.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return None;
    }
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body).ok()?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    Some((path.to_owned(), String::from_utf8_lossy(&body).into_owned()))
}

/// What the function posted: an init error, an invocation error or a response.
fn posted_call(path: &str, body: String) -> RuntimeCall {
    if path.ends_with("/init/error") {
        return RuntimeCall::InitError { body };
    }
    let request_id = path.split('/').nth(4).unwrap_or_default().to_owned();
    if path.ends_with("/error") {
        RuntimeCall::InvocationError { request_id, body }
    } else {
        RuntimeCall::Response { request_id, body }
    }
}
