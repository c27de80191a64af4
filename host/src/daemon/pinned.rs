//! Pinned entries on disk, so that what an administrator pinned survives a restart.
//!
//! The file is JSON (`{"format": "localsa-pinned", "version": 1, "entries": [...]}`, each
//! entry a path as the admin protocol writes it, its context and which of its values are
//! natural). It is rewritten whole on every change, atomically: a temporary file in the same
//! directory, `fsync`, `rename` over the old one, `fsync` of the directory, so a crash leaves
//! either the old set or the new one, never half of either.
//!
//! A file that cannot be read back is never dropped silently: it is reported in the log and
//! renamed to `<file>.corrupt-<UTC timestamp>` for the administrator to look at; entries that
//! could be read are kept and written back to a fresh file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use localsa_core::table::{Natural, Origin};
use localsa_core::wire::path_record::Record;
use serde::{Deserialize, Serialize};

use super::logger::civil_from_days;
use super::protocol::{ContextJson, PathJson};

const FORMAT: &str = "localsa-pinned";
const VERSION: u32 = 1;

/// A pinned path as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedEntry {
    /// The record.
    pub record: Record,
    /// Its context and natural values.
    pub origin: Origin,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    format: String,
    version: u32,
    entries: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryJson {
    path: PathJson,
    #[serde(default)]
    context: ContextJson,
    #[serde(default = "all_natural")]
    natural: Vec<String>,
}

fn all_natural() -> Vec<String> {
    natural_names(Natural::all())
}

/// The names of natural values, as `dump` and the file write them.
pub fn natural_names(n: Natural) -> Vec<String> {
    let mut v = Vec::new();
    for (flag, name) in NATURAL_NAMES {
        if n.contains(flag) {
            v.push(name.to_owned());
        }
    }
    v
}

const NATURAL_NAMES: [(Natural, &str); 4] = [
    (Natural::MTU, "mtu"),
    (Natural::RATE, "rate"),
    (Natural::PACKET_LIFETIME, "packet_lifetime"),
    (Natural::SL, "sl"),
];

fn parse_natural(names: &[String]) -> Result<Natural, String> {
    let mut n = Natural::empty();
    for name in names {
        let (flag, _) = NATURAL_NAMES
            .iter()
            .find(|(_, s)| s == name)
            .ok_or_else(|| format!("{name:?} is not mtu, rate, packet_lifetime or sl"))?;
        n |= *flag;
    }
    Ok(n)
}

impl PinnedEntry {
    fn to_json(&self) -> EntryJson {
        EntryJson {
            path: PathJson::from(&self.record),
            context: self.origin.context.into(),
            natural: natural_names(self.origin.natural),
        }
    }

    fn from_json(e: &EntryJson) -> Result<PinnedEntry, String> {
        Ok(PinnedEntry {
            record: e.path.to_record()?,
            origin: Origin { natural: parse_natural(&e.natural)?, context: e.context.into() },
        })
    }
}

/// The pinned file (or none: pins then last as long as the process).
#[derive(Debug, Clone)]
pub struct PinStore {
    path: Option<PathBuf>,
}

impl PinStore {
    /// A store at `path`.
    pub fn new(path: Option<PathBuf>) -> PinStore {
        PinStore { path }
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Reads the pinned entries. A missing file is an empty set; a damaged one is logged,
    /// moved aside, and whatever could be read from it is returned (and should be saved).
    /// The flag says whether the file was damaged.
    pub fn load(&self) -> (Vec<PinnedEntry>, bool) {
        let Some(path) = &self.path else { return (Vec::new(), false) };
        let text = match fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (Vec::new(), false),
            Err(e) => {
                // Unreadable is not corrupt: leave it where it is, start without pins.
                log::error!(
                    "cannot read pinned file; starting without pins path={} error={e}",
                    path.display()
                );
                return (Vec::new(), false);
            }
        };
        let (entries, problems) = parse(&text);
        if problems.is_empty() {
            log::info!("pinned entries loaded path={} count={}", path.display(), entries.len());
            return (entries, false);
        }
        for p in &problems {
            log::error!("pinned file damaged path={} problem={p:?}", path.display());
        }
        let aside = corrupt_name(path);
        match fs::rename(path, &aside) {
            Ok(()) => log::error!(
                "pinned file moved aside path={} moved_to={} kept={}",
                path.display(),
                aside.display(),
                entries.len()
            ),
            Err(e) => log::error!("cannot move damaged pinned file aside path={} error={e}", path.display()),
        }
        (entries, true)
    }

    /// Writes `entries` atomically (temp file, fsync, rename, fsync of the directory).
    pub fn save(&self, entries: &[PinnedEntry]) -> io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let file = FileFormat {
            format: FORMAT.into(),
            version: VERSION,
            entries: entries
                .iter()
                .map(|e| serde_json::to_value(e.to_json()).unwrap_or(serde_json::Value::Null))
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        text.push(b'\n');
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, path)?;
            File::open(&dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Parses a file's bytes: the entries that read, and a description of each problem.
fn parse(text: &[u8]) -> (Vec<PinnedEntry>, Vec<String>) {
    let file: FileFormat = match serde_json::from_slice(text) {
        Ok(f) => f,
        Err(e) => return (Vec::new(), vec![format!("not a pinned file: {e}")]),
    };
    let mut problems = Vec::new();
    if file.format != FORMAT || file.version != VERSION {
        problems.push(format!(
            "format {:?} version {}, expected {FORMAT:?} {VERSION}",
            file.format, file.version
        ));
        return (Vec::new(), problems);
    }
    let mut entries = Vec::new();
    for (i, v) in file.entries.into_iter().enumerate() {
        let parsed = serde_json::from_value::<EntryJson>(v)
            .map_err(|e| e.to_string())
            .and_then(|e| PinnedEntry::from_json(&e));
        match parsed {
            Ok(e) => entries.push(e),
            Err(e) => problems.push(format!("entry {i}: {e}")),
        }
    }
    (entries, problems)
}

/// `<path>.corrupt-20240501T123456Z`.
fn corrupt_name(path: &Path) -> PathBuf {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86400) as i64);
    let r = secs % 86400;
    let stamp = format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", r / 3600, (r % 3600) / 60, r % 60);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".corrupt-{stamp}"));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use localsa_core::table::Context;
    use localsa_core::wire::{Gid, Mtu, PathRecordRepr, Rate};

    fn entry(dlid: u16) -> PinnedEntry {
        let repr = PathRecordRepr {
            dgid: Gid::new(0xfe80 << 48, dlid as u64),
            sgid: Gid::new(0xfe80 << 48, 1),
            dlid,
            slid: 1,
            pkey: 0xffff,
            mtu: Mtu::Mtu2048,
            rate: Rate::Gbps10,
            ..PathRecordRepr::default()
        };
        let mut record = Record::ZEROED;
        repr.emit(&mut record).unwrap();
        let context = Context { pkey: true, ..Context::default() };
        PinnedEntry { record, origin: Origin { natural: Natural::MTU, context } }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("localsa-pinned-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn save_and_load() {
        let dir = temp_dir("ok");
        let store = PinStore::new(Some(dir.join("sub/pinned.json")));
        assert_eq!(store.load(), (vec![], false));
        let entries = vec![entry(5), entry(6)];
        store.save(&entries).unwrap();
        assert_eq!(store.load(), (entries, false));
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.join("sub")).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let dir = temp_dir("bad");
        let path = dir.join("pinned.json");
        fs::write(&path, b"{ not json").unwrap();
        let store = PinStore::new(Some(path.clone()));
        assert_eq!(store.load(), (vec![], true));
        assert!(!path.exists());
        let aside: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(aside.len(), 1);
        assert!(aside[0].to_string_lossy().starts_with("pinned.json.corrupt-"), "{aside:?}");
        assert_eq!(fs::read(dir.join(&aside[0])).unwrap(), b"{ not json");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn good_entries_of_a_damaged_file_are_kept() {
        let dir = temp_dir("partial");
        let path = dir.join("pinned.json");
        let store = PinStore::new(Some(path.clone()));
        store.save(&[entry(5)]).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        v["entries"].as_array_mut().unwrap().push(serde_json::json!({"path": {"dgid": "nope"}}));
        fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(store.load(), (vec![entry(5)], true));
        fs::remove_dir_all(dir).unwrap();
    }
}
