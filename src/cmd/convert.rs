use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sessrec_formats::asciicast::{Encoder, V2Encoder, V3Encoder};
use sessrec_formats::container::{ContainerWriter, WriterOptions};
use sessrec_formats::tail::SignedEvents;
use sessrec_formats::{Event, EventData, EventReader, Header, OpenOptions, SessrecMeta, open_path};

use super::input_status;
use crate::cli::{Convert, Target};
use crate::exit::Status;
use crate::keyfile::read_signing_key;
use crate::output::Output;
use crate::print;

impl Convert {
    pub fn run(self) -> Result<Status> {
        let target = self.to.unwrap_or_else(|| Target::from_path(&self.output));
        if target == Target::Raw
            && self.output.as_os_str() == "-"
            && std::io::stdout().is_terminal()
        {
            // The recorded bytes would drive this terminal: a hostile recording could set its
            // title, write its clipboard or rewrite what is on it.
            bail!(
                "refusing to write the raw recorded bytes to a terminal; redirect them to a file, \
                 or use --to txt (a transcript) or sessrec play"
            );
        }
        let signer = self.sign_key.as_deref().map(read_signing_key).transpose()?;
        let opts = OpenOptions {
            timing: self.timing.clone(),
            ..OpenOptions::default()
        };
        let mut reader = open_path(&self.input, &opts)
            .with_context(|| format!("cannot read {}", self.input.display()))?;
        let mut out = Output::create(&self.output, self.force)?;
        let context = || format!("converting {}", self.input.display());
        let header = reader.header().clone();
        let zst_header = with_session(header.clone(), &reader);
        // Events after the last checkpoint are held back: no signature covers them.
        let mut events = SignedEvents::new(&mut reader, self.keep_unsigned_tail);
        match target {
            Target::V3 => write_asciicast(V3Encoder::new(), &header, &mut events, &mut out)
                .with_context(context)?,
            Target::V2 => {
                write_asciicast(V2Encoder, &header, &mut events, &mut out).with_context(context)?
            }
            Target::Raw => write_raw(&mut events, &mut out).with_context(context)?,
            Target::Txt => {
                sessrec_player::write_transcript(&mut events, header.cols, header.rows, &mut out)
                    .with_context(context)?
            }
            Target::Zst => {
                let mut writer =
                    ContainerWriter::new(&mut out, &zst_header, signer, WriterOptions::archive())?;
                for event in &mut events {
                    writer.write_event(&event.with_context(context)?)?;
                }
                writer.finish(None)?;
            }
        }
        let tail = events.tail().map(|t| (t, events.last_signed_us()));
        out.commit()?;
        let (status, warning) = input_status(&reader);
        if let Some(w) = warning {
            print::warn(w);
        }
        if let Some((tail, signed_end)) = tail {
            let what = format!(
                "{} event{} ({:.3} s) after the last checkpoint, which no signature covers",
                tail.events,
                if tail.events == 1 { "" } else { "s" },
                tail.span_ms(signed_end) as f64 / 1000.0
            );
            if self.keep_unsigned_tail {
                print::warn(format_args!("kept the unsigned tail: {what}"));
            } else {
                print::warn(format_args!(
                    "left out the unsigned tail: {what} (--keep-unsigned-tail keeps it)"
                ));
            }
        }
        Ok(status)
    }
}

impl Target {
    fn from_path(path: &Path) -> Target {
        let name = path.to_string_lossy();
        if name.ends_with(".zst") {
            Target::Zst
        } else if name.ends_with(".txt") {
            Target::Txt
        } else if name.ends_with(".raw") {
            Target::Raw
        } else {
            Target::V3
        }
    }
}

/// A .cast.zst needs a session id: keep the input's, or give the converted recording a new one
/// and say where it came from.
fn with_session(mut header: Header, reader: &EventReader) -> Header {
    if header.sessrec.is_none() {
        let mut source = serde_json::Map::new();
        source.insert("format".into(), reader.format().name().into());
        source.insert(
            "converted_by".into(),
            concat!("sessrec ", env!("CARGO_PKG_VERSION")).into(),
        );
        header.sessrec = Some(SessrecMeta {
            format: 1,
            session_id: uuid::Uuid::now_v7().to_string(),
            start: header
                .timestamp
                .and_then(|t| jiff::Timestamp::from_second(t).ok())
                .map(|t| t.to_string()),
            source: Some(source.into()),
            ..SessrecMeta::default()
        });
    }
    header
}

pub(super) fn write_asciicast(
    mut enc: impl Encoder,
    header: &Header,
    events: &mut impl Iterator<Item = sessrec_formats::Result<Event>>,
    out: &mut impl Write,
) -> Result<()> {
    let line = enc.header(header);
    sessrec_formats::asciicast::check_header_line(&line)?;
    out.write_all(&line)?;
    let mut buf = Vec::with_capacity(64 * 1024);
    for event in events {
        enc.event(&event?, &mut buf);
        if buf.len() >= 32 * 1024 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    Ok(())
}

fn write_raw(
    events: &mut impl Iterator<Item = sessrec_formats::Result<Event>>,
    out: &mut impl Write,
) -> Result<()> {
    for event in events {
        if let EventData::Output(bytes) = event?.data {
            out.write_all(&bytes)?;
        }
    }
    Ok(())
}
