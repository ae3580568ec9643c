//! Trial boots through the installer, on temp roots: counted entry names
//! through install, `-f`, the boot loader's renames, blessing and rollback;
//! a failed trial as the boot-time program leaves it (its own record
//! writer, a temp efivarfs directory, a temp journal socket) reported by
//! `--check --json`, handled once by `--after-boot`, and re-armed by the
//! next install; the same on GRUB with grubenv.

mod common;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{
    as_systemd_boot, assert_same, entry_file, installer, show, snapshot, temp_root, FEDORA_KVER,
    FEDORA_MID,
};
use initoverlayfs::efivar::{self, INITOVERLAYFS_GUID, LOADER_GUID};
use initoverlayfs::grubenv::GrubEnv;
use initoverlayfs::trial::{FailureRecord, MESSAGE_ID};
use serde_json::Value;

fn main_id() -> String {
    format!("{FEDORA_MID}-{FEDORA_KVER}")
}

fn fallback_id() -> String {
    format!("{FEDORA_MID}-without_initoverlayfs.{FEDORA_KVER}")
}

/// A systemd-boot machine: the root, its efivarfs (LoaderInfo set, as
/// systemd-boot sets it at every boot) and a journal socket.
struct Machine {
    _t: tempfile::TempDir,
    root: PathBuf,
    efi: Option<tempfile::TempDir>,
    journal: tempfile::TempDir,
}

impl Machine {
    fn systemd_boot() -> Machine {
        let (t, root) = temp_root("fedora");
        as_systemd_boot(&root);
        let efi = tempfile::tempdir().unwrap();
        efivar::write_string(
            efi.path(),
            "LoaderInfo",
            LOADER_GUID,
            "systemd-boot 252.39-1~deb12u2",
        )
        .unwrap();
        Machine {
            _t: t,
            root,
            efi: Some(efi),
            journal: tempfile::tempdir().unwrap(),
        }
    }

    fn grub() -> Machine {
        let (t, root) = temp_root("fedora");
        Machine {
            _t: t,
            root,
            efi: None,
            journal: tempfile::tempdir().unwrap(),
        }
    }

    fn efi(&self) -> &Path {
        self.efi.as_ref().unwrap().path()
    }

    fn socket(&self) -> PathBuf {
        self.journal.path().join("socket")
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = installer();
        c.arg("--root").arg(&self.root).args(args);
        c.env("INITOVERLAYFS_INSTALL_JOURNAL_SOCKET", self.socket());
        if let Some(e) = &self.efi {
            c.env("INITOVERLAYFS_INSTALL_EFIVARS", e.path());
        }
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", show(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn check(&self) -> Value {
        let o = self.run(&["--check", "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn entries(&self) -> PathBuf {
        self.root.join("boot/loader/entries")
    }

    /// The boot loader renames the main entry (a boot attempt, a blessing).
    fn rename_main(&self, to: &str) {
        let cur = entry_file(&self.entries(), &main_id());
        fs::rename(self.entries().join(cur), self.entries().join(to)).unwrap();
    }

    fn var(&self, name: &str) -> Option<String> {
        efivar::read_string(self.efi(), name, LOADER_GUID).unwrap()
    }
}

fn trial_check(v: &Value) -> Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "trial")
        .unwrap_or_else(|| panic!("no trial check: {v:#}"))
        .clone()
}

#[test]
fn counted_names_through_install_force_renames_blessing_and_rollback() {
    let m = Machine::systemd_boot();
    let pristine = snapshot(&m.root);
    let original_entry =
        fs::read_to_string(m.entries().join(format!("{}.conf", main_id()))).unwrap();
    for round in 0..2 {
        let out = m.ok(&["-y"]);
        assert!(
            out.contains(&format!("trial: entry {}+3.conf: 3 boots", main_id())),
            "{out}"
        );
        // One file per id: the counted main entry (content unchanged), the
        // uncounted fallback.
        assert_eq!(
            entry_file(&m.entries(), &main_id()),
            format!("{}+3.conf", main_id())
        );
        assert_eq!(
            fs::read_to_string(m.entries().join(format!("{}+3.conf", main_id()))).unwrap(),
            original_entry
        );
        assert_eq!(
            entry_file(&m.entries(), &fallback_id()),
            format!("{}.conf", fallback_id())
        );
        let cfg =
            initoverlayfs::config::Config::load(&m.root.join("etc/initoverlayfs.conf")).unwrap();
        assert_eq!(
            cfg.boot.fallback_entry.as_deref(),
            Some(format!("{FEDORA_MID}-without_initoverlayfs.{{kver}}").as_str())
        );
        assert_eq!(cfg.boot.grubenv, None);
        assert_eq!(m.check()["trial"]["state"], "running");
        assert_eq!(m.check()["trial"]["tries_left"], 3);

        // systemd-boot tried it once; a rebuild starts a fresh trial.
        m.rename_main(&format!("{}+2-1.conf", main_id()));
        m.ok(&["-y", "--force"]);
        assert_eq!(
            entry_file(&m.entries(), &main_id()),
            format!("{}+3.conf", main_id())
        );
        // Blessed (systemd-bless-boot dropped the counter): a good install.
        m.rename_main(&format!("{}.conf", main_id()));
        assert_eq!(m.check()["trial"]["state"], "good");
        if round == 1 {
            // Or bad: out of tries.
            m.rename_main(&format!("{}+0-3.conf", main_id()));
            assert_eq!(m.check()["trial"]["state"], "failed");
        }
        m.ok(&["--rollback", "-y"]);
        assert_same(
            &pristine,
            &snapshot(&m.root),
            &format!("rollback, round {round}"),
        );
    }
}

#[test]
fn tries_come_from_the_config_or_kernel_install_and_zero_turns_counting_off() {
    let m = Machine::systemd_boot();
    fs::create_dir_all(m.root.join("etc/kernel")).unwrap();
    fs::write(m.root.join("etc/kernel/tries"), "5\n").unwrap();
    m.ok(&["-y"]);
    assert_eq!(
        entry_file(&m.entries(), &main_id()),
        format!("{}+5.conf", main_id())
    );
    let conf = m.root.join("etc/initoverlayfs.conf");
    let text = fs::read_to_string(&conf)
        .unwrap()
        .replace("[boot]\n", "[boot]\ntries = 0\n");
    fs::write(&conf, text).unwrap();
    m.ok(&["-y", "--force"]);
    assert_eq!(
        entry_file(&m.entries(), &main_id()),
        format!("{}.conf", main_id())
    );
    fs::write(m.root.join("etc/kernel/tries"), "many\n").unwrap();
    let text = fs::read_to_string(&conf)
        .unwrap()
        .replace("tries = 0\n", "");
    fs::write(&conf, text).unwrap();
    let o = m.run(&["--check"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("/etc/kernel/tries holds \"many\""),
        "{}",
        show(&o)
    );
}

/// What the boot-time program leaves after its mini phase failed at
/// `mount image` (its own record writer and fallback pointer, pointed at
/// the root's /boot and the test's efivarfs).
fn fail_in_the_mini_phase(m: &Machine, efivars: Option<&Path>) -> FailureRecord {
    let cfg = initoverlayfs::config::Config::load(&m.root.join("etc/initoverlayfs.conf")).unwrap();
    let facts = initoverlayfs::failure::Facts {
        config: cfg,
        kver: Some(FEDORA_KVER.into()),
        boot: Some(m.root.join("boot")),
        efivars: efivars.map(Path::to_path_buf),
    };
    let err = anyhow::anyhow!("Invalid argument (os error 22)")
        .context("mount /dev/loop0 on /initrofs as erofs read-only")
        .context("mount image");
    initoverlayfs::failure::handle(&err, "systemd", &facts, None)
}

fn journal_entry(server: &UnixDatagram) -> Option<Vec<(String, String)>> {
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = server.recv(&mut buf).ok()?;
    Some(initoverlayfs_install::journal::decode(&buf[..n]).unwrap())
}

#[test]
fn failed_trial_on_systemd_boot_reported_handled_once_and_rearmed() {
    let m = Machine::systemd_boot();
    let server = UnixDatagram::bind(m.socket()).unwrap();
    m.ok(&["-y"]);
    // The failed boot: systemd-boot counted it and booted the entry, the
    // mini phase failed, recorded it and set the one-shot entry.
    m.rename_main(&format!("{}+2-1.conf", main_id()));
    efivar::write_string(
        m.efi(),
        "LoaderEntrySelected",
        LOADER_GUID,
        &format!("{}.conf", main_id()),
    )
    .unwrap();
    let rec = fail_in_the_mini_phase(&m, Some(m.efi()));
    assert_eq!(
        rec.action,
        format!("LoaderEntryOneShot={}.conf", fallback_id())
    );
    // The fallback boot: systemd-boot consumed the one-shot variable.
    assert_eq!(
        m.var("LoaderEntryOneShot"),
        Some(format!("{}.conf", fallback_id()))
    );
    efivar::remove(m.efi(), "LoaderEntryOneShot", LOADER_GUID).unwrap();
    efivar::write_string(
        m.efi(),
        "LoaderEntrySelected",
        LOADER_GUID,
        &format!("{}.conf", fallback_id()),
    )
    .unwrap();

    let v = m.check();
    let t = &v["trial"];
    assert_eq!(t["state"], "failed", "{v:#}");
    assert_eq!(t["loader"]["kind"], "systemd-boot");
    let f = &t["last_failure"];
    assert_eq!(f["step"], "mount image");
    assert_eq!(
        f["error"],
        "mount image: mount /dev/loop0 on /initrofs as erofs read-only: Invalid argument (os error 22)"
    );
    assert_eq!(f["kver"], FEDORA_KVER);
    assert_eq!(f["fallback_entry"], fallback_id());
    assert_eq!(f["time"], rec.time);
    assert!(f["time_utc"].as_str().unwrap().ends_with('Z'));
    assert_eq!(f["handled_utc"], Value::Null);
    assert_eq!(f["recorded_in"].as_array().unwrap().len(), 2, "{f:#}");
    let c = trial_check(&v);
    assert_eq!(c["status"], "warn");
    assert!(c["detail"].as_str().unwrap().contains("failed at"), "{c:#}");
    assert_eq!(
        v["compatible"], true,
        "a failed trial must not block the retry"
    );

    // The fallback boot's unit: one journal entry, the fallback as the default.
    let out = m.ok(&["--after-boot"]);
    assert!(out.contains("failed at"), "{out}");
    let fields = journal_entry(&server).expect("no journal entry");
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("MESSAGE_ID").as_deref(), Some(MESSAGE_ID));
    assert_eq!(get("PRIORITY").as_deref(), Some("3"));
    assert_eq!(get("INITOVERLAYFS_STEP").as_deref(), Some("mount image"));
    assert_eq!(get("INITOVERLAYFS_KVER").as_deref(), Some(FEDORA_KVER));
    assert_eq!(get("INITOVERLAYFS_FALLBACK_ENTRY"), Some(fallback_id()));
    let msg = get("MESSAGE").unwrap();
    assert!(
        msg.contains("step \"mount image\"") && msg.contains(&format!("{}.conf", fallback_id())),
        "{msg}"
    );
    assert_eq!(
        m.var("LoaderEntryDefault"),
        Some(format!("{}.conf", fallback_id()))
    );
    assert_eq!(
        entry_file(&m.entries(), &main_id()),
        format!("{}+0-1.conf", main_id()),
        "marked bad"
    );
    // Once only.
    let out = m.ok(&["--after-boot"]);
    assert!(out.contains("handled already"), "{out}");
    assert!(journal_entry(&server).is_none(), "a second journal entry");
    let v = m.check();
    assert_eq!(v["trial"]["state"], "failed");
    assert!(
        v["trial"]["last_failure"]["handled_utc"].is_string(),
        "{v:#}"
    );
    assert!(
        v["trial"]["detail"]
            .as_str()
            .unwrap()
            .contains("is the default"),
        "{v:#}"
    );

    // The user runs the installer again: a new trial, the old default back.
    let out = m.ok(&["-y"]);
    assert!(
        out.contains("its last trial had failed") && out.contains("A new trial is armed"),
        "{out}"
    );
    assert_eq!(
        entry_file(&m.entries(), &main_id()),
        format!("{}+3.conf", main_id())
    );
    assert_eq!(m.var("LoaderEntryDefault"), None);
    assert!(!m.root.join("boot/initoverlayfs-failure.txt").exists());
    assert!(
        efivar::read(m.efi(), "InitoverlayfsFailure", INITOVERLAYFS_GUID)
            .unwrap()
            .is_none()
    );
    let v = m.check();
    assert_eq!(v["trial"]["state"], "running", "{v:#}");
    assert_eq!(v["trial"]["last_failure"], Value::Null);
    assert_eq!(
        m.ok(&["--after-boot"]).trim(),
        "initoverlayfs-install: no failed trial"
    );
}

#[test]
fn a_trial_that_ran_out_of_tries_without_a_record_is_still_acted_on() {
    let m = Machine::systemd_boot();
    let server = UnixDatagram::bind(m.socket()).unwrap();
    m.ok(&["-y"]);
    // Three failed boots that could write nothing (say, no efivarfs in the
    // kernel and /boot never found): only the counter tells.
    m.rename_main(&format!("{}+0-3.conf", main_id()));
    let v = m.check();
    assert_eq!(v["trial"]["state"], "failed");
    assert!(
        v["trial"]["detail"]
            .as_str()
            .unwrap()
            .contains("ran out of tries"),
        "{v:#}"
    );
    m.ok(&["--after-boot"]);
    let fields = journal_entry(&server).expect("no journal entry");
    assert!(fields
        .iter()
        .any(|(k, v)| k == "MESSAGE_ID" && v == MESSAGE_ID));
    assert_eq!(
        m.var("LoaderEntryDefault"),
        Some(format!("{}.conf", fallback_id()))
    );
    // Remembered in our EFI variable from now on.
    let v = m.check();
    assert_eq!(v["trial"]["last_failure"]["step"], "unknown", "{v:#}");
    assert!(journal_entry(&server).is_none());
    m.ok(&["--after-boot"]);
    assert!(journal_entry(&server).is_none(), "once only");
}

fn grubenv(m: &Machine) -> GrubEnv {
    GrubEnv::load(&m.root.join("boot/grub2/grubenv")).unwrap()
}

#[test]
fn failed_trial_on_grub_falls_back_through_grubenv_and_a_good_one_is_blessed() {
    let m = Machine::grub();
    let pristine = snapshot(&m.root);
    let server = UnixDatagram::bind(m.socket()).unwrap();
    let saved = grubenv(&m).get("saved_entry").unwrap().to_string();
    m.ok(&["-y"]);
    // GRUB trial: entries keep their names, grubenv counts.
    assert_eq!(
        entry_file(&m.entries(), &main_id()),
        format!("{}.conf", main_id())
    );
    let g = grubenv(&m);
    assert_eq!(
        (g.get("boot_counter"), g.get("boot_success")),
        (Some("3"), Some("0"))
    );
    let cfg = initoverlayfs::config::Config::load(&m.root.join("etc/initoverlayfs.conf")).unwrap();
    assert_eq!(cfg.boot.grubenv.as_deref(), Some("/grub2/grubenv"));
    assert_eq!(m.check()["trial"]["state"], "running");

    // The failed boot (GRUB decremented the counter first).
    let mut g = grubenv(&m);
    g.set("boot_counter", "2").unwrap();
    g.store(&m.root.join("boot/grub2/grubenv")).unwrap();
    let rec = fail_in_the_mini_phase(&m, None);
    assert_eq!(rec.action, format!("grubenv next_entry={}", fallback_id()));
    let g = grubenv(&m);
    assert_eq!(g.get("next_entry"), Some(fallback_id().as_str()));
    assert_eq!(
        g.get("boot_counter"),
        None,
        "Fedora's counting would pick menu entry 1"
    );
    // The fallback boot (GRUB used and cleared next_entry).
    let mut g = grubenv(&m);
    g.unset("next_entry");
    g.store(&m.root.join("boot/grub2/grubenv")).unwrap();
    assert_eq!(m.check()["trial"]["state"], "failed");
    m.ok(&["--after-boot"]);
    assert!(journal_entry(&server).is_some());
    assert_eq!(grubenv(&m).get("saved_entry"), Some(fallback_id().as_str()));
    assert!(m.ok(&["--bless"]).contains("no GRUB trial running"));

    // Again: a new trial, and the default as it was.
    m.ok(&["-y"]);
    let g = grubenv(&m);
    assert_eq!(g.get("saved_entry"), Some(saved.as_str()));
    assert_eq!(
        (g.get("boot_counter"), g.get("boot_success")),
        (Some("3"), Some("0"))
    );
    assert_eq!(m.check()["trial"]["state"], "running");
    // This one reaches boot-complete.target.
    assert!(m
        .ok(&["--bless"])
        .contains("boot_success=1, boot_counter (3) unset"));
    let g = grubenv(&m);
    assert_eq!(
        (g.get("boot_counter"), g.get("boot_success")),
        (None, Some("1"))
    );
    assert_eq!(m.check()["trial"]["state"], "good");
    m.ok(&["--rollback", "-y"]);
    assert_same(&pristine, &snapshot(&m.root), "rollback");
}

#[test]
fn grubs_expired_counter_is_a_failed_trial_too() {
    let m = Machine::grub();
    m.ok(&["-y"]);
    let mut g = grubenv(&m);
    g.set("boot_counter", "-1").unwrap();
    g.store(&m.root.join("boot/grub2/grubenv")).unwrap();
    let v = m.check();
    assert_eq!(v["trial"]["state"], "failed");
    assert!(
        v["trial"]["detail"]
            .as_str()
            .unwrap()
            .contains("boot_counter=-1"),
        "{v:#}"
    );
    m.ok(&["--after-boot"]);
    let g = grubenv(&m);
    assert_eq!(g.get("saved_entry"), Some(fallback_id().as_str()));
    assert_eq!(g.get("boot_counter"), None);
    assert!(m.root.join("boot/initoverlayfs-failure.txt").is_file());
}

#[test]
fn rollback_after_a_failed_trial_leaves_nothing_of_it() {
    let m = Machine::systemd_boot();
    let pristine = snapshot(&m.root);
    let _server = UnixDatagram::bind(m.socket()).unwrap();
    m.ok(&["-y"]);
    m.rename_main(&format!("{}+2-1.conf", main_id()));
    fail_in_the_mini_phase(&m, Some(m.efi()));
    efivar::remove(m.efi(), "LoaderEntryOneShot", LOADER_GUID).unwrap();
    m.ok(&["--after-boot"]);
    assert_eq!(
        m.var("LoaderEntryDefault"),
        Some(format!("{}.conf", fallback_id()))
    );
    let out = m.ok(&["--rollback", "-y"]);
    assert!(out.contains("removed LoaderEntryDefault"), "{out}");
    assert_same(
        &pristine,
        &snapshot(&m.root),
        "rollback after a failed trial",
    );
    assert_eq!(m.var("LoaderEntryDefault"), None);
    assert!(
        efivar::read(m.efi(), "InitoverlayfsFailure", INITOVERLAYFS_GUID)
            .unwrap()
            .is_none()
    );
}
