//! The one look of every progress bar (demo, retention): the label on a line of its own,
//! never cut, and below it a bar that fills the terminal's width without wrapping, with
//! counts and the rate grouped the German way ("12.345/50.000 · 5.183/s").

use indicatif::{ProgressState, ProgressStyle};

/// The style for a bar whose message is its label.
pub fn style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}\n  [{wide_bar}] {count} · {rate} · {eta} left")
        .expect("valid progress template")
        .progress_chars("=> ")
        .with_key(
            "count",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = match state.len() {
                    Some(len) => write!(w, "{}/{}", grouped(state.pos()), grouped(len)),
                    None => write!(w, "{}", grouped(state.pos())),
                };
            },
        )
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}", rate(state.per_sec()));
            },
        )
}

/// A count with dots between thousands: 5183 → "5.183".
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// Rows per second as a person reads them: whole rows from 10 on ("5.183/s"), one decimal
/// below ("2,5/s"), nothing odd for a rate not yet known.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return "–/s".into();
    }
    if per_sec < 10.0 {
        return format!("{:.1}/s", per_sec).replace('.', ",");
    }
    format!("{}/s", grouped(per_sec.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use indicatif::{ProgressBar, ProgressDrawTarget, TermLike};
    use std::sync::{Arc, Mutex};

    #[test]
    fn counts_and_rates_are_grouped_the_german_way() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(5183), "5.183");
        assert_eq!(grouped(1_234_567), "1.234.567");
        assert_eq!(rate(5182.9838), "5.183/s");
        assert_eq!(rate(183.4), "183/s");
        assert_eq!(rate(2.46), "2,5/s");
        assert_eq!(rate(0.0), "–/s");
        assert_eq!(rate(f64::INFINITY), "–/s");
    }

    /// A terminal of a fixed width that keeps what is written to it.
    #[derive(Clone, Debug, Default)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_bar_fits_80_columns_and_keeps_its_whole_label() {
        let screen = Screen::default();
        let bar = ProgressBar::with_draw_target(
            Some(1_250_000),
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(style());
        let label = "recklinghausen: access_log delete after 30 days (Art. 5(1)(e))";
        bar.set_message(label);
        bar.set_position(654_321);
        bar.abandon();
        let written = screen.0.lock().unwrap().join("\n");
        let lines: Vec<&str> = written.lines().filter(|l| !l.is_empty()).collect();
        assert!(lines.contains(&label), "{written}");
        assert!(
            lines.iter().any(|l| l.contains("654.321/1.250.000")),
            "{written}"
        );
        // The bar takes the width the label and counts leave, and no more.
        let bar_line = lines.iter().find(|l| l.contains('[')).expect("a bar line");
        assert!(console_width(bar_line) >= 70, "{bar_line:?}");
        for line in &lines {
            assert!(
                console_width(line) <= 80,
                "{} columns: {line:?}",
                console_width(line)
            );
        }
    }

    fn console_width(s: &str) -> usize {
        s.chars().count()
    }
}
