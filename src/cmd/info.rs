use std::collections::BTreeMap;

use std::io::Write;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sessrec_formats::time::clock;
use sessrec_formats::{EventData, OpenOptions, open_path};

use super::input_status;
use crate::cli::Info;
use crate::exit::Status;
use crate::print;

#[derive(Default)]
struct Counts {
    by_kind: BTreeMap<&'static str, u64>,
    output_bytes: u64,
    input_bytes: u64,
    last_us: u64,
    exit: Option<i32>,
    markers: Vec<(u64, String)>,
}

impl Info {
    pub fn run(self) -> Result<Status> {
        let opts = OpenOptions {
            timing: self.timing.clone(),
            ..OpenOptions::default()
        };
        let fetched = crate::fetch::resolve(&self.file, self.store.as_deref(), &self.config)?;
        let mut reader = open_path(fetched.path(), &opts)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        fetched.check_header(reader.header())?;
        let mut c = Counts::default();
        for event in &mut reader {
            let event = event.with_context(|| format!("reading {}", self.file.display()))?;
            c.last_us = c.last_us.max(event.time);
            let kind = match &event.data {
                EventData::Output(b) => {
                    c.output_bytes += b.len() as u64;
                    "output"
                }
                EventData::Input(b) => {
                    c.input_bytes += b.len() as u64;
                    "input"
                }
                EventData::Resize { .. } => "resize",
                EventData::Marker(label) => {
                    if c.markers.len() < 1000 {
                        c.markers.push((event.time, label.clone()));
                    }
                    "marker"
                }
                EventData::Exit(s) => {
                    c.exit = Some(*s);
                    "exit"
                }
                EventData::Other { .. } => "other",
            };
            *c.by_kind.entry(kind).or_default() += 1;
        }
        let (status, warning) = input_status(&reader);
        let file_size = std::fs::metadata(fetched.path())
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let h = reader.header();
        let integ = reader.integrity();
        let plain = integ.as_ref().map(|i| i.plain_bytes);
        let doc = json!({
            "file": self.file,
            "format": reader.format().name(),
            "gzip": reader.gzip(),
            "size_bytes": file_size,
            "plain_bytes": plain,
            "compression_ratio": match (plain, file_size) {
                (Some(p), Some(f)) if f > 0 => Some((p as f64 / f as f64 * 100.0).round() / 100.0),
                _ => None,
            },
            "term": {"cols": h.cols, "rows": h.rows, "type": h.term_type},
            "timestamp": h.timestamp,
            "command": h.command,
            "title": h.title,
            "sessrec": h.sessrec,
            "duration_ms": c.last_us / 1000,
            "events": c.by_kind,
            "output_bytes": c.output_bytes,
            "input_bytes": c.input_bytes,
            "exit_status": c.exit,
            "markers": c.markers.iter().map(|(t, l)| json!([t / 1000, l])).collect::<Vec<_>>(),
            "container": integ.as_ref().map(|i| json!({
                "frames": i.data_frames,
                "checkpoints_matching": i.verified_frames,
                "trailer": i.trailer.is_some(),
                "signed_by": i.signer,
                "cut_at_byte": i.cut.as_ref().map(|c| c.offset),
                "damage": i.damage.as_ref().map(|d| format!("frame {}: {}", d.frame, d.reason)),
                "format": i.format(),
                "stopped": i.stopped().map(|s| json!({"at_ms": s.at_ms, "reason": s.reason, "session_continued": s.session_continued})),
            })),
            "warning": warning,
        });
        let mut out = print::stdout();
        // The exit status says whether the input was whole: kept when the reader went away.
        print::unless_closed(if self.json {
            writeln!(
                out,
                "{}",
                print::json_safe(serde_json::to_string_pretty(&doc)?)
            )
        } else {
            print_text(&mut out, &doc)
        })
        .context("printing the description")?;
        if let Some(w) = &warning
            && !self.json
        {
            print::warn(w);
        }
        Ok(status)
    }
}

/// The description as text. Every value from the recording is made terminal-safe: a recorded
/// command, TERM or metadata field must not drive the reviewer's terminal.
fn print_text(out: &mut impl Write, d: &Value) -> std::io::Result<()> {
    let s = |v: &Value| -> String {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        print::safe(&text).into_owned()
    };
    writeln!(out, "file:         {}", s(&d["file"]))?;
    let gz = if d["gzip"] == true { " (gzip)" } else { "" };
    writeln!(out, "format:       {}{gz}", s(&d["format"]))?;
    writeln!(
        out,
        "terminal:     {}x{} {}",
        d["term"]["cols"],
        d["term"]["rows"],
        s(&d["term"]["type"])
    )?;
    if let Some(t) = d["timestamp"]
        .as_i64()
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
    {
        writeln!(out, "started:      {t}")?;
    }
    if !d["command"].is_null() {
        writeln!(out, "command:      {}", s(&d["command"]))?;
    }
    writeln!(
        out,
        "duration:     {}",
        clock(d["duration_ms"].as_u64().unwrap_or(0) * 1000)
    )?;
    let events: Vec<String> = d["events"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    writeln!(
        out,
        "events:       {}",
        if events.is_empty() {
            "none".into()
        } else {
            events.join(", ")
        }
    )?;
    writeln!(
        out,
        "bytes:        output {}, input {}",
        d["output_bytes"], d["input_bytes"]
    )?;
    writeln!(out, "exit status:  {}", s(&d["exit_status"]))?;
    if let Some(size) = d["size_bytes"].as_u64() {
        let ratio = d["compression_ratio"]
            .as_f64()
            .map(|r| format!(", compression {r}x"))
            .unwrap_or_default();
        writeln!(out, "size:         {size} bytes{ratio}")?;
    }
    if let Some(m) = d["sessrec"].as_object() {
        for (k, v) in m {
            writeln!(out, "sessrec.{:<12} {}", print::safe(k), s(v))?;
        }
    }
    if let Some(c) = d["container"].as_object() {
        writeln!(
            out,
            "container:    {} frames, {} checkpoints matching, trailer {}, signed by {} (run `sessrec verify --key` to check signatures)",
            c["frames"],
            c["checkpoints_matching"],
            if c["trailer"] == true {
                "present"
            } else {
                "missing"
            },
            s(&c["signed_by"]),
        )?;
        writeln!(out, "format:       container format {}", c["format"])?;
        if let Some(stop) = c["stopped"].as_object() {
            writeln!(
                out,
                "stopped:      the recording stopped at {} ms: {}",
                stop["at_ms"],
                s(&stop["reason"])
            )?;
        }
    }
    Ok(())
}
