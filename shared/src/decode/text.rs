//! Rule 6: plain UTF-8 text is one event per non-empty line.

/// The non-blank lines of `text`, without their line endings.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|line| line.trim_end_matches('\r')).filter(|line| !line.trim().is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn blank_lines_are_skipped_and_crlf_trimmed() {
        let got: Vec<&str> = super::lines("a b\r\n\n  \nc\n").collect();
        assert_eq!(got, vec!["a b", "c"]);
    }
}
