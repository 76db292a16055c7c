//! What a job may read: the one resolver every path and URL a client names goes through.
//!
//! - A path is relative to the media root (or absolute inside it); `..` is refused. It is checked
//!   when the job is submitted (an escape is a 400) and opened once when the job runs, with
//!   `openat2(RESOLVE_BENEATH)` from a descriptor of the root: symbolic links are followed only
//!   while they stay under the root, in one step, so a link planted after the check cannot lead
//!   out. The job then reads the descriptor it holds (`/proc/self/fd/N`), guarded so that FFmpeg
//!   opens nothing else through it ([`crate::video::guard`]).
//! - A URL is refused unless the service allows URLs (`--allow-url`); its host must pass the
//!   rules when submitted and again at every open, including each URL a playlist names.
//! - A classifier may also be one of fovea's own models, by name ([`Access::own_model`]).
#![forbid(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::video::guard::{self, Guarded, UrlRules};

/// A job's input as checked at submission.
#[derive(Debug, Clone, PartialEq)]
pub enum Named {
    /// A path relative to the media root.
    File(PathBuf),
    /// A network URL whose host the rules admitted.
    Url(String),
}

/// A file or URL opened for a run: the path to give the pipeline, valid while this lives.
#[derive(Debug)]
pub struct Opened {
    path: PathBuf,
    _fd: Option<OwnedFd>,
    _guard: Option<Guarded>,
}

impl Opened {
    /// The path the pipeline opens (`/proc/self/fd/N` for a file, the URL for a network source).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The service's resolver: see the module documentation.
#[derive(Debug)]
pub struct Access {
    root: PathBuf,
    root_fd: OwnedFd,
    urls: Option<Arc<UrlRules>>,
    net_timeout: Duration,
}

/// Why a file cannot be opened at run time (the job's error names the client's path).
#[derive(Debug)]
pub enum OpenError {
    Missing,
    Outside,
    NotAFile,
    Other(std::io::Error),
}

impl Access {
    /// Opens the media root (it must be a folder); `urls`: the network sources allowed (None:
    /// none), and their I/O timeout.
    pub fn new(root: &Path, urls: Option<UrlRules>, net_timeout: Duration) -> std::io::Result<Self> {
        let root = root.canonicalize()?;
        let root_fd = rustix::fs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Self { root, root_fd, urls: urls.map(Arc::new), net_timeout })
    }

    /// How long a network source may go without a frame (`--source-timeout`).
    pub fn source_timeout(&self) -> Duration {
        self.net_timeout
    }

    /// Checks a source or file the client named (`what` names it in the reasons): a path under
    /// the media root, or (when `url_ok` and the service allows URLs) an admitted URL.
    pub fn check(&self, what: &str, s: &str, url_ok: bool) -> Result<Named, String> {
        if s.is_empty() || s.len() > 4096 || s.contains('\0') {
            return Err(format!("{what}: expected a path under the media root or a URL of at most 4096 bytes"));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !url_ok {
                return Err(format!("{what} {s}: expected a path under the media root, not a URL"));
            }
            let scheme = scheme.to_ascii_lowercase();
            if !guard::NETWORK_SCHEMES.contains(&scheme.as_str()) {
                return Err(format!("{what}: URL scheme '{scheme}' is not served ({} are)", guard::NETWORK_SCHEMES.join(", ")));
            }
            let Some(rules) = &self.urls else {
                return Err(format!("{what}: URL sources are off in this service (its operator enables them with --allow-url)"));
            };
            // The detail (resolved, refused, which address) goes to the log only: a client must
            // not learn which internal hosts exist.
            return match rules.admit(s) {
                Ok(()) => Ok(Named::Url(s.to_string())),
                Err(why) => {
                    log::warn!("{what} {s} refused: {why}");
                    Err(format!("{what}: source unavailable (not allowed by this service's --allow-url)"))
                }
            };
        }
        let p = Path::new(s);
        if p.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(format!("{what} {s}: '..' is not allowed; give a path under the media root"));
        }
        let rel = if p.is_absolute() {
            match p.strip_prefix(&self.root) {
                Ok(r) => r.to_path_buf(),
                Err(_) => return Err(format!("{what} {s}: outside the media root {}", self.root.display())),
            }
        } else {
            p.to_path_buf()
        };
        let rel: PathBuf = rel.components().filter(|c| !matches!(c, Component::CurDir)).collect();
        if rel.as_os_str().is_empty() {
            return Err(format!("{what} {s}: names the media root itself, not a file in it"));
        }
        // Checked now for a clear 400; opened again (the same way, atomically) when the job runs.
        match self.open_beneath(&rel) {
            Ok(_) | Err(OpenError::Missing) | Err(OpenError::Other(_)) => Ok(Named::File(rel)),
            Err(OpenError::Outside) => Err(format!("{what} {s}: outside the media root {}", self.root.display())),
            Err(OpenError::NotAFile) => Err(format!("{what} {s}: not a regular file")),
        }
    }

    /// Opens a checked name for a run: a file once, beneath the root, guarded; a URL checked
    /// again and guarded.
    pub fn open(&self, named: &Named) -> Result<Opened, OpenError> {
        match named {
            Named::File(rel) => {
                let fd = self.open_beneath(rel)?;
                let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                let g = guard::guard(path.clone(), guard::Access::File);
                Ok(Opened { path, _fd: Some(fd), _guard: Some(g) })
            }
            Named::Url(u) => {
                let rules = self.urls.clone().ok_or(OpenError::Outside)?;
                let path = PathBuf::from(u);
                let g = guard::guard(path.clone(), guard::Access::Network { rules, timeout: self.net_timeout });
                Ok(Opened { path, _fd: None, _guard: Some(g) })
            }
        }
    }

    /// `rel` opened read-only beneath the root; it must be a regular file (a FIFO or device
    /// could hang a runner).
    fn open_beneath(&self, rel: &Path) -> Result<OwnedFd, OpenError> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
        let fd = rustix::fs::openat2(&self.root_fd, rel, flags, Mode::empty(), ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS)
            .map_err(|e| match e {
                rustix::io::Errno::NOENT => OpenError::Missing,
                rustix::io::Errno::XDEV | rustix::io::Errno::LOOP => OpenError::Outside,
                e => OpenError::Other(e.into()),
            })?;
        let st = rustix::fs::fstat(&fd).map_err(|e| OpenError::Other(e.into()))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(OpenError::NotAFile);
        }
        // Reads block as usual from here on.
        rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(|e| OpenError::Other(e.into()))?;
        Ok(fd)
    }

    /// One of fovea's own models by name (`mobilenetv2.toml`, or without `.toml`): a manifest in
    /// fovea's model homes, named by a plain file name (no folder, no `..`).
    pub fn own_model(name: &str) -> Option<PathBuf> {
        if name.is_empty()
            || name.len() > 255
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            || name.starts_with('.')
        {
            return None;
        }
        let file = if name.ends_with(".toml") { name.to_string() } else { format!("{name}.toml") };
        crate::infer::defaults::in_model_homes(&Path::new("engines").join(file))
    }
}

impl OpenError {
    /// The reason for a client, naming the file as the client did.
    pub fn for_client(&self, name: &str) -> String {
        match self {
            OpenError::Missing => format!("{name}: no such file"),
            OpenError::Outside => format!("{name}: outside the media root"),
            OpenError::NotAFile => format!("{name}: not a regular file"),
            OpenError::Other(e) => {
                log::warn!("{name}: cannot open: {e}");
                format!("{name}: cannot be opened")
            }
        }
    }
}
