//! Where the boot time goes, read from one boot's serial console: kernel
//! timestamps of the initramfs unpack (`Trying to unpack rootfs image as
//! initramfs...` on 6.x, `Unpacking initramfs...` on older kernels, until
//! `Freeing initrd memory: NK`), the systemd starts (in the initrd and in
//! the real root), the boot program's `initoverlayfs:` lines, the marker,
//! and the guest's own `systemd-analyze time` line.
//!
//! Built on [`crate::serial`] (kmsg line syntax and the boot milestones);
//! this module adds the unpack lines and splits a boot into consecutive
//! phases that add up to `t_root`.

use serde::{Deserialize, Serialize};

use crate::serial::{self, Timeline};

/// Start of the kernel's initramfs unpack (Linux 5.x/6.x wording first).
pub const UNPACK_START: &[&str] = &[
    "Trying to unpack rootfs image as initramfs",
    "Unpacking initramfs",
];
/// End of the unpack: the kernel frees the loaded initrd.
pub const UNPACK_END: &str = "Freeing initrd memory";

/// The milestones of one boot, as kernel timestamps (seconds since the
/// kernel started). `None` = the console did not show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Milestones {
    /// The kernel began unpacking the initramfs.
    pub unpack_start: Option<f64>,
    /// The kernel freed the initrd (unpack done).
    pub unpack_end: Option<f64>,
    /// Size the kernel freed, KiB (≈ the initrd as loaded).
    pub initrd_kib: Option<u64>,
    /// `t_initrd`: the first systemd start inside an initrd.
    pub t_initrd: Option<f64>,
    /// Every systemd start inside an initrd (two in systemd mode: the mini
    /// initramfs's and the image's).
    pub initrd_systemd: Vec<f64>,
    /// `t_root`: systemd starts in the real root.
    pub t_root: Option<f64>,
    /// `t_ok`: the marker's line after `multi-user.target`.
    pub t_ok: Option<f64>,
    /// The boot program's lines with a kernel timestamp.
    pub program: Vec<(f64, String)>,
    /// The guest's `systemd-analyze time` split, if printed.
    pub analyze: Option<Analyze>,
}

/// `Startup finished in 2.1s (kernel) + 14.2s (initrd) + 20.3s (userspace) = 36.6s`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Analyze {
    /// Kernel phase, seconds.
    pub kernel: Option<f64>,
    /// Initrd phase (systemd's view: until the switch into the real root).
    pub initrd: Option<f64>,
    /// Real-root userspace until the default target.
    pub userspace: Option<f64>,
    /// The total.
    pub total: Option<f64>,
}

/// Parses a systemd time span such as `1min 2.345s`, `345ms`, `12.5s` or
/// `1h 2min 3s`, in seconds.
pub fn parse_span(s: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for w in s.split_whitespace() {
        let split = w.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, unit) = w.split_at(split);
        let v: f64 = num.parse().ok()?;
        total += match unit {
            "us" | "µs" => v / 1e6,
            "ms" => v / 1e3,
            "s" => v,
            "min" => v * 60.0,
            "h" => v * 3600.0,
            _ => return None,
        };
        any = true;
    }
    any.then_some(total)
}

/// Parses systemd-analyze's `Startup finished in …` line (anywhere in it).
pub fn parse_analyze(line: &str) -> Option<Analyze> {
    let rest = line.split_once("Startup finished in ")?.1;
    let (parts, total) = match rest.split_once(" = ") {
        Some((p, t)) => (p, parse_span(t.trim().trim_end_matches('.'))),
        None => (rest, None),
    };
    let mut a = Analyze {
        total,
        ..Analyze::default()
    };
    for part in parts.split(" + ") {
        let (span, what) = part.trim().rsplit_once(" (")?;
        let v = parse_span(span);
        match what.trim_end_matches(')') {
            "kernel" => a.kernel = v,
            "initrd" => a.initrd = v,
            "userspace" => a.userspace = v,
            _ => {}
        }
    }
    Some(a)
}

/// Extracts the [`Milestones`] of one boot from its console lines.
pub fn milestones(lines: &[String]) -> Milestones {
    let tl: Timeline = serial::timeline(lines);
    let mut m = Milestones {
        t_initrd: tl.first_initrd_systemd(),
        initrd_systemd: tl
            .systemd_starts
            .iter()
            .filter(|(_, initrd)| *initrd)
            .map(|(t, _)| *t)
            .collect(),
        t_root: tl.real_root_switch(),
        t_ok: tl.boot_ok,
        program: tl
            .initoverlayfs
            .iter()
            .filter_map(|(t, l)| t.map(|t| (t, l.clone())))
            .collect(),
        ..Milestones::default()
    };
    for line in lines {
        if m.analyze.is_none() {
            m.analyze = parse_analyze(line);
        }
        let Some(k) = serial::parse_kmsg(line) else {
            continue;
        };
        if m.unpack_start.is_none() && UNPACK_START.iter().any(|p| k.text.contains(p)) {
            m.unpack_start = Some(k.t);
        }
        if m.unpack_end.is_none() {
            if let Some(rest) = k.text.split_once(UNPACK_END).map(|x| x.1) {
                m.unpack_end = Some(k.t);
                m.initrd_kib = rest
                    .trim_start_matches(':')
                    .trim()
                    .trim_end_matches('K')
                    .parse()
                    .ok();
            }
        }
    }
    m
}

/// Names of the consecutive phases [`phases`] returns, in order.
pub const PHASES: &[&str] = &[
    "kernel before unpack",
    "initramfs unpack",
    "unpack end → first init",
    "mini init (mini systemd, initoverlayfs steps)",
    "→ full initrd systemd start",
    "full initrd systemd → real root",
];

/// Splits `0 → t_root` into the consecutive [`PHASES`] (seconds each; they
/// add up to `t_root`). A milestone the console did not show makes its
/// phase zero and the time lands in the next one. `None` without `t_root`.
///
/// The milestones: unpack start and end; the first userspace activity (the
/// first initrd systemd or program line); the end of the mini init (the
/// last program line, or the start of the last initrd systemd when a second
/// one follows and no program line carries a timestamp); the start
/// of the last initrd systemd (the full initramfs's); `t_root`.
pub fn phases(m: &Milestones) -> Option<Vec<f64>> {
    let t_root = m.t_root?;
    let first_prog = m.program.first().map(|p| p.0);
    let last_prog = m.program.last().map(|p| p.0);
    let last_sd = m.initrd_systemd.last().copied();
    let first_user = [m.t_initrd, first_prog]
        .into_iter()
        .flatten()
        .min_by(f64::total_cmp);
    // The full initrd systemd: the last initrd systemd if it starts after
    // the program ran (or there is more than one), else the only one.
    let full_sd = last_sd;
    let mini_end = match (last_prog, m.initrd_systemd.len()) {
        (Some(p), _) => Some(p),
        (None, n) if n >= 2 => full_sd,
        _ => first_user,
    };
    let marks = [
        m.unpack_start,
        m.unpack_end,
        first_user,
        mini_end,
        full_sd.or(mini_end),
        Some(t_root),
    ];
    let mut out = Vec::with_capacity(marks.len());
    let mut prev = 0.0_f64;
    for mk in marks {
        let t = mk.unwrap_or(prev).max(prev).min(t_root);
        out.push(t - prev);
        prev = t;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn spans_and_analyze_line() {
        assert_eq!(parse_span("345ms"), Some(0.345));
        assert_eq!(parse_span("1min 2.5s"), Some(62.5));
        assert_eq!(parse_span("12.5s"), Some(12.5));
        assert_eq!(parse_span("x"), None);
        assert_eq!(parse_span(""), None);
        let a = parse_analyze(
            "Startup finished in 4.102s (kernel) + 17.633s (initrd) + 26.798s (userspace) = 48.534s ",
        )
        .unwrap();
        assert_eq!(a.kernel, Some(4.102));
        assert_eq!(a.initrd, Some(17.633));
        assert_eq!(a.userspace, Some(26.798));
        assert_eq!(a.total, Some(48.534));
        assert!(parse_analyze("graphical.target reached").is_none());
    }

    #[test]
    fn dracut_boot_fixture() {
        // Recorded: variant (a), no payload, TCG on a loaded host.
        let m = milestones(&lines(include_str!("fixtures/dracut-0mib.log")));
        assert_eq!(m.unpack_start, Some(1.752587));
        assert_eq!(m.unpack_end, Some(9.835005));
        assert_eq!(m.initrd_kib, Some(39324));
        assert_eq!(m.t_initrd, Some(14.44194));
        assert_eq!(m.initrd_systemd, vec![14.44194]);
        assert_eq!(m.t_root, Some(49.122214));
        assert_eq!(m.t_ok, Some(184.475964));
        assert!(m.program.is_empty());
        let a = m.analyze.unwrap();
        assert_eq!((a.kernel, a.initrd), (Some(13.708), Some(35.209)));
        assert_eq!(a.userspace, Some(131.65));
        let p = phases(&m).unwrap();
        assert_eq!(p.len(), PHASES.len());
        let sum: f64 = p.iter().sum();
        assert!((sum - 49.122214).abs() < 1e-9, "{p:?}");
        assert!((p[1] - (9.835005 - 1.752587)).abs() < 1e-9);
        // Plain dracut: no mini init, the only initrd systemd runs to the root.
        assert_eq!(p[3], 0.0);
        assert_eq!(p[4], 0.0);
        assert!((p[5] - (49.122214 - 14.44194)).abs() < 1e-9);
    }

    #[test]
    fn pid1_boot_fixture() {
        // Recorded: variant (c), no payload: our pid 1 logs to kmsg, then
        // the image's systemd runs in the initrd.
        let m = milestones(&lines(include_str!("fixtures/pid1-0mib.log")));
        assert_eq!(m.unpack_start, Some(2.09902));
        assert_eq!(m.unpack_end, Some(4.125748));
        assert_eq!(m.initrd_kib, Some(8040));
        assert_eq!(m.program.len(), 14, "{:#?}", m.program);
        assert_eq!(m.program[0].0, 7.175043);
        assert!(m.program[0]
            .1
            .starts_with("initoverlayfs: starting (pid1 mode"));
        assert_eq!(
            m.program[13],
            (13.61952, "initoverlayfs: exec /sbin/init".into())
        );
        assert_eq!(m.initrd_systemd, vec![15.953913]);
        assert_eq!(m.t_initrd, Some(15.953913));
        assert_eq!(m.t_root, Some(64.582586));
        assert_eq!(m.analyze.unwrap().initrd, Some(48.923));
        let p = phases(&m).unwrap();
        let want = [
            2.09902,
            4.125748 - 2.09902,
            7.175043 - 4.125748,
            13.61952 - 7.175043,
            15.953913 - 13.61952,
            64.582586 - 15.953913,
        ];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn systemd_mode_fixture_that_hangs_in_the_image() {
        // Recorded: variant (b), no payload; the mini systemd runs our
        // service (its lines reach kmsg as `initoverlayfs[PID]: …`), the
        // image's systemd starts and then waits for the root device forever.
        let m = milestones(&lines(include_str!("fixtures/systemd-0mib-hang.log")));
        assert_eq!(m.initrd_kib, Some(14076));
        assert_eq!(m.initrd_systemd, vec![6.7078, 20.159041]);
        assert_eq!(m.program.len(), 11, "{:#?}", m.program);
        assert_eq!(
            m.program[0],
            (
                13.570806,
                "initoverlayfs: starting (systemd mode, version 0.1.0)".into()
            )
        );
        assert_eq!(m.program[10].0, 16.526038);
        assert_eq!(m.t_root, None);
        assert_eq!(m.t_ok, None);
        assert_eq!(phases(&m), None);
        // Had it reached the real root at 30 s: the mini init runs from the
        // mini systemd's start to our last line, then the image's systemd.
        let done = Milestones {
            t_root: Some(30.0),
            ..m
        };
        let p = phases(&done).unwrap();
        let want = [
            1.760953,
            3.454817 - 1.760953,
            6.7078 - 3.454817,
            16.526038 - 6.7078,
            20.159041 - 16.526038,
            30.0 - 20.159041,
        ];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn synthetic_systemd_and_pid1_modes() {
        // systemd mode: two initrd systemd starts, no timestamped program lines.
        let sd = lines(
            "[    1.0] Trying to unpack rootfs image as initramfs...\n\
             [    1.5] Freeing initrd memory: 9000K\n\
             [    3.0] systemd[1]: systemd 252 running in system mode (+PAM)\n\
             [    3.0] systemd[1]: Running in initrd.\n\
             [    8.0] systemd[1]: systemd 252 running in system mode (+PAM)\n\
             [    8.0] systemd[1]: Running in initrd.\n\
             [   15.0] systemd[1]: systemd 252 running in system mode (+PAM)\n",
        );
        let m = milestones(&sd);
        assert_eq!(m.initrd_kib, Some(9000));
        assert_eq!(m.initrd_systemd, vec![3.0, 8.0]);
        assert_eq!(m.t_root, Some(15.0));
        assert_eq!(
            phases(&m).unwrap(),
            vec![1.0, 0.5, 1.5, 5.0, 0.0, 7.0],
            "mini init = mini systemd start → image systemd start"
        );
        // pid1 mode: program lines in kmsg, then the image's systemd.
        let p1 = lines(
            "[    1.0] Unpacking initramfs...\n\
             [    1.2] Freeing initrd memory: 800K\n\
             [    2.0] initoverlayfs: read config\n\
             [    2.6] initoverlayfs: mounted overlay\n\
             [    3.0] systemd[1]: systemd 252 running in system mode (+PAM)\n\
             [    3.0] systemd[1]: Running in initrd.\n\
             [   10.0] systemd[1]: systemd 252 running in system mode (+PAM)\n",
        );
        let m = milestones(&p1);
        assert_eq!(m.program.len(), 2);
        let p = phases(&m).unwrap();
        let want = [1.0, 0.2, 0.8, 0.6, 0.4, 7.0];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{p:?}");
        }
        assert_eq!(phases(&Milestones::default()), None);
    }
}
