//! The demo's web page in a real browser: `mailsim demo --html FILE`, opened
//! by headless Chromium from disk, has its table of remedies, shows the
//! first row's picture and hides the others once its script has run, and
//! draws something (its screenshot is not blank). `.ci/run` installs
//! Chromium; where it is missing the test says so and passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{mailsim, stderr};

/// Longest a browser may take for one page before it is killed.
const BROWSER_LIMIT: Duration = Duration::from_secs(60);

/// Chromium's program, if one is on the PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Runs headless Chromium on `page` with `args`, its standard output to
/// `out`; kills it after [`BROWSER_LIMIT`].
fn browse(chromium: &Path, profile: &Path, page: &Path, args: &[&str], out: &Path) {
    let url = format!("file://{}", page.display());
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(&url)
        .stdin(Stdio::null())
        // A file, not a pipe: a page's DOM is larger than a pipe holds.
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium {args:?}: {status}");
            return;
        }
        if start.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} took more than {BROWSER_LIMIT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The opening tags of `name` elements in `html`, attributes included.
fn open_tags<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let start = format!("<{name} ");
    html.match_indices(&start)
        .map(|(at, _)| {
            let end = html[at..].find('>').map_or(html.len(), |e| at + e + 1);
            &html[at..end]
        })
        .collect()
}

#[test]
fn the_demo_page_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED the_demo_page_in_a_real_browser: no chromium on the PATH (`.ci/run` \
             installs Debian's `chromium`)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("demo.html");
    let o = mailsim(&["demo", "--seeds", "5", "--html", page.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let written = std::fs::read_to_string(&page).unwrap();
    let rows = mailsim::demo::cases().len();
    assert_eq!(rows, 14, "a row per remedy");
    // As written, before any script: every section shown, none chosen.
    assert!(
        open_tags(&written, "section")
            .iter()
            .all(|t| !t.contains("hidden"))
    );
    assert!(!written.contains("pg-chosen\""));

    let profile = dir.path().join("profile");
    let dom_file = dir.path().join("dom.html");
    browse(&chromium, &profile, &page, &["--dump-dom"], &dom_file);
    let dom = std::fs::read_to_string(&dom_file).unwrap();
    assert_eq!(open_tags(&dom, "table").len(), 1, "one table");
    let trs = open_tags(&dom, "tr");
    let body_rows: Vec<&&str> = trs.iter().filter(|t| t.contains("data-row=")).collect();
    assert_eq!(body_rows.len(), rows, "a row per remedy");
    // The script ran: the first row is the chosen one, and only its section
    // (with its picture) is displayed.
    assert!(
        body_rows[0].contains("pg-chosen"),
        "first row chosen: {}",
        body_rows[0]
    );
    assert!(body_rows[1..].iter().all(|t| !t.contains("pg-chosen")));
    let sections = open_tags(&dom, "section");
    assert_eq!(sections.len(), rows);
    assert!(
        !sections[0].contains("hidden"),
        "first shown: {}",
        sections[0]
    );
    for s in &sections[1..] {
        assert!(s.contains("hidden"), "the others hidden: {s}");
    }
    let first = dom.find("id=\"row-1\"").unwrap();
    let second = dom.find("id=\"row-2\"").unwrap();
    let svg = dom[first..second].find("<svg").map(|at| first + at);
    assert!(svg.is_some(), "the first row's section holds its picture");
    assert!(dom[first..second].contains("row-1-svg-title"));

    let shot = dir.path().join("shot.png");
    let shot_arg = format!("--screenshot={}", shot.display());
    browse(
        &chromium,
        &profile,
        &page,
        &[&shot_arg, "--window-size=1200,900"],
        &dir.path().join("shot.out"),
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width, info.height);
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let mut colours: Vec<&[u8]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    let background = pixels[0];
    let other = pixels.iter().filter(|p| **p != background).count();
    eprintln!(
        "screenshot {w}x{h}: {} distinct colours, {other} of {} pixels differ from the \
         top-left one",
        colours.len(),
        pixels.len()
    );
    assert_eq!((w, h), (1200, 900));
    assert!(colours.len() > 50, "a page of text and table is not blank");
    assert!(
        other > pixels.len() / 100,
        "more than 1% of the screenshot is not background"
    );
}
