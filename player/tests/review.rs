//! The review app driven by keys, drawn on a ratatui `TestBackend`, compared with snapshots.

mod common;

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use sessrec_formats::{Event, EventData, Header};
use sessrec_player::app::{App, Meta};
use sessrec_player::{Loading, Timeline};

use common::app;

const S: u64 = 1_000_000;

fn ev(time: u64, data: EventData) -> Event {
    Event { time, data }
}

fn out(time: u64, text: &str) -> Event {
    Event::output(time, text)
}

/// A short incident: a prompt, a typed command, a password prompt (withheld), a full-screen
/// program, a grant warning, a resize and an exit.
fn incident() -> Vec<Event> {
    vec![
        out(0, "\x1b[1;32malice@db-1\x1b[0m:~$ "),
        ev(2 * S, EventData::Input(b"kubectl get pods\r".to_vec())),
        out(
            2 * S + 1000,
            "kubectl get pods\r\nNAME      READY\r\napi-7f9   1/1\r\n",
        ),
        out(3 * S, "\x1b[1;32malice@db-1\x1b[0m:~$ "),
        ev(10 * S, EventData::Input(b"sudo -i\r".to_vec())),
        out(10 * S + 1000, "sudo -i\r\n[sudo] password for alice: "),
        ev(
            14 * S,
            EventData::Marker("input withheld: 9 keystrokes over 1.200 s (password prompt)".into()),
        ),
        out(14 * S + 1000, "\r\nroot@db-1:~# "),
        ev(
            30 * S,
            EventData::Input(b"kubectl delete pod api-7f9\r".to_vec()),
        ),
        out(
            30 * S + 1000,
            "kubectl delete pod api-7f9\r\npod \"api-7f9\" deleted\r\nroot@db-1:~# ",
        ),
        ev(
            40 * S,
            EventData::Marker("grant INC-4711 expires in 5 minutes".into()),
        ),
        out(
            45 * S,
            "\x1b[?1049h\x1b[H\x1b[2Jtop - 10:00:45 up 3 days\r\n\x1b[7m  PID USER  %CPU\x1b[0m\r\n    1 root   0.3",
        ),
        out(50 * S, "\x1b[?1049l"),
        ev(55 * S, EventData::Resize { cols: 60, rows: 12 }),
        out(56 * S, "exit\r\n"),
        ev(57 * S, EventData::Exit(0)),
    ]
}

fn press(app: &mut App, code: KeyCode) {
    app.key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn frame(app: &mut App) -> String {
    let mut t = Terminal::new(TestBackend::new(80, 20)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    t.backend().to_string()
}

#[test]
fn the_first_frame_and_the_end() {
    let mut a = app(incident());
    a.tick(Duration::ZERO);
    let start = frame(&mut a);
    insta::assert_snapshot!("start", start);
    // End is not one of the player's keys (App::key and the help have no End): it must move
    // nothing and change nothing on the screen. (Were End bound to "go to the end", this is the
    // assertion to turn into `position() == duration`.)
    press(&mut a, KeyCode::End);
    assert_eq!(a.position(), 0, "End moved the player");
    assert_eq!(frame(&mut a), start, "End changed the screen");
    // The end is reached by 90 % and two 5 s steps, the second clamped to the last event (57 s).
    typed(&mut a, "9");
    assert_eq!(a.position(), 57 * S / 10 * 9);
    press(&mut a, KeyCode::Right);
    press(&mut a, KeyCode::Right);
    assert_eq!(a.position(), 57 * S, "at the end");
    insta::assert_snapshot!("end", frame(&mut a));
}

#[test]
fn seeking_back_and_forth_shows_the_same_frames() {
    let mut a = app(incident());
    typed(&mut a, "5");
    let middle = frame(&mut a);
    insta::assert_snapshot!("at_50_percent", middle);
    typed(&mut a, "8");
    insta::assert_snapshot!("at_80_percent_full_screen", frame(&mut a));
    press(&mut a, KeyCode::Left);
    press(&mut a, KeyCode::Left);
    typed(&mut a, "5");
    assert_eq!(frame(&mut a), middle, "back at 50 % after seeking around");
    // One frame forward and back again while paused.
    typed(&mut a, ".");
    let after = a.position();
    assert!(after > 28 * S, "{after}");
    typed(&mut a, ",");
    assert!(a.position() < after);
}

#[test]
fn search_jumps_to_where_the_text_appeared() {
    let mut a = app(incident());
    typed(&mut a, "/kubectl delete");
    insta::assert_snapshot!("search_prompt", frame(&mut a));
    press(&mut a, KeyCode::Enter);
    while a.searching() {
        a.tick(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1));
    }
    // Typed at 30 s, on the screen a millisecond later.
    assert_eq!(a.position(), 30 * S);
    insta::assert_snapshot!("search_hit", frame(&mut a));
    typed(&mut a, "n");
    assert_eq!(a.position(), 30 * S + 1000);
    typed(&mut a, "N");
    assert_eq!(a.position(), 30 * S);
}

#[test]
fn markers_help_keys_pane_and_goto() {
    let mut a = app(incident());
    typed(&mut a, "]");
    assert_eq!(a.position(), 14 * S);
    typed(&mut a, "]");
    assert_eq!(a.position(), 40 * S);
    insta::assert_snapshot!("grant_marker", frame(&mut a));
    typed(&mut a, "[");
    assert_eq!(a.position(), 14 * S);
    typed(&mut a, "k");
    typed(&mut a, "g@10:00:31");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.position(), 31 * S);
    insta::assert_snapshot!("keys_pane", frame(&mut a));
    typed(&mut a, "?");
    insta::assert_snapshot!("help", frame(&mut a));
}

#[test]
fn playback_honours_speed_and_the_idle_limit() {
    let mut a = app(incident());
    a.play();
    // The first pause (2.001 s) is cut to 2 s, so 3 s of playing reach 3.001 s.
    a.tick(Duration::from_secs(3));
    assert_eq!(a.position(), 3 * S + 1000);
    // From 3 s to 10 s nothing happens: with the idle limit the pause plays as 2 s.
    a.tick(Duration::from_millis(100));
    assert!(a.position() >= 8 * S, "{}", a.position());
    typed(&mut a, ">");
    let before = a.position();
    a.tick(Duration::from_millis(100));
    assert_eq!(a.position() - before, 200_000, "2x speed");
    typed(&mut a, " ");
    let paused = a.position();
    a.tick(Duration::from_secs(1));
    assert_eq!(a.position(), paused);
}

#[test]
fn a_large_recording_is_clipped_with_a_notice() {
    let events = vec![out(0, &format!("{}\r\nwide: 日本語", "x".repeat(150)))];
    let timeline = Timeline::build(160, 50, events.into_iter().map(Ok::<_, ()>)).unwrap();
    let mut a = App::new(
        Loading::loaded(Header::new(160, 50), timeline),
        Meta::default(),
    );
    a.tick(Duration::ZERO);
    let f = frame(&mut a);
    assert!(f.contains("larger than this view"), "{f}");
    a.key(KeyEvent::new(KeyCode::Right, KeyModifiers::ALT));
    let panned = frame(&mut a);
    assert_ne!(panned, f);
    insta::assert_snapshot!("clipped_and_wide", f);
}

#[test]
fn a_click_on_the_timeline_seeks_there() {
    use ratatui::crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut a = app(incident());
    frame(&mut a);
    // The timeline is the third row from the bottom of the 80×20 frame.
    let click = |column| MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row: 17,
        modifiers: KeyModifiers::NONE,
    };
    a.mouse(click(40));
    assert_eq!(a.position(), 57 * S / 2, "the middle of the timeline");
    a.mouse(MouseEvent { row: 5, ..click(0) });
    assert_eq!(a.position(), 57 * S / 2, "a click elsewhere does nothing");
    a.mouse(click(0));
    assert_eq!(a.position(), 0);
}

#[test]
fn suspicious_input_has_its_own_mark_over_any_other() {
    let mut events = incident();
    // A suspicious run and a note in the same column of the timeline: the warning wins.
    events.push(ev(
        20 * S,
        EventData::Marker("a note the session left".into()),
    ));
    events.push(ev(
        20 * S + 1000,
        EventData::Marker(
            "suspicious input: 16 keystrokes, 1 line over 0.300 s (echo off; echo off at a shell prompt); escrowed"
                .into(),
        ),
    ));
    events.sort_by_key(|e| e.time);
    let mut a = app(events);
    a.tick(Duration::ZERO);
    let shown = frame(&mut a);
    assert_eq!(shown.matches('▲').count(), 1, "{shown}");
    let plain = frame(&mut app(incident()));
    assert!(!plain.contains('▲'), "{plain}");
    typed(&mut a, "]]");
    assert_eq!(a.position(), 20 * S);
}

/// Times up to the format's maximum (a hostile recording, or the fuzzer's): every key, click
/// and tick saturates instead of overflowing (a debug build panicked, a release build jumped
/// back to the start), and the status bar still draws.
#[test]
fn times_near_the_maximum_saturate() {
    let far = u64::MAX - 3;
    let mut a = app(vec![
        out(0, "start\r\n"),
        ev(far / 2, EventData::Marker("half way".into())),
        out(far, "the end\r\n"),
    ]);
    for key in "9.,][>".chars() {
        typed(&mut a, &key.to_string());
        frame(&mut a);
    }
    typed(&mut a, "9");
    a.key(KeyEvent::new(KeyCode::Right, KeyModifiers::SHIFT));
    a.key(KeyEvent::new(KeyCode::Right, KeyModifiers::SHIFT));
    press(&mut a, KeyCode::Right);
    assert_eq!(
        a.position(),
        far,
        "clamped to the last event, not wrapped to the start"
    );
    frame(&mut a);
    typed(&mut a, "g99999999999999999999:00:00");
    press(&mut a, KeyCode::Enter);
    typed(&mut a, "g1e300h");
    press(&mut a, KeyCode::Enter);
    a.play();
    a.tick(Duration::from_secs(3600));
    assert_eq!(a.position(), far);
    assert!(frame(&mut a).contains("the end"));
}

/// A flood of markers (a recording that is nothing else) is listed only a bounded share per
/// segment, suspicious-input markers first among what is kept, and the status bar says how
/// many were not listed; keystrokes come back from the segments for the pane.
#[test]
fn a_flood_of_markers_is_listed_a_bounded_share() {
    let mut events: Vec<Event> = (0..5_000)
        .map(|i| ev(i, EventData::Marker(format!("note {i}"))))
        .collect();
    events.push(ev(
        5_000,
        EventData::Marker(
            "suspicious input: 40 keystrokes, 2 lines over 3.000 s (x); escrowed".into(),
        ),
    ));
    events.push(ev(6_000, EventData::Input(b"whoami\r".to_vec())));
    let t = Timeline::build(60, 12, events.iter().cloned().map(Ok::<_, ()>)).unwrap();
    let mut a = app(events);
    let (listed, not_listed, suspicious) = {
        let suspicious = t
            .markers
            .iter()
            .filter(|m| m.kind == sessrec_player::MarkerKind::Suspicious)
            .count();
        (t.markers.len(), t.markers_not_listed, suspicious)
    };
    assert_eq!((listed, not_listed), (65, 4_936));
    assert_eq!(
        suspicious, 1,
        "the suspicious marker is kept past the share"
    );
    typed(&mut a, "k");
    press(&mut a, KeyCode::Right);
    let shown = frame(&mut a);
    assert!(shown.contains("4936 markers not listed"), "{shown}");
    assert!(
        shown.contains("whoami"),
        "the keystroke pane reads the segment: {shown}"
    );
}
