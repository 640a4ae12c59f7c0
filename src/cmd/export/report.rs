//! The bundle's report, and each session's derived files: `index.html` (every session, sortable and filterable) and one page per
//! session (who, grant, when, exit status, verdict, the screens at each marker and at regular
//! points, stepped through with a slider, and the transcript). Self-contained: no network, no
//! external file, readable and printable without JavaScript (the script only adds the slider,
//! sorting and filters). Everything from a recording is drawn by sessrec's emulator and
//! escaped; the pages' Content-Security-Policy allows no source but themselves.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use sessrec_formats::tail::SignedEvents;
use sessrec_formats::time::clock;
use sessrec_formats::{EventData, Micros, OpenOptions, open_path};
use sessrec_player::VirtualTerminal;
use sessrec_player::html::{escape, screen_html};

use super::rows::Row;

/// A screen every this much session time, besides one at each marker...
const EVERY: Micros = 30_000_000;
/// ...and at most this many per session (the last screen is always there).
const MAX_SCREENS: usize = 240;
/// ...and at most this much HTML of screens on one page: every screen is at most 640 × 240
/// cells, each of which may carry its own colours, so the count alone does not bound it.
const MAX_SCREENS_HTML: usize = 16 * 1024 * 1024;
/// The transcript shown on the page is cut here (the whole one is transcript.txt).
const MAX_TRANSCRIPT: usize = 2 * 1024 * 1024;

const HEAD: &str = "<meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" \
    content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
    <meta name=\"viewport\" content=\"width=device-width\">";

const STYLE: &str = "<style>\
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}\
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#eee;cursor:pointer}td.intact{color:#060}td.bad{color:#b00;font-weight:bold}\
pre.screen{background:#101010;color:#d0d0d0;padding:6px;display:inline-block;font:12px/1.2 monospace;margin:0}\
pre.transcript{white-space:pre-wrap;font:12px/1.3 monospace;background:#f6f6f6;padding:8px}\
.shot{margin:1em 0}.shot h3{font-size:13px;margin:.2em 0}#filters input{width:10em;margin-right:1em}\
@media print{#player,#filters{display:none!important}.shot{display:block!important;break-inside:avoid}th{cursor:auto}}\
</style>";

/// Writes each session's transcript, plain asciicast and page, and `index.html`. Sessions are
/// rendered on every core: the terminal emulator is the slow part.
pub fn write(out: &Path, rows: &[Row], title: &str) -> Result<()> {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(rows.len())
        .max(1);
    let failed: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(row) = rows.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let recording = out.join(&row.recording);
                    let dir = recording.parent().unwrap_or(out);
                    super::derived_files(&recording, dir);
                    if let Err(e) = session_page(out, row) {
                        let e = e.context(format!("the report page of {}", row.session_id));
                        failed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    super::files::write_new(out.join("index.html"), index_page(rows, title))
        .context("writing index.html")
}

fn verdict_cell(v: &str) -> String {
    let class = if v == "intact" { "intact" } else { "bad" };
    format!("<td class=\"{class}\">{}</td>", escape(v))
}

fn opt(v: &Option<String>) -> String {
    escape(v.as_deref().unwrap_or(""))
}

fn index_page(rows: &[Row], title: &str) -> String {
    let mut body = String::new();
    for r in rows {
        let id = escape(&r.session_id);
        let _ = writeln!(
            body,
            "<tr><td><a href=\"sessions/{id}/index.html\">{id}</a></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td data-sort=\"{}\">{}</td><td>{}</td>{}</tr>",
            opt(&r.user),
            opt(&r.host),
            opt(&r.grant),
            opt(&r.start),
            r.duration_ms,
            clock(r.duration_ms.saturating_mul(1000)),
            r.exit_status.map(|c| c.to_string()).unwrap_or_default(),
            verdict_cell(&r.verdict),
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head>{HEAD}<title>{t}</title>{STYLE}</head><body>\
         <h1>{t}</h1><p>{n} sessions. Each recording is in sessions/ID/ with its manifest; \
         README.txt says how to check the bundle.</p>\
         <div id=\"filters\" hidden>User <input data-col=\"1\"> Host <input data-col=\"2\"> \
         Grant <input data-col=\"3\"> Date <input data-col=\"4\" placeholder=\"2026-11-26\"></div>\
         <table id=\"sessions\"><thead><tr><th>Session</th><th>User</th><th>Host</th><th>Grant</th>\
         <th>Start</th><th>Duration</th><th>Exit</th><th>Verdict</th></tr></thead><tbody>\n{body}\
         </tbody></table><script>{INDEX_SCRIPT}</script></body></html>\n",
        t = escape(title),
        n = rows.len(),
    )
}

const INDEX_SCRIPT: &str = r#"
(function(){
  var table=document.getElementById('sessions'),body=table.tBodies[0];
  var rows=Array.prototype.slice.call(body.rows),f=document.getElementById('filters');
  f.hidden=false;
  var inputs=f.querySelectorAll('input');
  function apply(){rows.forEach(function(r){var show=true;
    inputs.forEach(function(i){var v=i.value.trim().toLowerCase();
      if(v&&r.cells[+i.dataset.col].textContent.toLowerCase().indexOf(v)<0)show=false;});
    r.hidden=!show;});}
  inputs.forEach(function(i){i.addEventListener('input',apply);});
  var dir={};
  table.tHead.rows[0].querySelectorAll('th').forEach(function(th,c){
    th.addEventListener('click',function(){dir[c]=-(dir[c]||-1);
      rows.sort(function(a,b){var x=a.cells[c].dataset.sort||a.cells[c].textContent,
        y=b.cells[c].dataset.sort||b.cells[c].textContent;
        var nx=parseFloat(x),ny=parseFloat(y);
        var k=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return k*dir[c];});
      rows.forEach(function(r){body.appendChild(r);});});});
})();
"#;

const SESSION_SCRIPT: &str = r#"
(function(){
  var shots=document.querySelectorAll('.shot'),p=document.getElementById('player');
  if(!shots.length)return;
  var s=document.getElementById('slider'),at=document.getElementById('at');
  p.hidden=false;s.max=shots.length-1;
  function show(i){shots.forEach(function(x,j){x.style.display=j==i?'block':'none';});
    at.textContent=(+i+1)+' / '+shots.length+'  '+shots[i].dataset.label;s.value=i;}
  s.addEventListener('input',function(){show(+s.value);});
  document.getElementById('prev').onclick=function(){show(Math.max(0,+s.value-1));};
  document.getElementById('next').onclick=function(){show(Math.min(shots.length-1,+s.value+1));};
  show(0);
})();
"#;

fn session_page(out: &Path, row: &Row) -> Result<()> {
    let dir = out.join(Path::new(&row.recording).parent().unwrap_or(Path::new("")));
    let (shots, cut, clipped) = screens(&out.join(&row.recording)).unwrap_or_default();
    let facts: Vec<(&str, String)> = vec![
        ("User", opt(&row.user)),
        ("Uid", row.uid.map(|u| u.to_string()).unwrap_or_default()),
        ("Source", opt(&row.source)),
        ("Key fingerprint", opt(&row.key_fingerprint)),
        (
            "Certificate",
            format!(
                "{} {}",
                opt(&row.cert_key_id),
                row.cert_serial
                    .map(|s| format!("serial {s}"))
                    .unwrap_or_default()
            ),
        ),
        ("Grant", opt(&row.grant)),
        ("Approver", opt(&row.approver)),
        ("Ticket", opt(&row.ticket)),
        ("Reason", opt(&row.reason)),
        ("Grant expires", opt(&row.expires)),
        ("Host", opt(&row.host)),
        ("Start", opt(&row.start)),
        ("End", opt(&row.end)),
        ("Duration", clock(row.duration_ms.saturating_mul(1000))),
        (
            "Exit status",
            row.exit_status
                .map(|c| c.to_string())
                .unwrap_or_else(|| "not in the audit chain".into()),
        ),
        ("Size", format!("{} bytes", row.bytes)),
        ("SHA-256", escape(&row.sha256)),
        ("Signed by", opt(&row.signer_key_id)),
    ];
    let mut table = String::new();
    for (k, v) in facts {
        let _ = write!(table, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    let _ = write!(
        table,
        "<tr><th>Verdict</th>{}</tr>",
        verdict_cell(&row.verdict)
    );
    let mut shots_html = String::new();
    for (i, (label, html)) in shots.iter().enumerate() {
        let label = escape(label);
        let _ = writeln!(
            shots_html,
            "<section class=\"shot\" id=\"s{i}\" data-label=\"{label}\"><h3>{label}</h3>{html}</section>"
        );
    }
    if cut {
        shots_html
            .push_str("<p>More screens than a page shows: play the recording for the rest.</p>");
    }
    if let Some((cols, rows)) = clipped {
        let (mc, mr) = sessrec_formats::limits::MAX_SCREEN;
        shots_html.insert_str(
            0,
            &format!(
                "<p>The recorded terminal was {cols} × {rows}; these screens show at most \
                 {mc} × {mr} of it (the transcript has all the text).</p>"
            ),
        );
    }
    let transcript = std::fs::read(dir.join("transcript.txt")).unwrap_or_default();
    let shown = &transcript[..transcript.len().min(MAX_TRANSCRIPT)];
    let mut transcript = escape(&String::from_utf8_lossy(shown));
    if shown.len() < std::fs::metadata(dir.join("transcript.txt")).map_or(0, |m| m.len() as usize) {
        transcript.push_str("\n[… the rest is in transcript.txt]");
    }
    let id = escape(&row.session_id);
    let page = format!(
        "<!doctype html><html lang=\"en\"><head>{HEAD}<title>Session {id}</title>{STYLE}</head><body>\
         <p><a href=\"../../index.html\">All sessions</a></p><h1>Session {id}</h1>\
         <table class=\"facts\">{table}</table>\
         <h2>Screens</h2><div id=\"player\" hidden><button id=\"prev\">&#9664;</button> \
         <input type=\"range\" id=\"slider\" min=\"0\" value=\"0\"> <button id=\"next\">&#9654;</button> \
         <span id=\"at\"></span></div>{shots_html}\
         <h2>Transcript</h2><pre class=\"transcript\">{transcript}</pre>\
         <script>{SESSION_SCRIPT}</script></body></html>\n"
    );
    super::files::write_new(dir.join("index.html"), page).context("writing the session page")
}

/// Screens (label, HTML), whether some were left out, and the recorded size if larger than
/// the screens show.
type Screens = (Vec<(String, String)>, bool, Option<(u16, u16)>);

/// The screens of a recording (what its signatures cover): at each marker, every [`EVERY`]
/// and at the end; whether there were more than [`MAX_SCREENS`].
fn screens(recording: &Path) -> Result<Screens> {
    let mut reader = open_path(recording, &OpenOptions::default())?;
    let header = reader.header().clone();
    let (mc, mr) = sessrec_formats::limits::MAX_SCREEN;
    let clipped = (header.cols as usize > mc || header.rows as usize > mr)
        .then_some((header.cols, header.rows));
    let mut vt = VirtualTerminal::new(header.cols, header.rows);
    let mut shots = Vec::new();
    let mut next = EVERY;
    let mut last = 0;
    let mut cut = false;
    let mut html_bytes = 0usize;
    let mut take = |label: String, vt: &VirtualTerminal, shots: &mut Vec<(String, String)>| {
        if cut || shots.len() >= MAX_SCREENS {
            cut = true;
            return;
        }
        let html = screen_html(vt);
        html_bytes += html.len();
        if html_bytes > MAX_SCREENS_HTML {
            cut = true;
            return;
        }
        shots.push((label, html));
    };
    for event in SignedEvents::new(&mut reader, false) {
        // A recording that cannot be read on shows its screens up to there (export says why).
        let Ok(event) = event else {
            break;
        };
        if event.time >= next {
            // Nothing changed the screen since the last event: one screen for the whole gap,
            // however long (a hostile time cannot make this loop).
            take(clock(next), &vt, &mut shots);
            next = (event.time / EVERY).saturating_add(1).saturating_mul(EVERY);
        }
        last = event.time;
        if let EventData::Marker(label) = &event.data {
            take(
                format!("{} marker: {label}", clock(event.time)),
                &vt,
                &mut shots,
            );
        }
        vt.apply(&event.data);
    }
    take(format!("{} end", clock(last)), &vt, &mut shots);
    Ok((shots, cut, clipped))
}
