//! Real phones for end-to-end tests: Debian's baresip 1.0.0 (package
//! `baresip-core`), headless (no `stdio` UI), auto-answering, playing an
//! 8 kHz WAV tone as its microphone (`aufile`) and recording what it sends
//! and receives (`sndfile`), scripted over `ctrl_tcp` (netstring JSON
//! commands, events back) and `cons` (key presses over UDP: digits in a
//! call are RFC 4733 DTMF). SIP trace (`-s`) on stdout, so a test can see
//! every message the phone sent and received. Killed on drop.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::free_port;

const BARESIP: &str = "/usr/bin/baresip";

/// One phone's account and media.
pub struct PhoneSpec<'a> {
    /// SIP user and digest username.
    pub user: &'a str,
    /// Digest password.
    pub password: &'a str,
    /// The registrar (Locus) address.
    pub registrar: SocketAddr,
    /// The IP the phone binds to and writes in its SDP.
    pub ip: &'a str,
    /// The WAV (8 kHz, mono, 16 bit) played as microphone.
    pub source_wav: &'a Path,
}

/// A running baresip.
pub struct Baresip {
    child: Child,
    dir: tempfile::TempDir,
    out: Arc<Mutex<Vec<u8>>>,
    /// The SIP address it listens on (UDP, and TCP).
    pub sip: SocketAddr,
    /// Its `ctrl_tcp` connection.
    pub ctrl: Ctrl,
    /// The user it registers.
    pub user: String,
    /// Its `cons` UDP address (key presses).
    keys: SocketAddr,
}

impl Baresip {
    /// Starts baresip with its own config directory and waits (20 s at
    /// most) until it says it is ready and `ctrl_tcp` accepts. Ports are
    /// picked free; a start that loses a port race is retried.
    pub fn start(spec: &PhoneSpec<'_>) -> Baresip {
        assert!(
            Path::new(BARESIP).exists(),
            "{BARESIP} not found: install the Debian package baresip-core (scripts/test does)"
        );
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(spec) {
                Ok(b) => return b,
                Err(log) => last = log,
            }
        }
        panic!("baresip for {} did not start:\n{last}", spec.user);
    }

    fn try_start(spec: &PhoneSpec<'_>) -> Result<Baresip, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        // baresip listens on the SIP port for UDP and TCP, and on the next
        // one for TLS.
        let sip_port = loop {
            let p = free_port();
            if std::net::TcpListener::bind((spec.ip, p + 1)).is_ok()
                && std::net::UdpSocket::bind((spec.ip, p)).is_ok()
            {
                break p;
            }
        };
        let ctrl_port = free_port();
        let cons_port = free_port();
        let snd = dir.path().join("snd");
        std::fs::create_dir(&snd).expect("snd dir");
        // `net_interface` as an IP keeps media and SDP on loopback (the
        // default is the first non-loopback interface).
        let config = format!(
            "poll_method epoll\n\
             sip_listen {ip}:{sip_port}\n\
             net_interface {ip}\n\
             audio_source aufile,{wav}\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module aufile.so\n\
             module sndfile.so\n\
             module cons.so\n\
             cons_listen 127.0.0.1:{cons_port}\n\
             module_app account.so\n\
             module_app menu.so\n\
             module_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             snd_path {snd}\n",
            ip = spec.ip,
            wav = spec.source_wav.display(),
            snd = snd.display(),
        );
        std::fs::write(dir.path().join("config"), config).expect("write config");
        let account = format!(
            "<sip:{user}@{reg};transport=udp>;auth_pass={pw};answermode=auto;regint=600\n",
            user = spec.user,
            reg = spec.registrar,
            pw = spec.password,
        );
        std::fs::write(dir.path().join("accounts"), account).expect("write accounts");
        let mut child = Command::new(BARESIP)
            .arg("-s")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run baresip");
        let out = Arc::new(Mutex::new(Vec::new()));
        for mut r in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let text = |out: &Arc<Mutex<Vec<u8>>>| clean(&out.lock().unwrap());
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!("exited with {status}:\n{}", text(&out)));
            }
            if text(&out).contains("baresip is ready.") {
                break;
            }
            if Instant::now() > until {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("not ready within 20 s:\n{}", text(&out)));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let ctrl_addr = SocketAddr::from(([127, 0, 0, 1], ctrl_port));
        let ctrl = loop {
            match TcpStream::connect_timeout(&ctrl_addr, Duration::from_secs(1)) {
                Ok(s) => break Ctrl::new(s),
                Err(e) if Instant::now() > until => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("ctrl_tcp {ctrl_addr}: {e}:\n{}", text(&out)));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        Ok(Baresip {
            child,
            dir,
            out,
            sip: format!("{}:{sip_port}", spec.ip).parse().expect("addr"),
            ctrl,
            user: spec.user.to_owned(),
            keys: SocketAddr::from(([127, 0, 0, 1], cons_port)),
        })
    }

    /// Presses and releases each key of `keys` (200 ms down, 200 ms up):
    /// in a call, digits, `*` and `#` go out as RFC 4733 events.
    pub fn press_keys(&self, keys: &str) {
        // KEYCODE_REL: baresip's "key released".
        const RELEASE: u8 = 0x04;
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        for k in keys.bytes() {
            sock.send_to(&[k], self.keys).expect("send key");
            std::thread::sleep(Duration::from_millis(200));
            sock.send_to(&[RELEASE], self.keys)
                .expect("send key release");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The RFC 4733 events it received and saw end (`received event: 'X'
    /// (end=1)`), in order.
    pub fn dtmf_received(&self) -> String {
        self.output()
            .lines()
            .filter_map(|l| l.strip_prefix("received event: '"))
            .filter(|r| r.ends_with("(end=1)"))
            .filter_map(|r| r.chars().next())
            .collect()
    }

    /// What baresip printed so far (stdout and stderr, colors and status
    /// line redraws removed).
    pub fn output(&self) -> String {
        clean(&self.out.lock().unwrap())
    }

    /// Everything a failure message needs: its output and the ctrl events.
    pub fn report(&self) -> String {
        format!(
            "--- baresip {} output ---\n{}\n--- {} ctrl_tcp messages ---\n{}",
            self.user,
            self.output(),
            self.user,
            self.ctrl.seen.join("\n")
        )
    }

    /// The SIP messages of its trace.
    pub fn sip_trace(&self) -> Vec<TracedMsg> {
        sip_trace(&self.output())
    }

    /// The `sndfile` recording of what the phone received and decoded
    /// (`dump-...-dec.wav`), if the call has started one.
    pub fn received_wav(&self) -> Option<PathBuf> {
        self.recording("-dec.wav")
    }

    /// The `sndfile` recording of what the phone sent (`-enc.wav`).
    pub fn sent_wav(&self) -> Option<PathBuf> {
        self.recording("-enc.wav")
    }

    fn recording(&self, suffix: &str) -> Option<PathBuf> {
        std::fs::read_dir(self.dir.path().join("snd"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
    }

    /// The remote port of `stream: incoming rtp for 'audio' established,
    /// receiving from IP:PORT`: where its RTP came from.
    pub fn rtp_source(&self) -> Option<SocketAddr> {
        let out = self.output();
        let at = out.find("receiving from ")? + "receiving from ".len();
        let rest = &out[at..];
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        rest[..end].parse().ok()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM lets it unregister; SIGKILL if it lingers.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            for _ in 0..40 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Output without ANSI colors, with each `\r`-redrawn status line reduced
/// to what was printed last on it.
fn clean(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-letter.
            if chars.peek() == Some(&'[') {
                chars.next();
                for n in chars.by_ref() {
                    if n.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out.split('\n')
        .map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            // The status line ("[0:00:03] audio=64000/64000 (bit/s)") is
            // redrawn after `\r`; keep only what follows the last redraw.
            line.rsplit('\r').next().unwrap_or(line).trim_start()
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One SIP message of a baresip `-s` trace.
#[derive(Debug, Clone)]
pub struct TracedMsg {
    /// Source address, as printed.
    pub from: String,
    /// Destination address, as printed.
    pub to: String,
    /// The start line.
    pub start: String,
    /// The header lines and body lines, in order.
    pub lines: Vec<String>,
}

impl TracedMsg {
    /// The value of the first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// Whether its CSeq method is `method`.
    pub fn cseq_is(&self, method: &str) -> bool {
        self.header("CSeq")
            .and_then(|v| v.split_whitespace().nth(1))
            .is_some_and(|m| m == method)
    }

    /// The port of the SDP's `m=audio` line, if it carries one.
    pub fn sdp_audio_port(&self) -> Option<u16> {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
    }
}

/// Parses a cleaned `-s` trace: each message is `#`, then `UDP A -> B`,
/// then the message.
fn sip_trace(out: &str) -> Vec<TracedMsg> {
    let mut msgs = Vec::new();
    let lines: Vec<&str> = out.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let arrow = ["UDP ", "TCP ", "TLS "]
            .iter()
            .find_map(|t| l.strip_prefix(t))
            .and_then(|r| r.split_once(" -> "));
        if let (Some((from, to)), true) = (arrow, i > 0 && lines[i - 1] == "#") {
            let start = lines.get(i + 1).copied().unwrap_or("").to_owned();
            let mut body = Vec::new();
            let mut j = i + 2;
            while j < lines.len() && lines[j] != "#" {
                body.push(lines[j].to_owned());
                j += 1;
            }
            msgs.push(TracedMsg {
                from: from.trim().to_owned(),
                to: to.trim().to_owned(),
                start,
                lines: body,
            });
            i = j;
        } else {
            i += 1;
        }
    }
    msgs
}

/// A `ctrl_tcp` connection: netstring-framed JSON both ways.
pub struct Ctrl {
    stream: TcpStream,
    rx: mpsc::Receiver<String>,
    /// Every message received so far (events and responses), in order.
    pub seen: Vec<String>,
    token: u32,
}

impl Ctrl {
    fn new(stream: TcpStream) -> Ctrl {
        let mut reader = stream.try_clone().expect("clone ctrl stream");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut acc: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                acc.extend_from_slice(&buf[..n]);
                // Netstring: LEN ":" DATA ",".
                while let Some(colon) = acc.iter().position(|&b| b == b':') {
                    let Some(len) = std::str::from_utf8(&acc[..colon])
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                    else {
                        return;
                    };
                    if acc.len() < colon + 1 + len + 1 {
                        break;
                    }
                    let msg =
                        String::from_utf8_lossy(&acc[colon + 1..colon + 1 + len]).into_owned();
                    acc.drain(..colon + 1 + len + 1);
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
            }
        });
        Ctrl {
            stream,
            rx,
            seen: Vec::new(),
            token: 0,
        }
    }

    /// Sends a command (`dial`, `hangup`, ...) and waits (10 s at most)
    /// for its response; `Ok(data)` when baresip says ok, else `Err` with
    /// what it said.
    pub fn command(&mut self, command: &str, params: &str) -> Result<String, String> {
        self.token += 1;
        let token = format!("t{}", self.token);
        let json =
            format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"{token}\"}}");
        write!(self.stream, "{}:{json},", json.len()).map_err(|e| e.to_string())?;
        let until = Instant::now() + Duration::from_secs(10);
        let want = format!("\"token\":\"{token}\"");
        loop {
            let Some(m) = self.next(until) else {
                return Err(format!("no response to {command} within 10 s"));
            };
            if m.contains("\"response\":true") && m.contains(&want) {
                return if m.contains("\"ok\":true") {
                    Ok(m)
                } else {
                    Err(m)
                };
            }
        }
    }

    /// Waits (`secs` at most) for an event of `kind` (`CALL_ESTABLISHED`,
    /// `CALL_CLOSED`, ...), also among those already seen; returns it.
    pub fn wait_event(&mut self, kind: &str, secs: u64) -> Option<String> {
        let want = format!("\"type\":\"{kind}\"");
        if let Some(m) = self.seen.iter().find(|m| m.contains(&want)) {
            return Some(m.clone());
        }
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.next(until)?;
            if m.contains(&want) {
                return Some(m);
            }
        }
    }

    fn next(&mut self, until: Instant) -> Option<String> {
        let left = until.checked_duration_since(Instant::now())?;
        let m = self.rx.recv_timeout(left).ok()?;
        self.seen.push(m.clone());
        Some(m)
    }
}

/// Writes a WAV file: `secs` seconds of a `freq` Hz sine at 8 kHz, mono,
/// 16-bit PCM, amplitude 8000 (about a quarter of full scale).
pub fn write_tone_wav(path: &Path, freq: f64, secs: u32) {
    const RATE: u32 = 8000;
    let n = RATE * secs;
    let mut data = Vec::with_capacity(n as usize * 2);
    for i in 0..n {
        let t = f64::from(i) / f64::from(RATE);
        let s = (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16;
        data.extend_from_slice(&s.to_le_bytes());
    }
    let mut f = Vec::with_capacity(44 + data.len());
    f.extend_from_slice(b"RIFF");
    f.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    f.extend_from_slice(b"WAVEfmt ");
    f.extend_from_slice(&16u32.to_le_bytes());
    f.extend_from_slice(&1u16.to_le_bytes()); // PCM
    f.extend_from_slice(&1u16.to_le_bytes()); // mono
    f.extend_from_slice(&RATE.to_le_bytes());
    f.extend_from_slice(&(RATE * 2).to_le_bytes()); // bytes per second
    f.extend_from_slice(&2u16.to_le_bytes()); // block align
    f.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    f.extend_from_slice(b"data");
    f.extend_from_slice(&(data.len() as u32).to_le_bytes());
    f.extend_from_slice(&data);
    std::fs::write(path, f).expect("write wav");
}

/// The samples of a 16-bit PCM WAV file, with its sample rate and
/// channels. Reads the `data` chunk up to the end of the file (a recording
/// still open has a stale size).
pub fn read_wav(path: &Path) -> Result<(u32, u16, Vec<i16>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(format!("{}: not a RIFF WAVE file", path.display()));
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let mut at = 12;
    let mut fmt = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(at + 4) as usize;
        let body = at + 8;
        if id == b"fmt " && body + 16 <= bytes.len() {
            let (format, channels, rate, bits) = (
                u16_at(body),
                u16_at(body + 2),
                u32_at(body + 4),
                u16_at(body + 14),
            );
            if format != 1 || bits != 16 {
                return Err(format!(
                    "{}: format {format}, {bits} bits: not 16-bit PCM",
                    path.display()
                ));
            }
            fmt = Some((rate, channels));
        } else if id == b"data" {
            let (rate, channels) =
                fmt.ok_or_else(|| format!("{}: data before fmt", path.display()))?;
            let samples = bytes[body..]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok((rate, channels, samples));
        }
        at = body + size + (size & 1);
    }
    Err(format!("{}: no data chunk", path.display()))
}

/// What a recording holds: loud 20 ms frames and their frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tone {
    /// 20 ms frames (at 8 kHz, mono) whose RMS is above 1000.
    pub loud_frames: usize,
    /// The frequency of the loud frames, from their zero crossings (Hz).
    pub freq: f64,
}

/// Measures the tone in 8 kHz mono `samples`.
pub fn measure_tone(samples: &[i16]) -> Tone {
    let mut loud_frames = 0;
    let mut crossings = 0usize;
    for (k, frame) in samples.chunks_exact(160).enumerate() {
        let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
        if (energy / 160.0).sqrt() > 1000.0 {
            loud_frames += 1;
            // 160 sample pairs per frame: the one across the frame's start
            // too, so crossings are not undercounted.
            let from = (k * 160).saturating_sub(1);
            crossings += samples[from..(k + 1) * 160]
                .windows(2)
                .filter(|w| (w[0] < 0) != (w[1] < 0))
                .count();
        }
    }
    let secs = loud_frames as f64 * 0.020;
    Tone {
        loud_frames,
        freq: if secs > 0.0 {
            crossings as f64 / 2.0 / secs
        } else {
            0.0
        },
    }
}
