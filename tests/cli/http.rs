//! A small HTTP server on 127.0.0.1 for webhook tests: answers each request
//! with the next scripted status and records what it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the server does with a request.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// Answer with this status.
    Status(u16),
    /// Read the request and never answer.
    Hang,
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A running server; it stops with the test process.
pub struct Server {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    received: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Starts a server answering requests with `script` in order, then 200.
    pub fn start(script: &[Reply]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let script = script.to_vec();
        thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let reply = script.get(n).copied().unwrap_or(Reply::Status(200));
                let log = log.clone();
                thread::spawn(move || serve(stream, reply, &log));
            }
        });
        Server { url, received }
    }

    /// The requests so far.
    pub fn received(&self) -> Vec<Request> {
        self.received.lock().expect("log").clone()
    }
}

fn serve(stream: TcpStream, reply: Reply, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut headers = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim_end() != "" {
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        line.clear();
    }
    let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    log.lock().expect("log").push(Request { headers, body });
    match reply {
        Reply::Hang => thread::sleep(std::time::Duration::from_secs(600)),
        Reply::Status(code) => {
            let mut stream = stream;
            let _ = write!(stream, "HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    }
}
