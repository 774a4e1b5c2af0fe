//! `scanlake report`: the figures, the escaping of log text, and the HTML
//! rendered by headless Chromium (Debian's `chromium`; `.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Csv, HEADER, ingest, scanlake, tempdir};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// Two scanners; one host name and one vendor string are markup.
fn hostile_lake(dir: &Path) -> PathBuf {
    let mut csv = Csv::new();
    csv.scan("00:10:00", "198.51.100.1", 1, 60).scan("01:10:00", "198.51.100.1", 1, 70);
    for port in 1..=52 {
        csv.event_by(
            "2024-04-19T02:10:00Z",
            "198.51.100.2",
            Some(port),
            "TCP",
            "\"<script>alert(2)</script>\"",
            "Zeek",
        );
    }
    let events = csv.write(dir, "events.csv");
    let named = dir.join("named.csv");
    std::fs::write(
        &named,
        format!(
            "{HEADER},SrcHostname\n2024-04-19T00:10:30Z,Corelight,Zeek,198.51.100.1,203.0.113.9,80,TCP,\"{HOSTILE}\"\n"
        ),
    )
    .expect("write");
    let lake = dir.join("lake");
    ingest(&lake, &[&events, &named]);
    lake
}

fn report(lake: &Path, output: &Path, args: &[&str]) {
    let out = scanlake().arg("report").arg("--lake").arg(lake).arg("-o").arg(output).args(args).output().expect("run");
    assert!(out.status.success(), "report failed: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn markdown_report_has_the_figures_and_escapes_log_text() {
    let dir = tempdir();
    let lake = hostile_lake(dir.path());
    let md = dir.path().join("scans.md");
    report(&lake, &md, &["--from", "2024-04-19T00:00:00Z", "--to", "2024-04-20T00:00:00Z"]);
    let text = std::fs::read_to_string(&md).expect("report");
    assert!(text.contains("| events | 183 |"), "{text}");
    assert!(text.contains("| alerts, default profile | 3 |"));
    assert!(text.contains("| 198.51.100.1 | &lt;img src=x onerror=alert\\(1\\)&gt; | 2 | 70 |"), "{text}");
    assert!(!text.contains("<img") && !text.contains("<script"));
    for chart in ["over-time", "scanners", "ports"] {
        let svg = std::fs::read_to_string(dir.path().join(format!("scans-{chart}.svg"))).expect("chart file");
        assert!(svg.starts_with("<svg"), "{chart}");
        assert!(text.contains(&format!("](scans-{chart}.svg)")));
    }
}

#[test]
fn html_report_renders_in_chromium_with_charts_and_log_text_as_text() {
    let dir = tempdir();
    let lake = hostile_lake(dir.path());
    let html = dir.path().join("report.html");
    report(&lake, &html, &["--since", "30d", "--now", "2024-04-25T00:00:00Z"]);
    let page = std::fs::read_to_string(&html).expect("report");
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!page.contains("<img") && !page.contains("<script"), "log text became markup");
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "self-contained: nothing to fetch");

    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "this test needs headless Chromium at {chromium} (apt-get install chromium; .ci/run does) or CHROMIUM=path"
    );
    let profile = dir.path().join("chromium-profile");
    let browser = |extra: &[&str]| {
        let out = Command::new(&chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args([
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(format!("file://{}", html.display()))
            .output()
            .expect("start chromium");
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    // The DOM after rendering: three charts, no image or script elements, the host name as text.
    let dom = String::from_utf8_lossy(&browser(&["--dump-dom"]).stdout).into_owned();
    assert!(dom.contains("id=\"chart-over-time\"") && dom.contains("id=\"chart-ports\""));
    assert_eq!(dom.matches("<svg").count(), 3, "three inline charts");
    assert!(dom.contains("Top scanners: most distinct ports in one bin"));
    assert!(!dom.contains("<img") && !dom.contains("<script"), "markup from logs in the DOM");
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "the host name shows as text");
    assert!(dom.contains("&lt;script&gt;alert(2)&lt;/script&gt;/Zeek"), "the vendor shows as text");

    // A screenshot, kept under target/ for people (and CI artefacts).
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    browser(&["--window-size=1200,1800", &format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a real picture, {} bytes", png.len());
}
