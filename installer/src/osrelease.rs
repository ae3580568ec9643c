//! os-release(5) parsing, and the kernel-support guess made from it when no
//! kernel config can be found.

use std::collections::HashMap;

/// Parsed os-release: `KEY=value` lines, values unquoted (single or double
/// quotes, backslash escapes inside double quotes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    values: HashMap<String, String>,
}

impl OsRelease {
    /// Parses os-release text; malformed lines are skipped (as systemd does).
    pub fn parse(text: &str) -> OsRelease {
        let mut values = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim();
            let v = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')))
            {
                let inner = &v[1..v.len() - 1];
                if v.starts_with('"') {
                    let mut out = String::new();
                    let mut chars = inner.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' {
                            if let Some(n) = chars.next() {
                                out.push(n);
                            }
                        } else {
                            out.push(c);
                        }
                    }
                    out
                } else {
                    inner.to_string()
                }
            } else {
                v.to_string()
            };
            values.insert(k.trim().to_string(), v);
        }
        OsRelease { values }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `ID` plus the words of `ID_LIKE`.
    pub fn ids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.get("ID").into_iter().collect();
        v.extend(self.get("ID_LIKE").unwrap_or("").split_whitespace());
        v
    }

    /// The major number of `VERSION_ID` (`9.4` → 9, `"40"` → 40).
    pub fn major_version(&self) -> Option<u32> {
        self.get("VERSION_ID")?
            .split('.')
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether this is RHEL or a rebuild/derivative of it (CentOS, Alma,
    /// Rocky, Oracle…), but not Fedora itself.
    pub fn is_rhel_like(&self) -> bool {
        let ids = self.ids();
        ids.iter()
            .any(|i| matches!(*i, "rhel" | "centos" | "almalinux" | "rocky" | "ol"))
    }

    /// `PRETTY_NAME`, else `NAME`, else "Linux" (as kernel-install titles entries).
    pub fn pretty_name(&self) -> &str {
        self.get("PRETTY_NAME")
            .or_else(|| self.get("NAME"))
            .unwrap_or("Linux")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoting_and_versions() {
        let o = OsRelease::parse(
            "NAME=\"CentOS Stream\"\nVERSION=\"9\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\n\
             VERSION_ID=\"9\"\nPRETTY_NAME='CentOS Stream 9'\n# comment\ngarbage\nX=\"a\\\"b\"\n",
        );
        assert_eq!(o.get("NAME"), Some("CentOS Stream"));
        assert_eq!(o.pretty_name(), "CentOS Stream 9");
        assert_eq!(o.major_version(), Some(9));
        assert!(o.is_rhel_like());
        assert_eq!(o.get("X"), Some("a\"b"));
        let r = OsRelease::parse("ID=rhel\nVERSION_ID=9.4\n");
        assert_eq!(r.major_version(), Some(9));
        let f = OsRelease::parse("ID=fedora\nVERSION_ID=40\n");
        assert_eq!(f.major_version(), Some(40));
        assert!(!f.is_rhel_like());
    }
}
