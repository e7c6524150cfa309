//! Text for the terminal. Messages quote what rless does not control: file
//! names from image layers, registry replies, container names. Printed raw,
//! an escape sequence in one could clear the screen or fake output, and a
//! bidirectional override could make a name read as another. [`printable`]
//! turns any text into one line that shows those characters escaped.

/// `msg` as one line safe for a terminal: newlines become spaces; other
/// control characters and the bidirectional controls are shown escaped
/// (`\u{1b}`, `\u{202e}`).
pub fn printable(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for c in msg.chars() {
        match c {
            '\n' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// The Unicode bidirectional formatting characters (embeddings, overrides,
/// isolates and marks), which reorder how the text around them is shown.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_cannot_drive_the_terminal() {
        assert_eq!(
            super::printable("bad\nname \u{1b}[2J\rFAKE\u{9b}ü"),
            "bad name \\u{1b}[2J\\rFAKE\\u{9b}ü"
        );
        assert_eq!(
            super::printable("file\u{202e}txt.exe \u{2066}x\u{2069}"),
            "file\\u{202e}txt.exe \\u{2066}x\\u{2069}"
        );
    }
}
