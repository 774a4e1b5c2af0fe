//! The rule on a Ballista cluster: a scheduler and two executors as separate
//! `scanlake scheduler` / `scanlake executor` processes on 127.0.0.1, a lake
//! in the local S3 server, and exactly the local engine's alerts.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::s3::S3Server;
use crate::support::{root, tempdir};

/// Child processes killed when the test ends, pass or fail.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_for(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(s3: &S3Server, args: &[&str]) -> String {
    let out = s3.scanlake().args(args).output().expect("run scanlake");
    assert!(out.status.success(), "scanlake {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_ballista_cluster_gives_the_local_engines_alerts_in_both_profiles() {
    let s3 = S3Server::start(false);
    s3.put("lake", b"");
    let sample = root().join("data/sample.csv.gz");
    let zeek = root().join("tests/fixtures/sources/zeek_conn.log");
    run(&s3, &["ingest", "--lake", "s3://lake/events", sample.to_str().unwrap(), zeek.to_str().unwrap()]);
    run(&s3, &["generate", "--lake", "s3://lake/events", "--rows", "100000", "--days", "2", "--start", "2024-05-01"]);

    let work = tempdir();
    let scheduler_port = free_port();
    let spawn = |args: Vec<String>| -> Child {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("scanlake"));
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", s3.endpoint())
            .env("AWS_ALLOW_HTTP", "true")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let mut processes =
        Processes(vec![spawn(vec!["scheduler".into(), "--bind".into(), format!("127.0.0.1:{scheduler_port}")])]);
    wait_for(scheduler_port, "the scheduler");
    for i in 0..2 {
        let (flight, grpc) = (free_port(), free_port());
        let dir = work.path().join(format!("executor-{i}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        processes.0.push(spawn(vec![
            "executor".into(),
            "--scheduler".into(),
            format!("127.0.0.1:{scheduler_port}"),
            "--port".into(),
            flight.to_string(),
            "--grpc-port".into(),
            grpc.to_string(),
            "--concurrent-tasks".into(),
            "2".into(),
            "--work-dir".into(),
            dir.display().to_string(),
        ]));
        wait_for(grpc, "an executor");
    }

    let scheduler = format!("df://127.0.0.1:{scheduler_port}");
    for profile in ["default", "sentinel"] {
        let detect = |engine: &[&str]| -> Value {
            let mut args = vec!["detect", "--lake", "s3://lake/events", "--format", "json", "--profile", profile];
            args.extend_from_slice(engine);
            serde_json::from_str(&run(&s3, &args)).expect("JSON alerts")
        };
        let local = detect(&[]);
        let cluster = detect(&["--engine", "ballista", "--scheduler", &scheduler]);
        assert_eq!(cluster, local, "{profile}");
        let expected = if profile == "default" { 17 + 16 } else { 19 + 18 };
        assert_eq!(local.as_array().map(Vec::len), Some(expected), "{profile}");
    }
    // Ad-hoc SQL runs there too.
    let sql = "SELECT count(*) AS events, count(DISTINCT SrcIpAddr) AS sources FROM network_session";
    let local = run(&s3, &["query", "--lake", "s3://lake/events", "--format", "json", sql]);
    let cluster = run(
        &s3,
        &[
            "query",
            "--lake",
            "s3://lake/events",
            "--format",
            "json",
            "--engine",
            "ballista",
            "--scheduler",
            &scheduler,
            sql,
        ],
    );
    assert_eq!(cluster, local);
    assert!(local.contains("\"events\":110102"), "{local}");
}
