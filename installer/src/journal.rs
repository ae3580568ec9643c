//! One structured journal entry through journald's native protocol
//! (systemd docs/JOURNAL_NATIVE_PROTOCOL.md): a datagram to
//! `/run/systemd/journal/socket` holding `FIELD=value\n` lines, or for a
//! value with a newline `FIELD\n`, its length as a little-endian u64, the
//! bytes and `\n`. That is what `sd_journal_send()` does, and the only way
//! (short of linking libsystemd) to give an entry a `MESSAGE_ID` that
//! `journalctl MESSAGE_ID=…` and monitoring can match: stdout of a service
//! and `/dev/kmsg` become entries with only `MESSAGE` and the fields
//! journald adds itself.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// journald's native socket.
pub const SOCKET: &str = "/run/systemd/journal/socket";
/// Environment variable for tests: the socket to send to instead of
/// [`SOCKET`]. Never set it on a real system.
pub const SOCKET_ENV: &str = "INITOVERLAYFS_INSTALL_JOURNAL_SOCKET";

/// The socket to use: [`SOCKET_ENV`] or [`SOCKET`].
pub fn socket() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .filter(|s| !s.is_empty())
        .map_or_else(|| PathBuf::from(SOCKET), PathBuf::from)
}

fn valid_field(name: &str) -> bool {
    // journald: uppercase letters, digits, `_`; not starting with `_`
    // (those are trusted fields only journald sets) or a digit.
    !name.is_empty()
        && !name.starts_with('_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The datagram for `fields` (see the module docs).
///
/// Errors: a field name journald would drop (lowercase, leading `_`).
pub fn encode(fields: &[(&str, &str)]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (k, v) in fields {
        if !valid_field(k) {
            bail!("{k:?} is not a journal field name (A-Z, 0-9, _; no leading _ or digit)");
        }
        out.extend_from_slice(k.as_bytes());
        if v.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
            out.extend_from_slice(v.as_bytes());
        } else {
            out.push(b'=');
            out.extend_from_slice(v.as_bytes());
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// Sends one entry with `fields` to the journal socket `socket`.
///
/// Errors: the fields are invalid, or the socket cannot be reached (no
/// journald: the caller prints the message instead).
pub fn send(socket: &Path, fields: &[(&str, &str)]) -> Result<()> {
    let data = encode(fields)?;
    let s = UnixDatagram::unbound().context("cannot create a datagram socket")?;
    s.send_to(&data, socket)
        .with_context(|| format!("cannot send to the journal at {}", socket.display()))?;
    Ok(())
}

/// Parses a datagram back into fields (tests, and to show what was sent).
///
/// Errors: truncated binary fields or lines without `=`.
pub fn decode(mut data: &[u8]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let nl = data
            .iter()
            .position(|&b| b == b'\n')
            .context("unterminated field")?;
        let line = &data[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            ));
            data = &data[nl + 1..];
        } else {
            let name = String::from_utf8_lossy(line).into_owned();
            let rest = &data[nl + 1..];
            if rest.len() < 8 {
                bail!("field {name}: truncated length");
            }
            let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
            let body = rest.get(8..8 + len).context("truncated binary field")?;
            out.push((name, String::from_utf8_lossy(body).into_owned()));
            data = rest.get(8 + len + 1..).unwrap_or_default();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_plain_and_binary_fields() {
        let d = encode(&[
            ("MESSAGE_ID", "fa4ae00695d14a53af819a01fcf610e6"),
            ("MESSAGE", "a\nb"),
        ])
        .unwrap();
        let mut want = b"MESSAGE_ID=fa4ae00695d14a53af819a01fcf610e6\nMESSAGE\n".to_vec();
        want.extend_from_slice(&3u64.to_le_bytes());
        want.extend_from_slice(b"a\nb\n");
        assert_eq!(d, want);
        assert_eq!(
            decode(&d).unwrap(),
            vec![
                (
                    "MESSAGE_ID".to_string(),
                    "fa4ae00695d14a53af819a01fcf610e6".to_string()
                ),
                ("MESSAGE".to_string(), "a\nb".to_string())
            ]
        );
        for bad in ["message", "_PID", "1X", "A-B", ""] {
            assert!(encode(&[(bad, "x")]).is_err(), "{bad}");
        }
    }

    #[test]
    fn sends_one_datagram_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let server = UnixDatagram::bind(&path).unwrap();
        send(&path, &[("MESSAGE", "hello"), ("PRIORITY", "3")]).unwrap();
        let mut buf = [0u8; 256];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MESSAGE=hello\nPRIORITY=3\n");
        let err = format!(
            "{:#}",
            send(&dir.path().join("none"), &[("MESSAGE", "x")]).unwrap_err()
        );
        assert!(err.contains("cannot send to the journal"), "{err}");
    }
}
