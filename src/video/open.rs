//! Opening an input: FFmpeg set-up, the path as bytes, the stream's description, and the
//! container's index (to notice renumbered packets after damaged data).

use std::path::Path;

use ffmpeg::{codec, format, media};
use ffmpeg_next as ffmpeg;

use super::guard::{self, Access};
use super::{rotate, VideoInfo};
use crate::error::{Error, Result};

pub(super) fn av_error(e: ffmpeg::Error) -> String {
    e.to_string()
}

/// Initialises FFmpeg once and quietens its own logging (fovea reports errors itself;
/// set `FOVEA_FFMPEG_LOG=1` to see FFmpeg's messages).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::format::network::init();
        let level = if std::env::var_os("FOVEA_FFMPEG_LOG").is_some() {
            ffmpeg::util::log::Level::Warning
        } else {
            ffmpeg::util::log::Level::Quiet
        };
        ffmpeg::util::log::set_level(level);
    });
}

/// Opens `path` and describes its best video stream, without decoding.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let input = open_input(path)?;
    stream_info(path, &input)
}

/// Whether `path` names a network source FFmpeg reads (`http(s)://`, `rtsp(s)://`, `rtmp://`,
/// `srt://`; HLS playlists over HTTP too), not a file.
pub fn is_url(path: &Path) -> bool {
    const SCHEMES: [&str; 6] = ["http://", "https://", "rtsp://", "rtsps://", "rtmp://", "srt://"];
    path.to_str().is_some_and(|s| SCHEMES.iter().any(|p| s.len() > p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())))
}

/// FFmpeg options for a network source: reconnects with backoff of at most `max_delay_s` (HTTP,
/// also for each HLS segment), RTSP over TCP, and an I/O timeout so that a dead source is an
/// error, not a hang.
fn network_options(path: &Path, timeout: std::time::Duration, max_delay_s: u32) -> ffmpeg::Dictionary<'static> {
    let mut d = ffmpeg::Dictionary::new();
    let us = timeout.as_micros().clamp(1, i64::MAX as u128).to_string();
    let s = path.to_string_lossy().to_ascii_lowercase();
    if s.starts_with("rtsp") {
        d.set("rtsp_transport", "tcp");
        d.set("timeout", &us);
    } else {
        d.set("reconnect", "1");
        d.set("reconnect_streamed", "1");
        d.set("reconnect_on_network_error", "1");
        d.set("reconnect_delay_max", &max_delay_s.to_string());
        d.set("rw_timeout", &us);
    }
    d
}

pub(super) fn open_input(path: &Path) -> Result<format::context::Input> {
    init();
    let url = is_url(path);
    let guarded = guard::lookup(path);
    if let Some(Access::Network { rules, .. }) = guarded.as_deref() {
        // RTSP and other demuxers that connect by themselves do not go through io_open: the
        // source's own URL is checked here, every nested one in the callback.
        let text = path.to_string_lossy();
        rules.admit(&text).map_err(|why| Error::Input { path: path.to_path_buf(), reason: format!("not allowed: {why}") })?;
    }
    if !url && !path.exists() {
        return Err(Error::FileNotFound { path: path.to_path_buf() });
    }
    // The path's bytes as they are (ffmpeg-next's own `format::input` panics on a path that is not
    // UTF-8): Linux paths are bytes, and FFmpeg takes bytes.
    use std::os::unix::ffi::OsStrExt;
    let not_media = |reason: String| Error::NotMedia { path: path.to_path_buf(), reason };
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| not_media("the path contains a NUL byte".into()))?;
    let dict = match guarded.as_deref() {
        Some(Access::File) => {
            let mut d = ffmpeg::Dictionary::new();
            d.set("protocol_whitelist", "file");
            d.set("format_whitelist", guard::FILE_DEMUXERS);
            d
        }
        // The service's source timeout, and short reconnect delays within it.
        Some(Access::Network { timeout, .. }) => {
            let mut d = network_options(path, *timeout, 2);
            d.set("protocol_whitelist", guard::NETWORK_PROTOCOLS);
            d.set("format_whitelist", &format!("{},{}", guard::FILE_DEMUXERS, guard::NETWORK_DEMUXERS));
            d
        }
        None if url => network_options(path, std::time::Duration::from_secs(15), 8),
        None => ffmpeg::Dictionary::new(),
    };
    // SAFETY: disown hands us the dictionary's ownership; it is freed after the open below.
    let mut opts = unsafe { dict.disown() };
    // `ps` is null (FFmpeg allocates the context) or, for a guarded source, one from
    // `guard::guarded_context`, forgotten again when the open fails (FFmpeg then frees it).
    // SAFETY: the path is NUL-terminated and outlives the call; `opts` is a dictionary we own,
    // which the call may replace and which is freed right after it. On success the context is
    // owned by the returned `Input` (closed on drop); on a stream-info failure it is closed here.
    unsafe {
        let mut ps = match &guarded {
            Some(access) => guard::guarded_context(access.clone(), path.to_string_lossy().into_owned()),
            None => std::ptr::null_mut(),
        };
        if guarded.is_some() && ps.is_null() {
            ffmpeg::ffi::av_dict_free(&mut opts);
            return Err(not_media("out of memory".into()));
        }
        let key = ps as usize;
        let e = ffmpeg::ffi::avformat_open_input(&mut ps, c_path.as_ptr(), std::ptr::null_mut(), &mut opts);
        ffmpeg::ffi::av_dict_free(&mut opts);
        if e < 0 {
            if guarded.is_some() {
                guard::forget_context(key);
                // Refused by the white lists (EINVAL: a demuxer or protocol not on them) or by
                // the io_open check (EACCES).
                if e == -libc::EINVAL || e == -libc::EACCES {
                    return Err(not_media(format!(
                        "{}; this source may be read only as one file in a single-file container (playlists, \
                         concat lists and manifests that name other files or hosts are refused)",
                        av_error(ffmpeg::Error::from(e))
                    )));
                }
            }
            return Err(not_media(av_error(ffmpeg::Error::from(e))));
        }
        let e = ffmpeg::ffi::avformat_find_stream_info(ps, std::ptr::null_mut());
        if e < 0 {
            ffmpeg::ffi::avformat_close_input(&mut ps);
            return Err(not_media(av_error(ffmpeg::Error::from(e))));
        }
        Ok(format::context::Input::wrap(ps))
    }
}

/// Whether `path` is a FIFO, socket or device: it yields its data once, so it must be opened
/// once (no probe before decoding). Missing paths and regular files are not.
pub fn reads_once(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    if is_url(path) {
        return true;
    }
    std::fs::metadata(path).is_ok_and(|m| {
        let t = m.file_type();
        t.is_fifo() || t.is_socket() || t.is_char_device() || t.is_block_device()
    })
}

/// The container's index of the stream: byte position of each indexed packet -> its timestamp.
pub(super) fn index_by_position(input: &format::context::Input, stream: usize) -> std::collections::HashMap<i64, i64> {
    let mut map = std::collections::HashMap::new();
    let Some(st) = input.stream(stream) else { return map };
    // SAFETY: the stream pointer is live while `input` is; entries are read before any other
    // call on the context, as avformat_index_get_entry requires.
    unsafe {
        let ptr = st.as_ptr() as *mut ffmpeg::ffi::AVStream;
        let n = ffmpeg::ffi::avformat_index_get_entries_count(ptr);
        for i in 0..n {
            let e = ffmpeg::ffi::avformat_index_get_entry(ptr, i);
            if let Some(e) = e.as_ref() {
                if e.pos >= 0 && e.timestamp != ffmpeg::ffi::AV_NOPTS_VALUE {
                    map.insert(e.pos, e.timestamp);
                }
            }
        }
    }
    map
}

/// The codec's name, or for a codec FFmpeg does not know, its FourCC tag.
fn codec_name(params: &codec::Parameters) -> String {
    let name = params.id().name();
    if params.id() != codec::Id::None {
        return name.to_string();
    }
    // SAFETY: the parameters pointer is live for `params`' lifetime; codec_tag is a plain field.
    let tag = unsafe { (*params.as_ptr()).codec_tag };
    let fourcc: String = tag.to_le_bytes().iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' }).collect();
    format!("unknown codec, FourCC '{fourcc}'")
}

pub(super) fn stream_info(path: &Path, input: &format::context::Input) -> Result<VideoInfo> {
    let stream = input.streams().best(media::Type::Video).ok_or_else(|| {
        let found: Vec<String> = input.streams().map(|s| format!("{:?} {}", s.parameters().medium(), s.parameters().id().name())).collect();
        Error::NoVideoStream {
            path: path.to_path_buf(),
            found: if found.is_empty() { "none".into() } else { found.join(", ").to_lowercase() },
        }
    })?;
    let params = stream.parameters();
    // SAFETY: the parameters pointer is live for `params`' lifetime; width/height are plain fields.
    let (coded_w, coded_h) = unsafe {
        let p = params.as_ptr();
        ((*p).width.max(0) as u32, (*p).height.max(0) as u32)
    };
    let rotation = stream
        .side_data()
        .find(|d| d.kind() == codec::packet::side_data::Type::DisplayMatrix && d.data().len() >= 36)
        // SAFETY: display matrix side data is nine int32 values (checked length 36 bytes).
        .map(|d| rotate::display_rotation(unsafe { ffmpeg::ffi::av_display_rotation_get(d.data().as_ptr() as *const i32) }))
        .unwrap_or(0);
    let (width, height) = if rotation % 180 == 90 { (coded_h, coded_w) } else { (coded_w, coded_h) };
    let rate = stream.avg_frame_rate();
    let fps = (rate.numerator() > 0 && rate.denominator() > 0).then(|| f64::from(rate));
    let tb = f64::from(stream.time_base());
    let duration = if stream.duration() > 0 {
        Some(stream.duration() as f64 * tb)
    } else if input.duration() > 0 {
        Some(input.duration() as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE))
    } else {
        None
    };
    Ok(VideoInfo {
        path: path.to_path_buf(),
        container: input.format().name().to_string(),
        codec: codec_name(&params),
        stream_index: stream.index(),
        width,
        height,
        rotation,
        fps,
        duration,
        declared_frames: (stream.frames() > 0).then_some(stream.frames() as u64),
    })
}
