//! The library's error type: one variant per stage, each carrying what a user needs to act on it
//! (which file, which model, which tensor, expected vs found).
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Everything that can go wrong in fovea. Messages are single lines meant for a user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input file does not exist or cannot be read.
    #[error("{path}: no such file")]
    FileNotFound { path: PathBuf },

    /// FFmpeg could not open the input as a media file.
    #[error("{path}: not a video or image FFmpeg can read ({reason})")]
    NotMedia { path: PathBuf, reason: String },

    /// The file opened but has no video stream.
    #[error("{path}: no video stream (streams found: {found})")]
    NoVideoStream { path: PathBuf, found: String },

    /// The video stream uses a codec this FFmpeg cannot decode, or no frame could be decoded.
    #[error("{path}: cannot decode video stream #{stream} ({codec}): {reason}")]
    Undecodable { path: PathBuf, stream: usize, codec: String, reason: String },

    /// Reading or decoding stopped with an error after `frames_decoded` frames.
    #[error("{path}: corrupt or truncated after frame {frames_decoded} (pts {pts:.3} s): {reason}")]
    Corrupt { path: PathBuf, frames_decoded: u64, pts: f64, reason: String },

    /// A sampling or other option has a value that cannot be used.
    #[error("invalid option {option}: {reason}")]
    InvalidOption { option: &'static str, reason: String },

    /// A runtime library could not be found or loaded: ONNX Runtime's, or the NVIDIA driver's;
    /// the reason names which and what to do.
    #[error("{reason}")]
    RuntimeMissing { reason: String },

    /// A manifest file is missing, not TOML, or has a wrong or missing field.
    #[error("manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },

    /// The model does not match what its manifest says.
    #[error("model {path}: {reason}")]
    ModelMismatch { path: PathBuf, reason: String },

    /// ONNX Runtime failed while loading or running a model.
    #[error("model {path}: ONNX Runtime: {reason}")]
    Inference { path: PathBuf, reason: String },

    /// An input file other than media (boxes, configuration) is malformed.
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },

    /// Writing results failed.
    #[error("{path}: cannot write output: {source}")]
    Output { path: PathBuf, source: std::io::Error },

    /// A pipeline thread stopped unexpectedly.
    #[error("pipeline: {0}")]
    Pipeline(String),

    /// The caller stopped the run (a cancelled job, a sink that asked to stop); what came before
    /// is kept.
    #[error("cancelled")]
    Cancelled,

    /// The call is not valid in the object's state (e.g. a frame sent after its stream ended).
    #[error("{0}")]
    State(String),

    /// A requested device, provider or feature cannot be had in this build or on this machine.
    #[error("{what}: {reason}")]
    Unsupported { what: &'static str, reason: String },

    /// The GPU failed: out of memory, or an error from the driver or a kernel launch.
    #[error("GPU: {0}")]
    Device(String),
}

/// Result with fovea's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The text of a configuration file (rules, policy, engine configuration, encoder manifest): a
/// missing file is [`Error::FileNotFound`], one that cannot be read an [`Error::Manifest`].
pub(crate) fn read_config(path: &std::path::Path) -> Result<String> {
    if !path.exists() {
        return Err(Error::FileNotFound { path: path.to_path_buf() });
    }
    std::fs::read_to_string(path).map_err(|e| Error::Manifest { path: path.to_path_buf(), reason: e.to_string() })
}

/// The JSON field of an option checked under its command-line flag: options given as JSON (the
/// C ABI, Python, Go, the service) are reported under the names their callers wrote.
const JSON_NAMES: &[(&str, &str)] = &[
    ("--batch", "batch"),
    ("--batch-rois", "batch_rois"),
    ("--classes", "classes"),
    ("--decoders", "decoders"),
    ("--duration", "duration"),
    ("--every", "sample.every"),
    ("--frames", "sample.frames"),
    ("--image-format", "image_format"),
    ("--max", "max"),
    ("--max-fps", "max_fps"),
    ("--min-gap", "min_gap"),
    ("--nms-iou", "nms_iou"),
    ("--score", "score"),
    ("--start", "start"),
    ("--stride", "stride"),
    ("--threads", "threads"),
    ("--tiles", "tiles"),
    ("--workers", "workers"),
];

impl Error {
    /// This error with an option named as a JSON field instead of a command-line flag.
    pub fn for_json(self) -> Self {
        match self {
            Error::InvalidOption { option, reason } => {
                let option = JSON_NAMES.iter().find(|(flag, _)| *flag == option).map_or(option, |(_, field)| field);
                Error::InvalidOption { option, reason }
            }
            e => e,
        }
    }
}
