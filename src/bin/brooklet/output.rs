//! Files that commands write besides the brooklet file (export's `--out`): never the file
//! they read, and never half written.
//!
//! Before anything is written, every path about to be written is compared by (device,
//! inode) with the brooklet file and its side files, so a path that reaches the file by any
//! spelling (`./FILE`, an absolute path, a symlink, a hardlink) is refused. Every file is
//! then written under a temporary name in its target directory, synced, and renamed into
//! place only when the whole output is complete. A command that fails leaves neither a
//! partial file, nor a temporary one, nor a partly overwritten old output, nor a directory
//! it created. (Between the first and the last rename of a many-file output, a failing
//! rename can still leave the files renamed before it.)
//!
//! Existing targets that are not regular files (`/dev/stdout`, a FIFO) cannot be replaced by
//! a rename; they are written in place, as a shell redirection would.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::common::{CliError, CliResult, io_error};

/// File name suffixes of the files that belong to a brooklet file `FILE` (as `FILE<suffix>`)
/// and must never be overwritten by an output. brooklet keeps none today: the writer lock is
/// an `flock` on the file itself. A lock or reader-table file added later goes here.
const SIDE_FILE_SUFFIXES: &[&str] = &[];

/// Attempts at finding an unused temporary name before giving up.
const TEMP_ATTEMPTS: u32 = 100;

/// (device, inode): what makes two paths the same file.
type FileId = (u64, u64);

fn file_id(meta: &fs::Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// The outputs of one command: refused if they would overwrite the brooklet file, staged
/// under temporary names until [`Outputs::commit`], and removed if the command fails
/// (dropped without a commit).
#[derive(Debug)]
pub struct Outputs {
    /// The brooklet file and its side files that exist, each with what it is in words.
    protected: Vec<(FileId, String)>,
    /// Files written so far; the last one may still be open.
    staged: Vec<Staged>,
    /// Directories created, parents first; removed (if empty) when the command fails.
    dirs_created: Vec<PathBuf>,
    committed: bool,
}

/// One output file: its final path and where it is written until then.
#[derive(Debug)]
struct Staged {
    target: PathBuf,
    /// The temporary file, or `None` when the target is written in place (not a regular
    /// file, such as `/dev/stdout`).
    temp: Option<PathBuf>,
    /// Open while the command writes it.
    file: Option<File>,
}

impl Outputs {
    /// Outputs of a command that reads the brooklet file `database`. Records the identity of
    /// the file and of its side files that exist now; a missing file protects nothing (the
    /// command will fail to open it).
    pub fn new(database: &Path) -> Self {
        let shown = database.display();
        let mut protected = Vec::new();
        if let Ok(meta) = fs::metadata(database) {
            protected.push((file_id(&meta), format!("the brooklet file {shown} itself")));
        }
        for suffix in SIDE_FILE_SUFFIXES {
            let mut side = database.as_os_str().to_owned();
            side.push(suffix);
            if let Ok(meta) = fs::metadata(&side) {
                let side = Path::new(&side).display();
                let what = format!("{side}, a side file of the brooklet file {shown}");
                protected.push((file_id(&meta), what));
            }
        }
        Self {
            protected,
            staged: Vec::new(),
            dirs_created: Vec::new(),
            committed: false,
        }
    }

    /// Refuses `path` if it is the brooklet file or one of its side files, by whatever
    /// name (symlinks are followed; a hardlink has the same inode).
    pub fn refuse_database(&self, path: &Path) -> CliResult {
        let Ok(meta) = fs::metadata(path) else {
            return Ok(()); // nothing there yet: nothing to collide with
        };
        let id = file_id(&meta);
        match self
            .protected
            .iter()
            .find(|(protected, _)| *protected == id)
        {
            Some((_, what)) => Err(CliError::usage(format!(
                "{} is {what}; refusing to overwrite it (choose another output path)",
                path.display()
            ))),
            None => Ok(()),
        }
    }

    /// Creates `dir` and its missing parents, remembering what it created.
    pub fn create_dir_all(&mut self, dir: &Path) -> CliResult {
        let missing: Vec<&Path> = dir
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .take_while(|a| fs::symlink_metadata(a).is_err())
            .collect();
        for path in missing.into_iter().rev() {
            match fs::create_dir(path) {
                Ok(()) => self.dirs_created.push(path.to_owned()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error(path, &e)),
            }
        }
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(CliError::failure(format!(
                "{} exists and is not a directory",
                dir.display()
            ))),
            Err(e) => Err(io_error(dir, &e)),
        }
    }

    /// Starts writing the output file `path` (after refusing it if it is the brooklet file)
    /// and returns it to write to. The file written before it is synced and closed.
    pub fn create(&mut self, path: &Path) -> CliResult<&mut File> {
        self.close_last()?;
        self.refuse_database(path)?;
        let target = resolve_symlink(path)?;
        let existing = match fs::metadata(&target) {
            Ok(meta) if meta.is_dir() => {
                return Err(CliError::failure(format!(
                    "{} is a directory",
                    path.display()
                )));
            }
            Ok(meta) => Some(meta),
            Err(_) => None,
        };
        let staged = Staged::open(target, existing.as_ref(), path)?;
        // Staged before anything else can fail, so that a failure removes the temporary file.
        self.staged.push(staged);
        let file = self
            .staged
            .last_mut()
            .and_then(|s| s.file.as_mut())
            .expect("just opened");
        if let Some(meta) = existing.filter(fs::Metadata::is_file) {
            // The new file keeps the permissions of the one it replaces.
            file.set_permissions(meta.permissions())
                .map_err(|e| io_error(path, &e))?;
        }
        Ok(file)
    }

    /// Renames every output file into place, then syncs the directories that changed.
    pub fn commit(mut self) -> CliResult {
        self.close_last()?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for staged in &mut self.staged {
            let Some(temp) = &staged.temp else {
                continue;
            };
            fs::rename(temp, &staged.target).map_err(|e| io_error(&staged.target, &e))?;
            staged.temp = None;
            let dir = parent_dir(&staged.target).to_owned();
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        self.committed = true;
        // Best effort: the renames are done; some file systems cannot sync a directory.
        for dir in dirs {
            if let Ok(handle) = File::open(&dir) {
                let _ = handle.sync_all();
            }
        }
        Ok(())
    }

    /// Syncs and closes the file written last, if it is still open.
    fn close_last(&mut self) -> CliResult {
        let Some(staged) = self.staged.last_mut() else {
            return Ok(());
        };
        let Some(file) = staged.file.take() else {
            return Ok(());
        };
        if staged.temp.is_some() {
            file.sync_all().map_err(|e| io_error(&staged.target, &e))?;
        }
        Ok(())
    }
}

impl Staged {
    /// Opens the output `target` (`path` as named, for messages): a new temporary file next
    /// to it, or the target itself when it exists and is not a regular file.
    fn open(target: PathBuf, existing: Option<&fs::Metadata>, path: &Path) -> CliResult<Self> {
        if existing.is_some_and(|meta| !meta.is_file()) {
            let file = OpenOptions::new()
                .write(true)
                .open(&target)
                .map_err(|e| io_error(path, &e))?;
            return Ok(Self {
                target,
                temp: None,
                file: Some(file),
            });
        }
        let (temp, file) = create_temp(&target)?;
        Ok(Self {
            target,
            temp: Some(temp),
            file: Some(file),
        })
    }
}

impl Drop for Outputs {
    /// A command that failed: its temporary files and the directories it created go.
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        for staged in &mut self.staged {
            staged.file = None;
            if let Some(temp) = staged.temp.take() {
                let _ = fs::remove_file(temp);
            }
        }
        for dir in self.dirs_created.iter().rev() {
            let _ = fs::remove_dir(dir); // only if empty: it may hold files of others now
        }
    }
}

/// The file a path names: a symlink is followed, so that the file it points to is replaced
/// (as writing through the link would), not the link. A dangling link is replaced itself.
fn resolve_symlink(path: &Path) -> CliResult<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(real) => Ok(real),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_owned()),
            Err(e) => Err(io_error(path, &e)),
        },
        _ => Ok(path.to_owned()),
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates a new, empty temporary file next to `target`: `.NAME.PID.N.brooklet-tmp`.
fn create_temp(target: &Path) -> CliResult<(PathBuf, File)> {
    let name = target
        .file_name()
        .ok_or_else(|| CliError::failure(format!("{} names no file", target.display())))?;
    let dir = parent_dir(target);
    let pid = std::process::id();
    for attempt in 0..TEMP_ATTEMPTS {
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{pid}.{attempt}.brooklet-tmp"));
        let temp = dir.join(temp_name);
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CliError::failure(format!(
                    "{}: no such directory",
                    dir.display()
                )));
            }
            Err(e) => return Err(io_error(dir, &e)),
        }
    }
    Err(CliError::failure(format!(
        "{}: no unused temporary name after {TEMP_ATTEMPTS} attempts",
        dir.display()
    )))
}
