//! The player's key bindings, written once. The help overlay (`?`) draws this table,
//! docs/player.md repeats it as Markdown, and `sessrec play --help` can print it
//! ([`help_text`]); player/tests/keys.rs checks that the Markdown table is this one and that
//! the app handles every input listed here.

use ratatui::crossterm::event::{KeyCode, KeyModifiers};

/// One row of the table: what the reviewer presses, and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBinding {
    /// The keys as the help shows them (at most [`KEYS_WIDTH`] characters).
    pub keys: &'static str,
    /// What they do (at most [`ACTION_WIDTH`] characters, so the help needs no wrapping).
    pub action: &'static str,
    /// Every input the row stands for, so a test can press each one.
    pub inputs: &'static [Input],
}

/// An input the app reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A key with modifiers.
    Key(KeyCode, KeyModifiers),
    /// A left click on the timeline.
    Click,
}

/// The widest keys text: the help's first column.
pub const KEYS_WIDTH: usize = 12;
/// The widest action text, so a row fits the 72-column help box.
pub const ACTION_WIDTH: usize = 56;

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const ALT: KeyModifiers = KeyModifiers::ALT;

const fn key(c: char) -> Input {
    Input::Key(KeyCode::Char(c), NONE)
}

/// The key bindings of `sessrec play`, in the order the help lists them.
pub const KEY_BINDINGS: &[KeyBinding] = &[
    KeyBinding {
        keys: "space",
        action: "play / pause",
        inputs: &[key(' ')],
    },
    KeyBinding {
        keys: "← →",
        action: "back / forward 5 s",
        inputs: &[
            Input::Key(KeyCode::Left, NONE),
            Input::Key(KeyCode::Right, NONE),
        ],
    },
    KeyBinding {
        keys: "Shift+← →",
        action: "back / forward 10 % of the recording",
        inputs: &[
            Input::Key(KeyCode::Left, SHIFT),
            Input::Key(KeyCode::Right, SHIFT),
        ],
    },
    KeyBinding {
        keys: "0 … 9",
        action: "jump to 0 % … 90 %",
        inputs: &[
            key('0'),
            key('1'),
            key('2'),
            key('3'),
            key('4'),
            key('5'),
            key('6'),
            key('7'),
            key('8'),
            key('9'),
        ],
    },
    KeyBinding {
        keys: ", .",
        action: "one frame back / forward (pauses)",
        inputs: &[key(','), key('.')],
    },
    KeyBinding {
        keys: "[ ]",
        action: "previous / next marker",
        inputs: &[key('['), key(']')],
    },
    KeyBinding {
        keys: "< >",
        action: "slower / faster (0.25x … 16x)",
        inputs: &[key('<'), key('>')],
    },
    KeyBinding {
        keys: "i",
        action: "idle-time limit (2 s) on / off",
        inputs: &[key('i')],
    },
    KeyBinding {
        keys: "/ n N",
        action: "search screen and keystrokes; next / previous match",
        inputs: &[key('/'), key('n'), key('N')],
    },
    KeyBinding {
        keys: "g",
        action: "go to 90s, 1:23:45, @10:15 (UTC) or 2026-11-26T10:15:00Z",
        inputs: &[key('g')],
    },
    KeyBinding {
        keys: "k",
        action: "keystroke pane",
        inputs: &[key('k')],
    },
    KeyBinding {
        keys: "Alt+arrows",
        action: "pan a recording larger than this terminal",
        inputs: &[
            Input::Key(KeyCode::Left, ALT),
            Input::Key(KeyCode::Right, ALT),
            Input::Key(KeyCode::Up, ALT),
            Input::Key(KeyCode::Down, ALT),
        ],
    },
    KeyBinding {
        keys: "click",
        action: "on the timeline: go there",
        inputs: &[Input::Click],
    },
    KeyBinding {
        keys: "? Esc",
        action: "help on / off; Esc closes it",
        inputs: &[key('?'), Input::Key(KeyCode::Esc, NONE)],
    },
    KeyBinding {
        keys: "q",
        action: "quit",
        inputs: &[key('q')],
    },
];

/// The table as plain text, one binding a line (for `--help`).
pub fn help_text() -> String {
    let mut text = String::from("Keys:\n");
    for b in KEY_BINDINGS {
        text.push_str(&format!("  {:<w$} {}\n", b.keys, b.action, w = KEYS_WIDTH));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_fits_the_help_box_and_lists_its_inputs() {
        for b in KEY_BINDINGS {
            assert!(b.keys.chars().count() <= KEYS_WIDTH, "{:?}", b.keys);
            assert!(b.action.chars().count() <= ACTION_WIDTH, "{:?}", b.action);
            assert!(!b.inputs.is_empty(), "{:?} lists no input", b.keys);
        }
    }

    #[test]
    fn the_help_text_has_a_line_per_row() {
        let text = help_text();
        assert_eq!(text.lines().count(), KEY_BINDINGS.len() + 1);
        for b in KEY_BINDINGS {
            assert!(
                text.lines()
                    .any(|l| l.contains(b.keys) && l.ends_with(b.action)),
                "{text}"
            );
        }
    }

    #[test]
    fn no_input_is_listed_twice() {
        let all: Vec<Input> = KEY_BINDINGS
            .iter()
            .flat_map(|b| b.inputs)
            .copied()
            .collect();
        for (i, a) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(a), "{a:?} is in two rows");
        }
    }
}
