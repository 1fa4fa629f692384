//! libjpeg-turbo (built from source by `mozjpeg-sys`) behind a small safe surface.
//!
//! Every libjpeg call happens inside [`with_decompressor`]: libjpeg reports a fatal
//! error by calling `error_exit`, which here unwinds (the C is built with
//! `-fexceptions` by mozjpeg-sys's default `unwinding` feature) with a
//! [`Failure`] payload; `catch_unwind` turns it into an [`Error`], and the
//! decompressor's `Drop` destroys the libjpeg object on that path as on every
//! other. Warnings are recorded, never printed; the ones that mean the picture
//! is not what the camera took (a cut-off file, broken entropy-coded data) fail
//! the decode instead of yielding grey or smeared blocks.
//!
//! Coefficients of a single-scan (baseline) JPEG are streamed: for the length
//! of `jpeg_read_coefficients` the decompressor's memory manager hands out a
//! one-iMCU-row [`RowBuffer`] per component in place of the whole-image array
//! (libjpeg's coefficient controller reaches its arrays only through the
//! memory manager's `request_virt_barray` / `access_virt_barray`, which are
//! public, replaceable methods), and each row is compacted into Rust memory
//! when libjpeg asks for the next. So a 12 MP photo never allocates, zeroes
//! and re-reads libjpeg's ~36 MB of coefficient arrays. With two threads
//! ([`Rows::Piped`]) the buffers hold eight iMCU rows each, and a full one is
//! swapped for a zeroed spare and compacted on a second thread while libjpeg
//! decodes on (one hand-off per batch: each wakes that thread). If libjpeg
//! fails meanwhile, unwinding closes the channel, so the second thread ends
//! before the scope that runs it returns.
use super::dct::{Coefficients, ColourSpace, ComponentBuilder};
use crate::Error;
use image::metadata::Orientation;
use image::RgbImage;
use mozjpeg_sys as sys;
use std::marker::PhantomData;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::{addr_of_mut, NonNull};

/// What libjpeg unwinds with from `error_exit`.
struct Failure {
    code: c_int,
    message: String,
}

/// Why a JPEG could not be read here.
#[derive(Debug)]
pub(crate) enum Failed {
    /// libjpeg (as built) cannot decode this kind of JPEG (arithmetic coding,
    /// 12-bit samples, ...): another decoder may.
    Unsupported(String),
    /// The data is bad, or too large: final.
    Error(Error),
}

impl From<Error> for Failed {
    fn from(e: Error) -> Self {
        Failed::Error(e)
    }
}

/// Warnings seen while reading, by kind.
#[derive(Debug, Default, Clone, Copy)]
struct Warnings {
    /// JWRN_JPEG_EOF: the data ended before the image did (libjpeg pads with grey).
    truncated: bool,
    /// Broken entropy-coded data (libjpeg substitutes zero coefficients).
    corrupt: bool,
}

impl Warnings {
    fn check(self) -> Result<(), Error> {
        if self.truncated {
            Err(Error::CorruptImage("truncated (the data ends before the image does)".into()))
        } else if self.corrupt {
            Err(Error::CorruptImage("corrupt entropy-coded data".into()))
        } else {
            Ok(())
        }
    }
}

/// libjpeg's error codes for things it was not built to do, where another
/// decoder may still succeed.
fn unsupported_code(code: c_int) -> bool {
    [
        sys::JERR_ARITH_NOTIMPL,
        sys::JERR_BAD_PRECISION,
        sys::JERR_NOT_COMPILED,
        sys::JERR_FRACT_SAMPLE_NOTIMPL,
        sys::JERR_CCIR601_NOTIMPL,
        sys::JERR_CONVERSION_NOTIMPL,
        sys::JERR_EMPTY_IMAGE,
    ]
    .contains(&code)
}

unsafe extern "C-unwind" fn error_exit(cinfo: &mut sys::jpeg_common_struct) {
    let mut buffer = [0u8; 80];
    // SAFETY: `err` was set to our error manager (alive as long as the object)
    // before any libjpeg call; `format_message` was installed by jpeg_std_error
    // and writes at most JMSG_LENGTH_MAX (80) bytes, NUL-terminated, into the
    // buffer. The binding types the buffer as `&[u8; 80]` although C writes to
    // it, so the function is called through a pointer-typed signature with the
    // same C ABI.
    let code = unsafe {
        let err = cinfo.err;
        if let Some(format) = (*err).format_message {
            let format: unsafe extern "C-unwind" fn(*mut sys::jpeg_common_struct, *mut u8) =
                std::mem::transmute(format);
            format(cinfo, buffer.as_mut_ptr());
        }
        (*err).msg_code
    };
    let len = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    let message = String::from_utf8_lossy(&buffer[..len]).into_owned();
    // resume_unwind rather than panic!: no panic hook runs, nothing is printed.
    resume_unwind(Box::new(Failure { code, message }))
}

unsafe extern "C-unwind" fn emit_message(cinfo: &mut sys::jpeg_common_struct, level: c_int) {
    if level >= 0 {
        return; // trace messages
    }
    // SAFETY: `err` points to our error manager and `client_data` to the
    // `Client` of the same `State`, both set before any libjpeg call and valid
    // until the object is destroyed; nothing else references the warnings
    // during the call.
    unsafe {
        let err = cinfo.err;
        (*err).num_warnings += 1;
        let code = (*err).msg_code;
        let client = cinfo.client_data.cast::<Client>();
        if !client.is_null() {
            let warnings = &mut (*client).warnings;
            match code {
                sys::JWRN_JPEG_EOF => warnings.truncated = true,
                sys::JWRN_HIT_MARKER | sys::JWRN_HUFF_BAD_CODE | sys::JWRN_MUST_RESYNC => {
                    warnings.corrupt = true
                }
                _ => {}
            }
        }
    }
}

unsafe extern "C-unwind" fn output_message(_cinfo: &mut sys::jpeg_common_struct) {
    // libjpeg's default prints to stderr; we report through errors instead.
}

/// What libjpeg's callbacks reach through `client_data`.
struct Client {
    warnings: Warnings,
    /// Where coefficient rows go while [`Decompressor::read_coefficients`]
    /// streams them (null otherwise).
    stream: *mut Stream,
}

/// Everything libjpeg points into, at one fixed heap address.
struct State {
    cinfo: sys::jpeg_decompress_struct,
    err: sys::jpeg_error_mgr,
    client: Client,
}

/// A libjpeg decompress object reading `bytes`. Only exists inside
/// [`with_decompressor`], so every call that may unwind is caught.
pub(crate) struct Decompressor<'a> {
    state: NonNull<State>,
    _bytes: PhantomData<&'a [u8]>,
}

impl Drop for Decompressor<'_> {
    fn drop(&mut self) {
        // SAFETY: `state` came from Box::into_raw in `new` and is freed only here.
        // jpeg_destroy_decompress frees every pool of a created object and does
        // nothing for one whose creation failed (its `mem` is still null); it
        // never calls error_exit.
        unsafe {
            let s = self.state.as_ptr();
            sys::jpeg_destroy_decompress(&mut (*s).cinfo);
            drop(Box::from_raw(s));
        }
    }
}

/// The shape of one component's coefficient array as libjpeg will request it.
#[derive(Debug, Clone, Copy)]
struct RowSpec {
    /// Blocks a row, and block rows, that the image has.
    wb: u32,
    hb: u32,
    /// The same padded to whole MCUs (what libjpeg asks for and decodes).
    width: u32,
    height: u32,
    /// Block rows an iMCU row spans (the component's vertical sampling factor).
    rows: u32,
}

/// A few iMCU rows of one component's blocks, standing in for libjpeg's
/// whole-image array of that component: libjpeg decodes row after row into
/// its slots, and once they are all used, asking for the next row moves
/// them into compact storage (or to the compacting thread) first.
struct RowBuffer {
    spec: RowSpec,
    /// iMCU rows the buffer holds.
    slots: u32,
    /// `slots * spec.rows * spec.width` zeroed blocks, owned (a leaked boxed
    /// slice, freed in `Drop`); all access goes through this pointer,
    /// libjpeg's through `row_ptrs`, which point into it.
    blocks: NonNull<[i16; 64]>,
    row_ptrs: Vec<sys::JBLOCKROW>,
    /// First block row of the iMCU row libjpeg was last given.
    start: Option<u32>,
    /// First block row of the image in the first slot.
    base: u32,
    /// Index of the component's builder.
    component: usize,
}

impl RowBuffer {
    fn new(spec: RowSpec, component: usize, slots: u32) -> Box<Self> {
        #[cfg(test)]
        STREAMED.with(|n| n.set(n.get() + 1));
        let slots = slots.max(1);
        let len = slots as usize * spec.rows as usize * spec.width as usize;
        let blocks = Box::into_raw(vec![[0i16; 64]; len].into_boxed_slice()).cast::<[i16; 64]>();
        // SAFETY: Box::into_raw never returns null (a dangling, aligned
        // pointer for an empty slice).
        let blocks = unsafe { NonNull::new_unchecked(blocks) };
        let mut b =
            Box::new(Self { spec, slots, blocks, row_ptrs: Vec::new(), start: None, base: 0, component });
        b.point_rows();
        b
    }

    /// `row_ptrs` at the rows of `blocks`.
    fn point_rows(&mut self) {
        let (width, blocks) = (self.spec.width as usize, self.blocks);
        self.row_ptrs = (0..(self.slots * self.spec.rows) as usize)
            // SAFETY: row r < slots * rows starts r * width blocks into the
            // buffer (one past its end only when width is 0).
            .map(|r| unsafe { blocks.as_ptr().add(r * width) })
            .collect();
    }

    /// The pointer libjpeg holds as the array's handle.
    fn handle(&self) -> *mut sys::jvirt_barray_control {
        (self as *const Self).cast_mut().cast()
    }

    /// libjpeg's access to rows `start..start + count`: the rows must come in
    /// order, one iMCU row after the other (a repeat of the current one is
    /// allowed); when the slots are full, they go to `sink` first.
    fn access(&mut self, start: u32, count: u32, sink: Sink<'_>) -> Result<sys::JBLOCKARRAY, &'static str> {
        let spec = self.spec;
        if count > spec.rows || u64::from(start) + u64::from(count) > u64::from(spec.height) {
            return Err("coefficient rows outside the image");
        }
        match self.start {
            None if start == 0 => self.base = 0,
            Some(s) if s == start => {}
            Some(s) if u64::from(start) == u64::from(s) + u64::from(spec.rows) => {
                if (start - self.base) / spec.rows.max(1) >= self.slots {
                    self.pass_on(sink)?;
                    self.base = start;
                }
            }
            _ => return Err("coefficient rows out of order"),
        }
        self.start = Some(start);
        let slot = ((start - self.base) / spec.rows.max(1)) as usize;
        // SAFETY: slot < slots, so its rows are within `row_ptrs`.
        Ok(unsafe { self.row_ptrs.as_mut_ptr().add(slot * spec.rows as usize) })
    }

    /// Blocks the buffer holds.
    fn len(&self) -> usize {
        self.slots as usize * self.spec.rows as usize * self.spec.width as usize
    }

    /// The rows filled so far (image block rows `base..`) to `sink`, leaving
    /// a zeroed buffer.
    fn pass_on(&mut self, sink: Sink<'_>) -> Result<(), &'static str> {
        let Some(s) = self.start else { return Ok(()) };
        let rows = s - self.base + self.spec.rows;
        match sink {
            Sink::Build(builder) => {
                // SAFETY: the buffer's `len` blocks; libjpeg is not running
                // (it called us, and uses the row pointers only until its
                // next access), and nothing else references the buffer.
                let blocks = unsafe { std::slice::from_raw_parts_mut(self.blocks.as_ptr(), self.len()) };
                compact_rows(blocks, self.spec, self.base, rows, builder);
                Ok(())
            }
            Sink::Pipe(pipe) => {
                let spare = pipe.spare(self.component, self.len());
                let full = self.swap(spare);
                let (component, spec, start) = (self.component, self.spec, self.base);
                pipe.send(Filled { component, start, rows, spec, blocks: full })
            }
        }
    }

    /// Puts `blocks` (zeroed, `len` long) in place of the buffer's blocks,
    /// which it returns.
    fn swap(&mut self, blocks: Box<[[i16; 64]]>) -> Box<[[i16; 64]]> {
        debug_assert_eq!(blocks.len(), self.len());
        let len = self.len();
        let new = Box::into_raw(blocks).cast::<[i16; 64]>();
        // SAFETY: Box::into_raw never returns null.
        let old = std::mem::replace(&mut self.blocks, unsafe { NonNull::new_unchecked(new) });
        self.point_rows();
        // SAFETY: `old` came from Box::into_raw of a boxed slice of `len`
        // blocks (in `new` or an earlier swap) and is owned by nothing else;
        // libjpeg no longer uses pointers into it (it has asked for the next row).
        unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(old.as_ptr(), len)) }
    }
}

/// A component's quantisation table: the one latched when its first scan
/// began, or (no scan yet, or never one) the one in its slot.
fn quant_of(cinfo: &sys::jpeg_decompress_struct, c: &sys::jpeg_component_info) -> Result<[u16; 64], Error> {
    let table = if c.quant_table.is_null() {
        usize::try_from(c.quant_tbl_no)
            .ok()
            .and_then(|i| cinfo.quant_tbl_ptrs.get(i).copied())
            .unwrap_or(std::ptr::null_mut())
    } else {
        c.quant_table
    };
    // SAFETY: a non-null quantisation table pointer of the object.
    Ok(unsafe { table.as_ref() }
        .ok_or_else(|| Error::CorruptImage("missing quantisation table".into()))?
        .quantval)
}

/// Where a finished row of blocks goes.
enum Sink<'a> {
    /// Compacted here and now.
    Build(&'a mut ComponentBuilder),
    /// To the compacting thread.
    Pipe(&'a mut Pipe),
}

/// Moves a buffer's first `rows` block rows (image block rows `s..`) into
/// `builder`, leaving the buffer zeroed.
fn compact_rows(blocks: &mut [[i16; 64]], spec: RowSpec, s: u32, rows: u32, builder: &mut ComponentBuilder) {
    let (width, wb) = (spec.width as usize, spec.wb as usize);
    for (r, row) in blocks.chunks_exact_mut(width.max(1)).take(rows as usize).enumerate() {
        let (image, padding) = row.split_at_mut(wb.min(width));
        if s as usize + r < spec.hb as usize {
            builder.push_row_clearing(image);
        } else {
            image.fill([0; 64]);
        }
        padding.fill([0; 64]);
    }
}

/// One row of one component's blocks on its way to the compacting thread.
struct Filled {
    component: usize,
    /// First image block row, and block rows filled.
    start: u32,
    rows: u32,
    spec: RowSpec,
    blocks: Box<[[i16; 64]]>,
}

/// The decoding thread's end of the compacting thread: finished rows go
/// out, zeroed buffers come back for reuse.
struct Pipe {
    rows: std::sync::mpsc::Sender<Filled>,
    back: std::sync::mpsc::Receiver<(usize, Box<[[i16; 64]]>)>,
    /// Zeroed buffers per component.
    spares: Vec<Vec<Box<[[i16; 64]]>>>,
}

impl Pipe {
    /// A zeroed buffer of `len` blocks for `component`: one that came back, or a new one.
    fn spare(&mut self, component: usize, len: usize) -> Box<[[i16; 64]]> {
        while let Ok((c, b)) = self.back.try_recv() {
            if let Some(pool) = self.spares.get_mut(c) {
                pool.push(b);
            }
        }
        match self.spares.get_mut(component).and_then(Vec::pop) {
            Some(b) if b.len() == len => b,
            _ => vec![[0i16; 64]; len].into_boxed_slice(),
        }
    }

    fn send(&mut self, row: Filled) -> Result<(), &'static str> {
        self.rows.send(row).map_err(|_| "the coefficient compactor stopped")
    }
}

/// The compacting thread: every row into its component's builder, then the
/// zeroed buffer back; the builders when the decoding thread hangs up.
fn compactor(
    rows: std::sync::mpsc::Receiver<Filled>,
    back: std::sync::mpsc::Sender<(usize, Box<[[i16; 64]]>)>,
    mut builders: Vec<ComponentBuilder>,
) -> Vec<ComponentBuilder> {
    for mut row in rows {
        if let Some(b) = builders.get_mut(row.component) {
            compact_rows(&mut row.blocks, row.spec, row.start, row.rows, b);
        }
        let _ = back.send((row.component, row.blocks));
    }
    builders
}

impl Drop for RowBuffer {
    fn drop(&mut self) {
        let len = self.len();
        // SAFETY: `blocks` came from Box::into_raw of a boxed slice of `len`
        // blocks (in `new` or `swap`), and is freed only here.
        unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.blocks.as_ptr(), len))) };
    }
}

#[cfg(test)]
thread_local! {
    /// Components streamed on this thread so far (tests check the path taken).
    pub(crate) static STREAMED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The streaming state of [`Decompressor::read_coefficients`].
struct Stream {
    /// Per component, in frame order.
    specs: Vec<RowSpec>,
    builders: Vec<ComponentBuilder>,
    /// The arrays handed out, in the order libjpeg requested them (its
    /// coefficient controller asks once per component, in frame order).
    /// Boxed: a buffer's address is its handle, so it must not move.
    #[allow(clippy::vec_box)]
    buffers: Vec<Box<RowBuffer>>,
    /// The memory manager's own methods, for every other array.
    request: RequestBarray,
    access: AccessBarray,
    /// Set while rows are compacted on another thread (the builders are
    /// there meanwhile).
    pipe: *mut Pipe,
    /// iMCU rows a buffer holds.
    slots: u32,
}

type RequestBarray = Option<
    unsafe extern "C-unwind" fn(
        &mut sys::jpeg_common_struct,
        c_int,
        sys::boolean,
        sys::JDIMENSION,
        sys::JDIMENSION,
        sys::JDIMENSION,
    ) -> *mut sys::jvirt_barray_control,
>;
type AccessBarray = Option<
    unsafe extern "C-unwind" fn(
        &mut sys::jpeg_common_struct,
        *mut sys::jvirt_barray_control,
        sys::JDIMENSION,
        sys::JDIMENSION,
        sys::boolean,
    ) -> sys::JBLOCKARRAY,
>;

impl Stream {
    /// Moves the last row of every streamed component into its builder (or
    /// down the pipe).
    fn finish(&mut self) -> Result<(), &'static str> {
        for b in &mut self.buffers {
            if b.start.is_none() {
                continue;
            }
            // SAFETY: see `sink`.
            b.pass_on(unsafe { sink(self.pipe, &mut self.builders, b.component) }?)?;
            b.start = None;
        }
        Ok(())
    }
}

/// Where component `c`'s finished rows go: down `pipe` when there is one,
/// else into its builder.
///
/// # Safety
/// `pipe` must be null or point to the live Pipe of the running piped read,
/// referenced by nothing else for the sink's lifetime.
unsafe fn sink<'a>(
    pipe: *mut Pipe,
    builders: &'a mut [ComponentBuilder],
    c: usize,
) -> Result<Sink<'a>, &'static str> {
    // SAFETY: per the contract.
    match unsafe { pipe.as_mut() } {
        Some(p) => Ok(Sink::Pipe(p)),
        None => builders.get_mut(c).map(Sink::Build).ok_or("no component"),
    }
}

/// Unwinds out of a libjpeg callback as `error_exit` does.
fn fail(message: &str) -> ! {
    resume_unwind(Box::new(Failure { code: 0, message: message.into() }))
}

/// The stream a callback's object is streaming into, if any.
///
/// # Safety
/// `cinfo` must be one of our decompressors (client_data set up by `new`).
unsafe fn stream_of(cinfo: &mut sys::jpeg_common_struct) -> Option<&mut Stream> {
    let client = cinfo.client_data.cast::<Client>();
    // SAFETY: per the contract, client_data is null or points to the live
    // Client of the object; its `stream` is null or points to the Stream that
    // `Hooks` installed, alive until the hooks are removed, and referenced by
    // nothing else while libjpeg runs.
    unsafe { client.as_ref().and_then(|c| c.stream.as_mut()) }
}

unsafe extern "C-unwind" fn request_barray(
    cinfo: &mut sys::jpeg_common_struct,
    pool_id: c_int,
    pre_zero: sys::boolean,
    blocks_per_row: sys::JDIMENSION,
    rows: sys::JDIMENSION,
    max_access: sys::JDIMENSION,
) -> *mut sys::jvirt_barray_control {
    // SAFETY: only installed on our decompressors, by `Hooks`.
    let Some(stream) = (unsafe { stream_of(cinfo) }) else { fail("no coefficient stream") };
    let i = stream.buffers.len();
    if let Some(&spec) = stream.specs.get(i) {
        if pre_zero != 0 && blocks_per_row == spec.width && rows == spec.height && max_access == spec.rows {
            let buffer = RowBuffer::new(spec, i, stream.slots);
            let handle = buffer.handle();
            stream.buffers.push(buffer);
            return handle;
        }
    }
    let Some(request) = stream.request else { fail("no memory manager") };
    // SAFETY: the memory manager's own method, called as libjpeg called ours.
    unsafe { request(cinfo, pool_id, pre_zero, blocks_per_row, rows, max_access) }
}

unsafe extern "C-unwind" fn access_barray(
    cinfo: &mut sys::jpeg_common_struct,
    array: *mut sys::jvirt_barray_control,
    start: sys::JDIMENSION,
    count: sys::JDIMENSION,
    writable: sys::boolean,
) -> sys::JBLOCKARRAY {
    // SAFETY: only installed on our decompressors, by `Hooks`.
    let Some(stream) = (unsafe { stream_of(cinfo) }) else { fail("no coefficient stream") };
    let Stream { buffers, builders, pipe, .. } = &mut *stream;
    if let Some(b) = buffers.iter_mut().find(|b| b.handle() == array) {
        // SAFETY: see `sink`.
        let rows = unsafe { sink(*pipe, builders, b.component) }.and_then(|s| b.access(start, count, s));
        return match rows {
            Ok(rows) => rows,
            Err(m) => fail(m),
        };
    }
    let Some(access) = stream.access else { fail("no memory manager") };
    // SAFETY: the memory manager's own method, on one of its own arrays.
    unsafe { access(cinfo, array, start, count, writable) }
}

/// [`Stream`]'s methods installed in a decompressor's memory manager, and
/// the stream made reachable from its callbacks; `Drop` puts everything back
/// (on every path, unwinding included).
struct Hooks {
    state: NonNull<State>,
    mem: NonNull<sys::jpeg_memory_mgr>,
    request: RequestBarray,
    access: AccessBarray,
}

impl Hooks {
    fn install(d: &mut Decompressor<'_>, stream: &mut Stream) -> Result<Self, Failed> {
        let mem = NonNull::new(d.cinfo().common.mem)
            .ok_or_else(|| Error::CorruptImage("no memory manager".into()))?;
        // SAFETY: the object's memory manager, live as long as the object, and
        // not in use (libjpeg is not running); the State is live and uniquely
        // owned by `d`, which outlives the hooks (they are dropped inside
        // `read_coefficients`).
        unsafe {
            let m = mem.as_ptr();
            let (request, access) = ((*m).request_virt_barray, (*m).access_virt_barray);
            stream.request = request;
            stream.access = access;
            (*m).request_virt_barray = Some(request_barray);
            (*m).access_virt_barray = Some(access_barray);
            (*d.state.as_ptr()).client.stream = stream;
            Ok(Self { state: d.state, mem, request, access })
        }
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        // SAFETY: as in `install`; libjpeg is not running (it returned, or
        // unwound past this frame).
        unsafe {
            let m = self.mem.as_ptr();
            (*m).request_virt_barray = self.request;
            (*m).access_virt_barray = self.access;
            (*self.state.as_ptr()).client.stream = std::ptr::null_mut();
        }
    }
}

/// iMCU rows a buffer collects before handing them to the compacting thread.
const PIPED_SLOTS: u32 = 8;

/// How [`Decompressor::read_coefficients_with`] takes a baseline JPEG's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Into libjpeg's whole-image arrays, copied afterwards (what tests
    /// compare the others with).
    #[cfg_attr(not(test), allow(dead_code))]
    Arrays,
    /// One row buffer per component, compacted as libjpeg moves on.
    Streamed,
    /// The same, compacted on a second thread.
    Piped,
}

/// What the header says, in plain data.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub width: u32,
    pub height: u32,
    pub colour: sys::J_COLOR_SPACE,
    /// (h, v) sampling factors of each component, in frame order.
    pub sampling: Vec<(u32, u32)>,
    /// Bytes of the whole-image coefficient buffer libjpeg would allocate.
    pub coefficient_bytes: u64,
    /// Progressive (or otherwise multi-scan): libjpeg buffers the whole image
    /// of coefficients even for a scaled decode.
    pub multi_scan: bool,
    /// From the first APP1 Exif segment; an invalid one counts as none.
    pub orientation: Orientation,
}

impl Header {
    /// The colour space the coefficients are in, where it is one this reads.
    fn colour_space(&self) -> Option<ColourSpace> {
        match (self.colour, self.sampling.len()) {
            (sys::J_COLOR_SPACE::JCS_GRAYSCALE, 1) => Some(ColourSpace::Grey),
            (sys::J_COLOR_SPACE::JCS_YCbCr, 3) => Some(ColourSpace::YCbCr),
            (sys::J_COLOR_SPACE::JCS_RGB, 3) => Some(ColourSpace::Rgb),
            _ => None,
        }
    }

    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Whether every component is subsampled by whole factors (what
    /// upsampling, here as in libjpeg, supports).
    pub fn integral_sampling(&self) -> bool {
        let mh = self.sampling.iter().map(|s| s.0).max().unwrap_or(1);
        let mv = self.sampling.iter().map(|s| s.1).max().unwrap_or(1);
        self.sampling.iter().all(|&(h, v)| h > 0 && v > 0 && mh % h == 0 && mv % v == 0)
    }
}

/// Creates a decompressor reading `bytes` (libjpeg's virtual arrays limited to
/// `max_memory` bytes), runs `f` on it and destroys it, whatever happens.
pub(crate) fn with_decompressor<T>(
    bytes: &[u8],
    max_memory: u64,
    f: impl FnOnce(&mut Decompressor<'_>) -> Result<T, Failed>,
) -> Result<T, Failed> {
    match catch_unwind(AssertUnwindSafe(|| {
        let mut d = Decompressor::new(bytes, max_memory);
        f(&mut d)
    })) {
        Ok(r) => r,
        Err(payload) => Err(match payload.downcast::<Failure>() {
            Ok(f) if unsupported_code(f.code) => Failed::Unsupported(f.message),
            Ok(f) if f.code == sys::JERR_NO_BACKING_STORE || f.code == sys::JERR_OUT_OF_MEMORY => {
                Failed::Error(Error::UnsupportedImage("decoding would need more memory than allowed".into()))
            }
            Ok(f) => Failed::Error(Error::CorruptImage(f.message)),
            Err(_) => Failed::Error(Error::CorruptImage("the decoder failed on malformed data".into())),
        }),
    }
}

impl<'a> Decompressor<'a> {
    fn new(bytes: &'a [u8], max_memory: u64) -> Self {
        let state = Box::new(State {
            // SAFETY: all-zero is a valid value of these C structs (null
            // pointers, `None` callbacks, the 0 variant of each enum), and is
            // what jpeg_std_error / jpeg_CreateDecompress expect to start from.
            cinfo: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            err: unsafe { std::mem::zeroed() },
            client: Client { warnings: Warnings::default(), stream: std::ptr::null_mut() },
        });
        let d = Decompressor {
            // SAFETY: Box::into_raw never returns null.
            state: unsafe { NonNull::new_unchecked(Box::into_raw(state)) },
            _bytes: PhantomData,
        };
        // SAFETY: `s` is the live, uniquely owned State; the error manager is
        // set up before the first call that may report an error, so error_exit
        // unwinds instead of calling exit(); `bytes` outlives the decompressor
        // (lifetime 'a), as jpeg_mem_src requires.
        unsafe {
            let s = d.state.as_ptr();
            sys::jpeg_std_error(&mut (*s).err);
            (*s).err.error_exit = Some(error_exit);
            (*s).err.emit_message = Some(emit_message);
            (*s).err.output_message = Some(output_message);
            (*s).cinfo.common.err = addr_of_mut!((*s).err);
            (*s).cinfo.common.client_data = addr_of_mut!((*s).client).cast();
            sys::jpeg_create_decompress(addr_of_mut!((*s).cinfo));
            let mem = (*s).cinfo.common.mem;
            if !mem.is_null() {
                (*mem).max_memory_to_use = c_long::try_from(max_memory).unwrap_or(c_long::MAX);
            }
            sys::jpeg_mem_src(&mut (*s).cinfo, bytes.as_ptr(), bytes.len() as c_ulong);
            sys::jpeg_save_markers(&mut (*s).cinfo, 0xE1, 0xFFFF);
        }
        d
    }

    fn cinfo(&mut self) -> &mut sys::jpeg_decompress_struct {
        // SAFETY: the State is live and uniquely owned by `self`.
        unsafe { &mut (*self.state.as_ptr()).cinfo }
    }

    fn warnings(&self) -> Warnings {
        // SAFETY: as above; libjpeg is not running (we hold `&self`).
        unsafe { (*self.state.as_ptr()).client.warnings }
    }

    /// Reads the markers up to the first scan.
    pub fn read_header(&mut self) -> Result<Header, Failed> {
        let cinfo = self.cinfo();
        // SAFETY: a created object with a memory source; errors unwind.
        unsafe { sys::jpeg_read_header(cinfo, 1) };
        let n = usize::try_from(cinfo.num_components).unwrap_or(0);
        if cinfo.comp_info.is_null() || n == 0 {
            return Err(Error::CorruptImage("no components".into()).into());
        }
        // SAFETY: after a successful jpeg_read_header, comp_info points to
        // num_components initialised entries.
        let comps = unsafe { std::slice::from_raw_parts(cinfo.comp_info, n) };
        let mut coefficient_bytes = 0u64;
        let mut sampling = Vec::with_capacity(n);
        for c in comps {
            let (h, v) = (c.h_samp_factor.max(1) as u64, c.v_samp_factor.max(1) as u64);
            sampling.push((h as u32, v as u32));
            // libjpeg pads each component's block array to whole MCUs.
            let wb = u64::from(c.width_in_blocks).div_ceil(h) * h;
            let hb = u64::from(c.height_in_blocks).div_ceil(v) * v;
            coefficient_bytes += wb * hb * 128;
        }
        let mut orientation = Orientation::NoTransforms;
        let mut m = cinfo.marker_list;
        while !m.is_null() {
            // SAFETY: marker_list is a NULL-terminated list of saved markers,
            // each with `data_length` bytes at `data`, owned by the object.
            let (marker, data) = unsafe {
                let mk = &*m;
                m = mk.next;
                let data = if mk.data.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(mk.data, mk.data_length as usize)
                };
                (mk.marker, data)
            };
            if marker == 0xE1 && data.len() > 6 && data.starts_with(b"Exif\0\0") {
                // A broken Exif block must not sink a good photo: ignore it.
                orientation = Orientation::from_exif_chunk(&data[6..]).unwrap_or(Orientation::NoTransforms);
                break;
            }
        }
        let cinfo = self.cinfo();
        // SAFETY: header read; the call only inspects the object.
        let multi_scan = unsafe { sys::jpeg_has_multiple_scans(cinfo) } != 0;
        Ok(Header {
            width: cinfo.image_width,
            height: cinfo.image_height,
            colour: cinfo.jpeg_color_space,
            sampling,
            coefficient_bytes,
            multi_scan,
            orientation,
        })
    }

    /// Entropy-decodes the whole image into libjpeg's own coefficient arrays and
    /// nothing more (the baseline [`Self::read_coefficients`] is timed against).
    pub fn entropy_decode_only(&mut self) -> Result<(), Failed> {
        let cinfo = self.cinfo();
        // SAFETY: header read, decompression not started; errors unwind.
        let arrays = unsafe { sys::jpeg_read_coefficients(cinfo) };
        if arrays.is_null() {
            return Err(Error::CorruptImage("no coefficients".into()).into());
        }
        Ok(self.warnings().check()?)
    }

    /// Entropy-decodes the whole image (one pass) and copies the quantised DCT
    /// coefficients into compact Rust-owned memory. Call after
    /// [`Self::read_header`].
    ///
    /// A single-scan (baseline) JPEG is streamed: libjpeg's whole-image
    /// coefficient arrays are replaced by one iMCU row of blocks per
    /// component ([`Stream`]), each row compacted as soon as libjpeg moves on
    /// to the next, so the 128 bytes a block are never allocated, zeroed,
    /// written and read back. A multi-scan (progressive) JPEG revisits its
    /// rows scan after scan; it is read into libjpeg's arrays and copied.
    /// With `threads` >= 2 the streamed rows are compacted on a second
    /// thread while libjpeg decodes the next ones.
    pub fn read_coefficients(&mut self, header: &Header, threads: usize) -> Result<Coefficients, Failed> {
        self.read_coefficients_with(header, if threads >= 2 { Rows::Piped } else { Rows::Streamed })
    }

    /// The coefficients decoded by the Rust baseline decoder, or `None`:
    /// always `None` without the `rust-entropy` feature.
    #[cfg(not(feature = "rust-entropy"))]
    pub fn read_baseline(
        &mut self,
        _bytes: &[u8],
        _header: &Header,
        _threads: usize,
    ) -> Result<Option<Coefficients>, Failed> {
        Ok(None)
    }

    /// The coefficients decoded by [`super::huffman`] (call after
    /// [`Self::read_header`]), or `None` where that leaves them to libjpeg: a
    /// JPEG other than one plain baseline scan, one whose markers read
    /// otherwise than libjpeg read them, or anything amiss in the data.
    #[cfg(feature = "rust-entropy")]
    pub fn read_baseline(
        &mut self,
        bytes: &[u8],
        header: &Header,
        threads: usize,
    ) -> Result<Option<Coefficients>, Failed> {
        let Some(colour) = header.colour_space() else { return Ok(None) };
        if header.multi_scan {
            return Ok(None);
        }
        let Some(scan) = super::huffman::Scan::read(bytes) else { return Ok(None) };
        let n = header.sampling.len();
        let same_frame = (scan.width, scan.height) == (header.width, header.height)
            && scan.comps.len() == n
            && scan.comps.iter().zip(&header.sampling).all(|(c, &s)| (c.h, c.v) == s);
        let cinfo = self.cinfo();
        if !same_frame || cinfo.comp_info.is_null() || usize::try_from(cinfo.num_components).ok() != Some(n) {
            return Ok(None);
        }
        let Some(builders) = scan.decode(bytes, threads) else { return Ok(None) };
        self.warnings().check()?;
        let cinfo = self.cinfo();
        // SAFETY: after jpeg_read_header, comp_info holds num_components (== n)
        // initialised entries.
        let comps = unsafe { std::slice::from_raw_parts(cinfo.comp_info, n) };
        let mut out = Vec::with_capacity(n);
        for (c, builder) in comps.iter().zip(builders) {
            if builder.blocks() != (c.width_in_blocks, c.height_in_blocks) {
                return Ok(None);
            }
            out.push(builder.finish(&quant_of(cinfo, c)?));
        }
        Ok(Some(Coefficients::new(header.width, header.height, colour, out)))
    }

    /// As [`Self::read_coefficients`], the rows handled as `rows` says.
    pub fn read_coefficients_with(&mut self, header: &Header, rows: Rows) -> Result<Coefficients, Failed> {
        let colour = header.colour_space().ok_or_else(|| Failed::Unsupported("colour space".into()))?;
        let n = header.sampling.len();
        let cinfo = self.cinfo();
        if cinfo.comp_info.is_null() || usize::try_from(cinfo.num_components).ok() != Some(n) {
            return Err(Error::CorruptImage("no components".into()).into());
        }
        // SAFETY: after jpeg_read_header, comp_info holds num_components (== n)
        // initialised entries.
        let comps = unsafe { std::slice::from_raw_parts(cinfo.comp_info, n) };
        let specs: Vec<RowSpec> = comps
            .iter()
            .zip(&header.sampling)
            .map(|(c, &(h, v))| RowSpec {
                wb: c.width_in_blocks,
                hb: c.height_in_blocks,
                width: c.width_in_blocks.div_ceil(h.max(1)) * h.max(1),
                height: c.height_in_blocks.div_ceil(v.max(1)) * v.max(1),
                rows: v.max(1),
            })
            .collect();
        // A multi-scan JPEG revisits its rows scan after scan: libjpeg's arrays.
        let rows = if header.multi_scan { Rows::Arrays } else { rows };
        let mut stream = Stream {
            builders: specs
                .iter()
                .zip(&header.sampling)
                .map(|(s, &(h, v))| ComponentBuilder::new(h, v, s.wb, s.hb))
                .collect(),
            specs,
            buffers: Vec::new(),
            request: None,
            access: None,
            pipe: std::ptr::null_mut(),
            // Handed on in batches: each costs the compacting thread a wake-up.
            slots: if rows == Rows::Piped { PIPED_SLOTS } else { 1 },
        };
        let arrays = match rows {
            Rows::Arrays => {
                // SAFETY: header read, decompression not started; errors unwind.
                unsafe { sys::jpeg_read_coefficients(self.cinfo()) }
            }
            Rows::Streamed => {
                let hooks = Hooks::install(self, &mut stream)?;
                // SAFETY: as above; the hooks and `stream` stay in place until
                // `hooks` is dropped (also when libjpeg unwinds through here).
                let arrays = unsafe { sys::jpeg_read_coefficients(self.cinfo()) };
                drop(hooks);
                arrays
            }
            Rows::Piped => std::thread::scope(|scope| {
                let (rows_tx, rows_rx) = std::sync::mpsc::channel();
                let (back_tx, back_rx) = std::sync::mpsc::channel();
                let builders = std::mem::take(&mut stream.builders);
                let worker = scope.spawn(move || compactor(rows_rx, back_tx, builders));
                // Declared before the hooks, so dropped after them: when
                // libjpeg unwinds, the hooks come out, then the channel
                // closes and the compactor ends before the scope joins it.
                let mut pipe =
                    Pipe { rows: rows_tx, back: back_rx, spares: (0..n).map(|_| Vec::new()).collect() };
                stream.pipe = &mut pipe;
                let hooks = Hooks::install(self, &mut stream)?;
                // SAFETY: as above; `pipe` outlives the hooks.
                let arrays = unsafe { sys::jpeg_read_coefficients(self.cinfo()) };
                drop(hooks);
                let last = stream.finish();
                stream.pipe = std::ptr::null_mut();
                drop(pipe);
                match worker.join() {
                    Ok(builders) => stream.builders = builders,
                    Err(_) => {
                        return Err(Failed::Error(Error::CorruptImage(
                            "coefficient compaction failed".into(),
                        )))
                    }
                }
                last.map_err(|m| Failed::Error(Error::CorruptImage(m.into())))?;
                Ok(arrays)
            })?,
        };
        if arrays.is_null() {
            return Err(Error::CorruptImage("no coefficients".into()).into());
        }
        self.warnings().check()?;
        stream.finish().map_err(|m| Error::CorruptImage(m.into()))?;
        let cinfo = self.cinfo();
        // SAFETY: comp_info still holds num_components (== n) entries.
        let comps = unsafe { std::slice::from_raw_parts(cinfo.comp_info, n) };
        let mem = cinfo.common.mem;
        // SAFETY: the memory manager exists as long as the object does.
        let access = unsafe { mem.as_ref() }
            .and_then(|m| m.access_virt_barray)
            .ok_or_else(|| Error::CorruptImage("no memory manager".into()))?;
        let mut out = Vec::with_capacity(n);
        for (ci, (c, mut builder)) in comps.iter().zip(stream.builders).enumerate() {
            let quant = quant_of(cinfo, c)?;
            // SAFETY: jpeg_read_coefficients returned one array per component.
            let array = unsafe { *arrays.add(ci) };
            let streamed = stream.buffers.iter().any(|b| b.handle() == array);
            if !streamed {
                let (wb, hb) = (c.width_in_blocks, c.height_in_blocks);
                for by in builder.rows()..hb {
                    // SAFETY: row `by` < height_in_blocks of this component's
                    // realised libjpeg array, one row (<= maxaccess) at a time,
                    // read-only; each row holds at least width_in_blocks blocks.
                    let row = unsafe {
                        let rows = access(&mut cinfo.common, array, by, 1, 0);
                        if rows.is_null() || (*rows).is_null() {
                            return Err(Error::CorruptImage("missing coefficient row".into()).into());
                        }
                        std::slice::from_raw_parts(*rows, wb as usize)
                    };
                    builder.push_row(row);
                }
            }
            if builder.rows() != c.height_in_blocks {
                return Err(Error::CorruptImage("missing coefficient rows".into()).into());
            }
            out.push(builder.finish(&quant));
        }
        Ok(Coefficients::new(header.width, header.height, colour, out))
    }

    /// libjpeg's own decode at 1/`denom` (1, 2, 4 or 8): RGB out, ISLOW IDCT,
    /// fancy upsampling, streamed scanline by scanline into the returned image.
    pub fn decompress_rgb(&mut self, denom: u32) -> Result<RgbImage, Failed> {
        let cinfo = self.cinfo();
        cinfo.scale_num = 1;
        cinfo.scale_denom = denom as c_uint;
        cinfo.out_color_space = sys::J_COLOR_SPACE::JCS_RGB;
        cinfo.dct_method = sys::J_DCT_METHOD::JDCT_ISLOW;
        cinfo.do_fancy_upsampling = 1;
        cinfo.do_block_smoothing = 0;
        // SAFETY: header read, parameters set; errors unwind.
        unsafe { sys::jpeg_start_decompress(cinfo) };
        let (w, h) = (cinfo.output_width, cinfo.output_height);
        if cinfo.output_components != 3 || w == 0 || h == 0 {
            return Err(Error::CorruptImage("unexpected output layout".into()).into());
        }
        let stride = w as usize * 3;
        let mut pixels = vec![0u8; stride * h as usize];
        while cinfo.output_scanline < h {
            let row = cinfo.output_scanline as usize;
            let mut ptr = [pixels[row * stride..].as_mut_ptr()];
            // SAFETY: one row pointer to `stride` writable bytes inside `pixels`.
            let got = unsafe { sys::jpeg_read_scanlines(cinfo, ptr.as_mut_ptr(), 1) };
            if got == 0 {
                return Err(Error::CorruptImage("decoder made no progress".into()).into());
            }
        }
        // SAFETY: every scanline was read; reads on to the end-of-image marker.
        unsafe { sys::jpeg_finish_decompress(cinfo) };
        self.warnings().check()?;
        RgbImage::from_raw(w, h, pixels).ok_or_else(|| Error::CorruptImage("bad buffer".into()).into())
    }
}

/// Test-only: libjpeg-turbo's encoder (baseline profile, not MozJPEG's), to make
/// JPEGs with any sampling, progression and markers.
#[cfg(test)]
pub(crate) mod encode {
    use mozjpeg_sys as sys;
    use std::os::raw::{c_int, c_uint, c_ulong};

    #[derive(Debug, Clone)]
    pub struct Options {
        pub quality: i32,
        /// Sampling factors (h, v) of Y, Cb, Cr; ignored for grey.
        pub sampling: [(i32, i32); 3],
        pub grey: bool,
        pub progressive: bool,
        /// Restart interval in MCUs (0: none).
        pub restart: u32,
        /// APP1 segments written right after the JFIF header.
        pub app1: Vec<Vec<u8>>,
    }

    impl Default for Options {
        fn default() -> Self {
            Self {
                quality: 85,
                sampling: [(2, 2), (1, 1), (1, 1)],
                grey: false,
                progressive: false,
                restart: 0,
                app1: Vec::new(),
            }
        }
    }

    unsafe extern "C-unwind" fn error_exit(_cinfo: &mut sys::jpeg_common_struct) {
        panic!("libjpeg failed while encoding a test image");
    }

    /// Encodes interleaved RGB (or grey when `opts.grey`, one byte a pixel).
    pub fn encode(pixels: &[u8], width: u32, height: u32, opts: &Options) -> Vec<u8> {
        let comps = if opts.grey { 1 } else { 3 };
        assert_eq!(pixels.len(), (width * height) as usize * comps);
        // SAFETY: test-only; the objects are created, used and destroyed here,
        // the row pointers point into `pixels`, libjpeg's output buffer is freed.
        unsafe {
            let mut err: Box<sys::jpeg_error_mgr> = Box::new(std::mem::zeroed());
            let mut cinfo: Box<sys::jpeg_compress_struct> = Box::new(std::mem::zeroed());
            sys::jpeg_std_error(&mut err);
            err.error_exit = Some(error_exit);
            cinfo.common.err = &mut *err;
            sys::jpeg_create_compress(&mut *cinfo);
            let mut buf: *mut u8 = std::ptr::null_mut();
            let mut size: c_ulong = 0;
            sys::jpeg_mem_dest(&mut cinfo, &mut buf, &mut size);
            cinfo.image_width = width;
            cinfo.image_height = height;
            cinfo.input_components = comps as c_int;
            cinfo.in_color_space =
                if opts.grey { sys::J_COLOR_SPACE::JCS_GRAYSCALE } else { sys::J_COLOR_SPACE::JCS_RGB };
            sys::jpeg_c_set_int_param(&mut cinfo, sys::JINT_COMPRESS_PROFILE, sys::JCP_FASTEST as c_int);
            sys::jpeg_set_defaults(&mut cinfo);
            sys::jpeg_set_quality(&mut cinfo, opts.quality, 1);
            if !opts.grey {
                for (i, (h, v)) in opts.sampling.iter().enumerate() {
                    let c = &mut *cinfo.comp_info.add(i);
                    c.h_samp_factor = *h;
                    c.v_samp_factor = *v;
                }
            }
            cinfo.restart_interval = opts.restart as c_uint;
            cinfo.dct_method = sys::J_DCT_METHOD::JDCT_ISLOW;
            if opts.progressive {
                sys::jpeg_simple_progression(&mut cinfo);
            }
            sys::jpeg_start_compress(&mut cinfo, 1);
            for seg in &opts.app1 {
                sys::jpeg_write_marker(&mut cinfo, 0xE1, seg.as_ptr(), seg.len() as c_uint);
            }
            let stride = width as usize * comps;
            while cinfo.next_scanline < height {
                let row = [pixels[cinfo.next_scanline as usize * stride..].as_ptr()];
                sys::jpeg_write_scanlines(&mut cinfo, row.as_ptr(), 1);
            }
            sys::jpeg_finish_compress(&mut cinfo);
            let out = std::slice::from_raw_parts(buf, size as usize).to_vec();
            sys::jpeg_destroy_compress(&mut cinfo);
            libc::free(buf.cast());
            out
        }
    }

    /// An APP1 Exif segment (little-endian TIFF) holding only the orientation tag.
    pub fn exif_orientation(value: u16) -> Vec<u8> {
        let mut e = b"Exif\0\0II*\0".to_vec();
        e.extend_from_slice(&8u32.to_le_bytes()); // IFD0 offset
        e.extend_from_slice(&1u16.to_le_bytes()); // one entry
        e.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        e.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        e.extend_from_slice(&1u32.to_le_bytes()); // count
        e.extend_from_slice(&value.to_le_bytes());
        e.extend_from_slice(&[0, 0]);
        e.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        e
    }
}
