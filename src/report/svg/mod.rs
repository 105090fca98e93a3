//! The picture of a night: [`Report::to_svg`](super::Report::to_svg) draws
//! the timeline as a self-contained SVG document.
//!
//! Layout, top to bottom: a title (the outcome) with the scenario and its
//! costs; for each night (at most [`MAX_NIGHTS`] are drawn, stacked), an
//! overview panel from a little before the first mail traffic to a little
//! after the night's end, in which quiet hours with nothing happening are
//! compressed into a marked break; then a close-up panel of the minutes
//! around the conflict (the first foreign access), or, on a night without
//! one, around the moment the remedy acted on Mail Data; then a legend.
//!
//! Each panel has four labelled lanes — **Mail Server** (its state:
//! serving, paused or stopped for a policy, shut down, hung, crashed),
//! **MS Mail Backup** (copies made aside, copies missed), **Retrospect
//! Remote** (the backup's run, its read of Mail Data, skips, snapshots,
//! the verdict on the archived copy) and **Mail traffic** (requests served
//! above the midline, deferred below, binned per few pixels) — and every
//! foreign access is a vertical line of class `conflict` labelled with who
//! opened what and how the server reacted.
//!
//! The output is deterministic (the same report gives the same bytes),
//! valid XML, fixed at [`WIDTH`] pixels wide, styled by one CSS class per
//! kind of element, and uses only system fonts.

use std::fmt::Write as _;

use super::{Actor, EventKind, Outcome, Report, Verdict};
use crate::time::SimTime;
use crate::time::human_duration;
use crate::volume::VolumePath;

/// Width of the picture, in pixels.
const WIDTH: f64 = 1200.0;
/// Left edge of the plotted time (lane labels sit left of it).
const PLOT_X0: f64 = 178.0;
/// Right edge of the plotted time.
const PLOT_X1: f64 = WIDTH - 28.0;
/// Labels may run past the plot up to here.
const LABEL_X1: f64 = WIDTH - 4.0;
/// Nights drawn at most; later ones are mentioned in a note.
const MAX_NIGHTS: usize = 7;
/// Height of a lane's bar.
const LANE_H: f64 = 24.0;
/// From one lane's top to the next (the bar, then a row of annotations).
const LANE_STEP: f64 = 44.0;
/// Width of a compressed stretch of quiet time on an overview axis.
const BREAK_W: f64 = 64.0;
/// Width of a bin of mail traffic.
const BIN_W: f64 = 3.0;
/// Requests in a bin that fill half a lane.
const BIN_FULL: f64 = 4.0;

const MICROS: u64 = 1_000_000;
const MINUTE: u64 = 60 * MICROS;
const QUARTER: u64 = 15 * MINUTE;
const HOUR: u64 = 60 * MINUTE;

const STYLE: &str = "
text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;fill:#222}
.bg{fill:#fff}
.title{font-size:20px;font-weight:600}
.subtitle{font-size:13px;fill:#555}
.summary{font-size:13px;fill:#333}
.panel-title{font-size:14px;font-weight:600}
.panel-note{font-size:12px;fill:#666}
.lane-label{font-size:13px;font-weight:600;text-anchor:end}
.lane-sub{font-size:10.5px;fill:#777;text-anchor:end}
.lane-bg{fill:#f6f6f6}
.lane-note{font-size:11px;fill:#999;font-style:italic}
.axis{stroke:#444;stroke-width:1}
.tick{stroke:#444;stroke-width:1}
.minor-tick{stroke:#aaa;stroke-width:1}
.grid{stroke:#e4e4e4;stroke-width:1}
.tick-label{font-size:11px;fill:#444;text-anchor:middle}
.break{stroke:#888;stroke-width:1.5;fill:none}
.break-bg{fill:#fff}
.break-label{font-size:10px;fill:#777;text-anchor:middle}
.bar-label{font-size:11px;fill:#fff;font-weight:600}
.bar-label-dark{font-size:11px;fill:#222}
.note{font-size:10.5px;fill:#333}
.halo{stroke:#fff;stroke-width:6;fill:none;stroke-linecap:round}
.not-running{fill:#d9d9d9}
.serving{fill:#8fd19e}
.unsafe-serving{fill:url(#unsafe)}
.paused{fill:#6baed6}
.stopped{fill:#2171b5}
.shutdown{fill:#e6550d}
.hung{fill:#756bb1}
.crashed{fill:#3b3b3b}
.backup-run{fill:#c9ced8}
.file-boundary{stroke:#f6f6f6;stroke-width:1}
.read-live{fill:#d62728}
.read-safe{fill:#17a2b8}
.waiting{fill:#fdd49e}
.copy-aside{fill:#3182bd;stroke:#08519c}
.copy-missed{fill:#fff;stroke:#d62728;stroke-width:2}
.snapshot{fill:#17a2b8;stroke:#0b6e7d}
.archived-ok{fill:#31a354;stroke:#1b6e32}
.skipped{fill:#969696;stroke:#636363}
.skipped-minor{stroke:#969696;stroke-width:1.5}
.busy{stroke:#636363;stroke-width:1.5}
.online-restart{stroke:#0b6e7d;stroke-width:1.5}
.note-mark{stroke:#636363;stroke-width:1.5}
.snapshot-failed{stroke:#e6550d;stroke-width:2}
.gave-up{stroke:#d62728;stroke-width:3}
.failed{stroke:#d62728;stroke-width:3}
.torn{stroke:#d62728;stroke-width:3.5}
.stale{fill:#fdae6b;stroke:#a63603}
.restart{fill:#31a354;stroke:#1b6e32}
.hang-detected{fill:#756bb1;stroke:#3f007d}
.midline{stroke:#ccc;stroke-width:1}
.served{fill:#31a354}
.deferred{fill:#e6550d}
.conflict{stroke:#b2182b;stroke-width:2;stroke-dasharray:6 3}
.conflict-label{font-size:12px;fill:#b2182b;font-weight:600}
.conflict-reaction{font-size:12px;fill:#b2182b}
.no-conflict{font-size:12px;fill:#1b6e32}
.zoom-window{fill:#ffe97f;fill-opacity:.35;stroke:#c9a800;stroke-width:1}
.zoom-link{stroke:#c9a800;stroke-width:1;stroke-dasharray:3 3;fill:none}
.legend-title{font-size:13px;font-weight:600}
.legend-head{font-size:12px;font-weight:600;fill:#444}
.legend-label{font-size:11.5px;fill:#333}
";

/// The SVG document for `report`.
pub(super) fn render(report: &Report) -> String {
    let model = Model::new(report);
    let mut svg = Svg::default();
    let mut y = 0.0;

    // Title, scenario, costs.
    y += 34.0;
    svg.text("title", 24.0, y, None, &headline(report));
    for line in wrap(&scenario_line(report, &model), 13.0) {
        y += 20.0;
        svg.text("subtitle", 24.0, y, None, &line);
    }
    y += 20.0;
    svg.text("summary", 24.0, y, None, &summary_line(report));
    y += 18.0;

    // One overview per night, stacked.
    let nights: Vec<&NightSpan> = model.nights.iter().take(MAX_NIGHTS).collect();
    let focus = model.focus();
    let mut zoom_box: Option<(f64, f64, f64)> = None;
    for span in &nights {
        let axis = Axis::overview(&model, span);
        let title = if model.nights.len() > 1 {
            format!("Night {} of {}", span.night, model.nights.len())
        } else {
            "The whole night".to_owned()
        };
        let mut note = format!(
            "{}–{}",
            hm(SimTime::from_micros(axis.t_min())),
            hm(SimTime::from_micros(axis.t_max()))
        );
        for (a, b) in axis.breaks() {
            let _ = write!(
                note,
                "; quiet {}–{} compressed",
                hm(SimTime::from_micros(a)),
                hm(SimTime::from_micros(b))
            );
        }
        let panel = Panel {
            model: &model,
            night: span.night,
            axis,
            top: y,
        };
        let height = panel.draw(&mut svg, &title, &note);
        zoom_box = None;
        if let Some(f) = focus.as_ref().filter(|f| f.night == span.night) {
            let (x0, x1) = (panel.axis.x(f.t0), panel.axis.x(f.t1));
            let (l0, l1) = panel.lanes_span();
            svg.rect_plain(
                "zoom-window",
                x0,
                l0 - 2.0,
                (x1 - x0).max(2.0),
                l1 - l0 + 4.0,
            );
            zoom_box = Some((x0, x1, panel.axis_y() + 24.0));
        }
        y += height;
    }
    if model.nights.len() > MAX_NIGHTS {
        y += 4.0;
        svg.text(
            "panel-note",
            24.0,
            y,
            None,
            &format!(
                "Nights {} to {} are not drawn: see the report's timeline.",
                MAX_NIGHTS + 1,
                model.nights.len()
            ),
        );
        y += 16.0;
    }

    // The close-up.
    if let Some(f) = focus {
        y += 10.0;
        if let Some((x0, x1, from_y)) = zoom_box {
            let _ = write!(
                svg.out,
                "<path class=\"zoom-link\" d=\"M{} {}L{} {}M{} {}L{} {}\"/>",
                n(x0),
                n(from_y),
                n(PLOT_X0),
                n(y + 2.0),
                n(x1),
                n(from_y),
                n(PLOT_X1),
                n(y + 2.0)
            );
        }
        let axis = Axis::single(f.t0, f.t1);
        let title = format!(
            "Close-up{}: {}–{}, {}",
            if model.nights.len() > 1 {
                format!(" of night {}", f.night)
            } else {
                String::new()
            },
            hm(SimTime::from_micros(f.t0)),
            hm(SimTime::from_micros(f.t1)),
            f.what
        );
        let panel = Panel {
            model: &model,
            night: f.night,
            axis,
            top: y,
        };
        y += panel.draw(&mut svg, &title, "");
    }

    y += 8.0;
    y += legend(&mut svg, y);
    y += 12.0;

    let mut out = String::with_capacity(svg.out.len() + 4096);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         role=\"img\" aria-labelledby=\"svg-title svg-desc\">",
        w = WIDTH,
        h = n(y)
    );
    let _ = writeln!(
        out,
        "<title id=\"svg-title\">{}</title>",
        esc(&format!(
            "mailsim: {} (seed {})",
            report.outcome(),
            report.seed()
        ))
    );
    let _ = writeln!(
        out,
        "<desc id=\"svg-desc\">{}</desc>",
        esc(&description(report, &model))
    );
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str(
        "<defs><pattern id=\"unsafe\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#8fd19e\"/>\
         <rect width=\"3\" height=\"6\" fill=\"#d62728\"/></pattern></defs>\n",
    );
    let _ = writeln!(
        out,
        "<rect class=\"bg\" x=\"0\" y=\"0\" width=\"{}\" height=\"{}\"/>",
        WIDTH,
        n(y)
    );
    out.push_str(&svg.out);
    out.push_str("</svg>\n");
    out
}

// ---------------------------------------------------------------------------
// What the picture shows, extracted from the report.

/// The server's state over an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotRunning,
    Serving,
    Paused,
    Stopped,
    ShutDown,
    Hung,
    Crashed,
}

impl State {
    fn class(self) -> &'static str {
        match self {
            State::NotRunning => "not-running",
            State::Serving => "serving",
            State::Paused => "paused",
            State::Stopped => "stopped",
            State::ShutDown => "shutdown",
            State::Hung => "hung",
            State::Crashed => "crashed",
        }
    }

    fn short(self) -> &'static str {
        match self {
            State::NotRunning => "not running",
            State::Serving => "serving",
            State::Paused => "paused",
            State::Stopped => "stopped",
            State::ShutDown => "shut down",
            State::Hung => "hung",
            State::Crashed => "crashed",
        }
    }

    fn label(self) -> &'static str {
        match self {
            State::NotRunning => "not running",
            State::Serving => "serving",
            State::Paused => "paused (planned)",
            State::Stopped => "stopped (planned)",
            State::ShutDown => "shut down",
            State::Hung => "hung, still holding Mail Data",
            State::Crashed => "crashed",
        }
    }
}

/// Which lane a mark sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Server = 0,
    MsMailBackup = 1,
    Retrospect = 2,
    Traffic = 3,
}

const LANES: [(&str, &str); 4] = [
    ("Mail Server", "holds Mail Data open"),
    ("MS Mail Backup", "copies Mail Data aside"),
    ("Retrospect Remote", "the backup"),
    ("Mail traffic", "▲ served  ▼ deferred"),
];

/// How a mark is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Diamond,
    Circle,
    Cross,
    BigCross,
    TriangleDown,
    TriangleUp,
    Tick,
}

#[derive(Clone, Debug)]
struct Mark {
    t: u64,
    night: u32,
    lane: Lane,
    class: &'static str,
    shape: Shape,
    label: Option<String>,
    /// Shorter words for the label, tried when it does not fit.
    short: Vec<String>,
    /// Lower is placed first when labels compete for room.
    priority: u8,
    tooltip: String,
}

impl Mark {
    fn or_shorter(mut self, words: &[&str]) -> Mark {
        self.short = words.iter().map(|w| (*w).to_owned()).collect();
        self
    }
}

#[derive(Clone, Debug)]
struct Span {
    t0: u64,
    t1: u64,
    night: u32,
    class: &'static str,
    label: String,
    tooltip: String,
}

#[derive(Clone, Debug)]
struct Conflict {
    t: u64,
    night: u32,
    opened: String,
    reaction: &'static str,
}

#[derive(Clone, Debug)]
struct NightSpan {
    night: u32,
    begin: u64,
    end: u64,
    /// Times worth showing (everything but the night's bounds and the
    /// server's start at the night's beginning).
    activity: Vec<u64>,
}

/// The stretch the close-up shows.
#[derive(Clone, Debug)]
struct Focus {
    night: u32,
    t0: u64,
    t1: u64,
    what: &'static str,
}

struct Model<'a> {
    report: &'a Report,
    live: VolumePath,
    nights: Vec<NightSpan>,
    states: Vec<(u64, u64, State)>,
    unsafe_spans: Vec<Span>,
    runs: Vec<Span>,
    reads: Vec<Span>,
    waits: Vec<Span>,
    file_starts: Vec<(u64, u32)>,
    marks: Vec<Mark>,
    conflicts: Vec<Conflict>,
    /// (time, night, served)
    traffic: Vec<(u64, u32, bool)>,
}

fn is_mail_data(p: &VolumePath, live: &VolumePath) -> bool {
    p == live || crate::datafile::is_mail_data_name(p.name())
}

impl<'a> Model<'a> {
    fn new(report: &'a Report) -> Model<'a> {
        let live = report.live_path().clone();
        let mut m = Model {
            report,
            live,
            nights: Vec::new(),
            states: Vec::new(),
            unsafe_spans: Vec::new(),
            runs: Vec::new(),
            reads: Vec::new(),
            waits: Vec::new(),
            file_starts: Vec::new(),
            marks: Vec::new(),
            conflicts: Vec::new(),
            traffic: Vec::new(),
        };
        m.nights();
        m.states();
        m.retrospect();
        m.others();
        m
    }

    fn nights(&mut self) {
        let tl = self.report.timeline();
        let mut i = 0;
        while i < tl.len() {
            let night = tl[i].night;
            let len = tl[i..].iter().take_while(|e| e.night == night).count();
            let events = &tl[i..i + len];
            let begin = events
                .iter()
                .find(|e| matches!(e.kind, EventKind::NightBegins { .. }))
                .unwrap_or(&events[0])
                .time
                .as_micros();
            let end = events
                .iter()
                .rev()
                .find(|e| matches!(e.kind, EventKind::NightEnds))
                .unwrap_or(&events[len - 1])
                .time
                .as_micros();
            let activity = events
                .iter()
                .filter(|e| match e.kind {
                    EventKind::NightBegins { .. } | EventKind::NightEnds => false,
                    EventKind::ServerStarted { .. } => e.time.as_micros() > begin,
                    _ => true,
                })
                .map(|e| e.time.as_micros())
                .collect();
            self.nights.push(NightSpan {
                night,
                begin,
                end,
                activity,
            });
            i += len;
        }
    }

    fn states(&mut self) {
        let tl = self.report.timeline();
        let Some(first) = tl.first() else { return };
        let mut cur = State::NotRunning;
        let mut since = first.time.as_micros();
        for (i, e) in tl.iter().enumerate() {
            let next = match &e.kind {
                EventKind::ServerStarted { .. } | EventKind::PlannedStart | EventKind::Resumed => {
                    Some(State::Serving)
                }
                EventKind::Paused { .. } => Some(State::Paused),
                EventKind::PlannedStop => Some(State::Stopped),
                EventKind::ShutDown { .. } if e.actor == Actor::MailServer => Some(State::ShutDown),
                EventKind::Hung => Some(State::Hung),
                EventKind::Crashed { .. } => Some(State::Crashed),
                EventKind::Tolerated => {
                    // Serving while the backup reads: until the backup is
                    // done with the live file.
                    let end = tl[i + 1..]
                        .iter()
                        .find(|x| {
                            x.actor == Actor::RetrospectRemote
                                && matches!(
                                    x.kind,
                                    EventKind::Archived { .. }
                                        | EventKind::BackupFailed { .. }
                                        | EventKind::IoError { .. }
                                        | EventKind::BackupFinished { .. }
                                )
                        })
                        .map_or(e.time, |x| x.time);
                    self.unsafe_spans.push(Span {
                        t0: e.time.as_micros(),
                        t1: end.as_micros(),
                        night: e.night,
                        class: "unsafe-serving",
                        label: "keeps writing while the backup reads".to_owned(),
                        tooltip: format!(
                            "{}–{} the Mail Server keeps writing while the backup reads its \
                             data file",
                            e.time, end
                        ),
                    });
                    None
                }
                _ => None,
            };
            if let Some(s) = next
                && s != cur
            {
                let t = e.time.as_micros();
                if t > since || cur != State::NotRunning {
                    self.states.push((since, t, cur));
                }
                cur = s;
                since = t;
            }
        }
        self.states.push((since, u64::MAX, cur));
        self.states.retain(|&(a, b, _)| b > a);
    }

    /// The server's state at `t` (the later one at a change).
    fn state_at(&self, t: u64) -> State {
        self.states
            .iter()
            .rev()
            .find(|&&(t0, _, _)| t0 <= t)
            .map_or(State::NotRunning, |&(_, _, s)| s)
    }

    fn archived_verdict(&self, night: u32, path: &VolumePath) -> Option<Verdict> {
        self.report
            .archive()
            .iter()
            .find(|a| a.night == night && &a.path == path)
            .map(|a| a.verdict)
    }

    fn retrospect(&mut self) {
        let tl = self.report.timeline();
        let live = self.live.clone();
        let mut run: Option<(u64, u32)> = None;
        let mut read: Option<(u64, u32, VolumePath, &'static str, String)> = None;
        let mut wait: Option<(u64, u32)> = None;
        let close_read = |m: &mut Model<'_>,
                          read: &mut Option<(u64, u32, VolumePath, &'static str, String)>,
                          t: u64| {
            if let Some((t0, night, _, class, label)) = read.take() {
                m.reads.push(Span {
                    t0,
                    t1: t,
                    night,
                    class,
                    tooltip: format!(
                        "{}–{} {label}",
                        SimTime::from_micros(t0),
                        SimTime::from_micros(t)
                    ),
                    label,
                });
            }
        };
        let close_wait = |m: &mut Model<'_>, wait: &mut Option<(u64, u32)>, t: u64| {
            if let Some((t0, night)) = wait.take() {
                m.waits.push(Span {
                    t0,
                    t1: t,
                    night,
                    class: "waiting",
                    label: "waits for quiet".to_owned(),
                    tooltip: format!(
                        "{}–{} waits for Mail Data to go quiet",
                        SimTime::from_micros(t0),
                        SimTime::from_micros(t)
                    ),
                });
            }
        };
        for (i, e) in tl.iter().enumerate() {
            let t = e.time.as_micros();
            let on_mail = e.path.as_ref().is_some_and(|p| is_mail_data(p, &live));
            let mark = |class, shape, label: Option<String>, priority| Mark {
                t,
                night: e.night,
                lane: Lane::Retrospect,
                class,
                shape,
                label,
                short: Vec::new(),
                priority,
                tooltip: e.to_string(),
            };
            match &e.kind {
                EventKind::BackupStarted { .. } => run = Some((t, e.night)),
                EventKind::BackupFinished { .. } | EventKind::BackupFailed { .. } => {
                    close_read(self, &mut read, t);
                    close_wait(self, &mut wait, t);
                    if let Some((t0, night)) = run.take() {
                        self.runs.push(Span {
                            t0,
                            t1: t,
                            night,
                            class: "backup-run",
                            label: "backup".to_owned(),
                            tooltip: format!(
                                "{}–{} Retrospect Remote backs up Server HD ({})",
                                SimTime::from_micros(t0),
                                e.time,
                                human_duration(e.time - SimTime::from_micros(t0))
                            ),
                        });
                    }
                    if let EventKind::BackupFailed { .. } = e.kind {
                        self.marks.push(mark(
                            "failed",
                            Shape::BigCross,
                            Some("backup fails".to_owned()),
                            1,
                        ));
                    }
                }
                EventKind::Opened if e.actor == Actor::RetrospectRemote => {
                    close_wait(self, &mut wait, t);
                    self.file_starts.push((t, e.night));
                    if let Some(p) = e.path.as_ref().filter(|_| on_mail) {
                        close_read(self, &mut read, t);
                        // A conflict if the server noticed a foreign open
                        // while this read went on (at once in the simulator,
                        // a moment later on real files).
                        let end = tl[i + 1..]
                            .iter()
                            .position(|x| {
                                x.actor == Actor::RetrospectRemote
                                    && matches!(
                                        x.kind,
                                        EventKind::Opened
                                            | EventKind::Archived { .. }
                                            | EventKind::BackupFailed { .. }
                                            | EventKind::IoError { .. }
                                            | EventKind::BackupFinished { .. }
                                    )
                            })
                            .map_or(tl.len(), |k| i + 1 + k);
                        let conflict = tl[i..end]
                            .iter()
                            .any(|x| matches!(x.kind, EventKind::ForeignAccess { .. }));
                        let (class, label) = if conflict {
                            ("read-live", "reads the live Mail Data".to_owned())
                        } else if p == &live {
                            let why = match self.state_at(t) {
                                State::Stopped => "server stopped",
                                State::ShutDown | State::Crashed | State::NotRunning => {
                                    "server down"
                                }
                                _ => "not held",
                            };
                            ("read-safe", format!("reads Mail Data ({why})"))
                        } else {
                            ("read-safe", format!("reads the copy {}", p.name()))
                        };
                        read = Some((t, e.night, p.clone(), class, label));
                    }
                }
                EventKind::SnapshotTaken { .. } if on_mail => {
                    close_read(self, &mut read, t);
                    if let Some(p) = &e.path {
                        read = Some((
                            t,
                            e.night,
                            p.clone(),
                            "read-safe",
                            "reads the snapshot".to_owned(),
                        ));
                    }
                    self.marks.push(mark(
                        "snapshot",
                        Shape::Circle,
                        Some("snapshot taken".to_owned()),
                        3,
                    ));
                }
                EventKind::Archived { .. } => {
                    let p = e.path.clone();
                    if read.as_ref().is_some_and(|r| Some(&r.2) == p.as_ref()) {
                        close_read(self, &mut read, t);
                    }
                    if let Some(p) = p.filter(|_| on_mail) {
                        match self.archived_verdict(e.night, &p) {
                            Some(Verdict::Torn) => self.marks.push(mark(
                                "torn",
                                Shape::BigCross,
                                Some("torn copy archived".to_owned()),
                                0,
                            )),
                            Some(Verdict::Consistent { stale: true, .. }) => self.marks.push(mark(
                                "stale",
                                Shape::Circle,
                                Some("stale copy archived".to_owned()),
                                1,
                            )),
                            Some(Verdict::Consistent { .. }) => self.marks.push(mark(
                                "archived-ok",
                                Shape::Circle,
                                Some("consistent copy archived".to_owned()),
                                4,
                            )),
                            None => {}
                        }
                    }
                }
                EventKind::Excluded { .. } => {
                    let covers = e
                        .path
                        .as_ref()
                        .is_some_and(|p| live.starts_with(p) || is_mail_data(p, &live));
                    if covers {
                        let what = match &e.path {
                            Some(p) if p == &live => "Mail Data excluded".to_owned(),
                            Some(p) => format!("{} excluded (holds Mail Data)", p.name()),
                            None => "excluded".to_owned(),
                        };
                        self.marks
                            .push(mark("skipped", Shape::TriangleDown, Some(what), 2));
                    } else {
                        self.marks.push(mark("skipped-minor", Shape::Tick, None, 9));
                    }
                }
                EventKind::Busy { .. } => self.marks.push(mark("busy", Shape::Tick, None, 9)),
                EventKind::SkippedBusy { .. } => self.marks.push(mark(
                    "skipped",
                    Shape::TriangleDown,
                    Some("skipped: held by the server".to_owned()),
                    2,
                )),
                EventKind::WaitingForIdle { .. } => {
                    close_wait(self, &mut wait, t);
                    wait = Some((t, e.night));
                }
                EventKind::IdleTimeout => {
                    close_wait(self, &mut wait, t);
                    self.marks.push(mark(
                        "skipped",
                        Shape::TriangleDown,
                        Some("gave up waiting".to_owned()),
                        2,
                    ));
                }
                EventKind::SnapshotFailed { .. } => self.marks.push(mark(
                    "snapshot-failed",
                    Shape::Cross,
                    Some("snapshot fails".to_owned()),
                    5,
                )),
                EventKind::SnapshotGaveUp { .. } => self.marks.push(mark(
                    "gave-up",
                    Shape::BigCross,
                    Some("snapshot gave up: Mail Data skipped".to_owned()),
                    1,
                )),
                EventKind::OnlineCopyRestarted { .. } => {
                    self.marks
                        .push(mark("online-restart", Shape::Tick, None, 9))
                }
                EventKind::IoError { .. } if e.actor == Actor::RetrospectRemote => {
                    close_read(self, &mut read, t);
                    self.marks.push(mark(
                        "failed",
                        Shape::BigCross,
                        Some("I/O error".to_owned()),
                        2,
                    ));
                }
                EventKind::NightEnds => {
                    close_read(self, &mut read, t);
                    close_wait(self, &mut wait, t);
                    if let Some((t0, night)) = run.take() {
                        self.runs.push(Span {
                            t0,
                            t1: t,
                            night,
                            class: "backup-run",
                            label: "backup".to_owned(),
                            tooltip: "the backup had not finished when the night ended".to_owned(),
                        });
                    }
                }
                _ => {}
            }
        }
        let end = tl.last().map_or(0, |e| e.time.as_micros());
        close_read(self, &mut read, end);
        close_wait(self, &mut wait, end);
    }

    fn others(&mut self) {
        let tl = self.report.timeline();
        for (i, e) in tl.iter().enumerate() {
            let t = e.time.as_micros();
            let mark = |lane, class, shape, label: Option<String>, priority| Mark {
                t,
                night: e.night,
                lane,
                class,
                shape,
                label,
                short: Vec::new(),
                priority,
                tooltip: e.to_string(),
            };
            match &e.kind {
                EventKind::Delivered { .. }
                | EventKind::MarkedRead { .. }
                | EventKind::Deleted { .. }
                | EventKind::Compacted { .. } => self.traffic.push((t, e.night, true)),
                EventKind::Deferred { .. } => self.traffic.push((t, e.night, false)),
                EventKind::Resent { requests } => self.marks.push(
                    mark(
                        Lane::Traffic,
                        "served",
                        Shape::Tick,
                        Some(format!(
                            "{requests} deferred request{} resent",
                            if *requests == 1 { "" } else { "s" }
                        )),
                        3,
                    )
                    .or_shorter(&[&format!("{requests} resent")]),
                ),
                EventKind::ForeignAccess { by } => {
                    // The server's reaction follows at once in the
                    // simulator, a moment later on real files.
                    let reaction = tl[i + 1..]
                        .iter()
                        .take(200)
                        .take_while(|x| !matches!(x.kind, EventKind::ForeignAccess { .. }))
                        .find_map(|x| match x.kind {
                            EventKind::ShutDown { .. } if x.actor == Actor::MailServer => {
                                Some("→ the Mail Server shuts down")
                            }
                            EventKind::Hung => Some("→ the Mail Server hangs"),
                            EventKind::Tolerated => Some("→ the Mail Server keeps writing"),
                            _ => None,
                        })
                        .unwrap_or("→ the Mail Server notices");
                    let file = e.path.as_ref().map_or_else(
                        || crate::datafile::MAIL_DATA.to_owned(),
                        |p| p.name().to_owned(),
                    );
                    self.conflicts.push(Conflict {
                        t,
                        night: e.night,
                        opened: format!("{} {by} opens {file}", hm_s(e.time)),
                        reaction,
                    });
                }
                EventKind::Restarted { .. } => self.marks.push(
                    mark(
                        Lane::Server,
                        "restart",
                        Shape::TriangleUp,
                        Some("the administrator restarts it".to_owned()),
                        1,
                    )
                    .or_shorter(&["administrator restarts", "restart"]),
                ),
                EventKind::HangDetected { after, .. } => self.marks.push(mark(
                    Lane::Server,
                    "hang-detected",
                    Shape::TriangleDown,
                    Some(format!("no answer for {}: hung", human_duration(*after))),
                    2,
                )),
                EventKind::Crashed { .. } => self.marks.push(mark(
                    Lane::Server,
                    "failed",
                    Shape::BigCross,
                    Some("crashes".to_owned()),
                    1,
                )),
                EventKind::IoError { .. } if e.actor != Actor::RetrospectRemote => {
                    self.marks.push(mark(
                        Lane::Server,
                        "failed",
                        Shape::Cross,
                        Some("I/O error".to_owned()),
                        3,
                    ))
                }
                EventKind::CopiedAside { .. } => self.marks.push(mark(
                    Lane::MsMailBackup,
                    "copy-aside",
                    Shape::Diamond,
                    Some(format!(
                        "copy → {}",
                        e.path.as_ref().map_or("another volume", |p| p.name())
                    )),
                    1,
                )),
                EventKind::CopyAsideMissed { .. } => self.marks.push(mark(
                    Lane::MsMailBackup,
                    "copy-missed",
                    Shape::Diamond,
                    Some("no copy made".to_owned()),
                    0,
                )),
                EventKind::Note { text } => {
                    let lane = match e.actor {
                        Actor::MailServer => Lane::Server,
                        Actor::MsMailBackup => Lane::MsMailBackup,
                        Actor::MailClients => Lane::Traffic,
                        _ => Lane::Retrospect,
                    };
                    let short: String = text.chars().take(40).collect();
                    self.marks
                        .push(mark(lane, "note-mark", Shape::Tick, Some(short), 8));
                }
                _ => {}
            }
        }
    }

    /// What the close-up shows: the minutes around the first foreign
    /// access; else around the first time the backup (or a policy) dealt
    /// with Mail Data; else around the backup's start.
    fn focus(&self) -> Option<Focus> {
        let tl = self.report.timeline();
        let drawn = |night: u32| {
            self.nights
                .iter()
                .take(MAX_NIGHTS)
                .any(|s| s.night == night)
        };
        let touches = |e: &super::Event| {
            e.path
                .as_ref()
                .is_some_and(|p| is_mail_data(p, &self.live) || self.live.starts_with(p))
        };
        // A remedy acting on Mail Data, or the backup reading it.
        let acts = |e: &super::Event| match &e.kind {
            EventKind::PlannedStop => Some("around the planned stop"),
            EventKind::WriterState { .. } => Some("around the freeze and the snapshot"),
            EventKind::SnapshotTaken { .. } if touches(e) => Some("around the snapshot"),
            EventKind::Opened if touches(e) => Some("where the backup reads Mail Data"),
            _ => None,
        };
        // The backup keeping away from Mail Data.
        let meets = |e: &super::Event| match &e.kind {
            EventKind::Excluded { .. } if touches(e) => Some("where the backup skips Mail Data"),
            EventKind::Busy { .. } if touches(e) => Some("where the backup finds Mail Data busy"),
            EventKind::WaitingForIdle { .. } if touches(e) => {
                Some("where the backup waits for Mail Data to go quiet")
            }
            EventKind::SnapshotFailed { .. } | EventKind::SnapshotGaveUp { .. } if touches(e) => {
                Some("around the failed snapshot")
            }
            _ => None,
        };
        let conflict = self.conflicts.iter().find(|c| drawn(c.night));
        let (t, night, what) = if let Some(c) = conflict {
            (c.t, c.night, "around the conflict")
        } else if let Some((e, what)) = tl
            .iter()
            .filter(|e| drawn(e.night))
            .find_map(|e| acts(e).map(|w| (e, w)))
            .or_else(|| {
                tl.iter()
                    .filter(|e| drawn(e.night))
                    .find_map(|e| meets(e).map(|w| (e, w)))
            })
        {
            (e.time.as_micros(), e.night, what)
        } else if let Some(e) = tl
            .iter()
            .find(|e| drawn(e.night) && matches!(e.kind, EventKind::BackupStarted { .. }))
        {
            (e.time.as_micros(), e.night, "around the backup's start")
        } else {
            return None;
        };
        // From a few minutes before to the end of what follows (the read of
        // Mail Data, the backup's end), within reason.
        let backup_end = self
            .runs
            .iter()
            .find(|r| r.night == night && r.t0 <= t && t <= r.t1)
            .map_or(t, |r| r.t1);
        let read_end = self
            .reads
            .iter()
            .find(|r| r.night == night && r.t0 <= t + MINUTE && t <= r.t1)
            .map_or(t, |r| r.t1);
        let t0 = (t.saturating_sub(4 * MINUTE) / MINUTE) * MINUTE;
        let until = (t + 8 * MINUTE)
            .max(backup_end.min(t + 14 * MINUTE))
            .max(read_end.min(t + 14 * MINUTE))
            + MINUTE;
        let t1 = until.div_ceil(MINUTE) * MINUTE;
        Some(Focus {
            night,
            t0,
            t1,
            what,
        })
    }
}

// ---------------------------------------------------------------------------
// Time to x.

#[derive(Clone, Debug)]
struct Segment {
    t0: u64,
    t1: u64,
    x0: f64,
    x1: f64,
}

#[derive(Clone, Debug)]
struct Axis {
    segments: Vec<Segment>,
    /// Ticks: labelled every `major`, unlabelled every `minor`.
    major: u64,
    minor: u64,
}

impl Axis {
    /// A night from a little before its first activity to a little after
    /// its end, with every quiet stretch of more than two hours compressed.
    fn overview(model: &Model<'_>, span: &NightSpan) -> Axis {
        let mut points = span.activity.clone();
        points.push(span.end);
        points.sort_unstable();
        points.dedup();
        let first = points.first().copied().unwrap_or(span.begin);
        let last = points.last().copied().unwrap_or(span.end);
        let start = (first.saturating_sub(QUARTER) / QUARTER) * QUARTER;
        let end = (last + 20 * MINUTE).div_ceil(QUARTER) * QUARTER;
        let mut visible = Vec::new();
        let mut from = start;
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b - a > 2 * HOUR {
                let b0 = (a + QUARTER).div_ceil(QUARTER) * QUARTER;
                let b1 = (b - QUARTER) / QUARTER * QUARTER;
                if b1 > b0 + HOUR {
                    visible.push((from, b0));
                    from = b1;
                }
            }
        }
        visible.push((from, end.max(from + QUARTER)));
        let _ = model;
        Axis::from_visible(&visible, HOUR, QUARTER)
    }

    /// One stretch, ticked every minute.
    fn single(t0: u64, t1: u64) -> Axis {
        let minutes = (t1 - t0) / MINUTE;
        let major = if minutes > 30 { 5 * MINUTE } else { MINUTE };
        Axis::from_visible(&[(t0, t1.max(t0 + MINUTE))], major, major)
    }

    fn from_visible(visible: &[(u64, u64)], major: u64, minor: u64) -> Axis {
        let breaks = visible.len().saturating_sub(1) as f64;
        let total: u64 = visible.iter().map(|(a, b)| b - a).sum();
        let per = (PLOT_X1 - PLOT_X0 - breaks * BREAK_W) / total.max(1) as f64;
        let mut x = PLOT_X0;
        let segments = visible
            .iter()
            .map(|&(t0, t1)| {
                let x0 = x;
                let x1 = x0 + (t1 - t0) as f64 * per;
                x = x1 + BREAK_W;
                Segment { t0, t1, x0, x1 }
            })
            .collect();
        Axis {
            segments,
            major,
            minor,
        }
    }

    fn t_min(&self) -> u64 {
        self.segments[0].t0
    }

    fn t_max(&self) -> u64 {
        self.segments[self.segments.len() - 1].t1
    }

    /// The compressed stretches, as (from, to).
    fn breaks(&self) -> Vec<(u64, u64)> {
        self.segments
            .windows(2)
            .map(|w| (w[0].t1, w[1].t0))
            .collect()
    }

    /// The x of `t`, clamped to the plot; a time inside a break maps
    /// linearly across the break.
    fn x(&self, t: u64) -> f64 {
        let mut prev: Option<&Segment> = None;
        for s in &self.segments {
            if t < s.t0 {
                return match prev {
                    None => s.x0,
                    Some(p) => p.x1 + (s.x0 - p.x1) * (t - p.t1) as f64 / (s.t0 - p.t1) as f64,
                };
            }
            if t <= s.t1 {
                return s.x0 + (s.x1 - s.x0) * (t - s.t0) as f64 / (s.t1 - s.t0).max(1) as f64;
            }
            prev = Some(s);
        }
        PLOT_X1
    }

    fn contains(&self, t: u64) -> bool {
        t >= self.t_min() && t <= self.t_max()
    }
}

// ---------------------------------------------------------------------------
// Drawing.

#[derive(Default)]
struct Svg {
    out: String,
}

impl Svg {
    fn rect(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64, tooltip: &str) {
        let _ = write!(
            self.out,
            "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
            n(x),
            n(y),
            n(w),
            n(h)
        );
        if tooltip.is_empty() {
            self.out.push_str("/>\n");
        } else {
            let _ = writeln!(self.out, "><title>{}</title></rect>", esc(tooltip));
        }
    }

    fn rect_plain(&mut self, class: &str, x: f64, y: f64, w: f64, h: f64) {
        self.rect(class, x, y, w, h, "");
    }

    fn line(&mut self, class: &str, x1: f64, y1: f64, x2: f64, y2: f64) {
        let _ = writeln!(
            self.out,
            "<line class=\"{class}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            n(x1),
            n(y1),
            n(x2),
            n(y2)
        );
    }

    fn text(&mut self, class: &str, x: f64, y: f64, anchor: Option<&str>, s: &str) {
        let _ = write!(
            self.out,
            "<text class=\"{class}\" x=\"{}\" y=\"{}\"",
            n(x),
            n(y)
        );
        if let Some(a) = anchor {
            let _ = write!(self.out, " text-anchor=\"{a}\"");
        }
        let _ = writeln!(self.out, ">{}</text>", esc(s));
    }

    /// A mark of `shape` centred on (x, y).
    fn mark(&mut self, class: &str, shape: Shape, x: f64, y: f64, tooltip: &str) {
        let body = match shape {
            Shape::Diamond => format!(
                "<path class=\"{class}\" d=\"M{} {}l6 7l-6 7l-6 -7z\"",
                n(x),
                n(y - 7.0)
            ),
            Shape::Circle => format!(
                "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"5\"",
                n(x),
                n(y)
            ),
            Shape::Cross | Shape::BigCross => {
                let r = if shape == Shape::Cross { 4.0 } else { 6.0 };
                let d = format!(
                    "M{} {}l{s} {s}m0 -{s}l-{s} {s}",
                    n(x - r),
                    n(y - r),
                    s = n(2.0 * r)
                );
                // A white halo keeps the cross visible on any bar.
                let _ = writeln!(self.out, "<path class=\"halo\" d=\"{d}\"/>");
                format!("<path class=\"{class}\" d=\"{d}\"")
            }
            Shape::TriangleDown => format!(
                "<path class=\"{class}\" d=\"M{} {}l12 0l-6 10z\"",
                n(x - 6.0),
                n(y - 5.0)
            ),
            Shape::TriangleUp => format!(
                "<path class=\"{class}\" d=\"M{} {}l12 0l-6 -11z\"",
                n(x - 6.0),
                n(y + 6.0)
            ),
            Shape::Tick => format!(
                "<path class=\"{class}\" d=\"M{} {}l0 14\"",
                n(x),
                n(y - 7.0)
            ),
        };
        self.out.push_str(&body);
        if tooltip.is_empty() {
            self.out.push_str("/>\n");
        } else {
            let tag = if shape == Shape::Circle {
                "circle"
            } else {
                "path"
            };
            let _ = writeln!(self.out, "><title>{}</title></{tag}>", esc(tooltip));
        }
    }
}

/// Horizontal stretches already taken by labels in one row.
#[derive(Default)]
struct Row {
    taken: Vec<(f64, f64)>,
}

impl Row {
    /// Takes [x0, x1] if it is free (with a little air).
    fn take(&mut self, x0: f64, x1: f64) -> bool {
        if self
            .taken
            .iter()
            .any(|&(a, b)| x0 < b + 6.0 && a < x1 + 6.0)
        {
            return false;
        }
        self.taken.push((x0, x1));
        true
    }
}

/// Rough width of `s` at `size` px in a proportional sans-serif font.
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// A label under a lane, near `x`: placed after everything is drawn, the
/// most important first, where it does not overlap another.
struct Label {
    lane: usize,
    x: f64,
    /// The words, longest first: the first that fits is used.
    texts: Vec<String>,
    priority: u8,
}

const NOTE_SIZE: f64 = 10.5;
const BAR_LABEL_SIZE: f64 = 11.0;

struct Panel<'m, 'a> {
    model: &'m Model<'a>,
    night: u32,
    axis: Axis,
    top: f64,
}

impl Panel<'_, '_> {
    const HEADER: f64 = 20.0;
    const BAND: f64 = 34.0;

    fn lane_y(&self, lane: usize) -> f64 {
        self.top + Self::HEADER + Self::BAND + lane as f64 * LANE_STEP
    }

    fn lanes_span(&self) -> (f64, f64) {
        (self.lane_y(0), self.lane_y(3) + LANE_H)
    }

    fn axis_y(&self) -> f64 {
        self.lane_y(3) + LANE_STEP - 6.0
    }

    /// Draws the panel; returns its height.
    fn draw(&self, svg: &mut Svg, title: &str, note: &str) -> f64 {
        svg.text("panel-title", 24.0, self.top + 14.0, None, title);
        if !note.is_empty() {
            let x = 24.0 + text_width(title, 14.0) + 14.0;
            svg.text("panel-note", x, self.top + 14.0, None, note);
        }
        let (lanes_top, lanes_bottom) = self.lanes_span();
        let axis_y = self.axis_y();

        // Lane backgrounds and labels.
        for (i, (label, sub)) in LANES.iter().enumerate() {
            let y = self.lane_y(i);
            svg.rect_plain("lane-bg", PLOT_X0, y, PLOT_X1 - PLOT_X0, LANE_H);
            svg.text("lane-label", PLOT_X0 - 10.0, y + 12.0, None, label);
            svg.text("lane-sub", PLOT_X0 - 10.0, y + 24.0, None, sub);
        }
        // Grid lines at the labelled ticks, under everything else.
        let ticks = self.ticks();
        for &(t, major) in &ticks {
            if major {
                let x = self.axis.x(t);
                svg.line("grid", x, lanes_top, x, axis_y);
            }
        }

        let mut labels = Vec::new();
        self.server_lane(svg, &mut labels);
        self.ms_mail_lane(svg);
        self.retrospect_lane(svg, &mut labels);
        self.traffic_lane(svg);
        self.marks(svg, &mut labels);
        self.breaks(svg, lanes_top, axis_y);
        self.labels(svg, labels);

        // Axis.
        svg.line("axis", PLOT_X0, axis_y, PLOT_X1, axis_y);
        for &(t, major) in &ticks {
            let x = self.axis.x(t);
            if major {
                svg.line("tick", x, axis_y, x, axis_y + 5.0);
                svg.text(
                    "tick-label",
                    x,
                    axis_y + 17.0,
                    None,
                    &hm(SimTime::from_micros(t)),
                );
            } else {
                svg.line("minor-tick", x, axis_y, x, axis_y + 3.0);
            }
        }

        // Conflicts, over everything.
        let mut band = Row::default();
        let conflicts: Vec<&Conflict> = self
            .model
            .conflicts
            .iter()
            .filter(|c| c.night == self.night && self.axis.contains(c.t))
            .collect();
        if conflicts.is_empty() && !self.model.conflicts.iter().any(|c| c.night == self.night) {
            svg.text(
                "no-conflict",
                PLOT_X0,
                self.top + Self::HEADER + 20.0,
                None,
                "No conflict: the backup never opens the live Mail Data while the server \
                 holds it.",
            );
        }
        for c in conflicts {
            let x = self.axis.x(c.t);
            svg.line("conflict", x, lanes_top - 4.0, x, lanes_bottom + 4.0);
            let w = text_width(&c.opened, 12.0).max(text_width(c.reaction, 12.0));
            let (x0, x1, tx, anchor) = if x + 4.0 + w > LABEL_X1 {
                (x - 4.0 - w, x - 4.0, x - 4.0, Some("end"))
            } else {
                (x + 4.0, x + 4.0 + w, x + 4.0, None)
            };
            if band.take(x0, x1) {
                svg.text(
                    "conflict-label",
                    tx,
                    self.top + Self::HEADER + 13.0,
                    anchor,
                    &c.opened,
                );
                svg.text(
                    "conflict-reaction",
                    tx,
                    self.top + Self::HEADER + 28.0,
                    anchor,
                    c.reaction,
                );
            }
        }
        axis_y + 28.0 - self.top
    }

    fn ticks(&self) -> Vec<(u64, bool)> {
        let mut out = Vec::new();
        for s in &self.axis.segments {
            let mut t = s.t0.div_ceil(self.axis.minor) * self.axis.minor;
            while t <= s.t1 {
                out.push((t, t.is_multiple_of(self.axis.major)));
                t += self.axis.minor;
            }
        }
        out
    }

    /// Clips [t0, t1] to the axis; `None` when it is outside.
    fn clip(&self, t0: u64, t1: u64) -> Option<(f64, f64)> {
        if t1 < self.axis.t_min() || t0 > self.axis.t_max() {
            return None;
        }
        let x0 = self.axis.x(t0.max(self.axis.t_min()));
        let x1 = self.axis.x(t1.min(self.axis.t_max()));
        Some((x0, x1))
    }

    /// Room for text inside a bar from `x0` to `x1`: up to its end or the
    /// first break, whichever comes first.
    fn room(&self, x0: f64, x1: f64) -> f64 {
        let stop = self
            .axis
            .segments
            .iter()
            .map(|s| s.x1)
            .filter(|&e| e > x0 + 1.0 && e < x1)
            .fold(x1, f64::min);
        stop - x0
    }

    /// `label` inside the bar at `x0` if one of `texts` fits (the first
    /// that does), else the last of them as a label under the lane.
    #[allow(clippy::too_many_arguments)]
    fn bar_label(
        &self,
        svg: &mut Svg,
        labels: &mut Vec<Label>,
        lane: usize,
        (x0, x1): (f64, f64),
        texts: &[String],
        class: &str,
        priority: u8,
    ) {
        let room = self.room(x0, x1);
        let y = self.lane_y(lane);
        if let Some(t) = texts
            .iter()
            .find(|t| text_width(t, BAR_LABEL_SIZE) + 10.0 <= room)
        {
            svg.text(class, x0 + 5.0, y + 16.0, None, t);
        } else if let Some(t) = texts.last() {
            labels.push(Label {
                lane,
                x: x0,
                texts: vec![t.clone()],
                priority,
            });
        }
    }

    fn server_lane(&self, svg: &mut Svg, labels: &mut Vec<Label>) {
        let y = self.lane_y(0);
        for &(t0, t1, state) in &self.model.states {
            let Some((x0, x1)) = self.clip(t0, t1) else {
                continue;
            };
            let mut w = x1 - x0;
            if state != State::Serving && state != State::NotRunning {
                w = w.max(2.5);
            }
            if w <= 0.0 {
                continue;
            }
            let dur = (t1 != u64::MAX)
                .then(|| human_duration(SimTime::from_micros(t1) - SimTime::from_micros(t0)));
            let tooltip = format!(
                "{}{} {}{}",
                SimTime::from_micros(t0),
                dur.as_ref()
                    .map_or_else(String::new, |_| format!("–{}", SimTime::from_micros(t1))),
                state.label(),
                dur.as_ref()
                    .map_or_else(String::new, |d| format!(" for {d}"))
            );
            svg.rect(state.class(), x0, y, w, LANE_H, &tooltip);
            let texts: Vec<String> = match (state, &dur) {
                (State::Serving | State::NotRunning, _) | (_, None) => {
                    vec![state.label().to_owned(), state.short().to_owned()]
                }
                (_, Some(d)) => vec![
                    format!("{} for {d}", state.label()),
                    format!("{} {d}", state.short()),
                ],
            };
            let class = match state {
                State::Serving | State::NotRunning | State::Paused => "bar-label-dark",
                _ => "bar-label",
            };
            // A state that begins inside the plot begins at an event whose
            // mark (a crash, a restart) may sit at its start.
            let inset = if x0 > PLOT_X0 + 1.0 { 8.0 } else { 0.0 };
            if matches!(state, State::Serving | State::NotRunning) {
                // Said inside when there is room; never worth a note.
                let room = self.room(x0, x1);
                if let Some(t) = texts
                    .iter()
                    .find(|t| text_width(t, BAR_LABEL_SIZE) + 10.0 + inset <= room)
                {
                    svg.text(class, x0 + 5.0 + inset, y + 16.0, None, t);
                }
            } else {
                self.bar_label(svg, labels, 0, (x0 + inset, x0 + w), &texts, class, 2);
            }
        }
        for s in self
            .model
            .unsafe_spans
            .iter()
            .filter(|s| s.night == self.night)
        {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                svg.rect(
                    s.class,
                    x0,
                    y + 6.0,
                    (x1 - x0).max(2.5),
                    LANE_H - 12.0,
                    &s.tooltip,
                );
            }
        }
    }

    fn ms_mail_lane(&self, svg: &mut Svg) {
        let used = self
            .model
            .marks
            .iter()
            .any(|m| m.lane == Lane::MsMailBackup);
        if !used {
            svg.text(
                "lane-note",
                PLOT_X0 + 8.0,
                self.lane_y(1) + 16.0,
                None,
                "not in use: no copy is made aside",
            );
        }
    }

    fn retrospect_lane(&self, svg: &mut Svg, labels: &mut Vec<Label>) {
        let y = self.lane_y(2);
        let mine = |s: &&Span| s.night == self.night;
        for s in self.model.runs.iter().filter(mine) {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                let w = (x1 - x0).max(2.0);
                svg.rect(s.class, x0, y + 3.0, w, LANE_H - 6.0, &s.tooltip);
            }
        }
        // File boundaries, where there is room to see them.
        let mut last = f64::NEG_INFINITY;
        for &(t, night) in &self.model.file_starts {
            if night != self.night || !self.axis.contains(t) {
                continue;
            }
            let x = self.axis.x(t);
            if x - last >= 4.0 {
                svg.line("file-boundary", x, y + 3.0, x, y + LANE_H - 3.0);
                last = x;
            }
        }
        for s in self.model.waits.iter().filter(mine) {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                let w = (x1 - x0).max(2.5);
                svg.rect(s.class, x0, y + 3.0, w, LANE_H - 6.0, &s.tooltip);
                let texts = [s.label.clone()];
                self.bar_label(svg, labels, 2, (x0, x0 + w), &texts, "bar-label-dark", 4);
            }
        }
        for s in self.model.reads.iter().filter(mine) {
            if let Some((x0, x1)) = self.clip(s.t0, s.t1) {
                let w = (x1 - x0).max(3.0);
                svg.rect(s.class, x0, y, w, LANE_H, &s.tooltip);
                let texts = [s.label.clone()];
                self.bar_label(svg, labels, 2, (x0, x0 + w), &texts, "bar-label", 1);
            }
        }
    }

    fn traffic_lane(&self, svg: &mut Svg) {
        let y = self.lane_y(3);
        let mid = y + LANE_H / 2.0;
        svg.line("midline", PLOT_X0, mid, PLOT_X1, mid);
        let bins = ((PLOT_X1 - PLOT_X0) / BIN_W).ceil() as usize + 1;
        let mut served = vec![0u32; bins];
        let mut deferred = vec![0u32; bins];
        for &(t, night, ok) in &self.model.traffic {
            if night != self.night || !self.axis.contains(t) {
                continue;
            }
            let b = ((self.axis.x(t) - PLOT_X0) / BIN_W) as usize;
            let b = b.min(bins - 1);
            if ok {
                served[b] += 1;
            } else {
                deferred[b] += 1;
            }
        }
        let half = LANE_H / 2.0 - 1.0;
        // One request: half the half-lane; BIN_FULL or more: all of it.
        let height = |c: u32| half * (0.5 + 0.5 * (f64::from(c) - 1.0) / (BIN_FULL - 1.0)).min(1.0);
        for b in 0..bins {
            let x = PLOT_X0 + b as f64 * BIN_W;
            if served[b] > 0 {
                let h = height(served[b]);
                svg.rect_plain("served", x, mid - h, BIN_W - 0.6, h);
            }
            if deferred[b] > 0 {
                let h = height(deferred[b]);
                svg.rect_plain("deferred", x, mid, BIN_W - 0.6, h);
            }
        }
    }

    fn marks(&self, svg: &mut Svg, labels: &mut Vec<Label>) {
        for m in self
            .model
            .marks
            .iter()
            .filter(|m| m.night == self.night && self.axis.contains(m.t))
        {
            let y = self.lane_y(m.lane as usize) + LANE_H / 2.0;
            let x = self.axis.x(m.t);
            if m.lane != Lane::Traffic || m.shape != Shape::Tick {
                svg.mark(m.class, m.shape, x, y, &m.tooltip);
            }
            if let Some(text) = &m.label {
                let mut texts = vec![text.clone()];
                texts.extend(m.short.iter().cloned());
                labels.push(Label {
                    lane: m.lane as usize,
                    x,
                    texts,
                    priority: m.priority,
                });
            }
        }
    }

    /// Places the labels under their lanes, most important first, each
    /// starting a little before its x or, failing that, ending a little
    /// after it; a label with no room is left out (the tooltips and the
    /// legend still tell).
    fn labels(&self, svg: &mut Svg, mut labels: Vec<Label>) {
        let mut rows: [Row; 4] = Default::default();
        for row in &mut rows {
            for w in self.axis.segments.windows(2) {
                row.taken.push((w[0].x1 - 2.0, w[1].x0 + 2.0));
            }
        }
        labels.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.x.total_cmp(&b.x)));
        for l in labels {
            let y = self.lane_y(l.lane) + LANE_H + 12.0;
            let row = &mut rows[l.lane];
            for text in &l.texts {
                let w = text_width(text, NOTE_SIZE);
                let start = (l.x - 6.0).max(PLOT_X0 - 4.0);
                if start + w <= LABEL_X1 && row.take(start, start + w) {
                    svg.text("note", start, y, None, text);
                    break;
                }
                let end = (l.x + 6.0).min(LABEL_X1);
                if end - w >= PLOT_X0 - 4.0 && row.take(end - w, end) {
                    svg.text("note", end, y, Some("end"), text);
                    break;
                }
            }
        }
    }

    fn breaks(&self, svg: &mut Svg, top: f64, axis_y: f64) {
        for w in self.axis.segments.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let mid = (a.x1 + b.x0) / 2.0;
            let h = axis_y - top + 8.0;
            // A white gap with slanted edges across the lanes and the axis.
            let _ = writeln!(
                svg.out,
                "<path class=\"break-bg\" d=\"M{} {}l10 0l-6 {h}l-10 0z\"/>",
                n(mid - 2.0),
                n(top - 2.0),
                h = n(h)
            );
            let _ = writeln!(
                svg.out,
                "<path class=\"break\" d=\"M{} {}l-6 {h}M{} {}l-6 {h}\"/>",
                n(mid - 2.0),
                n(top - 2.0),
                n(mid + 8.0),
                n(top - 2.0),
                h = n(h)
            );
            let gap = SimTime::from_micros(b.t0) - SimTime::from_micros(a.t1);
            let hidden = if gap.as_secs().is_multiple_of(3600) {
                format!("{} h", gap.as_secs() / 3600)
            } else {
                human_duration(gap)
            };
            svg.text("break-label", mid, axis_y + 17.0, None, &hidden);
        }
    }
}

fn legend(svg: &mut Svg, top: f64) -> f64 {
    enum Swatch {
        Bar(&'static str),
        Mark(&'static str, Shape),
        Line(&'static str),
    }
    use Swatch::{Bar, Line, Mark};
    let columns: [(&str, Vec<(Swatch, &str)>); 4] = [
        (
            "Mail Server",
            vec![
                (Bar("serving"), "serving mail"),
                (Bar("paused"), "paused for a copy or a freeze (planned)"),
                (Bar("stopped"), "stopped for the backup (planned)"),
                (Bar("shutdown"), "shut down by the conflict (unplanned)"),
                (Bar("hung"), "hung, still holding Mail Data (unplanned)"),
                (Bar("crashed"), "crashed (an injected fault)"),
                (
                    Bar("unsafe-serving"),
                    "writing while the backup reads (unsafe)",
                ),
                (
                    Mark("restart", Shape::TriangleUp),
                    "the administrator restarts it",
                ),
                (Mark("hang-detected", Shape::TriangleDown), "hang detected"),
            ],
        ),
        (
            "Retrospect Remote",
            vec![
                (Bar("backup-run"), "backup running"),
                (Bar("read-live"), "reads the live Mail Data (the conflict)"),
                (
                    Bar("read-safe"),
                    "reads a snapshot, a copy, or a stopped file",
                ),
                (Bar("waiting"), "waits for Mail Data to go quiet"),
                (
                    Mark("skipped", Shape::TriangleDown),
                    "skips Mail Data (excluded, busy)",
                ),
                (Mark("snapshot", Shape::Circle), "snapshot taken"),
                (
                    Mark("gave-up", Shape::BigCross),
                    "snapshot gave up, backup failed",
                ),
                (
                    Mark("archived-ok", Shape::Circle),
                    "consistent copy archived",
                ),
                (
                    Mark("stale", Shape::Circle),
                    "stale copy archived (earlier night)",
                ),
                (
                    Mark("torn", Shape::BigCross),
                    "torn copy archived (corrupted)",
                ),
            ],
        ),
        (
            "MS Mail Backup",
            vec![
                (
                    Mark("copy-aside", Shape::Diamond),
                    "copy of Mail Data made aside",
                ),
                (
                    Mark("copy-missed", Shape::Diamond),
                    "no copy made (control panel",
                ),
                (Bar(""), "did not load, or the copy failed)"),
            ],
        ),
        (
            "Mail traffic and marks",
            vec![
                (Bar("served"), "requests served (above the line)"),
                (Bar("deferred"), "requests deferred (below the line)"),
                (Line("conflict"), "the backup opens the live data file"),
                (Bar("zoom-window"), "the stretch shown in the close-up"),
            ],
        ),
    ];
    svg.text("legend-title", 24.0, top + 14.0, None, "Legend");
    let col_w = (WIDTH - 48.0) / 4.0;
    let mut height: f64 = 0.0;
    for (c, (head, items)) in columns.iter().enumerate() {
        let x = 24.0 + c as f64 * col_w;
        let mut y = top + 36.0;
        svg.text("legend-head", x, y, None, head);
        y += 8.0;
        for (swatch, label) in items {
            match swatch {
                Bar("") => {}
                // `swatch` tells the legend's samples from the marks.
                Bar(class) => svg.rect_plain(&format!("{class} swatch"), x, y + 2.0, 18.0, 10.0),
                Mark(class, shape) => {
                    svg.mark(&format!("{class} swatch"), *shape, x + 9.0, y + 7.0, "")
                }
                Line(class) => svg.line(
                    &format!("{class} swatch"),
                    x + 9.0,
                    y - 1.0,
                    x + 9.0,
                    y + 15.0,
                ),
            }
            svg.text("legend-label", x + 26.0, y + 11.5, None, label);
            y += 18.0;
        }
        height = height.max(y - top);
    }
    height
}

// ---------------------------------------------------------------------------
// Words.

fn headline(report: &Report) -> String {
    match report.outcome() {
        Outcome::Clean => {
            "Clean: no shutdown, no hang, and every archived copy of Mail Data is consistent"
                .to_owned()
        }
        Outcome::GracefulShutdown => {
            "Graceful shutdown: the mail server stops itself when the backup opens its data file"
                .to_owned()
        }
        Outcome::Hang => {
            "Hang: the mail server stops answering when the backup opens its data file".to_owned()
        }
        Outcome::Crashed => "Crashed: an injected fault kills the mail server".to_owned(),
        Outcome::Corrupted => {
            "Corrupted: the backup archives a torn copy of Mail Data, written to while it was read"
                .to_owned()
        }
    }
}

fn scenario_line(report: &Report, model: &Model<'_>) -> String {
    let behavior = match report.behavior.as_str() {
        "kb" => "as KB Q98097 says (usually shut down, sometimes hang)",
        "shutdown" => "shut down",
        "hang" => "hang",
        "tolerate" => "keep serving (unsafe)",
        other => other,
    };
    let mut excluded: Vec<String> = Vec::new();
    for e in report.timeline() {
        if let (EventKind::Excluded { .. }, Some(p)) = (&e.kind, &e.path) {
            let name = p.name().to_owned();
            if !excluded.contains(&name) {
                excluded.push(name);
            }
        }
    }
    let mut s = format!(
        "Seed {} · the server's reaction to a foreign open: {behavior} · snapshot policy: {} · \
         open files: {}",
        report.seed(),
        report.snapshot,
        report.open_files
    );
    if !excluded.is_empty() {
        let _ = write!(s, " · excluded: {}", excluded.join(", "));
    }
    if model.nights.len() > 1 {
        let _ = write!(s, " · {} nights", model.nights.len());
    }
    s
}

fn summary_line(report: &Report) -> String {
    let m = report.metrics();
    let copies: Vec<&super::ArchivedFile> = report.mail_data_archived().collect();
    let archive = if copies.is_empty() {
        "Mail Data not archived".to_owned()
    } else if copies.iter().any(|a| !a.verdict.is_consistent()) {
        "the archived Mail Data is TORN".to_owned()
    } else if copies
        .iter()
        .any(|a| matches!(a.verdict, Verdict::Consistent { stale: true, .. }))
    {
        "the archived Mail Data is consistent but stale".to_owned()
    } else {
        format!(
            "the archived Mail Data is consistent{}",
            m.recovery_point_age
                .map(|d| format!(", {} old when the backup ends", human_duration(d)))
                .unwrap_or_default()
        )
    };
    format!(
        "Server down {} unplanned, {} planned · {} request{} deferred · {archive}",
        human_duration(m.unplanned_downtime),
        human_duration(m.planned_downtime),
        m.deliveries_deferred,
        if m.deliveries_deferred == 1 { "" } else { "s" }
    )
}

fn description(report: &Report, model: &Model<'_>) -> String {
    let mut s = format!(
        "Timeline of a simulated night of the mail server and its backup (Microsoft KB Q98097). \
         Outcome: {}. {}. Lanes: Mail Server, MS Mail Backup, Retrospect Remote, Mail traffic.",
        report.outcome(),
        summary_line(report)
    );
    for c in &model.conflicts {
        let _ = write!(
            s,
            " Night {}: {} {}.",
            c.night,
            c.opened,
            c.reaction.trim_start_matches("→ ")
        );
    }
    if model.conflicts.is_empty() {
        s.push_str(" The backup never opened the live data file while the server held it.");
    }
    s
}

/// `text` cut at ` · ` separators into lines that fit the picture at
/// `size` px.
fn wrap(text: &str, size: f64) -> Vec<String> {
    let max = WIDTH - 48.0;
    let mut lines: Vec<String> = Vec::new();
    for part in text.split(" · ") {
        match lines.last_mut() {
            Some(line) if text_width(&format!("{line} · {part}"), size) <= max => {
                line.push_str(" · ");
                line.push_str(part);
            }
            _ => lines.push(part.to_owned()),
        }
    }
    lines
}

/// `HH:MM`.
fn hm(t: SimTime) -> String {
    let s = t.time_of_day().to_string();
    s[..5].to_owned()
}

/// `HH:MM:SS`.
fn hm_s(t: SimTime) -> String {
    t.to_string()
}

/// A coordinate, to a tenth of a pixel.
fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}

/// Text escaped for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(esc("x\u{1}y"), "x y");
    }

    #[test]
    fn coordinates_are_short() {
        assert_eq!(n(3.0), "3");
        assert_eq!(n(3.25), "3.2");
        assert_eq!(n(-0.04), "-0");
    }

    #[test]
    fn an_axis_maps_breaks_linearly() {
        let axis = Axis::from_visible(&[(0, HOUR), (3 * HOUR, 4 * HOUR)], HOUR, QUARTER);
        assert_eq!(axis.x(0), PLOT_X0);
        assert_eq!(axis.x(4 * HOUR), PLOT_X1);
        let a = axis.x(HOUR);
        let b = axis.x(3 * HOUR);
        assert!((b - a - BREAK_W).abs() < 1e-9);
        assert!((axis.x(2 * HOUR) - (a + b) / 2.0).abs() < 1e-9);
        assert_eq!(axis.breaks(), vec![(HOUR, 3 * HOUR)]);
    }
}
