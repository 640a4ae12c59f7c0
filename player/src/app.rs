//! The review app: its state and what each key does. Drawing is in `view`; the terminal loop
//! in `tui`. Everything here is pure state, so tests drive it with key events and a ratatui
//! `TestBackend`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use sessrec_formats::Micros;

use crate::load::Loading;
use crate::search::{self, Hit};
use crate::seek::Player;
use crate::verdict::Verdict;

/// Playback speeds, slowest first.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
const NORMAL_SPEED: usize = 2;
/// With the idle-time limit on, pauses in the recording play as at most this long.
pub const IDLE_LIMIT: Micros = 2_000_000;
const STEP: Micros = 5_000_000;
const MAX_HITS: usize = 10_000;

/// What the status bar says about the session (already made safe to show).
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Who.
    pub user: Option<String>,
    /// Where.
    pub host: Option<String>,
    /// Under which grant.
    pub grant: Option<String>,
    /// When the recording started.
    pub start: Option<jiff::Timestamp>,
    /// The verify verdict, filled in when the check is done.
    pub verdict: Arc<Mutex<Verdict>>,
    /// Where the unsigned tail starts (µs on the session clock), once the check found one:
    /// events after the last checkpoint, which no signature covers.
    pub unsigned_from: Arc<Mutex<Option<u64>>>,
}

impl Meta {
    /// Where the unsigned tail starts, if the check found one.
    pub fn unsigned_from(&self) -> Option<u64> {
        self.unsigned_from.lock().ok().and_then(|u| *u)
    }
}

/// A line being typed at the bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// `/`: text to search for.
    Search(String),
    /// `g`: a time to go to.
    Goto(String),
}

/// The app's state.
pub struct App {
    pub(crate) loading: Loading,
    pub(crate) player: Player,
    pub(crate) meta: Meta,
    /// Where playback is (recording time).
    pub(crate) position: Micros,
    pub(crate) playing: bool,
    pub(crate) speed: usize,
    pub(crate) idle_limit: bool,
    pub(crate) pattern: Option<String>,
    /// A search running on its thread: its hits once found.
    searching: Option<Arc<Mutex<Option<Vec<Hit>>>>>,
    pub(crate) hits: Vec<Hit>,
    pub(crate) prompt: Option<Prompt>,
    pub(crate) help: bool,
    pub(crate) keys_pane: bool,
    pub(crate) pan: (usize, usize),
    pub(crate) notice: Option<String>,
    /// Where the timeline was drawn last (for mouse clicks).
    pub(crate) timeline_area: Rect,
    pub(crate) quit: bool,
    /// A position asked for before that much was loaded.
    pending: Option<Micros>,
    /// Following a recording that is still being written: playback stays at its live end.
    pub follow: bool,
    /// At the live end (following): every tick goes to the newest event.
    live: bool,
    /// The zone the status bar shows local time in (the system's).
    pub local_zone: jiff::tz::TimeZone,
    /// The keystroke pane's lines, and for which (timeline generation, position, lines).
    pub(crate) keys_shown: Mutex<KeysShown>,
}

/// What the keystroke pane shows, and for which (generation, position, lines) it was read.
pub(crate) type KeysShown = (Option<(u64, Micros, usize)>, Vec<(Micros, Vec<u8>)>);

impl App {
    /// A paused app at the start of the recording.
    pub fn new(loading: Loading, meta: Meta) -> App {
        let player = Player::new(&loading.timeline());
        App {
            loading,
            player,
            meta,
            position: 0,
            playing: false,
            speed: NORMAL_SPEED,
            idle_limit: true,
            pattern: None,
            searching: None,
            hits: Vec::new(),
            prompt: None,
            help: false,
            keys_pane: false,
            pan: (0, 0),
            notice: None,
            timeline_area: Rect::default(),
            quit: false,
            pending: None,
            follow: false,
            live: false,
            local_zone: jiff::tz::TimeZone::system(),
            keys_shown: Mutex::new((None, Vec::new())),
        }
    }

    /// Draws the app into a ratatui frame.
    pub fn draw(&mut self, frame: &mut ratatui::Frame) {
        crate::view::draw(self, frame);
    }

    /// Goes to `time` as soon as that much of the recording is loaded.
    pub fn start_at(&mut self, time: Micros) {
        self.pending = Some(time);
        self.seek(time);
    }

    /// Starts playing.
    pub fn play(&mut self) {
        self.playing = true;
    }

    /// Whether the user asked to quit.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// The position.
    pub fn position(&self) -> Micros {
        self.position
    }

    /// Moves to `time` (clamped to what is loaded).
    pub fn seek(&mut self, time: Micros) {
        let t = self.loading.timeline();
        self.position = time.min(t.duration);
        self.player.seek(&t, self.position);
    }

    /// Lets `elapsed` of real time pass.
    pub fn tick(&mut self, elapsed: Duration) {
        self.search_done();
        if let Some(p) = self.pending {
            let reached = self.loading.timeline().duration >= p || self.loading.is_done();
            self.seek(p);
            if reached {
                self.pending = None;
            }
            return;
        }
        if !self.playing {
            // Still show what has loaded since.
            let t = self.loading.timeline();
            self.player.seek(&t, self.position);
            return;
        }
        let (duration, next) = {
            let t = self.loading.timeline();
            (t.duration, self.player.next_frame(&t))
        };
        let mut at = self.position;
        if let Some(n) = next.filter(|&n| self.idle_limit && n > at.saturating_add(IDLE_LIMIT)) {
            at = n - IDLE_LIMIT;
        }
        let step = elapsed.as_secs_f64() * 1e6 * SPEEDS[self.speed];
        at = at.saturating_add(step as Micros);
        // Following: once playback reaches the live end it stays there.
        if self.follow && (self.live || at >= duration) {
            self.live = true;
            at = duration;
        }
        if at >= duration && self.loading.is_done() {
            at = duration;
            self.playing = false;
        }
        self.seek(at);
    }

    /// Follows a growing recording from its live end (like `tail -f`).
    pub fn follow_live(&mut self) {
        self.follow = true;
        self.live = true;
        self.playing = true;
    }

    /// Handles a key.
    pub fn key(&mut self, key: KeyEvent) {
        let before = self.position;
        self.handle_key(key);
        if self.position != before {
            // The reviewer moved: no longer pinned to the live end, nor to a pending start.
            self.live = false;
            self.pending = None;
        }
    }

    fn handle_key(&mut self, key: KeyEvent) {
        if self.prompt.is_some() {
            self.prompt_key(key);
            return;
        }
        self.notice = None;
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        let pan = key
            .modifiers
            .intersects(KeyModifiers::ALT | KeyModifiers::CONTROL);
        let duration = self.loading.timeline().duration;
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc => self.help = false,
            KeyCode::Char('?') => self.help = !self.help,
            KeyCode::Char(' ') => self.playing = !self.playing,
            KeyCode::Left if pan => self.pan.0 = self.pan.0.saturating_sub(8),
            KeyCode::Right if pan => self.pan.0 += 8,
            KeyCode::Up if pan => self.pan.1 = self.pan.1.saturating_sub(4),
            KeyCode::Down if pan => self.pan.1 += 4,
            KeyCode::Left if shift => self.seek(self.position.saturating_sub(duration / 10)),
            KeyCode::Right if shift => self.seek(self.position.saturating_add(duration / 10)),
            KeyCode::Left => self.seek(self.position.saturating_sub(STEP)),
            KeyCode::Right => self.seek(self.position.saturating_add(STEP)),
            KeyCode::Char(d @ '0'..='9') => {
                let tenth = u64::from(d as u8 - b'0');
                self.seek(duration / 10 * tenth);
            }
            KeyCode::Char('.') => self.frame(true),
            KeyCode::Char(',') => self.frame(false),
            KeyCode::Char(']') => self.marker(true),
            KeyCode::Char('[') => self.marker(false),
            KeyCode::Char('>') => self.speed = (self.speed + 1).min(SPEEDS.len() - 1),
            KeyCode::Char('<') => self.speed = self.speed.saturating_sub(1),
            KeyCode::Char('i') => self.idle_limit = !self.idle_limit,
            KeyCode::Char('k') => self.keys_pane = !self.keys_pane,
            KeyCode::Char('/') => self.prompt = Some(Prompt::Search(String::new())),
            KeyCode::Char('g') => self.prompt = Some(Prompt::Goto(String::new())),
            KeyCode::Char('n') => self.hit(true),
            KeyCode::Char('N') => self.hit(false),
            _ => {}
        }
    }

    /// Handles a mouse event: a click on the timeline seeks there.
    pub fn mouse(&mut self, ev: MouseEvent) {
        let a = self.timeline_area;
        let on_timeline =
            ev.row == a.y && ev.column >= a.x && ev.column < a.x.saturating_add(a.width);
        if matches!(ev.kind, MouseEventKind::Down(MouseButton::Left)) && on_timeline {
            let duration = self.loading.timeline().duration;
            let fraction = f64::from(ev.column - a.x) / f64::from(a.width.max(1));
            self.seek((duration as f64 * fraction) as Micros);
        }
    }

    fn prompt_key(&mut self, key: KeyEvent) {
        let Some(prompt) = self.prompt.as_mut() else {
            return;
        };
        let (Prompt::Search(text) | Prompt::Goto(text)) = prompt;
        match key.code {
            KeyCode::Esc => self.prompt = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) if !c.is_control() && text.chars().count() < 200 => text.push(c),
            KeyCode::Enter => match self.prompt.take() {
                Some(Prompt::Search(text)) => self.search(text),
                Some(Prompt::Goto(text)) => self.goto(&text),
                None => {}
            },
            _ => {}
        }
    }

    /// Searches on a thread of its own (a long recording takes seconds); [`App::tick`] picks
    /// the hits up.
    fn search(&mut self, pattern: String) {
        if pattern.is_empty() {
            return;
        }
        let found = Arc::new(Mutex::new(None));
        let (into, loading, text) = (found.clone(), self.loading.clone(), pattern.clone());
        let started = std::thread::Builder::new()
            .name("search".into())
            .spawn(move || {
                let hits = search::find_all_loaded(&loading, &text, MAX_HITS);
                if let Ok(mut f) = into.lock() {
                    *f = Some(hits);
                }
            });
        match started {
            Ok(_) => {
                self.searching = Some(found);
                self.pattern = Some(pattern);
                self.hits.clear();
                self.notice = Some("searching…".into());
            }
            Err(e) => self.notice = Some(format!("cannot search: {e}")),
        }
    }

    /// Whether a search is still running.
    pub fn searching(&self) -> bool {
        self.searching.is_some()
    }

    /// Takes the hits of a finished search and goes to the first after the position.
    fn search_done(&mut self) {
        let Some(found) = &self.searching else {
            return;
        };
        let hits = match found.lock() {
            Ok(mut f) => f.take(),
            Err(_) => Some(Vec::new()),
        };
        let Some(hits) = hits else {
            return;
        };
        self.searching = None;
        self.hits = hits;
        if self.hits.is_empty() {
            self.notice = Some("not found".into());
            return;
        }
        self.hit(true);
    }

    /// The next or previous search hit; the search wraps around.
    fn hit(&mut self, forward: bool) {
        if self.pattern.is_none() {
            self.notice = Some("no search yet: / to search".into());
            return;
        }
        if self.searching.is_some() {
            self.notice = Some("still searching…".into());
            return;
        }
        let at = self.position;
        let found = if forward {
            self.hits.iter().find(|h| h.time > at).or(self.hits.first())
        } else {
            self.hits
                .iter()
                .rev()
                .find(|h| h.time < at)
                .or(self.hits.last())
        };
        match found.copied() {
            Some(h) => {
                let n = self.hits.iter().position(|x| *x == h).unwrap_or(0) + 1;
                self.notice = Some(format!("match {n} of {}", self.hits.len()));
                self.playing = false;
                self.seek(h.time);
            }
            None => self.notice = Some("not found".into()),
        }
    }

    fn goto(&mut self, text: &str) {
        match crate::time::parse_goto(text, self.meta.start) {
            Ok(t) => {
                self.seek(t);
            }
            Err(why) => self.notice = Some(why),
        }
    }

    fn frame(&mut self, forward: bool) {
        self.playing = false;
        let t = self.loading.timeline();
        let target = if forward {
            self.player.next_frame(&t)
        } else {
            self.player.previous_frame(&t)
        };
        drop(t);
        if let Some(time) = target {
            self.seek(time);
        }
    }

    fn marker(&mut self, forward: bool) {
        let at = self.position;
        let t = self.loading.timeline();
        let found = if forward {
            t.markers.iter().find(|m| m.time > at)
        } else {
            t.markers.iter().rev().find(|m| m.time < at)
        }
        .map(|m| (m.time, m.label.clone()));
        drop(t);
        let found: Option<(Micros, String)> = found;
        match found {
            Some((time, label)) => {
                self.notice = Some(crate::time::safe(&label));
                self.seek(time);
            }
            None => self.notice = Some("no more markers".into()),
        }
    }
}
