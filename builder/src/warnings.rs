//! Warnings about an initramfs that is accepted but has entries the kernel
//! would skip or not create, kept (bounded) for the user to see.

/// Messages kept; later ones are only counted.
pub const MAX_KEPT: usize = 100;

/// Collected warnings: the first [`MAX_KEPT`] messages, and how many more
/// there were. Memory stays bounded on hostile archives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings {
    kept: Vec<String>,
    more: u64,
}

impl Warnings {
    /// Adds one message.
    pub fn push(&mut self, message: String) {
        if self.kept.len() < MAX_KEPT {
            self.kept.push(message);
        } else {
            self.more += 1;
        }
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The messages to show, one per line, ending with "… and N more
    /// warnings" when some were only counted.
    pub fn lines(&self) -> Vec<String> {
        let mut out = self.kept.clone();
        if self.more > 0 {
            out.push(format!("… and {} more warnings", self.more));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded() {
        let mut w = Warnings::default();
        assert!(w.is_empty());
        for i in 0..MAX_KEPT + 5 {
            w.push(format!("w{i}"));
        }
        let lines = w.lines();
        assert_eq!(lines.len(), MAX_KEPT + 1);
        assert_eq!(lines[0], "w0");
        assert_eq!(lines[MAX_KEPT], "… and 5 more warnings");
    }
}
