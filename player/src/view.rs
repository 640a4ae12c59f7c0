//! Drawing the app: the recorded screen, the keystroke pane, the timeline, the status bar, the
//! prompt line and the help.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::app::{App, Prompt, SPEEDS};
use crate::keys::{KEY_BINDINGS, KEYS_WIDTH};
use crate::render::ScreenView;
use crate::time::{keys, offset, safe};
use crate::timeline::MarkerKind;
use crate::verdict::{Severity, Verdict};

/// Draws the whole app into `frame`.
pub(crate) fn draw(app: &mut App, frame: &mut Frame) {
    let [body, timeline, status, bottom] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let screen_area = if app.keys_pane {
        let [screen, pane] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(28)]).areas(body);
        draw_keys(app, frame, pane);
        screen
    } else {
        body
    };
    frame.render_widget(
        ScreenView {
            term: app.player.terminal(),
            pan: app.pan,
        },
        screen_area,
    );
    app.timeline_area = timeline;
    draw_timeline(app, frame, timeline);
    frame.render_widget(Paragraph::new(status_line(app)), status);
    frame.render_widget(Paragraph::new(bottom_line(app, screen_area)), bottom);
    if app.help {
        draw_help(frame, body);
    }
}

fn status_line(app: &App) -> Line<'static> {
    let t = app.loading.timeline();
    let mut parts: Vec<Span> = Vec::new();
    let state = if app.playing { "▶" } else { "⏸" };
    parts.push(Span::styled(
        format!(" {state} {}x ", SPEEDS[app.speed]),
        Style::default().add_modifier(Modifier::REVERSED),
    ));
    parts.push(Span::raw(format!(
        " {} / {} ",
        offset(app.position),
        offset(t.duration)
    )));
    if let Some(start) = app.meta.start {
        // Saturating: a recording's times go up to the format's maximum, far past jiff's.
        let position = i64::try_from(app.position).unwrap_or(i64::MAX);
        let at = jiff::Timestamp::from_microsecond(start.as_microsecond().saturating_add(position))
            .unwrap_or(jiff::Timestamp::MAX);
        let local = at.to_zoned_datetime(app.local_zone.clone());
        let mut clock = at.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
        if local.offset() != jiff::tz::Offset::UTC {
            clock.push_str(&local.strftime(" (%H:%M:%S %Z)").to_string());
        }
        parts.push(Span::raw(format!(" {clock} ")));
    }
    if !app.loading.is_done() {
        let (text, colour) = if app.follow {
            (" ● live ", Color::Red)
        } else {
            (" loading… ", Color::Yellow)
        };
        parts.push(Span::styled(text, Style::default().fg(colour)));
    }
    if !app.idle_limit {
        parts.push(Span::raw(" idle: full "));
    }
    if t.markers_not_listed > 0 {
        parts.push(Span::styled(
            format!(" {} markers not listed ", t.markers_not_listed),
            Style::default().fg(Color::Yellow),
        ));
    }
    let verdict = app.meta.verdict.lock().map(|v| *v).unwrap_or_default();
    let colour = match verdict.severity() {
        Severity::Good => Color::Green,
        Severity::Bad => Color::Red,
        Severity::Unknown => Color::Yellow,
    };
    if verdict != Verdict::Absent {
        parts.push(Span::styled(
            format!(" {} ", verdict.text()),
            Style::default().fg(colour).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(from) = app.meta.unsigned_from() {
        // Past the last checkpoint: what is shown could have been appended by anyone.
        let (text, style) = if app.position >= from {
            (
                " UNSIGNED TAIL: no signature covers this ".to_string(),
                Style::default()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
            )
        } else {
            (
                format!(" unsigned tail from {} ", offset(from)),
                Style::default().fg(Color::Red),
            )
        };
        parts.push(Span::styled(text, style));
    }
    let who = match (&app.meta.user, &app.meta.host) {
        (Some(u), Some(h)) => format!(" {u}@{h} "),
        (Some(u), None) => format!(" {u} "),
        (None, Some(h)) => format!(" @{h} "),
        (None, None) => String::new(),
    };
    parts.push(Span::styled(who, Style::default().fg(Color::Cyan)));
    if let Some(g) = &app.meta.grant {
        parts.push(Span::raw(format!(" grant {g} ")));
    }
    if let Some(code) = t.exit {
        parts.push(Span::raw(format!(" exit {code} ")));
    }
    Line::from(parts)
}

fn bottom_line(app: &App, screen: Rect) -> Line<'static> {
    match &app.prompt {
        Some(Prompt::Search(text)) => return Line::from(format!("/{}", safe(text))),
        Some(Prompt::Goto(text)) => return Line::from(format!("go to: {}", safe(text))),
        None => {}
    }
    if let Some(n) = &app.notice {
        return Line::from(safe(n));
    }
    if let Some(e) = app.loading.timeline().read_error() {
        return Line::styled(
            format!("{}; quit and play again with --no-cache", safe(&e)),
            Style::default().fg(Color::Red),
        );
    }
    if let Some(e) = app.loading.error() {
        return Line::styled(
            format!("the recording stops early: {}", safe(&e)),
            Style::default().fg(Color::Red),
        );
    }
    let (cols, rows) = app.player.terminal().size();
    if cols > usize::from(screen.width) || rows > usize::from(screen.height) {
        return Line::styled(
            format!(
                "the recording is {cols}×{rows}, larger than this view ({}×{}): Alt+arrows pan",
                screen.width, screen.height
            ),
            Style::default().fg(Color::Yellow),
        );
    }
    Line::styled(
        "? help  q quit",
        Style::default().add_modifier(Modifier::DIM),
    )
}

fn draw_timeline(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.loading.timeline();
    let width = usize::from(area.width);
    if width == 0 {
        return;
    }
    let column = |time: u64| -> usize {
        if t.duration == 0 {
            0
        } else {
            ((time as f64 / t.duration as f64) * (width - 1) as f64) as usize
        }
        .min(width - 1)
    };
    let played = column(app.position);
    // The unsigned tail is drawn in red, with a marker where it starts.
    let unsigned = app.meta.unsigned_from().map(column);
    let mut cells: Vec<(char, Style)> = (0..width)
        .map(|x| {
            let tail = unsigned.is_some_and(|u| x >= u);
            match (x <= played, tail) {
                (true, false) => ('━', Style::default().fg(Color::Blue)),
                (false, false) => ('─', Style::default().add_modifier(Modifier::DIM)),
                (true, true) => ('━', Style::default().fg(Color::Red)),
                (false, true) => ('┄', Style::default().fg(Color::Red)),
            }
        })
        .collect();
    if let Some(u) = unsigned {
        cells[u] = (
            '┤',
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        );
    }
    for hit in &app.hits {
        cells[column(hit.time)] = ('•', Style::default().fg(Color::Cyan));
    }
    // Suspicious input is drawn last, so no other mark in its column hides it.
    let mut marks: Vec<_> = t.markers.iter().collect();
    marks.sort_by_key(|m| m.kind == MarkerKind::Suspicious);
    for m in marks {
        cells[column(m.time)] = match m.kind {
            MarkerKind::Note => ('◆', Style::default().fg(Color::Yellow)),
            MarkerKind::Withheld => ('◆', Style::default().fg(Color::Magenta)),
            MarkerKind::Grant => ('◆', Style::default().fg(Color::Red)),
            MarkerKind::Suspicious => (
                '▲',
                Style::default()
                    .fg(Color::LightRed)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ),
        };
    }
    cells[played] = (
        '●',
        Style::default()
            .fg(Color::White)
            .add_modifier(Modifier::BOLD),
    );
    let spans: Vec<Span> = cells
        .into_iter()
        .map(|(c, s)| Span::styled(c.to_string(), s))
        .collect();
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_keys(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.loading.timeline();
    let shown = usize::from(area.height.saturating_sub(2));
    let mut cache = app.keys_shown.lock().unwrap_or_else(|p| p.into_inner());
    let key = (t.generation, app.position, shown);
    if cache.0 != Some(key) {
        *cache = (Some(key), t.keystrokes_before(app.position, shown));
    }
    let lines: Vec<Line> = cache
        .1
        .iter()
        .map(|(time, bytes)| Line::from(format!("{:>8} {}", offset(*time), keys(bytes))))
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::LEFT).title(" keys ")),
        area,
    );
}

fn draw_help(frame: &mut Frame, area: Rect) {
    let width = 72.min(area.width);
    let height = (KEY_BINDINGS.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line> = KEY_BINDINGS
        .iter()
        .map(|b| Line::from(format!(" {:<w$} {}", b.keys, b.action, w = KEYS_WIDTH)))
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" keys ")),
        popup,
    );
}
