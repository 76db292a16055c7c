//! Guarded inputs: what FFmpeg may open on behalf of a source that somebody else named (a job of
//! `fovea serve`). A caller registers a path with an [`Access`] ([`guard`]); while the returned
//! [`Guarded`] lives, every open of that path goes through FFmpeg with
//! - a protocol white list (`file` for a local file; the network protocols for a URL),
//! - a demuxer white list (single-file containers; HLS and RTSP only for network sources), so a
//!   playlist, concat list or manifest cannot name other files,
//! - an `io_open` callback that checks every URL the demuxer opens (a local file: nothing but
//!   itself; a network source: every URL's host against the caller's [`UrlRules`], so an HLS
//!   playlist cannot send its segments to another host), and
//! - for network sources, the caller's I/O timeout.
//!
//! Unregistered paths open as before (the CLI reads whatever FFmpeg reads).

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What a guarded source may open.
#[derive(Debug, Clone)]
pub enum Access {
    /// A local file the caller opened itself (typically `/proc/self/fd/N` of a descriptor it
    /// holds): that one file, read by a single-file demuxer.
    File,
    /// A network source: every URL opened (the source's and any nested one) must pass the rules.
    Network { rules: Arc<UrlRules>, timeout: Duration },
}

/// Hosts and networks a network source may reach (`fovea serve --allow-url`).
///
/// A URL is admitted when every address its host resolves to is admitted: an address inside a
/// listed network (or equal to a listed address) always is; any other loopback, private,
/// link-local, shared, multicast or unspecified address never is; a public address is when the
/// URL's host name is listed (`example.com`, or `*.example.com` for its sub-domains) or the rules
/// hold `public` (any public host).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlRules {
    nets: Vec<ipnet::IpNet>,
    names: Vec<String>,
    suffixes: Vec<String>,
    public: bool,
}

/// The URL schemes a network source may use.
pub const NETWORK_SCHEMES: [&str; 6] = ["http", "https", "rtsp", "rtsps", "rtmp", "srt"];

impl UrlRules {
    /// Parses the rules, one per item: an address (`10.0.0.7`, `::1`), a network
    /// (`10.0.0.0/8`), a host name (`cams.example.com`), a domain's sub-domains
    /// (`*.example.com`), or `public`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, String> {
        let mut r = UrlRules::default();
        for item in items {
            let s = item.as_ref().trim().to_ascii_lowercase();
            if s.is_empty() {
                return Err("an empty rule (expected an address, a network, a host name, *.domain or public)".into());
            }
            if s == "public" {
                r.public = true;
            } else if let Ok(n) = s.parse::<ipnet::IpNet>() {
                r.nets.push(n.trunc());
            } else if let Ok(a) = s.parse::<IpAddr>() {
                r.nets.push(ipnet::IpNet::from(a));
            } else if let Some(d) = s.strip_prefix("*.") {
                if !valid_host_name(d) {
                    return Err(format!("'{s}': expected *. and a domain name"));
                }
                r.suffixes.push(format!(".{d}"));
            } else if valid_host_name(&s) {
                r.names.push(s);
            } else {
                return Err(format!("'{s}': expected an address, a network (a.b.c.d/n), a host name, *.domain or public"));
            }
        }
        Ok(r)
    }

    /// Whether no URL at all is admitted.
    pub fn is_empty(&self) -> bool {
        *self == UrlRules::default()
    }

    /// Whether `url` may be opened; Err says why not (for the log, never for a client).
    pub fn admit(&self, url: &str) -> Result<(), String> {
        let (scheme, host, port) = split_url(url).ok_or_else(|| format!("cannot read the host of '{url}'"))?;
        if !NETWORK_SCHEMES.contains(&scheme.as_str()) {
            return Err(format!("scheme '{scheme}' is not a network source's"));
        }
        let named = self.names.contains(&host) || self.suffixes.iter().any(|d| host.ends_with(d.as_str()));
        let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(a) => vec![a],
            Err(_) => (host.as_str(), port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.map(|a| a.ip()).collect(),
        };
        if addrs.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }
        for a in addrs {
            let a = canonical(a);
            if self.nets.iter().any(|n| n.contains(&a)) {
                continue;
            }
            if is_special(a) {
                return Err(format!("{host} ({a}) is a loopback, private or otherwise local address that --allow-url does not list"));
            }
            if !(named || self.public) {
                return Err(format!("{host} ({a}) is not listed in --allow-url"));
            }
        }
        Ok(())
    }
}

fn valid_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

/// Loopback, private, link-local, shared (CGNAT), multicast, broadcast, unspecified,
/// documentation and unique-local addresses: nothing a public URL should reach.
fn is_special(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_multicast()
                || v.is_broadcast()
                || v.is_unspecified()
                || v.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            v.is_loopback()
                || v.is_unspecified()
                || v.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b)
        }
    }
}

/// The scheme (lower case), host (lower case, without brackets) and port of a URL; nested
/// schemes such as HLS's `crypto+https://` count as their inner one.
pub fn split_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let mut scheme = scheme.to_ascii_lowercase();
    for prefix in ["crypto+", "crypto:"] {
        if let Some(s) = scheme.strip_prefix(prefix) {
            scheme = s.to_string();
        }
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, after) = r.split_once(']')?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => match scheme.as_str() {
            "https" | "rtsps" => 443,
            "rtsp" => 554,
            "rtmp" => 1935,
            _ => 80,
        },
    };
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// A registration made by [`guard`]; the path opens unguarded again when it is dropped.
#[derive(Debug)]
pub struct Guarded {
    key: PathBuf,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        #[allow(unused_variables)]
        let access = registry().lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
        // Contexts opened under this registration are closed by now (their decoders are gone
        // with the run); forget them.
        #[cfg(feature = "video")]
        if let Some(a) = access {
            contexts().lock().unwrap_or_else(|p| p.into_inner()).map.retain(|_, g| !Arc::ptr_eq(&g.access, &a));
        }
    }
}

/// Registers `path`: until the returned value is dropped, opening it is guarded by `access`.
pub fn guard(path: PathBuf, access: Access) -> Guarded {
    registry().lock().unwrap_or_else(|p| p.into_inner()).insert(path.clone(), Arc::new(access));
    Guarded { key: path }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Access>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Arc<Access>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// The access a registered path is opened with, if any.
#[cfg(feature = "video")]
pub(super) fn lookup(path: &std::path::Path) -> Option<Arc<Access>> {
    registry().lock().unwrap_or_else(|p| p.into_inner()).get(path).cloned()
}

#[cfg(feature = "video")]
/// Single-file demuxers (FFmpeg's names): containers, elementary streams and still images.
/// Missing on purpose: hls, dash, concat, ffconcat, webm_dash_manifest, imf, sdp, tee and the
/// like, which open files or hosts their input names.
pub(super) const FILE_DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,live_flv,h264,hevc,mpeg,mpegvideo,\
m4v,ogg,asf,nut,ivf,obu,av1,vc1,dirac,gif,mjpeg,mxf,wtv,yuv4mpegpipe,image2,png_pipe,jpeg_pipe,bmp_pipe,webp_pipe,tiff_pipe,\
gif_pipe,pgm_pipe,ppm_pipe,dv,rm,swf,vob,mpegps,y4m";

#[cfg(feature = "video")]
/// Network demuxers added to [`FILE_DEMUXERS`] for a network source.
pub(super) const NETWORK_DEMUXERS: &str = "hls,rtsp";

#[cfg(feature = "video")]
/// Protocols a network source may use (TLS and TCP under them; `crypto` for encrypted HLS).
pub(super) const NETWORK_PROTOCOLS: &str = "http,https,tls,tcp,crypto,rtmp,rtmps,rtsp,rtsps,srt";

#[cfg(feature = "video")]
/// The state the `io_open` callback needs for one FFmpeg context.
struct CtxGuard {
    access: Arc<Access>,
    /// The only URL a local file's context may open: its own.
    main: String,
}

#[cfg(feature = "video")]
type IoOpen = unsafe extern "C" fn(
    *mut ffmpeg_next::ffi::AVFormatContext,
    *mut *mut ffmpeg_next::ffi::AVIOContext,
    *const std::ffi::c_char,
    std::ffi::c_int,
    *mut *mut ffmpeg_next::ffi::AVDictionary,
) -> std::ffi::c_int;

#[cfg(feature = "video")]
/// FFmpeg's own `io_open` (the one every new context starts with) and the guarded contexts.
struct Contexts {
    default_open: Option<IoOpen>,
    map: HashMap<usize, Arc<CtxGuard>>,
}

#[cfg(feature = "video")]
fn contexts() -> &'static Mutex<Contexts> {
    static C: OnceLock<Mutex<Contexts>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(Contexts { default_open: None, map: HashMap::new() }))
}

#[cfg(feature = "video")]
/// A new FFmpeg context for a source guarded by `access` (`main`: its own URL): its `io_open` is
/// [`guarded_io_open`], which finds the guard by the context's address. Null when FFmpeg cannot
/// allocate one. A context whose open fails must be forgotten ([`forget_context`]).
pub(super) fn guarded_context(access: Arc<Access>, main: String) -> *mut ffmpeg_next::ffi::AVFormatContext {
    // SAFETY: avformat_alloc_context returns a new context (or null) that nothing else holds
    // yet; setting its io_open before it is opened is what FFmpeg's API allows.
    unsafe {
        let ps = ffmpeg_next::ffi::avformat_alloc_context();
        if !ps.is_null() {
            let mut c = contexts().lock().unwrap_or_else(|p| p.into_inner());
            if c.default_open.is_none() {
                c.default_open = (*ps).io_open;
            }
            c.map.insert(ps as usize, Arc::new(CtxGuard { access, main }));
            (*ps).io_open = Some(guarded_io_open);
        }
        ps
    }
}

#[cfg(feature = "video")]
/// Forgets the context that had address `key` (FFmpeg freed it when its open failed).
pub(super) fn forget_context(key: usize) {
    contexts().lock().unwrap_or_else(|p| p.into_inner()).map.remove(&key);
}

#[cfg(feature = "video")]
impl CtxGuard {
    /// Whether the context may open `url` (its source, or a URL its demuxer names).
    fn admits(&self, url: &str) -> Result<(), String> {
        match &*self.access {
            Access::File => {
                if url == self.main {
                    Ok(())
                } else {
                    Err(format!("a guarded file may open nothing but itself, not '{url}'"))
                }
            }
            Access::Network { rules, .. } => rules.admit(url),
        }
    }
}

#[cfg(feature = "video")]
/// The guarded contexts' `io_open`: checks the URL, then calls FFmpeg's own.
///
/// # Safety
/// Called by FFmpeg with its context and arguments for its default `io_open`.
unsafe extern "C" fn guarded_io_open(
    s: *mut ffmpeg_next::ffi::AVFormatContext,
    pb: *mut *mut ffmpeg_next::ffi::AVIOContext,
    url: *const std::ffi::c_char,
    flags: std::ffi::c_int,
    options: *mut *mut ffmpeg_next::ffi::AVDictionary,
) -> std::ffi::c_int {
    let refused = -libc::EACCES;
    if url.is_null() {
        return refused;
    }
    // SAFETY: FFmpeg passes a NUL-terminated URL.
    let text = unsafe { std::ffi::CStr::from_ptr(url) }.to_string_lossy().into_owned();
    let verdict = std::panic::catch_unwind(|| {
        let c = contexts().lock().unwrap_or_else(|p| p.into_inner());
        let guard = c.map.get(&(s as usize)).cloned();
        let open = c.default_open;
        drop(c);
        match (guard, open) {
            (Some(g), Some(open)) => g.admits(&text).map(|()| open),
            _ => Err("no guard is registered for this context".into()),
        }
    });
    match verdict {
        Ok(Ok(open)) => {
            // SAFETY: FFmpeg's own io_open with the arguments FFmpeg gave us.
            unsafe { open(s, pb, url, flags, options) }
        }
        Ok(Err(why)) => {
            log::warn!("refused to open '{text}' for a guarded source: {why}");
            refused
        }
        Err(_) => refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_admit_listed_networks_and_names_and_refuse_local_addresses() {
        let none = UrlRules::parse::<&str>(&[]).unwrap();
        assert!(none.is_empty());
        assert!(none.admit("http://8.8.8.8/a.mp4").is_err(), "nothing is listed");
        let public = UrlRules::parse(&["public"]).unwrap();
        assert!(public.admit("http://8.8.8.8/a.mp4").is_ok());
        for local in [
            "http://127.0.0.1/a",
            "http://127.0.0.2:8080/a",
            "http://[::1]/a",
            "http://[::ffff:127.0.0.1]/a",
            "http://10.1.2.3/a",
            "http://192.168.0.1/a",
            "http://172.16.0.1/a",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/a",
            "http://0.0.0.0/a",
            "http://[fd00::1]/a",
            "http://[fe80::1]/a",
            "rtsp://user:pw@10.0.0.1:554/cam",
            "http://localhost/a",
        ] {
            assert!(public.admit(local).is_err(), "{local}");
        }
        let nets = UrlRules::parse(&["10.0.0.0/8", "127.0.0.1", "cams.example.com", "*.cdn.example.com"]).unwrap();
        assert!(nets.admit("rtsp://user:pw@10.9.8.7:554/cam").is_ok());
        assert!(nets.admit("http://127.0.0.1:9/a").is_ok());
        assert!(nets.admit("http://127.0.0.2/a").is_err());
        assert!(nets.admit("crypto+http://127.0.0.1/seg.ts").is_ok());
        assert!(nets.admit("file:///etc/passwd").is_err());
        assert!(nets.admit("gopher://127.0.0.1/").is_err());
        assert!(nets.admit("8.8.8.8").is_err(), "not a URL");
        for bad in ["", "10.0.0.0/33", "a b", "*.", "exa_mple.com"] {
            assert!(UrlRules::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_split_into_scheme_host_and_port() {
        assert_eq!(split_url("HTTP://User@Example.COM:81/x?y"), Some(("http".into(), "example.com".into(), 81)));
        assert_eq!(split_url("rtsp://[::1]/c"), Some(("rtsp".into(), "::1".into(), 554)));
        assert_eq!(split_url("https://a.b"), Some(("https".into(), "a.b".into(), 443)));
        assert_eq!(split_url("http://a:99999/"), None);
        assert_eq!(split_url("http:///x"), None);
    }
}
