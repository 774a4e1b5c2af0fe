//! Lakes and raw logs in S3, against a real S3-compatible server (moto) that
//! each test starts on 127.0.0.1. `.ci/run` installs it (`pip install
//! 'moto[server]'`); locally, install it the same way.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{root, scanlake, tempdir};

/// A moto S3 server on a free loopback port, stopped on drop.
pub struct S3Server {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl S3Server {
    /// Starts moto; with `auth`, it checks credentials (none are valid).
    pub fn start(auth: bool) -> Self {
        let port = free_port();
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let mut command = Command::new(&program);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        if auth {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{program}` ({e}): install it with `pip install 'moto[server]'`"));
        let server = S3Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket or an object with a plain PUT (moto accepts unsigned requests).
    pub fn put(&self, path: &str, body: &[u8]) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        write!(
            stream,
            "PUT /{path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .expect("send");
        stream.write_all(body).expect("send body");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "PUT /{path}: {response}"
        );
    }

    /// `scanlake` with credentials and endpoint for this server.
    pub fn scanlake(&self) -> assert_cmd::Command {
        self.scanlake_to(&self.endpoint())
    }

    /// `scanlake` pointed at `endpoint` with test credentials.
    pub fn scanlake_to(&self, endpoint: &str) -> assert_cmd::Command {
        let mut cmd = scanlake();
        cmd.envs(env_for(endpoint)).env_remove("AWS_SESSION_TOKEN").env_remove("AWS_PROFILE");
        cmd
    }

    /// The environment that points a process at this server with test credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        env_for(&self.endpoint())
    }
}

fn env_for(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ]
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(mut cmd: assert_cmd::Command) -> (String, String) {
    let out = cmd.output().expect("run scanlake");
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "{stderr}");
    (stdout, stderr)
}

fn alerts(stdout: &str) -> Value {
    serde_json::from_str(stdout).expect("JSON alerts")
}

#[test]
fn the_same_alerts_come_from_a_local_lake_and_an_s3_lake() {
    let s3 = S3Server::start(false);
    s3.put("lake", b"");
    let dir = tempdir();
    let inputs = [root().join("data/sample.csv.gz"), root().join("tests/fixtures/sources/zeek_conn.log")];
    let local = dir.path().join("lake");
    let mut cmd = s3.scanlake();
    cmd.args(["ingest", "--lake"]).arg(&local).args(&inputs);
    run(cmd);
    let mut cmd = s3.scanlake();
    cmd.args(["ingest", "--lake", "s3://lake/prod/events"]).args(&inputs);
    let (stdout, stderr) = run(cmd);
    assert!(stdout.starts_with("10105 rows read, 10102 written, 3 rejected"), "{stdout}");
    // Two manifest lookups (not found), three lake files, two manifest entries.
    assert!(stderr.contains("lake store: 0 LIST (0 entries), 2 GET (0 bytes) of 0 objects, 5 PUT"), "{stderr}");
    for profile in ["default", "sentinel"] {
        let detect = |lake: &str| {
            let mut cmd = s3.scanlake();
            cmd.args(["detect", "--format", "json", "--profile", profile, "--lake", lake]);
            alerts(&run(cmd).0)
        };
        let from_s3 = detect("s3://lake/prod/events");
        assert_eq!(from_s3, detect(local.to_str().expect("utf8")), "{profile}");
        assert_eq!(from_s3.as_array().map(Vec::len), Some(if profile == "default" { 17 } else { 19 }));
    }
}

/// The numbers of `lake store: N LIST (N entries), N GET (N bytes) of N objects, N PUT`:
/// (LIST, entries listed, GET, objects read, PUT).
fn store_counts(stderr: &str) -> (u64, u64, u64, u64, u64) {
    let line = stderr.lines().find(|l| l.contains("lake store:")).expect("a lake store line");
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().expect("number"))
        .collect();
    (numbers[0], numbers[1], numbers[2], numbers[4], numbers[5])
}

#[test]
fn a_one_day_query_over_a_30_day_s3_lake_reads_only_that_days_object() {
    let s3 = S3Server::start(false);
    s3.put("lake", b"");
    let mut cmd = s3.scanlake();
    cmd.args(["generate", "-q", "--rows", "30000", "--days", "30", "--lake", "s3://lake/month"]);
    run(cmd);
    let detect = |args: &[&str]| {
        let mut cmd = s3.scanlake();
        cmd.args(["detect", "--format", "jsonl", "--lake", "s3://lake/month"]).args(args);
        run(cmd)
    };
    // One day: the lake check lists the lake's top level (the table's
    // folder), the compactions' journals (none), then the listing that
    // tells the rule how many files a bin spans, then the rule's one scan
    // (a file a day: no bin spans two) list that day's folder alone, never
    // the other 29; only its one object is read.
    let (stdout, stderr) = detect(&["--since", "1d", "--now", "2024-05-19T00:00:00Z"]);
    assert_eq!(stdout.lines().count(), 8);
    let (lists, listed, gets, objects, puts) = store_counts(&stderr);
    assert_eq!((lists, listed, objects, puts), (4, 1 + 2, 1, 0), "{stderr}");
    // The footer and the column ranges of the scan: 1 to 6 GETs,
    // depending on how the reads coalesce.
    assert!((1..=6).contains(&gets), "GET requests for one day's object: {stderr}");
    // The whole month: both listings list the table, all 30 objects are read.
    let (stdout, stderr) = detect(&[]);
    assert_eq!(stdout.lines().count(), 240);
    let (lists, listed, _, objects, _) = store_counts(&stderr);
    assert_eq!((lists, listed, objects), (4, 1 + 2 * 30, 30), "{stderr}");
}

#[test]
fn raw_vpc_flow_logs_are_ingested_from_the_aws_key_layout() {
    let s3 = S3Server::start(false);
    s3.put("raw", b"");
    s3.put("lake", b"");
    let plain = std::fs::read(root().join("tests/fixtures/sources/vpc_flow.log")).expect("fixture");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let key = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/04/19/123456789012_vpcflowlogs_us-east-1_fl-0abc_20240419T0010Z_1a2b3c4d.log.gz";
    s3.put(&format!("raw/{key}"), &gz);
    s3.put("raw/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/04/20/notes.txt", b"not a flow log\n");
    let mut cmd = s3.scanlake();
    cmd.args(["ingest", "--lake", "s3://lake/vpc", "s3://raw/AWSLogs/"]);
    let (stdout, stderr) = run(cmd);
    assert!(stdout.starts_with("106 rows read, 102 written, 2 rejected, 2 skipped"), "{stdout}");
    assert!(stdout.contains("1 files passed over"), "{stdout}");
    assert!(stderr.contains(&format!("s3://raw/{key}:106: rejected")), "{stderr}");
    let mut cmd = s3.scanlake();
    cmd.args(["detect", "--format", "json", "--lake", "s3://lake/vpc"]);
    let found = alerts(&run(cmd).0);
    assert_eq!(found[0]["SrcIpAddr"], "198.51.100.7");
    // A glob in the key picks objects the same way.
    let mut cmd = s3.scanlake();
    cmd.args(["ingest", "--lake", "s3://lake/vpc2", "s3://raw/AWSLogs/*/vpcflowlogs/*/2024/04/19/*.log.gz"]);
    assert!(run(cmd).0.starts_with("106 rows read"));
}

#[test]
fn wrong_credentials_fail_clearly_and_never_show_the_secret() {
    let s3 = S3Server::start(true);
    for verbosity in ["-q", "-v", "-vv"] {
        let mut cmd = s3.scanlake();
        cmd.env("AWS_SECRET_ACCESS_KEY", "s3cr3t-that-must-not-leak")
            .env("AWS_SESSION_TOKEN", "t0ken-that-must-not-leak");
        let out = cmd.args([verbosity, "detect", "--lake", "s3://lake/prod"]).output().expect("run");
        assert_eq!(out.status.code(), Some(2));
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(all.contains("lake s3://lake/prod:") && all.contains("InvalidAccessKeyId"), "{all}");
        assert!(!all.contains("s3cr3t") && !all.contains("t0ken"), "a secret leaked at {verbosity}: {all}");
    }
    let missing = S3Server::start(false);
    let out = missing.scanlake().args(["detect", "--lake", "s3://nobucket/x"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchBucket"));
}

/// A TCP proxy that forwards to `upstream` until it has seen `requests`
/// HTTP requests, then drops every connection and stops listening.
fn dying_proxy(upstream: u16, requests: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        let mut open: Vec<TcpStream> = Vec::new();
        listener.set_nonblocking(true).expect("nonblocking");
        while !dead.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((client, _)) => {
                    client.set_nonblocking(false).expect("blocking");
                    let server = TcpStream::connect(("127.0.0.1", upstream)).expect("upstream");
                    open.push(client.try_clone().expect("clone"));
                    open.push(server.try_clone().expect("clone"));
                    let (mut c_in, mut s_out) =
                        (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                    let (seen, dead2) = (seen.clone(), dead.clone());
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        while let Ok(n) = c_in.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            if [b"GET ".as_slice(), b"HEAD", b"PUT "].iter().any(|m| buf[..n].starts_with(m))
                                && seen.fetch_add(1, Ordering::SeqCst) + 1 > requests
                            {
                                dead2.store(true, Ordering::SeqCst);
                                break;
                            }
                            if s_out.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    });
                    let (mut s_in, mut c_out) = (server, client);
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut s_in, &mut c_out);
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        for stream in open {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        // Dropping the listener refuses every later connection.
    });
    port
}

#[test]
fn a_server_that_dies_mid_query_gives_a_clear_error_in_bounded_time() {
    let s3 = S3Server::start(false);
    s3.put("lake", b"");
    let mut cmd = s3.scanlake();
    cmd.args(["generate", "-q", "--rows", "20000", "--days", "10", "--lake", "s3://lake/ten"]);
    run(cmd);
    // The lake check and the listings go through; the server dies at the first reads.
    let proxy = dying_proxy(s3.port, 4);
    let started = Instant::now();
    let out = s3
        .scanlake_to(&format!("http://127.0.0.1:{proxy}"))
        .args(["detect", "--lake", "s3://lake/ten"])
        .output()
        .expect("run");
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error:") && stderr.contains("lake/ten"), "{stderr}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}
