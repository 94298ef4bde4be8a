//! Files the tool reads and writes. Reads take a whole regular file up to a size limit (a
//! FIFO or a device is refused, never waited on or read for ever). Writes replace a file
//! atomically through a temp file of our own in the same directory, created exclusively
//! (O_EXCL, not following a symlink) with mode 0600 under a random name, synced, then renamed
//! over the target, and the directory synced: a planted symlink or a predictable name cannot
//! redirect the write, and a power loss cannot leave the file empty.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Reads the regular file at `path`, refusing one larger than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = match () {
            _ if kind.is_fifo() => "a FIFO",
            _ if kind.is_dir() => "a directory",
            _ if kind.is_char_device() || kind.is_block_device() => "a device",
            _ => "not a regular file",
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what}, not a regular file"),
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Replaces the file at `path` with `bytes` (mode 0600), atomically and durably: the bytes
/// reach the disk before the rename, and the rename before this returns, so that after a crash
/// or a power loss the file holds either its old content or the new, never nothing.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (tmp, mut file) = temp_beside(path)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename is an entry of the directory: it lasts once the directory is synced. A
    // directory this process may write to but not open (mode 0300) keeps the rename unsynced,
    // as before syncing was done at all.
    match File::open(parent(path)) {
        Ok(dir) => dir.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(()),
        Err(e) => Err(e),
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new file of ours next to `path`: `.<name>.<random>.tmp`, created exclusively.
fn temp_beside(path: &Path) -> io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let dir = parent(path);
    let mut tries = 0;
    loop {
        let tmp = dir.join(format!(".{}.{:016x}.tmp", name.to_string_lossy(), random()));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp);
        match opened {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(e),
        }
    }
}

/// 64 random bits: the standard library seeds its hasher keys from the operating system.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cw2m-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn reads_regular_files_within_the_limit_only() {
        let d = dir("read");
        let f = d.join("f");
        std::fs::write(&f, "12345").unwrap();
        assert_eq!(read(&f, 5).unwrap(), b"12345");
        assert!(
            read(&f, 4)
                .unwrap_err()
                .to_string()
                .contains("larger than 4")
        );
        assert!(read(&d, 10).unwrap_err().to_string().contains("directory"));
        assert!(
            read(Path::new("/dev/zero"), 10)
                .unwrap_err()
                .to_string()
                .contains("device")
        );
        let fifo = d.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(read(&fifo, 10).unwrap_err().to_string().contains("FIFO"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn writes_replace_atomically_and_never_follow_a_planted_link() {
        let d = dir("write");
        let target = d.join("state");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // A symlink where the state file goes, and at the old predictable temp name.
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        std::os::unix::fs::symlink(&victim, d.join("state.tmp")).unwrap();
        write(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 3, "no temp file left behind");
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A reader never sees a file half written, or empty, while it is replaced again and
    /// again: each read is the whole old content or the whole new.
    #[test]
    fn a_reader_sees_the_old_content_or_the_new_never_a_part() {
        let d = dir("atomic");
        let target = d.join("state");
        let size = 256 << 10;
        write(&target, &vec![b'a'; size]).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (target, done) = (target.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..200 {
                    let fill = if i % 2 == 0 { b'b' } else { b'a' };
                    write(&target, &vec![fill; size]).unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let mut reads = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let seen = std::fs::read(&target).unwrap();
            assert_eq!(seen.len(), size, "read {reads}: a part of the file");
            assert!(
                seen.iter().all(|b| *b == seen[0]),
                "read {reads}: two contents mixed"
            );
            reads += 1;
        }
        writer.join().unwrap();
        assert!(reads > 0);
        // A bare file name is written in the working directory, whose entry is synced too.
        assert_eq!(parent(Path::new("state")), Path::new("."));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
