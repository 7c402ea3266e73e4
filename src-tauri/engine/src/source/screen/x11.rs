//! The X11 screen through x11rb: monitors from RandR, pictures through
//! MIT-SHM (the server writes straight into memory we share with it) or,
//! where shared memory is refused (a remote or containerised server), plain
//! GetImage; the pointer from XFixes, since X never draws it into images.

use x11rb::connection::Connection;
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xfixes::ConnectionExt as _;
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat, ImageOrder};
use x11rb::rust_connection::RustConnection;

use super::picture::{Bgrx, Cursor};
use super::{Area, Grabber, MonitorInfo, ScreenError};

/// An open display: its root window and monitors.
pub struct Display {
    conn: RustConnection,
    root: xproto::Window,
    screen_size: (u32, u32),
    name: String,
}

impl Display {
    pub fn connect(name: &str) -> Result<Display, ScreenError> {
        let (conn, screen) = x11rb::connect(Some(name)).map_err(|e| ScreenError::Connect {
            display: name.to_string(),
            reason: e.to_string(),
        })?;
        let setup = conn.setup();
        let root_screen = &setup.roots[screen];
        let depth_ok = matches!(root_screen.root_depth, 24 | 32)
            && setup
                .pixmap_formats
                .iter()
                .any(|f| f.depth == root_screen.root_depth && f.bits_per_pixel == 32)
            && setup.image_byte_order == ImageOrder::LSB_FIRST;
        if !depth_ok {
            return Err(ScreenError::Unsupported(format!(
                "the display {name} has {}-bit colour in a layout Onair does not read (it reads 24-bit colour, 32 bits a pixel)",
                root_screen.root_depth
            )));
        }
        Ok(Display {
            root: root_screen.root,
            screen_size: (
                root_screen.width_in_pixels as u32,
                root_screen.height_in_pixels as u32,
            ),
            conn,
            name: name.to_string(),
        })
    }

    /// The monitors RandR (1.5) knows, or the whole screen as one when it
    /// has none to say.
    pub fn monitors(&self) -> Vec<MonitorInfo> {
        let listed = (|| -> Option<Vec<MonitorInfo>> {
            self.conn.randr_query_version(1, 5).ok()?.reply().ok()?;
            let reply = self
                .conn
                .randr_get_monitors(self.root, true)
                .ok()?
                .reply()
                .ok()?;
            Some(
                reply
                    .monitors
                    .iter()
                    .enumerate()
                    .map(|(i, m)| MonitorInfo {
                        index: i as u32,
                        name: self.atom_name(m.name),
                        x: m.x as i32,
                        y: m.y as i32,
                        width: m.width as u32,
                        height: m.height as u32,
                        primary: m.primary,
                    })
                    .collect(),
            )
        })()
        .unwrap_or_default();
        if listed.is_empty() {
            vec![MonitorInfo {
                index: 0,
                name: "screen".into(),
                x: 0,
                y: 0,
                width: self.screen_size.0,
                height: self.screen_size.1,
                primary: true,
            }]
        } else {
            listed
        }
    }

    pub fn screen_size(&self) -> (u32, u32) {
        self.screen_size
    }

    fn atom_name(&self, atom: u32) -> String {
        self.conn
            .get_atom_name(atom)
            .ok()
            .and_then(|c| c.reply().ok())
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .unwrap_or_else(|| format!("monitor-{atom}"))
    }

    /// A grabber of `area` of the root window.
    pub fn grabber(self, area: Area) -> Result<X11Grabber, ScreenError> {
        let shm = SharedImage::new(&self.conn, area).ok();
        let cursor = self
            .conn
            .xfixes_query_version(4, 0)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some();
        let buffer = if shm.is_some() {
            Vec::new()
        } else {
            vec![0u8; area.width as usize * area.height as usize * 4]
        };
        Ok(X11Grabber {
            display: self,
            area,
            shm,
            cursor,
            buffer,
        })
    }
}

/// A System V shared-memory segment attached to the server, the size of one picture.
struct SharedImage {
    seg: shm::Seg,
    addr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by this struct alone and freed once, in Drop.
unsafe impl Send for SharedImage {}

impl SharedImage {
    fn new(conn: &RustConnection, area: Area) -> Result<SharedImage, String> {
        conn.shm_query_version()
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?;
        let len = area.width as usize * area.height as usize * 4;
        // SAFETY: plain System V calls; the id and address are checked
        // before use, and the segment is marked for removal as soon as the
        // server has it, so it cannot outlive both processes.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, len, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return Err("shmget failed".into());
            }
            let addr = libc::shmat(id, std::ptr::null(), 0);
            if addr as isize == -1 {
                libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                return Err("shmat failed".into());
            }
            let seg = match conn.generate_id() {
                Ok(seg) => seg,
                Err(e) => {
                    libc::shmdt(addr);
                    libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
                    return Err(e.to_string());
                }
            };
            let attached = conn
                .shm_attach(seg, id as u32, false)
                .map_err(|e| e.to_string())
                .and_then(|c| c.check().map_err(|e| e.to_string()));
            libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut());
            if let Err(e) = attached {
                libc::shmdt(addr);
                return Err(e);
            }
            Ok(SharedImage {
                seg,
                addr: addr as *mut u8,
                len,
            })
        }
    }
}

impl Drop for SharedImage {
    fn drop(&mut self) {
        // SAFETY: `addr` came from shmat and is detached once.
        unsafe {
            libc::shmdt(self.addr as *const libc::c_void);
        }
    }
}

pub struct X11Grabber {
    display: Display,
    area: Area,
    shm: Option<SharedImage>,
    cursor: bool,
    buffer: Vec<u8>,
}

impl X11Grabber {
    fn lost(&self, e: impl std::fmt::Display) -> ScreenError {
        ScreenError::Lost(format!("the display {} ({e})", self.display.name))
    }

    fn pointer(&self) -> Option<Cursor> {
        if !self.cursor {
            return None;
        }
        let image = self
            .display
            .conn
            .xfixes_get_cursor_image()
            .ok()?
            .reply()
            .ok()?;
        Some(Cursor {
            x: image.x as i32 - image.xhot as i32 - self.area.x,
            y: image.y as i32 - image.yhot as i32 - self.area.y,
            width: image.width as u32,
            height: image.height as u32,
            argb: image.cursor_image,
        })
    }
}

impl Grabber for X11Grabber {
    fn describe(&self) -> String {
        let how = if self.shm.is_some() {
            "shared memory"
        } else {
            "GetImage"
        };
        format!(
            "screen {}x{}+{}+{} of X display {} ({how})",
            self.area.width, self.area.height, self.area.x, self.area.y, self.display.name
        )
    }

    fn grab(&mut self) -> Result<(Bgrx<'_>, Option<Cursor>), ScreenError> {
        let Area {
            x,
            y,
            width,
            height,
        } = self.area;
        let (w, h) = (width as u16, height as u16);
        let cursor = self.pointer();
        let conn = &self.display.conn;
        let format = u8::from(ImageFormat::Z_PIXMAP);
        let data: &mut [u8] = if let Some(shm) = &self.shm {
            conn.shm_get_image(
                self.display.root,
                x as i16,
                y as i16,
                w,
                h,
                !0,
                format,
                shm.seg,
                0,
            )
            .map_err(|e| self.lost(e))?
            .reply()
            .map_err(|e| self.lost(e))?;
            // SAFETY: the server has finished writing (its reply came); the
            // segment is `len` bytes and is ours until Drop.
            unsafe { std::slice::from_raw_parts_mut(shm.addr, shm.len) }
        } else {
            let reply = conn
                .get_image(
                    ImageFormat::Z_PIXMAP,
                    self.display.root,
                    x as i16,
                    y as i16,
                    w,
                    h,
                    !0,
                )
                .map_err(|e| self.lost(e))?
                .reply()
                .map_err(|e| self.lost(e))?;
            let n = self.buffer.len().min(reply.data.len());
            self.buffer[..n].copy_from_slice(&reply.data[..n]);
            &mut self.buffer
        };
        Ok((
            Bgrx {
                width,
                height,
                stride: width * 4,
                data,
            },
            cursor,
        ))
    }
}

impl Drop for X11Grabber {
    fn drop(&mut self) {
        if let Some(shm) = &self.shm {
            let _ = self.display.conn.shm_detach(shm.seg);
            let _ = self.display.conn.flush();
        }
    }
}
