//! The one key-binding table: docs/player.md shows exactly `KEY_BINDINGS`, and the app handles
//! every input the table lists (pressing it changes what the reviewer sees, the position, or
//! quits), while an unbound key changes nothing.

mod common;

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use sessrec_formats::{Event, EventData};
use sessrec_player::app::App;
use sessrec_player::keys::{Input, KEY_BINDINGS};

const S: u64 = 1_000_000;
/// The test terminal: wide enough for the status bar, too short for the 60×12 recording, so
/// panning shows.
const COLS: u16 = 80;
const ROWS: u16 = 10;

/// The rows of the first Markdown table under a `| key | does |` header in docs/player.md.
fn documented() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/player.md");
    let text = std::fs::read_to_string(path).expect("docs/player.md");
    let mut lines = text.lines().skip_while(|l| l.trim() != "| key | does |");
    assert!(
        lines.next().is_some(),
        "no `| key | does |` table in {path}"
    );
    let rule = lines.next().unwrap_or_default();
    assert!(rule.starts_with("|---"), "{rule:?}");
    lines
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l
                .trim()
                .trim_start_matches('|')
                .trim_end_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            assert_eq!(cells.len(), 2, "{l:?}");
            (cells[0].to_string(), cells[1].to_string())
        })
        .collect()
}

#[test]
fn docs_player_md_shows_the_key_bindings_table() {
    let table: Vec<(String, String)> = KEY_BINDINGS
        .iter()
        .map(|b| (b.keys.to_string(), b.action.to_string()))
        .collect();
    assert_eq!(
        documented(),
        table,
        "docs/player.md's key table must be player/src/keys.rs's KEY_BINDINGS"
    );
}

fn incident() -> Vec<Event> {
    let ev = |time, data| Event { time, data };
    vec![
        Event::output(0, "alice@db-1:~$ "),
        ev(2 * S, EventData::Input(b"kubectl get pods\r".to_vec())),
        Event::output(2 * S + 1000, "kubectl get pods\r\napi-7f9   1/1\r\n"),
        ev(
            14 * S,
            EventData::Marker("input withheld: 9 keystrokes over 1.200 s".into()),
        ),
        Event::output(14 * S + 1000, "\r\nroot@db-1:~# "),
        // A full screen of text that differs in every row and column, so panning shows.
        Event::output(15 * S, wall()),
        ev(
            30 * S,
            EventData::Input(b"kubectl delete pod api-7f9\r".to_vec()),
        ),
        Event::output(
            30 * S + 1000,
            "kubectl delete pod api-7f9\r\npod \"api-7f9\" deleted\r\n",
        ),
        ev(
            40 * S,
            EventData::Marker("grant INC-4711 expires in 5 minutes".into()),
        ),
        Event::output(45 * S, "a wide line of output ".repeat(3)),
        Event::output(
            50 * S,
            "\r\n1\r\n2\r\n3\r\n4\r\n5\r\n6\r\n7\r\n8\r\n9\r\n10",
        ),
        ev(57 * S, EventData::Exit(0)),
    ]
}

/// 12 rows of 59 characters: a row letter, then digits shifted by the row.
fn wall() -> String {
    let rows: Vec<String> = (0..12u8)
        .map(|r| {
            let digits: String = (0..58).map(|c| char::from(b'0' + (c + r) % 10)).collect();
            format!("{}{digits}", char::from(b'A' + r))
        })
        .collect();
    rows.join("\r\n")
}

/// An app paused at 19 s (between markers, frames and tenths), after a finished search, panned
/// a little, with no notice showing: every bound key has something to change from here.
fn ready() -> App {
    let mut app = common::app(incident());
    for c in "/kubectl".chars() {
        app.key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    app.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    while app.searching() {
        app.tick(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1));
    }
    app.key(KeyEvent::new(KeyCode::Right, KeyModifiers::ALT));
    app.key(KeyEvent::new(KeyCode::Down, KeyModifiers::ALT));
    app.seek(19 * S);
    draw(&mut app);
    unbound(&mut app); // clears the search's notice
    app
}

fn unbound(app: &mut App) {
    app.key(KeyEvent::new(KeyCode::F(12), KeyModifiers::NONE));
}

fn draw(app: &mut App) -> String {
    let mut t = Terminal::new(TestBackend::new(COLS, ROWS)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    t.backend().to_string()
}

/// What an input can change: the screen drawn, the position, whether the app quits.
fn observe(app: &mut App) -> (String, u64, bool) {
    (draw(app), app.position(), app.should_quit())
}

fn press(app: &mut App, input: Input) {
    match input {
        Input::Key(code, modifiers) => app.key(KeyEvent::new(code, modifiers)),
        Input::Click => app.mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 0,
            row: ROWS - 3, // the timeline, above the status bar and the bottom line
            modifiers: KeyModifiers::NONE,
        }),
    }
}

#[test]
fn an_unbound_key_changes_nothing() {
    let mut a = ready();
    let before = observe(&mut a);
    unbound(&mut a);
    a.key(KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE));
    assert_eq!(
        observe(&mut a),
        before,
        "the check below would prove nothing"
    );
}

#[test]
fn the_app_handles_every_input_in_the_table() {
    for binding in KEY_BINDINGS {
        for &input in binding.inputs {
            let mut a = ready();
            if input == Input::Key(KeyCode::Esc, KeyModifiers::NONE) {
                // Esc closes the help: open it first.
                a.key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
            }
            let before = observe(&mut a);
            press(&mut a, input);
            assert_ne!(
                observe(&mut a),
                before,
                "{input:?} (row {:?}: {}) changed nothing",
                binding.keys,
                binding.action
            );
        }
    }
}
