//! The review app driven by fuzzed keys, mouse clicks and ticks over a fuzzed recording, drawn
//! on a test backend after every input: no key sequence may panic it, whatever the times in
//! the recording (up to the format's maximum).
#![no_main]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use sessrec_formats::Header;
use sessrec_player::app::{App, Meta};
use sessrec_player::{Loading, Timeline, Verdict};

const KEYS: &[KeyCode] = &[
    KeyCode::Left,
    KeyCode::Right,
    KeyCode::Up,
    KeyCode::Down,
    KeyCode::Enter,
    KeyCode::Esc,
    KeyCode::Backspace,
    KeyCode::Home,
    KeyCode::End,
    KeyCode::PageUp,
    KeyCode::PageDown,
    KeyCode::Tab,
];

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (keys, recording) = data.split_at(split);
    let events = sessrec_fuzz::events_from(recording.get(1..).unwrap_or_default());
    let timeline = Timeline::build(60, 12, events.into_iter().map(Ok::<_, ()>)).unwrap();
    let meta = Meta {
        user: Some("alice".into()),
        host: Some("db-1".into()),
        grant: Some("INC-4711".into()),
        start: Some(jiff::Timestamp::from_second(1_795_000_000).unwrap()),
        verdict: Arc::new(Mutex::new(Verdict::Signed)),
        unsigned_from: Arc::new(Mutex::new(None)),
    };
    let mut app = App::new(Loading::loaded(Header::new(60, 12), timeline), meta);
    app.local_zone = jiff::tz::TimeZone::UTC;
    let mut terminal = Terminal::new(TestBackend::new(80, 20)).unwrap();
    let mut keys = keys.iter();
    while let Some(&k) = keys.next() {
        match k {
            0x01..=0x1f => {
                let code = KEYS[usize::from(k) % KEYS.len()];
                let modifiers = match k / 12 {
                    0 => KeyModifiers::NONE,
                    1 => KeyModifiers::SHIFT,
                    _ => KeyModifiers::CONTROL,
                };
                app.key(KeyEvent::new(code, modifiers));
            }
            0x80..=0xbf => {
                let column = u16::from(keys.next().copied().unwrap_or(0));
                app.mouse(MouseEvent {
                    kind: MouseEventKind::Down(MouseButton::Left),
                    column,
                    row: u16::from(k - 0x80),
                    modifiers: KeyModifiers::NONE,
                });
            }
            0xc0..=0xff => app.tick(Duration::from_millis(u64::from(k - 0xc0) * 250)),
            _ => app.key(KeyEvent::new(
                KeyCode::Char(char::from(k)),
                KeyModifiers::NONE,
            )),
        }
        terminal.draw(|f| app.draw(f)).unwrap();
        if app.should_quit() {
            break;
        }
    }
});
