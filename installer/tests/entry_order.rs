//! Where the fallback entry lands in the boot menu: installs for two kernels
//! (plus a rescue entry) on temp roots, then the entries directory sorted by
//!
//! - the real `bootctl list` (systemd 252; systemd-boot sorts the same way),
//! - a model of systemd's `boot_entry_compare()` (src/shared/bootspec.c,
//!   src/boot/efi/boot.c) over `strverscmp_improved()`
//!   (src/fundamental/string-util-fundamental.c),
//! - a model of grub blscfg's `bls_cmp()` (rhboot/grub2
//!   grub-core/commands/blscfg.c): file names split into name-version-release
//!   at the last two `-`, compared by `vercmp()` (Fedora 30+, RHEL 9/10), or,
//!   RHEL 8, the `version` keys first and then the file names.
//!
//! In every order the fallback must never sort above its main entry (it
//! would become the default by sorting). It sorts right after it wherever the
//! order can express that without `~` (which systemd rejects): systemd with
//! `sort-key` entries and RHEL 8's grub. systemd without `sort-key` and
//! modern grub order by file name alone, and no name without `~` sorts
//! between `ID` and the next older `ID`; there the fallbacks follow the
//! kernels.

mod common;

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{as_systemd_boot, entry_file, run, show, temp_root, FEDORA_MID};

const FEDORA_NEW: &str = "6.5.12-300.fc39.x86_64";
const FEDORA_OLD: &str = "6.5.6-300.fc39.x86_64";
const DEB_NEW: &str = "6.1.0-13-amd64";
const DEB_OLD: &str = "6.1.0-12-amd64";

/// One entry as the models see it.
#[derive(Debug, Clone)]
struct Ent {
    file: String,
    /// The id systemd-boot and bootctl give it: the file name without the
    /// boot counter, with `.conf`.
    id: String,
    /// Its boot counter's tries left, if counted.
    tries_left: Option<u32>,
    sort_key: Option<String>,
    machine_id: Option<String>,
    version: Option<String>,
}

/// systemd's reading of a boot counter: the last `+`, digits, optionally
/// `-digits`, right before `.conf` (src/boot/boot.c boot_entry_parse_tries).
fn id_and_tries(file: &str) -> (String, Option<u32>) {
    let stem = file.trim_end_matches(".conf");
    if let Some((base, c)) = stem.rsplit_once('+') {
        let left = c.split_once('-').map_or(c, |(l, _)| l);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let ok = digits(left)
            && match c.split_once('-') {
                Some((_, d)) => digits(d),
                None => true,
            };
        if ok {
            return (format!("{base}.conf"), left.parse().ok());
        }
    }
    (file.to_string(), None)
}

fn read_entries(dir: &Path) -> Vec<Ent> {
    let mut v = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let file = e.unwrap().file_name().to_string_lossy().into_owned();
        if !file.ends_with(".conf") {
            continue;
        }
        let text = fs::read_to_string(dir.join(&file)).unwrap();
        let get = |k: &str| {
            text.lines().find_map(|l| {
                let (key, val) = l.trim().split_once(char::is_whitespace)?;
                (key == k).then(|| val.trim().to_string())
            })
        };
        let (id, tries_left) = id_and_tries(&file);
        v.push(Ent {
            sort_key: get("sort-key"),
            machine_id: get("machine-id"),
            version: get("version"),
            file,
            id,
            tries_left,
        });
    }
    v
}

/// systemd's `strverscmp_improved()`.
fn sd_vercmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    let valid = |c: u8| c.is_ascii_alphanumeric() || b"~-^.".contains(&c);
    let (mut i, mut j) = (0, 0);
    loop {
        while at(a, i) != 0 && !valid(at(a, i)) {
            i += 1;
        }
        while at(b, j) != 0 && !valid(at(b, j)) {
            j += 1;
        }
        if at(a, i) == b'~' || at(b, j) == b'~' {
            let r = (at(a, i) != b'~').cmp(&(at(b, j) != b'~'));
            if r.is_ne() {
                return r;
            }
            i += 1;
            j += 1;
        }
        if at(a, i) == 0 || at(b, j) == 0 {
            return at(a, i).cmp(&at(b, j));
        }
        for sep in [b'-', b'^', b'.'] {
            if at(a, i) == sep || at(b, j) == sep {
                let r = (at(a, i) != sep).cmp(&(at(b, j) != sep));
                if r.is_ne() {
                    return r;
                }
                i += 1;
                j += 1;
            }
        }
        let span = |s: &[u8], mut k: usize, f: fn(&u8) -> bool| {
            while s.get(k).is_some_and(f) {
                k += 1;
            }
            k
        };
        let (ai, bj);
        if at(a, i).is_ascii_digit() || at(b, j).is_ascii_digit() {
            ai = span(a, i, u8::is_ascii_digit);
            bj = span(b, j, u8::is_ascii_digit);
            // numbers are newer than letters
            let r = (ai != i).cmp(&(bj != j));
            if r.is_ne() {
                return r;
            }
            while at(a, i) == b'0' {
                i += 1;
            }
            while at(b, j) == b'0' {
                j += 1;
            }
            let r = (ai - i).cmp(&(bj - j)).then(a[i..ai].cmp(&b[j..bj]));
            if r.is_ne() {
                return r;
            }
        } else {
            ai = span(a, i, u8::is_ascii_alphabetic);
            bj = span(b, j, u8::is_ascii_alphabetic);
            let n = (ai - i).min(bj - j);
            let r = a[i..i + n].cmp(&b[j..j + n]).then((ai - i).cmp(&(bj - j)));
            if r.is_ne() {
                return r;
            }
        }
        i = ai;
        j = bj;
    }
}

/// bootctl's `boot_entry_compare()` (Less = shown first), as systemd-boot's
/// (src/boot/boot.c): entries without tries left last, then sort-key,
/// machine-id and version, then the ids (file names with `.conf`, without
/// the boot counter).
fn sd_order(x: &Ent, y: &Ent) -> Ordering {
    let r = (x.tries_left == Some(0)).cmp(&(y.tries_left == Some(0)));
    if r.is_ne() {
        return r;
    }
    let r = x.sort_key.is_none().cmp(&y.sort_key.is_none());
    if r.is_ne() {
        return r;
    }
    if let (Some(a), Some(b)) = (&x.sort_key, &y.sort_key) {
        let r = a
            .cmp(b)
            .then(x.machine_id.cmp(&y.machine_id))
            .then_with(|| {
                sd_vercmp(
                    y.version.as_deref().unwrap_or(""),
                    x.version.as_deref().unwrap_or(""),
                )
            });
        if r.is_ne() {
            return r;
        }
    }
    sd_vercmp(&y.id, &x.id)
}

/// grub blscfg's `vercmp()` (rpm's, with `+` sorting like `~` but after the
/// base version when `plus`; RHEL 8's has no `+` rule). Greater = newer.
fn grub_vercmp(a: &str, b: &str, plus: bool) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let at = |s: &[u8], k: usize| s.get(k).copied().unwrap_or(0);
    let skip = |c: u8| c != 0 && !c.is_ascii_alphanumeric() && c != b'~' && !(plus && c == b'+');
    let (mut one, mut two) = (0, 0);
    while at(a, one) != 0 || at(b, two) != 0 {
        while skip(at(a, one)) {
            one += 1;
        }
        while skip(at(b, two)) {
            two += 1;
        }
        let (c1, c2) = (at(a, one), at(b, two));
        if c1 == b'~' || c2 == b'~' {
            if c1 != b'~' {
                return Ordering::Greater;
            }
            if c2 != b'~' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        if plus && (c1 == b'+' || c2 == b'+') {
            if c1 == 0 {
                return Ordering::Less;
            }
            if c2 == 0 {
                return Ordering::Greater;
            }
            if c1 != b'+' {
                return Ordering::Greater;
            }
            if c2 != b'+' {
                return Ordering::Less;
            }
            one += 1;
            two += 1;
            continue;
        }
        if c1 == 0 || c2 == 0 {
            break;
        }
        let isnum = c1.is_ascii_digit();
        let class = |c: u8| {
            if isnum {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let (mut s1, mut s2) = (one, two);
        while class(at(a, s1)) {
            s1 += 1;
        }
        while class(at(b, s2)) {
            s2 += 1;
        }
        if s2 == two {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut x, mut y) = (&a[one..s1], &b[two..s2]);
        if isnum {
            while x.first() == Some(&b'0') {
                x = &x[1..];
            }
            while y.first() == Some(&b'0') {
                y = &y[1..];
            }
            let r = x.len().cmp(&y.len());
            if r.is_ne() {
                return r;
            }
        }
        let r = x.cmp(y);
        if r.is_ne() {
            return r;
        }
        one = s1;
        two = s2;
    }
    match (at(a, one), at(b, two)) {
        (0, 0) => Ordering::Equal,
        (0, _) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// blscfg's `split_package_string()`: (name, version, release), `""` for
/// the missing ones.
fn split_nvr(s: &str, has_name: bool) -> (String, String, String) {
    let (rest, release) = match s.rsplit_once('-') {
        Some((r, rel)) => (r, Some(rel)),
        None => (s, None),
    };
    let (name, mut version, mut release) = if has_name {
        match rest.rsplit_once('-') {
            Some((n, v)) => (n, Some(v), release),
            None => (rest, None, release),
        }
    } else {
        ("", Some(rest), release)
    };
    if version.is_none() {
        version = release.take();
    }
    (
        name.into(),
        version.unwrap_or("").into(),
        release.unwrap_or("").into(),
    )
}

fn split_cmp(a: &str, b: &str, has_name: bool, plus: bool) -> Ordering {
    let (x, y) = (split_nvr(a, has_name), split_nvr(b, has_name));
    let name = if has_name {
        grub_vercmp(&x.0, &y.0, plus)
    } else {
        Ordering::Equal
    };
    name.then_with(|| grub_vercmp(&x.1, &y.1, plus))
        .then_with(|| grub_vercmp(&x.2, &y.2, plus))
}

/// Modern blscfg (Fedora 30+, RHEL 9/10): file names only, newest first;
/// an entry equal to one already listed is dropped (`bls_add_entry`).
fn grub_order(x: &Ent, y: &Ent) -> Ordering {
    let stem = |e: &Ent| e.file.trim_end_matches(".conf").to_string();
    split_cmp(&stem(y), &stem(x), true, true)
}

/// RHEL 8's blscfg: when every entry has a `version`, versions first
/// (version-release), then the file names; newest first.
fn grub_rhel8_order(x: &Ent, y: &Ent) -> Ordering {
    let v = |e: &Ent| e.version.clone().unwrap_or_default();
    let stem = |e: &Ent| e.file.trim_end_matches(".conf").to_string();
    split_cmp(&v(y), &v(x), false, false).then_with(|| split_cmp(&stem(y), &stem(x), true, false))
}

fn sorted(entries: &[Ent], cmp: fn(&Ent, &Ent) -> Ordering) -> Vec<String> {
    for (i, a) in entries.iter().enumerate() {
        for b in &entries[i + 1..] {
            assert_ne!(
                cmp(a, b),
                Ordering::Equal,
                "{a:?} ties {b:?}: one is hidden"
            );
        }
    }
    let mut v = entries.to_vec();
    v.sort_by(cmp);
    v.into_iter().map(|e| e.id).collect()
}

fn ok(o: &std::process::Output) {
    assert_eq!(o.status.code(), Some(0), "{}", show(o));
}

/// The Fedora fixture (grub-style entries without `sort-key`, a rescue
/// entry) after installs for both of its kernels.
fn fedora_installed() -> (tempfile::TempDir, PathBuf) {
    let (t, root) = temp_root("fedora");
    for k in [FEDORA_OLD, FEDORA_NEW] {
        ok(&run(&root, &["-y", "--kver", k]));
    }
    (t, root)
}

/// The Debian fixture with a second, older kernel, after installs for both:
/// the installer creates the main entries (kernel-install's form, with
/// `sort-key debian`) and the fallbacks. A rescue entry is added by hand.
fn debian_installed() -> (tempfile::TempDir, PathBuf) {
    let (t, root) = temp_root("bios-only");
    for f in ["boot/config-", "boot/initrd.img-", "boot/vmlinuz-"] {
        fs::copy(
            root.join(format!("{f}{DEB_NEW}")),
            root.join(format!("{f}{DEB_OLD}")),
        )
        .unwrap();
    }
    let m = root.join(format!("usr/lib/modules/{DEB_OLD}"));
    fs::create_dir_all(&m).unwrap();
    fs::copy(
        root.join(format!("usr/lib/modules/{DEB_NEW}/modules.dep")),
        m.join("modules.dep"),
    )
    .unwrap();
    for k in [DEB_OLD, DEB_NEW] {
        ok(&run(&root, &["-y", "--kver", k]));
    }
    fs::write(
        root.join("boot/loader/entries/debian-0-rescue.conf"),
        "title Debian GNU/Linux 12 (rescue)\nversion 0-rescue\nsort-key debian\n\
         options root=UUID=aaaaaaaa-1111-2222-3333-444444444444 ro single\n\
         linux /vmlinuz-6.1.0-13-amd64\ninitrd /initrd.img-6.1.0-13-amd64\n",
    )
    .unwrap();
    (t, root)
}

fn fedora_names() -> [String; 5] {
    let m = |k: &str| format!("{FEDORA_MID}-{k}.conf");
    let f = |k: &str| format!("{FEDORA_MID}-without_initoverlayfs.{k}.conf");
    [
        m(FEDORA_NEW),
        m(FEDORA_OLD),
        format!("{FEDORA_MID}-0-rescue.conf"),
        f(FEDORA_NEW),
        f(FEDORA_OLD),
    ]
}

fn debian_names() -> [String; 5] {
    [
        format!("debian-{DEB_NEW}.conf"),
        format!("debian-without_initoverlayfs.{DEB_NEW}.conf"),
        format!("debian-{DEB_OLD}.conf"),
        format!("debian-without_initoverlayfs.{DEB_OLD}.conf"),
        "debian-0-rescue.conf".to_string(),
    ]
}

#[test]
fn models_agree_with_the_sources_test_cases() {
    use Ordering::*;
    // systemd's test-string-util.c test_strverscmp_improved order, oldest first.
    let sd = [
        "122.1",
        "123~rc1-1",
        "123",
        "123-a",
        "123-a.1",
        "123-1",
        "123-1.1",
        "123^post1",
        "123.a-1",
        "123.1-1",
        "123a-1",
        "124-1",
    ];
    for w in sd.windows(2) {
        assert_eq!(sd_vercmp(w[0], w[1]), Less, "{w:?}");
        assert_eq!(sd_vercmp(w[1], w[0]), Greater, "{w:?}");
    }
    assert_eq!(
        sd_vercmp("0-rescue", "without"),
        Greater,
        "numbers beat letters"
    );
    // rpm's rpmvercmp.at cases, through blscfg's vercmp.
    for (a, b, want) in [
        ("1.0", "1.0", Equal),
        ("2.0.1", "2.0.1a", Less),
        ("5.6p1", "5.5p10", Greater),
        ("xyz.4", "8", Less),
        ("1.05", "1.5", Equal),
        ("2a", "2.0", Less),
        ("1.0~rc1", "1.0", Less),
        ("6.5.6+debug", "6.5.6", Greater),
        ("6.5.6+debug", "6.5.6.1", Less),
    ] {
        assert_eq!(grub_vercmp(a, b, true), want, "{a} vs {b}");
        assert_eq!(grub_vercmp(b, a, true), want.reverse(), "{b} vs {a}");
    }
    assert_eq!(
        split_nvr("mid-6.5.6-300.fc39.x86_64", true),
        ("mid".into(), "6.5.6".into(), "300.fc39.x86_64".into())
    );
    assert_eq!(
        split_nvr("6.5.6-300.fc39", false),
        ("".into(), "6.5.6".into(), "300.fc39".into())
    );
    assert_eq!(split_nvr("a-b", true), ("a".into(), "b".into(), "".into()));
}

#[test]
fn the_old_tilde_name_sorted_above_its_main_entry_in_modern_grub() {
    // What the rename also fixes: blscfg splits `ID~without-initoverlayfs`
    // at the `-` inside the mark, so its name field is longer and newer.
    let ent = |file: &str| Ent {
        file: file.into(),
        id: file.into(),
        tries_left: None,
        sort_key: None,
        machine_id: None,
        version: Some(FEDORA_NEW.into()),
    };
    let main = ent(&format!("{FEDORA_MID}-{FEDORA_NEW}.conf"));
    let tilde = ent(&format!(
        "{FEDORA_MID}-{FEDORA_NEW}~without-initoverlayfs.conf"
    ));
    assert_eq!(grub_order(&tilde, &main), Ordering::Less);
}

#[test]
fn fedora_grub_entries_fallbacks_never_above_their_kernel() {
    let (_t, root) = fedora_installed();
    let entries = read_entries(&root.join("boot/loader/entries"));
    let [m_new, m_old, rescue, f_new, f_old] = fedora_names();
    // Without sort-key, systemd orders by file name alone, as does
    // Fedora's grub: the fallbacks follow the kernels (and the rescue).
    let by_name = vec![
        m_new.clone(),
        m_old.clone(),
        rescue.clone(),
        f_new.clone(),
        f_old.clone(),
    ];
    assert_eq!(sorted(&entries, sd_order), by_name);
    assert_eq!(sorted(&entries, grub_order), by_name);
    // RHEL 8's grub orders by version first: each fallback right after its kernel.
    assert_eq!(
        sorted(&entries, grub_rhel8_order),
        vec![m_new, f_new, m_old, f_old, rescue]
    );
}

#[test]
fn kernel_install_entries_fallback_right_after_its_kernel() {
    let (_t, root) = debian_installed();
    // No GRUB here: the main entries are trial entries, counted in their
    // names (the fallbacks and the rescue entry are not).
    let dir = root.join("boot/loader/entries");
    for k in [DEB_NEW, DEB_OLD] {
        assert_eq!(
            entry_file(&dir, &format!("debian-{k}")),
            format!("debian-{k}+3.conf")
        );
        assert_eq!(
            entry_file(&dir, &format!("debian-without_initoverlayfs.{k}")),
            format!("debian-without_initoverlayfs.{k}.conf")
        );
    }
    let entries = read_entries(&root.join("boot/loader/entries"));
    assert!(entries
        .iter()
        .all(|e| e.sort_key.as_deref() == Some("debian")));
    let want = debian_names().to_vec();
    assert_eq!(sorted(&entries, sd_order), want);
    assert_eq!(sorted(&entries, grub_rhel8_order), want);
    // Modern grub (file names only): after the kernels, newest first.
    let [m_new, f_new, m_old, f_old, rescue] = debian_names();
    assert_eq!(
        sorted(&entries, grub_order),
        vec![m_new, m_old, f_new, f_old, rescue]
    );
}

/// `bootctl`: `$INITOVERLAYFS_TEST_BOOTCTL`, else on PATH, else where
/// `.ci/install-deps` unpacks Debian's systemd-boot package.
fn bootctl() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("INITOVERLAYFS_TEST_BOOTCTL") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("bootctl"))
        .chain([PathBuf::from(
            "/usr/local/lib/initoverlayfs-ci/systemd-boot/usr/bin/bootctl",
        )])
        .find(|p| p.is_file())
}

/// `bootctl list` over a copy of `boot` as XBOOTLDR and an empty ESP, each
/// a tmpfs of its own (bootctl wants both to be file system roots) in a
/// private mount namespace: (entry ids in menu order, stderr).
fn bootctl_list(bootctl: &Path, boot: &Path) -> (Vec<String>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let (esp, xbootldr) = (tmp.path().join("esp"), tmp.path().join("xbootldr"));
    fs::create_dir(&esp).unwrap();
    fs::create_dir(&xbootldr).unwrap();
    let script = r#"set -eu
mount -t tmpfs tmpfs "$1"
mount -t tmpfs tmpfs "$2"
cp -a "$3"/. "$2"/
SYSTEMD_RELAX_ESP_CHECKS=1 SYSTEMD_RELAX_XBOOTLDR_CHECKS=1 \
  "$4" --esp-path="$1" --boot-path="$2" --no-pager list --json=short"#;
    let mut c = Command::new("unshare");
    if !rustix::process::geteuid().is_root() {
        c.arg("--map-root-user");
    }
    let o = c
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&esp)
        .arg(&xbootldr)
        .arg(boot)
        .arg(bootctl)
        .output()
        .expect("cannot run unshare");
    assert!(o.status.success(), "bootctl list failed: {}", show(&o));
    let ids = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bootctl printed no JSON line ({e}): {l}"));
            v["id"].as_str().unwrap().to_string()
        })
        .collect();
    (ids, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn bootctl_lists_every_entry_we_write_in_the_right_order() {
    let Some(bootctl) = bootctl() else {
        eprintln!(
            "SKIP: no bootctl (Debian package systemd-boot; .ci/install-deps unpacks it without running its scripts)"
        );
        return;
    };
    let (_t, root) = debian_installed();
    let (ids, stderr) = bootctl_list(&bootctl, &root.join("boot"));
    assert!(
        !stderr.contains("Invalid loader entry name"),
        "bootctl rejected an entry: {stderr}"
    );
    assert_eq!(ids, debian_names().to_vec(), "stderr: {stderr}");
    // The model above is systemd's order, as bootctl shows it.
    let entries = read_entries(&root.join("boot/loader/entries"));
    assert_eq!(ids, sorted(&entries, sd_order));

    let (_t, root) = fedora_installed();
    let (ids, stderr) = bootctl_list(&bootctl, &root.join("boot"));
    assert!(!stderr.contains("Invalid loader entry name"), "{stderr}");
    assert_eq!(ids, fedora_names().to_vec(), "stderr: {stderr}");

    // The name releases before this one wrote is what bootctl rejects.
    let (_t, root) = fedora_installed();
    let entries = root.join("boot/loader/entries");
    let [_, _, _, f_new, _] = fedora_names();
    fs::rename(
        entries.join(&f_new),
        entries.join(format!(
            "{FEDORA_MID}-{FEDORA_NEW}~without-initoverlayfs.conf"
        )),
    )
    .unwrap();
    let (ids, stderr) = bootctl_list(&bootctl, &root.join("boot"));
    assert!(stderr.contains("Invalid loader entry name"), "{stderr}");
    assert_eq!(ids.len(), 4, "{ids:?}");
}

/// What systemd-boot does with a failed trial that left no one-shot
/// variable: the entry whose counter ran out (`+0-3`) sorts last, and the
/// default is the first entry (`config_select_default_entry()` in
/// src/boot/boot.c picks the first when nothing else is set). With
/// `sort-key` entries that is the bad kernel's own fallback; without, the
/// next kernel's entry, which is why the boot-time program sets
/// `LoaderEntryOneShot` and the fallback boot sets `LoaderEntryDefault`.
#[test]
fn a_bad_trial_entry_sorts_last_and_what_becomes_the_default() {
    let bad = |root: &Path, id: &str| {
        let dir = root.join("boot/loader/entries");
        let cur = entry_file(&dir, id);
        fs::rename(dir.join(&cur), dir.join(format!("{id}+0-3.conf"))).unwrap();
    };
    // kernel-install entries (sort-key): the fallback of the same kernel.
    let (_t, deb) = debian_installed();
    bad(&deb, &format!("debian-{DEB_NEW}"));
    let entries = read_entries(&deb.join("boot/loader/entries"));
    let [m_new, f_new, m_old, f_old, rescue] = debian_names();
    let want = vec![
        f_new.clone(),
        m_old.clone(),
        f_old.clone(),
        rescue.clone(),
        m_new.clone(),
    ];
    assert_eq!(sorted(&entries, sd_order), want);
    // Fedora-style entries (no sort-key) under systemd-boot: the next kernel.
    let (_t, fed) = temp_root("fedora");
    as_systemd_boot(&fed);
    for k in [FEDORA_OLD, FEDORA_NEW] {
        ok(&run(&fed, &["-y", "--kver", k]));
    }
    bad(&fed, &format!("{FEDORA_MID}-{FEDORA_NEW}"));
    let fentries = read_entries(&fed.join("boot/loader/entries"));
    let [fm_new, fm_old, frescue, ff_new, ff_old] = fedora_names();
    let fwant = vec![fm_old, frescue, ff_new, ff_old, fm_new];
    assert_eq!(sorted(&fentries, sd_order), fwant);

    let Some(bootctl) = bootctl() else {
        eprintln!("SKIP (bootctl part): no bootctl (Debian package systemd-boot; .ci/install-deps unpacks it)");
        return;
    };
    let (ids, stderr) = bootctl_list(&bootctl, &deb.join("boot"));
    assert_eq!(ids, want, "stderr: {stderr}");
    let (ids, stderr) = bootctl_list(&bootctl, &fed.join("boot"));
    assert_eq!(ids, fwant, "stderr: {stderr}");
}
